//! The official SDK's `subscriptions`, `subscription_versions` and `subscription_changes`
//! against a live server (`tests/sdk/test_subscriptions.py`).

use abacus_store::{Backend, on_both_backends};

on_both_backends!(subscriptions_sdk_suite);

async fn subscriptions_sdk_suite(backend: Backend) {
    crate::sdk::run_sdk_tests(backend, &["test_subscriptions.py"]).await
}
