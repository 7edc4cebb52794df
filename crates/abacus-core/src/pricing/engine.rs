//! Turning a price and one period's usage into rounded charge lines.

use rust_decimal::Decimal;

use super::matrix::{Combination, Matrix};
use super::model::{Discount, ExpressionCharge, Price, PriceModel};
use super::tiers::{Tier, Tiers};
use super::{Charge, ChargeLine, LineKind, MatrixUsage, PricingError, PricingInput};
use crate::currency::Currency;
use crate::money::{self, format_amount, format_quantity, group_thousands};

/// Prices one period: the model's lines, then the discount, the minimum-spend true-up and the
/// maximum-spend cap, each a line of its own. The total is the sum of the rounded lines.
pub fn price(
    price: &Price,
    currency: Currency,
    input: &PricingInput,
) -> Result<Charge, PricingError> {
    let mut lines = Vec::new();
    model_lines(&price.model, currency, input, &mut lines)?;
    adjust(price, currency, &mut lines)?;
    // Rounding a sum of rounded lines changes nothing but gives an empty charge its scale.
    let total = money::round(money::sum(lines.iter().map(|l| l.amount))?, currency);
    Ok(Charge { lines, total })
}

/// The one place an amount is computed: quantity × unit price, rounded once.
fn line(
    currency: Currency,
    kind: LineKind,
    quantity: Decimal,
    unit_price: Decimal,
    description: String,
) -> Result<ChargeLine, PricingError> {
    let amount = money::round(money::mul(quantity, unit_price)?, currency);
    // So large that the minor units no longer fit in 28 digits: refuse rather than mis-render.
    if amount.scale() != currency.minor_units() {
        return Err(PricingError::Overflow);
    }
    Ok(ChargeLine {
        kind,
        description,
        quantity,
        unit_price,
        amount,
        tier: None,
        cell: None,
        charge: None,
    })
}

fn units_text(q: Decimal) -> String {
    let plural = if q == Decimal::ONE { "" } else { "s" };
    format!("{} unit{plural}", format_quantity(q))
}

fn non_negative(what: &'static str, value: Decimal) -> Result<Decimal, PricingError> {
    if value < Decimal::ZERO {
        Err(PricingError::Negative { what, value })
    } else {
        Ok(value)
    }
}

/// The units a unit-based model prices. `fixed_units` is a fixed fee's own quantity.
fn quantity(
    model: &PriceModel,
    input: &PricingInput,
    fixed_units: Option<Decimal>,
) -> Result<Decimal, PricingError> {
    match (input, fixed_units) {
        (PricingInput::Quantity(q), _) => non_negative("the quantity", *q),
        (PricingInput::NoUsage, Some(units)) => Ok(units),
        _ => Err(PricingError::WrongInput {
            model: model.type_name(),
            expected: "a quantity (PricingInput::Quantity)",
        }),
    }
}

/// The amount a percentage model prices, and the transactions when given.
fn amount(
    model: &PriceModel,
    input: &PricingInput,
) -> Result<(Decimal, Option<Decimal>), PricingError> {
    match input {
        PricingInput::Quantity(a) => Ok((non_negative("the amount", *a)?, None)),
        PricingInput::Volume {
            amount,
            transactions,
        } => Ok((
            non_negative("the amount", *amount)?,
            Some(non_negative("the number of transactions", *transactions)?),
        )),
        _ => Err(PricingError::WrongInput {
            model: model.type_name(),
            expected: "an amount (PricingInput::Quantity or PricingInput::Volume)",
        }),
    }
}

/// How a tier's rate applies: per unit, or as a percent number of an amount.
#[derive(Clone, Copy)]
enum Rate {
    PerUnit,
    Percent,
}

impl Rate {
    fn unit_price(self, rate: Decimal) -> Result<Decimal, PricingError> {
        match self {
            Rate::PerUnit => Ok(rate),
            Rate::Percent => Ok(money::percent(rate)?),
        }
    }

    fn describe(self, quantity: Decimal, rate: Decimal) -> String {
        match self {
            Rate::PerUnit => format!("{} × {}", units_text(quantity), group_thousands(rate)),
            Rate::Percent => format!(
                "{}% of {}",
                format_quantity(rate),
                format_quantity(quantity)
            ),
        }
    }
}

fn tier_label(index: usize, tier: &Tier) -> String {
    format!("tier {}: {}", index + 1, tier.range_label())
}

/// Line kinds and a description prefix for the lines of one priced range.
#[derive(Clone, Copy)]
struct Section {
    usage: LineKind,
    fee: LineKind,
    prefix: &'static str,
}

const PLAIN: Section = Section {
    usage: LineKind::Usage,
    fee: LineKind::Fee,
    prefix: "",
};

