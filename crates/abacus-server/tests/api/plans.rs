//! `/plans`: create with product and bundle items and every kind of term, read, list with sort
//! and tags, update and archive (extensions), tenancy.

use abacus_store::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

use crate::catalog_support::{fixed_price, ids, tiered_price, unit_price};
use crate::harness::{TestApp, V2, is_micros_timestamp};

on_both_backends!(
    plan_lifecycle,
    plan_lists_sort_and_filter,
    plans_are_tenant_scoped
);

struct Catalog {
    calls: String,
    api: String,
    seats: String,
    bundle: String,
    tag: String,
}

async fn catalog(app: &TestApp) -> Catalog {
    let calls = app.calls_metric("Calls").await;
    let api = app.metered_product("API", &calls).await;
    let seats = app.fixed_product("Seats").await;
    let tag = app.tag("Self-serve", &["plan"]).await;
    let mut platform = fixed_price("49.00", 1);
    platform["product_id"] = json!(seats);
    let bundle = app
        .created(
            "/bundles",
            json!({"name": "Platform", "description": "The base", "currency": "USD", "prices": [platform]}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    Catalog {
        calls,
        api,
        seats,
        bundle,
        tag,
    }
}

async fn plan_lifecycle(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let c = catalog(&app).await;
    let graduated = tiered_price(
        "graduated_tiered",
        &c.calls,
        json!([{"min_units": 0, "max_units": 1000, "price_per_unit": "0.10"},
               {"min_units": 1000, "max_units": null, "price_per_unit": "0.05"}]),
    );
    let body = json!({
        "name": "Pro", "description": "For teams", "currency": "usd",
        "contract_period_type": "fixed", "contract_duration": 12,
        "auto_renew": true, "renewal_period_type": "fixed", "renewal_duration": 12,
        "auto_activate": true, "trial_period_days": 14, "payment_terms": "net_30",
        "additional_terms": "**Fair use** applies.",
        "discount": {"amount": "10", "type": "percentage", "duration_type": "fixed", "duration_unit": "months", "duration_value": 6},
        "minimum_spend": {"amount": "500.00", "period": "monthly"},
        "maximum_spend": {"amount": "5000.00", "period": "monthly"},
        "price_escalation": {"enabled": true, "interval_months": 12, "type": "percentage", "percentage": "5.00", "escalate_metered_unit_rates": false},
        "entitlements": [
            {"entitlement_key": "sso", "mode": "static", "type": "boolean", "value": "true"},
            {"entitlement_key": "seats", "mode": "static", "type": "number", "value": "25"},
            {"entitlement_key": "credits", "mode": "grant_based", "type": "credit_allocation",
             "allocation": {"amount": "100.00", "credit_type": "monetary", "rollover_enabled": true, "rollover_max_periods": 3},
             "timing": {"recurrence": "recurring", "interval": "monthly"}}
        ],
        "invoice_settings": {"auto_issue_invoices": true, "invoice_footer_text": "Thanks!"},
        "tags": [c.tag],
        "items": [
            {"product_id": c.api, "price": graduated},
            {"bundle_id": c.bundle.replacen("bnd_", "bun_", 1)}
        ]
    });
    let p = app.created("/plans", body.clone()).await;
    let id = p["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("pln_") && id.len() == 26, "{id}");
    assert_eq!(p["currency"], "USD");
    assert!(is_micros_timestamp(&p["created_at"]));
    for key in [
        "name",
        "description",
        "contract_period_type",
        "contract_duration",
        "renewal_duration",
        "payment_terms",
        "additional_terms",
        "discount",
        "minimum_spend",
        "maximum_spend",
        "price_escalation",
        "entitlements",
        "invoice_settings",
        "tags",
    ] {
        assert_eq!(p[key], body[key], "{key} is echoed");
    }
    assert_eq!(
        p["items"][0], body["items"][0],
        "prices read back as written"
    );
    let bundle_item = &p["items"][1];
    assert_eq!(
        bundle_item["bundle_id"], c.bundle,
        "bun_ names the same bundle"
    );
    assert_eq!(bundle_item["name"], "Platform");
    assert_eq!(bundle_item["bundle_description"], "The base");
    assert_eq!(bundle_item["items"][0]["product_id"], c.seats);
    assert_eq!(
        bundle_item["items"][0]["price"]["fixed_pricing_model"]["price_per_unit"],
        "49.00"
    );
    assert_eq!(app.get_v2(&format!("/plans/{id}")).await.body, p);

    // Update (extension): top-level fields replace, null clears, the result is checked whole.
    let r = app
        .patch_v2(
            &format!("/plans/{id}"),
            &json!({"name": "Pro 2024", "trial_period_days": null,
                    "items": [{"product_id": c.seats, "price": fixed_price("10.00", 5)},
                              {"bundle_id": c.bundle, "name": "Base", "items": [{"product_id": c.api, "price": unit_price(&c.calls, "0.02")}]}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Pro 2024");
    assert!(r.body.get("trial_period_days").is_none());
    assert_eq!(r.body["payment_terms"], "net_30", "left-out fields stay");
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["items"][1]["name"], "Base");
    assert_eq!(r.body["items"][1]["items"][0]["product_id"], c.api);
    let r = app
        .patch_v2(&format!("/plans/{id}"), &json!({"currency": "EUR"}))
        .await;
    r.problem(422);
    assert_eq!(
        r.error_fields(),
        ["items[1].bundle_id"],
        "the bundle is priced in USD"
    );
    let r = app
        .patch_v2(
            &format!("/plans/{id}"),
            &json!({"contract_duration": "long"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["contract_duration"]);
    app.patch_v2("/plans/pln_missing", &json!({"name": "x"}))
        .await
        .problem(404);

    // Archive (extension): out of lists, frozen, still readable.
    let r = app
        .post_v2(&format!("/plans/{id}/archive"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(is_micros_timestamp(&r.body["archived_at"]));
    assert!(ids(&app.get_v2("/plans").await.body).is_empty());
    assert_eq!(
        ids(&app.get_v2("/plans?include_archived=true").await.body),
        [id.as_str()]
    );
    app.patch_v2(&format!("/plans/{id}"), &json!({"name": "x"}))
        .await
        .problem(409);
    assert_eq!(
        app.get_v2(&format!("/plans/{id}")).await.body["name"],
        "Pro 2024"
    );
    app.post_v2("/plans/pln_missing/archive", &json!({}))
        .await
        .problem(404);
}

async fn plan_lists_sort_and_filter(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let c = catalog(&app).await;
    let other_tag = app.tag("Enterprise", &["plan", "product"]).await;
    let mut made = Vec::new();
    for (name, tags) in [
        ("Basic", vec![c.tag.clone()]),
        ("advanced", vec![]),
        ("Custom", vec![other_tag.clone(), c.tag.clone()]),
    ] {
        let p = app
            .created(
                "/plans",
                json!({"name": name, "currency": "EUR", "tag_ids": tags,
                       "items": [{"product_id": c.seats, "price": fixed_price("1", 1)}]}),
            )
            .await;
        made.push(p["id"].as_str().unwrap().to_string());
    }
    let list = |q: &'static str| {
        let app = &app;
        async move {
            let r = app.get_v2(&format!("/plans{q}")).await;
            assert_eq!(r.status, 200, "{q}: {}", r.text);
            r.body
        }
    };
    assert_eq!(ids(&list("").await), made);
    assert_eq!(
        ids(&list("?sort=created_at:desc").await),
        [made[2].as_str(), made[1].as_str(), made[0].as_str()]
    );
    assert_eq!(
        ids(&list("?sort=name:asc").await),
        [made[0].as_str(), made[2].as_str(), made[1].as_str()]
    );
    let tagged = app.get_v2(&format!("/plans?tag_ids={}", c.tag)).await;
    assert_eq!(ids(&tagged.body), [made[0].as_str(), made[2].as_str()]);
    let tagged = app
        .get_v2(&format!("/plans?tag_ids={other_tag},tag_none"))
        .await;
    assert_eq!(ids(&tagged.body), [made[2].as_str()]);
    let page = list("?limit=2&offset=2").await;
    assert_eq!(ids(&page), [made[2].as_str()]);
    assert_eq!(page["pagination"], json!({"per_page": 2, "total_pages": 2}));
    assert_eq!(page["data"][0]["tags"], json!([other_tag, c.tag]));
    let r = app.get_v2("/plans?sort=price").await;
    r.problem(400);
    assert_eq!(r.error_fields(), ["sort"]);
    // The plan's currency applies to its prices; the API product stays usable on EUR plans.
    let r = app
        .post_v2(
            "/plans",
            &json!({"name": "Usage", "currency": "JPY",
                    "items": [{"product_id": c.api, "price": unit_price(&c.calls, "1.5")}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn plans_are_tenant_scoped(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let c = catalog(&app).await;
    let plan = app
        .created(
            "/plans",
            json!({"name": "Pro", "currency": "USD", "items": [{"bundle_id": c.bundle}]}),
        )
        .await;
    let id = plan["id"].as_str().unwrap();
    let other = app.new_tenant().await;
    let send = |m: Method, path: String, body: Option<Value>| {
        let mut rb = app
            .http
            .request(m, app.url(&path))
            .bearer_auth(&other)
            .header(V2.0, V2.1);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        app.send(rb)
    };
    send(Method::GET, format!("/plans/{id}"), None)
        .await
        .problem(404);
    send(
        Method::PATCH,
        format!("/plans/{id}"),
        Some(json!({"name": "x"})),
    )
    .await
    .problem(404);
    send(
        Method::POST,
        format!("/plans/{id}/archive"),
        Some(json!({})),
    )
    .await
    .problem(404);
    let list = send(Method::GET, "/plans".into(), None).await;
    assert_eq!(list.body["data"], json!([]));
    let r = send(
        Method::POST,
        "/plans".into(),
        Some(json!({"name": "x", "currency": "USD", "tags": [c.tag], "items": [{"bundle_id": c.bundle}]})),
    )
    .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["tags[0]", "items[0].bundle_id"]);
}
