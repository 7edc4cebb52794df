//! The official SDK's `invoices`, `credit_notes`, `payments` and `refunds` against a live server
//! (`tests/sdk/test_invoices.py`), and the invoice webhooks as an SDK user receives them: real
//! deliveries parsed with the SDK's `alguna.webhooks` models (`tests/sdk/test_invoice_webhooks.py`).

use abacus_store::{Backend, on_both_backends};
use serde_json::json;

use crate::invoices_webhooks::{app, captured_flow};
use crate::sdk::{python, repo_root};

on_both_backends!(invoices_sdk_suite, invoice_webhooks_parse_with_the_sdk);

async fn invoices_sdk_suite(backend: Backend) {
    crate::sdk::run_sdk_tests(backend, &["test_invoices.py"]).await
}

async fn invoice_webhooks_parse_with_the_sdk(backend: Backend) {
    let Some(python) = python().await else { return };
    let Some(app) = app(backend).await else {
        return;
    };
    let (_, got) = captured_flow(&app).await;
    let bodies: Vec<String> = got.iter().map(|c| c.body.clone()).collect();
    let dir = std::env::temp_dir().join(format!("abacus-inv-wh-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bodies.json");
    std::fs::write(&file, serde_json::to_vec(&json!(bodies)).unwrap()).unwrap();
    let root = repo_root();
    let out = tokio::process::Command::new(python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root.join("tests/sdk/test_invoice_webhooks.py"))
        .env("ABACUS_BASE_URL", &app.base)
        .env("ABACUS_API_KEY", &app.key)
        .env("ABACUS_OTHER_API_KEY", app.new_tenant().await)
        .env("ABACUS_INVOICE_WEBHOOKS", &file)
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
        "invoice webhook SDK tests failed on {backend:?}:\n{report}"
    );
    assert!(report.contains("passed"), "pytest ran tests:\n{report}");
}