fn volume(
    tiers: &Tiers,
    quantity: Decimal,
    rate: Rate,
    currency: Currency,
    out: &mut Vec<ChargeLine>,
) -> Result<(), PricingError> {
    let (index, tier) = tiers.tier_for(quantity);
    let label = tier_label(index, tier);
    let mut usage = line(
        currency,
        LineKind::Usage,
        quantity,
        rate.unit_price(tier.rate)?,
        format!("{} ({label})", rate.describe(quantity, tier.rate)),
    )?;
    usage.tier = Some(index);
    out.push(usage);
    if !tier.fixed_fee.is_zero() {
        let mut fee = line(
            currency,
            LineKind::Fee,
            Decimal::ONE,
            tier.fixed_fee,
            format!("fixed fee ({label})"),
        )?;
        fee.tier = Some(index);
        out.push(fee);
    }
    Ok(())
}

/// Graduated pricing of the range `(from, to]`: one line per tier with units in it (the first
/// tier's line appears even at zero usage), and the fee of each tier first reached in the range.
fn graduated(
    tiers: &Tiers,
    from: Decimal,
    to: Decimal,
    rate: Rate,
    section: Section,
    currency: Currency,
    out: &mut Vec<ChargeLine>,
) -> Result<(), PricingError> {
    for part in tiers.graduated(from, to)? {
        let Some(tier) = tiers.as_slice().get(part.index) else {
            continue;
        };
        let label = tier_label(part.index, tier);
        let mut usage = line(
            currency,
            section.usage,
            part.units,
            rate.unit_price(tier.rate)?,
            format!(
                "{}{} ({label})",
                section.prefix,
                rate.describe(part.units, tier.rate)
            ),
        )?;
        usage.tier = Some(part.index);
        out.push(usage);
        if part.fee_due && !tier.fixed_fee.is_zero() {
            let mut fee = line(
                currency,
                section.fee,
                Decimal::ONE,
                tier.fixed_fee,
                format!("{}fixed fee ({label})", section.prefix),
            )?;
            fee.tier = Some(part.index);
            out.push(fee);
        }
    }
    Ok(())
}

fn prepaid(
    model: &PriceModel,
    tiers: &Tiers,
    prepaid_units: Decimal,
    input: &PricingInput,
    currency: Currency,
    out: &mut Vec<ChargeLine>,
) -> Result<(), PricingError> {
    let used = quantity(model, input, None)?;
    let block = non_negative("prepaid_units", prepaid_units)?;
    let prepaid = Section {
        usage: LineKind::Prepaid,
        fee: LineKind::Prepaid,
        prefix: "prepaid: ",
    };
    graduated(
        tiers,
        Decimal::ZERO,
        block,
        Rate::PerUnit,
        prepaid,
        currency,
        out,
    )?;
    if used > block {
        let overage = Section {
            usage: LineKind::Overage,
            fee: LineKind::Overage,
            prefix: "overage: ",
        };
        graduated(tiers, block, used, Rate::PerUnit, overage, currency, out)?;
    }
    Ok(())
}

fn package(
    model: &PriceModel,
    size: Decimal,
    price_per_package: Decimal,
    input: &PricingInput,
    currency: Currency,
    out: &mut Vec<ChargeLine>,
) -> Result<(), PricingError> {
    let used = quantity(model, input, None)?;
    if size <= Decimal::ZERO {
        return Err(PricingError::InvalidPrice(
            "package_size must be greater than 0",
        ));
    }
    // Exact ceiling division: a remainder starts one more package.
    let rest = used.checked_rem(size).ok_or(PricingError::Overflow)?;
    let full = money::sub(used, rest)?
        .checked_div(size)
        .ok_or(PricingError::Overflow)?;
    let packages = if rest.is_zero() {
        full
    } else {
        money::add(full, Decimal::ONE)?
    }
    .normalize();
    let partial = if rest.is_zero() {
        ""
    } else {
        ", the partial package rounded up"
    };
    let noun = if packages == Decimal::ONE {
        "package"
    } else {
        "packages"
    };
    out.push(line(
        currency,
        LineKind::Usage,
        packages,
        price_per_package,
        format!(
            "{} {noun} × {} ({} in packages of {}{partial})",
            format_quantity(packages),
            group_thousands(price_per_package),
            units_text(used),
            format_quantity(size),
        ),
    )?);
    Ok(())
}

