//! Conventions every endpoint shares: authentication, versions, errors, request ids, limits and
//! the OpenAPI document.

use abacus_core::time::now_micros;
use abacus_store::{Backend, api_keys, on_both_backends};
use reqwest::Method;
use serde_json::json;

use crate::harness::{TestApp, V2};

on_both_backends!(
    missing_malformed_and_revoked_keys_are_401,
    key_use_is_recorded,
    api_versions,
    unknown_routes_and_methods_are_problems,
    health_and_request_ids,
    oversized_bodies_are_413,
    openapi_and_reference_page,
);

async fn missing_malformed_and_revoked_keys_are_401(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (key_id, secret) = app.key.split_once('.').unwrap();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("basic scheme", Some(format!("Basic {}", app.key))),
        ("empty bearer", Some("Bearer ".into())),
        ("no dot", Some(format!("Bearer {key_id}{secret}"))),
        ("short secret", Some(format!("Bearer {key_id}.short"))),
        (
            "unknown key id",
            Some(format!("Bearer ak_unknown.{secret}")),
        ),
        (
            "wrong secret",
            Some(format!("Bearer {key_id}.{}", "x".repeat(40))),
        ),
    ];
    for (case, header) in cases {
        let mut rb = app.http.get(app.url("/customers"));
        if let Some(h) = header {
            rb = rb.header("Authorization", h);
        }
        let r = app.send(rb).await;
        r.problem(401);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{case}");
    }
    assert_eq!(
        app.get("/customers").await.status,
        200,
        "the real key works"
    );
    let mut tx = app.state.db.begin().await.unwrap();
    assert!(
        api_keys::revoke(&mut tx, key_id, now_micros())
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let r = app.get("/customers").await;
    r.problem(401);
    assert!(r.body["detail"].as_str().unwrap().contains("revoked"));
}

async fn key_use_is_recorded(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let before = now_micros();
    assert_eq!(app.get("/accounts").await.status, 200);
    let key_id = app.key.split_once('.').unwrap().0;
    let mut last_used = None;
    for _ in 0..50 {
        let mut c = app.state.db.read().await.unwrap();
        last_used = api_keys::list(&mut c, None)
            .await
            .unwrap()
            .into_iter()
            .find(|k| k.id == key_id)
            .unwrap()
            .last_used_at;
        if last_used.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        last_used.is_some_and(|t| t >= before),
        "last use recorded: {last_used:?}"
    );
}

async fn api_versions(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let r = app
        .send(
            app.req(Method::GET, "/customers")
                .header("Alguna-Version", "2025-01-01"),
        )
        .await;
    r.problem(400);
    assert_eq!(r.error_fields(), vec!["Alguna-Version"]);
    assert!(r.body["detail"].as_str().unwrap().contains("2026-04-01"));
    let r = app
        .send(
            app.req(Method::GET, "/accounts")
                .header("Alguna-Version", "v2"),
        )
        .await;
    r.problem(400);
    assert_eq!(
        app.send(app.req(Method::GET, "/customers").header(V2.0, V2.1))
            .await
            .status,
        200
    );
    assert_eq!(
        app.get("/customers").await.status,
        200,
        "the header may be left out"
    );
}

async fn unknown_routes_and_methods_are_problems(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let r = app.get("/no-such-thing").await;
    r.problem(404);
    let r = app.send(app.req(Method::PUT, "/customers")).await;
    r.problem(405);
    assert!(r.header("allow").is_some());
}

