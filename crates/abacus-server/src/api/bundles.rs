//! `/bundles` (v2 shapes): several priced products referenced by one id. Ids are `bnd_…`;
//! `bun_…` (Alguna's request examples) names the same bundle.

use std::collections::HashMap;

use abacus_core::catalog::{Bundle, BundleInput, Product, ProductPriceInput};
use abacus_core::customer::Patch;
use abacus_core::pricing::PriceInput;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::{ApiJson, QueryParams, parse_value};
use crate::idempotency::Idem;
use crate::pagination::{PaginationMeta, V2Page, v2_window};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::services::catalog::{self, BundleUpdate};
use crate::wire::timestamp;

/// A new bundle (`bundles.create`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateBundleRequest {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Extension: the ISO 4217 currency the prices are written in; a plan may then only use the
    /// bundle in that currency. Without it the bundle fits any plan.
    #[serde(default)]
    pub currency: Option<String>,
    /// The SDK's `PriceCreateRequest`: `product_id` and a price (`PriceInput` fields) in one
    /// object. Each price must fit its product (fee type, metrics).
    #[schema(value_type = Vec<Object>)]
    pub prices: Vec<Value>,
}

/// A partial update (`bundles.update`): `prices` replaces the whole set (with new price ids).
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateBundleRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub currency: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub prices: Option<Vec<Value>>,
}

/// The SDK's `BundleResponse`; each price is a `PriceResponse` (the price's fields plus `id`,
/// `product_id`, `product`, `currency`, `created_at`, `updated_at`).
#[derive(Debug, Serialize, ToSchema)]
pub struct BundleResponse {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Extension.
    pub currency: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub prices: Vec<Value>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct BundleListResponse {
    pub data: Vec<BundleResponse>,
    pub pagination: PaginationMeta,
}

/// Splits the SDK's flat `PriceCreateRequest` into its product and its price.
fn parse_prices(prices: Vec<Value>) -> ApiResult<Vec<ProductPriceInput>> {
    prices
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let base = format!("prices[{i}]");
            let Value::Object(mut o) = v else {
                return Err(ApiError::invalid_field(&base, "must be an object"));
            };
            let product_id = match o.remove("product_id") {
                Some(Value::String(s)) => s,
                None | Some(Value::Null) => String::new(),
                Some(_) => {
                    return Err(ApiError::invalid_field(
                        &format!("{base}.product_id"),
                        "must be a string",
                    ));
                }
            };
            let price: PriceInput = parse_value(Value::Object(o), &base)?;
            Ok(ProductPriceInput { product_id, price })
        })
        .collect()
}

/// A price as the SDK's `PriceResponse` shows it. Its discount is the SDK's `Discount`, which
/// spells the type `discount_type`.
pub fn price_response(
    id: &str,
    product_id: &str,
    price: &PriceInput,
    product: Option<&Product>,
    currency: Option<&str>,
    created_at: i64,
    updated_at: i64,
) -> Value {
    let mut doc = match serde_json::to_value(price) {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    };
    if let Some(Value::Object(d)) = doc.get_mut("discount")
        && let Some(kind) = d.remove("type")
    {
        d.insert("discount_type".into(), kind);
    }
    doc.entry("charge_on_contract_start")
        .or_insert(Value::Bool(false));
    // The SDK's `FixedPricingModel` carries the computed `total` (units × price per unit),
    // rounded to the currency's minor units when the bundle has a currency.
    if let Some(m) = &price.fixed_pricing_model
        && let Some(Value::Object(fixed)) = doc.get_mut("fixed_pricing_model")
        && let Some(total) = m.price_per_unit.checked_mul(m.units.into())
    {
        let total = match currency.and_then(|c| abacus_core::currency::Currency::parse(c).ok()) {
            Some(c) => abacus_core::money::round(total, c),
            None => total.normalize(),
        };
        fixed.insert("total".into(), json!(total.to_string()));
    }
    let mut head = Map::new();
    head.insert("id".into(), json!(id));
    head.insert("product_id".into(), json!(product_id));
    head.insert(
        "product".into(),
        match product {
            Some(p) => json!({
                "id": p.id,
                "name": p.spec.name,
                "description": p.spec.description,
                "fee_type": p.spec.fee_type.as_str(),
                "payment_terms": p.spec.payment_terms.as_str(),
                "billing_frequency": p.spec.billing_frequency.as_str(),
                "metric_ids": p.spec.metric_ids,
            }),
            None => json!({"id": product_id}),
        },
    );
    head.insert("currency".into(), json!(currency));
    head.extend(doc);
    head.insert("created_at".into(), json!(timestamp(created_at)));
    head.insert("updated_at".into(), json!(timestamp(updated_at)));
    Value::Object(head)
}

