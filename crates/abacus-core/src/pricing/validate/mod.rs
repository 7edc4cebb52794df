//! Checking a [`PriceInput`] and building the [`Price`] it describes. Every problem is reported,
//! each at its field path in the caller's naming (`tieredPricingModel.tiers[1].maxUnits` on v1,
//! `tiered_pricing_model.tiers[1].max_units` on v2).

mod expression;
mod matrix;

use rust_decimal::Decimal;

use super::input::*;
use super::model::{BillingDirection, Discount, Interval, Price, PriceModel};
use super::tiers::{Tier, Tiers};
use crate::validation::{FieldError, Naming, Validation};

pub const MAX_TEXT_LEN: usize = 255;
pub const MAX_METRICS: usize = 50;

const TYPES: &[&str] = &[
    "unit",
    "fixed",
    "tiered",
    "graduated_tiered",
    "tiered_percentage",
    "graduated_percentage",
    "volume_percentage",
    "prepaid_tiered",
    "prepaid_fixed_tiered",
    "expression",
    "matrix",
    "package",
];

const CELL_TYPES: &[&str] = &[
    "unit",
    "fixed",
    "tiered",
    "graduated_tiered",
    "tiered_percentage",
    "graduated_percentage",
    "volume_percentage",
];

/// Checks a price definition; see [`PriceInput::validate`].
pub fn validate(input: &PriceInput, naming: Naming) -> Result<Price, Vec<FieldError>> {
    input.validate(naming)
}

/// What [`validate_adjustments`] returns: the discount, the minimum and the maximum spend.
pub type Adjustments = (Option<Discount>, Option<Decimal>, Option<Decimal>);

/// Checks a discount and spend thresholds that stand outside a price (a plan's or a
/// subscription's), with the same rules as a price's own: errors are reported at `discount.amount`,
/// `minimum_spend.period`, ... in the caller's naming. Thresholds apply per billing period; with
/// no price to take the interval from, any interval is accepted as their `period`.
pub fn validate_adjustments(
    discount: Option<&DiscountInput>,
    minimum_spend: Option<&SpendingThresholdInput>,
    maximum_spend: Option<&SpendingThresholdInput>,
    naming: Naming,
) -> Result<Adjustments, Vec<FieldError>> {
    let mut cx = Cx {
        v: Validation::new(),
        naming,
    };
    let discount = discount.and_then(|d| cx.discount(d));
    let min = minimum_spend.and_then(|t| cx.threshold("minimum_spend", t, None));
    let max = maximum_spend.and_then(|t| cx.threshold("maximum_spend", t, None));
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        let field = cx.at(&cx.at("", "maximum_spend"), "amount");
        let other = cx.at(&cx.at("", "minimum_spend"), "amount");
        cx.push(field, format!("must not be less than {other}"));
    }
    cx.v.into_result()?;
    Ok((discount, min, max))
}

impl PriceInput {
    /// Checks every rule and returns the price the engine can use, or every failing field.
    pub fn validate(&self, naming: Naming) -> Result<Price, Vec<FieldError>> {
        let mut cx = Cx {
            v: Validation::new(),
            naming,
        };
        let known_type = cx.one_of("type", &self.kind, TYPES);
        let fixed_fee = match self.fee_type.as_str() {
            "fixed" => Some(true),
            "metered" => Some(false),
            other => {
                cx.push(
                    cx.at("", "fee_type"),
                    format!("'{other}' is not one of: fixed, metered"),
                );
                None
            }
        };
        if let (true, Some(fixed)) = (known_type, fixed_fee) {
            let wanted = match self.kind.as_str() {
                "fixed" => Some("fixed"),
                "tiered" | "graduated_tiered" => None,
                _ => Some("metered"),
            };
            if let Some(wanted) = wanted
                && (wanted == "fixed") != fixed
            {
                cx.push(
                    cx.at("", "fee_type"),
                    format!("must be '{wanted}' for type '{}'", self.kind),
                );
            }
        }
        self.check_billing(&mut cx, fixed_fee == Some(true));
        let metric_ids = self.check_metric_ids(&mut cx, fixed_fee);

        let models = Models::of_price(self);
        let ctx = ModelCx {
            fixed_fee: fixed_fee == Some(true),
            metric_ids: &metric_ids,
            in_matrix: false,
        };
        let model = if known_type {
            cx.model("", &self.kind, &models, &ctx)
        } else {
            None
        };

        let discount = self.discount.as_ref().and_then(|d| cx.discount(d));
        let minimum_spend = self
            .minimum_spend
            .as_ref()
            .and_then(|t| cx.threshold("minimum_spend", t, self.billing_interval.as_deref()));
        let maximum_spend = self
            .maximum_spend
            .as_ref()
            .and_then(|t| cx.threshold("maximum_spend", t, self.billing_interval.as_deref()));
        if let (Some(min), Some(max)) = (minimum_spend, maximum_spend)
            && min > max
        {
            let field = cx.at(&cx.at("", "maximum_spend"), "amount");
            let other = cx.at(&cx.at("", "minimum_spend"), "amount");
            cx.push(field, format!("must not be less than {other}"));
        }

        cx.v.into_result()?;
        let model = model.ok_or_else(|| {
            vec![FieldError {
                field: "type".into(),
                message: "no pricing model".into(),
            }]
        })?;
        Ok(Price {
            model,
            discount,
            minimum_spend,
            maximum_spend,
        })
    }

