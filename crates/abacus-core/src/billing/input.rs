//! What billing needs to know about a subscription, independent of how it is stored: its
//! calendar, its priced items over time (versions), its subscription-level discount, spend
//! thresholds and escalation; and, per invoice, the customer's tax rate and credit grants.

use jiff::civil::Date;
use rust_decimal::Decimal;

use crate::calendar::{CalendarTerms, Interval};
use crate::catalog::plan::PriceEscalationInput;
use crate::catalog::{BillingFrequency, FeeType};
use crate::currency::Currency;
use crate::pricing::{BillingDirection, Discount, DiscountInput, Price, PriceInput};
use crate::time::Micros;
use crate::validation::{FieldError, Naming};

/// A subscription as billing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub currency: Currency,
    /// Contract, trial, first billing date, time zone, and the subscription's billing interval
    /// (the interval of its periods, of its spend thresholds and of items without their own).
    pub calendar: CalendarTerms,
    /// When service ends because of a cancellation: an immediate cancellation's instant, a dated
    /// cancellation's local midnight, or the period end for `end_of_term`. Usage runs to this
    /// instant; fixed fees stop at the start of its local day (`docs/billing.md` §7).
    pub canceled_at: Option<Micros>,
    /// The published versions, in any order. A version is in effect from `from` until its `to`
    /// or the next version's `from`, whichever comes first.
    pub versions: Vec<Version>,
    /// Subscription-level discount on recurring charges.
    pub discount: Option<DiscountTerms>,
    /// Subscription-level minimum spend per billing period (a true-up line), prorated for partial
    /// periods.
    pub minimum_spend: Option<Decimal>,
    /// Subscription-level maximum spend per billing period (a cap line), prorated for partial
    /// periods.
    pub maximum_spend: Option<Decimal>,
    pub escalation: Option<Escalation>,
}

/// One version of the subscription's priced items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub id: String,
    pub from: Micros,
    /// `None`: until the next version (or forever).
    pub to: Option<Micros>,
    pub items: Vec<Item>,
}

/// One priced product of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Identifies the item across versions: the product id for a standalone item,
    /// `bundle_id/product_id` for a bundle's product. Unique within a version.
    pub key: String,
    pub product_id: String,
    /// The product's name, for line descriptions.
    pub name: String,
    pub fee_type: FeeType,
    /// `advance` or `arrears` (payment terms). Metered items are always billed in arrears.
    pub direction: BillingDirection,
    pub frequency: BillingFrequency,
    /// A one-off item: charged when it starts (even in a trial) rather than when billing starts.
    pub charge_on_contract_start: bool,
    pub price: Price,
    /// The item's own billing interval; `None` uses the subscription's.
    pub interval: Option<Interval>,
    /// The metrics a metered price reads (`metric_ids`). Quantity models read the first;
    /// `volume_percentage` reads the amount from the first and the transaction count from the
    /// second; `matrix` reads the first grouped by its dimensions.
    pub metric_ids: Vec<String>,
    /// `(alias, metric_id)`: an expression price reads `usage.<alias>` (and `usage.<metric_id>`).
    pub metric_aliases: Vec<(String, String)>,
    /// Days from the item's start during which it bills nothing.
    pub trial_days: u32,
    /// How long the price's own discount lasts, in months from the item's start; `None` forever.
    pub discount_months: Option<u32>,
}

