//! `/subscriptions/{id}/versions` (the snapshot path: full item sets, drafts, publish) and
//! `/subscriptions/{id}/changes` (the delta path, and its preview), as the `alguna` SDK defines
//! them. v2 shapes only.

use abacus_core::catalog::PlanItemInput;
use abacus_core::catalog::plan::EntitlementInput;
use abacus_core::subscription::change::{ChangeAddItem, ChangeRemoveItem, ChangeUpdateItem};
use abacus_core::subscription::{ChangesApplied, Delta, VersionStatus};
use abacus_core::time::Micros;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::subscriptions::{item_doc, version_doc};
use crate::api::v1::accounts::Deleted;
use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::ApiJson;
use crate::idempotency::Idem;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::services::subscriptions::{
    self as service, ChangeOutcome, ChangeRequest, Loaded, VersionRequest,
};
use crate::wire::timestamp;
use abacus_core::validation::Naming;

/// `subscription_versions.create`: a complete item set.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateVersionRequest {
    /// `VersionItemInput`s: `{product_id, price}` or `{bundle_id, items?: [{product_id, price}]}`.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<PlanItemInput>,
    #[serde(default)]
    pub description: Option<String>,
    /// `true` (the default) keeps it a draft; `false` publishes it at once (active subscriptions).
    #[serde(default)]
    pub draft: Option<bool>,
    /// A date (`YYYY-MM-DD`), an RFC 3339 instant, or `immediate`, `next_billing_period`,
    /// `end_of_term`. Published without one: now.
    #[serde(default)]
    pub effective_at: Option<String>,
    /// `EntitlementInput`s; left out, the current version's are kept.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub entitlements: Option<Vec<EntitlementInput>>,
}

/// `subscription_versions.replace`: a draft's complete new content.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReplaceVersionRequest {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<PlanItemInput>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub effective_at: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub entitlements: Option<Vec<EntitlementInput>>,
}

/// `CreateChangeRequest`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateChangeRequest {
    /// `ChangeAddItem`s: `{product_id, new_price}` or `{bundle_id, items?}`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub add: Option<Vec<ChangeAddItem>>,
    /// `ChangeRemoveItem`s: `{product_id}` or `{bundle_id}` (both: the product leaves the bundle).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub remove: Option<Vec<ChangeRemoveItem>>,
    /// `ChangeUpdateItem`s: a product's `new_price` or `adjust` (price fields merged into the
    /// current price), or a bundle's `items`, `add_items`, `remove_items`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub update: Option<Vec<ChangeUpdateItem>>,
    #[serde(default)]
    pub description: Option<String>,
    /// Stage the new version as a draft instead of publishing it.
    #[serde(default)]
    pub draft: Option<bool>,
    /// `immediate` (default), `next_billing_period`, `end_of_term` (`next_term_renewal`), a date
    /// or an RFC 3339 instant.
    #[serde(default)]
    pub effective: Option<String>,
    /// Switch to this plan: its items (and entitlements) are the base the delta applies to.
    #[serde(default)]
    pub plan_id: Option<String>,
    /// The version to start from (default: the one in effect).
    #[serde(default)]
    pub source_version_id: Option<String>,
}

impl From<CreateChangeRequest> for ChangeRequest {
    fn from(b: CreateChangeRequest) -> Self {
        ChangeRequest {
            delta: Delta {
                add: b.add.unwrap_or_default(),
                remove: b.remove.unwrap_or_default(),
                update: b.update.unwrap_or_default(),
            },
            description: b.description,
            draft: b.draft.unwrap_or(false),
            effective: b.effective,
            plan_id: b.plan_id,
            source_version_id: b.source_version_id,
        }
    }
}

/// `ChangeResponse`, with the new version in full (extension `version`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeResponse {
    #[schema(value_type = Object)]
    pub changes_applied: ChangesApplied,
    pub effective_at: Option<String>,
    pub end_date: Option<String>,
    pub is_new_version: bool,
    pub source_version_id: String,
    pub version_id: String,
    pub version_status: String,
    #[schema(value_type = Object)]
    pub version: Value,
}

/// `ChangePreviewResponse`, with the version the change would write (extension `version`, the
/// same document as a version's, without an id).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangePreviewResponse {
    #[schema(value_type = Object)]
    pub changes_applied: ChangesApplied,
    pub effective_at: Option<String>,
    pub source_version_id: String,
    #[schema(value_type = Object)]
    pub version: Value,
}

