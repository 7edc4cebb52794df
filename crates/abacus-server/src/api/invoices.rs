//! `/invoices`: the SDK's invoice calls (list, get, create, update, line items, mark-as-paid,
//! void, PDF) and the `issue` extension. With `Alguna-Version` the v2 shapes (snake_case,
//! `limit`/`offset`, `{data, pagination}`); without, v1 (camelCase, `page`/`limit`,
//! `{items, pageCount, limit}`, billing periods ending on an inclusive second). Bodies are
//! accepted in either spelling; errors name fields in the request's own. See `docs/invoicing.md`.

use abacus_core::customer::Patch;
use abacus_core::invoicing::{self, InvoiceStatus, LineInput};
use abacus_core::time::{Micros, now_micros, parse_rfc3339};
use abacus_core::validation::Naming;
use abacus_store::invoices::{CREDIT_APPLIED, Invoice, LineItem, ListFilter, SortField};
use abacus_store::{Connection, orgs};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::tz::TimeZone;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::v1::accounts::Deleted;
use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::{ApiJson, OptionalJson, QueryParams};
use crate::idempotency::Idem;
use crate::pagination::{PaginationMeta, V2Page, page_count, v1_window, v2_window};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::services::invoices::{self as service, CreateInvoice, MarkPaid};
use crate::version::ApiVersion;
use crate::wire::{timestamp, v1_keys};

/// One line of a new invoice (`CreateInvoiceLineItemRequest`), or a line added to a draft.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LineItemRequest {
    /// Required when adding a line to a draft; on create, defaults to the product's name.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, alias = "productId")]
    pub product_id: Option<String>,
    /// A decimal string, at least 0.
    #[schema(value_type = String)]
    pub quantity: Decimal,
    /// A decimal string, excluding tax (tax is the customer's `tax_rate` on top).
    #[serde(alias = "unitPrice")]
    #[schema(value_type = String)]
    pub unit_price: Decimal,
    /// The service period the line covers, `[start, end)`; both or neither.
    #[serde(default, alias = "billingPeriodStart")]
    pub billing_period_start: Option<String>,
    #[serde(default, alias = "billingPeriodEnd")]
    pub billing_period_end: Option<String>,
}

impl From<LineItemRequest> for LineInput {
    fn from(l: LineItemRequest) -> Self {
        LineInput {
            description: l.description,
            product_id: l.product_id,
            quantity: l.quantity,
            unit_price: l.unit_price,
            billing_period_start: l.billing_period_start,
            billing_period_end: l.billing_period_end,
        }
    }
}

/// A new ad-hoc invoice (`invoices.create`). v1 may send the same fields in camelCase, with
/// `accountId` and `autoIssue`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateInvoiceRequest {
    /// The customer's id or alias.
    #[serde(default, alias = "customerId", alias = "accountId")]
    pub customer_id: Option<String>,
    /// Defaults to the customer's currency, which it must be.
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, alias = "purchaseOrderNumber")]
    pub purchase_order_number: Option<String>,
    #[serde(default, alias = "billingPeriodStart")]
    pub billing_period_start: Option<String>,
    #[serde(default, alias = "billingPeriodEnd")]
    pub billing_period_end: Option<String>,
    /// The invoice's date when issued (not in the future); default: the day it is issued.
    #[serde(default, alias = "issueDate")]
    pub issue_date: Option<String>,
    /// `draft` (default) or `issued` (issued at once, synchronously).
    #[serde(default)]
    pub status: Option<String>,
    /// v1: `true` is `status: issued`.
    #[serde(default, alias = "autoIssue")]
    pub auto_issue: Option<bool>,
    /// Extension: `net_N` (N from 0 to 365) or `due_on_receipt`; default `net_30`.
    #[serde(default, alias = "paymentTerms")]
    pub payment_terms: Option<String>,
    #[serde(default, alias = "lineItems")]
    pub line_items: Option<Vec<LineItemRequest>>,
    /// Not supported (422 when sent).
    #[serde(default, alias = "merchantId")]
    pub merchant_id: Option<String>,
    /// Not supported (422 when sent).
    #[serde(default, alias = "taxCalculationId")]
    pub tax_calculation_id: Option<String>,
    /// Not supported (422 when sent).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub payment: Option<Value>,
}

