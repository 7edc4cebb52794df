//! A subscription laid out in time: its calendars (one per billing interval its items use), its
//! versions as non-overlapping spans, its items by key, and its billing boundaries.
//!
//! A **boundary** is an instant at which the subscription is invoiced: the service start, the
//! start of every billing period of every calendar (trial or paid), the instant a version takes
//! or leaves effect, and the end of service. Each boundary has exactly one invoice.

use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::error::BillingError;
use super::input::{Item, Subscription, Version};
use crate::calendar::{
    BillingPeriod, CalendarError, CalendarTerms, Interval, PeriodKind, SubscriptionCalendar,
    local_date, start_of_day,
};
use crate::time::Micros;

/// The calendar of one billing interval: as served (cut at a cancellation) and as it would run
/// without the cancellation (what advance fees were billed for).
#[derive(Debug, Clone)]
pub(crate) struct Cal {
    pub interval: Interval,
    pub served: SubscriptionCalendar,
    pub full: SubscriptionCalendar,
}

impl Cal {
    /// The paid period that ends exactly at `x`, as served.
    pub fn closing(&self, x: Micros) -> Result<Option<BillingPeriod>, BillingError> {
        let Some(before) = x.checked_sub(1) else {
            return Ok(None);
        };
        Ok(self
            .served
            .period_at(before)?
            .filter(|p| p.period.end == x && p.kind == PeriodKind::Regular))
    }

    /// The paid period that starts at `x` (as it would run without a cancellation), if it is
    /// served at all.
    pub fn opening(&self, x: Micros) -> Result<Option<BillingPeriod>, BillingError> {
        let served = self
            .served
            .period_at(x)?
            .filter(|p| p.period.start == x && p.kind == PeriodKind::Regular);
        if served.is_none() {
            return Ok(None);
        }
        Ok(self.full.period_at(x)?.filter(|p| p.period.start == x))
    }

    /// The paid period (without a cancellation) that started before `x` and contains it.
    pub fn around(&self, x: Micros) -> Result<Option<BillingPeriod>, BillingError> {
        Ok(self
            .full
            .period_at(x)?
            .filter(|p| p.period.start < x && p.kind == PeriodKind::Regular && p.cycle.is_some()))
    }
}

/// A version as it is in effect: `[from, to)`, cut at the next version's start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span<'a> {
    pub version: &'a Version,
    pub from: Micros,
    pub to: Micros,
}

/// An item key: its first definition, when it first took effect and its trial.
#[derive(Debug, Clone)]
pub(crate) struct Key<'a> {
    pub key: &'a str,
    pub first: &'a Item,
    pub first_version: &'a Version,
    pub start: Micros,
    pub start_date: Date,
    /// The first local day billed after the item's own trial (its start without one).
    pub trial_end: Date,
    pub trial_end_at: Micros,
}

/// A stretch of a period over which an item key has one definition (or none).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seg<'a> {
    pub from: Micros,
    pub to: Micros,
    pub item: Option<&'a Item>,
    pub version: Option<&'a Version>,
}

#[derive(Debug, Clone)]
pub(crate) struct Timeline<'a> {
    pub sub: &'a Subscription,
    pub spans: Vec<Span<'a>>,
    /// `[0]` is the subscription's own interval; then each other interval its items use.
    pub cals: Vec<Cal>,
    pub keys: Vec<Key<'a>>,
    /// The instants at which a version takes or leaves effect, inside the served time.
    pub changes: Vec<Micros>,
    pub start: Micros,
    pub end: Option<Micros>,
    /// The first instant after the subscription's trial.
    pub paid_start: Micros,
    pub tz: TimeZone,
}