    fn check_billing(&self, cx: &mut Cx, fixed_fee: bool) {
        if BillingDirection::parse(&self.billing_direction).is_none() {
            let f = cx.at("", "billing_direction");
            cx.push(
                f,
                format!(
                    "'{}' is not one of: advance, arrears",
                    self.billing_direction
                ),
            );
        }
        match &self.billing_frequency {
            Some(f) => {
                cx.one_of("billing_frequency", f, &["recurring", "one-off"]);
            }
            None if fixed_fee => {
                let f = cx.at("", "billing_frequency");
                cx.push(f, "is required for fixed prices (recurring or one-off)");
            }
            None => {}
        }
        if let Some(i) = &self.billing_interval
            && Interval::parse(i).is_none()
        {
            let f = cx.at("", "billing_interval");
            cx.push(f, format!("'{i}' is not one of: {}", Interval::NAMES));
        }
        for (field, count) in [
            ("billing_interval_count", self.billing_interval_count),
            (
                "recurring_instalment_interval_count",
                self.recurring_instalment_interval_count,
            ),
        ] {
            if let Some(n) = count
                && n < 1
            {
                let f = cx.at("", field);
                cx.push(f, "must be at least 1");
            }
        }
        for (field, unit) in [
            ("billing_interval_unit", &self.billing_interval_unit),
            (
                "recurring_instalment_interval_unit",
                &self.recurring_instalment_interval_unit,
            ),
        ] {
            if let Some(u) = unit {
                cx.one_of(field, u, &["day", "week", "month", "year"]);
            }
        }
        if let Some(days) = self.trial_period_days
            && days < 0
        {
            let f = cx.at("", "trial_period_days");
            cx.push(f, "must not be negative");
        }
    }

    fn check_metric_ids(&self, cx: &mut Cx, fixed_fee: Option<bool>) -> Vec<String> {
        let field = cx.at("", "metric_ids");
        let ids = self.metric_ids.clone().unwrap_or_default();
        match fixed_fee {
            Some(false) if ids.is_empty() => {
                cx.push(field.clone(), "is required for metered prices");
            }
            Some(true) if !ids.is_empty() => {
                cx.push(field.clone(), "must be omitted for fixed prices");
            }
            _ => {}
        }
        if ids.len() > MAX_METRICS {
            cx.push(
                field.clone(),
                format!("at most {MAX_METRICS} metrics are allowed"),
            );
        }
        for (i, id) in ids.iter().enumerate() {
            if id.trim().is_empty() {
                cx.push(format!("{field}[{i}]"), "must not be empty");
            } else if ids[..i].contains(id) {
                cx.push(format!("{field}[{i}]"), format!("duplicate metric '{id}'"));
            }
        }
        ids
    }
}

