//! Subscriptions: what a customer pays for and when. Rules only, no I/O.
//!
//! A subscription holds its terms (contract, renewal, billing, trial, discount, spend thresholds,
//! escalation) and its priced items in **versions**: drafts can be edited, published versions
//! are immutable, and at any instant the published version that took over last is in effect
//! ([`timeline`]). Changes are deltas applied to a version's items ([`change::apply`]); when they
//! take effect is decided by the billing calendar ([`effective`]). The decisions are written down
//! in `docs/billing.md` ("Subscriptions API").

pub mod change;
pub mod effective;
mod input;
mod model;
pub mod timeline;

#[cfg(test)]
mod tests;

pub use change::{ChangesApplied, Delta, ItemRef};
pub use effective::{Effective, cancellation_at, version_start};
pub use input::{
    BillingInput, CANCEL_REASONS, COLLECTION_METHODS, ContractInput, CustomerRef, NewContext,
    NewSubscription, RenewalInput, SubscriptionInput, SubscriptionPatch, VersionContent,
    check_cancel, check_version_content, merge_items, parse_date,
};
pub use model::{
    BillingTerms, Cancellation, ContractTerms, Item, RenewalTerms, Status, Subscription, Terms,
    Version, VersionSpec, VersionStatus, service_end,
};
pub use timeline::{
    BillingItem, BillingSpan, Span, billing_interval, billing_spans, current_at, pending,
    price_interval,
};
