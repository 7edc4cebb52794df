//! `POST /prices/preview` (extension): what a price would bill for one period of usage, line by
//! line, so a model can be checked before it is sold. Nothing is stored.

use std::collections::BTreeMap;

use abacus_core::currency::Currency;
use abacus_core::pricing::{
    self, Charge, MatrixUsage, PriceInput, PriceModel, PricingError, PricingInput,
};
use abacus_core::validation::{FieldError, Naming};
use axum::Json;
use axum::extract::State;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::ApiJson;
use crate::problem::{ApiError, ApiResult, Problem};

/// A decimal written as a JSON string (`"12.5"`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(transparent)]
pub struct Dec(#[serde(with = "rust_decimal::serde::str")] pub Decimal);

/// Usage of one combination of a matrix's dimension values.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MatrixUsageBody {
    /// Dimension key → value, e.g. `{"region": "eu"}`.
    pub dimensions: BTreeMap<String, String>,
    /// Units (the amount for percentage cells), as a decimal string.
    #[schema(value_type = String)]
    pub quantity: Dec,
    /// Transactions, for `volume_percentage` cells with a per-transaction price.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub transactions: Option<Dec>,
}

/// A price and one period's usage, in the shape its model reads. Decimals are strings.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PricePreviewRequest {
    /// The SDK's `PriceInput` (or `type: package`), checked as a plan item's price would be.
    #[schema(value_type = Object)]
    pub price: PriceInput,
    /// ISO 4217; lines are rounded to its minor units.
    pub currency: String,
    /// Units: `unit`, `tiered`, `graduated_tiered`, `prepaid_*`, `package` (not read by fixed
    /// prices and fixed-fee tiers, which bill their own units).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub quantity: Option<Dec>,
    /// The money volume of `tiered_percentage`, `graduated_percentage` and `volume_percentage`
    /// (`quantity` is accepted too).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub amount: Option<Dec>,
    /// Transactions, for `volume_percentage` with a per-transaction price.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub transactions: Option<Dec>,
    /// `expression`: the value of each name it reads, e.g. `{"usage.api_calls": "1234"}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metrics: Option<BTreeMap<String, Dec>>,
    /// `matrix`: usage per combination of dimension values.
    #[serde(default)]
    pub usage: Option<Vec<MatrixUsageBody>>,
}

/// What the engine would bill. Every line's `amount` is `quantity × unit_price` rounded once to
/// the currency's minor units; `total` is the sum of the lines.
#[derive(Debug, Serialize, ToSchema)]
pub struct PricePreviewResponse {
    pub currency: String,
    /// The price's model (`type`).
    #[serde(rename = "type")]
    pub kind: String,
    /// `{kind, description, quantity, unit_price, amount, tier?, cell?, charge?}`; kinds are
    /// `usage`, `fee`, `prepaid`, `overage`, `discount`, `minimum_spend`, `maximum_spend`.
    #[schema(value_type = Vec<Object>)]
    pub lines: Vec<pricing::ChargeLine>,
    pub total: String,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(preview_price))
}

fn non_negative(field: &str, d: Option<Dec>) -> ApiResult<Option<Decimal>> {
    match d {
        Some(Dec(v)) if v < Decimal::ZERO => {
            Err(ApiError::invalid_field(field, "must not be negative"))
        }
        other => Ok(other.map(|d| d.0)),
    }
}

fn required(field: &str, d: Option<Decimal>, model: &str) -> ApiResult<Decimal> {
    d.ok_or_else(|| ApiError::invalid_field(field, format!("is required for a {model} price")))
}

