//! What the billing scheduler claims and records: subscriptions with a boundary due
//! (`subscriptions.bill_at`), and the drafts it made that are still in their grace period
//! (`invoices.finalize_at`). Rows are claimed `FOR NO KEY UPDATE SKIP LOCKED` on PostgreSQL, so
//! schedulers on several servers take disjoint work; SQLite has a single writer. Rows are locked
//! `FOR NO KEY UPDATE` rather than `FOR UPDATE` throughout billing: it excludes the other
//! writers of the row just the same, but not the key-share locks that inserting a row which
//! refers to it takes (a payment of the customer, a credit draw on the grant), which would
//! otherwise make those inserts wait, or deadlock, behind a batch. Claims only
//! spread the work: the unique billing key `(subscription_id, boundary)` of invoices is what makes
//! a period billed once (see `invoices::insert`).

use abacus_core::time::Micros;
use sqlx::AssertSqlSafe;

use crate::db::{Conn, Connection};
use crate::error::StoreResult;
use crate::on;

/// `bill_at` of a subscription with nothing left to invoice.
pub const NOTHING_LEFT: Micros = i64::MAX;

/// A subscription whose next boundary is due (or unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueSubscription {
    pub org_id: String,
    pub id: String,
    pub customer_id: String,
    /// The last boundary invoiced, if any.
    pub billed_through: Option<Micros>,
}

/// `$1` is now.
const DUE: &str = "status <> 'draft' AND (bill_at IS NULL OR bill_at <= $1)";

/// Whether any subscription has a boundary due at `now` (a cheap read, so an idle SQLite server
/// never takes the write lock for the scheduler).
pub async fn any_due(c: &mut impl Connection, now: Micros) -> StoreResult<bool> {
    let sql = format!("SELECT 1 FROM subscriptions WHERE {DUE} LIMIT 1");
    let hit: Option<i32> = on!(c, e => sqlx::query_scalar(AssertSqlSafe(sql.as_str()))
        .bind(now).fetch_optional(e).await)?;
    Ok(hit.is_some())
}

/// Claims up to `limit` subscriptions with a boundary due at `now`, the longest waiting first.
/// On PostgreSQL they stay locked until the caller's transaction ends.
pub async fn claim_due(
    c: &mut impl Connection,
    now: Micros,
    limit: i64,
) -> StoreResult<Vec<DueSubscription>> {
    #[derive(sqlx::FromRow)]
    struct Hit {
        org_id: String,
        id: String,
        customer_id: String,
        billed_through: Option<Micros>,
    }
    let select = format!(
        "SELECT org_id, id, customer_id, billed_through FROM subscriptions WHERE {DUE}
         ORDER BY COALESCE(bill_at, 0), id LIMIT $2"
    );
    let hits: Vec<Hit> = match c.conn() {
        Conn::Sqlite(e) => {
            sqlx::query_as(AssertSqlSafe(select.as_str()))
                .bind(now)
                .bind(limit)
                .fetch_all(e)
                .await?
        }
        Conn::Postgres(e) => {
            let sql = format!("{select} FOR NO KEY UPDATE SKIP LOCKED");
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(now)
                .bind(limit)
                .fetch_all(e)
                .await?
        }
    };
    Ok(hits
        .into_iter()
        .map(|h| DueSubscription {
            org_id: h.org_id,
            id: h.id,
            customer_id: h.customer_id,
            billed_through: h.billed_through,
        })
        .collect())
}

/// Locks on PostgreSQL, until the caller's transaction ends, every row a batch may wait for
/// besides the document counter: the customers of the claimed subscriptions and drafts (storing
/// an invoice locks its customer), then the credit grants of their subscriptions (drawing credit
/// locks them), each set in one order. Schedulers running
/// side by side then all take customers, then grants, then the counter, and cannot deadlock, as
/// batches locking them as they reach them could. SQLite has a single writer: nothing to do.
pub async fn lock_for_billing(
    c: &mut impl Connection,
    due: &[DueSubscription],
    drafts: &[DueDraft],
) -> StoreResult<()> {
    let Conn::Postgres(e) = c.conn() else {
        return Ok(());
    };
    let customers = due
        .iter()
        .map(|d| (d.org_id.as_str(), d.customer_id.as_str()))
        .chain(
            drafts
                .iter()
                .map(|d| (d.org_id.as_str(), d.customer_id.as_str())),
        );
    lock_each(
        &mut *e,
        "SELECT 1 FROM customers c
         JOIN UNNEST($1::text[], $2::text[]) AS k(org_id, id) ON c.org_id = k.org_id AND c.id = k.id
         ORDER BY c.org_id, c.id FOR NO KEY UPDATE OF c",
        customers,
    )
    .await?;
    let subscriptions = due
        .iter()
        .map(|d| (d.org_id.as_str(), d.id.as_str()))
        .chain(
            drafts
                .iter()
                .filter_map(|d| Some((d.org_id.as_str(), d.subscription_id.as_deref()?))),
        );
    lock_each(
        &mut *e,
        "SELECT 1 FROM credit_grants g
         JOIN UNNEST($1::text[], $2::text[]) AS k(org_id, subscription_id)
           ON g.org_id = k.org_id AND g.subscription_id = k.subscription_id
         ORDER BY g.id FOR NO KEY UPDATE OF g",
        subscriptions,
    )
    .await
}

