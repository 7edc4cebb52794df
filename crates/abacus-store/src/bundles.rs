//! Bundles and their prices.

use std::collections::HashMap;

use abacus_core::catalog::{Bundle, BundlePrice, BundleSpec};
use abacus_core::ids;
use abacus_core::pricing::PriceInput;
use abacus_core::time::Micros;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, QueryBuilder};

use crate::db::Connection;
use crate::error::{StoreError, StoreResult};
use crate::on;

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    description: Option<String>,
    currency: Option<String>,
    created_at: Micros,
    updated_at: Micros,
}

#[derive(sqlx::FromRow)]
struct PriceRow {
    id: String,
    bundle_id: String,
    product_id: String,
    price: Json<PriceInput>,
    created_at: Micros,
    updated_at: Micros,
}

const COLUMNS: &str = "id, name, description, currency, created_at, updated_at";

pub fn new_id() -> String {
    ids::prefixed_id("bnd")
}

pub fn new_price_id() -> String {
    ids::prefixed_id("pri")
}

pub async fn insert(
    c: &mut impl Connection,
    org_id: &str,
    spec: &BundleSpec,
    now: Micros,
) -> StoreResult<Bundle> {
    let id = new_id();
    on!(c, e => sqlx::query(
        "INSERT INTO bundles (id, org_id, name, description, currency, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)")
        .bind(&id).bind(org_id).bind(&spec.name).bind(&spec.description).bind(&spec.currency).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    write_prices(c, org_id, &id, spec, now).await?;
    get(c, org_id, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("bundle {id} vanished after insert")))
}

async fn write_prices(
    c: &mut impl Connection,
    org_id: &str,
    bundle_id: &str,
    spec: &BundleSpec,
    now: Micros,
) -> StoreResult<()> {
    for (pos, p) in spec.prices.iter().enumerate() {
        let id = new_price_id();
        on!(c, e => sqlx::query(
            "INSERT INTO bundle_prices (id, org_id, bundle_id, position, product_id, price, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)")
            .bind(&id).bind(org_id).bind(bundle_id).bind(pos as i32).bind(&p.product_id)
            .bind(Json(&p.price)).bind(now)
            .execute(e).await.map(|r| r.rows_affected()))?;
    }
    Ok(())
}

pub async fn get(c: &mut impl Connection, org_id: &str, id: &str) -> StoreResult<Option<Bundle>> {
    let sql = format!("SELECT {COLUMNS} FROM bundles WHERE org_id = $1 AND id = $2");
    let row: Option<Row> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(org_id).bind(id).fetch_optional(e).await)?;
    match row {
        None => Ok(None),
        Some(row) => Ok(assemble(c, org_id, vec![row]).await?.pop()),
    }
}

/// The bundles among `ids` that exist (in no particular order).
pub async fn by_ids(
    c: &mut impl Connection,
    org_id: &str,
    ids: &[String],
) -> StoreResult<Vec<Bundle>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Row> = on!(c, e => {
        let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM bundles WHERE org_id = "));
        q.push_bind(org_id).push(" AND id IN (");
        let mut sep = q.separated(", ");
        for id in ids {
            sep.push_bind(id.as_str());
        }
        q.push(")");
        q.build_query_as().fetch_all(e).await
    })?;
    assemble(c, org_id, rows).await
}

/// One page of bundles, oldest first, and how many there are.
pub async fn list(
    c: &mut impl Connection,
    org_id: &str,
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<Bundle>, i64)> {
    let sql = format!(
        "SELECT {COLUMNS} FROM bundles WHERE org_id = $1 ORDER BY created_at ASC, id ASC LIMIT $2 OFFSET $3"
    );
    let rows: Vec<Row> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(limit).bind(offset).fetch_all(e).await)?;
    let total: i64 = on!(c, e => sqlx::query_scalar("SELECT COUNT(*) FROM bundles WHERE org_id = $1")
        .bind(org_id).fetch_one(e).await)?;
    Ok((assemble(c, org_id, rows).await?, total))
}

/// Replaces a bundle's name, description and currency, and, when `replace_prices`, its whole
/// price set (with new price ids). `None` when there is no such bundle.
pub async fn update(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    spec: &BundleSpec,
    replace_prices: bool,
    now: Micros,
) -> StoreResult<Option<Bundle>> {
    let done = on!(c, e => sqlx::query(
        "UPDATE bundles SET name = $3, description = $4, currency = $5, updated_at = $6 WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(&spec.name).bind(&spec.description).bind(&spec.currency).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    if done == 0 {
        return Ok(None);
    }
    if replace_prices {
        on!(c, e => sqlx::query("DELETE FROM bundle_prices WHERE org_id = $1 AND bundle_id = $2")
            .bind(org_id).bind(id).execute(e).await.map(|r| r.rows_affected()))?;
        write_prices(c, org_id, id, spec, now).await?;
    }
    get(c, org_id, id).await
}

/// Attaches prices to bundle rows, keeping the rows' order.
async fn assemble(
    c: &mut impl Connection,
    org_id: &str,
    rows: Vec<Row>,
) -> StoreResult<Vec<Bundle>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let prices: Vec<PriceRow> = on!(c, e => {
        let mut q = QueryBuilder::new(
            "SELECT id, bundle_id, product_id, price, created_at, updated_at FROM bundle_prices WHERE org_id = ");
        q.push_bind(org_id).push(" AND bundle_id IN (");
        let mut sep = q.separated(", ");
        for r in &rows {
            sep.push_bind(r.id.as_str());
        }
        q.push(") ORDER BY bundle_id, position");
        q.build_query_as().fetch_all(e).await
    })?;
    let mut by_bundle: HashMap<String, Vec<BundlePrice>> = HashMap::new();
    for p in prices {
        by_bundle.entry(p.bundle_id).or_default().push(BundlePrice {
            id: p.id,
            product_id: p.product_id,
            price: p.price.0,
            created_at: p.created_at,
            updated_at: p.updated_at,
        });
    }
    Ok(rows
        .into_iter()
        .map(|r| Bundle {
            prices: by_bundle.remove(&r.id).unwrap_or_default(),
            id: r.id,
            name: r.name,
            description: r.description,
            currency: r.currency,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect())
}
