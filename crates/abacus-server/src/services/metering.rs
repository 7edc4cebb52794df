//! Metrics and usage queries, shared by both surfaces.

use abacus_core::metering::metric::{Metric, MetricDraft};
use abacus_core::metering::usage::{self, Plan, RawEvent, Rollups};
use abacus_core::metering::window::{WindowError, WindowKind, windows};
use abacus_core::time::{Micros, now_micros};
use abacus_core::validation::Naming;
use abacus_store::metrics::{self, Diagnostics};
use abacus_store::{Connection, Db, Tx, events, orgs};
use jiff::tz::TimeZone;
use rust_decimal::Decimal;

use crate::problem::{ApiError, ApiResult};
use crate::services::customers;

const WHAT: &str = "Metric";

/// Creates a metric and counts the events that arrived before it (backfill), atomically: the
/// organization's metering lock keeps ingestion from slipping events between the two. The
/// diagnostics are those of the backfilled events.
pub async fn create(
    tx: &mut Tx,
    org_id: &str,
    draft: MetricDraft,
    naming: Naming,
) -> ApiResult<(Metric, Diagnostics)> {
    let spec = draft.validate(naming).map_err(ApiError::invalid)?;
    events::lock_org(tx, org_id, true).await?;
    let metric = metrics::insert(tx, org_id, &spec, now_micros()).await?;
    abacus_store::usage::backfill(tx, org_id, &metric).await?;
    let diagnostics = abacus_store::usage::diagnostics(tx, org_id, &metric).await?;
    Ok((metric, diagnostics))
}

pub async fn get(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
) -> ApiResult<(Metric, Diagnostics)> {
    let metric = metrics::get(c, org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(WHAT, id))?;
    let diagnostics = abacus_store::usage::diagnostics(c, org_id, &metric).await?;
    Ok((metric, diagnostics))
}

pub async fn update(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    name: Option<String>,
    description: Option<Option<String>>,
) -> ApiResult<(Metric, Diagnostics)> {
    if let Some(n) = &name
        && (n.trim().is_empty() || n.chars().count() > 255)
    {
        return Err(ApiError::invalid_field(
            "name",
            "must be 1 to 255 characters",
        ));
    }
    if description
        .as_ref()
        .and_then(|d| d.as_ref())
        .is_some_and(|d| d.chars().count() > 2000)
    {
        return Err(ApiError::invalid_field(
            "description",
            "must be at most 2000 characters",
        ));
    }
    metrics::update(
        tx,
        org_id,
        id,
        name.as_deref().map(str::trim),
        description.as_ref().map(|d| d.as_deref()),
        now_micros(),
    )
    .await?
    .ok_or_else(|| ApiError::not_found(WHAT, id))?;
    get(tx, org_id, id).await
}

pub async fn archive(tx: &mut Tx, org_id: &str, id: &str) -> ApiResult<(Metric, Diagnostics)> {
    metrics::archive(tx, org_id, id, now_micros())
        .await?
        .ok_or_else(|| ApiError::not_found(WHAT, id))?;
    get(tx, org_id, id).await
}

/// A usage question: one metric, one customer, `[from, to)`.
#[derive(Debug, Clone)]
pub struct UsageQuery {
    pub metric_id: String,
    pub from: Micros,
    pub to: Micros,
    pub group_by: Option<String>,
    pub window: Option<WindowKind>,
}

#[derive(Debug, Clone)]
pub struct UsageAnswer {
    pub metric_id: String,
    pub customer_id: String,
    pub from: Micros,
    pub to: Micros,
    pub value: Decimal,
    pub groups: Option<Vec<GroupAnswer>>,
    pub series: Option<Series>,
}

/// Values over consecutive windows, `(from, to, value)`.
pub type Series = Vec<(Micros, Micros, Decimal)>;

/// One value of the `group_by` property (`None`: events without it), with its own series when
/// the query asks for windows.
#[derive(Debug, Clone)]
pub struct GroupAnswer {
    pub key: Option<String>,
    pub value: Decimal,
    pub series: Option<Series>,
}

fn window_error(e: WindowError) -> ApiError {
    match e {
        WindowError::EmptyRange => ApiError::bad_param("to", "must be after 'from'"),
        WindowError::TooMany => ApiError::bad_param("window", e.to_string()),
        WindowError::OutOfRange => ApiError::bad_param("from", e.to_string()),
    }
}

