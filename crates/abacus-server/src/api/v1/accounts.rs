//! `/accounts`: customers on the v1 surface (camelCase, `page`/`limit` lists).

use abacus_core::validation::Naming;
use abacus_store::customers::{ListFilter, Sort};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::customer_dto::customer_dtos;
use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::{ApiJson, QueryParams};
use crate::idempotency::Idem;
use crate::pagination::{V1Page, v1_window};
use crate::problem::{ApiResult, Problem};
use crate::services::customers;

customer_dtos!(
    "camelCase",
    Naming::Camel,
    Account,
    AccountCreate,
    AccountUpdate,
    AccountAddress,
    AccountContactInput,
    AccountContact
);

/// `{pageCount, data}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountList {
    pub page_count: i64,
    pub data: Vec<Account>,
}

/// The answer to a delete.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_account, list_accounts))
        .routes(routes!(get_account, update_account, delete_account))
}

/// Create an account.
#[utoipa::path(post, path = "/accounts", tag = "v1 accounts", request_body = AccountCreate,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 201, body = Account), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 409, body = Problem, description = "An alias is taken"), (status = 422, body = Problem)))]
async fn create_account(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    ApiJson(body): ApiJson<AccountCreate>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let customer = customers::create(&mut tx, &tenant.org_id, body.into(), Naming::Camel).await?;
    idem.commit(tx, StatusCode::CREATED, &Account::from(customer))
        .await
}

/// List accounts, oldest first.
#[utoipa::path(get, path = "/accounts", tag = "v1 accounts",
    params(("page" = Option<i64>, Query, description = "1-based page, default 1"),
           ("limit" = Option<i64>, Query, description = "Page size, default 20, at most 100")),
    responses((status = 200, body = AccountList), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_accounts(
    State(state): State<AppState>,
    tenant: Tenant,
    q: QueryParams,
) -> ApiResult<Json<V1Page<Account>>> {
    let window = v1_window(&q)?;
    let mut conn = state.db.read().await?;
    let (rows, total) = customers::list(
        &mut conn,
        &tenant.org_id,
        &ListFilter::default(),
        Sort::default(),
        window.limit,
        window.offset,
    )
    .await?;
    Ok(Json(V1Page::new(
        rows.into_iter().map(Account::from).collect(),
        total,
        window,
    )))
}

/// Get an account by id or alias.
#[utoipa::path(get, path = "/accounts/{id}", tag = "v1 accounts",
    params(("id" = String, Path, description = "Account id or alias")),
    responses((status = 200, body = Account), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_account(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Account>> {
    let mut conn = state.db.read().await?;
    Ok(Json(
        customers::get(&mut conn, &tenant.org_id, &id).await?.into(),
    ))
}

/// Update an account: fields left out keep their value; `aliases` and `contacts` replace the list.
#[utoipa::path(patch, path = "/accounts/{id}", tag = "v1 accounts", request_body = AccountUpdate,
    params(("id" = String, Path, description = "Account id or alias"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = Account), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_account(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AccountUpdate>,
) -> ApiResult<Response> {
    let patch = body.into_patch()?;
    let mut tx = state.db.begin().await?;
    let customer = customers::update(&mut tx, &tenant.org_id, &id, patch, Naming::Camel).await?;
    idem.commit(tx, StatusCode::OK, &Account::from(customer))
        .await
}

/// Delete an account (extension). Refused with 409 while it has subscriptions or invoices; its
/// aliases are released.
#[utoipa::path(delete, path = "/accounts/{id}", tag = "v1 accounts",
    params(("id" = String, Path, description = "Account id or alias")),
    responses((status = 200, body = Deleted), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_account(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let id = customers::delete(&mut tx, &tenant.org_id, &id).await?;
    idem.commit(tx, StatusCode::OK, &Deleted { id, deleted: true })
        .await
}
