//! `/organization` (extension): the organization's settings, its billing time zone and the
//! payment terms new subscriptions default to.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::ApiJson;
use crate::idempotency::Idem;
use crate::problem::{ApiResult, Problem};
use crate::services::subscriptions::{self as service, OrgUpdate};
use crate::wire::timestamp;

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationResponse {
    pub id: String,
    pub name: String,
    /// IANA time zone billing days are counted in (`UTC` by default).
    pub time_zone: String,
    /// `net_N` or `due_on_receipt` (default `net_30`).
    pub default_payment_terms: String,
    pub created_at: String,
}

impl From<abacus_store::orgs::Settings> for OrganizationResponse {
    fn from(s: abacus_store::orgs::Settings) -> Self {
        OrganizationResponse {
            id: s.id,
            name: s.name,
            time_zone: s.time_zone,
            default_payment_terms: s.default_payment_terms,
            created_at: timestamp(s.created_at),
        }
    }
}

/// What an update changes; left-out fields keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateOrganizationRequest {
    #[serde(default)]
    pub name: Option<String>,
    /// An IANA name (`America/New_York`). Subscriptions activated from now on bill in it; active
    /// ones keep the zone they were activated in, so no period that has started moves.
    #[serde(default, alias = "timeZone")]
    pub time_zone: Option<String>,
    #[serde(default, alias = "defaultPaymentTerms")]
    pub default_payment_terms: Option<String>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_organization, update_organization))
}

/// The organization of the API key (extension).
#[utoipa::path(get, path = "/organization", tag = "organization",
    responses((status = 200, body = OrganizationResponse), (status = 401, body = Problem)))]
async fn get_organization(
    State(state): State<AppState>,
    tenant: Tenant,
) -> ApiResult<Json<OrganizationResponse>> {
    let mut conn = state.db.read().await?;
    Ok(Json(
        service::org_settings(&mut conn, &tenant.org_id)
            .await?
            .into(),
    ))
}

/// Update the organization's name, billing time zone or default payment terms (extension).
#[utoipa::path(patch, path = "/organization", tag = "organization", request_body = UpdateOrganizationRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h")),
    responses((status = 200, body = OrganizationResponse), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 422, body = Problem)))]
async fn update_organization(
    State(state): State<AppState>,
    tenant: Tenant,
    idem: Idem,
    ApiJson(body): ApiJson<UpdateOrganizationRequest>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let s = service::update_org(
        &mut tx,
        &tenant.org_id,
        OrgUpdate {
            name: body.name,
            time_zone: body.time_zone,
            default_payment_terms: body.default_payment_terms,
        },
    )
    .await?;
    idem.commit(tx, StatusCode::OK, &OrganizationResponse::from(s))
        .await
}
