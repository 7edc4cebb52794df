//! The Abacus server: the HTTP API (both Alguna surfaces), its conventions, and the operator CLI.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod extract;
pub mod idempotency;
pub mod import;
pub mod ingest;
pub mod pagination;
pub mod pdf;
pub mod problem;
pub mod services;
pub mod telemetry;
pub mod version;
pub mod webhooks;
pub mod wire;

pub use app::{App, AppState};
pub use config::ServeConfig;
