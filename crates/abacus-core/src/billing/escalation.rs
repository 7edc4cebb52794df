//! Price escalation: every step (each `interval_months` from the contract start, or each
//! renewal) multiplies recurring prices by `1 + percentage / 100`, compounded. A billing period is
//! priced at the factor of the steps reached on its first day, so a step never splits a period.
//!
//! What escalates: money rates of the price model (per-unit prices, tier rates, per-transaction
//! prices, package prices, expression unit prices) and its fixed fees. What does not: percentages
//! of an amount (they already grow with the amount), tier bounds, discounts and spend thresholds.

use jiff::civil::Date;
use rust_decimal::Decimal;

use super::error::BillingError;
use super::input::{Escalation, EscalationStep};
use crate::calendar::{Contract, add_months};
use crate::money;
use crate::pricing::matrix::{Cell, Matrix, Node, Split};
use crate::pricing::{Expression, ExpressionCharge, PriceModel, Tier, Tiers};

/// The factor for a period starting on `period_start`: `(1 + p/100)^steps`.
pub(crate) fn factor(
    esc: &Escalation,
    contract: &Contract,
    period_start: Date,
) -> Result<Decimal, BillingError> {
    if esc.percentage < Decimal::ZERO {
        return Err(BillingError::Negative {
            what: "the escalation percentage",
            value: esc.percentage,
        });
    }
    let steps = match esc.every {
        EscalationStep::Months(0) => {
            return Err(BillingError::Escalation(
                "interval_months must be at least 1".into(),
            ));
        }
        EscalationStep::Months(n) if period_start > contract.start => {
            months_floor(contract.start, period_start)?.div_euclid(i64::from(n))
        }
        EscalationStep::Months(_) => 0,
        EscalationStep::Renewal => contract.term_on(period_start)?.map_or(0, |t| t.index),
    };
    let step = money::add(Decimal::ONE, money::percent(esc.percentage)?)?;
    let mut f = Decimal::ONE;
    for _ in 0..steps {
        f = money::mul(f, step)?;
    }
    Ok(f)
}

/// The largest `m` with `anchor + m months <= date`.
fn months_floor(anchor: Date, date: Date) -> Result<i64, BillingError> {
    let index = |d: Date| i64::from(d.year()) * 12 + i64::from(d.month());
    let m = index(date) - index(anchor);
    if add_months(anchor, m)? > date {
        Ok(m - 1)
    } else {
        Ok(m)
    }
}

/// The model with its money rates and fees multiplied by `f`.
pub(crate) fn escalate(model: &PriceModel, f: Decimal) -> Result<PriceModel, BillingError> {
    if f == Decimal::ONE {
        return Ok(model.clone());
    }
    let x = |v: Decimal| money::mul(v, f).map_err(BillingError::from);
    Ok(match model {
        PriceModel::Unit { price_per_unit } => PriceModel::Unit {
            price_per_unit: x(*price_per_unit)?,
        },
        PriceModel::Fixed {
            price_per_unit,
            units,
        } => PriceModel::Fixed {
            price_per_unit: x(*price_per_unit)?,
            units: *units,
        },
        PriceModel::Tiered { tiers, units } => PriceModel::Tiered {
            tiers: scale(tiers, f, true)?,
            units: *units,
        },
        PriceModel::GraduatedTiered { tiers, units } => PriceModel::GraduatedTiered {
            tiers: scale(tiers, f, true)?,
            units: *units,
        },
        PriceModel::TieredPercentage { tiers } => PriceModel::TieredPercentage {
            tiers: scale(tiers, f, false)?,
        },
        PriceModel::GraduatedPercentage { tiers } => PriceModel::GraduatedPercentage {
            tiers: scale(tiers, f, false)?,
        },
        PriceModel::VolumePercentage {
            percentage,
            price_per_unit,
            fixed_fee,
        } => PriceModel::VolumePercentage {
            percentage: *percentage,
            price_per_unit: x(*price_per_unit)?,
            fixed_fee: x(*fixed_fee)?,
        },
        PriceModel::PrepaidTiered {
            prepaid_units,
            tiers,
        } => PriceModel::PrepaidTiered {
            prepaid_units: *prepaid_units,
            tiers: scale(tiers, f, true)?,
        },
        PriceModel::PrepaidFixedTiered {
            prepaid_units,
            tiers,
            overages_charge_interval,
        } => PriceModel::PrepaidFixedTiered {
            prepaid_units: *prepaid_units,
            tiers: scale(tiers, f, true)?,
            overages_charge_interval: *overages_charge_interval,
        },
        PriceModel::Expression { charges } => PriceModel::Expression {
            charges: charges
                .iter()
                .map(|c| expression(c, f))
                .collect::<Result<_, _>>()?,
        },
        PriceModel::Matrix(m) => PriceModel::Matrix(Matrix {
            dimensions: m.dimensions.clone(),
            line_item_template: m.line_item_template.clone(),
            root: node(&m.root, f)?,
        }),
        PriceModel::Package {
            package_size,
            price_per_package,
        } => PriceModel::Package {
            package_size: *package_size,
            price_per_package: x(*price_per_package)?,
        },
    })
}

