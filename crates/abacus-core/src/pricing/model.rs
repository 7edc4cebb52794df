//! Validated prices: what the engine prices. Built from a [`super::PriceInput`] by validation.

use rust_decimal::Decimal;

use super::expression::Expression;
use super::matrix::Matrix;
use super::tiers::Tiers;

/// A validated price: its model plus the adjustments applied to the model's lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub model: PriceModel,
    /// Applied on every pricing; a caller whose discount has run its course (`duration_type`)
    /// prices without it.
    pub discount: Option<Discount>,
    /// Floor for the price's total in the period, after the discount.
    pub minimum_spend: Option<Decimal>,
    /// Cap for the price's total in the period, after the discount.
    pub maximum_spend: Option<Decimal>,
}

impl From<PriceModel> for Price {
    fn from(model: PriceModel) -> Self {
        Price {
            model,
            discount: None,
            minimum_spend: None,
            maximum_spend: None,
        }
    }
}

/// The pricing models, named as the SDK's `type` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceModel {
    /// quantity × price_per_unit.
    Unit { price_per_unit: Decimal },
    /// units × price_per_unit, whatever the usage.
    Fixed {
        price_per_unit: Decimal,
        units: Decimal,
    },
    /// Volume: the whole quantity at the rate of the tier it falls in, plus that tier's fee.
    /// `units` is the quantity of a fixed-fee price, used when no usage is given.
    Tiered {
        tiers: Tiers,
        units: Option<Decimal>,
    },
    /// Each tier prices the units inside it; every reached tier adds its fee.
    GraduatedTiered {
        tiers: Tiers,
        units: Option<Decimal>,
    },
    /// Volume over an amount: the amount's tier gives the percentage for all of it.
    TieredPercentage { tiers: Tiers },
    /// Each tier takes its percentage of the part of the amount inside it.
    GraduatedPercentage { tiers: Tiers },
    /// percentage of the amount + price_per_unit per transaction + fixed_fee.
    VolumePercentage {
        percentage: Decimal,
        price_per_unit: Decimal,
        fixed_fee: Decimal,
    },
    /// A committed block of `prepaid_units`, charged whatever the usage; usage beyond it is
    /// overage. Block and overage are priced through the tiers graduated, the overage continuing
    /// where the block ends.
    PrepaidTiered {
        prepaid_units: Decimal,
        tiers: Tiers,
    },
    /// As [`PriceModel::PrepaidTiered`]; the overage lines are billed on their own interval.
    PrepaidFixedTiered {
        prepaid_units: Decimal,
        tiers: Tiers,
        overages_charge_interval: Interval,
    },
    /// One line per charge: quantity expression × unit price expression.
    Expression { charges: Vec<ExpressionCharge> },
    /// Usage per combination of dimension values, priced by the cell each combination reaches.
    Matrix(Matrix),
    /// Abacus extension: price_per_package for every started package of package_size units.
    Package {
        package_size: Decimal,
        price_per_package: Decimal,
    },
}

impl PriceModel {
    /// The SDK's `type` value (or `package`).
    pub fn type_name(&self) -> &'static str {
        match self {
            PriceModel::Unit { .. } => "unit",
            PriceModel::Fixed { .. } => "fixed",
            PriceModel::Tiered { .. } => "tiered",
            PriceModel::GraduatedTiered { .. } => "graduated_tiered",
            PriceModel::TieredPercentage { .. } => "tiered_percentage",
            PriceModel::GraduatedPercentage { .. } => "graduated_percentage",
            PriceModel::VolumePercentage { .. } => "volume_percentage",
            PriceModel::PrepaidTiered { .. } => "prepaid_tiered",
            PriceModel::PrepaidFixedTiered { .. } => "prepaid_fixed_tiered",
            PriceModel::Expression { .. } => "expression",
            PriceModel::Matrix(_) => "matrix",
            PriceModel::Package { .. } => "package",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpressionCharge {
    pub description: String,
    pub billing_direction: BillingDirection,
    pub quantity: Expression,
    pub unit_price: Expression,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// A percent number: `10` is 10 % off.
    Percentage(Decimal),
    /// A money amount off, at most the price's subtotal.
    Fixed(Decimal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingDirection {
    Advance,
    Arrears,
}

impl BillingDirection {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "advance" => Some(Self::Advance),
            "arrears" => Some(Self::Arrears),
            _ => None,
        }
    }
}

/// A billing interval as the SDK spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Monthly,
    Quarterly,
    SemiAnnual,
    Yearly,
}

impl Interval {
    pub const NAMES: &'static str = "monthly, quarterly, semi_annual, yearly";

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "monthly" => Some(Self::Monthly),
            "quarterly" => Some(Self::Quarterly),
            "semi_annual" => Some(Self::SemiAnnual),
            "yearly" => Some(Self::Yearly),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monthly => "monthly",
            Self::Quarterly => "quarterly",
            Self::SemiAnnual => "semi_annual",
            Self::Yearly => "yearly",
        }
    }
}
