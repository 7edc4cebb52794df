//! `/credit-notes` and `POST /invoices/{id}/credit-notes`, as the SDK defines them, plus the
//! `void` extension for drafts. One shape on both surfaces, snake_case (v1 gets camelCase keys).

use abacus_core::time::{Micros, now_micros};
use abacus_store::credit_notes::{CreditNote, CreditNoteLine};
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

use crate::api::invoices::{EmptyRequest, naming};
use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::{ApiJson, OptionalJson, QueryParams};
use crate::idempotency::Idem;
use crate::pagination::{PaginationMeta, V2Page, v2_window};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::services::credit_notes::{
    self as service, ApplyInput, CreateCreditNote, FromInvoice, InvoiceLineCredit, LineInput,
};
use crate::version::ApiVersion;
use crate::wire::{timestamp, v1_keys};

/// One line of a new credit note (`CreateCreditNoteLineItemInput`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreditNoteLineRequest {
    /// Credits this line of the linked invoice, at the price and tax it was issued with.
    #[serde(default, alias = "invoiceLineItemId")]
    pub invoice_line_item_id: Option<String>,
    /// Units to credit (decimal string, greater than 0).
    #[schema(value_type = String)]
    pub quantity: Decimal,
    /// Required for a line that credits no invoice line; ignored otherwise unless it differs.
    #[serde(default, alias = "unitPrice")]
    #[schema(value_type = Option<String>)]
    pub unit_price: Option<Decimal>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, alias = "productId")]
    pub product_id: Option<String>,
}

/// `CreditNoteRefundRequest`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreditNoteRefundRequest {
    /// `original_payment` (the only one).
    #[serde(default)]
    pub destination: Option<String>,
}

/// A new credit note (`credit_notes.create`): a draft unless `apply`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateCreditNoteRequest {
    /// Required unless `invoice_id` is given; must agree with the invoice's.
    #[serde(default, alias = "customerId", alias = "accountId")]
    pub customer_id: Option<String>,
    #[serde(default, alias = "invoiceId")]
    pub invoice_id: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, alias = "billingPeriodStart")]
    pub billing_period_start: Option<String>,
    #[serde(default, alias = "billingPeriodEnd")]
    pub billing_period_end: Option<String>,
    #[serde(default, alias = "lineItems")]
    pub line_items: Option<Vec<CreditNoteLineRequest>>,
    #[serde(default)]
    pub apply: Option<bool>,
    /// Refund the customer as part of applying (requires `apply` and a paid invoice).
    #[serde(default)]
    pub refund: Option<CreditNoteRefundRequest>,
}

/// `CreditInvoiceLineItemInput`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreditInvoiceLineRequest {
    #[serde(alias = "invoiceLineItemId")]
    pub invoice_line_item_id: String,
    #[schema(value_type = String)]
    pub quantity: Decimal,
}

/// A credit note against an invoice (`credit_notes.create_from_invoice`).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateFromInvoiceRequest {
    /// Left out: everything still uncredited on the invoice.
    #[serde(default, alias = "lineItems")]
    pub line_items: Option<Vec<CreditInvoiceLineRequest>>,
    #[serde(default)]
    pub apply: Option<bool>,
    #[serde(default)]
    pub refund: Option<CreditNoteRefundRequest>,
}

/// `credit_notes.apply`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ApplyCreditNoteRequest {
    /// Refund the credited amount from the paid invoice's payments.
    #[serde(default, alias = "doRefund")]
    pub do_refund: Option<bool>,
    /// `original_payment`; wallets are not supported.
    #[serde(default, alias = "refundDestination")]
    pub refund_destination: Option<String>,
    #[serde(default, alias = "walletId")]
    pub wallet_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreditNoteAttachmentResponse {
    pub title: String,
    pub file_url: String,
}

/// `CreditNoteLineItemResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditNoteLineItemResponse {
    pub id: String,
    pub description: String,
    pub additional_description: Option<String>,
    pub quantity: String,
    pub unit_price: String,
    pub total_price: String,
    pub tax_amount: Option<String>,
    pub tax_rate: Option<String>,
    pub product_id: Option<String>,
    pub invoice_line_item_id: Option<String>,
    pub is_editable: bool,
    pub billing_period_start: String,
    pub billing_period_end: String,
}