/// Changes to a draft (`invoices.update`): left-out fields keep their value.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateInvoiceRequest {
    #[serde(default)]
    pub description: Option<String>,
    /// `null` clears it.
    #[serde(default, alias = "purchaseOrderNumber")]
    #[schema(value_type = Option<String>)]
    pub purchase_order_number: Patch<String>,
}

/// Changes to a draft's line (`invoices.update_line_item`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateLineItemRequest {
    #[serde(default)]
    pub description: Option<String>,
}

/// A payment received outside Abacus (`invoices.mark_as_paid`; v1 `PUT` in camelCase). Every
/// field is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MarkAsPaidRequest {
    /// Default: what the invoice still asks for. Less records a partial payment.
    #[serde(default, alias = "amountPaid")]
    #[schema(value_type = Option<String>)]
    pub amount_paid: Option<Decimal>,
    /// Default: now; not in the future.
    #[serde(default, alias = "paidDate")]
    pub paid_date: Option<String>,
    /// `bank_transfer`, `cheque`, `payment_card`, `cash` or `other` (default).
    #[serde(default, alias = "externalPaymentSource")]
    pub external_payment_source: Option<String>,
    #[serde(default, alias = "externalPaymentNote")]
    pub external_payment_note: Option<String>,
}

/// `invoices.void`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct VoidInvoiceRequest {
    /// Default now; not in the future, not before the issue date.
    #[serde(default, alias = "voidDate")]
    pub void_date: Option<String>,
}

/// An action without parameters.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct EmptyRequest {}

/// The SDK's `LineItemResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineItemResponse {
    pub id: String,
    pub description: String,
    pub quantity: String,
    pub unit_price: String,
    /// The line's amount excluding tax (Alguna's `total_price`).
    pub total_price: String,
    pub amount_excluding_tax: String,
    pub amount_including_tax: String,
    pub tax_amount: Option<String>,
    /// A fraction: `0.20` is 20 %.
    pub tax_rate: Option<String>,
    pub is_editable: bool,
    pub product_id: Option<String>,
    pub billing_period_start: Option<String>,
    pub billing_period_end: Option<String>,
    /// Extension: `manual`, or the billing function's kind (`fixed_advance`, `usage`,
    /// `credit_applied`...).
    pub kind: String,
}

/// The SDK's `InvoiceResponse`, with a few extensions.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceResponse {
    pub id: String,
    pub customer_id: String,
    pub currency: String,
    pub description: String,
    /// `draft`, `issued`, `overdue` (issued and past its due date), `paid` or `void`.
    pub status: String,
    /// Σ line amounts (credits applied excluded).
    pub subtotal: String,
    /// Σ line taxes.
    pub tax: String,
    /// `subtotal + tax`.
    pub total: String,
    /// Credits applied and payments (manual, credit notes, customer credit).
    pub amount_paid: String,
    pub amount_remaining: String,
    /// `Jan 1, 2024 - Jan 31, 2024` in the organization's time zone; empty without a period.
    pub billing_period: String,
    pub billing_period_start: Option<String>,
    pub billing_period_end: Option<String>,
    pub invoicing_date: Option<String>,
    pub issue_date: Option<String>,
    pub due_date: Option<String>,
    pub paid_date: Option<String>,
    /// The customer-facing number (`INV-000123`), assigned at issue.
    pub external_reference: Option<String>,
    pub external_id: Option<String>,
    pub external_provider: Option<String>,
    pub external_url: Option<String>,
    pub merchant_id: Option<String>,
    pub tax_calculation_id: Option<String>,
    pub purchase_order_number: Option<String>,
    pub line_items: Vec<LineItemResponse>,
    pub created_at: String,
    pub updated_at: String,
    /// Extension.
    pub subscription_id: Option<String>,
    /// Extension.
    pub payment_terms: String,
    /// Extension: monetary credit drawn by the invoice (part of `amount_paid`).
    pub credits_applied: String,
    /// Extension.
    pub void_date: Option<String>,
}

