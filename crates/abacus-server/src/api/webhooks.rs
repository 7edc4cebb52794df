//! `/webhook-endpoints` (extension; Alguna configures webhooks in its dashboard): endpoints, their
//! secrets, the delivery log, resends, recovery and test events; `/webhook-event-types`, the
//! catalogue. One shape on both surfaces (snake_case, `limit`/`offset` lists). See
//! `docs/webhooks.md`.

use abacus_core::customer::Patch;
use abacus_core::time::parse_rfc3339;
use abacus_store::webhooks::{Attempt, Endpoint, Message, MessageStatus};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::v1::accounts::Deleted;
use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::{ApiJson, QueryParams};
use crate::idempotency::Idem;
use crate::pagination::{PaginationMeta, V2Page, v2_window};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::services::webhooks::{self as service, EndpointDraft};
use crate::wire::timestamp;

/// A new endpoint.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateEndpointRequest {
    /// An `https` URL of a public address.
    pub url: String,
    /// The event types sent to it; absent, `null` or empty: every type.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// At most 1,024 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Changes to an endpoint: fields left out keep their value.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateEndpointRequest {
    #[serde(default)]
    pub url: Option<String>,
    /// `null` or empty: every type.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub event_types: Patch<Vec<String>>,
    /// `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Patch<String>,
    /// Enabling an endpoint that was disabled for failing clears its failure streak.
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointResponse {
    pub id: String,
    pub url: String,
    /// `null`: every event type.
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why Abacus disabled the endpoint, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The signing secret: only in the responses to create and rotate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl EndpointResponse {
    fn new(e: Endpoint, with_secret: bool) -> Self {
        EndpointResponse {
            secret: with_secret.then(|| e.secret.clone()),
            id: e.id,
            url: e.url,
            event_types: e.event_types,
            description: e.description,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            created_at: timestamp(e.created_at),
            updated_at: timestamp(e.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EndpointListResponse {
    pub data: Vec<EndpointResponse>,
    pub pagination: PaginationMeta,
}

/// One event's delivery to one endpoint; its `id` is the `webhook-id` header of every attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub created_at: String,
    /// The body sent: `{type, timestamp, data}`.
    #[schema(value_type = Object)]
    pub payload: Value,
}

impl From<Message> for MessageResponse {
    fn from(m: Message) -> Self {
        MessageResponse {
            payload: serde_json::from_str(&m.payload).unwrap_or(Value::Null),
            id: m.id,
            endpoint_id: m.endpoint_id,
            event_id: m.event_id,
            event_type: m.event_type,
            status: m.status.as_str().into(),
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at.map(timestamp),
            last_attempt_at: m.last_attempt_at.map(timestamp),
            created_at: timestamp(m.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MessageListResponse {
    pub data: Vec<MessageResponse>,
    pub pagination: PaginationMeta,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptResponse {
    pub id: String,
    pub message_id: String,
    /// 1 for the first attempt.
    pub attempt: i32,
    pub timestamp: String,
    pub success: bool,
    /// The receiver's HTTP status; `null` when it gave none.
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    /// The first 1,024 bytes of the receiver's answer.
    pub response_body: Option<String>,
    /// Why the attempt failed.
    pub error: Option<String>,
}

impl From<Attempt> for AttemptResponse {
    fn from(a: Attempt) -> Self {
        AttemptResponse {
            id: a.id,
            message_id: a.message_id,
            attempt: a.attempt,
            timestamp: timestamp(a.started_at),
            success: a.success,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            response_body: a.response_body,
            error: a.error,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AttemptListResponse {
    pub data: Vec<AttemptResponse>,
}

#[derive(Serialize, ToSchema)]
pub struct RecoverResponse {
    /// Failed messages queued again.
    pub recovered: u64,
}

#[derive(Serialize, ToSchema)]
pub struct EventTypeResponse {
    pub name: String,
    pub description: String,
    /// The Alguna SDK model of the whole body (`WebhookInvoicePaidPayload`).
    pub schema: String,
    /// The SDK model of `data` (`InvoicePayload`).
    pub data_schema: String,
}

#[derive(Serialize, ToSchema)]
pub struct EventTypeListResponse {
    pub data: Vec<EventTypeResponse>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(send_test))
        .routes(routes!(list_messages))
        .routes(routes!(get_message))
        .routes(routes!(list_attempts))
        .routes(routes!(resend_message))
        .routes(routes!(recover))
        .routes(routes!(list_event_types))
}

fn allow_private(state: &AppState) -> bool {
    state.config.webhooks_allow_private
}

/// Create a webhook endpoint (extension). The response carries its signing secret, once.
#[utoipa::path(post, path = "/webhook-endpoints", tag = "webhooks", request_body = CreateEndpointRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 201, body = EndpointResponse), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn create_endpoint(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    ApiJson(body): ApiJson<CreateEndpointRequest>,
) -> ApiResult<Response> {
    let draft = EndpointDraft {
        url: Some(body.url),
        description: body.description.map_or(Patch::Absent, Patch::Value),
        event_types: body.event_types.map_or(Patch::Absent, Patch::Value),
        enabled: body.enabled,
    };
    let mut tx = state.db.begin().await?;
    let endpoint = service::create(&mut tx, &tenant.org_id, draft, allow_private(&state)).await?;
    idem.commit(
        tx,
        StatusCode::CREATED,
        &EndpointResponse::new(endpoint, true),
    )
    .await
}

/// List webhook endpoints, oldest first.
#[utoipa::path(get, path = "/webhook-endpoints", tag = "webhooks",
    params(("limit" = Option<i64>, Query, description = "Default 20, at most 100"), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = EndpointListResponse), (status = 400, body = Problem)))]
async fn list_endpoints(
    State(state): State<AppState>,
    tenant: Tenant,
    q: QueryParams,
) -> ApiResult<Json<V2Page<EndpointResponse>>> {
    let window = v2_window(&q)?;
    let mut conn = state.db.read().await?;
    let (rows, total) = abacus_store::webhooks::list_endpoints(
        &mut conn,
        &tenant.org_id,
        window.limit,
        window.offset,
    )
    .await?;
    Ok(Json(V2Page::new(
        rows.into_iter()
            .map(|e| EndpointResponse::new(e, false))
            .collect(),
        total,
        window,
    )))
}

/// Get a webhook endpoint.
#[utoipa::path(get, path = "/webhook-endpoints/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = EndpointResponse), (status = 404, body = Problem)))]
async fn get_endpoint(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<EndpointResponse>> {
    let mut conn = state.db.read().await?;
    let e = service::get(&mut conn, &tenant.org_id, &id).await?;
    Ok(Json(EndpointResponse::new(e, false)))
}

/// Change a webhook endpoint's URL, event types, description or enabled state.
#[utoipa::path(patch, path = "/webhook-endpoints/{id}", tag = "webhooks", request_body = UpdateEndpointRequest,
    params(("id" = String, Path)),
    responses((status = 200, body = EndpointResponse), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_endpoint(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateEndpointRequest>,
) -> ApiResult<Response> {
    let draft = EndpointDraft {
        url: body.url,
        description: body.description,
        event_types: body.event_types,
        enabled: body.enabled,
    };
    let mut tx = state.db.begin().await?;
    let e = service::update(&mut tx, &tenant.org_id, &id, draft, allow_private(&state)).await?;
    let response = idem
        .commit(tx, StatusCode::OK, &EndpointResponse::new(e, false))
        .await?;
    Ok(response)
}

/// Delete a webhook endpoint with its messages and their attempts.
#[utoipa::path(delete, path = "/webhook-endpoints/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = Deleted), (status = 404, body = Problem)))]
async fn delete_endpoint(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    service::delete(&mut tx, &tenant.org_id, &id).await?;
    idem.commit(tx, StatusCode::OK, &Deleted { id, deleted: true })
        .await
}

/// Rotate the signing secret. The response carries the new secret; the old one keeps signing
/// beside it (a second signature) for 24 hours.
#[utoipa::path(post, path = "/webhook-endpoints/{id}/rotate-secret", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = EndpointResponse), (status = 404, body = Problem)))]
async fn rotate_secret(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let e = service::rotate(&mut tx, &tenant.org_id, &id).await?;
    idem.commit(tx, StatusCode::OK, &EndpointResponse::new(e, true))
        .await
}

/// Send a signed test event (`webhook.test`) to this endpoint, whatever its event types.
#[utoipa::path(post, path = "/webhook-endpoints/{id}/test", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 202, body = MessageResponse), (status = 404, body = Problem), (status = 409, body = Problem, description = "The endpoint is disabled")))]
async fn send_test(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let m = service::send_test(&mut tx, &tenant.org_id, &id).await?;
    let response = idem
        .commit(tx, StatusCode::ACCEPTED, &MessageResponse::from(m))
        .await?;
    Ok(response)
}

/// The endpoint's messages, newest first: the delivery log.
#[utoipa::path(get, path = "/webhook-endpoints/{id}/messages", tag = "webhooks",
    params(("id" = String, Path), ("status" = Option<String>, Query, description = "`pending`, `succeeded` or `failed`"),
           ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = MessageListResponse), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn list_messages(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<V2Page<MessageResponse>>> {
    let window = v2_window(&q)?;
    let status = q
        .string("status")
        .map(|s| {
            MessageStatus::parse(&s).ok_or_else(|| {
                ApiError::bad_param(
                    "status",
                    format!("'{s}' is not pending, succeeded or failed"),
                )
            })
        })
        .transpose()?;
    let mut conn = state.db.read().await?;
    service::get(&mut conn, &tenant.org_id, &id).await?;
    let (rows, total) = abacus_store::webhooks::list_messages(
        &mut conn,
        &tenant.org_id,
        &id,
        status,
        window.limit,
        window.offset,
    )
    .await?;
    Ok(Json(V2Page::new(
        rows.into_iter().map(MessageResponse::from).collect(),
        total,
        window,
    )))
}

/// One message.
#[utoipa::path(get, path = "/webhook-endpoints/{id}/messages/{msg_id}", tag = "webhooks",
    params(("id" = String, Path), ("msg_id" = String, Path)),
    responses((status = 200, body = MessageResponse), (status = 404, body = Problem)))]
async fn get_message(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, msg_id)): Path<(String, String)>,
) -> ApiResult<Json<MessageResponse>> {
    let mut conn = state.db.read().await?;
    service::get(&mut conn, &tenant.org_id, &id).await?;
    let m = service::message(&mut conn, &tenant.org_id, &id, &msg_id).await?;
    Ok(Json(m.into()))
}

/// A message's delivery attempts, oldest first: status code, latency, response excerpt, error.
#[utoipa::path(get, path = "/webhook-endpoints/{id}/messages/{msg_id}/attempts", tag = "webhooks",
    params(("id" = String, Path), ("msg_id" = String, Path)),
    responses((status = 200, body = AttemptListResponse), (status = 404, body = Problem)))]
async fn list_attempts(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, msg_id)): Path<(String, String)>,
) -> ApiResult<Json<AttemptListResponse>> {
    let mut conn = state.db.read().await?;
    service::get(&mut conn, &tenant.org_id, &id).await?;
    service::message(&mut conn, &tenant.org_id, &id, &msg_id).await?;
    let attempts =
        abacus_store::webhooks::list_attempts(&mut conn, &tenant.org_id, &msg_id).await?;
    Ok(Json(AttemptListResponse {
        data: attempts.into_iter().map(AttemptResponse::from).collect(),
    }))
}

/// Send a message again now, with the same `webhook-id` and a fresh retry schedule.
#[utoipa::path(post, path = "/webhook-endpoints/{id}/messages/{msg_id}/resend", tag = "webhooks",
    params(("id" = String, Path), ("msg_id" = String, Path)),
    responses((status = 202, body = MessageResponse), (status = 404, body = Problem), (status = 409, body = Problem, description = "The endpoint is disabled")))]
