//! Usage rollups, hourly and daily: applying [`Deltas`] and reading buckets back.
//!
//! Every write goes to both levels through [`apply`], so the daily rows are always the hourly
//! rows gathered into UTC days. Both backends merge in the upsert itself, exactly: PostgreSQL
//! with NUMERIC arithmetic, SQLite with the decimal functions of `sqlite_decimal`. Concurrent
//! writers never lose an update.

use std::collections::{BTreeMap, HashMap};

use abacus_core::metering::bucket::{Bucket, Latest};
use abacus_core::metering::deltas::{BucketKey, Deltas};
use abacus_core::metering::metric::{AggregationMethod, Metric};
use abacus_core::metering::usage::{RawEvent, Rollups};
use abacus_core::time::Micros;
use rust_decimal::Decimal;
use sqlx::QueryBuilder;

use crate::db::{Conn, Connection};
use crate::error::{StoreError, StoreResult};
use crate::metrics::{self, Diagnostics};
use crate::{events, on, tail};

#[derive(sqlx::FromRow)]
struct BucketRow {
    bucket: Micros,
    event_count: i64,
    value_count: i64,
    value_sum: String,
    value_min: Option<String>,
    value_max: Option<String>,
    latest_ts: Option<Micros>,
    latest_seq: Option<i64>,
    latest_value: Option<String>,
}

fn dec(s: &str) -> StoreResult<Decimal> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("decimal '{s}' in usage rollups")))
}

impl BucketRow {
    fn into_bucket(self) -> StoreResult<(Micros, Bucket)> {
        let opt = |v: Option<String>| v.as_deref().map(dec).transpose();
        let latest = match (self.latest_ts, self.latest_seq, opt(self.latest_value)?) {
            (Some(ts), Some(seq), Some(value)) => Some(Latest { ts, seq, value }),
            _ => None,
        };
        Ok((
            self.bucket,
            Bucket {
                events: self.event_count,
                values: self.value_count,
                sum: dec(&self.value_sum)?,
                min: opt(self.value_min)?,
                max: opt(self.value_max)?,
                latest,
            },
        ))
    }
}

/// Buckets per SQLite statement: 12 parameters each stays far below SQLite's parameter limit.
const SQLITE_BUCKETS_PER_STATEMENT: usize = 400;

const SQLITE_BUCKET_COLUMNS: &str = "bucket, event_count, value_count, value_sum, value_min, value_max, latest_ts, latest_seq, latest_value";
const PG_BUCKET_COLUMNS: &str = "bucket, event_count, value_count, value_sum::text AS value_sum, value_min::text AS value_min, \
     value_max::text AS value_max, latest_ts, latest_seq, latest_value::text AS latest_value";

/// The bucket columns as [`BucketRow`] reads them on `c`'s database.
fn bucket_columns(c: &mut impl Connection) -> &'static str {
    match c.conn() {
        Conn::Sqlite(_) => SQLITE_BUCKET_COLUMNS,
        Conn::Postgres(_) => PG_BUCKET_COLUMNS,
    }
}

/// Where one level of rollups is stored.
struct Level {
    buckets: &'static str,
    distinct: &'static str,
}

const HOURLY: Level = Level {
    buckets: "usage_buckets",
    distinct: "usage_distinct",
};
const DAILY: Level = Level {
    buckets: "usage_days",
    distinct: "usage_distinct_days",
};

fn overflow(o: abacus_core::metering::bucket::Overflow) -> StoreError {
    StoreError::Corrupt(o.to_string())
}

/// Merges hourly `deltas` into the stored rollups of both levels and the metric diagnostics.
pub async fn apply(c: &mut impl Connection, org_id: &str, deltas: &Deltas) -> StoreResult<()> {
    write_level(c, org_id, &HOURLY, deltas).await?;
    write_level(c, org_id, &DAILY, &deltas.by_day().map_err(overflow)?).await?;
    for (metric_id, s) in &deltas.skipped {
        metrics::add_diagnostics(
            c,
            org_id,
            metric_id,
            Diagnostics {
                skipped_missing: s.missing,
                skipped_non_numeric: s.non_numeric,
            },
        )
        .await?;
    }
    Ok(())
}