/// The model objects of a price or of a matrix cell.
#[derive(Default)]
struct Models<'a> {
    unit: Option<&'a UnitPricingModelInput>,
    fixed: Option<&'a FixedPricingModelInput>,
    tiered: Option<&'a TieredPricingModelInput>,
    graduated_tiered: Option<&'a TieredPricingModelInput>,
    tiered_percentage: Option<&'a PercentagePricingModelInput>,
    graduated_percentage: Option<&'a PercentagePricingModelInput>,
    volume_percentage: Option<&'a VolumePercentagePricingModelInput>,
    prepaid_tiered: Option<&'a PrepaidTieredPricingModelInput>,
    prepaid_fixed_tiered: Option<&'a PrepaidFixedTieredPricingModelInput>,
    expression: Option<&'a ExpressionPricingModelInput>,
    matrix: Option<&'a MatrixPricingModelInput>,
    package: Option<&'a PackagePricingModelInput>,
}

impl<'a> Models<'a> {
    fn of_price(p: &'a PriceInput) -> Self {
        Models {
            unit: p.unit_pricing_model.as_ref(),
            fixed: p.fixed_pricing_model.as_ref(),
            tiered: p.tiered_pricing_model.as_ref(),
            graduated_tiered: p.graduated_tiered_pricing_model.as_ref(),
            tiered_percentage: p.tiered_percentage_pricing_model.as_ref(),
            graduated_percentage: p.graduated_percentage_pricing_model.as_ref(),
            volume_percentage: p.volume_percentage_pricing_model.as_ref(),
            prepaid_tiered: p.prepaid_tiered_pricing_model.as_ref(),
            prepaid_fixed_tiered: p.prepaid_fixed_tiered_pricing_model.as_ref(),
            expression: p.expression_pricing_model.as_ref(),
            matrix: p.matrix_pricing_model.as_ref(),
            package: p.package_pricing_model.as_ref(),
        }
    }

    fn of_cell(c: &'a MatrixPriceCellInput) -> Self {
        Models {
            unit: c.unit_pricing_model.as_ref(),
            fixed: c.fixed_pricing_model.as_ref(),
            tiered: c.tiered_pricing_model.as_ref(),
            graduated_tiered: c.graduated_tiered_pricing_model.as_ref(),
            tiered_percentage: c.tiered_percentage_pricing_model.as_ref(),
            graduated_percentage: c.graduated_percentage_pricing_model.as_ref(),
            volume_percentage: c.volume_percentage_pricing_model.as_ref(),
            ..Default::default()
        }
    }

    /// The type each set model object belongs to.
    fn present(&self) -> Vec<&'static str> {
        [
            ("unit", self.unit.is_some()),
            ("fixed", self.fixed.is_some()),
            ("tiered", self.tiered.is_some()),
            ("graduated_tiered", self.graduated_tiered.is_some()),
            ("tiered_percentage", self.tiered_percentage.is_some()),
            ("graduated_percentage", self.graduated_percentage.is_some()),
            ("volume_percentage", self.volume_percentage.is_some()),
            ("prepaid_tiered", self.prepaid_tiered.is_some()),
            ("prepaid_fixed_tiered", self.prepaid_fixed_tiered.is_some()),
            ("expression", self.expression.is_some()),
            ("matrix", self.matrix.is_some()),
            ("package", self.package.is_some()),
        ]
        .into_iter()
        .filter_map(|(t, set)| set.then_some(t))
        .collect()
    }
}

struct ModelCx<'a> {
    fixed_fee: bool,
    metric_ids: &'a [String],
    in_matrix: bool,
}

/// A tier as either SDK tier type carries it.
struct RawTier {
    min_units: i64,
    max_units: Option<i64>,
    rate: Option<Decimal>,
    rate_field: &'static str,
    fixed_fee: Option<Decimal>,
}

struct Cx {
    v: Validation,
    naming: Naming,
}

impl Cx {
    /// `base.field` in the caller's naming (`base` is already spelled).
    fn at(&self, base: &str, snake: &str) -> String {
        let f = self.naming.field(snake);
        if base.is_empty() {
            f
        } else {
            format!("{base}.{f}")
        }
    }

    fn push(&mut self, field: String, message: impl Into<String>) {
        self.v.push(field, message);
    }

