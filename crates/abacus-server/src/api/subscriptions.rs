//! `/subscriptions` as the `alguna` SDK defines them (create, list, get, update, delete, activate,
//! cancel, billing dates, entitlements), `/customers/{id}/entitlements`, and the extension
//! `POST /subscriptions/{id}/cancel/revert`. Without `Alguna-Version`, create, get, list, activate
//! and cancel speak v1: the same documents in camelCase (`metadata` keeps the caller's keys).

use abacus_core::calendar::{BillingDates, DateRange};
use abacus_core::catalog::PlanItemInput;
use abacus_core::catalog::plan::{EntitlementInput, PriceEscalationInput};
use abacus_core::customer::Patch;
use abacus_core::pricing::{DiscountInput, PriceInput, SpendingThresholdInput};
use abacus_core::subscription::{
    BillingInput, ContractInput, Item, RenewalInput, Status, SubscriptionInput, SubscriptionPatch,
    Version,
};
use abacus_core::time::parse_rfc3339;
use abacus_core::validation::Naming;
use abacus_store::subscriptions::{ListFilter, SortField};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::v1::accounts::Deleted;
use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::{ApiJson, QueryParams, parse_value};
use crate::idempotency::Idem;
use crate::pagination::{PaginationMeta, V2Page, page_count, v1_window, v2_window};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::services::subscriptions::{self as service, CancelRequest, Loaded};
use crate::version::ApiVersion;
use crate::wire::timestamp;

// ---- wire helpers

/// A civil date as responses carry it: `2026-07-01T00:00:00Z` (Alguna echoes request dates so).
pub fn date_time(d: Date) -> String {
    format!("{d}T00:00:00Z")
}

/// `fooBar` → `foo_bar`; snake_case keys stay as they are.
fn snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Rewrites every key with `f`, leaving the caller's own keys inside `metadata` alone.
fn rekey(v: Value, f: &dyn Fn(&str) -> String) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| {
                    let v = if k == "metadata" { v } else { rekey(v, f) };
                    (f(&k), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(|v| rekey(v, f)).collect()),
        other => other,
    }
}

/// The v1 spelling of a document.
pub fn v1_doc(v: Value) -> Value {
    rekey(v, &|k| Naming::Camel.field(k))
}

/// A body in the request's naming parsed into `T`: v1 bodies are read as their snake_case
/// equivalent and their errors named in camelCase again.
pub fn parse_body<T: serde::de::DeserializeOwned>(
    version: ApiVersion,
    body: Value,
) -> ApiResult<T> {
    match version {
        ApiVersion::V2 => parse_value(body, ""),
        ApiVersion::V1 => parse_value(rekey(body, &snake), "").map_err(camel_errors),
    }
}

fn camel_errors(mut e: ApiError) -> ApiError {
    if e.errors.is_empty() {
        return e;
    }
    for f in &mut e.errors {
        f.field = Naming::Camel.field(&f.field);
    }
    if e.status == StatusCode::UNPROCESSABLE_ENTITY {
        ApiError::invalid(e.errors)
    } else {
        e
    }
}

pub fn naming(version: ApiVersion) -> Naming {
    match version {
        ApiVersion::V1 => Naming::Camel,
        ApiVersion::V2 => Naming::Snake,
    }
}

fn render(version: ApiVersion, v: Value) -> Value {
    match version {
        ApiVersion::V2 => v,
        ApiVersion::V1 => v1_doc(v),
    }
}

fn to_value(v: &impl Serialize) -> ApiResult<Value> {
    serde_json::to_value(v).map_err(|_| ApiError::internal())
}

// ---- requests

