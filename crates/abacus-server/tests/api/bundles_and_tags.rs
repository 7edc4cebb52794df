//! `/bundles` and `/tags`: create, read, list, update (bundles), delete (tags), the SDK's price
//! response shape, tag filters and tenancy.

use abacus_store::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::json;

use crate::catalog_support::{fixed_price, ids};
use crate::harness::{TestApp, V2, is_micros_timestamp};

on_both_backends!(
    bundle_lifecycle,
    tag_lifecycle,
    catalog_objects_of_another_tenant
);

async fn bundle_lifecycle(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let calls = app.calls_metric("Calls").await;
    let api = app.metered_product("API", &calls).await;
    let seats = app.fixed_product("Seats").await;
    let b = app
        .created(
            "/bundles",
            json!({"name": "Starter", "description": "Everything to start", "prices": [
                {"product_id": api, "type": "unit", "fee_type": "metered", "billing_direction": "arrears",
                 "metric_ids": [calls], "unit_pricing_model": {"price_per_unit": "0.01"},
                 "discount": {"amount": "10", "discount_type": "percentage", "duration_type": "monthly_rolling"}},
                {"product_id": seats, "type": "fixed", "fee_type": "fixed", "billing_direction": "advance",
                 "billing_frequency": "recurring", "charge_on_contract_start": true, "display_order": 2,
                 "fixed_pricing_model": {"price_per_unit": "99.00", "units": 3}}
            ]}),
        )
        .await;
    let id = b["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("bnd_") && id.len() == 26, "{id}");
    let prices = b["prices"].as_array().unwrap();
    assert_eq!(prices.len(), 2);
    let p0 = &prices[0];
    assert!(p0["id"].as_str().unwrap().starts_with("pri_"));
    assert_eq!(p0["product_id"], api);
    assert_eq!(p0["product"]["name"], "API");
    assert_eq!(p0["product"]["fee_type"], "metered");
    assert_eq!(p0["product"]["metric_ids"], json!([calls]));
    assert_eq!(p0["type"], "unit");
    assert_eq!(p0["unit_pricing_model"]["price_per_unit"], "0.01");
    assert_eq!(p0["charge_on_contract_start"], false);
    assert_eq!(
        p0["discount"],
        json!({"amount": "10", "duration_type": "monthly_rolling", "discount_type": "percentage"}),
        "the SDK's Discount spells the type discount_type"
    );
    assert!(is_micros_timestamp(&p0["created_at"]));
    assert_eq!(prices[1]["charge_on_contract_start"], true);
    assert_eq!(prices[1]["display_order"], 2);

    let by_bun = app
        .get_v2(&format!("/bundles/{}", id.replacen("bnd_", "bun_", 1)))
        .await;
    assert_eq!(by_bun.status, 200, "{}", by_bun.text);
    assert_eq!(by_bun.body, b);
    assert_eq!(app.get_v2(&format!("/bundles/{id}")).await.body, b);

    // A rename keeps the prices and their ids; `prices` replaces the whole set.
    let r = app
        .patch_v2(
            &format!("/bundles/{id}"),
            &json!({"name": "Starter+", "description": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Starter+");
    assert!(r.body.get("description").is_none());
    assert_eq!(r.body["prices"], b["prices"]);
    let mut seat_price = fixed_price("89.00", 3);
    seat_price["product_id"] = json!(seats);
    let r = app
        .patch_v2(&format!("/bundles/{id}"), &json!({"prices": [seat_price]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let replaced = r.body["prices"].as_array().unwrap();
    assert_eq!(replaced.len(), 1);
    assert_ne!(replaced[0]["id"], prices[1]["id"]);
    assert_eq!(
        replaced[0]["fixed_pricing_model"]["price_per_unit"],
        "89.00"
    );
    let r = app
        .patch_v2(&format!("/bundles/{id}"), &json!({"prices": []}))
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["prices"]);
    app.patch_v2("/bundles/bnd_missing", &json!({"name": "x"}))
        .await
        .problem(404);
    app.get_v2("/bundles/bun_missing").await.problem(404);

    let second = app
        .created(
            "/bundles",
            json!({"name": "Seats only", "currency": "eur", "prices": [seat_price]}),
        )
        .await;
    assert_eq!(second["currency"], "EUR");
    assert_eq!(second["prices"][0]["currency"], "EUR");
    let list = app.get_v2("/bundles").await;
    assert_eq!(
        ids(&list.body),
        [id.clone(), second["id"].as_str().unwrap().to_string()]
    );
    assert_eq!(list.body["data"][0]["name"], "Starter+");
    let page = app.get_v2("/bundles?limit=1&offset=1").await;
    assert_eq!(
        page.body["pagination"],
        json!({"per_page": 1, "total_pages": 2})
    );
    assert_eq!(ids(&page.body), [second["id"].as_str().unwrap()]);
}

async fn tag_lifecycle(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let r = app
        .post_v2(
            "/tags",
            &json!({"name": "enterprise", "color": "#1a2b3c", "entity_types": ["product", "plan"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ent = r.body["id"].as_str().unwrap().to_string();
    assert!(ent.starts_with("tag_") && ent.len() == 26, "{ent}");
    assert_eq!(r.body["color"], "#1A2B3C");
    assert_eq!(r.body["entity_types"], json!(["product", "plan"]));
    let all = app.tag("Beta", &[]).await;
    let got = app.get_v2(&format!("/tags/{all}")).await;
    assert_eq!(got.body["entity_types"].as_array().unwrap().len(), 7);
    assert!(got.body["color"].as_str().unwrap().starts_with('#'));
    assert!(is_micros_timestamp(&got.body["updated_at"]));

    let r = app.post_v2("/tags", &json!({"name": "ENTERPRISE"})).await;
    r.problem(409);
    assert_eq!(r.error_fields(), ["name"]);

    let list = app.get_v2("/tags").await;
    assert_eq!(ids(&list.body), [all.clone(), ent.clone()], "by name");
    assert_eq!(
        list.body["pagination"],
        json!({"per_page": 20, "total_pages": 1})
    );
    assert_eq!(
        ids(&app.get_v2("/tags?limit=1&offset=1").await.body),
        [ent.as_str()]
    );

    // Tags label products and plans, filter them, and leave them when deleted.
    let product = app
        .created(
            "/products",
            json!({"name": "Seats", "fee_type": "fixed", "payment_terms": "advance",
                   "billing_frequency": "recurring", "tag_ids": [ent, all]}),
        )
        .await;
    let pid = product["id"].as_str().unwrap().to_string();
    let plan = app
        .created(
            "/plans",
            json!({"name": "P", "currency": "USD", "tags": [ent]}),
        )
        .await;
    assert_eq!(
        ids(&app.get_v2(&format!("/products?tag_ids={ent}")).await.body),
        [pid.as_str()]
    );
    assert_eq!(
        ids(&app.get_v2(&format!("/plans?tag_ids={ent}")).await.body),
        [plan["id"].as_str().unwrap()]
    );
    let r = app
        .send(
            app.req(Method::DELETE, &format!("/tags/{ent}"))
                .header(V2.0, V2.1),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"id": ent, "deleted": true}));
    app.get_v2(&format!("/tags/{ent}")).await.problem(404);
    app.delete(&format!("/tags/{ent}")).await.problem(404);
    assert_eq!(
        app.get_v2(&format!("/products/{pid}")).await.body["tag_ids"],
        json!([all])
    );
    let plan_now = app
        .get_v2(&format!("/plans/{}", plan["id"].as_str().unwrap()))
        .await;
    assert_eq!(plan_now.body["tags"], json!([]));
    assert!(ids(&app.get_v2(&format!("/products?tag_ids={ent}")).await.body).is_empty());
}

async fn catalog_objects_of_another_tenant(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tag = app.tag("Mine", &[]).await;
    let seats = app.fixed_product("Seats").await;
    let mut price = fixed_price("1", 1);
    price["product_id"] = json!(seats);
    let bundle = app
        .created("/bundles", json!({"name": "B", "prices": [price.clone()]}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = app.new_tenant().await;
    let send = |m: Method, path: &str| {
        app.http
            .request(m, app.url(path))
            .bearer_auth(&other)
            .header(V2.0, V2.1)
    };
    app.send(send(Method::GET, &format!("/tags/{tag}")))
        .await
        .problem(404);
    app.send(send(Method::DELETE, &format!("/tags/{tag}")))
        .await
        .problem(404);
    app.send(send(Method::GET, &format!("/bundles/{bundle}")))
        .await
        .problem(404);
    app.send(send(Method::PATCH, &format!("/bundles/{bundle}")).json(&json!({"name": "x"})))
        .await
        .problem(404);
    assert_eq!(
        app.send(send(Method::GET, "/tags")).await.body["data"],
        json!([])
    );
    assert_eq!(
        app.send(send(Method::GET, "/bundles")).await.body["data"],
        json!([])
    );
    let r = app
        .send(send(Method::POST, "/bundles").json(&json!({"name": "B", "prices": [price]})))
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["prices[0].product_id"]);
    let r = app
        .send(send(Method::POST, "/products").json(&json!({
            "name": "X", "fee_type": "fixed", "payment_terms": "advance",
            "billing_frequency": "one-off", "tag_ids": [tag]})))
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["tag_ids[0]"]);
    // The same name is free in another organization.
    let r = app
        .send(send(Method::POST, "/tags").json(&json!({"name": "Mine"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}
