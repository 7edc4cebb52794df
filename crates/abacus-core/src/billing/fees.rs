//! Fixed fees: in advance for the period starting, in arrears for the period ending, settled by
//! proration where a version change or a cancellation falls inside a period, and one-off charges.
//!
//! Every fee is priced for its whole period (`pricing::price` with no usage) and each of the
//! charge's lines is then prorated by whole local days, `days / cycle days`, and rounded once.

use jiff::civil::Date;

use super::charge::{kind_of, price_item, prorated};
use super::describe;
use super::error::BillingError;
use super::input::{Item, Version};
use super::invoice::{InvoiceLine, InvoiceLineKind};
use super::timeline::{Key, Timeline};
use crate::calendar::{BillingPeriod, Period, Proration};
use crate::pricing::{BillingDirection, PricingInput};
use crate::time::Micros;

fn is_advance(item: &Item) -> bool {
    !item.is_metered() && item.direction == BillingDirection::Advance
}

fn is_arrears(item: &Item) -> bool {
    !item.is_metered() && item.direction == BillingDirection::Arrears
}

/// The fee days `[from, to)` as a period.
fn days_period(tl: &Timeline, from: Date, to: Date) -> Result<Period, BillingError> {
    Ok(Period {
        start: tl.midnight(from)?,
        end: tl.midnight(to)?,
        start_date: from,
        end_date: to,
    })
}

fn description(kind: InvoiceLineKind, name: &str, line: &str, days: &str) -> String {
    match kind {
        InvoiceLineKind::ProrationCredit => format!("Unused time on {name}: {line}{days}"),
        InvoiceLineKind::ProrationCharge => format!("Remaining time on {name}: {line}{days}"),
        InvoiceLineKind::OneOff => format!("{name}: {line} (one-off)"),
        _ => format!("{name}: {line}{days}"),
    }
}

/// What one fee line is about.
struct Fee<'a, 'b> {
    key: &'b Key<'a>,
    item: &'a Item,
    version: Option<&'a Version>,
    period: &'b BillingPeriod,
}

impl Fee<'_, '_> {
    /// The charge's lines over the days `[from, to)` of the period's cycle.
    fn charge(
        &self,
        tl: &Timeline,
        from: Date,
        to: Date,
        kind: InvoiceLineKind,
        out: &mut Vec<InvoiceLine>,
    ) -> Result<(), BillingError> {
        let Some(cycle) = &self.period.cycle else {
            return Ok(());
        };
        let share = Proration::within(&cycle.period, from, to);
        if share.is_zero() {
            return Ok(());
        }
        let charge = price_item(
            tl,
            self.key,
            self.item,
            self.period.period.start_date,
            Proration::FULL,
            &PricingInput::NoUsage,
        )?;
        let days = describe::fee_days(from, to, share);
        for cl in &charge.lines {
            out.push(InvoiceLine {
                kind: kind_of(cl.kind, kind),
                description: description(kind, &self.item.name, &cl.description, &days),
                product_id: Some(self.item.product_id.clone()),
                item_key: Some(self.item.key.clone()),
                version_id: self.version.map(|v| v.id.clone()),
                quantity: cl.quantity,
                unit_price: cl.unit_price,
                proration: (!share.is_full()).then_some(share),
                amount: prorated(cl, share, tl.sub.currency)?,
                tax: Default::default(),
                period: Some(days_period(tl, from, to)?),
                pricing_kind: Some(cl.kind),
                credit_grant_id: None,
            });
        }
        Ok(())
    }

    /// Credits the days `[kept_to, end)` of a fee billed for `[billed_from, end)`: what was billed
    /// minus what the kept days `[billed_from, kept_to)` cost, so the two add back exactly.
    fn credit(
        &self,
        tl: &Timeline,
        billed_from: Date,
        kept_to: Date,
        end: Date,
        out: &mut Vec<InvoiceLine>,
    ) -> Result<(), BillingError> {
        let Some(cycle) = &self.period.cycle else {
            return Ok(());
        };
        let unused = Proration::within(&cycle.period, kept_to, end);
        if unused.is_zero() {
            return Ok(());
        }
        let billed = Proration::within(&cycle.period, billed_from, end);
        let kept = Proration::within(&cycle.period, billed_from, kept_to);
        let charge = price_item(
            tl,
            self.key,
            self.item,
            self.period.period.start_date,
            Proration::FULL,
            &PricingInput::NoUsage,
        )?;
        let kind = InvoiceLineKind::ProrationCredit;
        let days = describe::fee_days(kept_to, end, unused);
        let currency = tl.sub.currency;
        for cl in &charge.lines {
            let amount = crate::money::sub(
                prorated(cl, kept, currency)?,
                prorated(cl, billed, currency)?,
            )?;
            out.push(InvoiceLine {
                kind,
                description: description(kind, &self.item.name, &cl.description, &days),
                product_id: Some(self.item.product_id.clone()),
                item_key: Some(self.item.key.clone()),
                version_id: self.version.map(|v| v.id.clone()),
                quantity: cl.quantity,
                unit_price: -cl.unit_price,
                proration: Some(unused),
                amount,
                tax: Default::default(),
                period: Some(days_period(tl, kept_to, end)?),
                pricing_kind: Some(cl.kind),
                credit_grant_id: None,
            });
        }
        Ok(())
    }
}

