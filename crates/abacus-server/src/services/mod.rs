//! What the handlers of both surfaces call: each function takes parsed input, applies the domain
//! rules and the store, and returns domain values for the handler to render.

pub mod billing;
pub mod catalog;
pub mod credit_notes;
pub mod credits;
pub mod customers;
pub mod invoices;
pub mod metering;
pub mod payments;
pub mod subscription_sweep;
pub mod subscriptions;
pub mod webhooks;
