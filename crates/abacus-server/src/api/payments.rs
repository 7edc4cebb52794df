//! `/payments` (list, get), `/refunds` (create, list, get) as the SDK defines them, and the
//! customers' credit balance (extension). One shape on both surfaces, snake_case (v1 gets
//! camelCase keys).

use abacus_core::time::now_micros;
use abacus_store::payments::{Payment, Refund, RefundFilter, RefundSort};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
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
use crate::services::payments::{self as service, CreateRefund};
use crate::version::ApiVersion;
use crate::wire::{timestamp, v1_keys};

/// `PaymentAllocation`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentAllocationResponse {
    pub invoice_id: String,
    pub amount: String,
    pub reversed: bool,
    pub status: String,
}

/// `PaymentResponse`, with how it was paid (extensions).
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentResponse {
    pub id: String,
    pub customer_id: String,
    pub invoice_id: Option<String>,
    pub amount: String,
    pub amount_received: Option<String>,
    pub amount_refunded: Option<String>,
    pub currency: String,
    /// `completed`.
    pub status: String,
    pub allocations: Vec<PaymentAllocationResponse>,
    pub paid_at: Option<String>,
    pub failed_at: Option<String>,
    pub external_id: Option<String>,
    pub external_url: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Extension: `manual` (mark-as-paid), `credit_note` or `credit_balance`.
    pub method: String,
    /// Extension: mark-as-paid's `external_payment_source`.
    pub source: Option<String>,
    /// Extension.
    pub note: Option<String>,
    /// Extension: the applied credit note, for `credit_note` payments.
    pub credit_note_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PaymentListResponse {
    pub data: Vec<PaymentResponse>,
    pub pagination: PaginationMeta,
}

/// A refund (`refunds.create`) of a payment received as money.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateRefundRequest {
    #[serde(alias = "paymentId")]
    pub payment_id: String,
    /// Decimal string, greater than 0, at most what is left to refund on the payment.
    #[schema(value_type = String)]
    pub amount: Decimal,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default, alias = "statementDescriptor")]
    pub statement_descriptor: Option<String>,
}

/// `RefundResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundResponse {
    pub id: String,
    pub payment_id: String,
    pub customer_id: String,
    pub amount: String,
    pub currency: String,
    /// `succeeded`: Abacus records refunds of money received outside it once they are made.
    pub status: String,
    pub reason: Option<String>,
    pub failure_reason: Option<String>,
    pub external_id: Option<String>,
    pub external_url: Option<String>,
    pub processor_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Extension.
    pub invoice_id: Option<String>,
    /// Extension: the credit note it refunds, if any.
    pub credit_note_id: Option<String>,
    /// Extension.
    pub statement_descriptor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RefundListResponse {
    pub data: Vec<RefundResponse>,
    pub pagination: PaginationMeta,
}

/// A customer's credit in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditBalanceEntry {
    pub currency: String,
    pub balance: String,
}

/// The customer's credit balance (extension): applied credit notes not used yet, drawn by the
/// customer's next invoices when they are issued.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditBalanceResponse {
    pub customer_id: String,
    pub balances: Vec<CreditBalanceEntry>,
}

pub fn payment_response(p: Payment) -> PaymentResponse {
    PaymentResponse {
        allocations: vec![PaymentAllocationResponse {
            invoice_id: p.invoice_id.clone(),
            amount: p.amount.to_string(),
            reversed: false,
            status: "completed".into(),
        }],
        amount: p.amount.to_string(),
        amount_received: Some(p.amount.to_string()),
        amount_refunded: Some(p.amount_refunded.to_string()),
        invoice_id: Some(p.invoice_id),
        paid_at: Some(timestamp(p.paid_at)),
        failed_at: None,
        external_id: None,
        external_url: None,
        created_at: timestamp(p.created_at),
        updated_at: timestamp(p.updated_at),
        method: p.method.as_str().into(),
        source: p.source,
        note: p.note,
        credit_note_id: p.credit_note_id,
        id: p.id,
        customer_id: p.customer_id,
        currency: p.currency,
        status: p.status,
    }
}

