//! Prices as callers send them: the `alguna` SDK's `PriceInput` and its nested models, field for
//! field (snake_case JSON, decimals as strings), so a surface can deserialize the SDK's JSON
//! straight into them. Nothing here is checked yet; [`PriceInput::validate`] turns one into a
//! [`super::Price`].
//!
//! Integers are `i64` (not `u64`) so that a negative count is reported by validation, in the
//! caller's naming, rather than as a type error.
//!
//! [`PriceInput::validate`]: super::PriceInput::validate

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `PriceInput`: one price, with exactly one `<type>_pricing_model` set, matching `type`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceInput {
    /// `unit`, `fixed`, `tiered`, `graduated_tiered`, `tiered_percentage`,
    /// `graduated_percentage`, `volume_percentage`, `prepaid_tiered`, `prepaid_fixed_tiered`,
    /// `expression`, `matrix`, and the Abacus extension `package`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `fixed` or `metered`.
    pub fee_type: String,
    /// `advance` or `arrears`.
    pub billing_direction: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_frequency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_interval_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_interval_unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_on_contract_start: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_order: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurring_instalment_interval_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurring_instalment_interval_unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_period_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<DiscountInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_spend: Option<SpendingThresholdInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_spend: Option<SpendingThresholdInput>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_pricing_model: Option<UnitPricingModelInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_pricing_model: Option<FixedPricingModelInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiered_pricing_model: Option<TieredPricingModelInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graduated_tiered_pricing_model: Option<TieredPricingModelInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiered_percentage_pricing_model: Option<PercentagePricingModelInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graduated_percentage_pricing_model: Option<PercentagePricingModelInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_percentage_pricing_model: Option<VolumePercentagePricingModelInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepaid_tiered_pricing_model: Option<PrepaidTieredPricingModelInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepaid_fixed_tiered_pricing_model: Option<PrepaidFixedTieredPricingModelInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression_pricing_model: Option<ExpressionPricingModelInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix_pricing_model: Option<MatrixPricingModelInput>,
    /// Abacus extension (not in the SDK): "$10 per 1,000 calls".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_pricing_model: Option<PackagePricingModelInput>,
}

/// `UnitPricingModelInput`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitPricingModelInput {
    #[serde(with = "rust_decimal::serde::str")]
    pub price_per_unit: Decimal,
}

/// `FixedPricingModelInput`: `units × price_per_unit`, whatever the usage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedPricingModelInput {
    #[serde(with = "rust_decimal::serde::str")]
    pub price_per_unit: Decimal,
    pub units: i64,
}

/// `TieredPricingModelInput` and `GraduatedTieredPricingModelInput` (identical shapes). `units`
/// is the quantity billed when the price is a fixed fee (no usage).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TieredPricingModelInput {
    pub tiers: Vec<PricingTierInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<i64>,
}

pub type GraduatedTieredPricingModelInput = TieredPricingModelInput;

/// `PricingTierInput`. The SDK carries both `price_per_unit` and `unit_price`; either may be
/// given (they must agree when both are), and a tier with neither is free per unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricingTierInput {
    pub min_units: i64,
    /// `null` is the open top tier (written out as `null`, so a stored price reads back as sent).
    #[serde(default)]
    pub max_units: Option<i64>,
    #[serde(
        default,
        with = "rust_decimal::serde::str_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub price_per_unit: Option<Decimal>,
    #[serde(
        default,
        with = "rust_decimal::serde::str_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub unit_price: Option<Decimal>,
    #[serde(
        default,
        with = "rust_decimal::serde::str_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub fixed_fee: Option<Decimal>,
}

/// `TieredPercentagePricingModelInput` and `GraduatedPercentagePricingModelInput`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PercentagePricingModelInput {
    pub tiers: Vec<PercentageTierInput>,
}

pub type TieredPercentagePricingModelInput = PercentagePricingModelInput;
pub type GraduatedPercentagePricingModelInput = PercentagePricingModelInput;

/// `PercentageTierInput`: bounds are amounts (whole currency units), `percentage` a percent
/// number (`"2.5"` is 2.5 %).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PercentageTierInput {
    pub min_units: i64,
    /// `null` is the open top tier.
    #[serde(default)]
    pub max_units: Option<i64>,
    #[serde(
        default,
        with = "rust_decimal::serde::str_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub percentage: Option<Decimal>,
    #[serde(
        default,
        with = "rust_decimal::serde::str_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub fixed_fee: Option<Decimal>,
}

