//! `/plans` (v2 shapes): pricing templates. Create, list and get as the `alguna` SDK defines
//! them; update and archive are extensions.

use abacus_core::catalog::plan::{EntitlementInput, InvoiceSettingsInput, PriceEscalationInput};
use abacus_core::catalog::{Plan, PlanInput, PlanItemInput, PlanSpec, PlanTerms};
use abacus_core::pricing::{DiscountInput, SpendingThresholdInput};
use abacus_store::plans::{ListFilter, SortField};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::{ApiJson, QueryParams, parse_value};
use crate::idempotency::Idem;
use crate::pagination::{PaginationMeta, V2Page, v2_window};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::services::catalog;
use crate::wire::timestamp;

/// A new plan (`plans.create`). Responses echo these fields (as validated) beside the id and
/// timestamps.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct CreatePlanRequest {
    pub name: String,
    /// ISO 4217; every price of the plan is in it.
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `fixed` (needs `contract_duration`) or `monthly_rolling`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_period_type: Option<String>,
    /// Months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_renew: Option<bool>,
    /// `fixed` (needs `renewal_duration`) or `monthly_rolling`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_period_type: Option<String>,
    /// Months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_activate: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_period_days: Option<i64>,
    /// `net_N` (N from 0 to 365 days) or `due_on_receipt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<String>,
    /// Markdown appended to the contract.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_terms: Option<String>,
    /// The SDK's `DiscountInput`, applied across the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub discount: Option<DiscountInput>,
    /// The SDK's `SpendingThresholdInput`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub minimum_spend: Option<SpendingThresholdInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub maximum_spend: Option<SpendingThresholdInput>,
    /// The SDK's `PriceEscalationInput` (`type: percentage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub price_escalation: Option<PriceEscalationInput>,
    /// The SDK's `EntitlementInput`s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub entitlements: Option<Vec<EntitlementInput>>,
    /// The SDK's `CreatePlanInvoiceSettingsInput`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub invoice_settings: Option<InvoiceSettingsInput>,
    /// Tag ids (tags that apply to plans); `tag_ids` is accepted too.
    #[serde(default, alias = "tag_ids", skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// The SDK's `CreatePlanItemInput`s: `{product_id, price}` (a `PriceInput` that fits the
    /// product), or `{bundle_id, name?, bundle_description?, items?: [{product_id, price}]}`
    /// (without `items`, the bundle's prices are copied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub items: Option<Vec<PlanItemInput>>,
}

/// The SDK's `PlanResponse` (`id`, `name`, `currency`, `description`, `created_at`,
/// `updated_at`), with everything else the plan was written with.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanResponse {
    pub id: String,
    #[serde(flatten)]
    pub plan: CreatePlanRequest,
    pub created_at: String,
    pub updated_at: String,
    /// Extension: when the plan was archived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PlanListResponse {
    pub data: Vec<PlanResponse>,
    pub pagination: PaginationMeta,
}

impl From<CreatePlanRequest> for PlanInput {
    fn from(b: CreatePlanRequest) -> Self {
        PlanInput {
            name: b.name,
            description: b.description,
            currency: b.currency,
            terms: PlanTerms {
                contract_period_type: b.contract_period_type,
                contract_duration: b.contract_duration,
                auto_renew: b.auto_renew,
                renewal_period_type: b.renewal_period_type,
                renewal_duration: b.renewal_duration,
                auto_activate: b.auto_activate,
                trial_period_days: b.trial_period_days,
                payment_terms: b.payment_terms,
                additional_terms: b.additional_terms,
                discount: b.discount,
                minimum_spend: b.minimum_spend,
                maximum_spend: b.maximum_spend,
                price_escalation: b.price_escalation,
                entitlements: b.entitlements.unwrap_or_default(),
                invoice_settings: b.invoice_settings,
            },
            tags: b.tags.unwrap_or_default(),
            items: b.items.unwrap_or_default(),
        }
    }
}

impl From<&PlanSpec> for CreatePlanRequest {
    fn from(s: &PlanSpec) -> Self {
        let input = PlanInput::from(s);
        let t = input.terms;
        CreatePlanRequest {
            name: input.name,
            currency: input.currency,
            description: input.description,
            contract_period_type: t.contract_period_type,
            contract_duration: t.contract_duration,
            auto_renew: t.auto_renew,
            renewal_period_type: t.renewal_period_type,
            renewal_duration: t.renewal_duration,
            auto_activate: t.auto_activate,
            trial_period_days: t.trial_period_days,
            payment_terms: t.payment_terms,
            additional_terms: t.additional_terms,
            discount: t.discount,
            minimum_spend: t.minimum_spend,
            maximum_spend: t.maximum_spend,
            price_escalation: t.price_escalation,
            entitlements: Some(t.entitlements),
            invoice_settings: t.invoice_settings,
            tags: Some(input.tags),
            items: Some(input.items),
        }
    }
}

