//! The billing function: a subscription's history and one boundary in, one invoice out. Pure,
//! deterministic, exact; the rules are written out in `docs/invoicing.md` (and the calendar and
//! proration rules it builds on in `docs/billing.md`, the pricing rules in `docs/pricing.md`).
//!
//! ```text
//! let biller = Biller::new(&subscription)?;              // checks and lays out the history
//! for boundary in biller.boundaries(last_billed + 1, now + 1)? {
//!     let requests = biller.usage_requests(boundary)?;  // (metric, [from, to), group_by)
//!     let usage = Usage::answer(&requests, |r| metering_aggregate(r))?;
//!     let invoice = biller.bill(boundary, &usage, &InvoiceContext { tax_rate, credits, .. })?;
//! }
//! ```
//!
//! - A **boundary** is an instant with an invoice: the service start, every period start, every
//!   version change inside the served time, and the end of service ([`Biller::boundaries`]).
//! - The invoice at a boundary carries the **arrears** fees and all **usage** of the periods
//!   ending there, the **advance** fees of the periods starting there, the **proration** of a
//!   version change or a cancellation falling inside a period, **one-off** charges due, the
//!   subscription's **discount**, **minimum-spend** true-up and **maximum-spend** cap, **tax**
//!   per line, and **credits** drawn after tax.
//! - Every line is rounded once; totals are sums of lines, so `subtotal + tax − credits_applied
//!   == total` exactly.

mod adjust;
mod charge;
mod credits;
mod describe;
mod engine;
mod error;
mod escalation;
mod fees;
pub mod fixtures;
mod input;
mod invoice;
mod metered;
mod timeline;
mod usage;

#[cfg(test)]
mod tests;

pub use engine::{Biller, bill, usage_requests};
pub use error::BillingError;
pub use input::{
    CreditGrant, DiscountTerms, Escalation, EscalationStep, InvoiceContext, Item, Subscription,
    Version,
};
pub use invoice::{CreditDraw, Invoice, InvoiceLine, InvoiceLineKind};
pub use usage::{Usage, UsageRequest, UsageValue};