/// The usage the model reads, from the request's fields.
fn usage(body: PricePreviewRequest, model: &PriceModel) -> ApiResult<PricingInput> {
    let kind = model.type_name();
    let quantity = non_negative("quantity", body.quantity)?;
    let amount = non_negative("amount", body.amount)?;
    let transactions = non_negative("transactions", body.transactions)?;
    let fixed_fee = body.price.fee_type == "fixed";
    Ok(match model {
        PriceModel::Fixed { .. } => PricingInput::NoUsage,
        PriceModel::Tiered { .. } | PriceModel::GraduatedTiered { .. } if fixed_fee => {
            PricingInput::NoUsage
        }
        PriceModel::Unit { .. }
        | PriceModel::Tiered { .. }
        | PriceModel::GraduatedTiered { .. }
        | PriceModel::PrepaidTiered { .. }
        | PriceModel::PrepaidFixedTiered { .. }
        | PriceModel::Package { .. } => {
            PricingInput::Quantity(required("quantity", quantity, kind)?)
        }
        PriceModel::TieredPercentage { .. } | PriceModel::GraduatedPercentage { .. } => {
            PricingInput::Quantity(required("amount", amount.or(quantity), kind)?)
        }
        PriceModel::VolumePercentage { .. } => {
            let amount = required("amount", amount.or(quantity), kind)?;
            match transactions {
                Some(transactions) => PricingInput::Volume {
                    amount,
                    transactions,
                },
                None => PricingInput::Quantity(amount),
            }
        }
        PriceModel::Expression { .. } => {
            let metrics = body.metrics.ok_or_else(|| {
                ApiError::invalid_field(
                    "metrics",
                    "is required for an expression price (the value of each name it reads)",
                )
            })?;
            PricingInput::Metrics(metrics.into_iter().map(|(k, v)| (k, v.0)).collect())
        }
        PriceModel::Matrix(_) => {
            let rows = body.usage.ok_or_else(|| {
                ApiError::invalid_field(
                    "usage",
                    "is required for a matrix price (usage per combination of dimension values)",
                )
            })?;
            let mut out = Vec::with_capacity(rows.len());
            for (i, r) in rows.into_iter().enumerate() {
                let quantity = non_negative(&format!("usage[{i}].quantity"), Some(r.quantity))?
                    .unwrap_or_default();
                let transactions =
                    non_negative(&format!("usage[{i}].transactions"), r.transactions)?;
                out.push(MatrixUsage {
                    dimensions: r.dimensions,
                    quantity,
                    transactions,
                });
            }
            PricingInput::Matrix(out)
        }
    })
}

/// A pricing failure, at the field of the request it comes from.
fn pricing_error(e: PricingError) -> ApiError {
    let field = match &e {
        PricingError::Expression { charge, field, .. }
        | PricingError::NegativeExpression { charge, field, .. } => {
            format!("price.expression_pricing_model.charges[{charge}].{field}")
        }
        PricingError::UnknownDimension(_) | PricingError::NoMatrixCell(_) => "usage".into(),
        PricingError::WrongInput { .. } | PricingError::InvalidPrice(_) => "price".into(),
        PricingError::Negative { what, .. } if what.contains("transaction") => {
            "transactions".into()
        }
        PricingError::Negative { .. } | PricingError::Overflow => "quantity".into(),
    };
    ApiError::invalid_field(&field, e.to_string())
}

/// Preview a price (extension): the lines and total it would bill for the given usage.
///
/// Worked examples are in `docs/pricing.md`: e.g. a `unit` price of `"0.00025"` with quantity
/// `"12345"` in USD bills 3.09.
#[utoipa::path(post, path = "/prices/preview", tag = "prices", request_body = PricePreviewRequest,
    responses((status = 200, body = PricePreviewResponse), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 422, body = Problem)))]
async fn preview_price(
    _tenant: Tenant,
    State(_state): State<AppState>,
    ApiJson(body): ApiJson<PricePreviewRequest>,
) -> ApiResult<Json<PricePreviewResponse>> {
    let mut errors: Vec<FieldError> = Vec::new();
    let currency = match Currency::parse(&body.currency) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.push(FieldError {
                field: "currency".into(),
                message: e,
            });
            None
        }
    };
    let price = match body.price.validate(Naming::Snake) {
        Ok(p) => Some(p),
        Err(es) => {
            errors.extend(es.into_iter().map(|e| FieldError {
                field: format!("price.{}", e.field),
                message: e.message,
            }));
            None
        }
    };
    let (Some(currency), Some(price)) = (currency, price) else {
        return Err(ApiError::invalid(errors));
    };
    let kind = price.model.type_name().to_string();
    let input = usage(body, &price.model)?;
    let Charge { lines, total } =
        pricing::price(&price, currency, &input).map_err(pricing_error)?;
    Ok(Json(PricePreviewResponse {
        currency: currency.code().to_string(),
        kind,
        lines,
        total: total.to_string(),
    }))
}
