//! The HTTP API: routes of both surfaces, the layers every request passes, and the OpenAPI
//! document.

pub mod bundles;
pub mod credit_notes;
pub mod credits;
pub mod customer_dto;
pub mod docs;
pub mod events;
pub mod health;
pub mod invoices;
pub mod metrics;
pub mod organization;
pub mod payments;
pub mod plans;
pub mod prices;
pub mod products;
pub mod subscription_versions;
pub mod subscriptions;
pub mod tags;
pub mod usage;
pub mod v1;
pub mod v2;
pub mod webhooks;

use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::problem::{ApiError, PROBLEM_JSON};

/// The authenticated API of both surfaces, with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(docs::base())
        .merge(v1::accounts::router())
        .merge(v2::customers::router())
        .merge(events::router())
        .merge(metrics::router())
        .merge(usage::router())
        .merge(products::router())
        .merge(plans::router())
        .merge(bundles::router())
        .merge(tags::router())
        .merge(prices::router())
        .merge(webhooks::router())
        .merge(subscriptions::router())
        .merge(subscription_versions::router())
        .merge(organization::router())
        .merge(invoices::router())
        .merge(credit_notes::router())
        .merge(payments::router())
        .merge(credits::router())
}

pub fn router(state: AppState) -> Router {
    let (api, openapi) = api().split_for_parts();
    let api = api
        .route_layer(from_fn_with_state(state.clone(), crate::idempotency::layer))
        .route_layer(from_fn_with_state(state.clone(), crate::auth::authenticate))
        .route_layer(from_fn(crate::version::check));
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(api)
        .merge(health::router())
        .merge(docs::router(openapi))
        .fallback(not_found)
        .with_state(state.clone())
        .layer(map_response(problem_for_bare_errors))
        .layer(CatchPanicLayer::new())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO).latency_unit(tower_http::LatencyUnit::Micros)),
        )
        .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION]))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(60)))
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("No route for {} {}", req.method(), req.uri().path()),
    )
}

/// Errors produced outside the handlers (method not allowed, body too large, a caught panic)
/// become problem documents too.
async fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if status.is_success()
        || status.is_redirection()
        || is_problem
        || status == StatusCode::NOT_MODIFIED
    {
        return response;
    }
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => "This method is not allowed on this path.".to_string(),
        StatusCode::PAYLOAD_TOO_LARGE => {
            "The request body is larger than the server accepts.".to_string()
        }
        StatusCode::INTERNAL_SERVER_ERROR => ApiError::internal().detail,
        _ => status.canonical_reason().unwrap_or("Error").to_string(),
    };
    let mut problem = ApiError::new(status, detail).into_response();
    if let Some(allow) = response.headers().get(header::ALLOW) {
        problem.headers_mut().insert(header::ALLOW, allow.clone());
    }
    problem
}