impl Item {
    /// An item from the SDK's price (`PriceInput`) as a plan or subscription stores it: its model
    /// and adjustments (validated), `fee_type`, `billing_direction`, `billing_frequency` (default
    /// `recurring`), `charge_on_contract_start`, the billing interval (default: the
    /// subscription's), `metric_ids`, the expression's `metric_bindings`, `trial_period_days` and
    /// the discount's duration. Errors are the price's validation errors (snake_case paths).
    pub fn from_price_input(
        key: impl Into<String>,
        product_id: impl Into<String>,
        name: impl Into<String>,
        input: &PriceInput,
    ) -> Result<Item, Vec<FieldError>> {
        let price = input.validate(Naming::Snake)?;
        let mut errors = Vec::new();
        let mut error = |field: &str, message: String| {
            errors.push(FieldError {
                field: field.to_string(),
                message,
            })
        };
        let fee_type = FeeType::parse(&input.fee_type);
        let direction = BillingDirection::parse(&input.billing_direction);
        let frequency =
            BillingFrequency::parse(input.billing_frequency.as_deref().unwrap_or("recurring"));
        let interval = if input.billing_interval.is_some() || input.billing_interval_unit.is_some()
        {
            match Interval::from_fields(
                input.billing_interval.as_deref(),
                input.billing_interval_count,
                input.billing_interval_unit.as_deref(),
            ) {
                Ok(i) => Some(i),
                Err(e) => {
                    error("billing_interval", e.to_string());
                    None
                }
            }
        } else {
            None
        };
        let trial_days = match u32::try_from(input.trial_period_days.unwrap_or(0)) {
            Ok(d) => d,
            Err(_) => {
                error("trial_period_days", "must not be negative".into());
                0
            }
        };
        let (Some(fee_type), Some(direction), Some(frequency)) = (fee_type, direction, frequency)
        else {
            error(
                "fee_type",
                "fee_type, billing_direction and billing_frequency must be valid".into(),
            );
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let metric_aliases = input
            .expression_pricing_model
            .as_ref()
            .and_then(|m| m.metric_bindings.as_ref())
            .map(|bindings| {
                bindings
                    .iter()
                    .map(|b| (b.alias.clone(), b.metric_id.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Item {
            key: key.into(),
            product_id: product_id.into(),
            name: name.into(),
            fee_type,
            direction,
            frequency,
            charge_on_contract_start: input.charge_on_contract_start.unwrap_or(false),
            price,
            interval,
            metric_ids: input.metric_ids.clone().unwrap_or_default(),
            metric_aliases,
            trial_days,
            discount_months: input.discount.as_ref().and_then(DiscountTerms::months_of),
        })
    }

    /// Whether two definitions bill the same way (the name and trial may differ: the name is only
    /// a label, and a trial counts from the item's first appearance).
    pub fn bills_like(&self, other: &Item) -> bool {
        self.product_id == other.product_id
            && self.fee_type == other.fee_type
            && self.direction == other.direction
            && self.frequency == other.frequency
            && self.charge_on_contract_start == other.charge_on_contract_start
            && self.price == other.price
            && self.interval == other.interval
            && self.metric_ids == other.metric_ids
            && self.metric_aliases == other.metric_aliases
            && self.discount_months == other.discount_months
    }

    pub(crate) fn is_recurring(&self) -> bool {
        self.frequency == BillingFrequency::Recurring
    }

    pub(crate) fn is_metered(&self) -> bool {
        self.fee_type == FeeType::Metered
    }
}

/// A discount and how long it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscountTerms {
    pub discount: Discount,
    /// Months from the contract start; `None` forever. The discount applies to every billing
    /// period that starts before `contract start + months`.
    pub months: Option<u32>,
}

impl DiscountTerms {
    /// The duration of an API discount: `duration_type: fixed` lasts `duration_value` months
    /// (`duration_unit` is months, the only unit Alguna documents); anything else is forever.
    pub fn months_of(input: &DiscountInput) -> Option<u32> {
        match (input.duration_type.as_str(), input.duration_value) {
            ("fixed", Some(n)) => u32::try_from(n).ok(),
            _ => None,
        }
    }

    pub(crate) fn active_on(&self, start: Date, period_start: Date) -> bool {
        active_on(self.months, start, period_start)
    }
}

/// Whether something lasting `months` from `start` covers the period starting on `period_start`.
pub(crate) fn active_on(months: Option<u32>, start: Date, period_start: Date) -> bool {
    match months {
        None => true,
        Some(m) => crate::calendar::add_months(start, i64::from(m))
            .map(|end| period_start < end)
            // Beyond the calendar's range: the discount has not ended.
            .unwrap_or(true),
    }
}

/// Price escalation: recurring prices grow by `percentage` percent at every step, compounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escalation {
    /// A percent number: `5` is 5 % per step.
    pub percentage: Decimal,
    pub every: EscalationStep,
    /// `escalate_metered_unit_rates`: metered rates escalate too (fixed fees always do).
    pub metered: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscalationStep {
    /// Every `n` months from the contract start (`interval_months`).
    Months(u32),
    /// At every contract renewal.
    Renewal,
}

impl Escalation {
    /// The API's `price_escalation`; `None` when it is disabled or has no percentage.
    pub fn from_input(input: &PriceEscalationInput) -> Option<Escalation> {
        if !input.enabled {
            return None;
        }
        Some(Escalation {
            percentage: input.percentage?,
            every: EscalationStep::Months(u32::try_from(input.interval_months).ok()?),
            metered: input.escalate_metered_unit_rates.unwrap_or(false),
        })
    }
}

/// The customer side of one invoice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceContext {
    /// The customer's `tax_rate`, a fraction (`0.20` is 20 %).
    pub tax_rate: Decimal,
    /// Monetary credit grants of the invoice's currency with what remains of them.
    pub credits: Vec<CreditGrant>,
    /// Grants expiring at or before this instant are not used; `None` is the boundary itself.
    pub credits_as_of: Option<Micros>,
}

/// A monetary credit grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditGrant {
    pub id: String,
    pub remaining: Decimal,
    pub expires_at: Option<Micros>,
    /// Lower numbers are used first among grants expiring at the same instant.
    pub priority: i64,
}
