//! The Abacus billing domain: pure types and rules, no I/O.
//!
//! Everything here is deterministic and synchronous so that it can be unit- and property-tested
//! in isolation. Persistence lives in `abacus-store`, HTTP in `abacus-server`.

pub mod billing;
pub mod calendar;
pub mod catalog;
pub mod country;
pub mod currency;
pub mod customer;
pub mod email;
pub mod ids;
pub mod invoicing;
pub mod metering;
pub mod money;
pub mod pricing;
pub mod subscription;
pub mod time;
pub mod validation;
pub mod webhooks;

pub use validation::{FieldError, Validation};
