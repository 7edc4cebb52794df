//! Billable metrics.

use abacus_core::ids;
use abacus_core::metering::metric::{
    Aggregation, AggregationMethod, FilterGroup, Metric, MetricSpec,
};
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
    event_name: String,
    aggregation_method: String,
    aggregation_field: Option<String>,
    filter_groups: Json<Vec<FilterGroup>>,
    tag_ids: Json<Vec<String>>,
    created_at: Micros,
    updated_at: Micros,
    archived_at: Option<Micros>,
}

const COLUMNS: &str = "id, name, description, event_name, aggregation_method, aggregation_field, filter_groups, \
                       tag_ids, created_at, updated_at, archived_at";

impl TryFrom<Row> for Metric {
    type Error = StoreError;

    fn try_from(r: Row) -> StoreResult<Metric> {
        let method = AggregationMethod::parse(&r.aggregation_method).ok_or_else(|| {
            StoreError::Corrupt(format!("aggregation method '{}'", r.aggregation_method))
        })?;
        Ok(Metric {
            id: r.id,
            name: r.name,
            description: r.description,
            event_name: r.event_name,
            aggregation: Aggregation {
                method,
                field: r.aggregation_field,
            },
            filter_groups: r.filter_groups.0,
            tag_ids: r.tag_ids.0,
            created_at: r.created_at,
            updated_at: r.updated_at,
            archived_at: r.archived_at,
        })
    }
}

/// Events a metric skipped: matched but without the aggregated field, or with a non-numeric value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Diagnostics {
    pub skipped_missing: i64,
    pub skipped_non_numeric: i64,
}

pub fn new_id() -> String {
    ids::prefixed_id("mtr")
}

pub async fn insert(
    c: &mut impl Connection,
    org_id: &str,
    spec: &MetricSpec,
    now: Micros,
) -> StoreResult<Metric> {
    let id = new_id();
    on!(c, e => sqlx::query(
        "INSERT INTO metrics (id, org_id, name, description, event_name, aggregation_method, aggregation_field,
                              filter_groups, tag_ids, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)")
        .bind(&id).bind(org_id).bind(&spec.name).bind(&spec.description).bind(&spec.event_name)
        .bind(spec.aggregation.method.as_str()).bind(&spec.aggregation.field)
        .bind(Json(&spec.filter_groups)).bind(Json(&spec.tag_ids)).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    get(c, org_id, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("metric {id} vanished after insert")))
}

pub async fn get(c: &mut impl Connection, org_id: &str, id: &str) -> StoreResult<Option<Metric>> {
    let sql = format!("SELECT {COLUMNS} FROM metrics WHERE org_id = $1 AND id = $2");
    let row: Option<Row> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(org_id).bind(id).fetch_optional(e).await)?;
    row.map(Metric::try_from).transpose()
}