impl<'a> Timeline<'a> {
    pub fn new(sub: &'a Subscription) -> Result<Self, BillingError> {
        let spans = spans(&sub.versions)?;
        let main = sub.calendar.interval;
        let mut intervals = vec![main];
        for s in &spans {
            for item in &s.version.items {
                let i = item.interval.unwrap_or(main);
                if !intervals.contains(&i) {
                    intervals.push(i);
                }
            }
        }
        let mut cals = Vec::with_capacity(intervals.len());
        for interval in intervals {
            let full = SubscriptionCalendar::new(CalendarTerms {
                interval,
                ..sub.calendar.clone()
            })?;
            let served = match sub.canceled_at {
                Some(at) => full.clone().canceled_at(at)?,
                None => full.clone(),
            };
            cals.push(Cal {
                interval,
                served,
                full,
            });
        }
        let Some(cal) = cals.first() else {
            return Err(BillingError::Calendar(CalendarError::MissingInterval));
        };
        let start = cal.served.service_start();
        let end = cal.served.service_end();
        let tz = cal.served.time_zone().clone();
        let paid_start = start_of_day(cal.served.trial_end(), &tz)?.max(start);

        let mut keys: Vec<Key<'a>> = Vec::new();
        for s in spans.iter().filter(|s| s.to > start) {
            for item in &s.version.items {
                if keys.iter().any(|k| k.key == item.key) {
                    continue;
                }
                let at = s.from.max(start);
                let start_date = local_date(at, &tz)?;
                let trial_end = add_days(start_date, i64::from(item.trial_days))?;
                let trial_end_at = start_of_day(trial_end, &tz)?.max(at);
                keys.push(Key {
                    key: &item.key,
                    first: item,
                    first_version: s.version,
                    start: at,
                    start_date,
                    trial_end,
                    trial_end_at,
                });
            }
        }

        let mut changes: Vec<Micros> = spans
            .iter()
            .flat_map(|s| [s.from, s.to])
            .filter(|&x| x > start && x != Micros::MAX && end.is_none_or(|e| x < e))
            .collect();
        changes.sort_unstable();
        changes.dedup();

        Ok(Timeline {
            sub,
            spans,
            cals,
            keys,
            changes,
            start,
            end,
            paid_start,
            tz,
        })
    }

    pub fn date(&self, x: Micros) -> Result<Date, BillingError> {
        Ok(local_date(x, &self.tz)?)
    }

    pub fn midnight(&self, d: Date) -> Result<Micros, BillingError> {
        Ok(start_of_day(d, &self.tz)?)
    }

    /// The calendar an item is billed on.
    pub fn cal_of(&self, item: &Item) -> usize {
        let interval = item.interval.unwrap_or(self.sub.calendar.interval);
        self.cals
            .iter()
            .position(|c| c.interval == interval)
            .unwrap_or(0)
    }

