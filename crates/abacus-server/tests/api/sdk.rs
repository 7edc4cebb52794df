//! The official `alguna` Python SDK (0.1.0 from PyPI) against a live server: `tests/sdk/*.py`.
//!
//! The virtualenv comes from `scripts/sdk-venv.sh` (created once, under `target/`).
//! `ABACUS_SKIP_SDK_TESTS=1` skips this on a machine without Python or PyPI.

use std::path::PathBuf;
use std::process::Stdio;

use abacus_store::{Backend, on_both_backends};

use crate::harness::TestApp;

on_both_backends!(python_sdk_suite);

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub async fn python() -> Option<String> {
    if std::env::var("ABACUS_SKIP_SDK_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("skipped: ABACUS_SKIP_SDK_TESTS=1");
        return None;
    }
    let out = tokio::process::Command::new(repo_root().join("scripts/sdk-venv.sh"))
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("scripts/sdk-venv.sh runs");
    assert!(
        out.status.success(),
        "creating the SDK virtualenv failed (set ABACUS_SKIP_SDK_TESTS=1 to skip)"
    );
    Some(String::from_utf8(out.stdout).unwrap().trim().to_string())
}

/// Runs the given pytest files (under `tests/sdk`) against a fresh server.
pub async fn run_sdk_tests(backend: Backend, files: &[&str]) {
    let Some(python) = python().await else { return };
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let other = app.new_tenant().await;
    let root = repo_root();
    let out = tokio::process::Command::new(python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .args(files.iter().map(|f| root.join("tests/sdk").join(f)))
        .env("ABACUS_BASE_URL", &app.base)
        .env("ABACUS_API_KEY", &app.key)
        .env("ABACUS_OTHER_API_KEY", other)
        .current_dir(&root)
        .output()
        .await
        .expect("pytest runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(
        out.status.success(),
        "SDK tests failed on {backend:?}:\n{report}"
    );
    assert!(report.contains("passed"), "pytest ran tests:\n{report}");
}

async fn python_sdk_suite(backend: Backend) {
    run_sdk_tests(backend, &["test_customers.py", "test_metering.py"]).await;
}
