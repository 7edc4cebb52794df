//! API keys: `<key_id>.<secret>`; only a hash of the secret is stored.

use abacus_core::time::Micros;

use crate::db::Connection;
use crate::error::StoreResult;
use crate::on;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKey {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub created_at: Micros,
    pub last_used_at: Option<Micros>,
    pub revoked_at: Option<Micros>,
}

/// What authentication needs: the owner and the hash to compare against.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyCredentials {
    pub id: String,
    pub org_id: String,
    pub secret_hash: Vec<u8>,
    pub last_used_at: Option<Micros>,
}

pub async fn insert(
    c: &mut impl Connection,
    id: &str,
    org_id: &str,
    name: &str,
    secret_hash: &[u8],
    now: Micros,
) -> StoreResult<ApiKey> {
    on!(c, e => sqlx::query(
        "INSERT INTO api_keys (id, org_id, name, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(id).bind(org_id).bind(name).bind(secret_hash).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(ApiKey {
        id: id.to_string(),
        org_id: org_id.to_string(),
        name: name.to_string(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    })
}

/// The credentials of a key that exists and is not revoked.
pub async fn find_active(c: &mut impl Connection, id: &str) -> StoreResult<Option<KeyCredentials>> {
    Ok(on!(c, e => sqlx::query_as(
        "SELECT id, org_id, secret_hash, last_used_at FROM api_keys WHERE id = $1 AND revoked_at IS NULL")
        .bind(id).fetch_optional(e).await)?)
}

/// Records use of a key; writes only when the stored time is older than `stale_before`, so a busy
/// key costs one write a minute rather than one per request.
pub async fn touch(
    c: &mut impl Connection,
    id: &str,
    now: Micros,
    stale_before: Micros,
) -> StoreResult<()> {
    on!(c, e => sqlx::query(
        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)")
        .bind(id).bind(now).bind(stale_before).execute(e).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Keys of one organization, or of all when `org_id` is `None`, oldest first.
pub async fn list(c: &mut impl Connection, org_id: Option<&str>) -> StoreResult<Vec<ApiKey>> {
    Ok(on!(c, e => sqlx::query_as(
        "SELECT id, org_id, name, created_at, last_used_at, revoked_at FROM api_keys
         WHERE ($1 IS NULL OR org_id = $1) ORDER BY created_at, id")
        .bind(org_id).fetch_all(e).await)?)
}

/// Revokes a key. Returns false when no such key exists; revoking twice keeps the first time.
pub async fn revoke(c: &mut impl Connection, id: &str, now: Micros) -> StoreResult<bool> {
    let done = on!(c, e => sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
        .bind(id).bind(now).execute(e).await.map(|r| r.rows_affected()))?;
    Ok(done == 1)
}
