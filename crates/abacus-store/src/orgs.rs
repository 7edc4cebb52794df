//! Organizations: the tenants. Every other table carries `org_id`.

use abacus_core::ids;
use abacus_core::time::Micros;

use crate::db::{Conn, Connection};
use crate::error::StoreResult;
use crate::on;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub time_zone: String,
    pub created_at: Micros,
}

/// A new organization id: `org_` and 22 base62 characters.
pub fn new_id() -> String {
    ids::prefixed_id("org")
}

pub async fn insert(c: &mut impl Connection, org: &Organization) -> StoreResult<()> {
    on!(c, e => sqlx::query("INSERT INTO organizations (id, name, time_zone, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&org.id).bind(&org.name).bind(&org.time_zone).bind(org.created_at)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn get(c: &mut impl Connection, id: &str) -> StoreResult<Option<Organization>> {
    Ok(
        on!(c, e => sqlx::query_as("SELECT id, name, time_zone, created_at FROM organizations WHERE id = $1")
        .bind(id).fetch_optional(e).await)?,
    )
}

/// Every organization, oldest first.
pub async fn list(c: &mut impl Connection) -> StoreResult<Vec<Organization>> {
    Ok(
        on!(c, e => sqlx::query_as("SELECT id, name, time_zone, created_at FROM organizations ORDER BY created_at, id")
        .fetch_all(e).await)?,
    )
}

pub async fn count(c: &mut impl Connection) -> StoreResult<i64> {
    Ok(on!(c, e => sqlx::query_scalar("SELECT COUNT(*) FROM organizations").fetch_one(e).await)?)
}

/// Serialises bootstrap against other processes: on PostgreSQL a transaction-scoped advisory
/// lock; on SQLite the `BEGIN IMMEDIATE` write lock already excludes every other writer.
pub async fn lock_for_bootstrap(c: &mut impl Connection) -> StoreResult<()> {
    if let Conn::Postgres(e) = c.conn() {
        sqlx::query("SELECT pg_advisory_xact_lock(7266831001)")
            .execute(e)
            .await?;
    }
    Ok(())
}

/// An organization's settings (`GET /organization`): its billing time zone and the payment terms
/// new subscriptions get when neither the request nor the plan names any.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Settings {
    pub id: String,
    pub name: String,
    /// An IANA name, `UTC` by default.
    pub time_zone: String,
    /// `net_N` or `due_on_receipt`; `net_30` by default.
    pub default_payment_terms: String,
    pub created_at: Micros,
}

pub async fn settings(c: &mut impl Connection, id: &str) -> StoreResult<Option<Settings>> {
    Ok(on!(c, e => sqlx::query_as(
        "SELECT id, name, time_zone, default_payment_terms, created_at FROM organizations WHERE id = $1")
        .bind(id).fetch_optional(e).await)?)
}

/// Writes the settings' name, time zone and default payment terms.
pub async fn update_settings(c: &mut impl Connection, s: &Settings) -> StoreResult<bool> {
    let done = on!(c, e => sqlx::query(
        "UPDATE organizations SET name = $2, time_zone = $3, default_payment_terms = $4 WHERE id = $1")
        .bind(&s.id).bind(&s.name).bind(&s.time_zone).bind(&s.default_payment_terms)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(done == 1)
}