async fn health_and_request_ids(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let r = app.send(app.http.get(app.url("/healthz"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
    let generated = r.header("x-request-id").unwrap().to_string();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let r = app
        .send(
            app.req(Method::GET, "/accounts")
                .header("x-request-id", "trace-me-42"),
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("trace-me-42"));
}

async fn oversized_bodies_are_413(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let big = json!({"name": "x".repeat(2 * 1024 * 1024), "currency": "USD"});
    let r = app.post("/accounts", &big).await;
    r.problem(413);
    let r = app
        .send(
            app.req(Method::POST, "/customers")
                .header("Idempotency-Key", "big-1")
                .json(&big),
        )
        .await;
    r.problem(413);
    assert_eq!(app.get("/accounts").await.body["data"], json!([]));
}

async fn openapi_and_reference_page(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let r = app.send(app.http.get(app.url("/openapi.json"))).await;
    assert_eq!(r.status, 200);
    let paths = r.body["paths"].as_object().unwrap();
    let expected: &[(&str, &[&str])] = &[
        ("/accounts", &["get", "post"]),
        ("/accounts/{id}", &["get", "patch", "delete"]),
        ("/customers", &["get", "post"]),
        ("/customers/lookup", &["get"]),
        ("/customers/{id}", &["get", "patch", "delete"]),
        ("/customers/{id}/usage", &["get"]),
        ("/accounts/{id}/usage", &["get"]),
        ("/events", &["get", "post"]),
        ("/metrics", &["get", "post"]),
        ("/metrics/{id}", &["get", "patch"]),
        ("/metrics/{id}/archive", &["post"]),
        ("/products", &["get", "post"]),
        ("/products/{id}", &["get", "patch", "delete"]),
        ("/plans", &["get", "post"]),
        ("/plans/{id}", &["get", "patch"]),
        ("/plans/{id}/archive", &["post"]),
        ("/bundles", &["get", "post"]),
        ("/bundles/{id}", &["get", "patch"]),
        ("/tags", &["get", "post"]),
        ("/tags/{id}", &["get", "delete"]),
        ("/prices/preview", &["post"]),
        ("/webhook-endpoints", &["get", "post"]),
        ("/webhook-endpoints/{id}", &["get", "patch", "delete"]),
        ("/webhook-endpoints/{id}/rotate-secret", &["post"]),
        ("/webhook-endpoints/{id}/test", &["post"]),
        ("/webhook-endpoints/{id}/messages", &["get"]),
        ("/webhook-endpoints/{id}/messages/{msg_id}", &["get"]),
        (
            "/webhook-endpoints/{id}/messages/{msg_id}/attempts",
            &["get"],
        ),
        (
            "/webhook-endpoints/{id}/messages/{msg_id}/resend",
            &["post"],
        ),
        ("/webhook-endpoints/{id}/recover", &["post"]),
        ("/webhook-event-types", &["get"]),
        ("/subscriptions", &["get", "post"]),
        ("/subscriptions/{id}", &["get", "patch", "delete"]),
        ("/subscriptions/{id}/activate", &["post"]),
        ("/subscriptions/{id}/cancel", &["post"]),
        ("/subscriptions/{id}/cancel/revert", &["post"]),
        ("/subscriptions/{id}/billing-dates", &["get"]),
        ("/subscriptions/{id}/entitlements", &["get"]),
        ("/subscriptions/{id}/entitlements/{key}", &["get"]),
        ("/subscriptions/{id}/upcoming-invoice", &["get"]),
        ("/customers/{id}/entitlements", &["get"]),
        ("/subscriptions/{id}/versions", &["get", "post"]),
        ("/subscriptions/{id}/versions/current", &["get"]),
        (
            "/subscriptions/{id}/versions/{vid}",
            &["get", "put", "delete"],
        ),
        ("/subscriptions/{id}/versions/{vid}/items/{ref}", &["get"]),
        ("/subscriptions/{id}/versions/{vid}/publish", &["post"]),
        ("/subscriptions/{id}/changes", &["post"]),
        ("/subscriptions/{id}/changes/preview", &["post"]),
        ("/organization", &["get", "patch"]),
        ("/invoices", &["get", "post"]),
        ("/invoices/{id}", &["get", "patch"]),
        ("/invoices/{id}/issue", &["post"]),
        ("/invoices/{id}/line-items", &["post"]),
        (
            "/invoices/{id}/line-items/{line_item_id}",
            &["patch", "delete"],
        ),
        ("/invoices/{id}/mark-as-paid", &["post", "put"]),
        ("/invoices/{id}/void", &["post"]),
        ("/invoices/{id}/pdf", &["get"]),
        ("/invoices/{id}/credit-notes", &["post"]),
        ("/credit-notes", &["get", "post"]),
        ("/credit-notes/{id}", &["get"]),
        ("/credit-notes/{id}/apply", &["post"]),
        ("/credit-notes/{id}/void", &["post"]),
        ("/payments", &["get"]),
        ("/payments/{id}", &["get"]),
        ("/refunds", &["get", "post"]),
        ("/refunds/{id}", &["get"]),
        ("/customers/{id}/credit-balance", &["get"]),
        ("/subscriptions/{id}/credits/grant", &["post"]),
        ("/subscriptions/{id}/credits/balance", &["get"]),
        ("/subscriptions/{id}/credits/grants", &["get"]),
    ];
    for (path, methods) in expected {
        let ops = paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} documented"));
        for m in *methods {
            assert!(ops.get(*m).is_some(), "{m} {path} documented");
        }
    }
    assert_eq!(
        paths.len(),
        expected.len(),
        "no undocumented or stale paths: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    let schemas = &r.body["components"]["schemas"];
    for s in [
        "Account",
        "AccountCreate",
        "CustomerResponse",
        "CreateCustomerRequest",
        "Problem",
        "ProductResponse",
        "CreateProductRequest",
        "PlanResponse",
        "CreatePlanRequest",
        "BundleResponse",
        "TagResponse",
        "PricePreviewRequest",
        "EndpointResponse",
        "CreateEndpointRequest",
        "MessageResponse",
        "AttemptResponse",
        "InvoiceResponse",
        "InvoiceListResponse",
        "CreateInvoiceRequest",
        "LineItemResponse",
        "CreditNoteResponse",
        "PaymentResponse",
        "RefundResponse",
    ] {
        assert!(schemas.get(s).is_some(), "schema {s}");
    }
    assert!(
        schemas["Account"]["properties"]["billingAddress"].is_object(),
        "v1 schemas are camelCase"
    );
    assert!(
        schemas["CustomerResponse"]["properties"]["billing_address"].is_object(),
        "v2 schemas are snake_case"
    );
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                assert!(
                    response["description"].is_string(),
                    "{method} {path} {status} has a description"
                );
                if status.starts_with('4') {
                    assert!(
                        response["content"]
                            .get("application/problem+json")
                            .is_some(),
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    assert!(r.body["components"]["securitySchemes"]["api_key"].is_object());

    let page = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.to_lowercase().contains("swagger"),
        "the reference page"
    );
    for asset in [
        "/docs/swagger-ui.css",
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-initializer.js",
    ] {
        let a = app.http.get(app.url(asset)).send().await.unwrap();
        assert_eq!(a.status(), 200, "{asset} served from the binary");
    }
    let init = app
        .http
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/openapi.json"));
}