pub fn refund_response(r: Refund) -> RefundResponse {
    RefundResponse {
        amount: r.amount.to_string(),
        failure_reason: None,
        external_id: None,
        external_url: None,
        processor_id: None,
        created_at: timestamp(r.created_at),
        updated_at: timestamp(r.updated_at),
        id: r.id,
        payment_id: r.payment_id,
        customer_id: r.customer_id,
        currency: r.currency,
        status: r.status,
        reason: r.reason,
        invoice_id: r.invoice_id,
        credit_note_id: r.credit_note_id,
        statement_descriptor: r.statement_descriptor,
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
        .routes(routes!(list_payments))
        .routes(routes!(get_payment))
        .routes(routes!(list_refunds, create_refund))
        .routes(routes!(get_refund))
        .routes(routes!(credit_balance))
}

/// Resolves a customer filter: `Ok(None)` when absent, `Err(())` when it names nobody.
async fn customer_filter(
    state: &AppState,
    org_id: &str,
    q: &QueryParams,
) -> ApiResult<Result<Option<String>, ()>> {
    let Some(c) = q.string("customer_id") else {
        return Ok(Ok(None));
    };
    let mut conn = state.db.read().await?;
    Ok(
        match abacus_store::customers::resolve(&mut conn, org_id, &c).await? {
            Some(id) => Ok(Some(id)),
            None => Err(()),
        },
    )
}

/// Payments, newest first: those recorded by mark-as-paid, applied credit notes and customer
/// credit drawn at issue.
#[utoipa::path(get, path = "/payments", tag = "payments",
    params(("customer_id" = Option<String>, Query), ("invoice_id" = Option<String>, Query),
           ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = PaymentListResponse), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_payments(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    q: QueryParams,
) -> ApiResult<Response> {
    let window = v2_window(&q)?;
    let (rows, total) = match customer_filter(&state, &tenant.org_id, &q).await? {
        Err(()) => (Vec::new(), 0),
        Ok(customer) => {
            let mut conn = state.db.read().await?;
            abacus_store::payments::list_payments(
                &mut conn,
                &tenant.org_id,
                customer.as_deref(),
                q.string("invoice_id").as_deref(),
                window.limit,
                window.offset,
            )
            .await?
        }
    };
    let page = V2Page::new(
        rows.into_iter().map(payment_response).collect(),
        total,
        window,
    );
    Ok(Json(surface(version, &page)?).into_response())
}

/// Get a payment.
#[utoipa::path(get, path = "/payments/{id}", tag = "payments", params(("id" = String, Path)),
    responses((status = 200, body = PaymentResponse), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_payment(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut conn = state.db.read().await?;
    let p = service::get_payment(&mut conn, &tenant.org_id, &id).await?;
    Ok(Json(surface(version, &payment_response(p))?))
}

const REFUND_STATUSES: [&str; 4] = ["pending", "succeeded", "failed", "canceled"];

/// Refunds. Filters: `currency`, `customer_id`, `payment_id`, `status` (comma-separated); `sort`
/// on `created_at` (default, newest first), `amount`, `currency` or `status`.
#[utoipa::path(get, path = "/refunds", tag = "refunds",
    params(("currency" = Option<String>, Query), ("customer_id" = Option<String>, Query),
           ("payment_id" = Option<String>, Query), ("status" = Option<String>, Query, description = "Comma-separated; any of"),
           ("sort" = Option<String>, Query), ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = RefundListResponse), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_refunds(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    q: QueryParams,
) -> ApiResult<Response> {
    let window = v2_window(&q)?;
    let statuses = q.list("status");
    for s in &statuses {
        if !REFUND_STATUSES.contains(&s.as_str()) {
            return Err(ApiError::bad_param(
                "status",
                format!("'{s}' is not one of: {}", REFUND_STATUSES.join(", ")),
            ));
        }
    }
    let sort = q
        .sort(&["created_at", "amount", "currency", "status"])?
        .map(|(f, d)| {
            let f = match f {
                "amount" => RefundSort::Amount,
                "currency" => RefundSort::Currency,
                "status" => RefundSort::Status,
                _ => RefundSort::CreatedAt,
            };
            (f, d)
        });
    let (rows, total) = match customer_filter(&state, &tenant.org_id, &q).await? {
        Err(()) => (Vec::new(), 0),
        Ok(customer_id) => {
            let filter = RefundFilter {
                currency: q.string("currency").map(|c| c.to_ascii_uppercase()),
                customer_id,
                payment_id: q.string("payment_id"),
                statuses,
            };
            let mut conn = state.db.read().await?;
            abacus_store::payments::list_refunds(
                &mut conn,
                &tenant.org_id,
                &filter,
                sort,
                window.limit,
                window.offset,
            )
            .await?
        }
    };
    let page = V2Page::new(
        rows.into_iter().map(refund_response).collect(),
        total,
        window,
    );
    Ok(Json(surface(version, &page)?).into_response())
}

/// Refund part or all of a payment received as money. More than is left to refund on it, or a
/// payment made with credit, is 409.
#[utoipa::path(post, path = "/refunds", tag = "refunds", request_body = CreateRefundRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 201, body = RefundResponse), (status = 400, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
async fn create_refund(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    ApiJson(body): ApiJson<CreateRefundRequest>,
) -> ApiResult<Response> {
    let input = CreateRefund {
        payment_id: body.payment_id,
        amount: body.amount,
        reason: body.reason,
        statement_descriptor: body.statement_descriptor,
    };
    let mut tx = state.db.begin().await?;
    let refund = service::create_refund(
        &mut tx,
        &tenant.org_id,
        input,
        naming(version),
        now_micros(),
    )
    .await?;
    let body = surface(version, &refund_response(refund))?;

    idem.commit(tx, StatusCode::CREATED, &body).await
}

/// Get a refund.
#[utoipa::path(get, path = "/refunds/{id}", tag = "refunds", params(("id" = String, Path)),
    responses((status = 200, body = RefundResponse), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_refund(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut conn = state.db.read().await?;
    let r = service::get_refund(&mut conn, &tenant.org_id, &id).await?;
    Ok(Json(surface(version, &refund_response(r))?))
}

/// A customer's credit balance per currency (extension).
#[utoipa::path(get, path = "/customers/{id}/credit-balance", tag = "payments",
    params(("id" = String, Path, description = "Customer id or alias")),
    responses((status = 200, body = CreditBalanceResponse), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn credit_balance(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut conn = state.db.read().await?;
    let customer = crate::services::customers::resolve(&mut conn, &tenant.org_id, &id).await?;
    let balances =
        abacus_store::payments::credit_balances(&mut conn, &tenant.org_id, &customer).await?;
    let body = CreditBalanceResponse {
        customer_id: customer,
        balances: balances
            .into_iter()
            .map(|(currency, balance)| CreditBalanceEntry {
                currency,
                balance: balance.to_string(),
            })
            .collect(),
    };
    Ok(Json(surface(version, &body)?))
}
