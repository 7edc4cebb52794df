//! Monetary credit grants on subscriptions (`cgr_…`) and the draws invoices make on them.
//!
//! A grant holds an amount in its subscription's currency. What remains of it is its amount less
//! every draw on it; a draw is what one invoice took from one grant (unique per invoice and
//! grant). Releasing an invoice's draws (a voided invoice) gives the credit back. Amounts are
//! canonical decimal text, summed here with `rust_decimal`, never in SQL.

use std::collections::HashMap;

use abacus_core::billing::{CreditDraw, CreditGrant};
use abacus_core::ids;
use abacus_core::money;
use abacus_core::time::Micros;
use rust_decimal::Decimal;
use sqlx::AssertSqlSafe;

use crate::db::{Conn, Connection};
use crate::error::{StoreError, StoreResult};
use crate::invoices::dec;
use crate::on;

/// The only kind of credit Abacus grants: money in the subscription's currency.
pub const MONETARY: &str = "monetary";
/// Grants made through `POST /subscriptions/{id}/credits/grant`.
pub const GRANT_TYPE_API: &str = "api";

/// A new grant id: `cgr_` and 22 base62 characters.
pub fn new_grant_id() -> String {
    ids::prefixed_id("cgr")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub customer_id: String,
    pub subscription_id: String,
    pub currency: String,
    pub amount: Decimal,
    /// `monetary`.
    pub credit_type: String,
    /// `api`.
    pub grant_type: String,
    pub reason: Option<String>,
    /// At this instant the grant stops being usable; `None`: never.
    pub expires_at: Option<Micros>,
    pub created_at: Micros,
}

impl Grant {
    /// True when the grant can no longer be used at `as_of`.
    pub fn expired_at(&self, as_of: Micros) -> bool {
        self.expires_at.is_some_and(|e| e <= as_of)
    }
}

/// A grant with what its draws took from it so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantWithDraws {
    pub grant: Grant,
    /// Σ of every draw on the grant.
    pub drawn: Decimal,
    /// `amount − drawn`.
    pub remaining: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrant {
    pub customer_id: String,
    pub subscription_id: String,
    pub currency: String,
    pub amount: Decimal,
    pub reason: Option<String>,
    pub expires_at: Option<Micros>,
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    id: String,
    customer_id: String,
    subscription_id: String,
    currency: String,
    amount: String,
    credit_type: String,
    grant_type: String,
    reason: Option<String>,
    expires_at: Option<i64>,
    created_at: i64,
}

const GRANT_COLUMNS: &str = "id, customer_id, subscription_id, currency, amount, credit_type, \
    grant_type, reason, expires_at, created_at";

impl TryFrom<GrantRow> for Grant {
    type Error = StoreError;

    fn try_from(r: GrantRow) -> StoreResult<Grant> {
        Ok(Grant {
            amount: dec("credit grant amount", &r.amount)?,
            id: r.id,
            customer_id: r.customer_id,
            subscription_id: r.subscription_id,
            currency: r.currency,
            credit_type: r.credit_type,
            grant_type: r.grant_type,
            reason: r.reason,
            expires_at: r.expires_at,
            created_at: r.created_at,
        })
    }
}

fn overflow(what: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} is out of the decimal range"))
}

/// Stores a monetary grant made through the API.
pub async fn insert_grant(
    c: &mut impl Connection,
    org_id: &str,
    g: &NewGrant,
    now: Micros,
) -> StoreResult<Grant> {
    let id = new_grant_id();
    on!(c, e => sqlx::query(
        "INSERT INTO credit_grants (id, org_id, customer_id, subscription_id, currency, amount, credit_type,
                                    grant_type, reason, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
        .bind(&id).bind(org_id).bind(&g.customer_id).bind(&g.subscription_id).bind(&g.currency)
        .bind(g.amount.to_string()).bind(MONETARY).bind(GRANT_TYPE_API).bind(&g.reason)
        .bind(g.expires_at).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    get_grant(c, org_id, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("credit grant {id} vanished after insert")))
}

/// A grant by its id.
pub async fn get_grant(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
) -> StoreResult<Option<Grant>> {
    let sql = format!("SELECT {GRANT_COLUMNS} FROM credit_grants WHERE org_id = $1 AND id = $2");
    let row: Option<GrantRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(id).fetch_optional(e).await)?;
    row.map(Grant::try_from).transpose()
}

