//! `/events`: ingestion (both surfaces) and, as an extension, listing what arrived.
//!
//! v2 sends `{"events": [{unique_id, account, event_name, timestamp?, properties?}]}`; v1 sends
//! the camelCase fields (`uniqueId`, `eventName`, `account` or `accountId`) as a bare array or
//! under `events`. Each event is judged alone; the answer lists every unique id as ingested or
//! failed, with the reason for each failure (extension).

use abacus_core::metering::event::{
    EventFields, EventLimits, RejectedEvent, Spelling, V1_NAMES, V2_NAMES, ValidEvent,
};
use abacus_core::metering::properties::from_json_text;
use abacus_core::time::{now_micros, parse_rfc3339};
use abacus_store::events::{ListFilter, StoredEvent};
use abacus_store::ingest::Outcome;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::{ApiJson, QueryParams};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::version::ApiVersion;
use crate::wire::v1_keys;

/// At most this many events per request, as Alguna allows.
pub const MAX_EVENTS: usize = 100;

/// v2 request body (documentation; the handler reads events one by one so a bad event fails
/// alone).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct IngestEventsRequest {
    events: Vec<EventItem>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventItem {
    /// Unique per organization, forever: a resend is counted once. At most 72 characters (v1: 255).
    unique_id: String,
    /// A customer id or alias.
    account: String,
    event_name: String,
    /// RFC 3339; defaults to the time of receipt; at most 5 minutes ahead.
    timestamp: Option<String>,
    /// At most 50 string, number or boolean values; numbers are exact decimals.
    #[schema(value_type = Option<Object>)]
    properties: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Failure {
    /// Position of the event in the request.
    pub index: usize,
    #[serde(rename = "unique_id")]
    pub unique_id: Option<String>,
    /// `invalid_unique_id`, `invalid_account`, `invalid_event_name`, `invalid_timestamp`,
    /// `future_timestamp`, `invalid_properties`, `not_an_object`, or `unknown_account` (the event
    /// is kept and counts once the customer exists).
    pub code: &'static str,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct IngestEventsResponse {
    /// Stored and counted, or already stored before (a resend).
    pub ingested: Vec<String>,
    pub failed: Vec<String>,
    /// Extension: the ingested ids that were resends of stored events.
    pub duplicates: Vec<String>,
    /// Extension: why each failed event failed.
    pub failures: Vec<Failure>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest_events, list_events))
}

/// The events of a request body: v2 `{events: [...]}`; v1 also a bare array.
fn events_of(body: Value, version: ApiVersion) -> ApiResult<Vec<Value>> {
    let list = match body {
        Value::Object(mut o) => match o.remove("events") {
            Some(Value::Array(a)) => a,
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "events",
                    "must be a list of events",
                ));
            }
            None => return Err(ApiError::invalid_field("events", "is required")),
        },
        Value::Array(a) if version == ApiVersion::V1 => a,
        _ => {
            return Err(ApiError::invalid_field(
                "body",
                "must be an object with an 'events' list",
            ));
        }
    };
    if list.is_empty() {
        return Err(ApiError::bad_param(
            "events",
            "the list is empty; send 1 to 100 events",
        ));
    }
    if list.len() > MAX_EVENTS {
        return Err(ApiError::bad_param(
            "events",
            format!(
                "{} events sent; at most {MAX_EVENTS} per request",
                list.len()
            ),
        ));
    }
    Ok(list)
}