/// `CreditNoteResponse`, with where an applied note's total went (extensions).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditNoteResponse {
    pub id: String,
    pub customer_id: String,
    pub invoice_id: Option<String>,
    pub currency: String,
    /// `draft`, `applied` or `void`.
    pub status: String,
    pub description: String,
    /// `CN-000001`, assigned when applied; empty for a draft.
    pub external_reference: String,
    pub subtotal: String,
    pub tax: String,
    pub total: String,
    pub line_items: Vec<CreditNoteLineItemResponse>,
    pub attachments: Vec<CreditNoteAttachmentResponse>,
    pub billing_period_start: Option<String>,
    pub billing_period_end: Option<String>,
    pub apply_date: Option<String>,
    pub credit_date: Option<String>,
    pub void_date: Option<String>,
    pub last_refund_id: Option<String>,
    pub last_refund_date: Option<String>,
    pub purchase_order_number: Option<String>,
    pub merchant_id: Option<String>,
    pub legal_entity_id: Option<String>,
    pub is_pdf_available: bool,
    pub sync_enabled: bool,
    pub accounting_provider: Option<String>,
    pub accounting_integration_id: Option<String>,
    pub accounting_credit_note_id: Option<String>,
    pub accounting_credit_note_url: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Extension: what the note took off its invoice.
    pub amount_to_invoice: Option<String>,
    /// Extension: what became customer credit.
    pub amount_to_balance: Option<String>,
    /// Extension: what was refunded.
    pub amount_refunded: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreditNoteListResponse {
    pub data: Vec<CreditNoteResponse>,
    pub pagination: PaginationMeta,
}

fn line_response(l: CreditNoteLine, fallback: (Micros, Micros)) -> CreditNoteLineItemResponse {
    let (s, e) = l.period_start.zip(l.period_end).unwrap_or(fallback);
    CreditNoteLineItemResponse {
        id: l.id,
        description: l.description,
        additional_description: None,
        quantity: l.quantity.to_string(),
        unit_price: l.unit_price.to_string(),
        total_price: l.amount.to_string(),
        tax_amount: Some(l.tax.to_string()),
        tax_rate: l.tax_rate.map(|t| t.to_string()),
        product_id: l.product_id,
        invoice_line_item_id: l.invoice_line_item_id,
        is_editable: false,
        billing_period_start: timestamp(s),
        billing_period_end: timestamp(e),
    }
}

pub fn response(n: CreditNote) -> CreditNoteResponse {
    let fallback = n
        .billing_period_start
        .zip(n.billing_period_end)
        .unwrap_or((n.created_at, n.created_at));
    CreditNoteResponse {
        line_items: n
            .lines
            .into_iter()
            .map(|l| line_response(l, fallback))
            .collect(),
        attachments: Vec::new(),
        status: n.status.as_str().into(),
        external_reference: n.external_reference.unwrap_or_default(),
        subtotal: n.subtotal.to_string(),
        tax: n.tax.to_string(),
        total: n.total.to_string(),
        billing_period_start: n.billing_period_start.map(timestamp),
        billing_period_end: n.billing_period_end.map(timestamp),
        apply_date: n.apply_date.map(timestamp),
        credit_date: n.apply_date.map(timestamp),
        void_date: n.void_date.map(timestamp),
        last_refund_id: n.last_refund_id,
        last_refund_date: n.last_refund_date.map(timestamp),
        purchase_order_number: None,
        merchant_id: None,
        legal_entity_id: None,
        is_pdf_available: false,
        sync_enabled: false,
        accounting_provider: None,
        accounting_integration_id: None,
        accounting_credit_note_id: None,
        accounting_credit_note_url: None,
        created_at: timestamp(n.created_at),
        updated_at: timestamp(n.updated_at),
        amount_to_invoice: n.amount_to_invoice.map(|d| d.to_string()),
        amount_to_balance: n.amount_to_balance.map(|d| d.to_string()),
        amount_refunded: n.amount_refunded.map(|d| d.to_string()),
        id: n.id,
        customer_id: n.customer_id,
        invoice_id: n.invoice_id,
        currency: n.currency,
        description: n.description,
    }
}

fn document(version: ApiVersion, n: CreditNote) -> ApiResult<Value> {
    let v = serde_json::to_value(response(n)).map_err(|_| ApiError::internal())?;
    Ok(match version {
        ApiVersion::V2 => v,
        ApiVersion::V1 => v1_keys(v),
    })
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_credit_notes, create_credit_note))
        .routes(routes!(get_credit_note))
        .routes(routes!(apply_credit_note))
        .routes(routes!(void_credit_note))
        .routes(routes!(create_from_invoice))
}

/// A customer's credit notes, newest first. `customer_id` (id or alias) is required.
#[utoipa::path(get, path = "/credit-notes", tag = "credit notes",
    params(("customer_id" = String, Query), ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = CreditNoteListResponse), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_credit_notes(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    q: QueryParams,
) -> ApiResult<Response> {
    let window = v2_window(&q)?;
    let customer = q
        .string("customer_id")
        .or_else(|| q.string("accountId"))
        .ok_or_else(|| ApiError::bad_param("customer_id", "is required"))?;
    let mut conn = state.db.read().await?;
    let (rows, total) =
        match abacus_store::customers::resolve(&mut conn, &tenant.org_id, &customer).await? {
            Some(id) => {
                abacus_store::credit_notes::list(
                    &mut conn,
                    &tenant.org_id,
                    &id,
                    window.limit,
                    window.offset,
                )
                .await?
            }
            None => (Vec::new(), 0),
        };
    let page = V2Page::new(rows.into_iter().map(response).collect(), total, window);
    Ok(match version {
        ApiVersion::V2 => Json(page).into_response(),
        ApiVersion::V1 => Json(v1_keys(
            serde_json::to_value(page).map_err(|_| ApiError::internal())?,
        ))
        .into_response(),
    })
}

