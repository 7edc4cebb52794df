//! `Idempotency-Key`: replay, mismatch, concurrent duplicates, failures, tenants.

use abacus_core::time::now_micros;
use abacus_store::idempotency;
use abacus_store::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Resp, TestApp, V2};

on_both_backends!(
    a_repeat_replays_the_first_response,
    same_key_different_request_is_422,
    a_repeat_while_running_is_409_with_retry_after,
    concurrent_duplicates_act_once,
    a_failed_request_can_be_retried,
    keys_belong_to_a_tenant,
    updates_and_deletes_replay,
    malformed_keys_are_400,
);

async fn post_with_key(app: &TestApp, key: &str, body: &Value) -> Resp {
    app.send(
        app.req(Method::POST, "/customers")
            .header(V2.0, V2.1)
            .header("Idempotency-Key", key)
            .json(body),
    )
    .await
}

async fn count(app: &TestApp) -> usize {
    app.get_v2("/customers?limit=100").await.body["data"]
        .as_array()
        .unwrap()
        .len()
}

async fn a_repeat_replays_the_first_response(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let body = json!({"name": "Once", "currency": "USD"});
    let first = post_with_key(&app, "key-1", &body).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None);
    let second = post_with_key(&app, "key-1", &body).await;
    assert_eq!(second.status, 201);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.header("content-type"), Some("application/json"));
    assert_eq!(
        second.text, first.text,
        "the stored response, byte for byte"
    );
    assert_eq!(count(&app).await, 1);
    let third = post_with_key(&app, "key-2", &body).await;
    assert_ne!(
        third.body["id"], first.body["id"],
        "a new key is a new request"
    );
}

async fn same_key_different_request_is_422(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    assert_eq!(
        post_with_key(&app, "k", &json!({"name": "A", "currency": "USD"}))
            .await
            .status,
        201
    );
    let r = post_with_key(&app, "k", &json!({"name": "B", "currency": "USD"})).await;
    r.problem(422);
    assert_eq!(r.error_fields(), vec!["Idempotency-Key"]);
    // The same key on another endpoint is another request too.
    let r = app
        .send(
            app.req(Method::POST, "/accounts")
                .header("Idempotency-Key", "k")
                .json(&json!({"name": "A", "currency": "USD"})),
        )
        .await;
    r.problem(422);
    assert_eq!(count(&app).await, 1);
}

async fn a_repeat_while_running_is_409_with_retry_after(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let body = json!({"name": "Slow", "currency": "USD"});
    // The first request holds the key: claim it the way the server does, with the same fingerprint.
    let org = {
        let mut c = app.state.db.read().await.unwrap();
        abacus_store::orgs::list(&mut c).await.unwrap()[0]
            .id
            .clone()
    };
    let raw = serde_json::to_vec(&body).unwrap();
    let hash = abacus_server::idempotency::fingerprint("POST", "/customers", &raw);
    let now = now_micros();
    let mut tx = app.state.db.begin().await.unwrap();
    idempotency::claim(
        &mut tx,
        &org,
        "busy",
        &hash,
        "first-request",
        now,
        now + 30_000_000,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let r = app
        .send(
            app.req(Method::POST, "/customers")
                .header("Idempotency-Key", "busy")
                .header("content-type", "application/json")
                .body(raw.clone()),
        )
        .await;
    r.problem(409);
    let retry_after: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=5).contains(&retry_after));
    assert_eq!(count(&app).await, 0, "the duplicate did nothing");
}

async fn concurrent_duplicates_act_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let body = json!({"name": "Burst", "currency": "USD", "aliases": ["burst"]});
    let results =
        futures::future::join_all((0..8).map(|_| post_with_key(&app, "burst-key", &body))).await;
    let mut ids = std::collections::BTreeSet::new();
    for r in &results {
        match r.status {
            201 => {
                ids.insert(r.body["id"].as_str().unwrap().to_string());
            }
            409 => assert!(r.header("retry-after").is_some(), "{}", r.text),
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(ids.len(), 1, "every success is the same customer");
    assert_eq!(count(&app).await, 1);
    let again = post_with_key(&app, "burst-key", &body).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert!(ids.contains(again.body["id"].as_str().unwrap()));
}

async fn a_failed_request_can_be_retried(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let bad = post_with_key(&app, "fix-me", &json!({"name": "", "currency": "USD"})).await;
    bad.problem(422);
    let good = post_with_key(&app, "fix-me", &json!({"name": "Fixed", "currency": "USD"})).await;
    assert_eq!(good.status, 201, "{}", good.text);
    assert_eq!(good.header("idempotent-replayed"), None);
    // An alias conflict (409) is not stored either: once the alias is free, the same request works.
    let holder = app.customer("Holder", &["wanted"]).await;
    let body = json!({"name": "Wants", "currency": "USD", "aliases": ["wanted"]});
    post_with_key(&app, "wants", &body).await.problem(409);
    app.delete(&format!("/accounts/{}", holder["id"].as_str().unwrap()))
        .await;
    assert_eq!(post_with_key(&app, "wants", &body).await.status, 201);
}

async fn keys_belong_to_a_tenant(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let body = json!({"name": "Shared key", "currency": "USD"});
    let mine = post_with_key(&app, "same", &body).await;
    let other = app.new_tenant().await;
    let theirs = app
        .send(
            app.http
                .post(app.url("/customers"))
                .bearer_auth(&other)
                .header("Idempotency-Key", "same")
                .json(&body),
        )
        .await;
    assert_eq!(theirs.status, 201);
    assert_eq!(
        theirs.header("idempotent-replayed"),
        None,
        "never another tenant's response"
    );
    assert_ne!(theirs.body["id"], mine.body["id"]);
}

async fn updates_and_deletes_replay(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let c = app.customer("Patchy", &[]).await;
    let path = format!("/customers/{}", c["id"].as_str().unwrap());
    let patch = |key: &'static str, name: &'static str| {
        app.send(
            app.req(Method::PATCH, &path)
                .header("Idempotency-Key", key)
                .json(&json!({"name": name})),
        )
    };
    let first = patch("p1", "Second name").await;
    assert_eq!(first.status, 200);
    assert_eq!(patch("p2", "Third name").await.status, 200);
    let replay = patch("p1", "Second name").await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.text, first.text);
    assert_eq!(
        app.get_v2(&path).await.body["name"],
        "Third name",
        "the replay changed nothing"
    );

    let del = app
        .send(
            app.req(Method::DELETE, &path)
                .header("Idempotency-Key", "d1"),
        )
        .await;
    assert_eq!(del.status, 200);
    let del_again = app
        .send(
            app.req(Method::DELETE, &path)
                .header("Idempotency-Key", "d1"),
        )
        .await;
    assert_eq!(del_again.status, 200);
    assert_eq!(del_again.header("idempotent-replayed"), Some("true"));
}

async fn malformed_keys_are_400(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let body = json!({"name": "K", "currency": "USD"});
    let r = post_with_key(&app, &"k".repeat(256), &body).await;
    r.problem(400);
    assert_eq!(r.error_fields(), vec!["Idempotency-Key"]);
    let r = post_with_key(&app, "has space", &body).await;
    r.problem(400);
    assert_eq!(count(&app).await, 0);
    // Reads ignore the header.
    let r = app
        .send(
            app.req(Method::GET, "/customers")
                .header("Idempotency-Key", "whatever"),
        )
        .await;
    assert_eq!(r.status, 200);
}