/// The SDK's `InvoiceListItemResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceListItemResponse {
    pub id: String,
    pub customer_id: String,
    pub currency: String,
    pub description: String,
    pub status: String,
    pub total: String,
    pub billing_period: String,
    pub billing_period_start: Option<String>,
    pub billing_period_end: Option<String>,
    pub tax_calculation_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Extension.
    pub external_reference: Option<String>,
    /// Extension.
    pub amount_remaining: String,
    /// Extension.
    pub issue_date: Option<String>,
    /// Extension.
    pub due_date: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InvoiceListResponse {
    pub data: Vec<InvoiceListItemResponse>,
    pub pagination: PaginationMeta,
}

/// How a surface prints instants: v1 ends periods on their last second (`end − 1 s`).
#[derive(Clone, Copy)]
struct Render<'a> {
    tz: &'a TimeZone,
    now: Micros,
    v1: bool,
}

impl Render<'_> {
    fn end(&self, end: Option<Micros>) -> Option<String> {
        end.map(|e| timestamp(if self.v1 { e - 1_000_000 } else { e }))
    }

    fn period_label(&self, start: Option<Micros>, end: Option<Micros>) -> String {
        match (start, end) {
            (Some(s), Some(e)) => invoicing::billing_period_label(s, e, self.tz),
            _ => String::new(),
        }
    }
}

fn line_response(l: LineItem, editable: bool, r: Render<'_>) -> LineItemResponse {
    LineItemResponse {
        amount_including_tax: (l.amount + l.tax).to_string(),
        amount_excluding_tax: l.amount.to_string(),
        total_price: l.amount.to_string(),
        tax_amount: Some(l.tax.to_string()),
        tax_rate: l.tax_rate.map(|t| t.to_string()),
        is_editable: editable && l.kind != CREDIT_APPLIED,
        billing_period_start: l.period_start.map(timestamp),
        billing_period_end: r.end(l.period_end),
        id: l.id,
        description: l.description,
        quantity: l.quantity.to_string(),
        unit_price: l.unit_price.to_string(),
        product_id: l.product_id,
        kind: l.kind,
    }
}

fn invoice_response(inv: Invoice, r: Render<'_>) -> ApiResult<InvoiceResponse> {
    let remaining = inv.amount_remaining()?;
    let status = inv.status_at(r.now);
    let editable = inv.status == InvoiceStatus::Draft;
    Ok(InvoiceResponse {
        status: status.as_str().into(),
        subtotal: inv.subtotal.to_string(),
        tax: inv.tax.to_string(),
        total: inv.total.to_string(),
        amount_paid: (inv.amount_paid + inv.credits_applied).to_string(),
        amount_remaining: remaining.to_string(),
        billing_period: r.period_label(inv.billing_period_start, inv.billing_period_end),
        billing_period_start: inv.billing_period_start.map(timestamp),
        billing_period_end: r.end(inv.billing_period_end),
        invoicing_date: inv.invoicing_date.map(timestamp),
        issue_date: inv
            .issue_date
            .filter(|_| inv.status != InvoiceStatus::Draft)
            .map(timestamp),
        due_date: inv.due_date.map(timestamp),
        paid_date: inv.paid_date.map(timestamp),
        external_reference: inv.external_reference,
        external_id: None,
        external_provider: None,
        external_url: None,
        merchant_id: None,
        tax_calculation_id: None,
        purchase_order_number: inv.purchase_order_number,
        line_items: inv
            .lines
            .into_iter()
            .map(|l| line_response(l, editable, r))
            .collect(),
        created_at: timestamp(inv.created_at),
        updated_at: timestamp(inv.updated_at),
        subscription_id: inv.subscription_id,
        payment_terms: inv.payment_terms,
        credits_applied: inv.credits_applied.to_string(),
        void_date: inv.void_date.map(timestamp),
        id: inv.id,
        customer_id: inv.customer_id,
        currency: inv.currency,
        description: inv.description,
    })
}

