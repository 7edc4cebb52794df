//! The OpenAPI document (`/openapi.json`) and a browsable reference (`/docs`, Swagger UI served
//! from the binary, so it works offline).

use axum::Router;
use axum::http::StatusCode;
use serde_json::Value;
use utoipa::OpenApi as _;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, SecurityRequirement};
use utoipa_swagger_ui::SwaggerUi;

use crate::app::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Abacus",
        description = "Usage-based billing that speaks the Alguna API. v1 paths (`/accounts`, camelCase) \
                       answer without `Alguna-Version`; v2 paths (`/customers`, snake_case) follow \
                       `Alguna-Version: 2026-04-01`. Operations marked *extension* are Abacus additions.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "v1 accounts", description = "Customers on the v1 surface (camelCase)."),
        (name = "v2 customers", description = "Customers on the v2 surface (snake_case)."),
        (name = "events", description = "Usage events: ingestion (both surfaces) and listing (extension)."),
        (name = "metrics", description = "Billable metrics. v2 shapes with `Alguna-Version`, v1 camelCase without."),
        (name = "usage", description = "Usage queries (extension)."),
        (name = "products", description = "Products. v2 shapes with `Alguna-Version`, v1 camelCase without."),
        (name = "plans", description = "Plans: pricing templates of products with prices, or bundles."),
        (name = "bundles", description = "Bundles: several priced products under one id."),
        (name = "tags", description = "Tags for products, plans and the other taggable objects."),
        (name = "prices", description = "Price previews (extension): what a price bills for given usage."),
        (name = "webhooks", description = "Webhook endpoints, the delivery log, resends and test events (extension)."),
        (name = "subscriptions", description = "Subscriptions: lifecycle, billing dates, entitlements. v2 shapes with `Alguna-Version`; create, get, list, activate and cancel also in v1 camelCase without."),
        (name = "subscription versions", description = "A subscription's priced items: versions (snapshots, drafts, publishing) and changes (deltas, previews)."),
        (name = "organization", description = "The organization's settings (extension): billing time zone, default payment terms."),
        (name = "credits", description = "Monetary credit grants on subscriptions, their balance, and the grants with what remains of them (extension)."),
    ),
    components(schemas(crate::problem::Problem, crate::problem::ProblemField, crate::pagination::PaginationMeta))
)]
struct BaseDoc;

/// The document every route adds itself to: info, tags and bearer authentication.
pub fn base() -> OpenApi {
    let mut doc = BaseDoc::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "api_key",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("<key_id>.<secret>")
                .build(),
        ),
    );
    doc.security = Some(vec![SecurityRequirement::new(
        "api_key",
        Vec::<String>::new(),
    )]);
    doc
}

pub fn router(openapi: OpenApi) -> Router<AppState> {
    Router::new()
        .merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", finish(openapi)))
}

/// The document as served: every response gets the description OpenAPI requires (its status
/// reason when the handler gave none), and error responses are `application/problem+json`.
pub fn finish(openapi: OpenApi) -> Value {
    let mut doc = serde_json::to_value(openapi).expect("the OpenAPI document serialises");
    let operations = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.values_mut())
        .filter_map(Value::as_object_mut);
    for op in operations.flat_map(|ops| ops.values_mut()) {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        for (status, response) in responses.iter_mut() {
            let code = status
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok());
            if response
                .get("description")
                .is_none_or(|d| d.as_str() == Some(""))
            {
                let reason = code
                    .and_then(|c| c.canonical_reason())
                    .unwrap_or("Response");
                response["description"] = Value::from(reason);
            }
            if code.is_some_and(|c| c.is_client_error() || c.is_server_error())
                && let Some(content) = response.get_mut("content").and_then(Value::as_object_mut)
                && let Some(json) = content.remove("application/json")
            {
                content.insert(crate::problem::PROBLEM_JSON.to_string(), json);
            }
        }
    }
    doc
}