    fn one_of(&mut self, snake: &str, value: &str, allowed: &[&str]) -> bool {
        let ok = allowed.contains(&value);
        if !ok {
            let f = self.at("", snake);
            self.push(
                f,
                format!("'{value}' is not one of: {}", allowed.join(", ")),
            );
        }
        ok
    }

    fn non_negative(&mut self, field: String, d: Decimal) -> bool {
        let ok = d >= Decimal::ZERO;
        if !ok {
            self.push(field, "must not be negative");
        }
        ok
    }

    fn percentage(&mut self, field: String, d: Decimal) -> bool {
        let ok = d >= Decimal::ZERO && d <= Decimal::ONE_HUNDRED;
        if !ok {
            self.push(
                field,
                "must be a percentage from 0 to 100 (\"2.5\" is 2.5%)",
            );
        }
        ok
    }

    fn count(&mut self, field: String, n: i64) -> Decimal {
        if n < 0 {
            self.push(field, "must not be negative");
        }
        Decimal::from(n)
    }

    fn text(&mut self, field: String, s: &str) {
        if s.trim().is_empty() {
            self.push(field, "must not be empty");
        } else if s.chars().count() > MAX_TEXT_LEN {
            self.push(field, format!("must be at most {MAX_TEXT_LEN} characters"));
        }
    }

    /// Checks that exactly the model object matching `kind` is set, and builds the model.
    fn model(
        &mut self,
        base: &str,
        kind: &str,
        models: &Models,
        ctx: &ModelCx,
    ) -> Option<PriceModel> {
        let own = format!("{kind}_pricing_model");
        for other in models.present() {
            if other != kind {
                let f = self.at(base, &format!("{other}_pricing_model"));
                self.push(f, format!("must be omitted when type is '{kind}'"));
            }
        }
        let path = self.at(base, &own);
        let missing = |cx: &mut Cx| {
            cx.push(path.clone(), format!("is required when type is '{kind}'"));
            None
        };
        match kind {
            "unit" => match models.unit {
                Some(m) => {
                    let ok = self.non_negative(self.at(&path, "price_per_unit"), m.price_per_unit);
                    ok.then_some(PriceModel::Unit {
                        price_per_unit: m.price_per_unit,
                    })
                }
                None => missing(self),
            },
            "fixed" => match models.fixed {
                Some(m) => {
                    let ok = self.non_negative(self.at(&path, "price_per_unit"), m.price_per_unit);
                    let units = self.count(self.at(&path, "units"), m.units);
                    (ok && m.units >= 0).then_some(PriceModel::Fixed {
                        price_per_unit: m.price_per_unit,
                        units,
                    })
                }
                None => missing(self),
            },
            "tiered" | "graduated_tiered" => {
                let m = if kind == "tiered" {
                    models.tiered
                } else {
                    models.graduated_tiered
                };
                let Some(m) = m else { return missing(self) };
                let tiers = self.price_tiers(&path, &m.tiers);
                let units = match m.units {
                    Some(n) if !ctx.in_matrix => {
                        let units = self.count(self.at(&path, "units"), n);
                        (n >= 0).then_some(units)
                    }
                    None if ctx.fixed_fee && !ctx.in_matrix => {
                        let f = self.at(&path, "units");
                        self.push(
                            f,
                            "is required for a fixed fee (the number of units billed)",
                        );
                        None
                    }
                    _ => None,
                };
                let tiers = tiers?;
                Some(if kind == "tiered" {
                    PriceModel::Tiered { tiers, units }
                } else {
                    PriceModel::GraduatedTiered { tiers, units }
                })
            }
            "tiered_percentage" | "graduated_percentage" => {
                let m = if kind == "tiered_percentage" {
                    models.tiered_percentage
                } else {
                    models.graduated_percentage
                };
                let Some(m) = m else { return missing(self) };
                let tiers = self.percentage_tiers(&path, &m.tiers)?;
                Some(if kind == "tiered_percentage" {
                    PriceModel::TieredPercentage { tiers }
                } else {
                    PriceModel::GraduatedPercentage { tiers }
                })
            }
            "volume_percentage" => match models.volume_percentage {
                Some(m) => {
                    let fee = m.fixed_fee.unwrap_or(Decimal::ZERO);
                    let ok = [
                        self.percentage(self.at(&path, "percentage"), m.percentage),
                        self.non_negative(self.at(&path, "price_per_unit"), m.price_per_unit),
                        self.non_negative(self.at(&path, "fixed_fee"), fee),
                    ];
                    ok.iter()
                        .all(|&b| b)
                        .then_some(PriceModel::VolumePercentage {
                            percentage: m.percentage,
                            price_per_unit: m.price_per_unit,
                            fixed_fee: fee,
                        })
                }
                None => missing(self),
            },
            "prepaid_tiered" => match models.prepaid_tiered {
                Some(m) => {
                    let prepaid_units = self.prepaid_units(&path, m.prepaid_units);
                    let tiers = self.price_tiers(&path, &m.tiers);
                    Some(PriceModel::PrepaidTiered {
                        prepaid_units: prepaid_units?,
                        tiers: tiers?,
                    })
                }
                None => missing(self),
            },
            "prepaid_fixed_tiered" => match models.prepaid_fixed_tiered {
                Some(m) => {
                    let prepaid_units = self.prepaid_units(&path, m.prepaid_units);
                    let interval = Interval::parse(&m.overages_charge_interval);
                    if interval.is_none() {
                        let f = self.at(&path, "overages_charge_interval");
                        self.push(
                            f,
                            format!(
                                "'{}' is not one of: {}",
                                m.overages_charge_interval,
                                Interval::NAMES
                            ),
                        );
                    }
                    let tiers = self.price_tiers(&path, &m.tiers);
                    Some(PriceModel::PrepaidFixedTiered {
                        prepaid_units: prepaid_units?,
                        tiers: tiers?,
                        overages_charge_interval: interval?,
                    })
                }
                None => missing(self),
            },
            "expression" => match models.expression {
                Some(m) => self.expression(&path, m, ctx.metric_ids),
                None => missing(self),
            },
            "matrix" => match models.matrix {
                Some(m) => self.matrix(&path, m).map(PriceModel::Matrix),
                None => missing(self),
            },
            "package" => match models.package {
                Some(m) => {
                    let ok =
                        self.non_negative(self.at(&path, "price_per_package"), m.price_per_package);
                    if m.package_size <= 0 {
                        let f = self.at(&path, "package_size");
                        self.push(f, "must be greater than 0");
                    }
                    (ok && m.package_size > 0).then_some(PriceModel::Package {
                        package_size: Decimal::from(m.package_size),
                        price_per_package: m.price_per_package,
                    })
                }
                None => missing(self),
            },
            _ => None,
        }
    }

