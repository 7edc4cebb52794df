//! The official SDK's `subscriptions.create_credit_grant` and `subscriptions.get_credit_balance`
//! against a live server (`tests/sdk/test_credits.py`).

use abacus_store::{Backend, on_both_backends};

on_both_backends!(credits_sdk_suite);

async fn credits_sdk_suite(backend: Backend) {
    crate::sdk::run_sdk_tests(backend, &["test_credits.py"]).await
}