/// The organization's billing time zone (UTC when unset or unknown).
pub async fn org_time_zone(c: &mut impl Connection, org_id: &str) -> ApiResult<TimeZone> {
    let name = orgs::get(c, org_id)
        .await?
        .map(|o| o.time_zone)
        .unwrap_or_else(|| "UTC".into());
    Ok(TimeZone::get(&name).unwrap_or_else(|_| {
        tracing::warn!(org_id, time_zone = %name, "unknown organization time zone; using UTC");
        TimeZone::UTC
    }))
}

/// A usage value too large to hold (`abacus_core::metering::bucket::Overflow`).
fn overflow(e: abacus_core::metering::bucket::Overflow) -> ApiError {
    ApiError::invalid_field("metric_id", e.to_string())
}

/// A usage answer split by `property`, and by windows too when asked. Rollups are not split by
/// property: a grouped answer reads the raw events of the range.
async fn grouped(
    tx: &mut Tx,
    org_id: &str,
    metric: &Metric,
    property: &str,
    window: Option<WindowKind>,
    whole: &[(Micros, Micros)],
    mut answer: UsageAnswer,
) -> ApiResult<UsageAnswer> {
    let (from, to) = (answer.from, answer.to);
    let mut raw =
        abacus_store::usage::raw_events(tx, org_id, &answer.customer_id, &metric.event_name, whole)
            .await?;
    answer.value = usage::recompute(metric, from, to, None, &raw).map_err(overflow)?[&None];
    let mut groups: Vec<GroupAnswer> = usage::recompute(metric, from, to, Some(property), &raw)
        .map_err(overflow)?
        .into_iter()
        .map(|(key, value)| GroupAnswer {
            key,
            value,
            series: None,
        })
        .collect();
    if let Some(kind) = window {
        let tz = org_time_zone(tx, org_id).await?;
        let ws = windows(from, to, Some(kind), &tz).map_err(window_error)?;
        raw.sort_by_key(|e| (e.ts, e.seq));
        let mut total = Series::with_capacity(ws.len());
        let mut each: Vec<Series> = vec![Series::with_capacity(ws.len()); groups.len()];
        for &(a, b) in &ws {
            // The window's events, found by time in the sorted events of the range.
            let inside = &raw[raw.partition_point(|e| e.ts < a)..raw.partition_point(|e| e.ts < b)];
            let by_key =
                usage::recompute(metric, a, b, Some(property), inside).map_err(overflow)?;
            for (g, series) in groups.iter().zip(&mut each) {
                series.push((a, b, by_key.get(&g.key).copied().unwrap_or(Decimal::ZERO)));
            }
            let v = usage::recompute(metric, a, b, None, inside).map_err(overflow)?[&None];
            total.push((a, b, v));
        }
        for (g, series) in groups.iter_mut().zip(each) {
            g.series = Some(series);
        }
        answer.series = Some(total);
    }
    answer.groups = Some(groups);
    Ok(answer)
}

/// Answers a usage query from one consistent snapshot.
pub async fn usage(db: &Db, org_id: &str, customer: &str, q: UsageQuery) -> ApiResult<UsageAnswer> {
    let mut tx = db.read_tx().await?;
    let customer_id = customers::resolve(&mut tx, org_id, customer).await?;
    // Not `get`: a usage answer has no use for the metric's diagnostics, which scan the tail.
    let metric = metrics::get(&mut tx, org_id, &q.metric_id)
        .await?
        .ok_or_else(|| ApiError::not_found(WHAT, &q.metric_id))?;
    let whole = windows(q.from, q.to, None, &TimeZone::UTC).map_err(window_error)?;

    let mut answer = UsageAnswer {
        metric_id: metric.id.clone(),
        customer_id: customer_id.clone(),
        from: q.from,
        to: q.to,
        value: Decimal::ZERO,
        groups: None,
        series: None,
    };
    if let Some(property) = &q.group_by {
        return grouped(&mut tx, org_id, &metric, property, q.window, &whole, answer).await;
    }

    let tz = org_time_zone(&mut tx, org_id).await?;
    let series_windows = match q.window {
        Some(kind) => Some(windows(q.from, q.to, Some(kind), &tz).map_err(window_error)?),
        None => None,
    };
    let whole_plan = usage::plan(&whole);
    let series_plan = series_windows.as_deref().map(usage::plan);
    let (rollups, raw) = fetch(
        &mut tx,
        org_id,
        &customer_id,
        &metric,
        &whole_plan,
        series_plan.as_ref(),
    )
    .await?;
    answer.value =
        usage::compute(&metric, &whole, &whole_plan, &rollups, &raw).map_err(overflow)?[0];
    if let (Some(ws), Some(plan)) = (series_windows, series_plan) {
        let values = usage::compute(&metric, &ws, &plan, &rollups, &raw).map_err(overflow)?;
        answer.series = Some(
            ws.iter()
                .zip(values)
                .map(|((a, b), v)| (*a, *b, v))
                .collect(),
        );
    }
    Ok(answer)
}

