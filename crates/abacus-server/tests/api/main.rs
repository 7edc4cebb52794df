//! Black-box API tests: each test starts a server on a random port over a fresh database and
//! talks HTTP to it, once on SQLite and once on PostgreSQL (when `ABACUS_TEST_POSTGRES_URL` is set).

mod catalog_support;
mod harness;
mod invoice_support;
mod metering_support;
mod subscription_support;
mod webhook_support;

mod bad_input;
mod bundles_and_tags;
mod catalog_bad_input;
mod cli;
mod conventions;
mod crash;
mod credits;
mod customers_v1;
mod customers_v2;
mod events;
mod idempotency;
mod invoices_bad_input;
mod invoices_lifecycle;
mod invoices_numbering;
mod invoices_webhooks;
mod metrics;
mod plans;
mod price_preview;
mod products;
mod sdk;
mod sdk_catalog;
mod sdk_credits;
mod sdk_invoices;
mod sdk_subscription_webhooks;
mod sdk_subscriptions;
mod sdk_webhooks;
mod subscription_bad_input;
mod subscription_changes;
mod subscription_lifecycle;
mod subscription_sweep;
mod subscription_webhooks;
mod subscriptions;
mod tenancy;
mod webhooks_bad_input;
mod webhooks_crash;
mod webhooks_delivery;
mod webhooks_endpoints;