fn list_item(inv: Invoice, r: Render<'_>) -> ApiResult<InvoiceListItemResponse> {
    Ok(InvoiceListItemResponse {
        status: inv.status_at(r.now).as_str().into(),
        total: inv.total.to_string(),
        amount_remaining: inv.amount_remaining()?.to_string(),
        billing_period: r.period_label(inv.billing_period_start, inv.billing_period_end),
        billing_period_start: inv.billing_period_start.map(timestamp),
        billing_period_end: r.end(inv.billing_period_end),
        tax_calculation_id: None,
        created_at: timestamp(inv.created_at),
        updated_at: timestamp(inv.updated_at),
        external_reference: inv.external_reference,
        issue_date: inv
            .issue_date
            .filter(|_| inv.status != InvoiceStatus::Draft)
            .map(timestamp),
        due_date: inv.due_date.map(timestamp),
        id: inv.id,
        customer_id: inv.customer_id,
        currency: inv.currency,
        description: inv.description,
    })
}

pub fn naming(version: ApiVersion) -> Naming {
    match version {
        ApiVersion::V1 => Naming::Camel,
        ApiVersion::V2 => Naming::Snake,
    }
}

/// The organization's billing time zone (UTC when it names none the calendar knows).
pub async fn org_tz(c: &mut impl Connection, org_id: &str) -> ApiResult<TimeZone> {
    let org = orgs::get(c, org_id).await?;
    Ok(org
        .and_then(|o| abacus_core::calendar::parse_time_zone(&o.time_zone).ok())
        .unwrap_or(TimeZone::UTC))
}

/// An invoice as the request's surface prints it.
pub async fn document(
    c: &mut impl Connection,
    org_id: &str,
    version: ApiVersion,
    inv: Invoice,
) -> ApiResult<Value> {
    let tz = org_tz(c, org_id).await?;
    let r = Render {
        tz: &tz,
        now: now_micros(),
        v1: version == ApiVersion::V1,
    };
    let v = serde_json::to_value(invoice_response(inv, r)?).map_err(|_| ApiError::internal())?;
    Ok(match version {
        ApiVersion::V2 => v,
        ApiVersion::V1 => v1_keys(v),
    })
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_invoices, create_invoice))
        .routes(routes!(get_invoice, update_invoice))
        .routes(routes!(issue_invoice))
        .routes(routes!(add_line_item))
        .routes(routes!(update_line_item, delete_line_item))
        .routes(routes!(mark_as_paid, mark_as_paid_v1))
        .routes(routes!(void_invoice))
        .routes(routes!(invoice_pdf))
        .routes(routes!(upcoming_invoice))
}