/// Merges the buckets and distinct values of `deltas` into one level's tables.
async fn write_level(
    c: &mut impl Connection,
    org_id: &str,
    level: &Level,
    deltas: &Deltas,
) -> StoreResult<()> {
    match c.conn() {
        Conn::Sqlite(e) => {
            // `dec_add` / `dec_min` / `dec_max` (see sqlite_decimal.rs) merge exactly in SQL.
            let rows: Vec<(&BucketKey, &Bucket)> = deltas.buckets.iter().collect();
            for chunk in rows.chunks(SQLITE_BUCKETS_PER_STATEMENT) {
                let s = |d: Option<Decimal>| d.map(|d| d.to_string());
                let mut q = QueryBuilder::new(format!(
                    "INSERT INTO {} (org_id, metric_id, customer_id, bucket, event_count, value_count, value_sum,
                         value_min, value_max, latest_ts, latest_seq, latest_value) ",
                    level.buckets
                ));
                q.push_values(chunk, |mut b, (k, m)| {
                    b.push_bind(org_id)
                        .push_bind(k.metric_id.as_str())
                        .push_bind(k.customer_id.as_str())
                        .push_bind(k.start)
                        .push_bind(m.events)
                        .push_bind(m.values)
                        .push_bind(m.sum.to_string())
                        .push_bind(s(m.min))
                        .push_bind(s(m.max))
                        .push_bind(m.latest.map(|l| l.ts))
                        .push_bind(m.latest.map(|l| l.seq))
                        .push_bind(s(m.latest.map(|l| l.value)));
                });
                q.push(
                    " ON CONFLICT (org_id, metric_id, customer_id, bucket) DO UPDATE SET
                         event_count = event_count + excluded.event_count,
                         value_count = value_count + excluded.value_count,
                         value_sum = dec_add(value_sum, excluded.value_sum),
                         value_min = dec_min(value_min, excluded.value_min),
                         value_max = dec_max(value_max, excluded.value_max),
                         latest_ts = CASE WHEN latest_ts IS NULL OR (excluded.latest_ts, excluded.latest_seq) > (latest_ts, latest_seq)
                                          THEN excluded.latest_ts ELSE latest_ts END,
                         latest_value = CASE WHEN latest_ts IS NULL OR (excluded.latest_ts, excluded.latest_seq) > (latest_ts, latest_seq)
                                          THEN excluded.latest_value ELSE latest_value END,
                         latest_seq = CASE WHEN latest_ts IS NULL OR (excluded.latest_ts, excluded.latest_seq) > (latest_ts, latest_seq)
                                          THEN excluded.latest_seq ELSE latest_seq END",
                );
                q.build().execute(&mut *e).await?;
            }
        }
        Conn::Postgres(e) => {
            let rows: Vec<(&BucketKey, &Bucket)> = deltas.buckets.iter().collect();
            for chunk in rows.chunks(crate::db::STATEMENT_ROWS) {
                let text = |f: fn(&Bucket) -> Option<Decimal>| {
                    chunk
                        .iter()
                        .map(|(_, b)| f(b).map(|d| d.to_string()))
                        .collect::<Vec<Option<String>>>()
                };
                let sql = format!(
                    "INSERT INTO {} AS u (org_id, metric_id, customer_id, bucket, event_count, value_count, value_sum,
                         value_min, value_max, latest_ts, latest_seq, latest_value)
                     SELECT $1, m, c, b, ec, vc, s::numeric, mn::numeric, mx::numeric, lt, ls, lv::numeric
                     FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[], $8::text[],
                                 $9::text[], $10::bigint[], $11::bigint[], $12::text[]) AS t(m, c, b, ec, vc, s, mn, mx, lt, ls, lv)
                     ON CONFLICT (org_id, metric_id, customer_id, bucket) DO UPDATE SET
                         event_count = u.event_count + EXCLUDED.event_count,
                         value_count = u.value_count + EXCLUDED.value_count,
                         value_sum = u.value_sum + EXCLUDED.value_sum,
                         value_min = LEAST(u.value_min, EXCLUDED.value_min),
                         value_max = GREATEST(u.value_max, EXCLUDED.value_max),
                         latest_ts = CASE WHEN u.latest_ts IS NULL OR (EXCLUDED.latest_ts, EXCLUDED.latest_seq) > (u.latest_ts, u.latest_seq)
                                          THEN EXCLUDED.latest_ts ELSE u.latest_ts END,
                         latest_value = CASE WHEN u.latest_ts IS NULL OR (EXCLUDED.latest_ts, EXCLUDED.latest_seq) > (u.latest_ts, u.latest_seq)
                                          THEN EXCLUDED.latest_value ELSE u.latest_value END,
                         latest_seq = CASE WHEN u.latest_ts IS NULL OR (EXCLUDED.latest_ts, EXCLUDED.latest_seq) > (u.latest_ts, u.latest_seq)
                                          THEN EXCLUDED.latest_seq ELSE u.latest_seq END",
                    level.buckets
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(org_id)
                    .bind(
                        chunk
                            .iter()
                            .map(|(k, _)| k.metric_id.as_str())
                            .collect::<Vec<_>>(),
                    )
                    .bind(
                        chunk
                            .iter()
                            .map(|(k, _)| k.customer_id.as_str())
                            .collect::<Vec<_>>(),
                    )
                    .bind(chunk.iter().map(|(k, _)| k.start).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|(_, b)| b.events).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|(_, b)| b.values).collect::<Vec<_>>())
                    .bind(
                        chunk
                            .iter()
                            .map(|(_, b)| b.sum.to_string())
                            .collect::<Vec<_>>(),
                    )
                    .bind(text(|b| b.min))
                    .bind(text(|b| b.max))
                    .bind(
                        chunk
                            .iter()
                            .map(|(_, b)| b.latest.map(|l| l.ts))
                            .collect::<Vec<_>>(),
                    )
                    .bind(
                        chunk
                            .iter()
                            .map(|(_, b)| b.latest.map(|l| l.seq))
                            .collect::<Vec<_>>(),
                    )
                    .bind(text(|b| b.latest.map(|l| l.value)))
                    .execute(&mut *e)
                    .await?;
            }
        }
    }
    let distinct: Vec<&(BucketKey, String)> = deltas.distinct.iter().collect();
    for chunk in distinct.chunks(CHUNK) {
        on!(c, e => {
            let mut q = QueryBuilder::new(format!("INSERT INTO {} (org_id, metric_id, customer_id, bucket, value) ", level.distinct));
            q.push_values(chunk, |mut b, (k, v)| {
                b.push_bind(org_id).push_bind(k.metric_id.as_str()).push_bind(k.customer_id.as_str()).push_bind(k.start).push_bind(v.as_str());
            });
            q.push(" ON CONFLICT DO NOTHING");
            q.build().execute(e).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

const CHUNK: usize = crate::db::STATEMENT_ROWS;

/// The organization's metrics of each of these event names (an empty list where it has none).
pub(crate) async fn metrics_by_name(
    c: &mut impl Connection,
    org_id: &str,
    names: &[&str],
) -> StoreResult<HashMap<String, Vec<Metric>>> {
    let mut by_name: HashMap<String, Vec<Metric>> =
        names.iter().map(|n| (n.to_string(), Vec::new())).collect();
    for m in metrics::for_event_names(c, org_id, names).await? {
        if let Some(list) = by_name.get_mut(&m.event_name) {
            list.push(m);
        }
    }
    Ok(by_name)
}

/// Counts newly attributed events in the rollups of every metric of their names.
pub async fn record(
    c: &mut impl Connection,
    org_id: &str,
    events: &[(&str, &RawEvent)],
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut names: Vec<&str> = events.iter().map(|(_, e)| e.event_name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let by_name = metrics_by_name(c, org_id, &names).await?;
    if by_name.values().all(Vec::is_empty) {
        return Ok(());
    }
    let mut deltas = Deltas::default();
    for (customer, event) in events {
        deltas
            .add(&by_name[event.event_name.as_str()], customer, event)
            .map_err(overflow)?;
    }
    apply(c, org_id, &deltas).await
}

/// Builds a new metric's rollups from the events already stored (on SQLite, those already
/// settled: settling the tail counts the rest in every metric, this one included).
pub async fn backfill(c: &mut impl Connection, org_id: &str, metric: &Metric) -> StoreResult<()> {
    let mut deltas = Deltas::default();
    let metrics = std::slice::from_ref(metric);
    events::scan_attributed(c, org_id, &metric.event_name, |customer, event| {
        deltas.add(metrics, &customer, &event).map_err(overflow)
    })
    .await?;
    apply(c, org_id, &deltas).await
}

/// The rollups of one metric and customer a usage plan reads: the daily rows starting in `days`,
/// the hourly rows starting in `hours` (ranges of whole UTC days and hours, as
/// [`abacus_core::metering::usage::plan`] makes them), with the unsettled tail (see [`tail`])
/// folded in.
pub async fn rollups(
    c: &mut impl Connection,
    org_id: &str,
    metric: &Metric,
    customer_id: &str,
    days: &[(Micros, Micros)],
    hours: &[(Micros, Micros)],
) -> StoreResult<Rollups> {
    let unique = metric.aggregation.method == AggregationMethod::CountUnique;
    let mut r = Rollups::default();
    for (level, ranges, buckets, distinct) in [
        (&DAILY, days, &mut r.days, &mut r.distinct_days),
        (&HOURLY, hours, &mut r.hours, &mut r.distinct_hours),
    ] {
        for &range in ranges {
            buckets.extend(read_buckets(c, level, org_id, &metric.id, customer_id, range).await?);
            if unique {
                distinct
                    .extend(read_distinct(c, level, org_id, &metric.id, customer_id, range).await?);
            }
        }
    }
    // An event's hour and day lie in a range of whole hours or days exactly when the event does.
    let (Some(first), Some(last)) = (
        days.iter().chain(hours).map(|r| r.0).min(),
        days.iter().chain(hours).map(|r| r.1).max(),
    ) else {
        return Ok(r);
    };
    let tail = tail::deltas(c, org_id, metric, Some(customer_id), Some((first, last))).await?;
    if !tail.buckets.is_empty() {
        let tail_days = tail.by_day().map_err(overflow)?;
        fold_in(&mut r.hours, &mut r.distinct_hours, hours, &tail)?;
        fold_in(&mut r.days, &mut r.distinct_days, days, &tail_days)?;
    }
    Ok(r)
}

/// Merges the tail's buckets and distinct values that start in `ranges` into one level's rows.
fn fold_in(
    buckets: &mut Vec<(Micros, Bucket)>,
    distinct: &mut Vec<(Micros, String)>,
    ranges: &[(Micros, Micros)],
    tail: &Deltas,
) -> StoreResult<()> {
    let inside = |start: Micros| ranges.iter().any(|(a, b)| *a <= start && start < *b);
    let mut merged: BTreeMap<Micros, Bucket> = std::mem::take(buckets).into_iter().collect();
    for (key, bucket) in tail.buckets.iter().filter(|(k, _)| inside(k.start)) {
        merged
            .entry(key.start)
            .or_default()
            .merge(bucket)
            .map_err(overflow)?;
    }
    *buckets = merged.into_iter().collect();
    distinct.extend(
        tail.distinct
            .iter()
            .filter(|(k, _)| inside(k.start))
            .map(|(k, v)| (k.start, v.clone())),
    );
    Ok(())
}

/// The events `metric` matched but could not use, the unsettled tail included.
pub async fn diagnostics(
    c: &mut impl Connection,
    org_id: &str,
    metric: &Metric,
) -> StoreResult<Diagnostics> {
    let mut d = metrics::diagnostics(c, org_id, &metric.id).await?;
    // A plain count uses every event it matches.
    if metric.reads_properties() {
        let tail = tail::deltas(c, org_id, metric, None, None).await?;
        if let Some(s) = tail.skipped.get(&metric.id) {
            d.skipped_missing += s.missing;
            d.skipped_non_numeric += s.non_numeric;
        }
    }
    Ok(d)
}

/// The settled hourly buckets of one metric and customer with `from <= bucket < to`.
pub async fn buckets(
    c: &mut impl Connection,
    org_id: &str,
    metric_id: &str,
    customer_id: &str,
    range: (Micros, Micros),
) -> StoreResult<Vec<(Micros, Bucket)>> {
    read_buckets(c, &HOURLY, org_id, metric_id, customer_id, range).await
}

/// The settled hourly distinct values of one metric and customer with `from <= bucket < to`.
pub async fn distinct(
    c: &mut impl Connection,
    org_id: &str,
    metric_id: &str,
    customer_id: &str,
    range: (Micros, Micros),
) -> StoreResult<Vec<(Micros, String)>> {
    read_distinct(c, &HOURLY, org_id, metric_id, customer_id, range).await
}

async fn read_buckets(
    c: &mut impl Connection,
    level: &Level,
    org_id: &str,
    metric_id: &str,
    customer_id: &str,
    (from, to): (Micros, Micros),
) -> StoreResult<Vec<(Micros, Bucket)>> {
    let columns = bucket_columns(c);
    let sql = format!(
        "SELECT {columns} FROM {}
         WHERE org_id = $1 AND metric_id = $2 AND customer_id = $3 AND bucket >= $4 AND bucket < $5 ORDER BY bucket",
        level.buckets
    );
    let rows: Vec<BucketRow> = on!(c, e => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(metric_id).bind(customer_id).bind(from).bind(to).fetch_all(e).await)?;
    rows.into_iter().map(BucketRow::into_bucket).collect()
}

async fn read_distinct(
    c: &mut impl Connection,
    level: &Level,
    org_id: &str,
    metric_id: &str,
    customer_id: &str,
    (from, to): (Micros, Micros),
) -> StoreResult<Vec<(Micros, String)>> {
    let sql = format!(
        "SELECT bucket, value FROM {}
         WHERE org_id = $1 AND metric_id = $2 AND customer_id = $3 AND bucket >= $4 AND bucket < $5",
        level.distinct
    );
    Ok(
        on!(c, e => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(metric_id).bind(customer_id).bind(from).bind(to).fetch_all(e).await)?,
    )
}

/// Rows per page when [`build_daily`] reads the hourly rollups.
const BUILD_PAGE: i64 = 10_000;

#[derive(sqlx::FromRow)]
struct KeyedBucketRow {
    org_id: String,
    metric_id: String,
    customer_id: String,
    #[sqlx(flatten)]
    row: BucketRow,
}

/// Gathers hourly rollups written before the daily level existed (migration 0011) into daily
/// rows, once: the first start after the migration does it, in the caller's transaction, and
/// marks it done. Later writes keep both levels in step through [`apply`].
pub(crate) async fn build_daily(c: &mut impl Connection) -> StoreResult<()> {
    let built: i64 = match c.conn() {
        Conn::Sqlite(e) => {
            sqlx::query_scalar("SELECT built FROM usage_days_state WHERE id = 1")
                .fetch_one(e)
                .await?
        }
        // Another process starting at the same moment waits here and then finds it built.
        Conn::Postgres(e) => {
            sqlx::query_scalar("SELECT built FROM usage_days_state WHERE id = 1 FOR UPDATE")
                .fetch_one(e)
                .await?
        }
    };
    if built == 1 {
        return Ok(());
    }
    if let Conn::Postgres(e) = c.conn() {
        // No hourly row may change between reading it and writing its day.
        sqlx::query("LOCK TABLE usage_buckets, usage_distinct IN SHARE ROW EXCLUSIVE MODE")
            .execute(e)
            .await?;
    }
    let columns = bucket_columns(c);
    let sql = format!(
        "SELECT org_id, metric_id, customer_id, {columns} FROM usage_buckets
         WHERE (org_id, metric_id, customer_id, bucket) > ($1, $2, $3, $4)
         ORDER BY org_id, metric_id, customer_id, bucket LIMIT $5"
    );
    let mut after = (String::new(), String::new(), String::new(), i64::MIN);
    loop {
        let rows: Vec<KeyedBucketRow> = on!(c, e => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(&after.0).bind(&after.1).bind(&after.2).bind(after.3).bind(BUILD_PAGE)
            .fetch_all(e).await)?;
        let Some(last) = rows.last() else { break };
        after = (
            last.org_id.clone(),
            last.metric_id.clone(),
            last.customer_id.clone(),
            last.row.bucket,
        );
        let mut by_org: BTreeMap<String, Deltas> = BTreeMap::new();
        for r in rows {
            let org = by_org.entry(r.org_id).or_default();
            let (start, bucket) = r.row.into_bucket()?;
            let key = BucketKey {
                metric_id: r.metric_id,
                customer_id: r.customer_id,
                start,
            };
            org.buckets.insert(key, bucket);
        }
        // A day cut by a page boundary is merged by the second upsert.
        for (org, hours) in &by_org {
            write_level(c, org, &DAILY, &hours.by_day().map_err(overflow)?).await?;
        }
    }
    let sql = "SELECT org_id, metric_id, customer_id, bucket, value FROM usage_distinct
         WHERE (org_id, metric_id, customer_id, bucket, value) > ($1, $2, $3, $4, $5)
         ORDER BY org_id, metric_id, customer_id, bucket, value LIMIT $6";
    let mut after = (
        String::new(),
        String::new(),
        String::new(),
        i64::MIN,
        String::new(),
    );
    loop {
        let rows: Vec<(String, String, String, i64, String)> = on!(c, e => sqlx::query_as(sql)
            .bind(&after.0).bind(&after.1).bind(&after.2).bind(after.3).bind(&after.4).bind(BUILD_PAGE)
            .fetch_all(e).await)?;
        let Some(last) = rows.last() else { break };
        after = last.clone();
        let mut by_org: BTreeMap<String, Deltas> = BTreeMap::new();
        for (org, metric_id, customer_id, start, value) in rows {
            let key = BucketKey {
                metric_id,
                customer_id,
                start,
            };
            by_org.entry(org).or_default().distinct.insert((key, value));
        }
        for (org, hours) in &by_org {
            write_level(c, org, &DAILY, &hours.by_day().map_err(overflow)?).await?;
        }
    }
    on!(c, e => sqlx::query("UPDATE usage_days_state SET built = 1 WHERE id = 1").execute(e).await.map(|_| ()))?;
    Ok(())
}

/// Raw events of a customer for the parts of a usage query no bucket covers.
pub async fn raw_events(
    c: &mut impl Connection,
    org_id: &str,
    customer_id: &str,
    event_name: &str,
    ranges: &[(Micros, Micros)],
) -> StoreResult<Vec<RawEvent>> {
    events::for_customer(c, org_id, customer_id, event_name, ranges).await
}