/// Advance fees of calendar `ci` for the period `opening` starting now (as it would run without
/// a cancellation: a cancellation inside it is credited when it happens).
pub(crate) fn advance(
    tl: &Timeline,
    ci: usize,
    opening: &BillingPeriod,
    out: &mut Vec<InvoiceLine>,
) -> Result<(), BillingError> {
    let x = opening.period.start;
    for key in &tl.keys {
        let Some((item, version)) = tl.recurring_at(key.key, ci, x) else {
            continue;
        };
        if !is_advance(item) {
            continue;
        }
        let from = opening.period.start_date.max(key.trial_end);
        let fee = Fee {
            key,
            item,
            version: Some(version),
            period: opening,
        };
        fee.charge(
            tl,
            from,
            opening.period.end_date,
            InvoiceLineKind::FixedAdvance,
            out,
        )?;
    }
    Ok(())
}

/// Advance fees of calendar `ci` where their definition changes at `x`, inside `period` (which
/// started before `x`): the old definition's unused days are credited, the new one is charged for
/// the days left. The day of the change belongs to the new definition. At the end of service
/// every advance fee is credited for the days after it.
pub(crate) fn settle(
    tl: &Timeline,
    ci: usize,
    period: &BillingPeriod,
    x: Micros,
    out: &mut Vec<InvoiceLine>,
) -> Result<(), BillingError> {
    let p = &period.period;
    let ends = tl.end == Some(x);
    let x_date = tl.date(x)?.max(p.start_date).min(p.end_date);
    for key in &tl.keys {
        let runs = tl.segments(key.key, ci, p.start, x);
        let Some(run) = runs.last() else {
            continue;
        };
        let old = run.item.filter(|i| is_advance(i));
        let new = if ends {
            None
        } else {
            tl.recurring_at(key.key, ci, x)
                .filter(|(i, _)| is_advance(i))
        };
        let unchanged = match (old, new) {
            (None, None) => true,
            (Some(a), Some((b, _))) => a.bills_like(b),
            _ => false,
        };
        if unchanged {
            continue;
        }
        if let Some(item) = old {
            // The old definition was billed from the start of its run (the period start, or the
            // change that brought it in) to the period end.
            let run_start = if run.from <= p.start {
                p.start_date
            } else {
                tl.date(run.from)?
            };
            let billed_from = run_start.max(key.trial_end).min(p.end_date);
            let fee = Fee {
                key,
                item,
                version: run.version,
                period,
            };
            fee.credit(tl, billed_from, x_date.max(billed_from), p.end_date, out)?;
        }
        if let Some((item, version)) = new {
            let fee = Fee {
                key,
                item,
                version: Some(version),
                period,
            };
            fee.charge(
                tl,
                x_date.max(key.trial_end),
                p.end_date,
                InvoiceLineKind::ProrationCharge,
                out,
            )?;
        }
    }
    Ok(())
}

/// Arrears fees of calendar `ci` for the period `closing` ending now, each definition for the
/// days it was in effect.
pub(crate) fn arrears(
    tl: &Timeline,
    ci: usize,
    closing: &BillingPeriod,
    out: &mut Vec<InvoiceLine>,
) -> Result<(), BillingError> {
    let p = &closing.period;
    for key in &tl.keys {
        for seg in tl.segments(key.key, ci, p.start, p.end) {
            let Some(item) = seg.item.filter(|i| is_arrears(i)) else {
                continue;
            };
            let (from, to) = tl.fee_days(seg.from, seg.to, closing)?;
            let fee = Fee {
                key,
                item,
                version: seg.version,
                period: closing,
            };
            fee.charge(
                tl,
                from.max(key.trial_end),
                to,
                InvoiceLineKind::FixedArrears,
                out,
            )?;
        }
    }
    Ok(())
}

/// One-off items due at the boundary `x`: each is charged once, in full, at the first boundary at
/// or after its charge instant: its start with `charge_on_contract_start`, otherwise the first
/// billed instant (after the subscription's and the item's trials).
pub(crate) fn one_offs(
    tl: &Timeline,
    x: Micros,
    out: &mut Vec<InvoiceLine>,
) -> Result<(), BillingError> {
    let prev = tl.prev_boundary(x)?;
    for key in &tl.keys {
        let item = key.first;
        if item.is_recurring() {
            continue;
        }
        let at = if item.charge_on_contract_start {
            key.start
        } else {
            key.start.max(tl.paid_start).max(key.trial_end_at)
        };
        if at > x || prev.is_some_and(|p| at <= p) {
            continue;
        }
        let main = tl.cals.first().map(|c| &c.served);
        let period = match main {
            Some(cal) => match cal.period_at(at)? {
                Some(p) => Some(p.period),
                None => cal.period_at(at.saturating_sub(1))?.map(|p| p.period),
            },
            None => None,
        };
        let charge = price_item(
            tl,
            key,
            item,
            tl.date(at)?,
            Proration::FULL,
            &PricingInput::NoUsage,
        )?;
        for cl in &charge.lines {
            let kind = kind_of(cl.kind, InvoiceLineKind::OneOff);
            out.push(InvoiceLine {
                kind,
                description: description(InvoiceLineKind::OneOff, &item.name, &cl.description, ""),
                product_id: Some(item.product_id.clone()),
                item_key: Some(item.key.clone()),
                version_id: Some(key.first_version.id.clone()),
                quantity: cl.quantity,
                unit_price: cl.unit_price,
                proration: None,
                amount: cl.amount,
                tax: Default::default(),
                period,
                pricing_kind: Some(cl.kind),
                credit_grant_id: None,
            });
        }
    }
    Ok(())
}
