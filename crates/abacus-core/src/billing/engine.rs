//! The billing function: one invoice per boundary, from the subscription's history alone.

use rust_decimal::Decimal;

use super::adjust::{self, Group};
use super::credits;
use super::error::BillingError;
use super::fees;
use super::input::{InvoiceContext, Subscription};
use super::invoice::{Invoice, InvoiceLine, InvoiceLineKind};
use super::metered;
use super::timeline::Timeline;
use super::usage::{Usage, UsageRequest};
use crate::money;
use crate::time::Micros;

/// A subscription prepared for billing: its calendars and versions laid out once, for any number
/// of boundaries (a scheduler catching up on a backdated subscription, or a preview).
#[derive(Debug, Clone)]
pub struct Biller<'a> {
    tl: Timeline<'a>,
}

impl<'a> Biller<'a> {
    /// Checks the subscription (versions, calendar) and lays it out.
    pub fn new(sub: &'a Subscription) -> Result<Self, BillingError> {
        for (what, v) in [
            ("the minimum spend", sub.minimum_spend),
            ("the maximum spend", sub.maximum_spend),
        ] {
            if let Some(value) = v.filter(|v| *v < Decimal::ZERO) {
                return Err(BillingError::Negative { what, value });
            }
        }
        Ok(Biller {
            tl: Timeline::new(sub)?,
        })
    }

    /// The first instant served.
    pub fn service_start(&self) -> Micros {
        self.tl.start
    }

    /// The end of service, if the subscription ends.
    pub fn service_end(&self) -> Option<Micros> {
        self.tl.end
    }

    /// Whether the subscription has an invoice at `at`.
    pub fn is_boundary(&self, at: Micros) -> Result<bool, BillingError> {
        self.tl.is_boundary(at)
    }

    /// Every boundary in `[from, to)`, in order. Pass a bounded range: an evergreen subscription
    /// has boundaries until the end of the calendar.
    pub fn boundaries(&self, from: Micros, to: Micros) -> Result<Vec<Micros>, BillingError> {
        self.tl.boundaries(from, to)
    }

    /// The first boundary after `after`.
    pub fn next_boundary(&self, after: Micros) -> Result<Option<Micros>, BillingError> {
        let Some(from) = after.checked_add(1) else {
            return Ok(None);
        };
        if from <= self.tl.start {
            return Ok(Some(self.tl.start));
        }
        if self.tl.end.is_some_and(|e| from > e) {
            return Ok(None);
        }
        // The service end, the next period start of each calendar, or the next change.
        let mut best = self.tl.end;
        for cal in &self.tl.cals {
            let next = match cal.served.period_at(from)? {
                Some(p) if p.period.start == from => Some(from),
                Some(p) => Some(p.period.end),
                None => None,
            };
            best = min_some(best, next);
        }
        let i = self.tl.changes.partition_point(|&c| c < from);
        best = min_some(best, self.tl.changes.get(i).copied());
        Ok(best.filter(|&b| self.tl.end.is_none_or(|e| b <= e)))
    }

    /// The boundary whose invoice is the "upcoming invoice" at `now`: the end of the
    /// subscription's billing period containing `now` (its usage so far, its arrears, and the
    /// next period's advance fees), or the service start before it; `None` once service ended.
    pub fn upcoming_boundary(&self, now: Micros) -> Result<Option<Micros>, BillingError> {
        if now < self.tl.start {
            return Ok(Some(self.tl.start));
        }
        let Some(cal) = self.tl.cals.first() else {
            return Ok(None);
        };
        Ok(cal.served.period_at(now)?.map(|p| p.period.end))
    }

    /// The usage the invoice at `boundary` needs, without duplicates, in a stable order.
    pub fn usage_requests(&self, boundary: Micros) -> Result<Vec<UsageRequest>, BillingError> {
        self.check_boundary(boundary)?;
        let mut requests = Vec::new();
        self.groups_at(boundary, None, &mut requests)?;
        requests.sort();
        requests.dedup();
        Ok(requests)
    }