fn render(b: Bundle, products: &HashMap<String, Product>) -> BundleResponse {
    let prices = b
        .prices
        .iter()
        .map(|p| {
            price_response(
                &p.id,
                &p.product_id,
                &p.price,
                products.get(&p.product_id),
                b.currency.as_deref(),
                p.created_at,
                p.updated_at,
            )
        })
        .collect();
    BundleResponse {
        id: b.id,
        name: b.name,
        description: b.description,
        currency: b.currency,
        prices,
        created_at: timestamp(b.created_at),
        updated_at: timestamp(b.updated_at),
    }
}

async fn render_all(
    c: &mut impl abacus_store::Connection,
    org_id: &str,
    bundles: Vec<Bundle>,
) -> ApiResult<Vec<BundleResponse>> {
    let ids = bundles
        .iter()
        .flat_map(|b| b.prices.iter().map(|p| p.product_id.clone()));
    let products = catalog::products_of(c, org_id, ids.collect::<Vec<_>>()).await?;
    Ok(bundles.into_iter().map(|b| render(b, &products)).collect())
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_bundle, list_bundles))
        .routes(routes!(get_bundle, update_bundle))
}

/// Create a bundle.
#[utoipa::path(post, path = "/bundles", tag = "bundles", request_body = CreateBundleRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 201, body = BundleResponse), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 422, body = Problem)))]
async fn create_bundle(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    ApiJson(body): ApiJson<CreateBundleRequest>,
) -> ApiResult<Response> {
    let input = BundleInput {
        name: body.name,
        description: body.description,
        currency: body.currency,
        prices: parse_prices(body.prices)?,
    };
    let mut tx = state.db.begin().await?;
    let bundle = catalog::create_bundle(&mut tx, &tenant.org_id, input).await?;
    let body = render_all(&mut tx, &tenant.org_id, vec![bundle])
        .await?
        .pop()
        .ok_or_else(ApiError::internal)?;
    idem.commit(tx, StatusCode::CREATED, &body).await
}

/// List bundles with their prices, oldest first.
#[utoipa::path(get, path = "/bundles", tag = "bundles",
    params(("limit" = Option<i64>, Query, description = "Default 20, at most 100"),
           ("offset" = Option<i64>, Query, description = "Default 0")),
    responses((status = 200, body = BundleListResponse), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_bundles(
    State(state): State<AppState>,
    tenant: Tenant,
    q: QueryParams,
) -> ApiResult<Json<V2Page<BundleResponse>>> {
    let window = v2_window(&q)?;
    let mut tx = state.db.read_tx().await?;
    let (rows, total) =
        abacus_store::bundles::list(&mut tx, &tenant.org_id, window.limit, window.offset).await?;
    let data = render_all(&mut tx, &tenant.org_id, rows).await?;
    tx.rollback().await?;
    Ok(Json(V2Page::new(data, total, window)))
}

/// Get a bundle (`bnd_…` or `bun_…`).
#[utoipa::path(get, path = "/bundles/{id}", tag = "bundles", params(("id" = String, Path)),
    responses((status = 200, body = BundleResponse), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_bundle(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<BundleResponse>> {
    let mut tx = state.db.read_tx().await?;
    let bundle = catalog::get_bundle(&mut tx, &tenant.org_id, &id).await?;
    let body = render_all(&mut tx, &tenant.org_id, vec![bundle])
        .await?
        .pop()
        .ok_or_else(ApiError::internal)?;
    tx.rollback().await?;
    Ok(Json(body))
}

/// Update a bundle: left-out fields keep their value; `prices` replaces the whole set. Plans keep
/// the prices they copied when they were written.
#[utoipa::path(patch, path = "/bundles/{id}", tag = "bundles", request_body = UpdateBundleRequest,
    params(("id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = BundleResponse), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
async fn update_bundle(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateBundleRequest>,
) -> ApiResult<Response> {
    let update = BundleUpdate {
        name: body.name,
        description: body.description,
        currency: body.currency,
        prices: body.prices.map(parse_prices).transpose()?,
    };
    let mut tx = state.db.begin().await?;
    let bundle = catalog::update_bundle(&mut tx, &tenant.org_id, &id, update).await?;
    let body = render_all(&mut tx, &tenant.org_id, vec![bundle])
        .await?
        .pop()
        .ok_or_else(ApiError::internal)?;
    idem.commit(tx, StatusCode::OK, &body).await
}