    /// The version in effect at `x`.
    pub fn span_at(&self, x: Micros) -> Option<&Span<'a>> {
        let i = self.spans.partition_point(|s| s.from <= x).checked_sub(1)?;
        self.spans.get(i).filter(|s| x < s.to)
    }

    /// The recurring item `key` of calendar `ci` in effect at `x`.
    pub fn recurring_at(&self, key: &str, ci: usize, x: Micros) -> Option<(&'a Item, &'a Version)> {
        let span = self.span_at(x)?;
        self.recurring_in(span.version, key, ci)
            .map(|i| (i, span.version))
    }

    fn recurring_in(&self, version: &'a Version, key: &str, ci: usize) -> Option<&'a Item> {
        version
            .items
            .iter()
            .find(|i| i.key == key && i.is_recurring() && self.cal_of(i) == ci)
    }

    /// `[from, to)` cut where the recurring item `key` of calendar `ci` changes how it bills;
    /// stretches without the item have `item: None`. Adjacent stretches billing alike are merged.
    pub fn segments(&self, key: &str, ci: usize, from: Micros, to: Micros) -> Vec<Seg<'a>> {
        let mut out: Vec<Seg<'a>> = Vec::new();
        let mut x = from;
        while x < to {
            let (end, item, version) = match self.span_at(x) {
                Some(s) => (
                    s.to.min(to),
                    self.recurring_in(s.version, key, ci),
                    Some(s.version),
                ),
                None => {
                    let next = self.spans.partition_point(|s| s.from <= x);
                    let end = self.spans.get(next).map_or(to, |s| s.from.min(to));
                    (end, None, None)
                }
            };
            if end <= x {
                break;
            }
            match out.last_mut() {
                Some(last) if same(last.item, item) => last.to = end,
                _ => out.push(Seg {
                    from: x,
                    to: end,
                    item,
                    version: item.and(version),
                }),
            }
            x = end;
        }
        out
    }

    /// The fee days `[from, to)` of a stretch of `period`: a change takes effect, for fees, from
    /// the start of its local day.
    pub fn fee_days(
        &self,
        from: Micros,
        to: Micros,
        period: &BillingPeriod,
    ) -> Result<(Date, Date), BillingError> {
        let p = &period.period;
        let a = if from <= p.start {
            p.start_date
        } else {
            self.date(from)?.min(p.end_date)
        };
        let b = if to >= p.end {
            p.end_date
        } else {
            self.date(to)?.min(p.end_date)
        };
        Ok((a, b.max(a)))
    }

    pub fn is_boundary(&self, x: Micros) -> Result<bool, BillingError> {
        if x < self.start || self.end.is_some_and(|e| x > e) {
            return Ok(false);
        }
        if x == self.start || self.end == Some(x) || self.changes.binary_search(&x).is_ok() {
            return Ok(true);
        }
        for c in &self.cals {
            if c.served.period_at(x)?.is_some_and(|p| p.period.start == x) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Every boundary in `[from, to)`, in order.
    pub fn boundaries(&self, from: Micros, to: Micros) -> Result<Vec<Micros>, BillingError> {
        let lo = from.max(self.start);
        let hi = match self.end {
            Some(e) => to.min(e.saturating_add(1)),
            None => to,
        };
        if lo >= hi {
            return Ok(Vec::new());
        }
        let within = |x: Micros| lo <= x && x < hi;
        let mut out: Vec<Micros> = [Some(self.start), self.end]
            .into_iter()
            .flatten()
            .chain(self.changes.iter().copied())
            .filter(|&x| within(x))
            .collect();
        for c in &self.cals {
            for p in c.served.periods(lo, hi) {
                let start = p?.period.start;
                if within(start) {
                    out.push(start);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// The latest boundary before `x`.
    pub fn prev_boundary(&self, x: Micros) -> Result<Option<Micros>, BillingError> {
        if x <= self.start {
            return Ok(None);
        }
        let mut best = self.start;
        if let Some(e) = self.end.filter(|&e| e < x) {
            best = best.max(e);
        }
        let i = self.changes.partition_point(|&c| c < x);
        if let Some(c) = i.checked_sub(1).and_then(|i| self.changes.get(i)) {
            best = best.max(*c);
        }
        if let Some(before) = x.checked_sub(1) {
            for c in &self.cals {
                if let Some(p) = c.served.period_at(before)? {
                    best = best.max(p.period.start);
                }
            }
        }
        Ok(Some(best))
    }
}

fn same(a: Option<&Item>, b: Option<&Item>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.bills_like(b),
        _ => false,
    }
}

/// Versions as spans, in order of `from`, each cut at the next one's start.
fn spans(versions: &[Version]) -> Result<Vec<Span<'_>>, BillingError> {
    for v in versions {
        if v.to.is_some_and(|to| to <= v.from) {
            return Err(BillingError::EmptyVersion {
                version: v.id.clone(),
            });
        }
        for (i, item) in v.items.iter().enumerate() {
            if v.items.iter().skip(i + 1).any(|o| o.key == item.key) {
                return Err(BillingError::DuplicateItem {
                    version: v.id.clone(),
                    key: item.key.clone(),
                });
            }
        }
    }
    let mut sorted: Vec<&Version> = versions.iter().collect();
    sorted.sort_by_key(|v| v.from);
    for pair in sorted.windows(2) {
        if let [a, b] = pair
            && a.from == b.from
        {
            return Err(BillingError::SameStart {
                first: a.id.clone(),
                second: b.id.clone(),
            });
        }
    }
    let mut out = Vec::with_capacity(sorted.len());
    for (i, v) in sorted.iter().enumerate() {
        let next = sorted.get(i + 1).map_or(Micros::MAX, |n| n.from);
        out.push(Span {
            version: v,
            from: v.from,
            to: v.to.unwrap_or(Micros::MAX).min(next),
        });
    }
    Ok(out)
}

pub(crate) fn add_days(d: Date, days: i64) -> Result<Date, BillingError> {
    let span = jiff::Span::new()
        .try_days(days)
        .map_err(|_| CalendarError::OutOfRange)?;
    Ok(d.checked_add(span).map_err(|_| CalendarError::OutOfRange)?)
}