async fn resend_message(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path((id, msg_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let m = service::resend(&mut tx, &tenant.org_id, &id, &msg_id).await?;
    let response = idem
        .commit(tx, StatusCode::ACCEPTED, &MessageResponse::from(m))
        .await?;
    Ok(response)
}

/// Resend every failed message of the endpoint created since `since` (RFC 3339).
#[utoipa::path(post, path = "/webhook-endpoints/{id}/recover", tag = "webhooks",
    params(("id" = String, Path), ("since" = String, Query, description = "RFC 3339 instant")),
    responses((status = 202, body = RecoverResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "The endpoint is disabled")))]
async fn recover(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Response> {
    let since = q
        .string("since")
        .ok_or_else(|| ApiError::bad_param("since", "is required"))?;
    let since = parse_rfc3339(&since).map_err(|e| ApiError::bad_param("since", e))?;
    let mut tx = state.db.begin().await?;
    let recovered = service::recover(&mut tx, &tenant.org_id, &id, since).await?;
    let response = idem
        .commit(tx, StatusCode::ACCEPTED, &RecoverResponse { recovered })
        .await?;
    Ok(response)
}

/// The event types an endpoint can subscribe to, with the SDK models of their bodies.
#[utoipa::path(get, path = "/webhook-event-types", tag = "webhooks",
    responses((status = 200, body = EventTypeListResponse)))]
async fn list_event_types(_tenant: Tenant) -> Json<EventTypeListResponse> {
    Json(EventTypeListResponse {
        data: abacus_core::webhooks::EVENT_TYPES
            .iter()
            .map(|t| EventTypeResponse {
                name: t.name.into(),
                description: t.description.into(),
                schema: t.model.into(),
                data_schema: t.data_model.into(),
            })
            .collect(),
    })
}
