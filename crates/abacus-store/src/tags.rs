//! Tags, and their removal from the products and plans they label.

use abacus_core::catalog::{Tag, TagSpec};
use abacus_core::ids;
use abacus_core::time::Micros;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, QueryBuilder};

use crate::db::Connection;
use crate::error::{StoreError, StoreResult};
use crate::json_ids::like_pattern;
use crate::on;

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    color: String,
    entity_types: Json<Vec<String>>,
    created_at: Micros,
    updated_at: Micros,
}

const COLUMNS: &str = "id, name, color, entity_types, created_at, updated_at";

impl From<Row> for Tag {
    fn from(r: Row) -> Tag {
        Tag {
            id: r.id,
            spec: TagSpec {
                name: r.name,
                color: r.color,
                entity_types: r.entity_types.0,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

pub fn new_id() -> String {
    ids::prefixed_id("tag")
}

/// Whether another tag of the organization has this name (case-insensitively).
pub async fn name_taken(c: &mut impl Connection, org_id: &str, name: &str) -> StoreResult<bool> {
    let hit: Option<i32> = on!(c, e => sqlx::query_scalar(
        "SELECT 1 FROM tags WHERE org_id = $1 AND lower(name) = lower($2)")
        .bind(org_id).bind(name).fetch_optional(e).await)?;
    Ok(hit.is_some())
}

/// Stores a new tag. A name already taken is [`StoreError::Unique`] (`tags_org_name`).
pub async fn insert(
    c: &mut impl Connection,
    org_id: &str,
    spec: &TagSpec,
    now: Micros,
) -> StoreResult<Tag> {
    let id = new_id();
    on!(c, e => sqlx::query(
        "INSERT INTO tags (id, org_id, name, color, entity_types, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)")
        .bind(&id).bind(org_id).bind(&spec.name).bind(&spec.color).bind(Json(&spec.entity_types)).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    get(c, org_id, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("tag {id} vanished after insert")))
}

pub async fn get(c: &mut impl Connection, org_id: &str, id: &str) -> StoreResult<Option<Tag>> {
    let sql = format!("SELECT {COLUMNS} FROM tags WHERE org_id = $1 AND id = $2");
    let row: Option<Row> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(org_id).bind(id).fetch_optional(e).await)?;
    Ok(row.map(Tag::from))
}

/// The tags among `ids` that exist (in no particular order).
pub async fn by_ids(
    c: &mut impl Connection,
    org_id: &str,
    ids: &[String],
) -> StoreResult<Vec<Tag>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Row> = on!(c, e => {
        let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM tags WHERE org_id = "));
        q.push_bind(org_id).push(" AND id IN (");
        let mut sep = q.separated(", ");
        for id in ids {
            sep.push_bind(id.as_str());
        }
        q.push(")");
        q.build_query_as().fetch_all(e).await
    })?;
    Ok(rows.into_iter().map(Tag::from).collect())
}

/// One page of tags, by name, and how many there are.
pub async fn list(
    c: &mut impl Connection,
    org_id: &str,
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<Tag>, i64)> {
    let sql = format!(
        "SELECT {COLUMNS} FROM tags WHERE org_id = $1 ORDER BY lower(name) ASC, id ASC LIMIT $2 OFFSET $3"
    );
    let rows: Vec<Row> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(limit).bind(offset).fetch_all(e).await)?;
    let total: i64 = on!(c, e => sqlx::query_scalar("SELECT COUNT(*) FROM tags WHERE org_id = $1")
        .bind(org_id).fetch_one(e).await)?;
    Ok((rows.into_iter().map(Tag::from).collect(), total))
}

/// Deletes a tag and takes it off every product and plan that carries it. Returns false when
/// there was no such tag.
pub async fn delete(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    now: Micros,
) -> StoreResult<bool> {
    let done = on!(c, e => sqlx::query("DELETE FROM tags WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).execute(e).await.map(|r| r.rows_affected()))?;
    if done == 0 {
        return Ok(false);
    }
    for table in ["products", "plans"] {
        let select = format!(
            "SELECT id, tag_ids FROM {table} WHERE org_id = $1 AND CAST(tag_ids AS TEXT) LIKE $2 ESCAPE '\\'"
        );
        let pattern = like_pattern(id);
        let carriers: Vec<(String, Json<Vec<String>>)> = on!(c, e => sqlx::query_as(AssertSqlSafe(select.as_str()))
            .bind(org_id).bind(&pattern).fetch_all(e).await)?;
        let update = format!(
            "UPDATE {table} SET tag_ids = $3, updated_at = $4 WHERE org_id = $1 AND id = $2"
        );
        for (carrier, Json(mut tags)) in carriers {
            tags.retain(|t| t != id);
            on!(c, e => sqlx::query(AssertSqlSafe(update.as_str()))
                .bind(org_id).bind(&carrier).bind(Json(&tags)).bind(now)
                .execute(e).await.map(|r| r.rows_affected()))?;
        }
    }
    Ok(true)
}
