//! The pricing engine: pure, exact, and total (it returns lines or an error, never panics).
//!
//! A caller deserializes the SDK's JSON into a [`PriceInput`], checks it with
//! [`PriceInput::validate`] (every problem at once, in the caller's field naming) and gets a
//! [`Price`]. [`price`] then turns a price and one period's usage ([`PricingInput`]) into a
//! [`Charge`]: lines that each carry quantity × unit price, rounded once to the currency's minor
//! units, and a description of how they were reached; the total is the sum of those lines.
//!
//! The rules (tier boundaries, fractional and zero usage, rounding, prepaid, spend thresholds,
//! discounts, matrices, expressions) are written down in `docs/pricing.md`.

mod engine;
pub mod expression;
mod input;
pub mod matrix;
mod model;
pub mod tiers;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

pub use engine::price;
pub use expression::{EvalError, Expression, ParseError};
pub use input::*;
pub use matrix::Combination;
pub use model::{BillingDirection, Discount, ExpressionCharge, Interval, Price, PriceModel};
pub use tiers::{Tier, Tiers};
pub use validate::{Adjustments, validate, validate_adjustments};

/// One period's usage, in the shape the price's model reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PricingInput {
    /// Nothing measured: `fixed` prices, and `tiered`/`graduated_tiered` fixed fees that carry
    /// their own `units`.
    NoUsage,
    /// Units consumed (`unit`, `tiered`, `graduated_tiered`, `prepaid_*`, `package`), or the
    /// amount priced by `tiered_percentage`, `graduated_percentage` and a `volume_percentage`
    /// without a per-transaction price.
    Quantity(Decimal),
    /// A money volume and how many transactions made it up (`volume_percentage`; the other
    /// percentage models read only `amount`).
    Volume {
        amount: Decimal,
        transactions: Decimal,
    },
    /// Values of the names an `expression` price reads, e.g. `usage.api_calls`.
    Metrics(BTreeMap<String, Decimal>),
    /// `matrix`: usage per combination of dimension values.
    Matrix(Vec<MatrixUsage>),
}

/// Usage of one combination of matrix dimension values. Rows reaching the same cell are added
/// up before the cell is priced, so a tiered cell sees its total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixUsage {
    pub dimensions: Combination,
    /// Units, or the amount for percentage cells.
    pub quantity: Decimal,
    /// Transactions, read by `volume_percentage` cells with a per-transaction price.
    pub transactions: Option<Decimal>,
}

/// What one price costs for one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Charge {
    pub lines: Vec<ChargeLine>,
    /// The sum of the lines' (rounded) amounts.
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
}

/// One line. Always `amount == round(quantity × unit_price)` to the currency's minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChargeLine {
    pub kind: LineKind,
    /// How the line was reached, e.g. `1,000 units × 0.10 (tier 1: 0–1,000)`.
    pub description: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// The tier (0-based) of a tiered model's line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<usize>,
    /// The matrix cell's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
    /// The expression charge (0-based) the line comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charge: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// Usage × a rate (or a percentage of an amount).
    Usage,
    /// A fixed amount: a fixed price, a tier's or a model's `fixed_fee`.
    Fee,
    /// The committed block of a prepaid price (billed whatever the usage).
    Prepaid,
    /// Usage beyond a prepaid block.
    Overage,
    /// Negative: the price's discount.
    Discount,
    /// The true-up to the minimum spend.
    MinimumSpend,
    /// Negative: what exceeds the maximum spend.
    MaximumSpend,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("{model} prices are priced from {expected}")]
    WrongInput {
        model: &'static str,
        expected: &'static str,
    },
    #[error("{what} must not be negative, got {value}")]
    Negative { what: &'static str, value: Decimal },
    #[error("charge {charge} ({field}): {error}")]
    Expression {
        charge: usize,
        field: &'static str,
        error: EvalError,
    },
    #[error("charge {charge} ({field}) evaluated to {value}, which is negative")]
    NegativeExpression {
        charge: usize,
        field: &'static str,
        value: Decimal,
    },
    #[error("'{0}' is not a dimension of this matrix")]
    UnknownDimension(String),
    #[error("no matrix cell prices the combination {0}")]
    NoMatrixCell(String),
    #[error("the price is not valid: {0}")]
    InvalidPrice(&'static str),
    #[error("the amount is out of range (more than 28 significant digits)")]
    Overflow,
}

impl From<crate::money::Overflow> for PricingError {
    fn from(_: crate::money::Overflow) -> Self {
        PricingError::Overflow
    }
}
