//! `/products`. With `Alguna-Version` the v2 shapes of the `alguna` SDK (snake_case,
//! `limit`/`offset`, `{data, pagination}`); without, v1 (camelCase, `page`/`limit`,
//! `{products: [...]}`). Bodies are accepted in either spelling; errors name fields in the
//! request's own.

use abacus_core::catalog::{Product, ProductInput, ProductPatch};
use abacus_core::customer::Patch;
use abacus_core::validation::Naming;
use abacus_store::products::{ListFilter, SortField};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::v1::accounts::Deleted;
use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::{ApiJson, QueryParams};
use crate::idempotency::Idem;
use crate::pagination::{PaginationMeta, V2Page, page_count, v1_window, v2_window};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::services::catalog;
use crate::version::ApiVersion;
use crate::wire::{timestamp, v1_keys};

/// A new product (`products.create`). v1 may send the same fields in camelCase.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateProductRequest {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `fixed` or `metered`.
    #[serde(alias = "feeType")]
    pub fee_type: String,
    /// `advance` or `arrears`; metered products are billed in arrears.
    #[serde(alias = "paymentTerms")]
    pub payment_terms: String,
    /// `recurring` or `one-off`; required for fixed products, always `recurring` for metered.
    #[serde(default, alias = "billingFrequency")]
    pub billing_frequency: Option<String>,
    /// `straight_line`, `usage_based` or `contract_level_straight_line`; default `usage_based`
    /// for metered products, `straight_line` for fixed ones.
    #[serde(default, alias = "revenueAllocationMethod")]
    pub revenue_allocation_method: Option<String>,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default, alias = "taxCode")]
    pub tax_code: Option<String>,
    #[serde(default, alias = "unitLabelSingular")]
    pub unit_label_singular: Option<String>,
    #[serde(default, alias = "unitLabelPlural")]
    pub unit_label_plural: Option<String>,
    /// The metrics a metered product's usage comes from (required for metered, refused for
    /// fixed); each must exist and not be archived.
    #[serde(default, alias = "metricIds")]
    pub metric_ids: Option<Vec<String>>,
    /// Tags that apply to products.
    #[serde(default, alias = "tagIds")]
    pub tag_ids: Option<Vec<String>>,
}

/// A partial update (`products.update`): left-out fields keep their value, `null` clears an
/// optional one, `tag_ids` replaces the list. `fee_type`, `payment_terms`, `billing_frequency`
/// and `metric_ids` cannot change (422 unless equal to the current value).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateProductRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Patch<String>,
    #[serde(default, alias = "revenueAllocationMethod")]
    #[schema(value_type = Option<String>)]
    pub revenue_allocation_method: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub sku: Patch<String>,
    #[serde(default, alias = "taxCode")]
    #[schema(value_type = Option<String>)]
    pub tax_code: Patch<String>,
    #[serde(default, alias = "unitLabelSingular")]
    #[schema(value_type = Option<String>)]
    pub unit_label_singular: Patch<String>,
    #[serde(default, alias = "unitLabelPlural")]
    #[schema(value_type = Option<String>)]
    pub unit_label_plural: Patch<String>,
    #[serde(default, alias = "tagIds")]
    #[schema(value_type = Option<Vec<String>>)]
    pub tag_ids: Patch<Vec<String>>,
    #[serde(default, alias = "feeType")]
    pub fee_type: Option<String>,
    #[serde(default, alias = "paymentTerms")]
    pub payment_terms: Option<String>,
    #[serde(default, alias = "billingFrequency")]
    pub billing_frequency: Option<String>,
    #[serde(default, alias = "metricIds")]
    pub metric_ids: Option<Vec<String>>,
}

/// The SDK's `ProductResponse`. Without `Alguna-Version` the same document in camelCase.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductResponse {
    pub id: String,
    pub name: String,
    pub description: String,
    pub fee_type: String,
    pub payment_terms: String,
    pub billing_frequency: String,
    pub revenue_allocation_method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_label_singular: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_label_plural: Option<String>,
    pub metric_ids: Vec<String>,
    pub tag_ids: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ProductListResponse {
    pub data: Vec<ProductResponse>,
    pub pagination: PaginationMeta,
}

impl From<Product> for ProductResponse {
    fn from(p: Product) -> Self {
        let s = p.spec;
        ProductResponse {
            id: p.id,
            name: s.name,
            description: s.description,
            fee_type: s.fee_type.as_str().into(),
            payment_terms: s.payment_terms.as_str().into(),
            billing_frequency: s.billing_frequency.as_str().into(),
            revenue_allocation_method: s.revenue_allocation_method.as_str().into(),
            sku: s.sku,
            tax_code: s.tax_code,
            unit_label_singular: s.unit_label_singular,
            unit_label_plural: s.unit_label_plural,
            metric_ids: s.metric_ids,
            tag_ids: s.tag_ids,
            created_at: timestamp(p.created_at),
            updated_at: timestamp(p.updated_at),
        }
    }
}

