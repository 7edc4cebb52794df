//! SQLite's deferred metering work: the tail of newest events.
//!
//! SQLite has one writer, so seq order is commit order, and work that every commit would repeat
//! for every customer can wait. Events above a watermark (`event_index_state.indexed_through`),
//! the tail, are stored in `events` and nowhere else: neither in the per-customer index
//! `event_index` nor in the rollups (`usage_buckets`, `usage_days`, their distinct values,
//! metric diagnostics). [`settle`] catches both up in one pass, in key order, and moves the
//! watermark in the same transaction, so a crash leaves either the whole tail or none of it
//! settled; [`prepare`] and [`apply`] split a pass so that its reading can run beside the
//! writer. Readers add the tail themselves ([`deltas`], `events::for_customer`), so no answer
//! depends on when the last pass ran.
//!
//! PostgreSQL's concurrent writers commit out of seq order, so a watermark could pass over an
//! event still uncommitted: it indexes and rolls up in every ingest transaction, and its tail is
//! always empty.

use std::borrow::Cow;
use std::collections::HashMap;

use abacus_core::metering::deltas::Deltas;
use abacus_core::metering::metric::Metric;
use abacus_core::metering::properties::{Properties, from_json_text};
use abacus_core::metering::usage::RawEvent;
use abacus_core::time::Micros;

use crate::db::{Conn, Connection};
use crate::error::{StoreError, StoreResult};
use crate::usage;

/// A tail this long is worth a settling pass: the server's writer then has one [`prepare`]d on a
/// read connection while it goes on ingesting, and [`apply`]s it. A pass costs a fixed part (a
/// few index and rollup pages per customer) and a part per event (reading it back, folding it into
/// the rollups), so longer tails mean fewer passes; readers scan the tail (18 ms measured at
/// 200,000, so about 27 ms at this length). Measured over 2 million events on one machine: with
/// passes on the writer, 100,000 gave 91,000 to 99,700 events/s and 200,000 gave 98,200 to
/// 102,000; prepared beside it, 200,000 gave 101,100 to 101,600 (p99 0.4 s) and 300,000 gave
/// 105,500 to 108,200 (p99 under 0.1 s). The server takes it from `ABACUS_SQLITE_SETTLE_EVENTS`.
pub const TAIL: i64 = 300_000;

/// The tail is settled at this many events, whatever else happens: by the ingest transaction
/// that brings it there ([`crate::ingest::ingest`]: `abacus events import`, the benchmarks' store
/// path), or by the server's writer, which applies the pass it is preparing or settles anew.
pub const LIMIT: i64 = 400_000;

/// SQLite: events stored since the last [`settle`]. PostgreSQL: always 0.
pub async fn pending(c: &mut impl Connection) -> StoreResult<i64> {
    match c.conn() {
        Conn::Sqlite(e) => {
            let (after, newest) = bounds(e).await?;
            Ok(newest - after)
        }
        Conn::Postgres(_) => Ok(0),
    }
}

/// SQLite: when the oldest event of the tail was received, if there is a tail. PostgreSQL: never.
pub async fn oldest(c: &mut impl Connection) -> StoreResult<Option<Micros>> {
    match c.conn() {
        Conn::Sqlite(e) => Ok(sqlx::query_scalar(
            "SELECT received_at FROM events
             WHERE seq > (SELECT indexed_through FROM event_index_state) ORDER BY seq LIMIT 1",
        )
        .fetch_optional(e)
        .await?),
        Conn::Postgres(_) => Ok(None),
    }
}

/// SQLite: counts every attributed event of the tail in the rollups of its metrics, copies it
/// into `event_index`, and moves the watermark past the newest event. Run it in a write
/// transaction. PostgreSQL: nothing to do.
pub async fn settle(c: &mut impl Connection) -> StoreResult<()> {
    let Some(pass) = prepare(c).await? else {
        return Ok(());
    };
    if apply(c, &pass).await? {
        Ok(())
    } else {
        Err(StoreError::Corrupt(
            "the tail changed inside the transaction settling it".into(),
        ))
    }
}

/// A settling pass computed from one snapshot of the tail, to [`apply`] under the write lock.
#[derive(Debug)]
pub struct Prepared {
    /// The watermark it starts from, and the newest event it covers.
    after: i64,
    through: i64,
    /// What it read that a writer could change before it is applied: the unattributed events in
    /// its range (a claim attributes them) and the metrics (a new one is missing from `deltas`).
    unmatched: i64,
    metrics: i64,
    deltas: HashMap<String, Deltas>,
}