/// Runs a locking `sql` over `(org_id, id)` keys bound as two arrays; nothing without keys.
async fn lock_each<'k>(
    e: &mut sqlx::PgConnection,
    sql: &'static str,
    keys: impl Iterator<Item = (&'k str, &'k str)>,
) -> StoreResult<()> {
    let (orgs, ids): (Vec<&str>, Vec<&str>) = keys.unzip();
    if orgs.is_empty() {
        return Ok(());
    }
    sqlx::query(sql).bind(orgs).bind(ids).execute(e).await?;
    Ok(())
}

/// Records the scheduler's progress on a subscription: the last boundary invoiced, when the next
/// one falls ([`NOTHING_LEFT`] for none), and why billing failed (`None` clears it).
pub async fn record_progress(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    billed_through: Option<Micros>,
    bill_at: Micros,
    error: Option<&str>,
) -> StoreResult<()> {
    on!(c, e => sqlx::query(
        "UPDATE subscriptions SET billed_through = $3, bill_at = $4, billing_error = $5
         WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(billed_through).bind(bill_at).bind(error)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// The scheduler's state of one subscription: `(billed_through, bill_at, billing_error)`.
pub async fn progress(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
) -> StoreResult<Option<(Option<Micros>, Option<Micros>, Option<String>)>> {
    Ok(on!(c, e => sqlx::query_as(
        "SELECT billed_through, bill_at, billing_error FROM subscriptions WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).fetch_optional(e).await)?)
}

/// A draft the scheduler made that is still in its grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDraft {
    pub org_id: String,
    pub invoice_id: String,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    /// Its grace period has ended: recompute it a last time (and issue it with
    /// `auto_issue_invoices`).
    pub finalize: bool,
}

/// `$1` is now, `$2` the refresh cut-off (drafts last recomputed at or before it are stale).
const DRAFT_DUE: &str = "status = 'draft' AND finalize_at IS NOT NULL
     AND (finalize_at <= $1 OR refreshed_at IS NULL OR refreshed_at <= $2)";

/// Whether any scheduler draft needs recomputing or finalizing at `now`.
pub async fn any_drafts_due(
    c: &mut impl Connection,
    now: Micros,
    stale_before: Micros,
) -> StoreResult<bool> {
    let sql = format!("SELECT 1 FROM invoices WHERE {DRAFT_DUE} LIMIT 1");
    let hit: Option<i32> = on!(c, e => sqlx::query_scalar(AssertSqlSafe(sql.as_str()))
        .bind(now).bind(stale_before).fetch_optional(e).await)?;
    Ok(hit.is_some())
}

/// Claims up to `limit` scheduler drafts to recompute or finalize, those whose grace ends first
/// first; locked until the caller's transaction ends on PostgreSQL.
pub async fn claim_drafts(
    c: &mut impl Connection,
    now: Micros,
    stale_before: Micros,
    limit: i64,
) -> StoreResult<Vec<DueDraft>> {
    #[derive(sqlx::FromRow)]
    struct Hit {
        org_id: String,
        id: String,
        customer_id: String,
        subscription_id: Option<String>,
        finalize_at: Micros,
    }
    let select = format!(
        "SELECT org_id, id, customer_id, subscription_id, finalize_at FROM invoices WHERE {DRAFT_DUE}
         ORDER BY finalize_at, id LIMIT $3"
    );
    let hits: Vec<Hit> = match c.conn() {
        Conn::Sqlite(e) => {
            sqlx::query_as(AssertSqlSafe(select.as_str()))
                .bind(now)
                .bind(stale_before)
                .bind(limit)
                .fetch_all(e)
                .await?
        }
        Conn::Postgres(e) => {
            let sql = format!("{select} FOR NO KEY UPDATE SKIP LOCKED");
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(now)
                .bind(stale_before)
                .bind(limit)
                .fetch_all(e)
                .await?
        }
    };
    Ok(hits
        .into_iter()
        .map(|h| DueDraft {
            finalize: h.finalize_at <= now,
            org_id: h.org_id,
            invoice_id: h.id,
            customer_id: h.customer_id,
            subscription_id: h.subscription_id,
        })
        .collect())
}

/// Sets when a scheduler draft's grace period ends (`None`: finalized, or never automatic) and
/// when it was last recomputed.
pub async fn set_draft_schedule(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
    finalize_at: Option<Micros>,
    refreshed_at: Micros,
) -> StoreResult<()> {
    on!(c, e => sqlx::query(
        "UPDATE invoices SET finalize_at = $3, refreshed_at = $4 WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(invoice_id).bind(finalize_at).bind(refreshed_at)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records that a scheduler draft was recomputed at `now`.
pub async fn mark_refreshed(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
    now: Micros,
) -> StoreResult<()> {
    on!(c, e => sqlx::query("UPDATE invoices SET refreshed_at = $3 WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(invoice_id).bind(now).execute(e).await.map(|r| r.rows_affected()))?;
    Ok(())
}