/// `subscriptions.create`. The fields after `auto_activate` are extensions (the SDK sets them
/// with `update`).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateSubscriptionRequest {
    /// A customer id or alias (`accountId` on v1 too).
    #[serde(alias = "account_id")]
    pub customer_id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// ISO 4217; the customer's currency (the default) is the only one accepted.
    #[serde(default)]
    pub currency: Option<String>,
    /// A plan whose items are the base item set; its terms fill what the request leaves out.
    #[serde(default)]
    pub plan_id: Option<String>,
    /// `CreateSubscriptionItemInput`s: `{product_id, price}` or `{bundle_id, items?}`. With
    /// `plan_id` they override the plan's item of the same product or bundle; others are added.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub items: Option<Vec<PlanItemInput>>,
    /// `ContractInput`: `period_type` (`fixed`, `monthly_rolling`), `duration_months`,
    /// `start_date` (default: the day of activation).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub contract: Option<ContractInput>,
    /// `BillingInput`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub billing: Option<BillingInput>,
    /// `RenewalInput`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub renewal: Option<RenewalInput>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    pub auto_activate: Option<bool>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub trial_period_days: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub discount: Option<DiscountInput>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub minimum_spend: Option<SpendingThresholdInput>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub maximum_spend: Option<SpendingThresholdInput>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub price_escalation: Option<PriceEscalationInput>,
    /// Tag ids (tags that apply to subscriptions).
    #[serde(default, alias = "tag_ids")]
    pub tags: Option<Vec<String>>,
}

impl From<CreateSubscriptionRequest> for SubscriptionInput {
    fn from(b: CreateSubscriptionRequest) -> Self {
        SubscriptionInput {
            customer_id: b.customer_id,
            name: b.name,
            currency: b.currency,
            plan_id: b.plan_id,
            items: b.items,
            contract: b.contract,
            billing: b.billing,
            renewal: b.renewal,
            metadata: b.metadata,
            auto_activate: b.auto_activate,
            description: b.description,
            trial_period_days: b.trial_period_days,
            discount: b.discount,
            minimum_spend: b.minimum_spend,
            maximum_spend: b.maximum_spend,
            price_escalation: b.price_escalation,
            tags: b.tags,
        }
    }
}

/// `subscriptions.update`: never items. `contract` is an extension for drafts.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateSubscriptionRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Patch<String>,
    /// `UpdateBillingInput`: the flags sent change; `first_billing_date` only on a draft.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub billing: Option<BillingInput>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub renewal: Option<RenewalInput>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub contract: Option<ContractInput>,
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub trial_period_days: Patch<i64>,
    /// A percentage discount (`null` removes it).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub discount: Patch<DiscountInput>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub minimum_spend: Patch<SpendingThresholdInput>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub maximum_spend: Patch<SpendingThresholdInput>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub price_escalation: Patch<PriceEscalationInput>,
    /// Merged into the stored metadata; a `null` value deletes its key.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// Tag ids; replaces the list.
    #[serde(default, alias = "tag_ids")]
    pub tags: Option<Vec<String>>,
}

impl From<UpdateSubscriptionRequest> for SubscriptionPatch {
    fn from(b: UpdateSubscriptionRequest) -> Self {
        SubscriptionPatch {
            name: b.name,
            description: b.description,
            billing: b.billing,
            renewal: b.renewal,
            contract: b.contract,
            trial_period_days: b.trial_period_days,
            discount: b.discount,
            minimum_spend: b.minimum_spend,
            maximum_spend: b.maximum_spend,
            price_escalation: b.price_escalation,
            metadata: b.metadata,
            tags: b.tags,
        }
    }
}

/// `subscriptions.cancel`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CancelSubscriptionRequest {
    /// Required: `no_longer_required`, `moving_provider`, `pricing`, `support`, `features`,
    /// `upgraded` or `other`.
    #[serde(default)]
    pub reason: Option<String>,
    /// `immediate` (default), `end_of_term`, `next_billing_period` (the end of the current
    /// billing period), a date (`YYYY-MM-DD`, not in the past) or an RFC 3339 timestamp.
    #[serde(default)]
    pub effective: Option<String>,
    #[serde(default)]
    pub reason_description: Option<String>,
}