fn expression(
    model: &PriceModel,
    charges: &[ExpressionCharge],
    input: &PricingInput,
    currency: Currency,
    out: &mut Vec<ChargeLine>,
) -> Result<(), PricingError> {
    let PricingInput::Metrics(values) = input else {
        return Err(PricingError::WrongInput {
            model: model.type_name(),
            expected: "metric values (PricingInput::Metrics)",
        });
    };
    for (i, charge) in charges.iter().enumerate() {
        let eval = |field: &'static str, e: &super::Expression| {
            let value = e
                .eval_with(values)
                .map_err(|error| PricingError::Expression {
                    charge: i,
                    field,
                    error,
                })?;
            if value < Decimal::ZERO {
                return Err(PricingError::NegativeExpression {
                    charge: i,
                    field,
                    value,
                });
            }
            Ok(value)
        };
        let q = eval("quantity_expression", &charge.quantity)?;
        let p = eval("unit_price_expression", &charge.unit_price)?;
        let mut l = line(
            currency,
            LineKind::Usage,
            q,
            p,
            format!(
                "{}: {} × {}",
                charge.description,
                format_quantity(q),
                group_thousands(p)
            ),
        )?;
        l.charge = Some(i);
        out.push(l);
    }
    Ok(())
}

struct CellUsage<'a> {
    quantity: Decimal,
    transactions: Option<Decimal>,
    combinations: Vec<&'a Combination>,
}

fn matrix(
    model: &PriceModel,
    m: &Matrix,
    input: &PricingInput,
    currency: Currency,
    out: &mut Vec<ChargeLine>,
) -> Result<(), PricingError> {
    let PricingInput::Matrix(rows) = input else {
        return Err(PricingError::WrongInput {
            model: model.type_name(),
            expected: "usage per dimension combination (PricingInput::Matrix)",
        });
    };
    let cells = m.cells();
    let mut usage: Vec<Option<CellUsage>> = cells.iter().map(|_| None).collect();
    for MatrixUsage {
        dimensions,
        quantity,
        transactions,
    } in rows
    {
        non_negative("a matrix quantity", *quantity)?;
        if let Some(t) = transactions {
            non_negative("a matrix transaction count", *t)?;
        }
        if let Some(key) = dimensions.keys().find(|k| m.dimension(k).is_none()) {
            return Err(PricingError::UnknownDimension(key.clone()));
        }
        let describe = || {
            let pairs: Vec<String> = dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{{{}}}", pairs.join(", "))
        };
        let cell = m
            .resolve(dimensions)
            .ok_or_else(|| PricingError::NoMatrixCell(describe()))?;
        let slot = cells
            .iter()
            .position(|c| std::ptr::eq(*c, cell))
            .and_then(|i| usage.get_mut(i))
            .ok_or_else(|| PricingError::NoMatrixCell(describe()))?;
        match slot {
            None => {
                *slot = Some(CellUsage {
                    quantity: *quantity,
                    transactions: *transactions,
                    combinations: vec![dimensions],
                })
            }
            Some(u) => {
                u.quantity = money::add(u.quantity, *quantity)?;
                u.transactions = match (u.transactions, transactions) {
                    (Some(a), Some(b)) => Some(money::add(a, *b)?),
                    (a, b) => a.or(*b),
                };
                u.combinations.push(dimensions);
            }
        }
    }
    for (cell, used) in cells.iter().zip(&usage) {
        let Some(used) = used else { continue };
        let cell_input = match (&*cell.model, used.transactions) {
            (PriceModel::Fixed { .. }, _) => PricingInput::NoUsage,
            (PriceModel::VolumePercentage { .. }, Some(transactions)) => PricingInput::Volume {
                amount: used.quantity,
                transactions,
            },
            _ => PricingInput::Quantity(used.quantity),
        };
        let mut cell_lines = Vec::new();
        model_lines(&cell.model, currency, &cell_input, &mut cell_lines)?;
        let name = m.cell_name(cell, &used.combinations);
        for mut l in cell_lines {
            l.description = format!("{name}: {}", l.description);
            l.cell = Some(cell.key.clone());
            out.push(l);
        }
    }
    Ok(())
}

