//! Abacus persistence: one code base over SQLite (embedded default) and PostgreSQL (production).
//!
//! * [`Db`] holds the pools; [`Tx`] is a write transaction, [`PooledConn`] a read connection.
//!   Repository functions take `&mut impl Connection` so the same function serves both.
//! * SQL is written once where the dialects agree and dispatched with [`on!`]; where they differ
//!   a function matches on [`Conn`] with two texts.
//! * Every function takes the organization first: tenancy is part of every query.

pub mod api_keys;
pub mod billing_runs;
pub mod bundles;
pub mod credit_notes;
pub mod credits;
pub mod customers;
pub mod db;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod ingest;
pub mod invoices;
mod json_ids;
pub mod metrics;
pub mod orgs;
pub mod payments;
pub mod plans;
pub mod products;
mod sqlite_decimal;
pub mod subscriptions;
pub mod tags;
pub mod tail;
mod tcp_nodelay;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod usage;
pub mod webhooks;

pub use db::{Backend, Conn, Connection, Db, DbOptions, PooledConn, Tx};
pub use error::{StoreError, StoreResult};
