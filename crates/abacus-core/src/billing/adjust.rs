//! Subscription-level discount and spend thresholds, applied per billing period to the recurring
//! lines of that period (fixed fees, their proration, usage); one-off charges are left out.
//!
//! - A **percentage** discount is a line on every invoice, for each period it has lines of: the
//!   percentage of those lines (of a net credit too, so a refunded fee is refunded discounted).
//! - A **fixed** discount is taken once per period, on the invoice that closes it, from what the
//!   whole period's lines add up to (never more than that).
//! - **Minimum and maximum spend** are settled on the invoice that closes a period of the
//!   subscription's own interval, against that period's whole spend after the discount: the
//!   advance fees billed when it opened, the proration of any change in it, its arrears fees and
//!   usage. They are prorated for a partial period.

use rust_decimal::Decimal;

use super::charge::{apply, round};
use super::describe;
use super::error::BillingError;
use super::invoice::{InvoiceLine, InvoiceLineKind};
use super::timeline::Timeline;
use crate::calendar::{BillingPeriod, Proration};
use crate::money::{self, format_amount, format_quantity};
use crate::pricing::{Discount, LineKind};

/// The lines of one calendar's billing period on one invoice.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    /// The calendar (`0` is the subscription's own interval).
    pub ci: usize,
    pub period: BillingPeriod,
    /// Whether the period ends at this invoice's boundary (as served).
    pub closes: bool,
    pub lines: Vec<InvoiceLine>,
}

impl Group {
    pub fn same_period(&self, other: &Group) -> bool {
        self.ci == other.ci && self.period.period.start == other.period.period.start
    }

    pub fn total(&self) -> Result<Decimal, BillingError> {
        Ok(money::sum(self.lines.iter().map(|l| l.amount))?)
    }
}

fn line(
    kind: InvoiceLineKind,
    description: String,
    quantity: Decimal,
    unit_price: Decimal,
    amount: Decimal,
    group: &Group,
    pricing_kind: LineKind,
) -> InvoiceLine {
    InvoiceLine {
        kind,
        description,
        product_id: None,
        item_key: None,
        version_id: None,
        quantity,
        unit_price,
        proration: None,
        amount,
        tax: Decimal::ZERO,
        period: Some(group.period.period),
        pricing_kind: Some(pricing_kind),
        credit_grant_id: None,
    }
}

fn period_text(group: &Group) -> String {
    let p = &group.period.period;
    describe::days(p.start_date, p.end_date)
}

fn active_discount(tl: &Timeline, group: &Group) -> Option<Discount> {
    let terms = tl.sub.discount?;
    terms
        .active_on(
            tl.sub.calendar.contract.start,
            group.period.period.start_date,
        )
        .then_some(terms.discount)
}

/// The percentage discount of the group's lines on this invoice.
pub(crate) fn percentage_discount(
    tl: &Timeline,
    group: &Group,
) -> Result<Option<InvoiceLine>, BillingError> {
    let Some(Discount::Percentage(p)) = active_discount(tl, group) else {
        return Ok(None);
    };
    let base = group.total()?;
    let rate = -money::percent(p)?;
    let amount = round(money::mul(base, rate)?, tl.sub.currency)?;
    if amount.is_zero() {
        return Ok(None);
    }
    Ok(Some(line(
        InvoiceLineKind::Discount,
        format!(
            "Discount {}% of {}, {}",
            format_quantity(p),
            format_amount(base, tl.sub.currency),
            period_text(group)
        ),
        base,
        rate,
        amount,
        group,
        LineKind::Discount,
    )))
}

/// The fixed discount of a period closing now, from what its lines add up to (`period_total`).
pub(crate) fn fixed_discount(
    tl: &Timeline,
    group: &Group,
    period_total: Decimal,
) -> Result<Option<InvoiceLine>, BillingError> {
    let Some(Discount::Fixed(a)) = active_discount(tl, group) else {
        return Ok(None);
    };
    let currency = tl.sub.currency;
    let wanted = round(a, currency)?;
    let off = wanted.min(period_total.max(Decimal::ZERO));
    if off <= Decimal::ZERO {
        return Ok(None);
    }
    let note = if off < wanted {
        " (capped at the period's charges)"
    } else {
        ""
    };
    Ok(Some(line(
        InvoiceLineKind::Discount,
        format!(
            "Discount {}{note}, {}",
            format_amount(wanted, currency),
            period_text(group)
        ),
        Decimal::ONE,
        -off,
        -off,
        group,
        LineKind::Discount,
    )))
}

/// Whether closing this group needs the whole period's lines.
pub(crate) fn needs_period_total(tl: &Timeline, group: &Group) -> bool {
    group.closes
        && (matches!(active_discount(tl, group), Some(Discount::Fixed(_)))
            || (group.ci == 0
                && (tl.sub.minimum_spend.is_some() || tl.sub.maximum_spend.is_some())))
}

/// The minimum-spend true-up and maximum-spend cap of a main period closing now, given what the
/// period's lines (after discounts) add up to.
pub(crate) fn thresholds(
    tl: &Timeline,
    group: &Group,
    spend: Decimal,
    out: &mut Vec<InvoiceLine>,
) -> Result<(), BillingError> {
    if group.ci != 0 || !group.closes {
        return Ok(());
    }
    let currency = tl.sub.currency;
    let share = group.period.proration();
    let scaled = |amount: Decimal| -> Result<Decimal, BillingError> {
        let part = if share.is_full() {
            amount
        } else {
            apply(share, amount)?
        };
        round(part, currency)
    };
    let partial = |share: Proration| {
        if share.is_full() {
            String::new()
        } else {
            format!(" ({} of {} days)", share.days(), share.period_days())
        }
    };
    let mut running = spend;
    if let Some(minimum) = tl.sub.minimum_spend {
        let minimum = scaled(minimum)?;
        if running < minimum {
            let amount = money::sub(minimum, running)?;
            out.push(line(
                InvoiceLineKind::MinimumSpend,
                format!(
                    "Minimum spend {}{} for {}: true-up from {}",
                    format_amount(minimum, currency),
                    partial(share),
                    period_text(group),
                    format_amount(running, currency)
                ),
                Decimal::ONE,
                amount,
                amount,
                group,
                LineKind::MinimumSpend,
            ));
            running = minimum;
        }
    }
    if let Some(maximum) = tl.sub.maximum_spend {
        let maximum = scaled(maximum)?;
        if running > maximum {
            let amount = money::sub(maximum, running)?;
            out.push(line(
                InvoiceLineKind::MaximumSpend,
                format!(
                    "Maximum spend {}{} for {}: capped from {}",
                    format_amount(maximum, currency),
                    partial(share),
                    period_text(group),
                    format_amount(running, currency)
                ),
                Decimal::ONE,
                amount,
                amount,
                group,
                LineKind::MaximumSpend,
            ));
        }
    }
    Ok(())
}