/// `SubscriptionPhaseListResponse`.
#[derive(Serialize, ToSchema)]
pub struct VersionListResponse {
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_versions, create_version))
        .routes(routes!(current_version))
        .routes(routes!(get_version, replace_version, delete_version))
        .routes(routes!(get_version_item))
        .routes(routes!(publish_version))
        .routes(routes!(create_change))
        .routes(routes!(preview_change))
}

const IDEM: &str = "Replays the first response for 24 h";

/// `SubscriptionPhaseSummaryResponse`: a version without its items and entitlements.
fn summary(l: &Loaded, v: &abacus_core::subscription::Version) -> Value {
    let mut doc = version_doc(l, v);
    if let Value::Object(o) = &mut doc {
        o.remove("items");
        o.remove("entitlements");
    }
    doc
}

/// List a subscription's versions (drafts, the version in effect, past and future ones), by
/// number.
#[utoipa::path(get, path = "/subscriptions/{id}/versions", tag = "subscription versions", params(("id" = String, Path)),
    responses((status = 200, body = VersionListResponse), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn list_versions(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<VersionListResponse>> {
    let mut conn = state.db.read().await?;
    let l = service::load(&mut conn, &tenant.org_id, &id).await?;
    Ok(Json(VersionListResponse {
        data: l.versions.iter().map(|v| summary(&l, v)).collect(),
    }))
}

/// Create a version from a complete item set: a draft by default, or published at once with
/// `draft: false` (active subscriptions only).
#[utoipa::path(post, path = "/subscriptions/{id}/versions", tag = "subscription versions", request_body = CreateVersionRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = IDEM)),
    responses((status = 201, body = Object), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_version(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateVersionRequest>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let (l, v) = service::create_version(
        &mut tx,
        &tenant.org_id,
        &id,
        VersionRequest {
            items: body.items,
            description: body.description,
            effective_at: body.effective_at,
            entitlements: body.entitlements,
            draft: body.draft,
        },
        Naming::Snake,
    )
    .await?;
    let doc = version_doc(&l, &v);
    idem.commit(tx, StatusCode::CREATED, &doc).await
}

/// The version in effect now (404 when there is none: a draft, not started, or ended).
#[utoipa::path(get, path = "/subscriptions/{id}/versions/current", tag = "subscription versions", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn current_version(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut conn = state.db.read().await?;
    let l = service::load(&mut conn, &tenant.org_id, &id).await?;
    let v = l.in_effect().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Subscription '{id}' has no published version in effect"),
        )
    })?;
    Ok(Json(version_doc(&l, v)))
}

