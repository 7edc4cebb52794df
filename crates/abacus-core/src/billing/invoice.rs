//! What billing returns: an invoice's lines and totals.

use rust_decimal::Decimal;

use crate::calendar::{Period, Proration};
use crate::currency::Currency;
use crate::pricing;
use crate::time::Micros;

/// The invoice of one billing boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// The boundary the invoice belongs to (its invoicing date).
    pub boundary: Micros,
    pub currency: Currency,
    pub tax_rate: Decimal,
    /// The subscription's billing period ending at the boundary (its arrears fees, usage and
    /// thresholds are on this invoice), if any.
    pub closing: Option<Period>,
    /// The subscription's billing period starting at the boundary (its advance fees are on this
    /// invoice), if any; as it runs without a cancellation inside it (which is credited when it
    /// happens).
    pub opening: Option<Period>,
    pub lines: Vec<InvoiceLine>,
    /// Sum of the amounts of every line except credits applied.
    pub subtotal: Decimal,
    /// Sum of the lines' taxes.
    pub tax: Decimal,
    /// `subtotal + tax`: the invoice total before credits (Alguna's `total`, when credits applied
    /// are rendered as a payment).
    pub total_before_credits: Decimal,
    /// Sum of the credit grants drawn (a positive number; the lines carry it negated).
    pub credits_applied: Decimal,
    /// `subtotal + tax − credits_applied`: what the customer owes. Negative when the invoice is
    /// a net credit (a downgrade or cancellation refunding more than it charges).
    pub total: Decimal,
    /// The grants drawn, in the order they were used.
    pub credit_draws: Vec<CreditDraw>,
}

impl Invoice {
    /// Whether the invoice has no line at all (the caller may skip issuing it).
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The period the invoice is for: the closing period when a line bills time inside it
    /// (arrears fees, usage, thresholds, a proration), else the opening period (an invoice of
    /// advance fees only is for the period it pays ahead).
    pub fn billing_period(&self) -> Option<&Period> {
        let bills_closing = |c: &Period| {
            self.lines.iter().any(|l| {
                l.period
                    .as_ref()
                    .is_some_and(|p| p.start < c.end && c.start < p.end)
            })
        };
        match (&self.closing, &self.opening) {
            (Some(c), Some(o)) if !bills_closing(c) => Some(o),
            (Some(c), _) => Some(c),
            (None, o) => o.as_ref(),
        }
    }
}

/// One invoice line. `amount` is rounded once to the currency's minor units and `tax` is
/// `round(amount × tax_rate)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLine {
    pub kind: InvoiceLineKind,
    pub description: String,
    /// The product of an item's line; `None` for subscription-level lines and credits.
    pub product_id: Option<String>,
    pub item_key: Option<String>,
    /// The version whose item the line bills.
    pub version_id: Option<String>,
    /// Units (seats, calls, packages...) as priced, or the base of a percentage.
    pub quantity: Decimal,
    /// The price of one unit for a whole period (negative on credits and discounts).
    pub unit_price: Decimal,
    /// The share of the period charged, for prorated fixed fees; `None` is the whole of it.
    pub proration: Option<Proration>,
    /// `round(quantity × unit_price × days / period_days)`, except a proration credit, which is
    /// what was billed for the days minus what the kept days cost (so the two always add back
    /// exactly; see `docs/invoicing.md`).
    pub amount: Decimal,
    pub tax: Decimal,
    /// The service period the line pays for: fee days for fixed fees, the usage range for usage,
    /// the billing period for subscription-level lines. `None` for credits applied.
    pub period: Option<Period>,
    /// The pricing engine's kind of the line it comes from (fee, usage, tier fee, discount...).
    pub pricing_kind: Option<pricing::LineKind>,
    /// The grant a credit-applied line draws on.
    pub credit_grant_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvoiceLineKind {
    /// A recurring fixed fee billed at the start of its period.
    FixedAdvance,
    /// A recurring fixed fee billed at the end of its period.
    FixedArrears,
    /// A metered item's charge for usage.
    Usage,
    /// Negative: the unused days of an advance fee already billed (change or cancellation).
    ProrationCredit,
    /// The days left in the period at a new price.
    ProrationCharge,
    /// A one-off charge.
    OneOff,
    /// Negative: a price's or the subscription's discount.
    Discount,
    /// A price's or the subscription's minimum-spend true-up.
    MinimumSpend,
    /// Negative: a price's or the subscription's maximum-spend cap.
    MaximumSpend,
    /// Negative: monetary credit drawn from a grant (after tax, like a payment).
    CreditApplied,
}

impl InvoiceLineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FixedAdvance => "fixed_advance",
            Self::FixedArrears => "fixed_arrears",
            Self::Usage => "usage",
            Self::ProrationCredit => "proration_credit",
            Self::ProrationCharge => "proration_charge",
            Self::OneOff => "one_off",
            Self::Discount => "discount",
            Self::MinimumSpend => "minimum_spend",
            Self::MaximumSpend => "maximum_spend",
            Self::CreditApplied => "credit_applied",
        }
    }
}

/// An amount drawn from a credit grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditDraw {
    pub grant_id: String,
    pub amount: Decimal,
}
