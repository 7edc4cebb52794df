//! Usage events: deduplicated by `(org_id, unique_id)` forever, attributed to a customer when the
//! account is known (or later, when it appears).

use std::collections::HashMap;

use abacus_core::metering::properties::from_json_text;
use abacus_core::metering::usage::RawEvent;
use abacus_core::time::Micros;
use futures::TryStreamExt;
use sqlx::QueryBuilder;
use sqlx::types::Json;

use crate::db::{Conn, Connection};
use crate::error::{StoreError, StoreResult};
use crate::on;

/// An event to store. `customer_id` is `None` while its account is unknown.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub unique_id: &'a str,
    pub account: &'a str,
    pub customer_id: Option<&'a str>,
    pub event_name: &'a str,
    pub ts: Micros,
    pub received_at: Micros,
    pub properties: &'a str,
}

/// What storing an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A new event, with its arrival number.
    New { seq: i64 },
    /// The unique id was already stored (its duplicate count went up); `matched` tells whether
    /// that stored event is attributed to a customer.
    Duplicate { matched: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredEvent {
    pub seq: i64,
    pub unique_id: String,
    pub event_name: String,
    pub account: String,
    pub customer_id: Option<String>,
    pub ts: Micros,
    pub received_at: Micros,
    pub properties: String,
    pub duplicates: i32,
}

#[derive(sqlx::FromRow)]
struct Returned {
    unique_id: String,
    seq: i64,
    duplicates: i32,
    customer_id: Option<String>,
}

const CHUNK: usize = crate::db::STATEMENT_ROWS;

/// Adds to stored events' duplicate counts: `copies` names each event and how many more times
/// it came in one batch, which stores its first copy and counts the rest here.
pub async fn add_duplicates(
    c: &mut impl Connection,
    org_id: &str,
    copies: &[(&str, i32)],
) -> StoreResult<()> {
    for (unique_id, n) in copies {
        on!(c, e => sqlx::query(
            "UPDATE events SET duplicates = duplicates + $1 WHERE org_id = $2 AND unique_id = $3",
        )
        .bind(*n)
        .bind(org_id)
        .bind(*unique_id)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Stores events whose unique ids are distinct within the slice. Returns one outcome per event,
/// in order.
pub async fn insert(
    c: &mut impl Connection,
    org_id: &str,
    events: &[NewEvent<'_>],
) -> StoreResult<Vec<Stored>> {
    match c.conn() {
        Conn::Sqlite(e) => insert_sqlite(e, org_id, events).await,
        Conn::Postgres(e) => insert_postgres(e, org_id, events).await,
    }
}

/// SQLite runs one writer at a time, so within the write transaction nothing else inserts: the
/// events are given the next seqs up front and inserted without reading anything back. Only when
/// some unique ids were already stored (fewer rows inserted than sent) are the missing seqs looked
/// up and those stored events' duplicate counts raised.
async fn insert_sqlite(
    e: &mut sqlx::SqliteConnection,
    org_id: &str,
    events: &[NewEvent<'_>],
) -> StoreResult<Vec<Stored>> {
    let first: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM events")
        .fetch_one(&mut *e)
        .await?;
    let mut inserted = 0;
    for (i, chunk) in events.chunks(CHUNK).enumerate() {
        let mut seq = first + (i * CHUNK) as i64;
        let mut q = QueryBuilder::new(
            "INSERT INTO events (seq, org_id, unique_id, event_name, account, customer_id, ts, received_at, properties) ",
        );
        q.push_values(chunk, |mut b, ev| {
            b.push_bind(seq)
                .push_bind(org_id)
                .push_bind(ev.unique_id)
                .push_bind(ev.event_name)
                .push_bind(ev.account)
                .push_bind(ev.customer_id)
                .push_bind(ev.ts)
                .push_bind(ev.received_at)
                .push_bind(ev.properties);
            seq += 1;
        });
        q.push(" ON CONFLICT (org_id, unique_id) DO NOTHING");
        inserted += q.build().execute(&mut *e).await?.rows_affected();
    }
    let seqs = first..first + events.len() as i64;
    if inserted == events.len() as u64 {
        return Ok(seqs.map(|seq| Stored::New { seq }).collect());
    }
    let present: std::collections::HashSet<i64> =
        sqlx::query_scalar("SELECT seq FROM events WHERE seq >= $1 AND seq < $2")
            .bind(seqs.start)
            .bind(seqs.end)
            .fetch_all(&mut *e)
            .await?
            .into_iter()
            .collect();
    let resent: Vec<&str> = events
        .iter()
        .zip(seqs.clone())
        .filter(|(_, seq)| !present.contains(seq))
        .map(|(ev, _)| ev.unique_id)
        .collect();
    let mut matched: HashMap<String, bool> = HashMap::with_capacity(resent.len());
    for chunk in resent.chunks(CHUNK) {
        let mut q =
            QueryBuilder::new("UPDATE events SET duplicates = duplicates + 1 WHERE org_id = ");
        q.push_bind(org_id).push(" AND unique_id IN (");
        let mut sep = q.separated(", ");
        for id in chunk {
            sep.push_bind(*id);
        }
        q.push(") RETURNING unique_id, customer_id IS NOT NULL");
        let rows: Vec<(String, bool)> = q.build_query_as().fetch_all(&mut *e).await?;
        matched.extend(rows);
    }
    events
        .iter()
        .zip(seqs)
        .map(|(ev, seq)| {
            if present.contains(&seq) {
                return Ok(Stored::New { seq });
            }
            match matched.get(ev.unique_id) {
                Some(m) => Ok(Stored::Duplicate { matched: *m }),
                None => Err(StoreError::Corrupt(format!(
                    "event '{}' was neither inserted nor found",
                    ev.unique_id
                ))),
            }
        })
        .collect()
}

async fn insert_postgres(
    e: &mut sqlx::PgConnection,
    org_id: &str,
    events: &[NewEvent<'_>],
) -> StoreResult<Vec<Stored>> {
    let mut returned: HashMap<String, Returned> = HashMap::with_capacity(events.len());
    for chunk in events.chunks(CHUNK) {
        let rows: Vec<Returned> = sqlx::query_as(
            "INSERT INTO events (org_id, unique_id, event_name, account, customer_id, ts, received_at, properties)
             SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[])
             ON CONFLICT (org_id, unique_id) DO UPDATE SET duplicates = events.duplicates + 1
             RETURNING unique_id, seq, duplicates, customer_id",
        )
        .bind(org_id)
        .bind(chunk.iter().map(|e| e.unique_id).collect::<Vec<&str>>())
        .bind(chunk.iter().map(|e| e.event_name).collect::<Vec<&str>>())
        .bind(chunk.iter().map(|e| e.account).collect::<Vec<&str>>())
        .bind(chunk.iter().map(|e| e.customer_id).collect::<Vec<Option<&str>>>())
        .bind(chunk.iter().map(|e| e.ts).collect::<Vec<i64>>())
        .bind(chunk.iter().map(|e| e.received_at).collect::<Vec<i64>>())
        .bind(chunk.iter().map(|e| e.properties).collect::<Vec<&str>>())
        .fetch_all(&mut *e)
        .await?;
        returned.extend(rows.into_iter().map(|r| (r.unique_id.clone(), r)));
    }
    events
        .iter()
        .map(|ev| match returned.get(ev.unique_id) {
            Some(r) if r.duplicates == 0 => Ok(Stored::New { seq: r.seq }),
            Some(r) => Ok(Stored::Duplicate {
                matched: r.customer_id.is_some(),
            }),
            None => Err(StoreError::Corrupt(format!(
                "no outcome for event '{}'",
                ev.unique_id
            ))),
        })
        .collect()
}

/// Maps each account (a customer id or alias) to its customer; unknown accounts are absent. A
/// customer id wins over an alias spelled the same.
pub async fn resolve_accounts(
    c: &mut impl Connection,
    org_id: &str,
    accounts: &[&str],
) -> StoreResult<HashMap<String, String>> {
    if accounts.is_empty() {
        return Ok(HashMap::new());
    }
    // One statement whatever the number of accounts (its text never changes, so it stays
    // prepared): the accounts travel as one JSON array (SQLite) or text array (PostgreSQL).
    macro_rules! lookup {
        ($accounts:literal) => {
            concat!(
                "SELECT j.value, COALESCE(
                     (SELECT c.id FROM customers c WHERE c.org_id = $1 AND c.id = j.value AND c.deleted_at IS NULL),
                     (SELECT a.customer_id FROM customer_aliases a WHERE a.org_id = $1 AND a.alias = j.value))
                 FROM ",
                $accounts
            )
        };
    }
    let rows: Vec<(String, Option<String>)> = match c.conn() {
        Conn::Sqlite(e) => {
            sqlx::query_as(lookup!("json_each($2) j"))
                .bind(org_id)
                .bind(Json(accounts))
                .fetch_all(e)
                .await?
        }
        Conn::Postgres(e) => {
            sqlx::query_as(lookup!("UNNEST($2::text[]) AS j(value)"))
                .bind(org_id)
                .bind(accounts)
                .fetch_all(e)
                .await?
        }
    };
    Ok(rows
        .into_iter()
        .filter_map(|(account, customer)| Some((account, customer?)))
        .collect())
}

/// Attributes the unmatched events of these account names to `customer_id` and returns those the
/// caller must count in the rollups now: all of them on PostgreSQL; on SQLite those below the
/// watermark, because the next settling of the tail counts the rest (see [`crate::tail`]).
pub async fn claim_unmatched(
    c: &mut impl Connection,
    org_id: &str,
    customer_id: &str,
    accounts: &[String],
) -> StoreResult<Vec<RawEvent>> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows: Vec<(i64, Micros, String, String)> = on!(c, e => {
        let mut q = QueryBuilder::new("UPDATE events SET customer_id = ");
        q.push_bind(customer_id).push(" WHERE org_id = ").push_bind(org_id).push(" AND customer_id IS NULL AND account IN (");
        let mut sep = q.separated(", ");
        for a in accounts {
            sep.push_bind(a.as_str());
        }
        q.push(") RETURNING seq, ts, event_name, properties");
        q.build_query_as().fetch_all(e).await
    })?;
    if let Conn::Sqlite(e) = c.conn() {
        // Settling has passed the claimed events at or below its watermark: index them here.
        let through: i64 = sqlx::query_scalar("SELECT indexed_through FROM event_index_state")
            .fetch_one(&mut *e)
            .await?;
        rows.retain(|r| r.0 <= through);
        for chunk in rows.chunks(CHUNK) {
            let mut q =
                QueryBuilder::new("INSERT INTO event_index (customer_id, event_name, ts, seq) ");
            q.push_values(chunk, |mut b, (seq, ts, name, _)| {
                b.push_bind(customer_id)
                    .push_bind(name.as_str())
                    .push_bind(*ts)
                    .push_bind(*seq);
            });
            q.build().execute(&mut *e).await?;
        }
    }
    rows.into_iter().map(raw).collect()
}

fn raw((seq, ts, event_name, properties): (i64, Micros, String, String)) -> StoreResult<RawEvent> {
    let properties = from_json_text(&properties)
        .map_err(|e| StoreError::Corrupt(format!("event {seq} properties: {e}")))?;
    Ok(RawEvent {
        seq,
        ts,
        event_name,
        properties,
    })
}

/// A customer's events of one name in the half-open time ranges, which do not overlap.
pub async fn for_customer(
    c: &mut impl Connection,
    org_id: &str,
    customer_id: &str,
    event_name: &str,
    ranges: &[(Micros, Micros)],
) -> StoreResult<Vec<RawEvent>> {
    let (Some(low), Some(high)) = (
        ranges.iter().map(|r| r.0).min(),
        ranges.iter().map(|r| r.1).max(),
    ) else {
        return Ok(Vec::new());
    };
    let rows: Vec<(i64, Micros, String, String)> = match c.conn() {
        Conn::Sqlite(e) => {
            // The indexed events of each range, then the unsettled tail (see `crate::tail`) by seq
            // once for all ranges, in one statement so both halves see the same watermark.
            // `+org_id` keeps the tail on the seq range rather than the dedup index.
            let list: Vec<[Micros; 2]> = ranges.iter().map(|(a, b)| [*a, *b]).collect();
            let rows: Vec<(i64, Micros, String, String)> = sqlx::query_as(
                "SELECT e.seq, e.ts, e.event_name, e.properties
                 FROM json_each($4) r CROSS JOIN event_index i CROSS JOIN events e
                 WHERE i.customer_id = $2 AND i.event_name = $3
                   AND i.ts >= r.value ->> 0 AND i.ts < r.value ->> 1
                   AND e.seq = i.seq AND e.org_id = $1
                 UNION ALL
                 SELECT seq, ts, event_name, properties FROM events
                 WHERE +org_id = $1 AND seq > (SELECT indexed_through FROM event_index_state)
                   AND customer_id = $2 AND event_name = $3 AND ts >= $5 AND ts < $6",
            )
            .bind(org_id)
            .bind(customer_id)
            .bind(event_name)
            .bind(Json(list))
            .bind(low)
            .bind(high)
            .fetch_all(e)
            .await?;
            // The tail was read from the lowest start to the highest end: keep what a range holds.
            rows.into_iter()
                .filter(|r| ranges.iter().any(|(a, b)| *a <= r.1 && r.1 < *b))
                .collect()
        }
        Conn::Postgres(e) => {
            let mut rows = Vec::new();
            for (from, to) in ranges {
                rows.extend(
                    sqlx::query_as::<_, (i64, Micros, String, String)>(
                        "SELECT seq, ts, event_name, properties FROM events
                         WHERE org_id = $1 AND customer_id = $2 AND event_name = $3 AND ts >= $4 AND ts < $5",
                    )
                    .bind(org_id)
                    .bind(customer_id)
                    .bind(event_name)
                    .bind(from)
                    .bind(to)
                    .fetch_all(&mut *e)
                    .await?,
                );
            }
            rows
        }
    };
    rows.into_iter().map(raw).collect()
}

/// Calls `f` with every settled attributed event of one name (customer id and event),
/// streaming: on SQLite the events at or below the watermark (see [`crate::tail`]), on PostgreSQL
/// all of them.
pub async fn scan_attributed(
    c: &mut impl Connection,
    org_id: &str,
    event_name: &str,
    mut f: impl FnMut(String, RawEvent) -> StoreResult<()> + Send,
) -> StoreResult<()> {
    const SQL: &str = "SELECT customer_id, seq, ts, event_name, properties FROM events
                       WHERE org_id = $1 AND event_name = $2 AND customer_id IS NOT NULL";
    let sql = match c.conn() {
        Conn::Sqlite(_) => {
            format!("{SQL} AND seq <= (SELECT indexed_through FROM event_index_state)")
        }
        Conn::Postgres(_) => SQL.to_string(),
    };
    on!(c, e => {
        let mut rows = sqlx::query_as::<_, (String, i64, Micros, String, String)>(sqlx::AssertSqlSafe(sql.as_str())).bind(org_id).bind(event_name).fetch(e);
        while let Some((customer, seq, ts, name, props)) = rows.try_next().await? {
            f(customer, raw((seq, ts, name, props))?)?;
        }
        Ok::<(), StoreError>(())
    })
}

/// Which events a listing shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Events sent with this account, or attributed to the customer it names.
    pub account: Option<String>,
    pub customer_id: Option<String>,
    pub event_name: Option<String>,
    pub from: Option<Micros>,
    pub to: Option<Micros>,
    pub unmatched_only: bool,
}

/// Events newest first (by arrival), older than `before_seq` when given.
pub async fn list(
    c: &mut impl Connection,
    org_id: &str,
    f: &ListFilter,
    before_seq: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<StoredEvent>> {
    Ok(on!(c, e => {
        let mut q = QueryBuilder::new(
            "SELECT seq, unique_id, event_name, account, customer_id, ts, received_at, properties, duplicates
             FROM events WHERE org_id = ");
        q.push_bind(org_id);
        if let Some(a) = &f.account {
            q.push(" AND (account = ").push_bind(a.as_str());
            if let Some(cid) = &f.customer_id {
                q.push(" OR customer_id = ").push_bind(cid.as_str());
            }
            q.push(")");
        }
        if let Some(n) = &f.event_name {
            q.push(" AND event_name = ").push_bind(n.as_str());
        }
        if let Some(from) = f.from {
            q.push(" AND ts >= ").push_bind(from);
        }
        if let Some(to) = f.to {
            q.push(" AND ts < ").push_bind(to);
        }
        if f.unmatched_only {
            q.push(" AND customer_id IS NULL");
        }
        if let Some(before) = before_seq {
            q.push(" AND seq < ").push_bind(before);
        }
        q.push(" ORDER BY seq DESC LIMIT ").push_bind(limit);
        q.build_query_as().fetch_all(e).await
    })?)
}

/// A 64-bit key for an organization's advisory locks.
fn org_lock_key(org_id: &str) -> i64 {
    // FNV-1a: stable across processes and versions, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in org_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// Orders metering writes within an organization. Ingestion takes the lock shared, so ingest
/// transactions run side by side; creating a metric (which backfills) or a customer (which claims
/// unmatched events) takes it exclusively, so no event can slip between a backfill or a claim and
/// the ingestion that would have counted it. PostgreSQL only: SQLite has a single writer already.
pub async fn lock_org(c: &mut impl Connection, org_id: &str, exclusive: bool) -> StoreResult<()> {
    if let Conn::Postgres(e) = c.conn() {
        let sql = if exclusive {
            "SELECT pg_advisory_xact_lock($1)"
        } else {
            "SELECT pg_advisory_xact_lock_shared($1)"
        };
        sqlx::query(sql)
            .bind(org_lock_key(org_id))
            .execute(e)
            .await?;
    }
    Ok(())
}
