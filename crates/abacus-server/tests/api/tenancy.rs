//! Another organization's customers are indistinguishable from missing ones.

use abacus_store::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::json;

use crate::harness::{TestApp, V2};

on_both_backends!(another_tenants_customers_are_404, aliases_are_per_tenant);

async fn another_tenants_customers_are_404(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let mine = app.customer("Mine", &["mine"]).await;
    let id = mine["id"].as_str().unwrap();
    let other = app.new_tenant().await;
    let as_other = |m: Method, path: &str| {
        app.http
            .request(m, app.url(path))
            .bearer_auth(&other)
            .header(V2.0, V2.1)
    };

    for path in [
        format!("/customers/{id}"),
        "/customers/mine".into(),
        format!("/accounts/{id}"),
        "/accounts/mine".into(),
    ] {
        app.send(as_other(Method::GET, &path)).await.problem(404);
        app.send(as_other(Method::PATCH, &path).json(&json!({"name": "stolen"})))
            .await
            .problem(404);
    }
    app.send(as_other(Method::GET, "/customers/lookup?alias=mine"))
        .await
        .problem(404);
    app.send(as_other(Method::DELETE, &format!("/accounts/{id}")))
        .await
        .problem(404);
    app.send(as_other(Method::DELETE, &format!("/customers/{id}")))
        .await
        .problem(404);
    let list = app.send(as_other(Method::GET, "/customers")).await;
    assert_eq!(list.body["data"], json!([]));
    let list = app
        .send(as_other(Method::GET, "/accounts").header(V2.0, V2.1))
        .await;
    assert_eq!(list.body["data"], json!([]));

    let still = app.get_v2(&format!("/customers/{id}")).await;
    assert_eq!(still.body, mine, "untouched by the other tenant");
}

async fn aliases_are_per_tenant(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let mine = app.customer("Mine", &["shared"]).await;
    let other = app.new_tenant().await;
    let r = app
        .send(
            app.http
                .post(app.url("/customers"))
                .bearer_auth(&other)
                .json(&json!({"name": "Theirs", "currency": "USD", "aliases": ["shared"]})),
        )
        .await;
    assert_eq!(
        r.status, 201,
        "the same alias in another tenant: {}",
        r.text
    );
    assert_ne!(r.body["id"], mine["id"]);
    assert_eq!(app.get_v2("/customers/shared").await.body["id"], mine["id"]);
}
