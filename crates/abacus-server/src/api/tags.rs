//! `/tags` (v2 shapes): list and get as the `alguna` SDK defines them; create and delete are
//! extensions (Alguna manages tags in its dashboard).

use abacus_core::catalog::{Tag, TagInput};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::v1::accounts::Deleted;
use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::{ApiJson, QueryParams};
use crate::idempotency::Idem;
use crate::pagination::{PaginationMeta, V2Page, v2_window};
use crate::problem::{ApiResult, Problem};
use crate::services::catalog;
use crate::wire::timestamp;

/// Extension: a new tag.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateTagRequest {
    /// Unique in the organization (case-insensitively).
    pub name: String,
    /// `#RRGGBB`; a neutral grey when left out.
    #[serde(default)]
    pub color: Option<String>,
    /// What the tag may label: `product`, `customer`, `plan`, `subscription`, `metric`,
    /// `invoice`, `quote`. All of them when left out.
    #[serde(default)]
    pub entity_types: Option<Vec<String>>,
}

/// The SDK's `TagResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagResponse {
    pub id: String,
    pub name: String,
    pub color: String,
    pub entity_types: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct TagListResponse {
    pub data: Vec<TagResponse>,
    pub pagination: PaginationMeta,
}

impl From<Tag> for TagResponse {
    fn from(t: Tag) -> Self {
        TagResponse {
            id: t.id,
            name: t.spec.name,
            color: t.spec.color,
            entity_types: t.spec.entity_types,
            created_at: timestamp(t.created_at),
            updated_at: timestamp(t.updated_at),
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_tag, list_tags))
        .routes(routes!(get_tag, delete_tag))
}

/// Create a tag (extension).
#[utoipa::path(post, path = "/tags", tag = "tags", request_body = CreateTagRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 201, body = TagResponse), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 409, body = Problem, description = "The name is taken"), (status = 422, body = Problem)))]
async fn create_tag(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    ApiJson(body): ApiJson<CreateTagRequest>,
) -> ApiResult<Response> {
    let input = TagInput {
        name: body.name,
        color: body.color,
        entity_types: body.entity_types,
    };
    let mut tx = state.db.begin().await?;
    let tag = catalog::create_tag(&mut tx, &tenant.org_id, input).await?;
    idem.commit(tx, StatusCode::CREATED, &TagResponse::from(tag))
        .await
}

/// List tags, by name.
#[utoipa::path(get, path = "/tags", tag = "tags",
    params(("limit" = Option<i64>, Query, description = "Default 20, at most 100"),
           ("offset" = Option<i64>, Query, description = "Default 0")),
    responses((status = 200, body = TagListResponse), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_tags(
    State(state): State<AppState>,
    tenant: Tenant,
    q: QueryParams,
) -> ApiResult<Json<V2Page<TagResponse>>> {
    let window = v2_window(&q)?;
    let mut conn = state.db.read().await?;
    let (rows, total) =
        abacus_store::tags::list(&mut conn, &tenant.org_id, window.limit, window.offset).await?;
    Ok(Json(V2Page::new(
        rows.into_iter().map(TagResponse::from).collect(),
        total,
        window,
    )))
}

/// Get a tag.
#[utoipa::path(get, path = "/tags/{id}", tag = "tags", params(("id" = String, Path)),
    responses((status = 200, body = TagResponse), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_tag(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<TagResponse>> {
    let mut conn = state.db.read().await?;
    Ok(Json(
        catalog::get_tag(&mut conn, &tenant.org_id, &id)
            .await?
            .into(),
    ))
}

/// Delete a tag (extension). It is taken off every product and plan it labels.
#[utoipa::path(delete, path = "/tags/{id}", tag = "tags",
    params(("id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = Deleted), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn delete_tag(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let id = catalog::delete_tag(&mut tx, &tenant.org_id, &id).await?;
    idem.commit(tx, StatusCode::OK, &Deleted { id, deleted: true })
        .await
}