/// Ingest up to 100 usage events.
#[utoipa::path(post, path = "/events", tag = "events", request_body = IngestEventsRequest,
    responses((status = 200, body = IngestEventsResponse, description = "Per-event results; v1 answers in camelCase (`uniqueId`)"),
              (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn ingest_events(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let (names, limits, spelling) = match version {
        ApiVersion::V2 => (
            V2_NAMES,
            EventLimits {
                max_unique_id_len: 72,
            },
            Spelling::Snake,
        ),
        ApiVersion::V1 => (
            V1_NAMES,
            EventLimits {
                max_unique_id_len: 255,
            },
            Spelling::Camel,
        ),
    };
    let now = now_micros();
    // Each event is judged alone; valid ones move on to storage, the slots remember the order.
    enum Slot {
        Rejected(RejectedEvent),
        Valid { unique_id: String, account: String },
    }
    let mut slots = Vec::new();
    let mut valid: Vec<ValidEvent> = Vec::new();
    for item in events_of(body, version)? {
        let judged = match item {
            Value::Object(o) => EventFields::from_object(o, spelling).validate(names, limits, now),
            _ => Err(RejectedEvent {
                unique_id: None,
                code: "not_an_object",
                reason: "each event must be a JSON object".into(),
            }),
        };
        slots.push(match judged {
            Ok(e) => {
                let slot = Slot::Valid {
                    unique_id: e.unique_id.clone(),
                    account: e.account.clone(),
                };
                valid.push(e);
                slot
            }
            Err(r) => Slot::Rejected(r),
        });
    }
    let outcomes = if valid.is_empty() {
        Vec::new()
    } else {
        state.ingestor.submit(&tenant.org_id, valid).await?
    };

    let mut response = IngestEventsResponse {
        ingested: vec![],
        failed: vec![],
        duplicates: vec![],
        failures: vec![],
    };
    let mut outcomes = outcomes.into_iter();
    for (index, slot) in slots.into_iter().enumerate() {
        match slot {
            Slot::Rejected(r) => {
                response.failed.push(
                    r.unique_id
                        .clone()
                        .unwrap_or_else(|| format!("events[{index}]")),
                );
                response.failures.push(Failure {
                    index,
                    unique_id: r.unique_id,
                    code: r.code,
                    reason: r.reason,
                });
            }
            Slot::Valid { unique_id, account } => {
                match outcomes.next().expect("an outcome per valid event") {
                    Outcome::Stored { matched: true } => response.ingested.push(unique_id),
                    Outcome::Duplicate { matched: true } => {
                        response.duplicates.push(unique_id.clone());
                        response.ingested.push(unique_id);
                    }
                    Outcome::Stored { matched: false } | Outcome::Duplicate { matched: false } => {
                        let reason = format!(
                            "no customer has the id or alias '{account}'; the event is kept and counts once that customer exists"
                        );
                        response.failed.push(unique_id.clone());
                        response.failures.push(Failure {
                            index,
                            unique_id: Some(unique_id),
                            code: "unknown_account",
                            reason,
                        });
                    }
                }
            }
        }
    }
    Ok(match version {
        ApiVersion::V2 => Json(response).into_response(),
        ApiVersion::V1 => Json(v1_keys(
            serde_json::to_value(response).map_err(|_| ApiError::internal())?,
        ))
        .into_response(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct EventResponse {
    pub unique_id: String,
    pub account: String,
    /// `null` while no customer has this account (unmatched).
    pub customer_id: Option<String>,
    /// `matched` or `unmatched`.
    pub status: &'static str,
    pub event_name: String,
    pub timestamp: String,
    pub received_at: String,
    #[schema(value_type = Object)]
    pub properties: Value,
    /// How many times the event was resent: later, or as another copy in the same request.
    pub duplicates: i32,
}

#[derive(Serialize, ToSchema)]
pub struct EventListResponse {
    pub data: Vec<EventResponse>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

const DEFAULT_EVENT_PAGE: i64 = 50;
const MAX_EVENT_PAGE: i64 = 500;

/// List events, newest arrival first (extension).
#[utoipa::path(get, path = "/events", tag = "events",
    params(("account" = Option<String>, Query, description = "Events sent with this account, or attributed to the customer it names"),
           ("event_name" = Option<String>, Query), ("from" = Option<String>, Query, description = "RFC 3339, inclusive (event timestamp)"),
           ("to" = Option<String>, Query, description = "RFC 3339, exclusive"), ("unmatched" = Option<bool>, Query),
           ("limit" = Option<i64>, Query, description = "Default 50, at most 500"), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = EventListResponse), (status = 400, body = Problem)))]
async fn list_events(
    State(state): State<AppState>,
    tenant: Tenant,
    version: ApiVersion,
    q: QueryParams,
) -> ApiResult<Response> {
    let limit = match q.int("limit")? {
        None => DEFAULT_EVENT_PAGE,
        Some(n) if n < 1 => return Err(ApiError::bad_param("limit", "must be at least 1")),
        Some(n) => n.min(MAX_EVENT_PAGE),
    };
    let cursor = match q.string("cursor") {
        None => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_param("cursor", "is not a cursor this API returned"))?,
        ),
    };
    let time = |name: &str| -> ApiResult<Option<i64>> {
        q.string(name)
            .map(|s| parse_rfc3339(&s).map_err(|e| ApiError::bad_param(name, e)))
            .transpose()
    };
    let mut conn = state.db.read().await?;
    let account = q.string("account");
    let customer_id = match &account {
        Some(a) => abacus_store::customers::resolve(&mut conn, &tenant.org_id, a).await?,
        None => None,
    };
    let filter = ListFilter {
        account,
        customer_id,
        event_name: q.string("event_name"),
        from: time("from")?,
        to: time("to")?,
        unmatched_only: q.boolean("unmatched")?.unwrap_or(false),
    };
    let rows =
        abacus_store::events::list(&mut conn, &tenant.org_id, &filter, cursor, limit).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|e| e.seq.to_string()))
        .flatten();
    let data = rows
        .into_iter()
        .map(event_response)
        .collect::<ApiResult<Vec<_>>>()?;
    let body = serde_json::to_value(EventListResponse { data, next_cursor })
        .map_err(|_| ApiError::internal())?;
    Ok(match version {
        ApiVersion::V2 => Json(body).into_response(),
        ApiVersion::V1 => Json(v1_keys(body)).into_response(),
    })
}

fn event_response(e: StoredEvent) -> ApiResult<EventResponse> {
    let props = from_json_text(&e.properties).map_err(|_| ApiError::internal())?;
    let properties = Value::Object(props.into_iter().map(|(k, v)| (k, v.to_json())).collect());
    Ok(EventResponse {
        status: if e.customer_id.is_some() {
            "matched"
        } else {
            "unmatched"
        },
        unique_id: e.unique_id,
        account: e.account,
        customer_id: e.customer_id,
        event_name: e.event_name,
        timestamp: crate::wire::timestamp(e.ts),
        received_at: crate::wire::timestamp(e.received_at),
        properties,
        duplicates: e.duplicates,
    })
}