fn model_lines(
    model: &PriceModel,
    currency: Currency,
    input: &PricingInput,
    out: &mut Vec<ChargeLine>,
) -> Result<(), PricingError> {
    match model {
        PriceModel::Unit { price_per_unit } => {
            let q = quantity(model, input, None)?;
            out.push(line(
                currency,
                LineKind::Usage,
                q,
                *price_per_unit,
                Rate::PerUnit.describe(q, *price_per_unit),
            )?);
        }
        PriceModel::Fixed {
            price_per_unit,
            units,
        } => {
            if *input != PricingInput::NoUsage {
                return Err(PricingError::WrongInput {
                    model: model.type_name(),
                    expected: "no usage (PricingInput::NoUsage)",
                });
            }
            out.push(line(
                currency,
                LineKind::Fee,
                *units,
                *price_per_unit,
                format!(
                    "{} (fixed)",
                    Rate::PerUnit.describe(*units, *price_per_unit)
                ),
            )?);
        }
        PriceModel::Tiered { tiers, units } => {
            let q = quantity(model, input, *units)?;
            volume(tiers, q, Rate::PerUnit, currency, out)?;
        }
        PriceModel::GraduatedTiered { tiers, units } => {
            let q = quantity(model, input, *units)?;
            graduated(tiers, Decimal::ZERO, q, Rate::PerUnit, PLAIN, currency, out)?;
        }
        PriceModel::TieredPercentage { tiers } => {
            let (a, _) = amount(model, input)?;
            volume(tiers, a, Rate::Percent, currency, out)?;
        }
        PriceModel::GraduatedPercentage { tiers } => {
            let (a, _) = amount(model, input)?;
            graduated(tiers, Decimal::ZERO, a, Rate::Percent, PLAIN, currency, out)?;
        }
        PriceModel::VolumePercentage {
            percentage,
            price_per_unit,
            fixed_fee,
        } => {
            let (a, transactions) = amount(model, input)?;
            out.push(line(
                currency,
                LineKind::Usage,
                a,
                money::percent(*percentage)?,
                Rate::Percent.describe(a, *percentage),
            )?);
            if !price_per_unit.is_zero() {
                let n = transactions.ok_or(PricingError::WrongInput {
                    model: model.type_name(),
                    expected: "an amount and a transaction count (PricingInput::Volume) when \
                               price_per_unit is not 0",
                })?;
                let plural = if n == Decimal::ONE { "" } else { "s" };
                out.push(line(
                    currency,
                    LineKind::Usage,
                    n,
                    *price_per_unit,
                    format!(
                        "{} transaction{plural} × {}",
                        format_quantity(n),
                        group_thousands(*price_per_unit)
                    ),
                )?);
            }
            if !fixed_fee.is_zero() {
                out.push(line(
                    currency,
                    LineKind::Fee,
                    Decimal::ONE,
                    *fixed_fee,
                    "fixed fee".into(),
                )?);
            }
        }
        PriceModel::PrepaidTiered {
            prepaid_units,
            tiers,
        }
        | PriceModel::PrepaidFixedTiered {
            prepaid_units,
            tiers,
            ..
        } => prepaid(model, tiers, *prepaid_units, input, currency, out)?,
        PriceModel::Expression { charges } => expression(model, charges, input, currency, out)?,
        PriceModel::Matrix(m) => matrix(model, m, input, currency, out)?,
        PriceModel::Package {
            package_size,
            price_per_package,
        } => package(
            model,
            *package_size,
            *price_per_package,
            input,
            currency,
            out,
        )?,
    }
    Ok(())
}

/// Discount, then minimum and maximum spend, applied to what the lines so far add up to.
fn adjust(
    price: &Price,
    currency: Currency,
    lines: &mut Vec<ChargeLine>,
) -> Result<(), PricingError> {
    let mut running = money::sum(lines.iter().map(|l| l.amount))?;
    if let Some(discount) = price.discount {
        let l = match discount {
            Discount::Percentage(p) => line(
                currency,
                LineKind::Discount,
                running,
                -money::percent(p)?,
                format!(
                    "discount {}% of {}",
                    format_quantity(p),
                    format_amount(running, currency)
                ),
            )?,
            Discount::Fixed(a) => {
                let wanted = money::round(a, currency);
                let off = wanted.min(running.max(Decimal::ZERO));
                let note = if off < wanted {
                    " (capped at the subtotal)"
                } else {
                    ""
                };
                line(
                    currency,
                    LineKind::Discount,
                    Decimal::ONE,
                    -off,
                    format!("discount {}{note}", format_amount(wanted, currency)),
                )?
            }
        };
        if !l.amount.is_zero() {
            running = money::add(running, l.amount)?;
            lines.push(l);
        }
    }
    if let Some(minimum) = price.minimum_spend {
        let minimum = money::round(minimum, currency);
        if running < minimum {
            lines.push(line(
                currency,
                LineKind::MinimumSpend,
                Decimal::ONE,
                money::sub(minimum, running)?,
                format!(
                    "minimum spend {} (true-up from {})",
                    format_amount(minimum, currency),
                    format_amount(running, currency)
                ),
            )?);
            running = minimum;
        }
    }
    if let Some(maximum) = price.maximum_spend {
        let maximum = money::round(maximum, currency);
        if running > maximum {
            lines.push(line(
                currency,
                LineKind::MaximumSpend,
                Decimal::ONE,
                money::sub(maximum, running)?,
                format!(
                    "maximum spend {} (capped from {})",
                    format_amount(maximum, currency),
                    format_amount(running, currency)
                ),
            )?);
        }
    }
    Ok(())
}
