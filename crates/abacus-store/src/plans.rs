//! Plans and their items.

use std::collections::HashMap;

use abacus_core::catalog::{Plan, PlanItem, PlanSpec, PlanTerms, ProductPrice};
use abacus_core::ids;
use abacus_core::pricing::PriceInput;
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
    description: Option<String>,
    currency: String,
    terms: Json<PlanTerms>,
    tag_ids: Json<Vec<String>>,
    created_at: Micros,
    updated_at: Micros,
    archived_at: Option<Micros>,
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    plan_id: String,
    position: i32,
    product_id: String,
    bundle_id: Option<String>,
    bundle_name: Option<String>,
    bundle_description: Option<String>,
    price: Json<PriceInput>,
}

const COLUMNS: &str =
    "id, name, description, currency, terms, tag_ids, created_at, updated_at, archived_at";

pub fn new_id() -> String {
    ids::prefixed_id("pln")
}

pub async fn insert(
    c: &mut impl Connection,
    org_id: &str,
    spec: &PlanSpec,
    now: Micros,
) -> StoreResult<Plan> {
    let id = new_id();
    on!(c, e => sqlx::query(
        "INSERT INTO plans (id, org_id, name, description, currency, terms, tag_ids, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)")
        .bind(&id).bind(org_id).bind(&spec.name).bind(&spec.description).bind(&spec.currency)
        .bind(Json(&spec.terms)).bind(Json(&spec.tag_ids)).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    write_items(c, org_id, &id, &spec.items).await?;
    get(c, org_id, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("plan {id} vanished after insert")))
}

async fn write_items(
    c: &mut impl Connection,
    org_id: &str,
    plan_id: &str,
    items: &[PlanItem],
) -> StoreResult<()> {
    for (pos, item) in items.iter().enumerate() {
        // (bundle id, name, description) of a bundle item, and its priced products.
        type BundleRef<'a> = Option<(&'a str, &'a str, Option<&'a str>)>;
        let (bundle, children): (BundleRef, Vec<&ProductPrice>) = match item {
            PlanItem::Product(p) => (None, vec![p]),
            PlanItem::Bundle {
                bundle_id,
                name,
                description,
                items,
            } => (
                Some((bundle_id, name, description.as_deref())),
                items.iter().collect(),
            ),
        };
        for (child, p) in children.into_iter().enumerate() {
            on!(c, e => sqlx::query(
                "INSERT INTO plan_items (org_id, plan_id, position, child_position, product_id, bundle_id,
                                         bundle_name, bundle_description, price)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                .bind(org_id).bind(plan_id).bind(pos as i32).bind(child as i32).bind(&p.product_id)
                .bind(bundle.map(|b| b.0)).bind(bundle.map(|b| b.1)).bind(bundle.and_then(|b| b.2))
                .bind(Json(&p.price))
                .execute(e).await.map(|r| r.rows_affected()))?;
        }
    }
    Ok(())
}

