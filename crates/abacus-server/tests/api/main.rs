//! Black-box API tests: each test starts a server on a random port over a fresh database and
//! talks HTTP to it, once on SQLite and once on PostgreSQL (when `ABACUS_TEST_POSTGRES_URL` is set).

mod harness;
mod metering_support;

mod bad_input;
mod cli;
mod conventions;
mod crash;
mod customers_v1;
mod customers_v2;
mod events;
mod idempotency;
mod metrics;
mod sdk;
mod tenancy;