/// `VolumePercentagePricingModelInput`: `percentage` of the volume, plus `price_per_unit` per
/// transaction, plus `fixed_fee` once per period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumePercentagePricingModelInput {
    #[serde(with = "rust_decimal::serde::str")]
    pub percentage: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub price_per_unit: Decimal,
    #[serde(
        default,
        with = "rust_decimal::serde::str_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub fixed_fee: Option<Decimal>,
}

/// `PrepaidTieredPricingModelInput`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepaidTieredPricingModelInput {
    pub prepaid_units: i64,
    pub tiers: Vec<PricingTierInput>,
}

/// `PrepaidFixedTieredPricingModelInput`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepaidFixedTieredPricingModelInput {
    pub prepaid_units: i64,
    /// `monthly`, `quarterly`, `semi_annual` or `yearly`.
    pub overages_charge_interval: String,
    pub tiers: Vec<PricingTierInput>,
}

/// `ExpressionPricingModelInput`: each charge becomes one line,
/// `quantity_expression × unit_price_expression`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpressionPricingModelInput {
    pub charges: Vec<ExpressionChargeInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_bindings: Option<Vec<MetricBinding>>,
}

/// `ExpressionChargeInput`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpressionChargeInput {
    pub billing_direction: String,
    pub description: String,
    pub quantity_expression: String,
    pub unit_price_expression: String,
}

/// `MetricBinding`: expressions read the metric's value as `usage.<alias>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricBinding {
    pub alias: String,
    pub metric_id: String,
}

/// `MatrixPricingModelInput`: a decision tree over dimension values whose leaves are priced
/// cells.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixPricingModelInput {
    pub dimensions: Vec<MatrixDimensionDefinitionInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_item_template: Option<String>,
    pub root: MatrixNodeInput,
}

/// `MatrixDimensionDefinitionInput`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixDimensionDefinitionInput {
    pub key: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// `MatrixNodeInput`: a `leaf` (a priced cell) or `splits`, with an optional `fallback` used
/// when no split matches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixNodeInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Box<MatrixNodeInput>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf: Option<MatrixPriceCellInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub splits: Option<Vec<MatrixDimensionRuleInput>>,
}

/// `MatrixDimensionRuleInput`: branch on one dimension's value; `wildcard` takes any other value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixDimensionRuleInput {
    pub branches: Vec<MatrixExactMatchInput>,
    pub dimension_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wildcard: Option<Box<MatrixNodeInput>>,
}

/// `MatrixExactMatchInput`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixExactMatchInput {
    pub child: MatrixNodeInput,
    pub value: String,
}

/// `MatrixPriceCellInput`: one of the simple models (`unit`, `fixed`, `tiered`,
/// `graduated_tiered`, `tiered_percentage`, `graduated_percentage`, `volume_percentage`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixPriceCellInput {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_pricing_model: Option<UnitPricingModelInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_pricing_model: Option<FixedPricingModelInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiered_pricing_model: Option<TieredPricingModelInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graduated_tiered_pricing_model: Option<TieredPricingModelInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiered_percentage_pricing_model: Option<PercentagePricingModelInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graduated_percentage_pricing_model: Option<PercentagePricingModelInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_percentage_pricing_model: Option<VolumePercentagePricingModelInput>,
}

/// `DiscountInput`: `amount` is a percent number for `type: percentage` (`"10"` is 10 %), a money
/// amount for `type: fixed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountInput {
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// `percentage` or `fixed`. Bundle prices (the SDK's `Discount`) spell it `discount_type`.
    #[serde(rename = "type", alias = "discount_type")]
    pub kind: String,
    /// `fixed` or `monthly_rolling`.
    pub duration_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_value: Option<i64>,
}

/// `SpendingThresholdInput`: a minimum or maximum spend per `period`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendingThresholdInput {
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// `monthly`, `quarterly`, `semi_annual` or `yearly`.
    pub period: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_direction: Option<String>,
}

/// Abacus extension: `price_per_package` for every started block of `package_size` units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagePricingModelInput {
    pub package_size: i64,
    #[serde(with = "rust_decimal::serde::str")]
    pub price_per_package: Decimal,
}