impl From<CreateProductRequest> for ProductInput {
    fn from(b: CreateProductRequest) -> Self {
        ProductInput {
            name: b.name,
            description: b.description,
            fee_type: b.fee_type,
            payment_terms: b.payment_terms,
            billing_frequency: b.billing_frequency,
            revenue_allocation_method: b.revenue_allocation_method,
            sku: b.sku,
            tax_code: b.tax_code,
            unit_label_singular: b.unit_label_singular,
            unit_label_plural: b.unit_label_plural,
            metric_ids: b.metric_ids.unwrap_or_default(),
            tag_ids: b.tag_ids.unwrap_or_default(),
        }
    }
}

impl From<UpdateProductRequest> for ProductPatch {
    fn from(b: UpdateProductRequest) -> Self {
        ProductPatch {
            name: b.name,
            description: b.description,
            revenue_allocation_method: b.revenue_allocation_method,
            sku: b.sku,
            tax_code: b.tax_code,
            unit_label_singular: b.unit_label_singular,
            unit_label_plural: b.unit_label_plural,
            tag_ids: match b.tag_ids {
                Patch::Absent => None,
                Patch::Null => Some(Vec::new()),
                Patch::Value(v) => Some(v),
            },
            fee_type: b.fee_type,
            payment_terms: b.payment_terms,
            billing_frequency: b.billing_frequency,
            metric_ids: b.metric_ids,
        }
    }
}

fn naming(version: ApiVersion) -> Naming {
    match version {
        ApiVersion::V1 => Naming::Camel,
        ApiVersion::V2 => Naming::Snake,
    }
}

fn document(version: ApiVersion, p: Product) -> ApiResult<Value> {
    let v = serde_json::to_value(ProductResponse::from(p)).map_err(|_| ApiError::internal())?;
    Ok(match version {
        ApiVersion::V2 => v,
        ApiVersion::V1 => v1_keys(v),
    })
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product, update_product, delete_product))
}

/// Create a product.
#[utoipa::path(post, path = "/products", tag = "products", request_body = CreateProductRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 201, body = ProductResponse), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 422, body = Problem)))]
async fn create_product(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    ApiJson(body): ApiJson<CreateProductRequest>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let product =
        catalog::create_product(&mut tx, &tenant.org_id, body.into(), naming(version)).await?;
    let body = document(version, product)?;
    idem.commit(tx, StatusCode::CREATED, &body).await
}

const FEE_TYPES: &[&str] = &["fixed", "metered"];
const PAYMENT_TERMS: &[&str] = &["advance", "arrears"];
const FREQUENCIES: &[&str] = &["recurring", "one-off"];

fn checked(name: &str, values: Vec<String>, allowed: &[&str]) -> ApiResult<Vec<String>> {
    for v in &values {
        if !allowed.contains(&v.as_str()) {
            return Err(ApiError::bad_param(
                name,
                format!("'{v}' is not one of: {}", allowed.join(", ")),
            ));
        }
    }
    Ok(values)
}

/// v1's `filters`: a JSON array of `{field, operator, value}` with `eq` or `in` on `feeType`,
/// `paymentTerms`, `billingFrequency`, `metricIds` or `tagIds` (snake_case works too).
fn v1_filters(raw: &str, filter: &mut ListFilter) -> ApiResult<()> {
    let bad = |m: String| ApiError::bad_param("filters", m);
    let list: Vec<Value> = serde_json::from_str(raw)
        .map_err(|e| bad(format!("is not a JSON array of filters: {e}")))?;
    for (i, f) in list.iter().enumerate() {
        let field = f["field"].as_str().unwrap_or_default();
        let operator = f["operator"].as_str().unwrap_or("eq");
        if operator != "eq" && operator != "in" {
            return Err(bad(format!(
                "[{i}]: operator '{operator}' is not one of: eq, in"
            )));
        }
        let values: Vec<String> = match &f["value"] {
            Value::String(s) if operator == "in" => {
                s.split(',').map(|v| v.trim().to_string()).collect()
            }
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().map(String::from))
                .collect::<Option<_>>()
                .ok_or_else(|| bad(format!("[{i}]: value must be strings")))?,
            _ => return Err(bad(format!("[{i}]: value must be a string or a list"))),
        };
        let (target, allowed): (&mut Vec<String>, Option<&[&str]>) = match field {
            "feeType" | "fee_type" => (&mut filter.fee_types, Some(FEE_TYPES)),
            "paymentTerms" | "payment_terms" => (&mut filter.payment_terms, Some(PAYMENT_TERMS)),
            "billingFrequency" | "billing_frequency" => {
                (&mut filter.billing_frequencies, Some(FREQUENCIES))
            }
            "metricIds" | "metric_ids" => (&mut filter.metric_ids, None),
            "tagIds" | "tag_ids" => (&mut filter.tag_ids, None),
            other => {
                return Err(bad(format!(
                    "[{i}]: '{other}' is not filterable; use feeType, paymentTerms, billingFrequency, metricIds or tagIds"
                )));
            }
        };
        if let Some(allowed) = allowed {
            target.extend(checked("filters", values, allowed)?);
        } else {
            target.extend(values);
        }
    }
    Ok(())
}