    /// The invoice at `boundary`, with the usage asked for by [`Biller::usage_requests`].
    pub fn bill(
        &self,
        boundary: Micros,
        usage: &Usage,
        cx: &InvoiceContext,
    ) -> Result<Invoice, BillingError> {
        let tl = &self.tl;
        let currency = tl.sub.currency;
        if cx.tax_rate < Decimal::ZERO || cx.tax_rate > Decimal::ONE {
            return Err(BillingError::TaxRate(cx.tax_rate));
        }
        credits::check(&cx.credits)?;
        self.check_boundary(boundary)?;

        let mut scratch = Vec::new();
        let groups = self.groups_at(boundary, Some(usage), &mut scratch)?;
        let mut lines: Vec<InvoiceLine> = Vec::new();
        for group in &groups {
            lines.extend(group.lines.iter().cloned());
            let items = group.total()?;
            let discount = adjust::percentage_discount(tl, group)?;
            let here = money::add(items, discount.as_ref().map_or(Decimal::ZERO, |d| d.amount))?;
            lines.extend(discount);
            if adjust::needs_period_total(tl, group) {
                let (earlier_items, earlier_discounts) = self.earlier(group, boundary)?;
                let period_items = money::add(earlier_items, items)?;
                let mut spend = money::add(money::add(earlier_items, earlier_discounts)?, here)?;
                if let Some(d) = adjust::fixed_discount(tl, group, period_items)? {
                    spend = money::add(spend, d.amount)?;
                    lines.push(d);
                }
                adjust::thresholds(tl, group, spend, &mut lines)?;
            }
        }
        fees::one_offs(tl, boundary, &mut lines)?;
        credits::tax(&mut lines, cx.tax_rate, currency)?;

        let zero = money::round(Decimal::ZERO, currency);
        let subtotal = money::round(money::sum(lines.iter().map(|l| l.amount))?, currency);
        let tax = money::round(money::sum(lines.iter().map(|l| l.tax))?, currency);
        let before_credits = money::add(subtotal, tax)?;
        let draws = credits::draw(
            &cx.credits,
            cx.credits_as_of.unwrap_or(boundary),
            before_credits,
            currency,
        )?;
        for d in &draws {
            let grant = cx.credits.iter().find(|g| g.id == d.grant_id);
            lines.push(InvoiceLine {
                kind: InvoiceLineKind::CreditApplied,
                description: grant.map_or_else(
                    || format!("Credit applied (grant {})", d.grant_id),
                    credits::describe,
                ),
                product_id: None,
                item_key: None,
                version_id: None,
                quantity: Decimal::ONE,
                unit_price: -d.amount,
                proration: None,
                amount: -d.amount,
                tax: zero,
                period: None,
                pricing_kind: None,
                credit_grant_id: Some(d.grant_id.clone()),
            });
        }
        let credits_applied = money::round(money::sum(draws.iter().map(|d| d.amount))?, currency);
        let total = money::sub(before_credits, credits_applied)?;

        let main = tl.cals.first();
        Ok(Invoice {
            boundary,
            currency,
            tax_rate: cx.tax_rate,
            closing: match main {
                Some(c) => c.closing(boundary)?.map(|p| p.period),
                None => None,
            },
            opening: match main {
                Some(c) => c.opening(boundary)?.map(|p| p.period),
                None => None,
            },
            lines,
            subtotal,
            tax,
            total_before_credits: before_credits,
            credits_applied,
            total,
            credit_draws: draws,
        })
    }

    fn check_boundary(&self, at: Micros) -> Result<(), BillingError> {
        if self.tl.is_boundary(at)? {
            Ok(())
        } else {
            Err(BillingError::NotABoundary(at))
        }
    }

    /// The recurring lines at boundary `x`, by billing period: each calendar's period closing at
    /// `x` (arrears fees, usage, and the credits of an end of service), the period `x` falls
    /// inside (the proration of a change), and the period opening at `x` (advance fees).
    fn groups_at(
        &self,
        x: Micros,
        usage: Option<&Usage>,
        requests: &mut Vec<UsageRequest>,
    ) -> Result<Vec<Group>, BillingError> {
        let tl = &self.tl;
        let mut groups: Vec<Group> = Vec::new();
        for (ci, cal) in tl.cals.iter().enumerate() {
            if let Some(period) = cal.closing(x)? {
                let mut lines = Vec::new();
                fees::arrears(tl, ci, &period, &mut lines)?;
                metered::usage(tl, ci, &period, usage, requests, &mut lines)?;
                groups.push(Group {
                    ci,
                    period,
                    closes: true,
                    lines,
                });
            }
            if let Some(period) = cal.around(x)? {
                let mut lines = Vec::new();
                fees::settle(tl, ci, &period, x, &mut lines)?;
                let group = Group {
                    ci,
                    period,
                    closes: false,
                    lines,
                };
                match groups.iter_mut().find(|g| g.same_period(&group)) {
                    Some(g) => g.lines.extend(group.lines),
                    None => groups.push(group),
                }
            }
            if let Some(period) = cal.opening(x)? {
                let mut lines = Vec::new();
                fees::advance(tl, ci, &period, &mut lines)?;
                groups.push(Group {
                    ci,
                    period,
                    closes: false,
                    lines,
                });
            }
        }
        Ok(groups)
    }

    /// What the period of `group` was billed on earlier invoices: its recurring lines and
    /// percentage discounts at every boundary from its start to before `x`. Only fixed fees are
    /// billed before a period closes, so no usage is needed.
    fn earlier(&self, group: &Group, x: Micros) -> Result<(Decimal, Decimal), BillingError> {
        let mut items = Decimal::ZERO;
        let mut discounts = Decimal::ZERO;
        let mut scratch = Vec::new();
        for y in self.tl.boundaries(group.period.period.start, x)? {
            for g in self.groups_at(y, None, &mut scratch)? {
                if g.same_period(group) {
                    items = money::add(items, g.total()?)?;
                    if let Some(d) = adjust::percentage_discount(&self.tl, &g)? {
                        discounts = money::add(discounts, d.amount)?;
                    }
                }
            }
        }
        Ok((items, discounts))
    }
}

fn min_some(a: Option<Micros>, b: Option<Micros>) -> Option<Micros> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The usage the invoice at `boundary` needs. See [`Biller::usage_requests`].
pub fn usage_requests(
    sub: &Subscription,
    boundary: Micros,
) -> Result<Vec<UsageRequest>, BillingError> {
    Biller::new(sub)?.usage_requests(boundary)
}

/// The invoice of `sub` at `boundary`. See [`Biller::bill`].
pub fn bill(
    sub: &Subscription,
    boundary: Micros,
    usage: &Usage,
    cx: &InvoiceContext,
) -> Result<Invoice, BillingError> {
    Biller::new(sub)?.bill(boundary, usage, cx)
}
