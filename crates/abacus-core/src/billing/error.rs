use rust_decimal::Decimal;
use thiserror::Error;

use super::usage::UsageRequest;
use crate::calendar::CalendarError;
use crate::pricing::PricingError;
use crate::time::Micros;

/// Everything that can stop an invoice from being computed. Nothing in billing panics: bad
/// input, missing usage and arithmetic beyond the decimal range are all values of this type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BillingError {
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    /// Pricing an item failed (a usage shape its model cannot read, a negative quantity, ...).
    #[error("item {item}: {error}")]
    Pricing { item: String, error: PricingError },
    #[error("the amount is out of range (more than 28 significant digits)")]
    Overflow,
    #[error("version {version}: `to` must be after `from`")]
    EmptyVersion { version: String },
    #[error("versions {first} and {second} start at the same instant")]
    SameStart { first: String, second: String },
    #[error("version {version} has two items with the key {key}")]
    DuplicateItem { version: String, key: String },
    #[error("{0} is not a billing boundary of this subscription")]
    NotABoundary(Micros),
    /// A metered item whose price needs metrics it does not name.
    #[error("item {item}: {reason}")]
    UsageBinding { item: String, reason: String },
    #[error("no usage was given for {0}")]
    MissingUsage(UsageRequest),
    #[error(
        "the usage given for {0} is not in the requested shape (a total, or rows grouped by the requested dimensions)"
    )]
    UsageShape(UsageRequest),
    #[error("the tax rate must be a fraction from 0 to 1, got {0}")]
    TaxRate(Decimal),
    #[error("{what} must not be negative, got {value}")]
    Negative { what: &'static str, value: Decimal },
    #[error("credit grant {0}: the remaining amount must not be negative")]
    NegativeCredit(String),
    #[error("price escalation: {0}")]
    Escalation(String),
}

impl From<crate::money::Overflow> for BillingError {
    fn from(_: crate::money::Overflow) -> Self {
        BillingError::Overflow
    }
}

pub(crate) fn pricing(item: &str, error: PricingError) -> BillingError {
    match error {
        PricingError::Overflow => BillingError::Overflow,
        error => BillingError::Pricing {
            item: item.to_string(),
            error,
        },
    }
}
