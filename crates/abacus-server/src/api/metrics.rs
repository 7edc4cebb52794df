//! `/metrics`: billable metrics. With `Alguna-Version` the v2 shapes (snake_case, `limit`/
//! `offset`); without, v1 (camelCase, `page`/`limit`). Update and archive are extensions.

use abacus_core::metering::metric::{FilterDraft, FilterGroupDraft, Metric, MetricDraft};
use abacus_core::validation::Naming;
use abacus_store::metrics::{Diagnostics, ListFilter, SortField};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::{ApiJson, QueryParams};
use crate::idempotency::Idem;
use crate::pagination::{PaginationMeta, V1Page, V2Page, v1_window, v2_window};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::services::metering;
use crate::version::ApiVersion;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct AggregationBody {
    /// `count`, `count_unique`, `sum`, `min`, `max`, `average`, or `latest` (extension).
    pub method: String,
    /// The property aggregated; required for every method but `count`.
    #[serde(default)]
    pub field: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct FilterBody {
    pub field: String,
    /// `equal`, `not_equal`, `contains`, `not_contains`, `in` (comma-separated value), `gt`, `gte`,
    /// `lt`, `lte`.
    pub operator: String,
    /// A string; numbers and booleans are accepted and read as text.
    #[schema(value_type = String)]
    pub value: Value,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct FilterGroupBody {
    /// How the group's filters combine: `and` or `or`. Groups are OR-ed together.
    pub operator: String,
    pub filters: Vec<FilterBody>,
}

/// A new metric (v2). v1 sends the same fields in camelCase (`eventName`, `filterGroups`, `tagIds`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateMetricRequest {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(alias = "eventName")]
    pub event_name: String,
    pub aggregation: AggregationBody,
    #[serde(default, alias = "filterGroups", alias = "filters")]
    pub filter_groups: Option<Vec<FilterGroupBody>>,
    #[serde(default, alias = "tagIds")]
    pub tag_ids: Option<Vec<String>>,
}

/// Extension: rename or re-describe a metric.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateMetricRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: abacus_core::customer::Patch<String>,
}

