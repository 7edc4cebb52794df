//! `/customers`: the v2 surface, and customers shared with v1.

use abacus_store::{Backend, on_both_backends};
use serde_json::json;

use crate::harness::{TestApp, is_micros_timestamp, is_short_id};

on_both_backends!(
    create_get_update_lookup,
    tax_fields_are_stored_and_validated,
    list_filters_sort_and_paging,
    both_surfaces_see_the_same_customers,
);

async fn create_get_update_lookup(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let r = app
        .post_v2(
            "/customers",
            &json!({
                "name": "Acme Corp",
                "currency": "EUR",
                "aliases": ["acme", "stripe:cus_A"],
                "billing_address": {"line1": "1 Main", "city": "Berlin", "state": "BE", "postal_code": "10115", "country": "DE"},
                "contacts": [{"email": "billing@acme.io", "first_name": "Bo", "is_primary": true, "email_preferences": ["billing"]}]
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let c = &r.body;
    assert!(is_short_id(&c["id"]));
    assert_eq!(c["billing_address"]["postal_code"], "10115");
    assert_eq!(c["contacts"][0]["email_preferences"], json!(["billing"]));
    assert!(is_short_id(&c["contacts"][0]["id"]));
    assert!(is_micros_timestamp(&c["created_at"]) && is_micros_timestamp(&c["updated_at"]));
    let id = c["id"].as_str().unwrap();

    assert_eq!(app.get_v2(&format!("/customers/{id}")).await.body, *c);
    assert_eq!(app.get_v2("/customers/stripe:cus_A").await.body, *c);
    assert_eq!(
        app.get_v2("/customers/lookup?alias=acme").await.body,
        json!({"customer_id": id})
    );
    assert_eq!(
        app.get_v2(&format!("/customers/lookup?alias={id}"))
            .await
            .body,
        json!({"customer_id": id})
    );
    app.get_v2("/customers/lookup?alias=unknown")
        .await
        .problem(404);
    app.get_v2("/customers/lookup").await.problem(400);

    let r = app
        .patch_v2(
            "/customers/acme",
            &json!({"currency": "USD", "aliases": ["acme"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["currency"], "USD");
    assert_eq!(r.body["aliases"], json!(["acme"]));
    assert_eq!(r.body["contacts"], c["contacts"]);
    app.get_v2("/customers/stripe:cus_A").await.problem(404);

    // The customer endpoints answer in v2 shape with or without the version header.
    assert_eq!(app.get(&format!("/customers/{id}")).await.body["id"], id);
}

async fn tax_fields_are_stored_and_validated(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let r = app
        .post_v2(
            "/customers",
            &json!({"name": "Tax GmbH", "currency": "EUR", "tax_country": "DE", "tax_id": "DE123456789",
                    "tax_rate": "0.19", "tax_reason": "standard_rated", "tax_status": "taxable", "tax_type": "vat"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for (k, v) in [
        ("tax_country", "DE"),
        ("tax_id", "DE123456789"),
        ("tax_rate", "0.19"),
        ("tax_reason", "standard_rated"),
        ("tax_status", "taxable"),
        ("tax_type", "vat"),
    ] {
        assert_eq!(r.body[k], v, "{k}");
    }
    let id = r.body["id"].as_str().unwrap();
    let r = app
        .patch_v2(
            &format!("/customers/{id}"),
            &json!({"tax_rate": null, "tax_reason": "reverse_charge"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body.get("tax_rate").is_none());
    assert_eq!(r.body["tax_reason"], "reverse_charge");
    assert_eq!(r.body["tax_type"], "vat");

    let bad = app
        .patch_v2(
            &format!("/customers/{id}"),
            &json!({"tax_rate": "19", "tax_type": "income", "tax_country": "Germany"}),
        )
        .await;
    bad.problem(422);
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["tax_country", "tax_rate", "tax_type"]);
}

async fn list_filters_sort_and_paging(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    for (name, alias, email) in [
        ("Charlie", "c", "c@x.io"),
        ("alpha", "a", "a@x.io"),
        ("Bravo", "b", "b@x.io"),
    ] {
        let r = app
            .post_v2(
                "/customers",
                &json!({"name": name, "currency": "USD", "aliases": [alias], "contacts": [{"email": email, "is_primary": true}]}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let names = |r: &crate::harness::Resp| {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let all = app.get_v2("/customers").await;
    assert_eq!(names(&all), vec!["Charlie", "alpha", "Bravo"]);
    assert_eq!(
        all.body["pagination"],
        json!({"per_page": 20, "total_pages": 1})
    );
    let page = app.get_v2("/customers?limit=2&offset=2").await;
    assert_eq!(names(&page), vec!["Bravo"]);
    assert_eq!(
        page.body["pagination"],
        json!({"per_page": 2, "total_pages": 2})
    );
    assert_eq!(
        names(&app.get_v2("/customers?sort=name:asc").await),
        vec!["Bravo", "Charlie", "alpha"]
    );
    assert_eq!(
        names(&app.get_v2("/customers?sort=created_at:desc").await),
        vec!["Bravo", "alpha", "Charlie"]
    );
    assert_eq!(
        names(&app.get_v2("/customers?alias=a").await),
        vec!["alpha"]
    );
    assert_eq!(
        names(&app.get_v2("/customers?email=B@X.IO").await),
        vec!["Bravo"]
    );
    assert_eq!(
        names(
            &app.get_v2("/customers?has_active_subscriptions=false")
                .await
        )
        .len(),
        3
    );
    assert!(names(&app.get_v2("/customers?has_active_subscriptions=true").await).is_empty());
    assert!(names(&app.get_v2("/customers?tag_ids=tag_x,tag_y").await).is_empty());
    assert!(names(&app.get_v2("/customers?alias=zzz").await).is_empty());
    let r = app.get_v2("/customers?sort=email:asc").await;
    r.problem(400);
    assert_eq!(r.error_fields(), vec!["sort"]);
}

async fn both_surfaces_see_the_same_customers(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let v1 = app.post("/accounts", &json!({"name": "One", "currency": "GBP", "aliases": ["one"],
        "contacts": [{"email": "a@one.io", "firstName": "A", "isPrimary": true, "emailPreferences": ["billing"]}]})).await.body;
    let v2 = app.get_v2("/customers/one").await.body;
    assert_eq!(v2["id"], v1["id"]);
    assert_eq!(v2["contacts"][0]["first_name"], "A");
    assert_eq!(v2["contacts"][0]["is_primary"], true);
    assert_eq!(v2["created_at"], v1["createdAt"]);

    let two = app.customer("Two", &["two"]).await;
    let via_v1 = app.get("/accounts/two").await.body;
    assert_eq!(via_v1["id"], two["id"]);
    assert_eq!(via_v1["createdAt"], two["created_at"]);
    assert_eq!(
        app.get("/accounts").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