    fn prepaid_units(&mut self, path: &str, n: i64) -> Option<Decimal> {
        if n <= 0 {
            let f = self.at(path, "prepaid_units");
            self.push(f, "must be greater than 0");
            return None;
        }
        Some(Decimal::from(n))
    }

    fn price_tiers(&mut self, path: &str, tiers: &[PricingTierInput]) -> Option<Tiers> {
        let list = self.at(path, "tiers");
        let mut raw = Vec::with_capacity(tiers.len());
        for (i, t) in tiers.iter().enumerate() {
            let (rate, rate_field) = match (t.price_per_unit, t.unit_price) {
                (Some(a), Some(b)) if a != b => {
                    let f = self.at(&format!("{list}[{i}]"), "unit_price");
                    let other = self.naming.field("price_per_unit");
                    self.push(f, format!("must equal {other} when both are given"));
                    (Some(a), "price_per_unit")
                }
                (None, Some(b)) => (Some(b), "unit_price"),
                (a, _) => (a, "price_per_unit"),
            };
            raw.push(RawTier {
                min_units: t.min_units,
                max_units: t.max_units,
                rate,
                rate_field,
                fixed_fee: t.fixed_fee,
            });
        }
        self.tiers(&list, raw, false)
    }

    fn percentage_tiers(&mut self, path: &str, tiers: &[PercentageTierInput]) -> Option<Tiers> {
        let list = self.at(path, "tiers");
        let raw = tiers
            .iter()
            .map(|t| RawTier {
                min_units: t.min_units,
                max_units: t.max_units,
                rate: t.percentage,
                rate_field: "percentage",
                fixed_fee: t.fixed_fee,
            })
            .collect();
        self.tiers(&list, raw, true)
    }

