//! Products.

use abacus_core::catalog::{
    BillingFrequency, FeeType, PaymentTerms, Product, ProductSpec, RevenueAllocation,
};
use abacus_core::ids;
use abacus_core::time::Micros;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, QueryBuilder};

use crate::db::Connection;
use crate::error::{StoreError, StoreResult};
use crate::json_ids::push_any_of;
use crate::on;

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    description: String,
    fee_type: String,
    payment_terms: String,
    billing_frequency: String,
    revenue_allocation_method: String,
    sku: Option<String>,
    tax_code: Option<String>,
    unit_label_singular: Option<String>,
    unit_label_plural: Option<String>,
    metric_ids: Json<Vec<String>>,
    tag_ids: Json<Vec<String>>,
    created_at: Micros,
    updated_at: Micros,
}

const COLUMNS: &str = "id, name, description, fee_type, payment_terms, billing_frequency, \
                       revenue_allocation_method, sku, tax_code, unit_label_singular, unit_label_plural, \
                       metric_ids, tag_ids, created_at, updated_at";

fn parsed<T>(what: &str, value: &str, parse: impl Fn(&str) -> Option<T>) -> StoreResult<T> {
    parse(value).ok_or_else(|| StoreError::Corrupt(format!("{what} '{value}'")))
}

impl TryFrom<Row> for Product {
    type Error = StoreError;

    fn try_from(r: Row) -> StoreResult<Product> {
        Ok(Product {
            spec: ProductSpec {
                fee_type: parsed("fee type", &r.fee_type, FeeType::parse)?,
                payment_terms: parsed("payment terms", &r.payment_terms, PaymentTerms::parse)?,
                billing_frequency: parsed(
                    "billing frequency",
                    &r.billing_frequency,
                    BillingFrequency::parse,
                )?,
                revenue_allocation_method: parsed(
                    "revenue allocation method",
                    &r.revenue_allocation_method,
                    RevenueAllocation::parse,
                )?,
                name: r.name,
                description: r.description,
                sku: r.sku,
                tax_code: r.tax_code,
                unit_label_singular: r.unit_label_singular,
                unit_label_plural: r.unit_label_plural,
                metric_ids: r.metric_ids.0,
                tag_ids: r.tag_ids.0,
            },
            id: r.id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub fn new_id() -> String {
    ids::prefixed_id("prod")
}

pub async fn insert(
    c: &mut impl Connection,
    org_id: &str,
    spec: &ProductSpec,
    now: Micros,
) -> StoreResult<Product> {
    let id = new_id();
    on!(c, e => sqlx::query(
        "INSERT INTO products (id, org_id, name, description, fee_type, payment_terms, billing_frequency,
                               revenue_allocation_method, sku, tax_code, unit_label_singular, unit_label_plural,
                               metric_ids, tag_ids, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)")
        .bind(&id).bind(org_id).bind(&spec.name).bind(&spec.description).bind(spec.fee_type.as_str())
        .bind(spec.payment_terms.as_str()).bind(spec.billing_frequency.as_str())
        .bind(spec.revenue_allocation_method.as_str()).bind(&spec.sku).bind(&spec.tax_code)
        .bind(&spec.unit_label_singular).bind(&spec.unit_label_plural)
        .bind(Json(&spec.metric_ids)).bind(Json(&spec.tag_ids)).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    get(c, org_id, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("product {id} vanished after insert")))
}

/// A product that is not deleted.
pub async fn get(c: &mut impl Connection, org_id: &str, id: &str) -> StoreResult<Option<Product>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM products WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
    );
    let row: Option<Row> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(org_id).bind(id).fetch_optional(e).await)?;
    row.map(Product::try_from).transpose()
}

/// The products among `ids` that exist and are not deleted (in no particular order).
pub async fn by_ids(
    c: &mut impl Connection,
    org_id: &str,
    ids: &[String],
) -> StoreResult<Vec<Product>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Row> = on!(c, e => {
        let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM products WHERE deleted_at IS NULL AND org_id = "));
        q.push_bind(org_id).push(" AND id IN (");
        let mut sep = q.separated(", ");
        for id in ids {
            sep.push_bind(id.as_str());
        }
        q.push(")");
        q.build_query_as().fetch_all(e).await
    })?;
    rows.into_iter().map(Product::try_from).collect()
}