impl Prepared {
    /// The events it settles.
    pub fn len(&self) -> i64 {
        self.through - self.after
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// SQLite: reads the tail and computes its rollups, or `None` when there is no tail. In a read
/// transaction this runs beside the writer; [`apply`] then does the writes. PostgreSQL: `None`.
pub async fn prepare(c: &mut impl Connection) -> StoreResult<Option<Prepared>> {
    let Conn::Sqlite(mut e) = c.conn() else {
        return Ok(None);
    };
    let (after, through) = bounds(e).await?;
    if after >= through {
        return Ok(None);
    }
    let (unmatched, metrics_now) = changeable(e, after, through).await?;
    let names: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT org_id, event_name FROM events
         WHERE seq > $1 AND seq <= $2 AND customer_id IS NOT NULL",
    )
    .bind(after)
    .bind(through)
    .fetch_all(&mut *e)
    .await?;
    let mut by_org: HashMap<String, Vec<&str>> = HashMap::new();
    for (org, name) in &names {
        by_org.entry(org.clone()).or_default().push(name);
    }
    let mut metrics: HashMap<String, HashMap<String, Vec<Metric>>> = HashMap::new();
    for (org, names) in by_org {
        let by_name = usage::metrics_by_name(&mut e, &org, &names).await?;
        metrics.insert(org, by_name);
    }
    let mut deltas: HashMap<String, Deltas> = HashMap::new();
    each_event(e, &Only::default(), (after, through), |row| {
        let Some(metrics) = metrics
            .get(&*row.org_id)
            .and_then(|n| n.get(&*row.event_name))
        else {
            return Ok(());
        };
        if metrics.is_empty() {
            return Ok(());
        }
        let d = match deltas.get_mut(&*row.org_id) {
            Some(d) => d,
            None => deltas.entry(row.org_id.to_string()).or_default(),
        };
        add(d, metrics, row)
    })
    .await?;
    Ok(Some(Prepared {
        after,
        through,
        unmatched,
        metrics: metrics_now,
        deltas,
    }))
}

/// SQLite: settles the tail `pass` covers, unless something it read has changed since it was
/// prepared (the watermark moved, a claim attributed one of its events, a metric was created):
/// then it does nothing and returns `false`. Run it in a write transaction.
pub async fn apply(c: &mut impl Connection, pass: &Prepared) -> StoreResult<bool> {
    let Conn::Sqlite(mut e) = c.conn() else {
        return Ok(false);
    };
    let (after, _) = bounds(e).await?;
    if after != pass.after
        || changeable(e, pass.after, pass.through).await? != (pass.unmatched, pass.metrics)
    {
        return Ok(false);
    }
    for (org, d) in &pass.deltas {
        usage::apply(&mut e, org, d).await?;
    }
    // OR IGNORE changes nothing (each seq is copied once, so no key repeats) but lets SQLite skip
    // the statement journal: a statement that could abort halfway first copies every index page
    // it touches to that journal, 30 MB of memory per pass at 200,000 events.
    sqlx::query(
        "INSERT OR IGNORE INTO event_index (customer_id, event_name, ts, seq)
         SELECT customer_id, event_name, ts, seq FROM events
         WHERE seq > $1 AND seq <= $2 AND customer_id IS NOT NULL
         ORDER BY customer_id, event_name, ts, seq",
    )
    .bind(pass.after)
    .bind(pass.through)
    .execute(&mut *e)
    .await?;
    sqlx::query("UPDATE event_index_state SET indexed_through = $1")
        .bind(pass.through)
        .execute(&mut *e)
        .await?;
    Ok(true)
}

/// The watermark and the newest seq.
async fn bounds(e: &mut sqlx::SqliteConnection) -> StoreResult<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT indexed_through, COALESCE((SELECT MAX(seq) FROM events), 0) FROM event_index_state",
    )
    .fetch_one(e)
    .await?)
}

/// The unattributed events with seq in `(after, through]`, and the number of metrics. Claims only
/// ever attribute events and metrics are never deleted, so an unchanged pair means an unchanged
/// reading.
async fn changeable(
    e: &mut sqlx::SqliteConnection,
    after: i64,
    through: i64,
) -> StoreResult<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM events WHERE seq > $1 AND seq <= $2 AND customer_id IS NULL),
                (SELECT COUNT(*) FROM metrics)",
    )
    .bind(after)
    .bind(through)
    .fetch_one(e)
    .await?)
}