pub async fn diagnostics(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
) -> StoreResult<Diagnostics> {
    let d: Option<Diagnostics> = on!(c, e => sqlx::query_as(
        "SELECT skipped_missing, skipped_non_numeric FROM metrics WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).fetch_optional(e).await)?;
    Ok(d.unwrap_or_default())
}

/// Which metrics a list returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Any of these event names (empty: all).
    pub event_names: Vec<String>,
    pub methods: Vec<String>,
    pub fields: Vec<String>,
    /// Metrics carrying any of these tags.
    pub tag_ids: Vec<String>,
    pub include_archived: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortField {
    #[default]
    CreatedAt,
    Name,
    EventName,
}

pub async fn list(
    c: &mut impl Connection,
    org_id: &str,
    filter: &ListFilter,
    sort: (SortField, bool),
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<Metric>, i64)> {
    fn conditions<DB: sqlx::Database>(q: &mut QueryBuilder<DB>, org_id: &str, f: &ListFilter)
    where
        for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    {
        q.push(" WHERE org_id = ").push_bind(org_id);
        if !f.include_archived {
            q.push(" AND archived_at IS NULL");
        }
        for (column, values) in [
            ("event_name", &f.event_names),
            ("aggregation_method", &f.methods),
            ("aggregation_field", &f.fields),
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
        if !f.tag_ids.is_empty() {
            // Tag ids hold no quotes, so the quoted id is found in the JSON array's text exactly.
            let mut sep = q.separated(" OR ");
            sep.push_unseparated(" AND (");
            for t in &f.tag_ids {
                let pattern = format!(
                    "%\"{}\"%",
                    t.replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                );
                sep.push("CAST(tag_ids AS TEXT) LIKE ")
                    .push_bind_unseparated(pattern.as_str())
                    .push_unseparated(" ESCAPE '\\'");
            }
            sep.push_unseparated(")");
        }
    }
    let order = match sort {
        (SortField::CreatedAt, false) => " ORDER BY created_at ASC, id ASC",
        (SortField::CreatedAt, true) => " ORDER BY created_at DESC, id DESC",
        (SortField::Name, false) => " ORDER BY name ASC, id ASC",
        (SortField::Name, true) => " ORDER BY name DESC, id DESC",
        (SortField::EventName, false) => " ORDER BY event_name ASC, id ASC",
        (SortField::EventName, true) => " ORDER BY event_name DESC, id DESC",
    };
    let rows: Vec<Row> = on!(c, e => {
        let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM metrics"));
        conditions(&mut q, org_id, filter);
        q.push(order).push(" LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
        q.build_query_as().fetch_all(e).await
    })?;
    let total: i64 = on!(c, e => {
        let mut q = QueryBuilder::new("SELECT COUNT(*) FROM metrics");
        conditions(&mut q, org_id, filter);
        q.build_query_scalar().fetch_one(e).await
    })?;
    Ok((
        rows.into_iter()
            .map(Metric::try_from)
            .collect::<StoreResult<_>>()?,
        total,
    ))
}

/// The metrics that events with these names may count for (archived metrics keep counting, so
/// their history stays exact).
pub async fn for_event_names(
    c: &mut impl Connection,
    org_id: &str,
    names: &[&str],
) -> StoreResult<Vec<Metric>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Row> = on!(c, e => {
        let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM metrics WHERE org_id = "));
        q.push_bind(org_id).push(" AND event_name IN (");
        let mut sep = q.separated(", ");
        for n in names {
            sep.push_bind(*n);
        }
        q.push(") ORDER BY id");
        q.build_query_as().fetch_all(e).await
    })?;
    rows.into_iter().map(Metric::try_from).collect()
}

/// Renames or re-describes a metric (`None` keeps a field; `Some(None)` clears the description).
pub async fn update(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    name: Option<&str>,
    description: Option<Option<&str>>,
    now: Micros,
) -> StoreResult<Option<Metric>> {
    let done = on!(c, e => sqlx::query(
        "UPDATE metrics SET name = COALESCE($3, name),
                description = CASE WHEN $4 THEN $5 ELSE description END, updated_at = $6
         WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(name).bind(description.is_some()).bind(description.flatten()).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    if done == 0 {
        return Ok(None);
    }
    get(c, org_id, id).await
}

/// Archives a metric: it leaves lists and cannot be priced anew, but keeps its usage.
pub async fn archive(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    now: Micros,
) -> StoreResult<Option<Metric>> {
    on!(c, e => sqlx::query(
        "UPDATE metrics SET archived_at = COALESCE(archived_at, $3), updated_at = $3 WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(now).execute(e).await.map(|r| r.rows_affected()))?;
    get(c, org_id, id).await
}

/// Adds skipped-event counts to a metric's diagnostics.
pub async fn add_diagnostics(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    d: Diagnostics,
) -> StoreResult<()> {
    if d == Diagnostics::default() {
        return Ok(());
    }
    on!(c, e => sqlx::query(
        "UPDATE metrics SET skipped_missing = skipped_missing + $3, skipped_non_numeric = skipped_non_numeric + $4
         WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(d.skipped_missing).bind(d.skipped_non_numeric)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(())
}
