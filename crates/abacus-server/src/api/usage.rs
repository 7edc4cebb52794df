//! Usage queries (extension): `GET /customers/{id}/usage` (v2) and `GET /accounts/{id}/usage` (v1).

use abacus_core::metering::window::WindowKind;
use abacus_core::time::parse_rfc3339;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::QueryParams;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::services::metering::{self, Series, UsageAnswer, UsageQuery};
use crate::wire::{timestamp, v1_keys};

#[derive(Serialize, ToSchema)]
pub struct UsageGroup {
    /// The property's value, or `null` for events without it.
    pub key: Option<String>,
    pub value: String,
    /// With `window`: this group's value in each window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<UsageWindow>>,
}

#[derive(Serialize, ToSchema)]
pub struct UsageWindow {
    pub from: String,
    pub to: String,
    pub value: String,
}

/// The exact aggregated value of a metric for a customer over `[from, to)`.
#[derive(Serialize, ToSchema)]
pub struct UsageResponse {
    pub metric_id: String,
    pub customer_id: String,
    pub from: String,
    pub to: String,
    /// A decimal string.
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<UsageGroup>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<UsageWindow>>,
}

impl From<UsageAnswer> for UsageResponse {
    fn from(a: UsageAnswer) -> Self {
        UsageResponse {
            metric_id: a.metric_id,
            customer_id: a.customer_id,
            from: timestamp(a.from),
            to: timestamp(a.to),
            value: a.value.to_string(),
            groups: a.groups.map(|g| {
                g.into_iter()
                    .map(|g| UsageGroup {
                        key: g.key,
                        value: g.value.to_string(),
                        series: g.series.map(windows),
                    })
                    .collect()
            }),
            series: a.series.map(windows),
        }
    }
}

fn windows(series: Series) -> Vec<UsageWindow> {
    series
        .into_iter()
        .map(|(f, t, v)| UsageWindow {
            from: timestamp(f),
            to: timestamp(t),
            value: v.to_string(),
        })
        .collect()
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(customer_usage))
        .routes(routes!(account_usage))
}

fn query(q: &QueryParams, metric_param: &str) -> ApiResult<UsageQuery> {
    let metric_id = q
        .string(metric_param)
        .ok_or_else(|| ApiError::bad_param(metric_param, "is required"))?;
    let time = |name: &str| -> ApiResult<i64> {
        let s = q
            .string(name)
            .ok_or_else(|| ApiError::bad_param(name, "is required (RFC 3339)"))?;
        parse_rfc3339(&s).map_err(|e| ApiError::bad_param(name, e))
    };
    let window = match q.string("window") {
        None => None,
        Some(w) => Some(WindowKind::parse(&w).ok_or_else(|| {
            ApiError::bad_param("window", format!("'{w}' is not hour, day or month"))
        })?),
    };
    let group_by = q.string("group_by");
    Ok(UsageQuery {
        metric_id,
        from: time("from")?,
        to: time("to")?,
        group_by,
        window,
    })
}

/// A customer's usage of one metric over `[from, to)` (extension), optionally grouped by one
/// property and/or split into hour, day or month windows in the organization's time zone (with
/// both, each group carries its own series).
#[utoipa::path(get, path = "/customers/{id}/usage", tag = "usage",
    params(("id" = String, Path, description = "Customer id or alias"), ("metric_id" = String, Query),
           ("from" = String, Query, description = "RFC 3339, inclusive"), ("to" = String, Query, description = "RFC 3339, exclusive"),
           ("group_by" = Option<String>, Query, description = "A property to split by"),
           ("window" = Option<String>, Query, description = "`hour`, `day` or `month`: adds a series")),
    responses((status = 200, body = UsageResponse), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn customer_usage(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<UsageResponse>> {
    let answer = metering::usage(&state.db, &tenant.org_id, &id, query(&q, "metric_id")?).await?;
    Ok(Json(answer.into()))
}

/// The v1 spelling of the usage query (`metricId` is also accepted).
#[utoipa::path(get, path = "/accounts/{id}/usage", tag = "usage",
    params(("id" = String, Path, description = "Account id or alias"), ("metric_id" = String, Query),
           ("from" = String, Query), ("to" = String, Query), ("group_by" = Option<String>, Query), ("window" = Option<String>, Query)),
    responses((status = 200, body = UsageResponse, description = "camelCase keys"), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn account_usage(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Response> {
    let param = if q.string("metricId").is_some() {
        "metricId"
    } else {
        "metric_id"
    };
    let answer = metering::usage(&state.db, &tenant.org_id, &id, query(&q, param)?).await?;
    let body =
        serde_json::to_value(UsageResponse::from(answer)).map_err(|_| ApiError::internal())?;
    Ok(Json(v1_keys(body)).into_response())
}