/// The metrics among `ids` that exist and are not archived: the ones a product may read.
pub async fn usable_metrics(
    c: &mut impl Connection,
    org_id: &str,
    ids: &[String],
) -> StoreResult<Vec<String>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(on!(c, e => {
        let mut q = QueryBuilder::new("SELECT id FROM metrics WHERE archived_at IS NULL AND org_id = ");
        q.push_bind(org_id).push(" AND id IN (");
        let mut sep = q.separated(", ");
        for id in ids {
            sep.push_bind(id.as_str());
        }
        q.push(")");
        q.build_query_scalar().fetch_all(e).await
    })?)
}

/// Which products a list returns. Each list means "any of"; empty lists do not filter.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub fee_types: Vec<String>,
    pub payment_terms: Vec<String>,
    pub billing_frequencies: Vec<String>,
    pub metric_ids: Vec<String>,
    pub tag_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortField {
    #[default]
    CreatedAt,
    Name,
    FeeType,
    PaymentTerms,
    MetricIds,
}

pub async fn list(
    c: &mut impl Connection,
    org_id: &str,
    filter: &ListFilter,
    sort: (SortField, bool),
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<Product>, i64)> {
    fn conditions<DB: sqlx::Database>(q: &mut QueryBuilder<DB>, org_id: &str, f: &ListFilter)
    where
        for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
        for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    {
        q.push(" WHERE deleted_at IS NULL AND org_id = ")
            .push_bind(org_id);
        for (column, values) in [
            ("fee_type", &f.fee_types),
            ("payment_terms", &f.payment_terms),
            ("billing_frequency", &f.billing_frequencies),
        ] {
            if values.is_empty() {
                continue;
            }
            q.push(format_args!(" AND {column} IN ("));
            let mut sep = q.separated(", ");
            for v in values {
                sep.push_bind(v.as_str());
            }
            q.push(")");
        }
        push_any_of(q, "metric_ids", &f.metric_ids);
        push_any_of(q, "tag_ids", &f.tag_ids);
    }
    let (column, descending) = sort;
    let column = match column {
        SortField::CreatedAt => "created_at",
        SortField::Name => "name",
        SortField::FeeType => "fee_type",
        SortField::PaymentTerms => "payment_terms",
        SortField::MetricIds => "CAST(metric_ids AS TEXT)",
    };
    let direction = if descending { "DESC" } else { "ASC" };
    let order = format!(" ORDER BY {column} {direction}, created_at {direction}, id {direction}");
    let rows: Vec<Row> = on!(c, e => {
        let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM products"));
        conditions(&mut q, org_id, filter);
        q.push(order.as_str()).push(" LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
        q.build_query_as().fetch_all(e).await
    })?;
    let total: i64 = on!(c, e => {
        let mut q = QueryBuilder::new("SELECT COUNT(*) FROM products");
        conditions(&mut q, org_id, filter);
        q.build_query_scalar().fetch_one(e).await
    })?;
    Ok((
        rows.into_iter()
            .map(Product::try_from)
            .collect::<StoreResult<_>>()?,
        total,
    ))
}

/// Replaces a product's definition. `None` when there is no such product.
pub async fn update(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    spec: &ProductSpec,
    now: Micros,
) -> StoreResult<Option<Product>> {
    let done = on!(c, e => sqlx::query(
        "UPDATE products SET name = $3, description = $4, fee_type = $5, payment_terms = $6,
                billing_frequency = $7, revenue_allocation_method = $8, sku = $9, tax_code = $10,
                unit_label_singular = $11, unit_label_plural = $12, metric_ids = $13, tag_ids = $14,
                updated_at = $15
         WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL")
        .bind(org_id).bind(id).bind(&spec.name).bind(&spec.description).bind(spec.fee_type.as_str())
        .bind(spec.payment_terms.as_str()).bind(spec.billing_frequency.as_str())
        .bind(spec.revenue_allocation_method.as_str()).bind(&spec.sku).bind(&spec.tax_code)
        .bind(&spec.unit_label_singular).bind(&spec.unit_label_plural)
        .bind(Json(&spec.metric_ids)).bind(Json(&spec.tag_ids)).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    if done == 0 {
        return Ok(None);
    }
    get(c, org_id, id).await
}

/// Marks a product deleted: it leaves lists and cannot be priced anew; rows that priced it keep
/// their reference. Returns false when there was none.
pub async fn soft_delete(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    now: Micros,
) -> StoreResult<bool> {
    let done = on!(c, e => sqlx::query(
        "UPDATE products SET deleted_at = $3, updated_at = $3 WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL")
        .bind(org_id).bind(id).bind(now).execute(e).await.map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Records that keep a product from being deleted: rows of `table` (which has `org_id` and
/// `product_id` columns) for which `condition` holds.
#[derive(Debug, Clone, Copy)]
pub struct Dependent {
    pub table: &'static str,
    /// SQL over the table's columns, e.g. `status = 'active'`.
    pub condition: &'static str,
    /// How the records are named in the refusal ("active subscriptions").
    pub what: &'static str,
}

/// Plans (unless archived), bundles, and subscriptions that are not canceled (drafts, which can
/// still be activated, and active ones, in any of their versions) keep a product.
pub const DEPENDENTS: &[Dependent] = &[
    Dependent {
        table: "plan_items",
        condition: "plan_id IN (SELECT id FROM plans WHERE archived_at IS NULL)",
        what: "plans",
    },
    Dependent {
        table: "bundle_prices",
        condition: "1 = 1",
        what: "bundles",
    },
    Dependent {
        table: "subscription_items",
        condition: "subscription_id IN (SELECT id FROM subscriptions WHERE status <> 'canceled')",
        what: "subscriptions",
    },
];

/// The kinds of records that keep this product from being deleted (empty when it may go).
pub async fn dependents(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
) -> StoreResult<Vec<&'static str>> {
    dependents_in(c, DEPENDENTS, org_id, id).await
}

/// [`dependents`] over a given list of dependents.
pub async fn dependents_in(
    c: &mut impl Connection,
    tables: &[Dependent],
    org_id: &str,
    id: &str,
) -> StoreResult<Vec<&'static str>> {
    let mut found = Vec::new();
    for d in tables {
        let sql = format!(
            "SELECT 1 FROM {} WHERE org_id = $1 AND product_id = $2 AND ({}) LIMIT 1",
            d.table, d.condition
        );
        let hit: Option<i32> = on!(c, e => sqlx::query_scalar(AssertSqlSafe(sql.as_str())).bind(org_id).bind(id).fetch_optional(e).await)?;
        if hit.is_some() {
            found.push(d.what);
        }
    }
    Ok(found)
}

/// Orders catalog writes within an organization (PostgreSQL; SQLite has a single writer), so a
/// check of what a write refers to (a product still there, a tag name still free) holds until it
/// commits. Catalog writes are rare; they queue behind each other, never behind ingestion.
pub async fn lock_catalog(c: &mut impl Connection, org_id: &str) -> StoreResult<()> {
    if let crate::db::Conn::Postgres(e) = c.conn() {
        // FNV-1a of a key no other lock uses.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in b"catalog:".iter().chain(org_id.as_bytes()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(h as i64)
            .execute(e)
            .await?;
    }
    Ok(())
}