/// The exact value of a metric for a customer over `[from, to)`: what billing reads for one
/// [`UsageRequest`](abacus_core::billing::UsageRequest). A total reads the daily and hourly
/// rollups and the raw events of the partial hours at the edges, as usage queries do; a grouped
/// request (a matrix price's dimensions) reads the raw events of the range.
pub async fn aggregate(
    tx: &mut Tx,
    org_id: &str,
    customer_id: &str,
    request: &abacus_core::billing::UsageRequest,
    known: &mut KnownMetrics,
) -> ApiResult<abacus_core::billing::UsageValue> {
    use abacus_core::billing::UsageValue;
    let metric = known.get(tx, org_id, &request.metric_id).await?;
    let (from, to) = (request.from, request.to);
    let overflow = |e: abacus_core::metering::bucket::Overflow| {
        ApiError::invalid_field("metric_id", format!("{}: {e}", metric.id))
    };
    if from >= to {
        return Ok(if request.group_by.is_empty() {
            UsageValue::Total(Decimal::ZERO)
        } else {
            UsageValue::Grouped(Vec::new())
        });
    }
    let whole = windows(from, to, None, &TimeZone::UTC).map_err(window_error)?;
    if !request.group_by.is_empty() {
        let raw =
            abacus_store::usage::raw_events(tx, org_id, customer_id, &metric.event_name, &whole)
                .await?;
        let rows =
            usage::recompute_by(&metric, from, to, &request.group_by, &raw).map_err(overflow)?;
        return Ok(UsageValue::Grouped(rows));
    }
    let plan = usage::plan(&whole);
    let (rollups, raw) = fetch(tx, org_id, customer_id, &metric, &plan, None).await?;
    let value = usage::compute(&metric, &whole, &plan, &rollups, &raw).map_err(overflow)?[0];
    Ok(UsageValue::Total(value))
}

/// Metrics read once per transaction: billing asks for the same few metrics for every
/// subscription it closes. What a metric counts (event name, aggregation, filters) never changes
/// once it is created, so a metric read earlier in the transaction answers the same.
#[derive(Default)]
pub struct KnownMetrics(std::collections::HashMap<(String, String), Metric>);

impl KnownMetrics {
    async fn get(&mut self, tx: &mut Tx, org_id: &str, id: &str) -> ApiResult<Metric> {
        let key = (org_id.to_string(), id.to_string());
        if let Some(m) = self.0.get(&key) {
            return Ok(m.clone());
        }
        let m = metrics::get(tx, org_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found(WHAT, id))?;
        self.0.insert(key, m.clone());
        Ok(m)
    }
}

/// Sorted ranges with overlapping or touching ones joined.
fn union(ranges: impl Iterator<Item = (Micros, Micros)>) -> Vec<(Micros, Micros)> {
    let mut sorted: Vec<(Micros, Micros)> = ranges.collect();
    sorted.sort();
    let mut merged: Vec<(Micros, Micros)> = Vec::new();
    for (a, b) in sorted {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// Reads what both plans need: the daily and hourly rollups of their days and hours, and the raw
/// events of every range either plan reads raw.
async fn fetch(
    tx: &mut Tx,
    org_id: &str,
    customer_id: &str,
    metric: &Metric,
    whole: &Plan,
    series: Option<&Plan>,
) -> ApiResult<(Rollups, Vec<RawEvent>)> {
    let plans = || std::iter::once(whole).chain(series);
    let days = union(plans().flat_map(|p| p.days.iter().copied()));
    let hours = union(plans().flat_map(|p| p.hours.iter().copied()));
    let raw = union(plans().flat_map(|p| p.raw.iter().copied()));
    let rollups =
        abacus_store::usage::rollups(tx, org_id, metric, customer_id, &days, &hours).await?;
    let raw =
        abacus_store::usage::raw_events(tx, org_id, customer_id, &metric.event_name, &raw).await?;
    Ok((rollups, raw))
}
