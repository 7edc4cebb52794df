//! Webhook endpoint operations: validation of endpoint settings, secrets and their rotation, the
//! test event, resends and recovery.

use abacus_core::customer::Patch;
use abacus_core::time::{Micros, now_micros};
use abacus_core::validation::Validation;
use abacus_core::webhooks::{self as events, Event, TestPayload};
use abacus_store::webhooks::{self, Endpoint, EndpointSpec, Enqueued, Message};
use abacus_store::{Connection, Tx};

use crate::problem::{ApiError, ApiResult};
use crate::webhooks::guard;

const WHAT: &str = "Webhook endpoint";
/// Longest endpoint description, in characters.
pub const MAX_DESCRIPTION: usize = 1024;
/// How long a rotated-out secret keeps signing beside the new one.
pub const ROTATION_OVERLAP_SECS: i64 = 24 * 3600;

/// The settings a request asks for, before validation.
#[derive(Debug, Clone, Default)]
pub struct EndpointDraft {
    pub url: Option<String>,
    pub description: Patch<String>,
    pub event_types: Patch<Vec<String>>,
    pub enabled: Option<bool>,
}

/// Applies `draft` to `current` (or to nothing, for a new endpoint) and validates the result,
/// reporting every bad field.
pub fn validate(
    draft: EndpointDraft,
    current: Option<&Endpoint>,
    allow_private: bool,
) -> ApiResult<EndpointSpec> {
    let mut v = Validation::new();
    let url = match (draft.url, current) {
        (Some(u), _) => {
            if let Err(e) = guard::check_url(&u, allow_private) {
                v.push("url", e);
            }
            u
        }
        (None, Some(c)) => c.url.clone(),
        (None, None) => {
            v.push("url", "is required");
            String::new()
        }
    };
    let event_types = match draft.event_types {
        Patch::Absent => current.and_then(|c| c.event_types.clone()),
        Patch::Null => None,
        Patch::Value(types) => {
            let mut kept: Vec<String> = Vec::new();
            for (i, t) in types.into_iter().enumerate() {
                if !events::is_known(&t) {
                    v.push(
                        format!("event_types[{i}]"),
                        format!("'{t}' is not an event type (GET /webhook-event-types lists them)"),
                    );
                } else if !kept.contains(&t) {
                    kept.push(t);
                }
            }
            // An empty list, like none, means every type.
            (!kept.is_empty()).then_some(kept)
        }
    };
    let description = match draft.description {
        Patch::Absent => current.and_then(|c| c.description.clone()),
        Patch::Null => None,
        Patch::Value(d) => Some(d),
    };
    if let Some(d) = &description
        && d.chars().count() > MAX_DESCRIPTION
    {
        v.push(
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        );
    }
    let enabled = draft
        .enabled
        .unwrap_or_else(|| current.is_none_or(|c| c.enabled));
    v.into_result().map_err(ApiError::invalid)?;
    Ok(EndpointSpec {
        url,
        description,
        event_types,
        enabled,
    })
}

pub async fn get(c: &mut impl Connection, org_id: &str, id: &str) -> ApiResult<Endpoint> {
    webhooks::get_endpoint(c, org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(WHAT, id))
}

pub async fn create(
    tx: &mut Tx,
    org_id: &str,
    draft: EndpointDraft,
    allow_private: bool,
) -> ApiResult<Endpoint> {
    let spec = validate(draft, None, allow_private)?;
    Ok(webhooks::insert_endpoint(tx, org_id, &spec, &events::new_secret(), now_micros()).await?)
}

pub async fn update(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    draft: EndpointDraft,
    allow_private: bool,
) -> ApiResult<Endpoint> {
    let current = get(tx, org_id, id).await?;
    let spec = validate(draft, Some(&current), allow_private)?;
    webhooks::update_endpoint(tx, org_id, id, &spec, now_micros())
        .await?
        .ok_or_else(|| ApiError::not_found(WHAT, id))
}

pub async fn delete(tx: &mut Tx, org_id: &str, id: &str) -> ApiResult<()> {
    if webhooks::delete_endpoint(tx, org_id, id).await? {
        Ok(())
    } else {
        Err(ApiError::not_found(WHAT, id))
    }
}

/// A new secret; the old one keeps signing for [`ROTATION_OVERLAP_SECS`].
pub async fn rotate(tx: &mut Tx, org_id: &str, id: &str) -> ApiResult<Endpoint> {
    let now = now_micros();
    let overlap_end = now + ROTATION_OVERLAP_SECS * 1_000_000;
    webhooks::rotate_secret(tx, org_id, id, &events::new_secret(), overlap_end, now)
        .await?
        .ok_or_else(|| ApiError::not_found(WHAT, id))
}

fn refuse_if_disabled(endpoint: &Endpoint, action: &str) -> ApiResult<()> {
    if endpoint.enabled {
        Ok(())
    } else {
        Err(ApiError::conflict(format!(
            "Cannot {action}: webhook endpoint '{}' is disabled; enable it first",
            endpoint.id
        )))
    }
}

/// Queues a signed test event for this endpoint alone.
pub async fn send_test(tx: &mut Tx, org_id: &str, id: &str) -> ApiResult<Message> {
    let endpoint = get(tx, org_id, id).await?;
    refuse_if_disabled(&endpoint, "send a test event")?;
    let event = Event::Test(TestPayload {
        endpoint_id: endpoint.id.clone(),
        message: "This is a test event from Abacus.".into(),
    });
    let Enqueued { message_ids, .. } =
        webhooks::enqueue_to_endpoint(tx, org_id, &endpoint.id, &event, now_micros()).await?;
    message(tx, org_id, id, &message_ids[0]).await
}

pub async fn message(
    c: &mut impl Connection,
    org_id: &str,
    endpoint_id: &str,
    msg_id: &str,
) -> ApiResult<Message> {
    webhooks::get_message(c, org_id, endpoint_id, msg_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Webhook message", msg_id))
}

/// Sends a message again (same `webhook-id`), with a fresh retry schedule.
pub async fn resend(
    tx: &mut Tx,
    org_id: &str,
    endpoint_id: &str,
    msg_id: &str,
) -> ApiResult<Message> {
    let endpoint = get(tx, org_id, endpoint_id).await?;
    refuse_if_disabled(&endpoint, "resend a message")?;
    if !webhooks::resend_message(tx, org_id, endpoint_id, msg_id, now_micros()).await? {
        return Err(ApiError::not_found("Webhook message", msg_id));
    }
    message(tx, org_id, endpoint_id, msg_id).await
}

/// Resends every failed message created at or after `since`; returns how many.
pub async fn recover(
    tx: &mut Tx,
    org_id: &str,
    endpoint_id: &str,
    since: Micros,
) -> ApiResult<u64> {
    let endpoint = get(tx, org_id, endpoint_id).await?;
    refuse_if_disabled(&endpoint, "recover messages")?;
    Ok(webhooks::recover_failed(tx, org_id, endpoint_id, since, now_micros()).await?)
}
