//! `/customers`: customers on the v2 surface (snake_case, `limit`/`offset` lists), as the
//! `alguna` SDK 0.1.0 defines them.

use abacus_core::validation::Naming;
use abacus_store::customers::{ListFilter, Sort, SortField};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::customer_dto::customer_dtos;
use crate::api::v1::accounts::Deleted;
use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::{ApiJson, QueryParams};
use crate::idempotency::Idem;
use crate::pagination::{PaginationMeta, V2Page, v2_window};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::services::customers;

customer_dtos!(
    "snake_case",
    Naming::Snake,
    CustomerResponse,
    CreateCustomerRequest,
    UpdateCustomerRequest,
    AddressResponse,
    ContactRequest,
    ContactResponse
);

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CustomerListResponse {
    pub data: Vec<CustomerResponse>,
    pub pagination: PaginationMeta,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CustomerLookupResponse {
    pub customer_id: String,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_customer, list_customers))
        .routes(routes!(lookup_customer))
        .routes(routes!(get_customer, update_customer, delete_customer))
}

/// Create a customer.
#[utoipa::path(post, path = "/customers", tag = "v2 customers", request_body = CreateCustomerRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 201, body = CustomerResponse), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 409, body = Problem, description = "An alias is taken"), (status = 422, body = Problem)))]
async fn create_customer(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    ApiJson(body): ApiJson<CreateCustomerRequest>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let customer = customers::create(&mut tx, &tenant.org_id, body.into(), Naming::Snake).await?;
    idem.commit(tx, StatusCode::CREATED, &CustomerResponse::from(customer))
        .await
}

/// List customers.
///
/// `csm_id`, `sales_owner_id` and `integration_ids` are accepted; Abacus assigns no customer
/// success managers, sales owners or integrations, so a filter on them matches no customer (nor
/// on tags, which customers do not carry yet). `has_active_subscriptions` keeps the customers
/// with (`true`) or without (`false`) a subscription that is active now.
#[utoipa::path(get, path = "/customers", tag = "v2 customers",
    params(("alias" = Option<String>, Query, description = "Customers holding this alias"),
           ("email" = Option<String>, Query, description = "Customers with a contact of this e-mail (case-insensitive)"),
           ("has_active_subscriptions" = Option<bool>, Query, description = "With (true) or without (false) an active subscription"),
           ("tag_ids" = Option<String>, Query, description = "Comma-separated; any of"),
           ("csm_id" = Option<String>, Query), ("sales_owner_id" = Option<String>, Query),
           ("integration_ids" = Option<String>, Query),
           ("sort" = Option<String>, Query, description = "`name` or `created_at`, `:asc` (default) or `:desc`"),
           ("limit" = Option<i64>, Query, description = "Default 20, at most 100"),
           ("offset" = Option<i64>, Query, description = "Default 0")),
    responses((status = 200, body = CustomerListResponse), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_customers(
    State(state): State<AppState>,
    tenant: Tenant,
    q: QueryParams,
) -> ApiResult<Json<V2Page<CustomerResponse>>> {
    let window = v2_window(&q)?;
    let sort = match q.sort(&["created_at", "name"])? {
        None => Sort::default(),
        Some((field, descending)) => Sort {
            field: if field == "name" {
                SortField::Name
            } else {
                SortField::CreatedAt
            },
            descending,
        },
    };
    let filter = ListFilter {
        alias: q.string("alias"),
        email: q.string("email"),
        has_active_subscriptions: q.boolean("has_active_subscriptions")?,
        now: abacus_core::time::now_micros(),
    };
    let unassignable = ["csm_id", "sales_owner_id", "integration_ids", "tag_ids"]
        .iter()
        .any(|p| !q.list(p).is_empty());
    if unassignable {
        return Ok(Json(V2Page::new(Vec::new(), 0, window)));
    }
    let mut conn = state.db.read().await?;
    let (rows, total) = customers::list(
        &mut conn,
        &tenant.org_id,
        &filter,
        sort,
        window.limit,
        window.offset,
    )
    .await?;
    Ok(Json(V2Page::new(
        rows.into_iter().map(CustomerResponse::from).collect(),
        total,
        window,
    )))
}

/// Resolve an id or alias to the customer's id.
#[utoipa::path(get, path = "/customers/lookup", tag = "v2 customers",
    params(("alias" = String, Query, description = "A customer id or alias")),
    responses((status = 200, body = CustomerLookupResponse), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn lookup_customer(
    State(state): State<AppState>,
    tenant: Tenant,
    q: QueryParams,
) -> ApiResult<Json<CustomerLookupResponse>> {
    let alias = q
        .string("alias")
        .ok_or_else(|| ApiError::bad_param("alias", "is required"))?;
    let mut conn = state.db.read().await?;
    let customer_id = customers::resolve(&mut conn, &tenant.org_id, &alias).await?;
    Ok(Json(CustomerLookupResponse { customer_id }))
}

/// Get a customer by id or alias.
#[utoipa::path(get, path = "/customers/{id}", tag = "v2 customers",
    params(("id" = String, Path, description = "Customer id or alias")),
    responses((status = 200, body = CustomerResponse), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_customer(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<CustomerResponse>> {
    let mut conn = state.db.read().await?;
    Ok(Json(
        customers::get(&mut conn, &tenant.org_id, &id).await?.into(),
    ))
}

/// Update a customer: fields left out keep their value; `aliases` and `contacts` replace the list.
#[utoipa::path(patch, path = "/customers/{id}", tag = "v2 customers", request_body = UpdateCustomerRequest,
    params(("id" = String, Path, description = "Customer id or alias"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = CustomerResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_customer(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateCustomerRequest>,
) -> ApiResult<Response> {
    let patch = body.into_patch()?;
    let mut tx = state.db.begin().await?;
    let customer = customers::update(&mut tx, &tenant.org_id, &id, patch, Naming::Snake).await?;
    idem.commit(tx, StatusCode::OK, &CustomerResponse::from(customer))
        .await
}

/// Delete a customer (extension). Refused with 409 while it has subscriptions or invoices.
#[utoipa::path(delete, path = "/customers/{id}", tag = "v2 customers",
    params(("id" = String, Path, description = "Customer id or alias")),
    responses((status = 200, body = Deleted), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_customer(
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