// ---- responses

#[derive(Debug, Serialize, ToSchema)]
pub struct BillingResponse {
    pub auto_issue_invoices: bool,
    pub auto_pay_invoices: bool,
    pub first_billing_date: Option<String>,
    pub payment_collection_method: String,
    pub payment_method_id: Option<String>,
    pub payment_terms: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContractResponse {
    pub period_type: String,
    pub duration_months: Option<i64>,
    /// `null` on a draft created without one (activation sets it).
    pub start_date: Option<String>,
    /// The end of the current fixed term, or the end of service when that comes first.
    pub end_date: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RenewalResponse {
    pub auto_renew: bool,
    pub duration_months: Option<i64>,
    pub period_type: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PendingChangeResponse {
    /// `draft` or `published` (published with a later start).
    pub status: String,
    pub version_id: String,
    pub description: Option<String>,
    pub effective_at: Option<String>,
}

/// Extension: a cancellation, scheduled or in effect.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancellationResponse {
    /// `scheduled` until it takes effect, then `canceled`.
    pub status: String,
    pub reason: String,
    pub reason_description: Option<String>,
    pub requested_at: String,
    pub effective_at: String,
}

/// The SDK's `SubscriptionResponse`, with extensions (`description`, `tags`, `time_zone`,
/// `cancellation`, `ended_at`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionResponse {
    pub id: String,
    pub customer_id: String,
    pub name: String,
    pub description: Option<String>,
    pub currency: String,
    /// `draft`, `active` or `canceled` (a scheduled cancellation stays `active`, see
    /// `cancellation`).
    pub status: String,
    pub plan_id: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    pub trial_period_days: Option<i64>,
    pub billing: BillingResponse,
    pub contract: ContractResponse,
    pub renewal: RenewalResponse,
    /// The published version in effect now.
    pub current_version_id: Option<String>,
    /// Drafts and published versions that take effect later.
    pub pending_changes: Vec<PendingChangeResponse>,
    #[schema(value_type = Option<Object>)]
    pub discount: Option<DiscountInput>,
    #[schema(value_type = Option<Object>)]
    pub minimum_spend: Option<SpendingThresholdInput>,
    #[schema(value_type = Option<Object>)]
    pub maximum_spend: Option<SpendingThresholdInput>,
    #[schema(value_type = Option<Object>)]
    pub price_escalation: Option<PriceEscalationInput>,
    pub tags: Vec<String>,
    /// The billing time zone: fixed at activation, the organization's for a draft.
    pub time_zone: String,
    pub cancellation: Option<CancellationResponse>,
    pub activated_at: Option<String>,
    pub ended_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionListResponse {
    pub data: Vec<SubscriptionResponse>,
    pub pagination: PaginationMeta,
}

pub fn subscription_response(l: &Loaded) -> ApiResult<SubscriptionResponse> {
    let s = &l.sub;
    let t = &s.terms;
    let dates = l.billing_dates(l.now)?;
    let now = l.now;
    Ok(SubscriptionResponse {
        id: s.id.clone(),
        customer_id: s.customer_id.clone(),
        name: s.name.clone(),
        description: s.description.clone(),
        currency: s.currency.clone(),
        status: l.status().as_str().into(),
        plan_id: l.plan_id(),
        metadata: s.metadata.clone(),
        trial_period_days: t.trial_period_days,
        billing: BillingResponse {
            auto_issue_invoices: t.billing.auto_issue_invoices,
            auto_pay_invoices: t.billing.auto_pay_invoices,
            first_billing_date: t.billing.first_billing_date.map(date_time),
            payment_collection_method: t.billing.payment_collection_method.clone(),
            payment_method_id: t.billing.payment_method_id.clone(),
            payment_terms: t.billing.payment_terms.clone(),
        },
        contract: ContractResponse {
            period_type: t.contract.period_type.clone(),
            duration_months: t.contract.duration_months,
            start_date: t.contract.start_date.map(date_time),
            end_date: match s.status {
                Status::Draft => t.term().ok().and_then(|term| {
                    let start = t.contract.start_date?;
                    let months = term.duration_months()?;
                    abacus_core::calendar::add_months(start, i64::from(months))
                        .ok()
                        .map(date_time)
                }),
                _ => dates.contract_end_date.map(date_time),
            },
        },
        renewal: RenewalResponse {
            auto_renew: t.renewal.auto_renew,
            duration_months: t.renewal.duration_months,
            period_type: t.renewal.period_type.clone(),
        },
        current_version_id: l.in_effect().map(|v| v.id.clone()),
        pending_changes: l
            .pending()
            .into_iter()
            .map(|v| PendingChangeResponse {
                status: v.status.as_str().into(),
                version_id: v.id.clone(),
                description: v.description.clone(),
                effective_at: v.effective_at.map(timestamp),
            })
            .collect(),
        discount: t.discount.clone(),
        minimum_spend: t.minimum_spend.clone(),
        maximum_spend: t.maximum_spend.clone(),
        price_escalation: t.price_escalation.clone(),
        tags: s.tag_ids.clone(),
        time_zone: l.tz.iana_name().unwrap_or("UTC").to_string(),
        cancellation: s.cancellation.as_ref().map(|c| CancellationResponse {
            status: if c.effective_at > now && s.status == Status::Active {
                "scheduled".into()
            } else {
                "canceled".into()
            },
            reason: c.reason.clone(),
            reason_description: c.reason_description.clone(),
            requested_at: timestamp(c.requested_at),
            effective_at: timestamp(c.effective_at),
        }),
        activated_at: s.activated_at.map(timestamp),
        ended_at: s.ended_at(now).map(timestamp),
        created_at: timestamp(s.created_at),
        updated_at: timestamp(s.updated_at),
    })
}

fn document(version: ApiVersion, l: &Loaded) -> ApiResult<Value> {
    Ok(render(version, to_value(&subscription_response(l)?)?))
}

/// A price as `SubscriptionPriceResponse` shows it: the price as written, its currency, and
/// `charge_on_contract_start` (default false).
pub fn price_doc(price: &PriceInput, currency: &str) -> Value {
    let mut doc = match serde_json::to_value(price) {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    };
    doc.entry("charge_on_contract_start")
        .or_insert(Value::Bool(false));
    // The SDK's `FixedPricingModelResponse` carries the computed `total` (units × price per unit,
    // rounded to the currency's minor units).
    if let Some(m) = &price.fixed_pricing_model
        && let Some(Value::Object(fixed)) = doc.get_mut("fixed_pricing_model")
        && let Some(total) = m.price_per_unit.checked_mul(m.units.into())
    {
        let total = match abacus_core::currency::Currency::parse(currency) {
            Ok(c) => abacus_core::money::round(total, c),
            Err(_) => total.normalize(),
        };
        fixed.insert("total".into(), json!(total.to_string()));
    }
    doc.insert("currency".into(), json!(currency));
    Value::Object(doc)
}

/// `SubscriptionPhaseItemResponse`.
pub fn item_doc(item: &Item, currency: &str) -> Value {
    match item {
        Item::Product(p) => {
            json!({"product_id": p.product_id, "price": price_doc(&p.price, currency)})
        }
        Item::Bundle {
            bundle_id,
            name,
            description,
            items,
        } => json!({
            "bundle_id": bundle_id,
            "name": name,
            "bundle_description": description,
            "items": items.iter().map(|c| json!({"product_id": c.product_id, "price": price_doc(&c.price, currency)})).collect::<Vec<_>>(),
        }),
    }
}

/// `EntitlementResponse`.
pub fn entitlement_doc(e: &EntitlementInput, subscription_id: &str, version_id: &str) -> Value {
    json!({
        "key": e.entitlement_key,
        "mode": e.mode,
        "type": e.kind,
        "value": e.value,
        "allocation": e.allocation,
        "timing": e.timing,
        "subscription_id": subscription_id,
        "version_id": version_id,
    })
}

/// `SubscriptionPhaseDetailResponse` (with the extensions `number` and `published_at`).
pub fn version_doc(l: &Loaded, v: &Version) -> Value {
    let end = match v.status {
        abacus_core::subscription::VersionStatus::Published => l.version_end(v),
        abacus_core::subscription::VersionStatus::Draft => None,
    };
    json!({
        "id": v.id,
        "subscription_id": v.subscription_id,
        "number": v.number,
        "status": v.status.as_str(),
        "plan_id": v.plan_id,
        "description": v.description,
        "start_date": v.effective_at.map(timestamp),
        "end_date": end.map(timestamp),
        "items": v.items.iter().map(|i| item_doc(i, &l.sub.currency)).collect::<Vec<_>>(),
        "entitlements": v.entitlements.iter().map(|e| entitlement_doc(e, &v.subscription_id, &v.id)).collect::<Vec<_>>(),
        "published_at": v.published_at.map(timestamp),
        "created_at": timestamp(v.created_at),
        "updated_at": timestamp(v.updated_at),
    })
}

/// `BillingDatesResponse`: local dates, every range end-exclusive.
#[derive(Debug, Serialize, ToSchema)]
pub struct BillingDatesResponse {
    pub current_cycle: Option<BillingCycleResponse>,
    pub next_billing_date: Option<String>,
    pub valid_on_cycle_dates: Vec<String>,
    pub valid_mid_cycle_range: Option<BillingCycleResponse>,
    pub next_renewal_date: Option<String>,
    pub contract_end_date: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BillingCycleResponse {
    pub start_date: String,
    pub end_date: String,
}

impl From<DateRange> for BillingCycleResponse {
    fn from(r: DateRange) -> Self {
        BillingCycleResponse {
            start_date: r.start_date.to_string(),
            end_date: r.end_date.to_string(),
        }
    }
}

impl From<BillingDates> for BillingDatesResponse {
    fn from(d: BillingDates) -> Self {
        BillingDatesResponse {
            current_cycle: d.current_cycle.map(Into::into),
            next_billing_date: d.next_billing_date.map(|d| d.to_string()),
            valid_on_cycle_dates: d
                .valid_on_cycle_dates
                .iter()
                .map(|d| d.to_string())
                .collect(),
            valid_mid_cycle_range: d.valid_mid_cycle_range.map(Into::into),
            next_renewal_date: d.next_renewal_date.map(|d| d.to_string()),
            contract_end_date: d.contract_end_date.map(|d| d.to_string()),
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_subscription, list_subscriptions))
        .routes(routes!(
            get_subscription,
            update_subscription,
            delete_subscription
        ))
        .routes(routes!(activate_subscription))
        .routes(routes!(cancel_subscription))
        .routes(routes!(revert_cancellation))
        .routes(routes!(billing_dates))
        .routes(routes!(list_entitlements))
        .routes(routes!(get_entitlement))
        .routes(routes!(customer_entitlements))
}

const IDEM: &str = "Replays the first response for 24 h";

/// Create a subscription: raw items, from `plan_id`, or a plan with per-item overrides. It is a
/// draft until activated (`auto_activate: true` activates it at once).
#[utoipa::path(post, path = "/subscriptions", tag = "subscriptions", request_body = CreateSubscriptionRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = IDEM)),
    responses((status = 201, body = SubscriptionResponse), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 422, body = Problem)))]
