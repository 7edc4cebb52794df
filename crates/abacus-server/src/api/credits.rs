//! Monetary credit grants on subscriptions: `POST /subscriptions/{id}/credits/grant` and
//! `GET /subscriptions/{id}/credits/balance` as the SDK defines them, and the grants with what
//! remains of them (extension, `GET /subscriptions/{id}/credits/grants`). One shape on both
//! surfaces, snake_case (v1 gets camelCase keys).

use abacus_core::time::{now_micros, parse_rfc3339};
use abacus_store::credits::{Grant, GrantWithDraws};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::invoices::naming;
use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::{ApiJson, QueryParams};
use crate::idempotency::Idem;
use crate::pagination::{PaginationMeta, V2Page, v2_window};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::services::credits::{self as service, Balance, GrantInput};
use crate::version::ApiVersion;
use crate::wire::{timestamp, v1_keys};

/// `CreditGrantRequest`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreditGrantRequest {
    /// Decimal string greater than 0, with at most the subscription currency's minor units.
    pub amount: String,
    /// `monetary` (default). `units` is refused: only monetary credits are supported.
    #[serde(default, alias = "creditType")]
    pub credit_type: Option<String>,
    /// RFC 3339, in the future. Left out or null: the grant never expires.
    #[serde(default, alias = "expiresAt")]
    pub expires_at: Option<String>,
    /// Why the credit was granted (at most 1,000 characters).
    pub reason: String,
}

/// `CreditGrantResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditGrantResponse {
    pub id: String,
    pub amount: String,
    pub created_at: String,
    pub customer_id: String,
    pub expires_at: Option<String>,
    /// `api`.
    pub grant_type: String,
    pub reason: Option<String>,
    pub subscription_id: Option<String>,
}

/// `SubscriptionCreditBalanceResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionCreditBalanceResponse {
    pub as_of: String,
    pub balance: String,
    /// `monetary`.
    pub credit_type: String,
    pub currency: String,
    pub subscription_id: String,
}

/// A grant with what remains of it (extension).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditGrantWithRemaining {
    #[serde(flatten)]
    pub grant: CreditGrantResponse,
    /// `monetary`.
    pub credit_type: String,
    pub currency: String,
    /// What every draw so far left of the grant (expired or not).
    pub remaining: String,
    /// True when the grant has expired (its remainder can no longer be used).
    pub expired: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CreditGrantListResponse {
    pub data: Vec<CreditGrantWithRemaining>,
    pub pagination: PaginationMeta,
}

pub fn grant_response(g: Grant) -> CreditGrantResponse {
    CreditGrantResponse {
        amount: g.amount.to_string(),
        created_at: timestamp(g.created_at),
        expires_at: g.expires_at.map(timestamp),
        id: g.id,
        customer_id: g.customer_id,
        grant_type: g.grant_type,
        reason: g.reason,
        subscription_id: Some(g.subscription_id),
    }
}

fn listed(g: GrantWithDraws, now: i64) -> CreditGrantWithRemaining {
    CreditGrantWithRemaining {
        credit_type: g.grant.credit_type.clone(),
        currency: g.grant.currency.clone(),
        remaining: g.remaining.to_string(),
        expired: g.grant.expired_at(now),
        grant: grant_response(g.grant),
    }
}

fn balance_response(b: Balance) -> SubscriptionCreditBalanceResponse {
    SubscriptionCreditBalanceResponse {
        as_of: timestamp(b.as_of),
        balance: b.balance.to_string(),
        credit_type: abacus_store::credits::MONETARY.into(),
        currency: b.currency,
        subscription_id: b.subscription_id,
    }
}

fn surface<T: Serialize>(version: ApiVersion, body: &T) -> ApiResult<Value> {
    let v = serde_json::to_value(body).map_err(|_| ApiError::internal())?;
    Ok(match version {
        ApiVersion::V2 => v,
        ApiVersion::V1 => v1_keys(v),
    })
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_credit_grant))
        .routes(routes!(get_credit_balance))
        .routes(routes!(list_credit_grants))
}

/// Grant monetary credit to a subscription, in its currency; usable at once by its invoices
/// (soonest expiry first). Any subscription that is not canceled, drafts included. Sends
/// `account.credits.granted`.
#[utoipa::path(post, path = "/subscriptions/{id}/credits/grant", tag = "credits",
    request_body = CreditGrantRequest,
    params(("id" = String, Path, description = "Subscription id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 201, body = CreditGrantResponse), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_credit_grant(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreditGrantRequest>,
) -> ApiResult<Response> {
    let input = GrantInput {
        amount: body.amount,
        credit_type: body.credit_type,
        expires_at: body.expires_at,
        reason: body.reason,
    };
    let mut tx = state.db.begin().await?;
    let grant = service::grant(
        &mut tx,
        &tenant.org_id,
        &id,
        input,
        naming(version),
        now_micros(),
    )
    .await?;
    let body = surface(version, &grant_response(grant))?;
    idem.commit(tx, StatusCode::CREATED, &body).await
}

/// The subscription's monetary credit balance at `as_of` (default now): what is left of the
/// grants made by then and not expired at it, after the invoices' draws made by then.
#[utoipa::path(get, path = "/subscriptions/{id}/credits/balance", tag = "credits",
    params(("id" = String, Path, description = "Subscription id"),
           ("as_of" = Option<String>, Query, description = "RFC 3339; default now")),
    responses((status = 200, body = SubscriptionCreditBalanceResponse), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_credit_balance(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    let as_of = match q.string("as_of") {
        None => now_micros(),
        Some(s) => parse_rfc3339(&s).map_err(|e| ApiError::bad_param("as_of", e))?,
    };
    let mut conn = state.db.read().await?;
    let b = service::balance(&mut conn, &tenant.org_id, &id, as_of).await?;
    Ok(Json(surface(version, &balance_response(b))?))
}

/// The subscription's grants, oldest first, each with what remains of it (extension).
#[utoipa::path(get, path = "/subscriptions/{id}/credits/grants", tag = "credits",
    params(("id" = String, Path, description = "Subscription id"),
           ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = CreditGrantListResponse), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn list_credit_grants(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Response> {
    let window = v2_window(&q)?;
    let mut conn = state.db.read().await?;
    let grants = service::list(&mut conn, &tenant.org_id, &id).await?;
    let total = grants.len() as i64;
    let now = now_micros();
    let data = grants
        .into_iter()
        .skip(usize::try_from(window.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(window.limit).unwrap_or(0))
        .map(|g| listed(g, now))
        .collect();
    let page = V2Page::new(data, total, window);
    Ok(Json(surface(version, &page)?).into_response())
}
