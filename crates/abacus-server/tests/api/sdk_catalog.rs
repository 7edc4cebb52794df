//! The official SDK's `products`, `plans`, `bundles` and `tags` against a live server
//! (`tests/sdk/test_catalog.py`).

use abacus_store::{Backend, on_both_backends};

on_both_backends!(catalog_sdk_suite);

async fn catalog_sdk_suite(backend: Backend) {
    crate::sdk::run_sdk_tests(backend, &["test_catalog.py"]).await
}
