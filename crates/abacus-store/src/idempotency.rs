//! Stored responses for `Idempotency-Key` requests.
//!
//! A request first *claims* its key: a `running` row with an owner token and a lease. The handler
//! then stores its response in the same transaction as its own writes ([`complete`]), which
//! succeeds only while the claim is still its own. So a write never commits without its stored
//! response, and a `running` row whose lease ran out means the write never committed: the next
//! retry may take the key over, and if the first attempt wakes up later its commit is refused.

use abacus_core::time::Micros;

use crate::db::Connection;
use crate::error::StoreResult;
use crate::on;

/// How long a response is replayed.
pub const RETENTION_MICROS: Micros = 24 * 3600 * 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours: run the request.
    Claimed,
    /// The key was used with another request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress { retry_after_secs: u64 },
    /// The first request finished: replay its response.
    Replay(StoredResponse),
}

#[derive(sqlx::FromRow)]
struct Row {
    request_hash: Vec<u8>,
    state: String,
    response_status: Option<i32>,
    response_content_type: Option<String>,
    response_body: Option<Vec<u8>>,
    created_at: Micros,
    locked_until: Micros,
}

/// Claims `key` for a request whose fingerprint is `hash`, as `owner`, until `lease_until`.
pub async fn claim(
    c: &mut impl Connection,
    org_id: &str,
    key: &str,
    hash: &[u8],
    owner: &str,
    now: Micros,
    lease_until: Micros,
) -> StoreResult<Claim> {
    for _ in 0..3 {
        let inserted = on!(c, e => sqlx::query(
            "INSERT INTO idempotency_keys (org_id, idem_key, request_hash, state, owner, created_at, locked_until)
             VALUES ($1, $2, $3, 'running', $4, $5, $6) ON CONFLICT (org_id, idem_key) DO NOTHING")
            .bind(org_id).bind(key).bind(hash).bind(owner).bind(now).bind(lease_until)
            .execute(e).await.map(|r| r.rows_affected()))?;
        if inserted == 1 {
            return Ok(Claim::Claimed);
        }
        let row: Option<Row> = on!(c, e => sqlx::query_as(
            "SELECT request_hash, state, response_status, response_content_type, response_body, created_at, locked_until
             FROM idempotency_keys WHERE org_id = $1 AND idem_key = $2")
            .bind(org_id).bind(key).fetch_optional(e).await)?;
        let Some(row) = row else { continue }; // released meanwhile: try the insert again
        if row.created_at <= now - RETENTION_MICROS {
            on!(c, e => sqlx::query("DELETE FROM idempotency_keys WHERE org_id = $1 AND idem_key = $2 AND created_at = $3")
                .bind(org_id).bind(key).bind(row.created_at).execute(e).await.map(|r| r.rows_affected()))?;
            continue;
        }
        if row.request_hash != hash {
            return Ok(Claim::Mismatch);
        }
        if row.state == "done" {
            return Ok(Claim::Replay(StoredResponse {
                status: u16::try_from(row.response_status.unwrap_or(200)).unwrap_or(200),
                content_type: row.response_content_type,
                body: row.response_body.unwrap_or_default(),
            }));
        }
        if row.locked_until > now {
            let secs = ((row.locked_until - now) / 1_000_000).clamp(1, 5) as u64;
            return Ok(Claim::InProgress {
                retry_after_secs: secs,
            });
        }
        let taken = on!(c, e => sqlx::query(
            "UPDATE idempotency_keys SET owner = $3, locked_until = $4
             WHERE org_id = $1 AND idem_key = $2 AND state = 'running' AND locked_until = $5")
            .bind(org_id).bind(key).bind(owner).bind(lease_until).bind(row.locked_until)
            .execute(e).await.map(|r| r.rows_affected()))?;
        if taken == 1 {
            return Ok(Claim::Claimed);
        }
    }
    Ok(Claim::InProgress {
        retry_after_secs: 1,
    })
}

/// Stores the response of a request `owner` claimed; false when the claim is no longer `owner`'s
/// (a retry took it over), in which case the caller must roll its writes back.
pub async fn complete(
    c: &mut impl Connection,
    org_id: &str,
    key: &str,
    owner: &str,
    response: &StoredResponse,
) -> StoreResult<bool> {
    let done = on!(c, e => sqlx::query(
        "UPDATE idempotency_keys SET state = 'done', response_status = $4, response_content_type = $5, response_body = $6
         WHERE org_id = $1 AND idem_key = $2 AND owner = $3 AND state = 'running'")
        .bind(org_id).bind(key).bind(owner).bind(i32::from(response.status)).bind(&response.content_type)
        .bind(&response.body).execute(e).await.map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Gives a claim back (the request failed without writing), so a retry can run.
pub async fn release(
    c: &mut impl Connection,
    org_id: &str,
    key: &str,
    owner: &str,
) -> StoreResult<()> {
    on!(c, e => sqlx::query("DELETE FROM idempotency_keys WHERE org_id = $1 AND idem_key = $2 AND owner = $3 AND state = 'running'")
        .bind(org_id).bind(key).bind(owner).execute(e).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Deletes records older than the retention window. Returns how many went.
pub async fn purge(c: &mut impl Connection, now: Micros) -> StoreResult<u64> {
    Ok(
        on!(c, e => sqlx::query("DELETE FROM idempotency_keys WHERE created_at <= $1")
        .bind(now - RETENTION_MICROS).execute(e).await.map(|r| r.rows_affected()))?,
    )
}