/// Get a version with its items and entitlements.
#[utoipa::path(get, path = "/subscriptions/{id}/versions/{vid}", tag = "subscription versions",
    params(("id" = String, Path), ("vid" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_version(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, vid)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let mut conn = state.db.read().await?;
    let l = service::load(&mut conn, &tenant.org_id, &id).await?;
    Ok(Json(version_doc(&l, l.version(&vid)?)))
}

/// Replace a draft's content (published versions are immutable: 409). Left out, `description`,
/// `effective_at` and `entitlements` keep their values.
#[utoipa::path(put, path = "/subscriptions/{id}/versions/{vid}", tag = "subscription versions", request_body = ReplaceVersionRequest,
    params(("id" = String, Path), ("vid" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = IDEM)),
    responses((status = 200, body = Object), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn replace_version(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path((id, vid)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReplaceVersionRequest>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let (l, v) = service::replace_version(
        &mut tx,
        &tenant.org_id,
        &id,
        &vid,
        VersionRequest {
            items: body.items,
            description: body.description,
            effective_at: body.effective_at,
            entitlements: body.entitlements,
            draft: Some(true),
        },
        Naming::Snake,
    )
    .await?;
    let doc = version_doc(&l, &v);
    idem.commit(tx, StatusCode::OK, &doc).await
}

/// Delete a draft version (published versions are kept: 409).
#[utoipa::path(delete, path = "/subscriptions/{id}/versions/{vid}", tag = "subscription versions",
    params(("id" = String, Path), ("vid" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = IDEM)),
    responses((status = 200, body = Deleted), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
async fn delete_version(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path((id, vid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    service::delete_version(&mut tx, &tenant.org_id, &id, &vid).await?;
    idem.commit(
        tx,
        StatusCode::OK,
        &Deleted {
            id: vid,
            deleted: true,
        },
    )
    .await
}

/// One item of a version, by product id or bundle id (`bnd_…` or `bun_…`).
#[utoipa::path(get, path = "/subscriptions/{id}/versions/{vid}/items/{ref}", tag = "subscription versions",
    params(("id" = String, Path), ("vid" = String, Path), ("ref" = String, Path, description = "A product id or a bundle id")),
    responses((status = 200, body = Object), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_version_item(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, vid, reference)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let mut conn = state.db.read().await?;
    let l = service::load(&mut conn, &tenant.org_id, &id).await?;
    let v = l.version(&vid)?;
    let item = v.item(&reference).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Version '{vid}' has no item '{reference}'"),
        )
    })?;
    Ok(Json(item_doc(item, &l.sub.currency)))
}

/// Publish a draft version: from its `effective_at`, or now when it has none. A date in the past
/// makes it current at once (from that date). 409 for a published version, a draft or canceled
/// subscription, or a version without items.
#[utoipa::path(post, path = "/subscriptions/{id}/versions/{vid}/publish", tag = "subscription versions",
    params(("id" = String, Path), ("vid" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = IDEM)),
    responses((status = 200, body = Object), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
async fn publish_version(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path((id, vid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let (l, v) = service::publish_version(&mut tx, &tenant.org_id, &id, &vid).await?;
    let doc = version_doc(&l, &v);
    idem.commit(tx, StatusCode::OK, &doc).await
}

fn preview_version(l: &Loaded, o: &ChangeOutcome) -> Value {
    let spec = &o.spec;
    json!({
        "id": null,
        "subscription_id": l.sub.id,
        "status": spec.status.as_str(),
        "plan_id": spec.plan_id,
        "description": spec.description,
        "start_date": spec.effective_at.map(timestamp),
        "items": spec.items.iter().map(|i| item_doc(i, &l.sub.currency)).collect::<Vec<_>>(),
        "entitlements": spec.entitlements.iter().map(|e| {
            let mut doc = crate::api::subscriptions::entitlement_doc(e, &l.sub.id, "");
            doc["version_id"] = Value::Null;
            doc
        }).collect::<Vec<_>>(),
    })
}

fn at(t: Micros) -> Option<String> {
    Some(timestamp(t))
}

/// Apply a change: the delta on top of the source version (or of the new plan's items), written
/// as a new version, published unless `draft: true`.
#[utoipa::path(post, path = "/subscriptions/{id}/changes", tag = "subscription versions", request_body = CreateChangeRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = IDEM)),
    responses((status = 201, body = ChangeResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_change(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateChangeRequest>,
) -> ApiResult<Response> {
    let req: ChangeRequest = body.into();
    let mut tx = state.db.begin().await?;
    let (l, outcome, v) =
        service::apply_change(&mut tx, &tenant.org_id, &id, &req, Naming::Snake).await?;
    let end = match v.status {
        VersionStatus::Published => l.version_end(&v),
        VersionStatus::Draft => None,
    };
    let doc = ChangeResponse {
        changes_applied: outcome.applied.clone(),
        effective_at: at(outcome.effective_at),
        end_date: end.map(timestamp),
        is_new_version: true,
        source_version_id: outcome.source_version_id.clone(),
        version_id: v.id.clone(),
        version_status: v.status.as_str().into(),
        version: version_doc(&l, &v),
    };
    idem.commit(tx, StatusCode::CREATED, &doc).await
}

/// Preview a change: the same computation as applying it, nothing written.
#[utoipa::path(post, path = "/subscriptions/{id}/changes/preview", tag = "subscription versions", request_body = CreateChangeRequest,
    params(("id" = String, Path)),
    responses((status = 200, body = ChangePreviewResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn preview_change(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateChangeRequest>,
) -> ApiResult<Json<ChangePreviewResponse>> {
    let req: ChangeRequest = body.into();
    let mut conn = state.db.read().await?;
    let l = service::load(&mut conn, &tenant.org_id, &id).await?;
    let outcome = service::plan_change(&mut conn, &tenant.org_id, &l, &req, Naming::Snake).await?;
    Ok(Json(ChangePreviewResponse {
        changes_applied: outcome.applied.clone(),
        effective_at: at(outcome.effective_at),
        source_version_id: outcome.source_version_id.clone(),
        version: preview_version(&l, &outcome),
    }))
}