/// A subscription's grants, oldest first.
pub async fn grants_of_subscription(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
) -> StoreResult<Vec<Grant>> {
    let sql = format!(
        "SELECT {GRANT_COLUMNS} FROM credit_grants WHERE org_id = $1 AND subscription_id = $2
         ORDER BY created_at, id"
    );
    let rows: Vec<GrantRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(subscription_id).fetch_all(e).await)?;
    rows.into_iter().map(Grant::try_from).collect()
}

/// Locks a subscription's grants until the transaction ends (PostgreSQL; SQLite has a single
/// writer), so that what remains of them holds while draws are checked and recorded.
pub async fn lock_grants(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
) -> StoreResult<()> {
    if let Conn::Postgres(e) = c.conn() {
        sqlx::query(
            "SELECT id FROM credit_grants WHERE org_id = $1 AND subscription_id = $2 FOR NO KEY UPDATE",
        )
        .bind(org_id)
        .bind(subscription_id)
        .execute(e)
        .await?;
    }
    Ok(())
}

/// One draw as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDraw {
    pub grant_id: String,
    pub invoice_id: String,
    pub amount: Decimal,
    pub created_at: Micros,
}

#[derive(sqlx::FromRow)]
struct DrawRow {
    grant_id: String,
    invoice_id: String,
    amount: String,
    created_at: i64,
}

impl TryFrom<DrawRow> for StoredDraw {
    type Error = StoreError;

    fn try_from(r: DrawRow) -> StoreResult<StoredDraw> {
        Ok(StoredDraw {
            amount: dec("credit draw amount", &r.amount)?,
            grant_id: r.grant_id,
            invoice_id: r.invoice_id,
            created_at: r.created_at,
        })
    }
}