async fn create_subscription(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let body: CreateSubscriptionRequest = parse_body(version, body)?;
    let mut tx = state.db.begin().await?;
    let l = service::create(&mut tx, &tenant.org_id, body.into(), naming(version)).await?;
    let doc = document(version, &l)?;
    idem.commit(tx, StatusCode::CREATED, &doc).await
}

const STATUSES: &[&str] = &["draft", "active", "canceled"];

/// List subscriptions (oldest first by default).
///
/// Without `Alguna-Version`: v1's `{pageCount, data}` in camelCase, with `page`/`limit` and
/// `accountId` (or `customerId`) and `status` filters.
#[utoipa::path(get, path = "/subscriptions", tag = "subscriptions",
    params(("customer_id" = Option<String>, Query, description = "A customer id or alias"),
           ("status" = Option<String>, Query, description = "Comma-separated; any of `draft`, `active`, `canceled`"),
           ("tag_ids" = Option<String>, Query, description = "Comma-separated; any of"),
           ("sort" = Option<String>, Query, description = "`name`, `status`, `created_at` (default), `activated_at`, `ended_at`, `updated_at`, `contract_start_date` or `contract_end_date`, `:asc` or `:desc`"),
           ("limit" = Option<i64>, Query, description = "Default 20, at most 100"),
           ("offset" = Option<i64>, Query, description = "v2; default 0"),
           ("page" = Option<i64>, Query, description = "v1; 1-based")),
    responses((status = 200, body = SubscriptionListResponse), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_subscriptions(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    q: QueryParams,
) -> ApiResult<Response> {
    let window = match version {
        ApiVersion::V2 => v2_window(&q)?,
        ApiVersion::V1 => v1_window(&q)?,
    };
    const SORTS: [(&str, SortField); 8] = [
        ("created_at", SortField::CreatedAt),
        ("name", SortField::Name),
        ("status", SortField::Status),
        ("activated_at", SortField::ActivatedAt),
        ("ended_at", SortField::EndedAt),
        ("updated_at", SortField::UpdatedAt),
        ("contract_start_date", SortField::ContractStartDate),
        ("contract_end_date", SortField::ContractEndDate),
    ];
    let camel: Vec<String> = SORTS.iter().map(|(s, _)| Naming::Camel.field(s)).collect();
    let names: Vec<&str> = SORTS
        .iter()
        .map(|(s, _)| *s)
        .chain(camel.iter().map(String::as_str))
        .collect();
    let sort = match q.sort(&names)? {
        None => (SortField::CreatedAt, false),
        Some((field, d)) => {
            let snake_field = snake(field);
            let f = SORTS
                .iter()
                .find(|(s, _)| *s == snake_field)
                .map(|(_, f)| *f)
                .unwrap_or_default();
            (f, d)
        }
    };
    let mut statuses = Vec::new();
    for s in q.list("status") {
        let st = Status::parse(&s).ok_or_else(|| {
            ApiError::bad_param(
                "status",
                format!("'{s}' is not one of: {}", STATUSES.join(", ")),
            )
        })?;
        statuses.push(st);
    }
    let customer = ["customer_id", "customerId", "accountId", "account_id"]
        .iter()
        .find_map(|k| q.string(k));
    let mut conn = state.db.read().await?;
    let customer_id = match customer {
        None => None,
        Some(c) => match service::resolve_customer(&mut conn, &tenant.org_id, &c).await? {
            Some(id) => Some(id),
            // An unknown customer has no subscriptions.
            None => {
                return Ok(empty_page(version, window));
            }
        },
    };
    let filter = ListFilter {
        customer_id,
        statuses,
        tag_ids: q.list("tag_ids"),
        now: abacus_core::time::now_micros(),
    };
    let (rows, total) = service::list(
        &mut conn,
        &tenant.org_id,
        &filter,
        sort,
        window.limit,
        window.offset,
    )
    .await?;
    let data = rows
        .iter()
        .map(subscription_response)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(match version {
        ApiVersion::V2 => Json(V2Page::new(data, total, window)).into_response(),
        ApiVersion::V1 => Json(json!({
            "pageCount": page_count(total, window.limit),
            "data": v1_doc(to_value(&data)?),
        }))
        .into_response(),
    })
}

fn empty_page(version: ApiVersion, window: crate::pagination::Window) -> Response {
    match version {
        ApiVersion::V2 => {
            Json(V2Page::<SubscriptionResponse>::new(Vec::new(), 0, window)).into_response()
        }
        ApiVersion::V1 => Json(json!({"pageCount": 0, "data": []})).into_response(),
    }
}

/// Get a subscription, with its current version and pending changes.
#[utoipa::path(get, path = "/subscriptions/{id}", tag = "subscriptions", params(("id" = String, Path)),
    responses((status = 200, body = SubscriptionResponse), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_subscription(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut conn = state.db.read().await?;
    let l = service::load(&mut conn, &tenant.org_id, &id).await?;
    Ok(Json(document(version, &l)?))
}

/// Update a subscription's terms and metadata (never its items: use changes or versions).
/// `null` clears an optional field; `metadata` merges, a `null` value deleting its key. The
/// contract and first billing date change only on drafts; a canceled subscription keeps its
/// terms (409).
#[utoipa::path(patch, path = "/subscriptions/{id}", tag = "subscriptions", request_body = UpdateSubscriptionRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = IDEM)),
    responses((status = 200, body = SubscriptionResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_subscription(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let Value::Object(fields) = &body else {
        return Err(ApiError::invalid_field("body", "must be a JSON object"));
    };
    if fields.contains_key("items") {
        return Err(ApiError::invalid_field(
            "items",
            "an update never changes items: use POST /subscriptions/{id}/changes or the versions API",
        ));
    }
    let body: UpdateSubscriptionRequest = parse_body(version, body)?;
    let mut tx = state.db.begin().await?;
    let l = service::update(&mut tx, &tenant.org_id, &id, body.into(), naming(version)).await?;
    let doc = document(version, &l)?;
    idem.commit(tx, StatusCode::OK, &doc).await
}

/// Delete a draft subscription for good (409 once activated: cancel it instead).
#[utoipa::path(delete, path = "/subscriptions/{id}", tag = "subscriptions",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = IDEM)),
    responses((status = 200, body = Deleted), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
async fn delete_subscription(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let id = service::delete(&mut tx, &tenant.org_id, &id).await?;
    idem.commit(tx, StatusCode::OK, &Deleted { id, deleted: true })
        .await
}

/// Activate a draft: it needs at least one version, each with at least one price; its drafts
/// are published (the first at the contract start, which defaults to today), and its billing
/// time zone is fixed. Activating an active subscription returns it unchanged; a canceled one
/// is 409.
#[utoipa::path(post, path = "/subscriptions/{id}/activate", tag = "subscriptions",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = IDEM)),
    responses((status = 200, body = SubscriptionResponse), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
async fn activate_subscription(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let l = service::activate(&mut tx, &tenant.org_id, &id).await?;
    let doc = document(version, &l)?;
    idem.commit(tx, StatusCode::OK, &doc).await
}

/// Cancel a subscription, now or later. A later cancellation leaves it `active` with a
/// `cancellation` whose status is `scheduled`, until it takes effect.
#[utoipa::path(post, path = "/subscriptions/{id}/cancel", tag = "subscriptions", request_body = CancelSubscriptionRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = IDEM)),
    responses((status = 200, body = SubscriptionResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn cancel_subscription(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let body: CancelSubscriptionRequest = parse_body(version, body)?;
    let mut tx = state.db.begin().await?;
    let l = service::cancel(
        &mut tx,
        &tenant.org_id,
        &id,
        CancelRequest {
            reason: body.reason,
            effective: body.effective,
            reason_description: body.reason_description,
        },
        naming(version),
    )
    .await?;
    let doc = document(version, &l)?;
    idem.commit(tx, StatusCode::OK, &doc).await
}

/// Revert a scheduled cancellation (extension): the subscription runs on as before. 409 when no
/// cancellation is scheduled or it has taken effect.
#[utoipa::path(post, path = "/subscriptions/{id}/cancel/revert", tag = "subscriptions",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = IDEM)),
    responses((status = 200, body = SubscriptionResponse), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
async fn revert_cancellation(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let l = service::revert_cancellation(&mut tx, &tenant.org_id, &id).await?;
    let doc = document(version, &l)?;
    idem.commit(tx, StatusCode::OK, &doc).await
}

/// The billing calendar: the current cycle, the next billing date, the next on-cycle dates, the
/// range a mid-cycle change can take effect in, the next renewal and the contract end. Local
/// dates in the subscription's time zone; ranges end-exclusive. `as_of` (extension, RFC 3339)
/// answers as of another instant.
#[utoipa::path(get, path = "/subscriptions/{id}/billing-dates", tag = "subscriptions",
    params(("id" = String, Path), ("as_of" = Option<String>, Query, description = "Extension: an RFC 3339 instant (default now)")),
    responses((status = 200, body = BillingDatesResponse), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn billing_dates(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<BillingDatesResponse>> {
    let as_of = q
        .string("as_of")
        .map(|s| parse_rfc3339(&s).map_err(|m| ApiError::bad_param("as_of", m)))
        .transpose()?;
    let mut conn = state.db.read().await?;
    let l = service::load(&mut conn, &tenant.org_id, &id).await?;
    Ok(Json(l.billing_dates(as_of.unwrap_or(l.now))?.into()))
}

/// `EntitlementListResponse`.
#[derive(Serialize, ToSchema)]
pub struct EntitlementListResponse {
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
}

/// The entitlements of the subscription's version in effect (none for a draft or a canceled
/// subscription).
#[utoipa::path(get, path = "/subscriptions/{id}/entitlements", tag = "subscriptions", params(("id" = String, Path)),
    responses((status = 200, body = EntitlementListResponse), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn list_entitlements(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<EntitlementListResponse>> {
    let mut conn = state.db.read().await?;
    let l = service::load(&mut conn, &tenant.org_id, &id).await?;
    let data = service::entitlements(&l)
        .into_iter()
        .map(|(v, e)| entitlement_doc(e, &l.sub.id, &v.id))
        .collect();
    Ok(Json(EntitlementListResponse { data }))
}

/// One entitlement of the version in effect, by key (404 when it has none of that key).
#[utoipa::path(get, path = "/subscriptions/{id}/entitlements/{key}", tag = "subscriptions",
    params(("id" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_entitlement(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let mut conn = state.db.read().await?;
    let l = service::load(&mut conn, &tenant.org_id, &id).await?;
    service::entitlements(&l)
        .into_iter()
        .find(|(_, e)| e.entitlement_key == key)
        .map(|(v, e)| Json(entitlement_doc(e, &l.sub.id, &v.id)))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("Subscription '{id}' has no entitlement '{key}' in effect"),
            )
        })
}

/// A customer's entitlements across its active subscriptions (each carries its subscription and
/// version).
#[utoipa::path(get, path = "/customers/{id}/entitlements", tag = "subscriptions",
    params(("id" = String, Path, description = "A customer id or alias")),
    responses((status = 200, body = EntitlementListResponse), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn customer_entitlements(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<EntitlementListResponse>> {
    let mut conn = state.db.read().await?;
    let subs = service::customer_entitlements(&mut conn, &tenant.org_id, &id).await?;
    let data = subs
        .iter()
        .flat_map(|l| {
            service::entitlements(l)
                .into_iter()
                .map(|(v, e)| entitlement_doc(e, &l.sub.id, &v.id))
        })
        .collect();
    Ok(Json(EntitlementListResponse { data }))
}