    fn tiers(&mut self, list: &str, raw: Vec<RawTier>, percent: bool) -> Option<Tiers> {
        let mut ok = true;
        let mut tiers = Vec::with_capacity(raw.len());
        for (i, t) in raw.into_iter().enumerate() {
            let base = format!("{list}[{i}]");
            let bounds_ok = [Some(t.min_units), t.max_units]
                .into_iter()
                .zip(["min_units", "max_units"])
                .all(|(n, field)| match n {
                    Some(n) if n < 0 => {
                        let f = self.at(&base, field);
                        self.push(f, "must not be negative");
                        false
                    }
                    _ => true,
                });
            let rate = t.rate.unwrap_or(Decimal::ZERO);
            let rate_field = self.at(&base, t.rate_field);
            let rate_ok = if percent {
                self.percentage(rate_field, rate)
            } else {
                self.non_negative(rate_field, rate)
            };
            let fee = t.fixed_fee.unwrap_or(Decimal::ZERO);
            let fee_ok = self.non_negative(self.at(&base, "fixed_fee"), fee);
            ok &= bounds_ok && rate_ok && fee_ok;
            tiers.push(Tier {
                min_units: Decimal::from(t.min_units),
                max_units: t.max_units.map(Decimal::from),
                rate,
                fixed_fee: fee,
            });
        }
        match Tiers::new(tiers) {
            Ok(t) => ok.then_some(t),
            Err(issues) => {
                for issue in issues {
                    let field = match issue.index {
                        None => list.to_string(),
                        Some(i) => self.at(&format!("{list}[{i}]"), issue.field),
                    };
                    self.push(field, issue.message);
                }
                None
            }
        }
    }

    fn discount(&mut self, d: &DiscountInput) -> Option<Discount> {
        let base = self.at("", "discount");
        let discount = match d.kind.as_str() {
            "percentage" => self
                .percentage(self.at(&base, "amount"), d.amount)
                .then_some(Discount::Percentage(d.amount)),
            "fixed" => self
                .non_negative(self.at(&base, "amount"), d.amount)
                .then_some(Discount::Fixed(d.amount)),
            other => {
                let f = self.at(&base, "type");
                self.push(f, format!("'{other}' is not one of: percentage, fixed"));
                None
            }
        };
        match d.duration_type.as_str() {
            "fixed" | "monthly_rolling" => {}
            other => {
                let f = self.at(&base, "duration_type");
                self.push(
                    f,
                    format!("'{other}' is not one of: fixed, monthly_rolling"),
                );
            }
        }
        match d.duration_value {
            Some(n) if n < 1 => {
                let f = self.at(&base, "duration_value");
                self.push(f, "must be at least 1");
            }
            None if d.duration_type == "fixed" => {
                let f = self.at(&base, "duration_value");
                let dt = self.naming.field("duration_type");
                self.push(f, format!("is required when {dt} is 'fixed'"));
            }
            _ => {}
        }
        if let Some(u) = &d.duration_unit {
            self.text(self.at(&base, "duration_unit"), u);
        }
        discount
    }

    fn threshold(
        &mut self,
        snake: &str,
        t: &SpendingThresholdInput,
        billing_interval: Option<&str>,
    ) -> Option<Decimal> {
        let base = self.at("", snake);
        let ok = self.non_negative(self.at(&base, "amount"), t.amount);
        let period_field = self.at(&base, "period");
        match Interval::parse(&t.period) {
            None => self.push(
                period_field,
                format!("'{}' is not one of: {}", t.period, Interval::NAMES),
            ),
            Some(p) => {
                if let Some(interval) = billing_interval.and_then(Interval::parse)
                    && interval != p
                {
                    let bi = self.naming.field("billing_interval");
                    self.push(
                        period_field,
                        format!(
                            "must equal {bi} ('{}'): spend thresholds apply per billing period",
                            interval.as_str()
                        ),
                    );
                }
            }
        }
        if let Some(dir) = &t.billing_direction
            && BillingDirection::parse(dir).is_none()
        {
            let f = self.at(&base, "billing_direction");
            self.push(f, format!("'{dir}' is not one of: advance, arrears"));
        }
        ok.then_some(t.amount)
    }
}
