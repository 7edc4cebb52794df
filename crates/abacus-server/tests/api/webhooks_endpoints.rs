//! `/webhook-endpoints`: create, list, get, update, delete, rotate; secrets shown only on create
//! and rotate; the event-type catalogue; tenancy; idempotency.

use std::collections::HashSet;

use abacus_core::webhooks::EVENT_TYPES;
use abacus_store::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestApp, is_micros_timestamp};
use crate::webhook_support::{app, endpoint};

on_both_backends!(
    endpoint_lifecycle,
    secrets_and_rotation,
    event_type_catalogue,
    another_tenants_endpoints_are_not_found,
    creates_are_idempotent,
);

fn is_endpoint_id(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 25 && s.starts_with("we_") && s[3..].bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

async fn endpoint_lifecycle(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let r = app
        .post(
            "/webhook-endpoints",
            &json!({"url": "https://hooks.example.com/abacus", "event_types": ["invoice.paid", "invoice.paid", "subscription.canceled"],
                    "description": "Billing"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let e = r.body.clone();
    let id = e["id"].as_str().unwrap().to_string();
    assert!(is_endpoint_id(&e["id"]), "{}", e["id"]);
    assert_eq!(e["url"], "https://hooks.example.com/abacus");
    assert_eq!(
        e["event_types"],
        json!(["invoice.paid", "subscription.canceled"]),
        "duplicates dropped"
    );
    assert_eq!(e["description"], "Billing");
    assert_eq!(e["enabled"], true);
    assert!(is_micros_timestamp(&e["created_at"]) && e["created_at"] == e["updated_at"]);
    let keys: HashSet<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        HashSet::from([
            "id",
            "url",
            "event_types",
            "description",
            "enabled",
            "created_at",
            "updated_at",
            "secret"
        ])
    );

    // No event types (absent, null or empty) is every type.
    let all = endpoint(&app, "https://all.example.com/", None).await;
    assert_eq!(all["event_types"], Value::Null);
    let r = app
        .post(
            "/webhook-endpoints",
            &json!({"url": "https://e.example.com/", "event_types": []}),
        )
        .await;
    assert_eq!(r.body["event_types"], Value::Null);
    assert_eq!(r.body["description"], Value::Null);

    let got = app.get(&format!("/webhook-endpoints/{id}")).await;
    assert_eq!(got.status, 200);
    let mut without_secret = e.clone();
    without_secret.as_object_mut().unwrap().remove("secret");
    assert_eq!(got.body, without_secret);

    let list = app.get("/webhook-endpoints?limit=2").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(list.body["data"][0]["id"], id.as_str(), "oldest first");
    assert_eq!(
        list.body["pagination"],
        json!({"per_page": 2, "total_pages": 2})
    );
    assert!(
        list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e.get("secret").is_none())
    );
    let page2 = app.get("/webhook-endpoints?limit=2&offset=2").await;
    assert_eq!(page2.body["data"].as_array().unwrap().len(), 1);

    // Update: fields left out keep their value, null clears.
    let r = app
        .patch(
            &format!("/webhook-endpoints/{id}"),
            &json!({"description": null, "enabled": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["description"], Value::Null);
    assert_eq!(r.body["enabled"], false);
    assert_eq!(r.body["url"], "https://hooks.example.com/abacus");
    assert_eq!(
        r.body["event_types"],
        json!(["invoice.paid", "subscription.canceled"])
    );
    assert!(r.body.get("secret").is_none());
    assert!(r.body["updated_at"].as_str() >= e["updated_at"].as_str());
    let r = app
        .patch(
            &format!("/webhook-endpoints/{id}"),
            &json!({"url": "https://new.example.com/h", "event_types": null, "description": "New", "enabled": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.body["url"].clone(),
            r.body["event_types"].clone(),
            r.body["description"].clone(),
            r.body["enabled"].clone()
        ),
        (
            json!("https://new.example.com/h"),
            Value::Null,
            json!("New"),
            json!(true)
        )
    );
    let r = app
        .patch(
            &format!("/webhook-endpoints/{id}"),
            &json!({"event_types": ["payment.created"]}),
        )
        .await;
    assert_eq!(r.body["event_types"], json!(["payment.created"]));

    let r = app.delete(&format!("/webhook-endpoints/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"id": id, "deleted": true}));
    app.get(&format!("/webhook-endpoints/{id}"))
        .await
        .problem(404);
    app.delete(&format!("/webhook-endpoints/{id}"))
        .await
        .problem(404);
}

async fn secrets_and_rotation(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let e = endpoint(&app, "https://hooks.example.com/", None).await;
    let secret = e["secret"].as_str().unwrap();
    let key = secret.strip_prefix("whsec_").expect("whsec_ prefix");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key)
        .unwrap();
    assert!(bytes.len() >= 24);
    let other = endpoint(&app, "https://hooks.example.com/", None).await;
    assert_ne!(other["secret"], e["secret"]);
    let id = e["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/webhook-endpoints/{id}/rotate-secret"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_ne!(r.body["secret"], e["secret"]);
    assert!(r.body["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(r.body["id"], e["id"]);
    let got = app.get(&format!("/webhook-endpoints/{id}")).await;
    assert!(got.body.get("secret").is_none());
}

async fn event_type_catalogue(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let r = app.get("/webhook-event-types").await;
    assert_eq!(r.status, 200);
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(data.len(), EVENT_TYPES.len());
    let names: Vec<&str> = data.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for expected in [
        "invoice.issued",
        "invoice.paid",
        "invoice.overdue",
        "subscription.activated",
        "subscription.started",
        "subscription.updated",
        "subscription.version.updated",
        "subscription.cancelation_scheduled",
        "subscription.cancelation_reverted",
        "subscription.canceled",
        "payment.created",
        "payment.updated",
        "refund.updated",
        "lineitem.deleted",
        "account.credits.granted",
        "account.credits.balance_depleted",
    ] {
        assert!(names.contains(&expected), "{expected}");
    }
    let paid = data.iter().find(|t| t["name"] == "invoice.paid").unwrap();
    assert_eq!(paid["schema"], "WebhookInvoicePaidPayload");
    assert_eq!(paid["data_schema"], "InvoicePayload");
    // Every listed type is accepted by an endpoint.
    let r = app
        .post(
            "/webhook-endpoints",
            &json!({"url": "https://h.example.com/", "event_types": names}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn another_tenants_endpoints_are_not_found(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let rx = crate::webhook_support::Receiver::ok().await;
    let e = endpoint(&app, &rx.url, None).await;
    let id = e["id"].as_str().unwrap();
    let m = app
        .post(&format!("/webhook-endpoints/{id}/test"), &json!({}))
        .await;
    let msg = m.body["id"].as_str().unwrap();
    let other = app.new_tenant().await;
    let as_other =
        |method: Method, path: String| app.http.request(method, app.url(&path)).bearer_auth(&other);
    for (method, path) in [
        (Method::GET, format!("/webhook-endpoints/{id}")),
        (Method::PATCH, format!("/webhook-endpoints/{id}")),
        (Method::DELETE, format!("/webhook-endpoints/{id}")),
        (
            Method::POST,
            format!("/webhook-endpoints/{id}/rotate-secret"),
        ),
        (Method::POST, format!("/webhook-endpoints/{id}/test")),
        (Method::GET, format!("/webhook-endpoints/{id}/messages")),
        (
            Method::GET,
            format!("/webhook-endpoints/{id}/messages/{msg}"),
        ),
        (
            Method::GET,
            format!("/webhook-endpoints/{id}/messages/{msg}/attempts"),
        ),
        (
            Method::POST,
            format!("/webhook-endpoints/{id}/messages/{msg}/resend"),
        ),
        (
            Method::POST,
            format!("/webhook-endpoints/{id}/recover?since=2020-01-01T00:00:00Z"),
        ),
    ] {
        let r = app
            .send(as_other(method.clone(), path.clone()).json(&json!({})))
            .await;
        r.problem(404);
        assert!(
            r.body["detail"].as_str().unwrap().contains(id),
            "{method} {path}: {}",
            r.text
        );
    }
    let list = app
        .send(as_other(Method::GET, "/webhook-endpoints".into()))
        .await;
    assert_eq!(list.body["data"], json!([]));
    assert_eq!(
        app.get(&format!("/webhook-endpoints/{id}")).await.status,
        200,
        "still there"
    );
}

async fn creates_are_idempotent(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let body = json!({"url": "https://hooks.example.com/"});
    let send = || {
        app.send(
            app.req(Method::POST, "/webhook-endpoints")
                .header("Idempotency-Key", "wh-1")
                .json(&body),
        )
    };
    let first = send().await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = send().await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    let list = app.get("/webhook-endpoints").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
}