/// Every draw on a subscription's grants.
async fn draws_of_subscription(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
) -> StoreResult<Vec<StoredDraw>> {
    let rows: Vec<DrawRow> = on!(c, e => sqlx::query_as(
        "SELECT d.grant_id, d.invoice_id, d.amount, d.created_at
           FROM credit_draws d JOIN credit_grants g ON g.id = d.grant_id
          WHERE d.org_id = $1 AND g.org_id = $1 AND g.subscription_id = $2
          ORDER BY d.created_at, d.invoice_id, d.grant_id")
        .bind(org_id).bind(subscription_id).fetch_all(e).await)?;
    rows.into_iter().map(StoredDraw::try_from).collect()
}

/// An invoice's draws, by grant id.
pub async fn draws_of_invoice(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
) -> StoreResult<Vec<StoredDraw>> {
    let rows: Vec<DrawRow> = on!(c, e => sqlx::query_as(
        "SELECT grant_id, invoice_id, amount, created_at FROM credit_draws
          WHERE org_id = $1 AND invoice_id = $2 ORDER BY grant_id")
        .bind(org_id).bind(invoice_id).fetch_all(e).await)?;
    rows.into_iter().map(StoredDraw::try_from).collect()
}

/// A subscription's grants, oldest first, each with the sum of its draws (those created at or
/// before `draws_until`, or all of them).
async fn ledger(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
    draws_until: Option<Micros>,
) -> StoreResult<Vec<GrantWithDraws>> {
    let grants = grants_of_subscription(c, org_id, subscription_id).await?;
    if grants.is_empty() {
        return Ok(Vec::new());
    }
    let mut drawn: HashMap<String, Decimal> = HashMap::new();
    for d in draws_of_subscription(c, org_id, subscription_id).await? {
        if draws_until.is_some_and(|until| d.created_at > until) {
            continue;
        }
        let sum = drawn.entry(d.grant_id).or_default();
        *sum = money::add(*sum, d.amount).map_err(|_| overflow("a grant's draws"))?;
    }
    grants
        .into_iter()
        .map(|grant| {
            let drawn = drawn.get(&grant.id).copied().unwrap_or(Decimal::ZERO);
            let remaining =
                money::sub(grant.amount, drawn).map_err(|_| overflow("a grant's remainder"))?;
            Ok(GrantWithDraws {
                grant,
                drawn,
                remaining,
            })
        })
        .collect()
}

/// A subscription's grants, oldest first, with what every draw so far left of each.
pub async fn list_grants(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
) -> StoreResult<Vec<GrantWithDraws>> {
    ledger(c, org_id, subscription_id, None).await
}

/// The grants billing may draw on for an invoice as of `as_of`: those created at or before it
/// with something left after every draw recorded so far. Expired grants are included (the billing
/// function leaves out those expired at its `credits_as_of`). Priority is 0 for every grant.
pub async fn usable_grants(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
    as_of: Micros,
) -> StoreResult<Vec<CreditGrant>> {
    Ok(ledger(c, org_id, subscription_id, None)
        .await?
        .into_iter()
        .filter(|g| g.grant.created_at <= as_of && g.remaining > Decimal::ZERO)
        .map(|g| CreditGrant {
            id: g.grant.id,
            remaining: g.remaining,
            expires_at: g.grant.expires_at,
            priority: 0,
        })
        .collect())
}

/// The subscription's credit at `as_of`: over the grants created at or before it and not expired
/// at it, Σ (amount − the draws created at or before it).
pub async fn balance(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
    as_of: Micros,
) -> StoreResult<Decimal> {
    let grants = ledger(c, org_id, subscription_id, Some(as_of)).await?;
    money::sum(
        grants
            .into_iter()
            .filter(|g| g.grant.created_at <= as_of && !g.grant.expired_at(as_of))
            .map(|g| g.remaining),
    )
    .map_err(|_| overflow("a credit balance"))
}

/// Records an invoice's draws (at most one per grant; a second draw of the invoice on the same
/// grant violates the unique key). The caller checked that each grant holds enough.
pub async fn record_draws(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
    draws: &[CreditDraw],
    now: Micros,
) -> StoreResult<()> {
    for d in draws {
        on!(c, e => sqlx::query(
            "INSERT INTO credit_draws (org_id, grant_id, invoice_id, amount, created_at)
             VALUES ($1, $2, $3, $4, $5)")
            .bind(org_id).bind(&d.grant_id).bind(invoice_id).bind(d.amount.to_string()).bind(now)
            .execute(e).await.map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Deletes an invoice's draws, so their credit is usable again; returns what was released.
pub async fn release_draws(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
) -> StoreResult<Vec<StoredDraw>> {
    let draws = draws_of_invoice(c, org_id, invoice_id).await?;
    if !draws.is_empty() {
        on!(c, e => sqlx::query("DELETE FROM credit_draws WHERE org_id = $1 AND invoice_id = $2")
            .bind(org_id).bind(invoice_id).execute(e).await.map(|r| r.rows_affected()))?;
    }
    Ok(draws)
}

/// Deletes a subscription's grants (a draft subscription being deleted: a draft is never
/// invoiced, so its grants have no draws; if one had, the foreign key would refuse).
pub async fn delete_grants_of_subscription(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
) -> StoreResult<u64> {
    Ok(
        on!(c, e => sqlx::query("DELETE FROM credit_grants WHERE org_id = $1 AND subscription_id = $2")
        .bind(org_id).bind(subscription_id).execute(e).await.map(|r| r.rows_affected()))?,
    )
}
