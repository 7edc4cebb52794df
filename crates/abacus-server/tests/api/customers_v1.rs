//! `/accounts`: the seed document's example and the v1 customer behaviour.

use abacus_store::{Backend, on_both_backends};
use serde_json::{Value, json};

use crate::harness::{TestApp, fixture, is_micros_timestamp, is_short_id};

on_both_backends!(
    seed_example_round_trips,
    read_back_by_id_and_alias,
    patch_keeps_left_out_fields_and_replaces_lists,
    list_pages,
    delete_releases_aliases,
    optional_country_is_validated_and_normalised,
);

/// Compares `actual` with the seed's `expected`: the same keys in the same order, ids and
/// timestamps by format, everything else by value.
fn assert_seed_shape(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let ak: Vec<&String> = a.keys().collect();
            let ek: Vec<&String> = e.keys().collect();
            assert_eq!(ak, ek, "keys at {path}");
            for (k, ev) in e {
                let av = &a[k];
                let here = format!("{path}.{k}");
                match k.as_str() {
                    "id" => assert!(is_short_id(av), "{here} is an 8-char base62 id: {av}"),
                    "createdAt" | "updatedAt" => {
                        assert!(is_micros_timestamp(av), "{here} format: {av}")
                    }
                    _ => assert_seed_shape(av, ev, &here),
                }
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "length at {path}");
            for (i, (av, ev)) in a.iter().zip(e).enumerate() {
                assert_seed_shape(av, ev, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(actual, expected, "value at {path}"),
    }
}

async fn seed_example_round_trips(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let r = app
        .post("/accounts", &fixture("seed-create-account-request.json"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_seed_shape(&r.body, &fixture("seed-create-account-response.json"), "");
    let contact_ids: Vec<&Value> = r.body["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_ne!(contact_ids[0], contact_ids[1]);
    assert_ne!(&r.body["id"], contact_ids[0]);
    let (created, updated) = (
        r.body["createdAt"].as_str().unwrap(),
        r.body["updatedAt"].as_str().unwrap(),
    );
    assert!(updated >= created);
}

async fn read_back_by_id_and_alias(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let created = app
        .post("/accounts", &fixture("seed-create-account-request.json"))
        .await
        .body;
    let id = created["id"].as_str().unwrap();
    let by_id = app.get(&format!("/accounts/{id}")).await;
    assert_eq!(by_id.status, 200);
    assert_eq!(
        by_id.text,
        serde_json::to_string(&created).unwrap(),
        "byte for byte the created account"
    );
    let by_alias = app.get("/accounts/JoGo").await;
    assert_eq!(by_alias.body, created);
    app.get("/accounts/jogo").await.problem(404); // aliases are case-sensitive
    app.get("/accounts/nope1234").await.problem(404);
}

async fn patch_keeps_left_out_fields_and_replaces_lists(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let created = app
        .post("/accounts", &fixture("seed-create-account-request.json"))
        .await
        .body;
    let id = created["id"].as_str().unwrap();
    let kept_contact = created["contacts"][1]["id"].clone();

    let r = app
        .patch(&format!("/accounts/{id}"), &json!({"name": "GoJo Inc"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "GoJo Inc");
    for field in [
        "aliases",
        "currency",
        "billingAddress",
        "contacts",
        "createdAt",
    ] {
        assert_eq!(r.body[field], created[field], "{field} kept");
    }
    assert!(r.body["updatedAt"].as_str().unwrap() >= created["updatedAt"].as_str().unwrap());

    let r = app
        .patch(
            "/accounts/JoGo",
            &json!({
                "aliases": ["gojo-new", "stripe:cus_9"],
                "contacts": [
                    {"id": kept_contact, "email": "ar@gojo.com", "isPrimary": true, "emailPreferences": ["billing", "updates"]},
                    {"email": "cto@gojo.com", "firstName": "Ada"}
                ],
                "billingAddress": null,
                "taxRate": "0.0825"
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["aliases"], json!(["gojo-new", "stripe:cus_9"]));
    assert!(
        r.body.get("billingAddress").is_none(),
        "cleared address is left out"
    );
    assert_eq!(r.body["taxRate"], "0.0825");
    let contacts = r.body["contacts"].as_array().unwrap();
    assert_eq!(contacts.len(), 2);
    assert_eq!(
        contacts[0]["id"], kept_contact,
        "a contact sent with its id keeps it"
    );
    assert_eq!(contacts[0]["email"], "ar@gojo.com");
    assert!(is_short_id(&contacts[1]["id"]));
    assert_ne!(
        contacts[1]["id"], created["contacts"][0]["id"],
        "the dropped contact's id is not reused"
    );
    assert_eq!(contacts[1]["isPrimary"], false);
    assert_eq!(contacts[1]["emailPreferences"], json!([]));

    app.get("/accounts/JoGo").await.problem(404);
    assert_eq!(app.get("/accounts/stripe:cus_9").await.body["id"], id);
    // A contact id from the old list that is no longer there is refused.
    let stale = created["contacts"][0]["id"].clone();
    let r = app
        .patch(
            &format!("/accounts/{id}"),
            &json!({"contacts": [{"id": stale, "email": "x@y.io"}]}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), vec!["contacts[0].id"]);
}

async fn list_pages(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let empty = app.get("/accounts").await;
    assert_eq!(empty.body, json!({"pageCount": 0, "data": []}));
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = app
            .post(
                "/accounts",
                &json!({"name": format!("Account {i}"), "currency": "EUR"}),
            )
            .await;
        ids.push(r.body["id"].clone());
    }
    let page1 = app.get("/accounts?limit=2").await;
    assert_eq!(page1.body["pageCount"], 3);
    assert_eq!(
        page1.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].clone())
            .collect::<Vec<_>>(),
        ids[..2]
    );
    let page3 = app.get("/accounts?page=3&limit=2").await;
    assert_eq!(page3.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(page3.body["data"][0]["id"], ids[4]);
    let beyond = app.get("/accounts?page=9&limit=2").await;
    assert_eq!(beyond.body, json!({"pageCount": 3, "data": []}));
    let all = app.get("/accounts").await;
    assert_eq!(all.body["pageCount"], 1);
    assert_eq!(all.body["data"].as_array().unwrap().len(), 5);
    assert!(all.body["data"][0].get("billingAddress").is_none());
    let capped = app.get("/accounts?limit=1000").await;
    assert_eq!(capped.status, 200);
}

async fn delete_releases_aliases(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let created = app
        .post("/accounts", &fixture("seed-create-account-request.json"))
        .await
        .body;
    let id = created["id"].as_str().unwrap();
    let r = app.delete("/accounts/JoGo").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"id": id, "deleted": true}));
    app.get(&format!("/accounts/{id}")).await.problem(404);
    app.delete(&format!("/accounts/{id}")).await.problem(404);
    assert_eq!(app.get("/accounts").await.body["data"], json!([]));
    let again = app
        .post("/accounts", &fixture("seed-create-account-request.json"))
        .await;
    assert_eq!(again.status, 201, "the alias is free again: {}", again.text);
    assert_ne!(again.body["id"], created["id"]);
}

async fn optional_country_is_validated_and_normalised(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let mut req = fixture("seed-create-account-request.json");
    req["billingAddress"]["country"] = json!("USA");
    req["aliases"] = json!([]);
    let r = app.post("/accounts", &req).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["billingAddress"]["country"], "US");
    req["billingAddress"]["country"] = json!("XQ");
    let r = app.post("/accounts", &req).await;
    r.problem(422);
    assert_eq!(r.error_fields(), vec!["billingAddress.country"]);
}