/// Events the metric matched but could not aggregate (extension).
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricDiagnostics {
    pub skipped_missing_field: i64,
    pub skipped_non_numeric: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MetricResponse {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub event_name: String,
    pub aggregation: AggregationBody,
    pub filter_groups: Vec<FilterGroupBody>,
    pub tag_ids: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<String>,
    pub diagnostics: MetricDiagnostics,
}

/// The v1 (camelCase) metric.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct V1Metric {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub event_name: String,
    pub aggregation: AggregationBody,
    pub filter_groups: Vec<FilterGroupBody>,
    pub tag_ids: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<String>,
    pub diagnostics: V1MetricDiagnostics,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct V1MetricDiagnostics {
    pub skipped_missing_field: i64,
    pub skipped_non_numeric: i64,
}

#[derive(Serialize, ToSchema)]
pub struct MetricListResponse {
    pub data: Vec<MetricResponse>,
    pub pagination: PaginationMeta,
}

fn groups(m: &Metric) -> Vec<FilterGroupBody> {
    m.filter_groups
        .iter()
        .map(|g| FilterGroupBody {
            operator: if g.operator == abacus_core::metering::GroupOp::And {
                "and"
            } else {
                "or"
            }
            .into(),
            filters: g
                .filters
                .iter()
                .map(|f| FilterBody {
                    field: f.field.clone(),
                    operator: f.operator.as_str().into(),
                    value: Value::String(f.value.clone()),
                })
                .collect(),
        })
        .collect()
}

fn aggregation(m: &Metric) -> AggregationBody {
    // The SDK's AggregationResponse requires a string field; `count` has none.
    AggregationBody {
        method: m.aggregation.method.as_str().into(),
        field: Some(m.aggregation.field.clone().unwrap_or_default()),
    }
}

fn v2(m: Metric, d: Diagnostics) -> MetricResponse {
    MetricResponse {
        aggregation: aggregation(&m),
        filter_groups: groups(&m),
        id: m.id,
        name: m.name,
        description: m.description,
        event_name: m.event_name,
        tag_ids: m.tag_ids,
        created_at: crate::wire::timestamp(m.created_at),
        updated_at: crate::wire::timestamp(m.updated_at),
        archived_at: m.archived_at.map(crate::wire::timestamp),
        diagnostics: MetricDiagnostics {
            skipped_missing_field: d.skipped_missing,
            skipped_non_numeric: d.skipped_non_numeric,
        },
    }
}

fn v1(m: Metric, d: Diagnostics) -> V1Metric {
    V1Metric {
        aggregation: aggregation(&m),
        filter_groups: groups(&m),
        id: m.id,
        name: m.name,
        description: m.description,
        event_name: m.event_name,
        tag_ids: m.tag_ids,
        created_at: crate::wire::timestamp(m.created_at),
        updated_at: crate::wire::timestamp(m.updated_at),
        archived_at: m.archived_at.map(crate::wire::timestamp),
        diagnostics: V1MetricDiagnostics {
            skipped_missing_field: d.skipped_missing,
            skipped_non_numeric: d.skipped_non_numeric,
        },
    }
}

fn render(
    version: ApiVersion,
    status: StatusCode,
    m: Metric,
    d: Diagnostics,
) -> ApiResult<(StatusCode, Value)> {
    let body = match version {
        ApiVersion::V2 => serde_json::to_value(v2(m, d)),
        ApiVersion::V1 => serde_json::to_value(v1(m, d)),
    }
    .map_err(|_| ApiError::internal())?;
    Ok((status, body))
}

fn naming(version: ApiVersion) -> Naming {
    match version {
        ApiVersion::V1 => Naming::Camel,
        ApiVersion::V2 => Naming::Snake,
    }
}

fn filter_value(v: Value, field: &str) -> ApiResult<String> {
    match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(ApiError::invalid_field(field, "must be a string")),
    }
}

impl CreateMetricRequest {
    fn into_draft(self, naming: Naming) -> ApiResult<MetricDraft> {
        let mut filter_groups = Vec::new();
        for (i, g) in self
            .filter_groups
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let mut filters = Vec::new();
            for (j, f) in g.filters.into_iter().enumerate() {
                let field = format!("{}[{i}].filters[{j}].value", naming.field("filter_groups"));
                filters.push(FilterDraft {
                    field: f.field,
                    operator: f.operator,
                    value: filter_value(f.value, &field)?,
                });
            }
            filter_groups.push(FilterGroupDraft {
                operator: g.operator,
                filters,
            });
        }
        Ok(MetricDraft {
            name: self.name,
            description: self.description,
            event_name: self.event_name,
            method: self.aggregation.method,
            field: self.aggregation.field,
            filter_groups,
            tag_ids: self.tag_ids.unwrap_or_default(),
        })
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_metric, list_metrics))
        .routes(routes!(get_metric, update_metric))
        .routes(routes!(archive_metric))
}

/// Create a billable metric. Events that arrived before it are counted (backfill).
#[utoipa::path(post, path = "/metrics", tag = "metrics", request_body = CreateMetricRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 201, body = MetricResponse), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn create_metric(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    ApiJson(body): ApiJson<CreateMetricRequest>,
) -> ApiResult<Response> {
    let draft = body.into_draft(naming(version))?;
    let mut tx = state.db.begin().await?;
    let (metric, diagnostics) =
        metering::create(&mut tx, &tenant.org_id, draft, naming(version)).await?;
    let (status, body) = render(version, StatusCode::CREATED, metric, diagnostics)?;
    idem.commit(tx, status, &body).await
}

