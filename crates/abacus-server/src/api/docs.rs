//! The OpenAPI document (`/openapi.json`) and a browsable reference (`/docs`, Swagger UI served
//! from the binary, so it works offline).

use axum::Router;
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
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
}
