//! Usage events: deduplicated by `(org_id, unique_id)` forever, attributed to a customer when the
//! account is known (or later, when it appears).

use std::collections::HashMap;

use abacus_core::metering::properties::from_json_text;
use abacus_core::metering::usage::RawEvent;
use abacus_core::time::Micros;
use futures::TryStreamExt;
use sqlx::QueryBuilder;

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

/// Stores events whose unique ids are distinct within the slice. Returns one outcome per event,
/// in order.
pub async fn insert(
    c: &mut impl Connection,
    org_id: &str,
    events: &[NewEvent<'_>],
) -> StoreResult<Vec<Stored>> {
    let mut returned: HashMap<String, Returned> = HashMap::with_capacity(events.len());
    for chunk in events.chunks(CHUNK) {
        let rows: Vec<Returned> = match c.conn() {
            Conn::Sqlite(e) => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO events (org_id, unique_id, event_name, account, customer_id, ts, received_at, properties) ",
                );
                q.push_values(chunk, |mut b, ev| {
                    b.push_bind(org_id)
                        .push_bind(ev.unique_id)
                        .push_bind(ev.event_name)
                        .push_bind(ev.account)
                        .push_bind(ev.customer_id)
                        .push_bind(ev.ts)
                        .push_bind(ev.received_at)
                        .push_bind(ev.properties);
                });
                q.push(
                    " ON CONFLICT (org_id, unique_id) DO UPDATE SET duplicates = duplicates + 1
                      RETURNING unique_id, seq, duplicates, customer_id",
                );
                q.build_query_as().fetch_all(e).await?
            }
            Conn::Postgres(e) => {
                sqlx::query_as(
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
                .fetch_all(e)
                .await?
            }
        };
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

/// Maps each account (a customer id or alias) to its customer; unknown accounts are absent.
pub async fn resolve_accounts(
    c: &mut impl Connection,
    org_id: &str,
    accounts: &[&str],
) -> StoreResult<HashMap<String, String>> {
    let mut found = HashMap::new();
    if accounts.is_empty() {
        return Ok(found);
    }
    // Ids win over aliases: they are looked up last and overwrite.
    for (sql, column) in [
        (
            "SELECT alias, customer_id FROM customer_aliases WHERE org_id = ",
            "alias",
        ),
        (
            "SELECT id, id FROM customers WHERE deleted_at IS NULL AND org_id = ",
            "id",
        ),
    ] {
        let rows: Vec<(String, String)> = on!(c, e => {
            let mut q = QueryBuilder::new(sql);
            q.push_bind(org_id).push(format_args!(" AND {column} IN ("));
            let mut sep = q.separated(", ");
            for a in accounts {
                sep.push_bind(*a);
            }
            q.push(")");
            q.build_query_as().fetch_all(e).await
        })?;
        found.extend(rows);
    }
    Ok(found)
}

/// Attributes the unmatched events of these account names to `customer_id` and returns them, so
/// their usage can be counted.
pub async fn claim_unmatched(
    c: &mut impl Connection,
    org_id: &str,
    customer_id: &str,
    accounts: &[String],
) -> StoreResult<Vec<RawEvent>> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, Micros, String, String)> = on!(c, e => {
        let mut q = QueryBuilder::new("UPDATE events SET customer_id = ");
        q.push_bind(customer_id).push(" WHERE org_id = ").push_bind(org_id).push(" AND customer_id IS NULL AND account IN (");
        let mut sep = q.separated(", ");
        for a in accounts {
            sep.push_bind(a.as_str());
        }
        q.push(") RETURNING seq, ts, event_name, properties");
        q.build_query_as().fetch_all(e).await
    })?;
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

/// A customer's events of one name in the half-open time ranges.
pub async fn for_customer(
    c: &mut impl Connection,
    org_id: &str,
    customer_id: &str,
    event_name: &str,
    ranges: &[(Micros, Micros)],
) -> StoreResult<Vec<RawEvent>> {
    let mut out = Vec::new();
    for (from, to) in ranges {
        let rows: Vec<(i64, Micros, String, String)> = on!(c, e => sqlx::query_as(
            "SELECT seq, ts, event_name, properties FROM events
             WHERE org_id = $1 AND customer_id = $2 AND event_name = $3 AND ts >= $4 AND ts < $5")
            .bind(org_id).bind(customer_id).bind(event_name).bind(from).bind(to).fetch_all(e).await)?;
        for r in rows {
            out.push(raw(r)?);
        }
    }
    Ok(out)
}

/// Calls `f` with every attributed event of one name (customer id and event), streaming.
pub async fn scan_attributed(
    c: &mut impl Connection,
    org_id: &str,
    event_name: &str,
    mut f: impl FnMut(String, RawEvent) -> StoreResult<()> + Send,
) -> StoreResult<()> {
    const SQL: &str = "SELECT customer_id, seq, ts, event_name, properties FROM events
                       WHERE org_id = $1 AND event_name = $2 AND customer_id IS NOT NULL";
    on!(c, e => {
        let mut rows = sqlx::query_as::<_, (String, i64, Micros, String, String)>(SQL).bind(org_id).bind(event_name).fetch(e);
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