fn scale(tiers: &Tiers, f: Decimal, rates: bool) -> Result<Tiers, BillingError> {
    let scaled = tiers
        .as_slice()
        .iter()
        .map(|t| {
            Ok(Tier {
                min_units: t.min_units,
                max_units: t.max_units,
                rate: if rates {
                    money::mul(t.rate, f)?
                } else {
                    t.rate
                },
                fixed_fee: money::mul(t.fixed_fee, f)?,
            })
        })
        .collect::<Result<Vec<_>, money::Overflow>>()?;
    Tiers::new(scaled)
        .map_err(|_| BillingError::Escalation("the escalated tiers are not valid".into()))
}

fn expression(c: &ExpressionCharge, f: Decimal) -> Result<ExpressionCharge, BillingError> {
    let source = format!("({}) * {}", c.unit_price.source(), f);
    let unit_price = Expression::parse(&source).map_err(|e| {
        BillingError::Escalation(format!(
            "cannot escalate the unit price of charge '{}': {}",
            c.description, e.message
        ))
    })?;
    Ok(ExpressionCharge {
        description: c.description.clone(),
        billing_direction: c.billing_direction,
        quantity: c.quantity.clone(),
        unit_price,
    })
}

fn node(n: &Node, f: Decimal) -> Result<Node, BillingError> {
    Ok(Node {
        leaf: match &n.leaf {
            Some(cell) => Some(Cell {
                key: cell.key.clone(),
                label: cell.label.clone(),
                model: Box::new(escalate(&cell.model, f)?),
            }),
            None => None,
        },
        splits: n
            .splits
            .iter()
            .map(|s| {
                Ok(Split {
                    dimension_key: s.dimension_key.clone(),
                    branches: s
                        .branches
                        .iter()
                        .map(|(v, child)| Ok((v.clone(), node(child, f)?)))
                        .collect::<Result<_, BillingError>>()?,
                    wildcard: match &s.wildcard {
                        Some(w) => Some(Box::new(node(w, f)?)),
                        None => None,
                    },
                })
            })
            .collect::<Result<_, BillingError>>()?,
        fallback: match &n.fallback {
            Some(fb) => Some(Box::new(node(fb, f)?)),
            None => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;
    use rust_decimal::dec;

    use super::*;
    use crate::calendar::{Renewal, Term};

    fn esc(every: EscalationStep) -> Escalation {
        Escalation {
            percentage: dec!(5),
            every,
            metered: false,
        }
    }

    #[test]
    fn compounds_every_interval_from_the_contract_start() {
        let c = Contract::evergreen(date(2024, 1, 31));
        let yearly = esc(EscalationStep::Months(12));
        let f = |d| factor(&yearly, &c, d).unwrap();
        assert_eq!(f(date(2024, 1, 31)), dec!(1));
        assert_eq!(f(date(2025, 1, 30)), dec!(1));
        assert_eq!(f(date(2025, 1, 31)), dec!(1.05));
        assert_eq!(f(date(2026, 2, 28)), dec!(1.1025));
        assert_eq!(f(date(2023, 1, 1)), dec!(1));
    }

    #[test]
    fn renewal_steps_follow_the_terms() {
        let c = Contract::new(
            date(2024, 1, 1),
            Term::Fixed { months: 12 },
            Renewal {
                auto_renew: true,
                term: Some(Term::Fixed { months: 24 }),
            },
        );
        let e = esc(EscalationStep::Renewal);
        let f = |d| factor(&e, &c, d).unwrap();
        assert_eq!(f(date(2024, 12, 1)), dec!(1));
        assert_eq!(f(date(2025, 1, 1)), dec!(1.05));
        assert_eq!(f(date(2026, 12, 31)), dec!(1.05));
        assert_eq!(f(date(2027, 1, 1)), dec!(1.1025));
    }

    #[test]
    fn bad_escalations_are_errors() {
        let c = Contract::evergreen(date(2024, 1, 1));
        assert!(factor(&esc(EscalationStep::Months(0)), &c, date(2025, 1, 1)).is_err());
        let mut e = esc(EscalationStep::Months(1));
        e.percentage = dec!(-1);
        assert!(factor(&e, &c, date(2025, 1, 1)).is_err());
        e.percentage = dec!(100000000000000);
        assert_eq!(
            factor(&e, &c, date(2030, 1, 1)),
            Err(BillingError::Overflow)
        );
    }
}