impl From<Plan> for PlanResponse {
    fn from(p: Plan) -> Self {
        PlanResponse {
            plan: CreatePlanRequest::from(&p.spec),
            id: p.id,
            created_at: timestamp(p.created_at),
            updated_at: timestamp(p.updated_at),
            archived_at: p.archived_at.map(timestamp),
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_plan, list_plans))
        .routes(routes!(get_plan, update_plan))
        .routes(routes!(archive_plan))
}

/// Create a plan.
#[utoipa::path(post, path = "/plans", tag = "plans", request_body = CreatePlanRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 201, body = PlanResponse), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 422, body = Problem)))]
async fn create_plan(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    ApiJson(body): ApiJson<CreatePlanRequest>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let plan = catalog::create_plan(&mut tx, &tenant.org_id, body.into()).await?;
    idem.commit(tx, StatusCode::CREATED, &PlanResponse::from(plan))
        .await
}

/// List plans.
#[utoipa::path(get, path = "/plans", tag = "plans",
    params(("tag_ids" = Option<String>, Query, description = "Comma-separated; plans with any of these tags"),
           ("sort" = Option<String>, Query, description = "`created_at` (default), `updated_at` or `name`, `:asc` or `:desc`"),
           ("include_archived" = Option<bool>, Query, description = "Extension; default false"),
           ("limit" = Option<i64>, Query, description = "Default 20, at most 100"),
           ("offset" = Option<i64>, Query, description = "Default 0")),
    responses((status = 200, body = PlanListResponse), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_plans(
    State(state): State<AppState>,
    tenant: Tenant,
    q: QueryParams,
) -> ApiResult<Json<V2Page<PlanResponse>>> {
    let window = v2_window(&q)?;
    let sort = match q.sort(&["created_at", "updated_at", "name"])? {
        None => (SortField::CreatedAt, false),
        Some(("name", d)) => (SortField::Name, d),
        Some(("updated_at", d)) => (SortField::UpdatedAt, d),
        Some((_, d)) => (SortField::CreatedAt, d),
    };
    let filter = ListFilter {
        tag_ids: q.list("tag_ids"),
        include_archived: q.boolean("include_archived")?.unwrap_or(false),
    };
    let mut conn = state.db.read().await?;
    let (rows, total) = abacus_store::plans::list(
        &mut conn,
        &tenant.org_id,
        &filter,
        sort,
        window.limit,
        window.offset,
    )
    .await?;
    Ok(Json(V2Page::new(
        rows.into_iter().map(PlanResponse::from).collect(),
        total,
        window,
    )))
}

/// Get a plan (archived ones too).
#[utoipa::path(get, path = "/plans/{id}", tag = "plans", params(("id" = String, Path)),
    responses((status = 200, body = PlanResponse), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_plan(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<PlanResponse>> {
    let mut conn = state.db.read().await?;
    Ok(Json(
        catalog::get_plan(&mut conn, &tenant.org_id, &id)
            .await?
            .into(),
    ))
}

/// Update a plan (extension). Each top-level field sent replaces the stored one (`null` clears
/// it; `items` and `tags` replace the whole list); the result is checked like a new plan.
/// Archived plans cannot change (409).
#[utoipa::path(patch, path = "/plans/{id}", tag = "plans", request_body = CreatePlanRequest,
    params(("id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = PlanResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_plan(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let Value::Object(changes) = body else {
        return Err(ApiError::invalid_field("body", "must be a JSON object"));
    };
    let mut tx = state.db.begin().await?;
    let plan = catalog::update_plan(&mut tx, &tenant.org_id, &id, |current| {
        let mut doc = serde_json::to_value(CreatePlanRequest::from(current))
            .map_err(|_| ApiError::internal())?;
        for (k, v) in changes {
            doc[k.as_str()] = v;
        }
        let merged: CreatePlanRequest = parse_value(doc, "")?;
        Ok(merged.into())
    })
    .await?;
    idem.commit(tx, StatusCode::OK, &PlanResponse::from(plan))
        .await
}

/// Archive a plan (extension): it leaves lists, can no longer change, and no longer keeps its
/// products from being deleted. Subscriptions started from it are not affected.
#[utoipa::path(post, path = "/plans/{id}/archive", tag = "plans", params(("id" = String, Path)),
    responses((status = 200, body = PlanResponse), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn archive_plan(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let plan = catalog::archive_plan(&mut tx, &tenant.org_id, &id).await?;
    idem.commit(tx, StatusCode::OK, &PlanResponse::from(plan))
        .await
}
