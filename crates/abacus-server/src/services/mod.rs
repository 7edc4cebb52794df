//! What the handlers of both surfaces call: each function takes parsed input, applies the domain
//! rules and the store, and returns domain values for the handler to render.

pub mod catalog;
pub mod customers;
pub mod metering;
pub mod subscriptions;
pub mod webhooks;
