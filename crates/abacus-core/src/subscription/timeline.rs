//! Which version is in effect when: the published versions ordered into spans, and what billing
//! reads from them.

use std::cmp::Ordering;

use super::model::{Item, Version, VersionStatus};
use crate::calendar::{CalendarError, Interval, IntervalUnit};
use crate::pricing::{Price, PriceInput};
use crate::time::Micros;
use crate::validation::Naming;

/// A published version's time in effect: `[start, end)`, `end` `None` while nothing follows it.
/// A span with `start >= end` was superseded before it began and is never in effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Index into the versions the timeline was built from.
    pub index: usize,
    pub start: Micros,
    pub end: Option<Micros>,
}

impl Span {
    pub fn contains(&self, at: Micros) -> bool {
        self.start <= at && self.end.is_none_or(|e| at < e)
    }

    pub fn is_empty(&self) -> bool {
        self.end.is_some_and(|e| e <= self.start)
    }
}

/// The order in which published versions take over: by `effective_at`, then by publication (a
/// later publication with the same date supersedes an earlier one), then by number.
fn takeover_order(a: &Version, b: &Version) -> Ordering {
    (a.effective_at, a.published_at, a.number).cmp(&(b.effective_at, b.published_at, b.number))
}

/// The published versions (with an `effective_at`) as contiguous spans: each runs until the next
/// one starts, the last until `service_end`.
pub fn timeline(versions: &[Version], service_end: Option<Micros>) -> Vec<Span> {
    let mut published: Vec<usize> = (0..versions.len())
        .filter(|&i| {
            versions[i].status == VersionStatus::Published && versions[i].effective_at.is_some()
        })
        .collect();
    published.sort_by(|&a, &b| takeover_order(&versions[a], &versions[b]));
    let mut spans = Vec::with_capacity(published.len());
    for (k, &i) in published.iter().enumerate() {
        let start = versions[i].effective_at.unwrap_or_default();
        let next = published.get(k + 1).and_then(|&j| versions[j].effective_at);
        let end = match (next, service_end) {
            (Some(n), Some(e)) => Some(n.min(e)),
            (n, e) => n.or(e),
        };
        spans.push(Span {
            index: i,
            start,
            end: end.map(|e| e.max(start)),
        });
    }
    spans
}

/// The version in effect at `at`, if any.
pub fn current_at(versions: &[Version], service_end: Option<Micros>, at: Micros) -> Option<usize> {
    timeline(versions, service_end)
        .into_iter()
        .find(|s| s.contains(at))
        .map(|s| s.index)
}

/// Versions still to come at `now`: drafts, and published versions that take effect later (and
/// before the end of service). In the order they would take effect; drafts without a date last.
pub fn pending(versions: &[Version], service_end: Option<Micros>, now: Micros) -> Vec<usize> {
    let mut out: Vec<usize> = (0..versions.len())
        .filter(|&i| {
            let v = &versions[i];
            match v.status {
                VersionStatus::Draft => true,
                VersionStatus::Published => v
                    .effective_at
                    .is_some_and(|t| t > now && service_end.is_none_or(|e| t < e)),
            }
        })
        .collect();
    out.sort_by(|&a, &b| {
        let (va, vb) = (&versions[a], &versions[b]);
        match (va.effective_at, vb.effective_at) {
            (Some(x), Some(y)) => x.cmp(&y).then(va.number.cmp(&vb.number)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => va.number.cmp(&vb.number),
        }
    });
    out
}

/// The billing interval of a price: `None` for a one-off price or a price that names no
/// interval (billed on the subscription's cycle).
pub fn price_interval(p: &PriceInput) -> Result<Option<Interval>, CalendarError> {
    if p.billing_frequency.as_deref() == Some("one-off") {
        return Ok(None);
    }
    if p.billing_interval.is_none() && p.billing_interval_unit.is_none() {
        return Ok(None);
    }
    Interval::from_fields(
        p.billing_interval.as_deref(),
        p.billing_interval_count,
        p.billing_interval_unit.as_deref(),
    )
    .map(Some)
}

/// Roughly how long an interval is, in ten-thousandths of a day, to compare intervals.
fn approx_length(i: Interval) -> u64 {
    let per_unit: u64 = match i.unit() {
        IntervalUnit::Day => 10_000,
        IntervalUnit::Week => 70_000,
        IntervalUnit::Month => 304_369,
        IntervalUnit::Year => 3_652_425,
    };
    per_unit * u64::from(i.count())
}

/// The subscription's cycle: the shortest interval among its recurring prices, monthly when none
/// names one. (Coarser prices bill on their own schedules with the same anchor, `docs/billing.md`
/// §3.) Prices whose interval fields contradict each other are skipped here; validation refuses
/// them when they are written.
pub fn billing_interval<'a>(prices: impl IntoIterator<Item = &'a PriceInput>) -> Interval {
    prices
        .into_iter()
        .filter_map(|p| price_interval(p).ok().flatten())
        .min_by_key(|i| approx_length(*i))
        .unwrap_or(Interval::MONTHLY)
}

/// One priced product as billing reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct BillingItem {
    pub product_id: String,
    /// The bundle this product is part of, if any.
    pub bundle_id: Option<String>,
    /// The price as written (and validated) when the version was made.
    pub price: PriceInput,
    /// The same price ready for [`crate::pricing::price`].
    pub parsed: Price,
    /// Its billing interval; `None` for one-off prices and prices on the subscription's cycle.
    pub interval: Option<Interval>,
}

/// A published version's items over the time it is in effect.
#[derive(Debug, Clone, PartialEq)]
pub struct BillingSpan {
    pub version_id: String,
    pub start: Micros,
    /// `None`: in effect until a later version or the end of service.
    pub end: Option<Micros>,
    pub items: Vec<BillingItem>,
}

/// The billing spans of `versions`, in order, leaving out versions superseded before they began.
/// A stored price that no longer validates (it cannot happen through the API) is an error naming
/// the version and product.
pub fn billing_spans(
    versions: &[Version],
    service_end: Option<Micros>,
) -> Result<Vec<BillingSpan>, String> {
    let mut out = Vec::new();
    for span in timeline(versions, service_end) {
        if span.is_empty() {
            continue;
        }
        let v = &versions[span.index];
        let mut items = Vec::new();
        for item in &v.items {
            let (bundle_id, children) = match item {
                Item::Product(p) => (None, std::slice::from_ref(p)),
                Item::Bundle {
                    bundle_id, items, ..
                } => (Some(bundle_id.clone()), items.as_slice()),
            };
            for p in children {
                let parsed = p.price.validate(Naming::Snake).map_err(|e| {
                    format!(
                        "version {} product {}: stored price is not valid: {}",
                        v.id,
                        p.product_id,
                        e.iter()
                            .map(|e| e.to_string())
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                })?;
                let interval = price_interval(&p.price)
                    .map_err(|e| format!("version {} product {}: {e}", v.id, p.product_id))?;
                items.push(BillingItem {
                    product_id: p.product_id.clone(),
                    bundle_id: bundle_id.clone(),
                    price: p.price.clone(),
                    parsed,
                    interval,
                });
            }
        }
        out.push(BillingSpan {
            version_id: v.id.clone(),
            start: span.start,
            end: span.end,
            items,
        });
    }
    Ok(out)
}