/// The invoice of the subscription's current period as it stands now (extension): its usage so
/// far, its arrears, the next period's advance fees, computed by the scheduler's billing function.
/// Nothing is stored; `status` is `upcoming`. 409 for a draft subscription or an ended service.
#[utoipa::path(get, path = "/subscriptions/{id}/upcoming-invoice", tag = "invoices", params(("id" = String, Path)),
    responses((status = 200, body = InvoiceResponse), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
async fn upcoming_invoice(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let now = now_micros();
    let mut tx = state.db.read_tx().await?;
    let (prepared, inv) =
        crate::services::billing::upcoming(&mut tx, &tenant.org_id, &id, now).await?;
    let stored = crate::services::billing::upcoming_as_invoice(&prepared, &inv, now);
    let mut body = document(&mut tx, &tenant.org_id, version, stored).await?;
    if let Some(status) = body.get_mut("status") {
        *status = Value::String("upcoming".into());
    }
    Ok(Json(body))
}

/// Parses a date-range bound: RFC 3339, or a date (`2024-01-31`, midnight UTC).
pub fn bound(q: &QueryParams, name: &str) -> ApiResult<Option<Micros>> {
    let Some(v) = q.string(name) else {
        return Ok(None);
    };
    if let Ok(t) = parse_rfc3339(&v) {
        return Ok(Some(t));
    }
    let date: jiff::civil::Date = v.parse().map_err(|_| {
        ApiError::bad_param(name, format!("'{v}' is not an RFC 3339 instant or a date"))
    })?;
    let start = abacus_core::calendar::start_of_day(date, &TimeZone::UTC)
        .map_err(|_| ApiError::bad_param(name, format!("'{v}' is out of range")))?;
    Ok(Some(start))
}

const SORTS: [(&str, SortField); 7] = [
    ("created_at", SortField::CreatedAt),
    ("invoicing_date", SortField::InvoicingDate),
    ("issue_date", SortField::IssueDate),
    ("due_date", SortField::DueDate),
    ("paid_date", SortField::PaidDate),
    ("account_name", SortField::AccountName),
    ("status", SortField::Status),
];

fn statuses(name: &str, values: Vec<String>) -> ApiResult<(Vec<InvoiceStatus>, bool)> {
    let (mut out, mut unused) = (Vec::new(), false);
    for v in values {
        match InvoiceStatus::parse(&v) {
            Some(s) => out.push(s),
            None if invoicing::UNUSED_STATUSES.contains(&v.as_str()) => unused = true,
            None => {
                return Err(ApiError::bad_param(
                    name,
                    format!(
                        "'{v}' is not one of: draft, issued, overdue, paid, void, {}",
                        invoicing::UNUSED_STATUSES.join(", ")
                    ),
                ));
            }
        }
    }
    // Only statuses Abacus never gives: nothing matches.
    Ok((out.clone(), unused && out.is_empty()))
}

/// v1's `filters`: `[{field: status|account_id, operator: eq|in, value}]`.
fn v1_filters(raw: &str) -> ApiResult<(Vec<String>, Option<String>)> {
    let bad = |m: String| ApiError::bad_param("filters", m);
    let list: Vec<Value> = serde_json::from_str(raw)
        .map_err(|e| bad(format!("is not a JSON array of filters: {e}")))?;
    let (mut status, mut account) = (Vec::new(), None);
    for (i, f) in list.iter().enumerate() {
        let values: Vec<String> = match &f["value"] {
            Value::String(s) => s.split(',').map(|v| v.trim().to_string()).collect(),
            Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().map(String::from))
                .collect::<Option<_>>()
                .ok_or_else(|| bad(format!("[{i}]: value must be strings")))?,
            _ => return Err(bad(format!("[{i}]: value must be a string or a list"))),
        };
        match f["field"].as_str().unwrap_or_default() {
            "status" => status.extend(values),
            "account_id" | "accountId" | "customer_id" => account = values.into_iter().next(),
            other => {
                return Err(bad(format!(
                    "[{i}]: '{other}' is not filterable; use status or account_id"
                )));
            }
        }
    }
    Ok((status, account))
}