/// List metrics.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    params(("event_name" = Option<String>, Query, description = "Comma-separated; any of"),
           ("aggregation_method" = Option<String>, Query, description = "Comma-separated; any of"),
           ("aggregation_field" = Option<String>, Query, description = "Comma-separated; any of"),
           ("tag_ids" = Option<String>, Query, description = "Comma-separated; any of"),
           ("include_archived" = Option<bool>, Query, description = "Extension; default false"),
           ("sort" = Option<String>, Query, description = "`name`, `event_name` or `created_at`, `:asc` or `:desc`"),
           ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query), ("page" = Option<i64>, Query, description = "v1")),
    responses((status = 200, body = MetricListResponse), (status = 400, body = Problem)))]
async fn list_metrics(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    q: QueryParams,
) -> ApiResult<Response> {
    let window = match version {
        ApiVersion::V2 => v2_window(&q)?,
        ApiVersion::V1 => v1_window(&q)?,
    };
    let sort = match q.sort(&["created_at", "name", "event_name"])? {
        None => (SortField::CreatedAt, false),
        Some(("name", d)) => (SortField::Name, d),
        Some(("event_name", d)) => (SortField::EventName, d),
        Some((_, d)) => (SortField::CreatedAt, d),
    };
    let filter = ListFilter {
        event_names: q.list("event_name"),
        methods: q.list("aggregation_method"),
        fields: q.list("aggregation_field"),
        tag_ids: q.list("tag_ids"),
        include_archived: q.boolean("include_archived")?.unwrap_or(false),
    };
    let mut conn = state.db.read().await?;
    let (rows, total) = abacus_store::metrics::list(
        &mut conn,
        &tenant.org_id,
        &filter,
        sort,
        window.limit,
        window.offset,
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for m in rows {
        let d = abacus_store::usage::diagnostics(&mut conn, &tenant.org_id, &m).await?;
        out.push((m, d));
    }
    Ok(match version {
        ApiVersion::V2 => Json(V2Page::new(
            out.into_iter().map(|(m, d)| v2(m, d)).collect(),
            total,
            window,
        ))
        .into_response(),
        ApiVersion::V1 => Json(V1Page::new(
            out.into_iter().map(|(m, d)| v1(m, d)).collect(),
            total,
            window,
        ))
        .into_response(),
    })
}

/// Get a metric.
#[utoipa::path(get, path = "/metrics/{id}", tag = "metrics", params(("id" = String, Path)),
    responses((status = 200, body = MetricResponse), (status = 404, body = Problem)))]
async fn get_metric(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut conn = state.db.read().await?;
    let (m, d) = metering::get(&mut conn, &tenant.org_id, &id).await?;
    let (status, body) = render(version, StatusCode::OK, m, d)?;
    Ok((status, Json(body)).into_response())
}

/// Rename or re-describe a metric (extension). What it counts never changes.
#[utoipa::path(patch, path = "/metrics/{id}", tag = "metrics", request_body = UpdateMetricRequest, params(("id" = String, Path)),
    responses((status = 200, body = MetricResponse), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_metric(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateMetricRequest>,
) -> ApiResult<Response> {
    use abacus_core::customer::Patch;
    let description = match body.description {
        Patch::Absent => None,
        Patch::Null => Some(None),
        Patch::Value(d) => Some(Some(d)),
    };
    let mut tx = state.db.begin().await?;
    let (m, d) = metering::update(&mut tx, &tenant.org_id, &id, body.name, description).await?;
    let (status, body) = render(version, StatusCode::OK, m, d)?;
    idem.commit(tx, status, &body).await
}

/// Archive a metric (extension): it leaves lists but keeps its usage.
#[utoipa::path(post, path = "/metrics/{id}/archive", tag = "metrics", params(("id" = String, Path)),
    responses((status = 200, body = MetricResponse), (status = 404, body = Problem)))]
async fn archive_metric(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let (m, d) = metering::archive(&mut tx, &tenant.org_id, &id).await?;
    let (status, body) = render(version, StatusCode::OK, m, d)?;
    idem.commit(tx, status, &body).await
}