/// A plan, archived or not.
pub async fn get(c: &mut impl Connection, org_id: &str, id: &str) -> StoreResult<Option<Plan>> {
    let sql = format!("SELECT {COLUMNS} FROM plans WHERE org_id = $1 AND id = $2");
    let row: Option<Row> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(org_id).bind(id).fetch_optional(e).await)?;
    match row {
        None => Ok(None),
        Some(row) => Ok(assemble(c, org_id, vec![row]).await?.pop()),
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Plans carrying any of these tags.
    pub tag_ids: Vec<String>,
    pub include_archived: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortField {
    #[default]
    CreatedAt,
    UpdatedAt,
    Name,
}

pub async fn list(
    c: &mut impl Connection,
    org_id: &str,
    filter: &ListFilter,
    sort: (SortField, bool),
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<Plan>, i64)> {
    fn conditions<DB: sqlx::Database>(q: &mut QueryBuilder<DB>, org_id: &str, f: &ListFilter)
    where
        for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
        for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    {
        q.push(" WHERE org_id = ").push_bind(org_id);
        if !f.include_archived {
            q.push(" AND archived_at IS NULL");
        }
        push_any_of(q, "tag_ids", &f.tag_ids);
    }
    let column = match sort.0 {
        SortField::CreatedAt => "created_at",
        SortField::UpdatedAt => "updated_at",
        SortField::Name => "name",
    };
    let direction = if sort.1 { "DESC" } else { "ASC" };
    let order = format!(" ORDER BY {column} {direction}, id {direction}");
    let rows: Vec<Row> = on!(c, e => {
        let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM plans"));
        conditions(&mut q, org_id, filter);
        q.push(order.as_str()).push(" LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
        q.build_query_as().fetch_all(e).await
    })?;
    let total: i64 = on!(c, e => {
        let mut q = QueryBuilder::new("SELECT COUNT(*) FROM plans");
        conditions(&mut q, org_id, filter);
        q.build_query_scalar().fetch_one(e).await
    })?;
    Ok((assemble(c, org_id, rows).await?, total))
}

/// Replaces a plan's definition and items. `None` when there is no such plan.
pub async fn update(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    spec: &PlanSpec,
    now: Micros,
) -> StoreResult<Option<Plan>> {
    let done = on!(c, e => sqlx::query(
        "UPDATE plans SET name = $3, description = $4, currency = $5, terms = $6, tag_ids = $7, updated_at = $8
         WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(&spec.name).bind(&spec.description).bind(&spec.currency)
        .bind(Json(&spec.terms)).bind(Json(&spec.tag_ids)).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    if done == 0 {
        return Ok(None);
    }
    on!(c, e => sqlx::query("DELETE FROM plan_items WHERE org_id = $1 AND plan_id = $2")
        .bind(org_id).bind(id).execute(e).await.map(|r| r.rows_affected()))?;
    write_items(c, org_id, id, &spec.items).await?;
    get(c, org_id, id).await
}

/// Archives a plan: it leaves lists and no longer keeps its products from being deleted.
/// Archiving twice keeps the first time. `None` when there is no such plan.
pub async fn archive(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    now: Micros,
) -> StoreResult<Option<Plan>> {
    on!(c, e => sqlx::query(
        "UPDATE plans SET archived_at = COALESCE(archived_at, $3), updated_at = $3 WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(now).execute(e).await.map(|r| r.rows_affected()))?;
    get(c, org_id, id).await
}

/// Attaches items to plan rows, keeping the rows' order.
async fn assemble(c: &mut impl Connection, org_id: &str, rows: Vec<Row>) -> StoreResult<Vec<Plan>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let items: Vec<ItemRow> = on!(c, e => {
        let mut q = QueryBuilder::new(
            "SELECT plan_id, position, product_id, bundle_id, bundle_name, bundle_description, price
             FROM plan_items WHERE org_id = ");
        q.push_bind(org_id).push(" AND plan_id IN (");
        let mut sep = q.separated(", ");
        for r in &rows {
            sep.push_bind(r.id.as_str());
        }
        q.push(") ORDER BY plan_id, position, child_position");
        q.build_query_as().fetch_all(e).await
    })?;
    let mut by_plan: HashMap<String, Vec<(i32, PlanItem)>> = HashMap::new();
    for r in items {
        let list = by_plan.entry(r.plan_id).or_default();
        let price = ProductPrice {
            product_id: r.product_id,
            price: r.price.0,
        };
        match (r.bundle_id, list.last_mut()) {
            (None, _) => list.push((r.position, PlanItem::Product(price))),
            (Some(_), Some((pos, PlanItem::Bundle { items, .. }))) if *pos == r.position => {
                items.push(price)
            }
            (Some(bundle_id), _) => list.push((
                r.position,
                PlanItem::Bundle {
                    bundle_id,
                    name: r.bundle_name.unwrap_or_default(),
                    description: r.bundle_description,
                    items: vec![price],
                },
            )),
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| Plan {
            spec: PlanSpec {
                items: by_plan
                    .remove(&r.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(_, item)| item)
                    .collect(),
                name: r.name,
                description: r.description,
                currency: r.currency,
                terms: r.terms.0,
                tag_ids: r.tag_ids.0,
            },
            id: r.id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            archived_at: r.archived_at,
        })
        .collect())
}