/// List invoices.
///
/// Filters: `status` (comma-separated, as readers see it: an issued invoice past its due date is
/// `overdue`), `customer_id` (id or alias), `subscription_id`, `reference` / `external_reference`
/// (the invoice number), and `*_gte` / `*_lte` on `invoicing_date`, `issue_date`, `due_date`,
/// `paid_date`. `autopay=true`, `tag_ids` and `tax_calculation_id` match nothing (Abacus has
/// none). Without `Alguna-Version`: v1's `{items, pageCount, limit}` with `page`/`limit` and
/// `filters`.
#[utoipa::path(get, path = "/invoices", tag = "invoices",
    params(("status" = Option<String>, Query, description = "Comma-separated; any of"),
           ("customer_id" = Option<String>, Query), ("subscription_id" = Option<String>, Query),
           ("reference" = Option<String>, Query, description = "The invoice number (INV-000123)"),
           ("external_reference" = Option<String>, Query),
           ("invoicing_date_gte" = Option<String>, Query), ("invoicing_date_lte" = Option<String>, Query),
           ("issue_date_gte" = Option<String>, Query), ("issue_date_lte" = Option<String>, Query),
           ("due_date_gte" = Option<String>, Query), ("due_date_lte" = Option<String>, Query),
           ("paid_date_gte" = Option<String>, Query), ("paid_date_lte" = Option<String>, Query),
           ("autopay" = Option<bool>, Query), ("tag_ids" = Option<String>, Query),
           ("tax_calculation_id" = Option<String>, Query),
           ("sort" = Option<String>, Query, description = "created_at (default), invoicing_date, issue_date, due_date, paid_date, account_name or status; `:asc` or `:desc`"),
           ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query),
           ("page" = Option<i64>, Query, description = "v1"), ("filters" = Option<String>, Query, description = "v1")),
    responses((status = 200, body = InvoiceListResponse), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_invoices(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    q: QueryParams,
) -> ApiResult<Response> {
    let window = match version {
        ApiVersion::V2 => v2_window(&q)?,
        ApiVersion::V1 => v1_window(&q)?,
    };
    let names: Vec<&str> = SORTS
        .iter()
        .flat_map(|(s, _)| [*s])
        .chain([
            "createdAt",
            "invoicingDate",
            "issueDate",
            "dueDate",
            "paidDate",
            "accountName",
        ])
        .collect();
    let sort = match q.sort(&names)? {
        None => (SortField::CreatedAt, false),
        Some((field, d)) => {
            let f = SORTS
                .iter()
                .find(|(s, _)| *s == field || Naming::Camel.field(s) == field)
                .map(|(_, f)| *f)
                .unwrap_or_default();
            (f, d)
        }
    };
    let mut status_values = q.list("status");
    let mut customer = q.string("customer_id").or_else(|| q.string("accountId"));
    if let Some(raw) = q.string("filters") {
        let (s, a) = v1_filters(&raw)?;
        status_values.extend(s);
        customer = customer.or(a);
    }
    let (statuses, none) = statuses("status", status_values)?;
    let unassignable = q.boolean("autopay")? == Some(true)
        || !q.list("tag_ids").is_empty()
        || q.string("tax_calculation_id").is_some();
    let now = now_micros();
    let mut filter = ListFilter {
        statuses,
        subscription_id: q.string("subscription_id"),
        external_reference: q
            .string("reference")
            .or_else(|| q.string("external_reference")),
        invoicing_date: (
            bound(&q, "invoicing_date_gte")?,
            bound(&q, "invoicing_date_lte")?,
        ),
        issue_date: (bound(&q, "issue_date_gte")?, bound(&q, "issue_date_lte")?),
        due_date: (bound(&q, "due_date_gte")?, bound(&q, "due_date_lte")?),
        paid_date: (bound(&q, "paid_date_gte")?, bound(&q, "paid_date_lte")?),
        now,
        ..Default::default()
    };
    let mut conn = state.db.read().await?;
    let mut empty = none || unassignable;
    if let Some(c) = customer {
        match abacus_store::customers::resolve(&mut conn, &tenant.org_id, &c).await? {
            Some(id) => filter.customer_id = Some(id),
            None => empty = true,
        }
    }
    let (rows, total) = if empty {
        (Vec::new(), 0)
    } else {
        abacus_store::invoices::list(
            &mut conn,
            &tenant.org_id,
            &filter,
            sort,
            window.limit,
            window.offset,
        )
        .await?
    };
    let tz = org_tz(&mut conn, &tenant.org_id).await?;
    let r = Render {
        tz: &tz,
        now,
        v1: version == ApiVersion::V1,
    };
    let data = rows
        .into_iter()
        .map(|i| list_item(i, r))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(match version {
        ApiVersion::V2 => Json(V2Page::new(data, total, window)).into_response(),
        ApiVersion::V1 => {
            let items = v1_keys(serde_json::to_value(data).map_err(|_| ApiError::internal())?);
            Json(serde_json::json!({
                "items": items,
                "pageCount": page_count(total, window.limit),
                "limit": window.limit,
            }))
            .into_response()
        }
    })
}

/// Create an ad-hoc invoice: a draft, or issued at once with `status: issued` (Abacus issues
/// synchronously, so the answer is `issued`, not Alguna's interim `processing`).
#[utoipa::path(post, path = "/invoices", tag = "invoices", request_body = CreateInvoiceRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 201, body = InvoiceResponse), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 422, body = Problem)))]
async fn create_invoice(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    ApiJson(body): ApiJson<CreateInvoiceRequest>,
) -> ApiResult<Response> {
    let status = match (body.status, body.auto_issue) {
        (Some(s), _) => Some(s),
        (None, Some(true)) => Some("issued".to_string()),
        (None, _) => None,
    };
    let input = CreateInvoice {
        customer_id: body.customer_id,
        currency: body.currency,
        description: body.description,
        purchase_order_number: body.purchase_order_number,
        billing_period_start: body.billing_period_start,
        billing_period_end: body.billing_period_end,
        issue_date: body.issue_date,
        status,
        payment_terms: body.payment_terms,
        line_items: body
            .line_items
            .unwrap_or_default()
            .into_iter()
            .map(LineInput::from)
            .collect(),
        merchant_id: body.merchant_id,
        tax_calculation_id: body.tax_calculation_id,
        payment: body.payment.is_some_and(|p| !p.is_null()),
    };
    let mut tx = state.db.begin().await?;
    let inv = service::create(
        &mut tx,
        &tenant.org_id,
        input,
        naming(version),
        now_micros(),
    )
    .await?;
    let body = document(&mut tx, &tenant.org_id, version, inv).await?;

    idem.commit(tx, StatusCode::CREATED, &body).await
}

/// Get an invoice with its lines.
#[utoipa::path(get, path = "/invoices/{id}", tag = "invoices", params(("id" = String, Path)),
    responses((status = 200, body = InvoiceResponse), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_invoice(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut conn = state.db.read().await?;
    let inv = service::get(&mut conn, &tenant.org_id, &id).await?;
    Ok(Json(
        document(&mut conn, &tenant.org_id, version, inv).await?,
    ))
}

/// Change a draft's description or purchase order number. An issued invoice never changes (409).
#[utoipa::path(patch, path = "/invoices/{id}", tag = "invoices", request_body = UpdateInvoiceRequest,
    params(("id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = InvoiceResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_invoice(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateInvoiceRequest>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let inv = service::update(
        &mut tx,
        &tenant.org_id,
        &id,
        body.description,
        body.purchase_order_number,
        naming(version),
        now_micros(),
    )
    .await?;
    let body = document(&mut tx, &tenant.org_id, version, inv).await?;
    idem.commit(tx, StatusCode::OK, &body).await
}

/// Issue a draft (extension): its number, issue and due dates, customer credit, the frozen PDF,
/// `invoice.issued`. Anything but a draft is 409.
#[utoipa::path(post, path = "/invoices/{id}/issue", tag = "invoices",
    params(("id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = InvoiceResponse), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn issue_invoice(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
    _body: OptionalJson<EmptyRequest>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let inv = service::issue(&mut tx, &tenant.org_id, &id, now_micros()).await?;
    let body = document(&mut tx, &tenant.org_id, version, inv).await?;

    idem.commit(tx, StatusCode::OK, &body).await
}

/// Add a line to a draft (409 once issued).
#[utoipa::path(post, path = "/invoices/{id}/line-items", tag = "invoices", request_body = LineItemRequest,
    params(("id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = InvoiceResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_line_item(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<LineItemRequest>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let inv = service::add_line(
        &mut tx,
        &tenant.org_id,
        &id,
        body.into(),
        naming(version),
        now_micros(),
    )
    .await?;
    let body = document(&mut tx, &tenant.org_id, version, inv).await?;
    idem.commit(tx, StatusCode::OK, &body).await
}

/// Change a draft line's description (409 once issued).
#[utoipa::path(patch, path = "/invoices/{id}/line-items/{line_item_id}", tag = "invoices",
    request_body = UpdateLineItemRequest,
    params(("id" = String, Path), ("line_item_id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = LineItemResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_line_item(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path((id, line_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateLineItemRequest>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let line = service::update_line(
        &mut tx,
        &tenant.org_id,
        &id,
        &line_id,
        body.description,
        naming(version),
        now_micros(),
    )
    .await?;
    let tz = org_tz(&mut tx, &tenant.org_id).await?;
    let r = Render {
        tz: &tz,
        now: now_micros(),
        v1: version == ApiVersion::V1,
    };
    let v = serde_json::to_value(line_response(line, true, r)).map_err(|_| ApiError::internal())?;
    let body = match version {
        ApiVersion::V2 => v,
        ApiVersion::V1 => v1_keys(v),
    };
    idem.commit(tx, StatusCode::OK, &body).await
}

/// Remove a line from a draft (409 once issued); `lineitem.deleted` is sent.
#[utoipa::path(delete, path = "/invoices/{id}/line-items/{line_item_id}", tag = "invoices",
    params(("id" = String, Path), ("line_item_id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = Deleted), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_line_item(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path((id, line_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    service::delete_line(&mut tx, &tenant.org_id, &id, &line_id, now_micros()).await?;

    idem.commit(
        tx,
        StatusCode::OK,
        &Deleted {
            id: line_id,
            deleted: true,
        },
    )
    .await
}

async fn mark_paid(
    state: AppState,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    id: String,
    body: MarkAsPaidRequest,
) -> ApiResult<Response> {
    let m = MarkPaid {
        amount_paid: body.amount_paid,
        paid_date: body.paid_date,
        external_payment_source: body.external_payment_source,
        external_payment_note: body.external_payment_note,
    };
    let mut tx = state.db.begin().await?;
    let inv = service::mark_as_paid(
        &mut tx,
        &tenant.org_id,
        &id,
        m,
        naming(version),
        now_micros(),
    )
    .await?;
    let body = document(&mut tx, &tenant.org_id, version, inv).await?;

    idem.commit(tx, StatusCode::OK, &body).await
}

/// Record a payment received outside Abacus: the full amount left by default, or part of it
/// (`amount_paid` and `amount_remaining` follow; the invoice is `paid` once settled). A payment
/// record (`/payments`) is created. Drafts, paid and void invoices are 409.
#[utoipa::path(post, path = "/invoices/{id}/mark-as-paid", tag = "invoices", request_body = MarkAsPaidRequest,
    params(("id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = InvoiceResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn mark_as_paid(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<MarkAsPaidRequest>,
) -> ApiResult<Response> {
    mark_paid(state, tenant, version, idem, id, body).await
}

/// v1's mark-as-paid (`PUT`, camelCase `{amountPaid, paidDate, externalPaymentSource,
/// externalPaymentNote}`).
#[utoipa::path(put, path = "/invoices/{id}/mark-as-paid", tag = "invoices", request_body = MarkAsPaidRequest,
    params(("id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = InvoiceResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn mark_as_paid_v1(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<MarkAsPaidRequest>,
) -> ApiResult<Response> {
    mark_paid(state, tenant, version, idem, id, body).await
}

/// Void an issued or overdue invoice nothing was paid on. Drafts, paid and void invoices are
/// 409; a `void_date` in the future or before the issue date is 422.
#[utoipa::path(post, path = "/invoices/{id}/void", tag = "invoices", request_body = VoidInvoiceRequest,
    params(("id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = InvoiceResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn void_invoice(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<VoidInvoiceRequest>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let inv = service::void(
        &mut tx,
        &tenant.org_id,
        &id,
        body.void_date,
        naming(version),
        now_micros(),
    )
    .await?;
    let body = document(&mut tx, &tenant.org_id, version, inv).await?;
    idem.commit(tx, StatusCode::OK, &body).await
}

/// The invoice as a PDF (`application/pdf`): rendered once at issue and stored, so it never
/// changes; a draft's is rendered on demand and marked as a draft. `ETag` is its SHA-256.
#[utoipa::path(get, path = "/invoices/{id}/pdf", tag = "invoices", params(("id" = String, Path)),
    responses((status = 200, description = "The PDF", content_type = "application/pdf", body = Vec<u8>),
              (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn invoice_pdf(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut conn = state.db.read().await?;
    let inv = service::get(&mut conn, &tenant.org_id, &id).await?;
    let (bytes, sha) = service::pdf(&mut conn, &tenant.org_id, &id, now_micros()).await?;
    let name = inv
        .external_reference
        .unwrap_or_else(|| format!("draft-{id}"));
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{sha}\"")) {
        headers.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{name}.pdf\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