/// What the tail adds to `metric`'s rollups: for one customer or all, and for events with
/// `from <= ts < to` or all. Always empty on PostgreSQL.
pub async fn deltas(
    c: &mut impl Connection,
    org_id: &str,
    metric: &Metric,
    customer_id: Option<&str>,
    span: Option<(Micros, Micros)>,
) -> StoreResult<Deltas> {
    let mut deltas = Deltas::default();
    let Conn::Sqlite(e) = c.conn() else {
        return Ok(deltas);
    };
    let only = Only {
        org_and_name: Some((org_id, &metric.event_name)),
        customer_id,
        span,
    };
    let metrics = std::slice::from_ref(metric);
    let range = bounds(e).await?;
    each_event(e, &only, range, |row| add(&mut deltas, metrics, row)).await?;
    Ok(deltas)
}

/// Which tail events [`each_event`] reads, beyond being attributed.
#[derive(Default)]
struct Only<'a> {
    org_and_name: Option<(&'a str, &'a str)>,
    customer_id: Option<&'a str>,
    span: Option<(Micros, Micros)>,
}

/// One attributed tail event as [`each_event`] reads it.
#[derive(serde::Deserialize)]
struct TailRow<'a> {
    #[serde(borrow)]
    org_id: Cow<'a, str>,
    #[serde(borrow)]
    customer_id: Cow<'a, str>,
    seq: i64,
    ts: Micros,
    #[serde(borrow)]
    event_name: Cow<'a, str>,
    /// The stored JSON text, as a string.
    #[serde(borrow)]
    properties: Cow<'a, str>,
}

/// Tail events read per statement.
const CHUNK_SEQS: i64 = 10_000;

/// Calls `f` with every attributed event with seq in `(after, newest]` that `only` admits, in seq
/// order. Each chunk of seqs comes back as ONE JSON array: sqlx hands SQLite rows over one at a
/// time, each through a channel from the connection's thread, and over a tail of 100,000 events
/// that costs several times the rollup itself.
async fn each_event(
    e: &mut sqlx::SqliteConnection,
    only: &Only<'_>,
    (mut after, newest): (i64, i64),
    mut f: impl FnMut(TailRow<'_>) -> StoreResult<()> + Send,
) -> StoreResult<()> {
    let (from, to) = only.span.unwrap_or((Micros::MIN, Micros::MAX));
    let (org_id, event_name) = only.org_and_name.unzip();
    while after < newest {
        let through = after.saturating_add(CHUNK_SEQS).min(newest);
        // `+org_id` keeps the scan on the seq range rather than the dedup index.
        let chunk: String = sqlx::query_scalar(
            "SELECT json_group_array(json_array(org_id, customer_id, seq, ts, event_name, properties))
             FROM (SELECT org_id, customer_id, seq, ts, event_name, properties FROM events
                   WHERE seq > $1 AND seq <= $2 AND customer_id IS NOT NULL
                     AND ($3 IS NULL OR (+org_id = $3 AND event_name = $4))
                     AND ($5 IS NULL OR customer_id = $5) AND ts >= $6 AND ts < $7
                   ORDER BY seq)",
        )
        .bind(after)
        .bind(through)
        .bind(org_id)
        .bind(event_name)
        .bind(only.customer_id)
        .bind(from)
        .bind(to)
        .fetch_one(&mut *e)
        .await?;
        let rows: Vec<TailRow<'_>> = serde_json::from_str(&chunk)
            .map_err(|e| StoreError::Corrupt(format!("tail events {after}..{through}: {e}")))?;
        for row in rows {
            f(row)?;
        }
        after = through;
    }
    Ok(())
}

/// Adds one tail event to `deltas` for `metrics`; its properties are parsed only when one of
/// them reads them.
fn add(deltas: &mut Deltas, metrics: &[Metric], row: TailRow<'_>) -> StoreResult<()> {
    let properties = if metrics.iter().any(Metric::reads_properties) {
        from_json_text(&row.properties)
            .map_err(|e| StoreError::Corrupt(format!("event {} properties: {e}", row.seq)))?
    } else {
        Properties::new()
    };
    let event = RawEvent {
        seq: row.seq,
        ts: row.ts,
        event_name: row.event_name.into_owned(),
        properties,
    };
    deltas
        .add(metrics, &row.customer_id, &event)
        .map_err(|o| StoreError::Corrupt(o.to_string()))
}
