//! Subscription webhooks as an SDK user receives them (`tests/sdk/test_subscription_webhooks.py`):
//! the bodies of every subscription event, sent by requests (delivered to a receiver) and by the
//! sweep (as the outbox recorded them), parsed with the SDK's `alguna.webhooks` models, and
//! exactly the events expected.

use abacus_store::{Backend, on_both_backends};
use serde_json::json;

use crate::sdk::{python, repo_root};
use crate::subscription_sweep::sweep_flow;
use crate::subscription_webhooks::{app, captured_flow};

on_both_backends!(subscription_webhooks_parse_with_the_sdk);

async fn subscription_webhooks_parse_with_the_sdk(backend: Backend) {
    let Some(python) = python().await else { return };
    let Some(app) = app(backend).await else {
        return;
    };
    let c = app.catalog().await;
    // The sweep's flow first: the later one's subscriptions are not swept as of days ahead.
    let swept = sweep_flow(&app, &c).await;
    let (f, delivered, _) = captured_flow(&app, &c).await;
    let mut bodies = delivered;
    bodies.extend(swept.bodies);
    let mut expected = f.expected;
    expected.extend(swept.expected);
    let dir = std::env::temp_dir().join(format!("abacus-sub-wh-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("capture.json");
    std::fs::write(
        &file,
        serde_json::to_vec(
            &json!({"bodies": bodies, "expected": expected, "account_id": c.customer}),
        )
        .unwrap(),
    )
    .unwrap();
    let root = repo_root();
    let out = tokio::process::Command::new(python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root.join("tests/sdk/test_subscription_webhooks.py"))
        .env("ABACUS_BASE_URL", &app.base)
        .env("ABACUS_API_KEY", &app.key)
        .env("ABACUS_OTHER_API_KEY", app.new_tenant().await)
        .env("ABACUS_SUBSCRIPTION_WEBHOOKS", &file)
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
        "subscription webhook SDK tests failed on {backend:?}:\n{report}"
    );
    assert!(report.contains("passed"), "pytest ran tests:\n{report}");
}
