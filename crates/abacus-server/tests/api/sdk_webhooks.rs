//! Webhooks as an Alguna SDK user receives them (`tests/sdk/test_webhooks.py`): deliveries of
//! every event type, captured by a Rust receiver, are verified with the `svix` package from PyPI
//! (what Alguna tells its users to verify with) and parsed with the SDK's `alguna.webhooks`
//! models; the Python suite also receives a live test event itself.

use std::time::Duration;

use abacus_core::time::now_micros;
use abacus_core::webhooks::{EVENT_TYPES, Event};
use abacus_store::{Backend, on_both_backends};
use serde_json::{Value, json};

use crate::sdk::{python, repo_root};
use crate::webhook_support::{Captured, Receiver, app, endpoint, org_of};

on_both_backends!(webhooks_verify_with_svix_and_parse_with_the_sdk);

fn capture(c: &Captured, verify_with: &[&str], reject: &[&str]) -> Value {
    let headers: serde_json::Map<String, Value> = c
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), json!(v.to_str().unwrap())))
        .collect();
    json!({"headers": headers, "body": c.body, "secrets": verify_with, "reject": reject})
}

async fn webhooks_verify_with_svix_and_parse_with_the_sdk(backend: Backend) {
    let Some(python) = python().await else { return };
    let Some(app) = app(backend).await else {
        return;
    };
    let rx = Receiver::ok().await;
    let ep = endpoint(&app, &rx.url, None).await;
    let id = ep["id"].as_str().unwrap();
    let old = ep["secret"].as_str().unwrap().to_string();
    let org = org_of(&app).await;
    let now = now_micros();
    for e in Event::samples(now) {
        let mut tx = app.state.db.begin().await.unwrap();
        abacus_store::webhooks::enqueue_event(&mut tx, &org, &e, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let n = EVENT_TYPES.len();
    assert_eq!(
        app.post(&format!("/webhook-endpoints/{id}/test"), &json!({}))
            .await
            .status,
        202
    );
    let before = rx.wait_for(n + 1, Duration::from_secs(20)).await;
    let r = app
        .post(
            &format!("/webhook-endpoints/{id}/rotate-secret"),
            &json!({}),
        )
        .await;
    let new = r.body["secret"].as_str().unwrap().to_string();
    assert_eq!(
        app.post(&format!("/webhook-endpoints/{id}/test"), &json!({}))
            .await
            .status,
        202
    );
    let all = rx.wait_for(n + 2, Duration::from_secs(20)).await;
    let mut captures: Vec<Value> = before
        .iter()
        .map(|c| capture(c, &[&old], &[&new]))
        .collect();
    captures.push(capture(&all[n + 1], &[&old, &new], &[]));

    let dir = std::env::temp_dir().join(format!("abacus-wh-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("captures.json");
    std::fs::write(&file, serde_json::to_vec(&captures).unwrap()).unwrap();
    let root = repo_root();
    let out = tokio::process::Command::new(python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root.join("tests/sdk/test_webhooks.py"))
        .env("ABACUS_BASE_URL", &app.base)
        .env("ABACUS_API_KEY", &app.key)
        .env("ABACUS_OTHER_API_KEY", app.new_tenant().await)
        .env("ABACUS_WEBHOOK_CAPTURES", &file)
        .current_dir(&root)
        .output()
        .await
        .expect("pytest runs");
    let _ = std::fs::remove_dir_all(&dir);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(
        out.status.success(),
        "webhook SDK tests failed on {backend:?}:\n{report}"
    );
    assert!(report.contains("passed"), "pytest ran tests:\n{report}");
}