/// List products, oldest first.
///
/// Without `Alguna-Version` the answer is v1's `{products: [...], pageCount}` (camelCase,
/// `page`/`limit`, and `filters` as a JSON array of `{field, operator: eq|in, value}`).
#[utoipa::path(get, path = "/products", tag = "products",
    params(("fee_type" = Option<String>, Query, description = "Comma-separated; any of `fixed`, `metered`"),
           ("payment_terms" = Option<String>, Query, description = "Comma-separated; any of `advance`, `arrears`"),
           ("metric_ids" = Option<String>, Query, description = "Comma-separated; products reading any of these metrics"),
           ("billing_frequency" = Option<String>, Query, description = "Extension. Comma-separated; any of `recurring`, `one-off`"),
           ("tag_ids" = Option<String>, Query, description = "Extension. Comma-separated; any of"),
           ("sort" = Option<String>, Query, description = "`created_at` (default), `name`, `fee_type`, `payment_terms` or `metric_ids`, `:asc` or `:desc`"),
           ("limit" = Option<i64>, Query, description = "Default 20, at most 100"),
           ("offset" = Option<i64>, Query, description = "v2; default 0"),
           ("page" = Option<i64>, Query, description = "v1; 1-based"),
           ("filters" = Option<String>, Query, description = "v1: JSON array of {field, operator, value}")),
    responses((status = 200, body = ProductListResponse), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_products(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    q: QueryParams,
) -> ApiResult<Response> {
    let window = match version {
        ApiVersion::V2 => v2_window(&q)?,
        ApiVersion::V1 => v1_window(&q)?,
    };
    // Both spellings on both surfaces: v1's reference writes its sortable fields in snake_case.
    const SORTS: [(&str, &str, SortField); 5] = [
        ("created_at", "createdAt", SortField::CreatedAt),
        ("name", "name", SortField::Name),
        ("fee_type", "feeType", SortField::FeeType),
        ("payment_terms", "paymentTerms", SortField::PaymentTerms),
        ("metric_ids", "metricIds", SortField::MetricIds),
    ];
    let names: Vec<&str> = SORTS.iter().flat_map(|(s, c, _)| [*s, *c]).collect();
    let sort = match q.sort(&names)? {
        None => (SortField::CreatedAt, false),
        Some((field, d)) => {
            let (_, _, f) = SORTS
                .iter()
                .find(|(s, c, _)| *s == field || *c == field)
                .copied()
                .unwrap_or(SORTS[0]);
            (f, d)
        }
    };
    let mut filter = ListFilter {
        fee_types: checked("fee_type", q.list("fee_type"), FEE_TYPES)?,
        payment_terms: checked("payment_terms", q.list("payment_terms"), PAYMENT_TERMS)?,
        billing_frequencies: checked(
            "billing_frequency",
            q.list("billing_frequency"),
            FREQUENCIES,
        )?,
        metric_ids: q.list("metric_ids"),
        tag_ids: q.list("tag_ids"),
    };
    if let Some(raw) = q.string("filters") {
        v1_filters(&raw, &mut filter)?;
    }
    let mut conn = state.db.read().await?;
    let (rows, total) = abacus_store::products::list(
        &mut conn,
        &tenant.org_id,
        &filter,
        sort,
        window.limit,
        window.offset,
    )
    .await?;
    let data: Vec<ProductResponse> = rows.into_iter().map(ProductResponse::from).collect();
    Ok(match version {
        ApiVersion::V2 => Json(V2Page::new(data, total, window)).into_response(),
        ApiVersion::V1 => {
            let products = v1_keys(serde_json::to_value(data).map_err(|_| ApiError::internal())?);
            Json(serde_json::json!({
                "products": products,
                "pageCount": page_count(total, window.limit),
            }))
            .into_response()
        }
    })
}

/// Get a product.
#[utoipa::path(get, path = "/products/{id}", tag = "products", params(("id" = String, Path)),
    responses((status = 200, body = ProductResponse), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_product(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut conn = state.db.read().await?;
    let product = catalog::get_product(&mut conn, &tenant.org_id, &id).await?;
    Ok(Json(document(version, product)?))
}

/// Update a product: left-out fields keep their value; `tag_ids` replaces the list.
#[utoipa::path(patch, path = "/products/{id}", tag = "products", request_body = UpdateProductRequest,
    params(("id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = ProductResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
async fn update_product(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    idem: Idem,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateProductRequest>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let product =
        catalog::update_product(&mut tx, &tenant.org_id, &id, body.into(), naming(version)).await?;
    let body = document(version, product)?;
    idem.commit(tx, StatusCode::OK, &body).await
}

/// Delete a product (soft). Refused with 409 while a plan (not archived), a bundle or an active
/// subscription uses it.
#[utoipa::path(delete, path = "/products/{id}", tag = "products",
    params(("id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = Deleted), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
async fn delete_product(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let id = catalog::delete_product(&mut tx, &tenant.org_id, &id).await?;
    idem.commit(tx, StatusCode::OK, &Deleted { id, deleted: true })
        .await
}