/// Create a credit note: a draft (free-form lines, or lines crediting the linked invoice's at
/// their issued price and tax), or applied at once with `apply`.
#[utoipa::path(post, path = "/credit-notes", tag = "credit notes", request_body = CreateCreditNoteRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 201, body = CreditNoteResponse), (status = 400, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
async fn create_credit_note(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    ApiJson(body): ApiJson<CreateCreditNoteRequest>,
) -> ApiResult<Response> {
    let input = CreateCreditNote {
        customer_id: body.customer_id,
        invoice_id: body.invoice_id,
        description: body.description,
        billing_period_start: body.billing_period_start,
        billing_period_end: body.billing_period_end,
        line_items: body
            .line_items
            .unwrap_or_default()
            .into_iter()
            .map(|l| LineInput {
                description: l.description,
                invoice_line_item_id: l.invoice_line_item_id,
                product_id: l.product_id,
                quantity: l.quantity,
                unit_price: l.unit_price,
            })
            .collect(),
        apply: body.apply.unwrap_or(false),
        refund: body.refund.map(|r| r.destination),
    };
    let mut tx = state.db.begin().await?;
    let note = service::create(
        &mut tx,
        &tenant.org_id,
        input,
        naming(version),
        now_micros(),
    )
    .await?;

    idem.commit(tx, StatusCode::CREATED, &document(version, note)?)
        .await
}

/// Get a credit note with its lines.
#[utoipa::path(get, path = "/credit-notes/{id}", tag = "credit notes", params(("id" = String, Path)),
    responses((status = 200, body = CreditNoteResponse), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_credit_note(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut conn = state.db.read().await?;
    let note = service::get(&mut conn, &tenant.org_id, &id).await?;
    Ok(Json(document(version, note)?))
}

/// Apply a draft credit note: it reduces what its open invoice owes, becomes customer credit, or
/// (`do_refund` on a paid invoice) is refunded from the invoice's payments. Applying twice, or
/// refunding more than was paid, is 409.
#[utoipa::path(post, path = "/credit-notes/{id}/apply", tag = "credit notes", request_body = ApplyCreditNoteRequest,
    params(("id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = CreditNoteResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn apply_credit_note(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<ApplyCreditNoteRequest>,
) -> ApiResult<Response> {
    let input = ApplyInput {
        do_refund: body.do_refund.unwrap_or(false),
        refund_destination: body.refund_destination,
        wallet_id: body.wallet_id,
    };
    let mut tx = state.db.begin().await?;
    let note = service::apply(
        &mut tx,
        &tenant.org_id,
        &id,
        input,
        naming(version),
        now_micros(),
    )
    .await?;

    idem.commit(tx, StatusCode::OK, &document(version, note)?)
        .await
}

/// Void a draft credit note (extension). Applied ones are 409.
#[utoipa::path(post, path = "/credit-notes/{id}/void", tag = "credit notes",
    params(("id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = CreditNoteResponse), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn void_credit_note(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
    _body: OptionalJson<EmptyRequest>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let note = service::void(&mut tx, &tenant.org_id, &id, now_micros()).await?;
    idem.commit(tx, StatusCode::OK, &document(version, note)?)
        .await
}

/// Credit an invoice at the prices and tax it was issued with: the given lines and quantities,
/// or everything still uncredited. A draft unless `apply`.
#[utoipa::path(post, path = "/invoices/{id}/credit-notes", tag = "credit notes", request_body = CreateFromInvoiceRequest,
    params(("id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 201, body = CreditNoteResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_from_invoice(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<CreateFromInvoiceRequest>,
) -> ApiResult<Response> {
    let lines = body.line_items.map(|l| {
        l.into_iter()
            .map(|l| InvoiceLineCredit {
                invoice_line_item_id: l.invoice_line_item_id,
                quantity: l.quantity,
            })
            .collect()
    });
    let mut tx = state.db.begin().await?;
    let input = FromInvoice {
        line_items: lines,
        apply: body.apply.unwrap_or(false),
        refund: body.refund.map(|r| r.destination),
    };
    let note = service::create_from_invoice(
        &mut tx,
        &tenant.org_id,
        &id,
        input,
        naming(version),
        now_micros(),
    )
    .await?;

    idem.commit(tx, StatusCode::CREATED, &document(version, note)?)
        .await
}
