//! `/products` on both surfaces: create, read, list with filters and paging, update, delete and
//! its guard, tenancy and idempotency.

use abacus_store::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

use crate::catalog_support::{ids, unit_price};
use crate::harness::{TestApp, V2, is_micros_timestamp};

on_both_backends!(
    product_lifecycle_v2,
    products_on_the_v1_surface,
    product_lists_filter_and_page,
    products_in_use_cannot_be_deleted,
    products_are_tenant_scoped,
    product_create_is_idempotent,
);

async fn product_lifecycle_v2(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let calls = app.calls_metric("Calls").await;
    let tag = app.tag("AI", &["product"]).await;
    let p = app
        .created(
            "/products",
            json!({"name": "API calls", "description": "Metered API", "fee_type": "metered",
                   "payment_terms": "arrears", "metric_ids": [calls], "tag_ids": [tag], "sku": "API-001",
                   "tax_code": "saas", "unit_label_singular": "API call", "unit_label_plural": "API calls"}),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("prod_") && id.len() == 27, "{id}");
    assert!(id[5..].bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(
        p["billing_frequency"], "recurring",
        "metered products recur"
    );
    assert_eq!(p["revenue_allocation_method"], "usage_based");
    assert_eq!(p["metric_ids"], json!([calls]));
    assert_eq!(p["tag_ids"], json!([tag]));
    assert_eq!(p["unit_label_plural"], "API calls");
    assert!(is_micros_timestamp(&p["created_at"]));

    let got = app.get_v2(&format!("/products/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, p);

    let fixed = app
        .created(
            "/products",
            json!({"name": "Onboarding", "fee_type": "fixed", "payment_terms": "advance",
                   "billing_frequency": "one-off"}),
        )
        .await;
    assert_eq!(
        fixed["description"], "",
        "the SDK requires a description string"
    );
    assert_eq!(fixed["revenue_allocation_method"], "straight_line");
    assert_eq!(fixed["metric_ids"], json!([]));
    assert!(fixed.get("sku").is_none());

    // Update: left-out fields stay, null clears, tag_ids replaces; what is billed is fixed.
    let r = app
        .patch_v2(
            &format!("/products/{id}"),
            &json!({"name": "API requests", "sku": null, "tag_ids": [], "fee_type": "metered",
                    "revenue_allocation_method": "straight_line"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "API requests");
    assert!(r.body.get("sku").is_none());
    assert_eq!(r.body["tag_ids"], json!([]));
    assert_eq!(r.body["tax_code"], "saas");
    assert_eq!(r.body["revenue_allocation_method"], "straight_line");
    assert_eq!(r.body["created_at"], p["created_at"]);
    assert_ne!(r.body["updated_at"], p["updated_at"]);
    let r = app
        .patch_v2(
            &format!("/products/{id}"),
            &json!({"payment_terms": "advance", "metric_ids": []}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["payment_terms", "metric_ids"]);
    app.patch_v2("/products/prod_missing", &json!({"name": "x"}))
        .await
        .problem(404);

    let r = app
        .send(
            app.req(Method::DELETE, &format!("/products/{id}"))
                .header(V2.0, V2.1),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"id": id, "deleted": true}));
    app.get_v2(&format!("/products/{id}")).await.problem(404);
    app.delete(&format!("/products/{id}")).await.problem(404);
    assert_eq!(
        ids(&app.get_v2("/products").await.body),
        [fixed["id"].as_str().unwrap()]
    );
}

async fn products_on_the_v1_surface(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let calls = app.calls_metric("Calls").await;
    let r = app
        .post(
            "/products",
            &json!({"name": "Seats", "feeType": "fixed", "paymentTerms": "advance",
                    "billingFrequency": "recurring", "sku": "SEAT"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let seats = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["feeType"], "fixed");
    assert!(r.body.get("fee_type").is_none());
    let api = app.metered_product("API", &calls).await;

    let got = app.get(&format!("/products/{api}")).await;
    assert_eq!(got.status, 200);
    for key in [
        "id",
        "name",
        "description",
        "feeType",
        "paymentTerms",
        "billingFrequency",
        "metricIds",
        "createdAt",
        "updatedAt",
    ] {
        assert!(
            got.body.get(key).is_some(),
            "v1 product has {key}: {}",
            got.text
        );
    }
    assert_eq!(got.body["metricIds"], json!([calls]));
    assert!(got.body.get("metric_ids").is_none());

    let list = app.get("/products").await;
    assert_eq!(list.status, 200);
    assert!(list.body.get("data").is_none(), "{}", list.text);
    assert_eq!(ids(&list.body), [seats.clone(), api.clone()]);
    assert_eq!(list.body["pageCount"], 1);
    assert_eq!(list.body["products"][0]["feeType"], "fixed");
    let page2 = app.get("/products?limit=1&page=2").await;
    assert_eq!(ids(&page2.body), [api.as_str()]);
    assert_eq!(page2.body["pageCount"], 2);
    let sorted = app.get("/products?sort=fee_type:desc").await;
    assert_eq!(ids(&sorted.body), [api.clone(), seats.clone()]);
    let filtered = app
        .get(&format!(
            "/products?filters={}",
            urlencode(r#"[{"field":"feeType","operator":"eq","value":"metered"}]"#)
        ))
        .await;
    assert_eq!(ids(&filtered.body), [api.as_str()], "{}", filtered.text);
    let r = app
        .get(&format!(
            "/products?filters={}",
            urlencode(r#"[{"field":"name","operator":"eq","value":"x"}]"#)
        ))
        .await;
    r.problem(400);
    assert_eq!(r.error_fields(), ["filters"]);

    // Errors name fields in the request's spelling.
    let r = app
        .post(
            "/products",
            &json!({"name": "X", "feeType": "metered", "paymentTerms": "advance", "metricIds": [calls]}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["paymentTerms"]);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn product_lists_filter_and_page(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let calls = app.calls_metric("Calls").await;
    let tokens = app.calls_metric("Tokens").await;
    let tag = app.tag("Core", &[]).await;
    let a = app.metered_product("Bravo", &calls).await;
    let b = app
        .created(
            "/products",
            json!({"name": "alpha", "fee_type": "metered", "payment_terms": "arrears",
                   "metric_ids": [tokens, calls], "tag_ids": [tag]}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = app.fixed_product("Charlie").await;
    let d = app
        .created(
            "/products",
            json!({"name": "Delta", "fee_type": "fixed", "payment_terms": "arrears",
                   "billing_frequency": "one-off", "tag_ids": [tag]}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let list = |q: &str| {
        let q = q.to_string();
        let app = &app;
        async move {
            let r = app.get_v2(&format!("/products{q}")).await;
            assert_eq!(r.status, 200, "{q}: {}", r.text);
            ids(&r.body)
        }
    };
    assert_eq!(
        list("").await,
        [a.as_str(), b.as_str(), c.as_str(), d.as_str()]
    );
    assert_eq!(list("?fee_type=fixed").await, [c.as_str(), d.as_str()]);
    assert_eq!(
        list("?fee_type=fixed,metered&payment_terms=arrears").await,
        [a.as_str(), b.as_str(), d.as_str()]
    );
    assert_eq!(list(&format!("?metric_ids={tokens}")).await, [b.as_str()]);
    assert_eq!(
        list(&format!("?metric_ids={calls},{tokens}")).await,
        [a.as_str(), b.as_str()]
    );
    assert_eq!(
        list(&format!("?tag_ids={tag}")).await,
        [b.as_str(), d.as_str()]
    );
    assert_eq!(list("?billing_frequency=one-off").await, [d.as_str()]);
    assert_eq!(
        list("?sort=name:asc").await,
        [a.as_str(), c.as_str(), d.as_str(), b.as_str()]
    );
    assert_eq!(list("?limit=2&offset=1").await, [b.as_str(), c.as_str()]);
    let page = app.get_v2("/products?limit=3").await;
    assert_eq!(
        page.body["pagination"],
        json!({"per_page": 3, "total_pages": 2})
    );
    for (q, field) in [
        ("?fee_type=usage", "fee_type"),
        ("?payment_terms=later", "payment_terms"),
        ("?sort=sku", "sort"),
        ("?offset=-1", "offset"),
    ] {
        let r = app.get_v2(&format!("/products{q}")).await;
        r.problem(400);
        assert_eq!(r.error_fields(), [field], "{q}");
    }
}

async fn products_in_use_cannot_be_deleted(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let calls = app.calls_metric("Calls").await;
    let api = app.metered_product("API", &calls).await;
    let plan = app
        .created(
            "/plans",
            json!({"name": "Pro", "currency": "USD",
                   "items": [{"product_id": api, "price": unit_price(&calls, "0.01")}]}),
        )
        .await;
    let r = app.delete(&format!("/products/{api}")).await;
    r.problem(409);
    assert!(
        r.body["detail"].as_str().unwrap().contains("plans"),
        "{}",
        r.text
    );
    let bundle = app
        .created(
            "/bundles",
            json!({"name": "B", "prices": [{"product_id": api, "type": "unit", "fee_type": "metered",
                   "billing_direction": "arrears", "metric_ids": [calls],
                   "unit_pricing_model": {"price_per_unit": "1"}}]}),
        )
        .await;
    let r = app
        .post_v2(
            &format!("/plans/{}/archive", plan["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.delete(&format!("/products/{api}")).await;
    r.problem(409);
    assert!(
        r.body["detail"].as_str().unwrap().contains("bundles"),
        "{}",
        r.text
    );
    let other = app.fixed_product("Other").await;
    let r = app
        .patch_v2(
            &format!("/bundles/{}", bundle["id"].as_str().unwrap()),
            &json!({"prices": [{"product_id": other, "type": "fixed", "fee_type": "fixed",
                    "billing_direction": "advance", "billing_frequency": "recurring",
                    "fixed_pricing_model": {"price_per_unit": "5", "units": 1}}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.delete(&format!("/products/{api}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A deleted product cannot be priced anew.
    let r = app
        .post_v2(
            "/plans",
            &json!({"name": "Late", "currency": "USD",
                    "items": [{"product_id": api, "price": unit_price(&calls, "0.01")}]}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["items[0].product_id"]);
}

async fn products_are_tenant_scoped(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let calls = app.calls_metric("Calls").await;
    let api = app.metered_product("API", &calls).await;
    let other_key = app.new_tenant().await;
    let as_other = |method: Method, path: &str| {
        app.http
            .request(method, app.url(path))
            .bearer_auth(&other_key)
            .header(V2.0, V2.1)
    };
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"name": "mine"}))),
        (Method::DELETE, None),
    ] {
        let mut rb = as_other(method.clone(), &format!("/products/{api}"));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        app.send(rb).await.problem(404);
    }
    let list = app.send(as_other(Method::GET, "/products")).await;
    assert_eq!(list.body["data"], json!([]));
    // Another organization's metric and product are unknown.
    let r = app
        .send(as_other(Method::POST, "/products").json(&json!({
            "name": "X", "fee_type": "metered", "payment_terms": "arrears", "metric_ids": [calls]})))
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["metric_ids[0]"]);
    let r = app
        .send(as_other(Method::POST, "/plans").json(&json!({
            "name": "X", "currency": "USD", "items": [{"product_id": api, "price": unit_price(&calls, "1")}]})))
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["items[0].product_id"]);
    assert_eq!(
        app.get_v2(&format!("/products/{api}")).await.body["name"],
        "API"
    );
}

async fn product_create_is_idempotent(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let body = json!({"name": "Seats", "fee_type": "fixed", "payment_terms": "advance",
                      "billing_frequency": "recurring"});
    let send = |b: &Value| {
        app.req(Method::POST, "/products")
            .header(V2.0, V2.1)
            .header("Idempotency-Key", "create-seats-1")
            .json(b)
    };
    let first = app.send(send(&body)).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = app.send(send(&body)).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    let mut changed = body.clone();
    changed["name"] = json!("Other");
    let r = app.send(send(&changed)).await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["Idempotency-Key"]);
    assert_eq!(
        app.get_v2("/products").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A failed create keeps no response: the key can be used again once the request is fixed.
    let bad = json!({"name": "Seats", "fee_type": "fixed", "payment_terms": "advance"});
    let rb = |b: &Value| {
        app.req(Method::POST, "/products")
            .header(V2.0, V2.1)
            .header("Idempotency-Key", "create-seats-2")
            .json(b)
    };
    app.send(rb(&bad)).await.problem(422);
    assert_eq!(app.send(rb(&body)).await.status, 201);
}
