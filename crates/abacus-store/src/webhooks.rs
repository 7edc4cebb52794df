//! Webhooks: endpoints, the outbox (events and their per-endpoint messages), claiming due
//! messages for delivery, and the attempt log. The design is in `docs/webhooks.md`.
//!
//! State-changing code calls [`enqueue_event`] (or [`enqueue`]) with the transaction of the
//! change: the event and one message per matching enabled endpoint commit with it, or not at all.

use abacus_core::ids;
use abacus_core::time::Micros;
use abacus_core::webhooks::{Event, envelope};
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use crate::db::{Conn, Connection};
use crate::error::{StoreError, StoreResult};
use crate::on;

/// A webhook endpoint as stored (with its secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub description: Option<String>,
    /// `None`: every event type.
    pub event_types: Option<Vec<String>>,
    pub enabled: bool,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<Micros>,
    pub failing_since: Option<Micros>,
    pub disabled_reason: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

impl Endpoint {
    /// True when this endpoint wants events of `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        match &self.event_types {
            None => true,
            Some(types) => types.iter().any(|t| t == event_type),
        }
    }

    /// The secrets that sign a delivery at `now`: the current one, and the previous one during
    /// the overlap after a rotation.
    pub fn signing_secrets(&self, now: Micros) -> Vec<String> {
        let mut out = vec![self.secret.clone()];
        if let (Some(prev), Some(until)) = (&self.previous_secret, self.previous_secret_expires_at)
            && until > now
        {
            out.push(prev.clone());
        }
        out
    }
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: String,
    url: String,
    description: Option<String>,
    event_types: Option<Json<Vec<String>>>,
    enabled: bool,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_expires_at: Option<Micros>,
    failing_since: Option<Micros>,
    disabled_reason: Option<String>,
    created_at: Micros,
    updated_at: Micros,
}

impl From<EndpointRow> for Endpoint {
    fn from(r: EndpointRow) -> Self {
        Endpoint {
            id: r.id,
            url: r.url,
            description: r.description,
            event_types: r.event_types.map(|j| j.0),
            enabled: r.enabled,
            secret: r.secret,
            previous_secret: r.previous_secret,
            previous_secret_expires_at: r.previous_secret_expires_at,
            failing_since: r.failing_since,
            disabled_reason: r.disabled_reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const ENDPOINT_COLUMNS: &str = "id, url, description, event_types, enabled, secret, previous_secret, \
     previous_secret_expires_at, failing_since, disabled_reason, created_at, updated_at";

/// What an endpoint is created with or changed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    pub url: String,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: bool,
}

pub fn new_endpoint_id() -> String {
    ids::prefixed_id("we")
}

pub async fn insert_endpoint(
    c: &mut impl Connection,
    org_id: &str,
    spec: &EndpointSpec,
    secret: &str,
    now: Micros,
) -> StoreResult<Endpoint> {
    let id = new_endpoint_id();
    let types = spec.event_types.as_ref().map(Json);
    on!(c, e => sqlx::query(
        "INSERT INTO webhook_endpoints (id, org_id, url, description, event_types, enabled, secret, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)")
        .bind(&id).bind(org_id).bind(&spec.url).bind(&spec.description).bind(types)
        .bind(spec.enabled).bind(secret).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    get_endpoint(c, org_id, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("webhook endpoint {id} vanished after insert")))
}

pub async fn get_endpoint(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
) -> StoreResult<Option<Endpoint>> {
    let sql =
        format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = $1 AND id = $2");
    let row: Option<EndpointRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(id).fetch_optional(e).await)?;
    Ok(row.map(Endpoint::from))
}

/// An organization's endpoints, oldest first, and how many there are.
pub async fn list_endpoints(
    c: &mut impl Connection,
    org_id: &str,
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<Endpoint>, i64)> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = $1
         ORDER BY created_at, id LIMIT $2 OFFSET $3"
    );
    let rows: Vec<EndpointRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(limit).bind(offset).fetch_all(e).await)?;
    let total: i64 = on!(c, e => sqlx::query_scalar("SELECT COUNT(*) FROM webhook_endpoints WHERE org_id = $1")
        .bind(org_id).fetch_one(e).await)?;
    Ok((rows.into_iter().map(Endpoint::from).collect(), total))
}

/// Replaces an endpoint's settings. Enabling it clears its failure streak and disabled reason.
pub async fn update_endpoint(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    spec: &EndpointSpec,
    now: Micros,
) -> StoreResult<Option<Endpoint>> {
    let types = spec.event_types.as_ref().map(Json);
    let n = on!(c, e => sqlx::query(
        "UPDATE webhook_endpoints SET url = $3, description = $4, event_types = $5, enabled = $6,
                failing_since = CASE WHEN $6 AND NOT enabled THEN NULL ELSE failing_since END,
                disabled_reason = CASE WHEN $6 THEN NULL ELSE disabled_reason END,
                updated_at = $7
         WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(&spec.url).bind(&spec.description).bind(types)
        .bind(spec.enabled).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    if n == 0 {
        return Ok(None);
    }
    get_endpoint(c, org_id, id).await
}

/// Deletes an endpoint with its messages and their attempts. Returns false when there was none.
pub async fn delete_endpoint(c: &mut impl Connection, org_id: &str, id: &str) -> StoreResult<bool> {
    let n = on!(c, e => sqlx::query("DELETE FROM webhook_endpoints WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).execute(e).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Makes `new_secret` the endpoint's secret; the current one keeps signing until
/// `previous_expires_at`. A previous secret still in its overlap is dropped.
pub async fn rotate_secret(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    new_secret: &str,
    previous_expires_at: Micros,
    now: Micros,
) -> StoreResult<Option<Endpoint>> {
    let n = on!(c, e => sqlx::query(
        "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_expires_at = $4,
                secret = $3, updated_at = $5
         WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(new_secret).bind(previous_expires_at).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    if n == 0 {
        return Ok(None);
    }
    get_endpoint(c, org_id, id).await
}

/// What [`enqueue`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    pub event_id: String,
    /// One message per endpoint that will receive the event.
    pub message_ids: Vec<String>,
}

/// Records a webhook event of `event_type` with this `data` at `now`, and one pending message for
/// every enabled endpoint of the organization that wants the type, in the caller's transaction.
/// The body (`{"type", "timestamp", "data"}`) is built here, once; every attempt sends those bytes.
///
/// ```ignore
/// let mut tx = db.begin().await?;
/// // ... the state change ...
/// abacus_store::webhooks::enqueue(&mut tx, org_id, "invoice.paid", &data, now).await?;
/// tx.commit().await?;
/// ```
pub async fn enqueue(
    c: &mut impl Connection,
    org_id: &str,
    event_type: &str,
    data: &serde_json::Value,
    now: Micros,
) -> StoreResult<Enqueued> {
    let endpoints = enabled_endpoints(c, org_id).await?;
    let targets: Vec<&Endpoint> = endpoints.iter().filter(|e| e.wants(event_type)).collect();
    let event_id = insert_event(c, org_id, event_type, data, now).await?;
    let mut message_ids = Vec::with_capacity(targets.len());
    for endpoint in targets {
        message_ids
            .push(insert_message(c, org_id, &endpoint.id, &event_id, event_type, now).await?);
    }
    Ok(Enqueued {
        event_id,
        message_ids,
    })
}

/// [`enqueue`] for a typed [`Event`]: what billing code calls.
///
/// ```ignore
/// use abacus_core::webhooks::{Event, InvoicePayload};
/// webhooks::enqueue_event(&mut tx, org_id, &Event::InvoicePaid(payload), now).await?;
/// ```
pub async fn enqueue_event(
    c: &mut impl Connection,
    org_id: &str,
    event: &Event,
    now: Micros,
) -> StoreResult<Enqueued> {
    enqueue(c, org_id, event.event_type(), &event.data(), now).await
}

/// Records `event` for one endpoint only, whatever its filter (the test event).
pub async fn enqueue_to_endpoint(
    c: &mut impl Connection,
    org_id: &str,
    endpoint_id: &str,
    event: &Event,
    now: Micros,
) -> StoreResult<Enqueued> {
    let event_id = insert_event(c, org_id, event.event_type(), &event.data(), now).await?;
    let message_id =
        insert_message(c, org_id, endpoint_id, &event_id, event.event_type(), now).await?;
    Ok(Enqueued {
        event_id,
        message_ids: vec![message_id],
    })
}

async fn enabled_endpoints(c: &mut impl Connection, org_id: &str) -> StoreResult<Vec<Endpoint>> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = $1 AND enabled ORDER BY created_at, id"
    );
    let rows: Vec<EndpointRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).fetch_all(e).await)?;
    Ok(rows.into_iter().map(Endpoint::from).collect())
}

async fn insert_event(
    c: &mut impl Connection,
    org_id: &str,
    event_type: &str,
    data: &serde_json::Value,
    now: Micros,
) -> StoreResult<String> {
    let id = ids::prefixed_id("evt");
    let payload = envelope(event_type, now, data);
    on!(c, e => sqlx::query(
        "INSERT INTO webhook_events (id, org_id, event_type, payload, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id).bind(org_id).bind(event_type).bind(&payload).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(id)
}

async fn insert_message(
    c: &mut impl Connection,
    org_id: &str,
    endpoint_id: &str,
    event_id: &str,
    event_type: &str,
    now: Micros,
) -> StoreResult<String> {
    let id = ids::prefixed_id("msg");
    on!(c, e => sqlx::query(
        "INSERT INTO webhook_messages (id, org_id, endpoint_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $6)")
        .bind(&id).bind(org_id).bind(endpoint_id).bind(event_id).bind(event_type).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(id)
}

/// The state of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    /// Waiting for its next attempt (`next_attempt_at`).
    Pending,
    Succeeded,
    /// Every attempt of the schedule failed; a resend or recover makes it pending again.
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Succeeded => "succeeded",
            MessageStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(MessageStatus::Pending),
            "succeeded" => Some(MessageStatus::Succeeded),
            "failed" => Some(MessageStatus::Failed),
            _ => None,
        }
    }
}

/// One event's delivery to one endpoint. Its id is the `webhook-id` of every attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    /// The exact body sent.
    pub payload: String,
    pub status: MessageStatus,
    /// Position in the retry schedule of the next attempt.
    pub step: i32,
    pub attempts: i32,
    pub next_attempt_at: Option<Micros>,
    pub last_attempt_at: Option<Micros>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: String,
    endpoint_id: String,
    event_id: String,
    event_type: String,
    payload: String,
    status: String,
    step: i32,
    attempts: i32,
    next_attempt_at: Option<Micros>,
    last_attempt_at: Option<Micros>,
    created_at: Micros,
    updated_at: Micros,
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;

    fn try_from(r: MessageRow) -> StoreResult<Message> {
        let status = MessageStatus::parse(&r.status)
            .ok_or_else(|| StoreError::Corrupt(format!("webhook message status '{}'", r.status)))?;
        Ok(Message {
            id: r.id,
            endpoint_id: r.endpoint_id,
            event_id: r.event_id,
            event_type: r.event_type,
            payload: r.payload,
            status,
            step: r.step,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_attempt_at: r.last_attempt_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const MESSAGE_SELECT: &str = "SELECT m.id, m.endpoint_id, m.event_id, m.event_type, ev.payload, m.status, m.step, \
     m.attempts, m.next_attempt_at, m.last_attempt_at, m.created_at, m.updated_at \
     FROM webhook_messages m JOIN webhook_events ev ON ev.id = m.event_id";

pub async fn get_message(
    c: &mut impl Connection,
    org_id: &str,
    endpoint_id: &str,
    id: &str,
) -> StoreResult<Option<Message>> {
    let sql = format!("{MESSAGE_SELECT} WHERE m.org_id = $1 AND m.endpoint_id = $2 AND m.id = $3");
    let row: Option<MessageRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(endpoint_id).bind(id).fetch_optional(e).await)?;
    row.map(Message::try_from).transpose()
}

/// An endpoint's messages, newest first (optionally of one status), and how many match.
pub async fn list_messages(
    c: &mut impl Connection,
    org_id: &str,
    endpoint_id: &str,
    status: Option<MessageStatus>,
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<Message>, i64)> {
    let status = status.map(MessageStatus::as_str);
    let filter = "m.org_id = $1 AND m.endpoint_id = $2 AND ($3 = '' OR m.status = $3)";
    let sql = format!("{MESSAGE_SELECT} WHERE {filter} ORDER BY m.seq DESC LIMIT $4 OFFSET $5");
    let count = format!("SELECT COUNT(*) FROM webhook_messages m WHERE {filter}");
    let status = status.unwrap_or("");
    let rows: Vec<MessageRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(endpoint_id).bind(status).bind(limit).bind(offset).fetch_all(e).await)?;
    let total: i64 = on!(c, e => sqlx::query_scalar(AssertSqlSafe(count.as_str()))
        .bind(org_id).bind(endpoint_id).bind(status).fetch_one(e).await)?;
    Ok((
        rows.into_iter()
            .map(Message::try_from)
            .collect::<StoreResult<_>>()?,
        total,
    ))
}

/// Makes a message pending again with a fresh retry schedule, due at `now`. Returns false when
/// the endpoint has no such message.
pub async fn resend_message(
    c: &mut impl Connection,
    org_id: &str,
    endpoint_id: &str,
    id: &str,
    now: Micros,
) -> StoreResult<bool> {
    let n = on!(c, e => sqlx::query(
        "UPDATE webhook_messages SET status = 'pending', step = 0, next_attempt_at = $4, updated_at = $4
         WHERE org_id = $1 AND endpoint_id = $2 AND id = $3")
        .bind(org_id).bind(endpoint_id).bind(id).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Resends every failed message of the endpoint created at or after `since`; returns how many.
pub async fn recover_failed(
    c: &mut impl Connection,
    org_id: &str,
    endpoint_id: &str,
    since: Micros,
    now: Micros,
) -> StoreResult<u64> {
    Ok(on!(c, e => sqlx::query(
        "UPDATE webhook_messages SET status = 'pending', step = 0, next_attempt_at = $4, updated_at = $4
         WHERE org_id = $1 AND endpoint_id = $2 AND status = 'failed' AND created_at >= $3")
        .bind(org_id).bind(endpoint_id).bind(since).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?)
}

/// A message claimed for delivery, with what it is sent to and signed with.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub org_id: String,
    pub endpoint: Endpoint,
    pub message: Message,
    /// Proves the claim when the attempt is recorded.
    pub lease_token: String,
}

/// True when some enabled, unleased endpoint has a message due at `now` (a cheap read, so a
/// worker with nothing to do never takes the write lock).
pub async fn has_due(c: &mut impl Connection, now: Micros) -> StoreResult<bool> {
    let found: Option<i32> = on!(c, e => sqlx::query_scalar(
        "SELECT 1 FROM webhook_messages m JOIN webhook_endpoints w ON w.id = m.endpoint_id
         WHERE m.status = 'pending' AND m.next_attempt_at <= $1 AND w.enabled
           AND (w.lease_until IS NULL OR w.lease_until <= $1)
         LIMIT 1")
        .bind(now).fetch_optional(e).await)?;
    Ok(found.is_some())
}

/// Claims up to `limit` deliveries due at `now`: for each enabled endpoint without a live lease
/// that has a due message, the endpoint is leased until `lease_until` and its oldest due message
/// (by creation) is returned. So one endpoint has at most one delivery in flight, and first
/// attempts go out in creation order. On PostgreSQL endpoints locked by another server's claim
/// are skipped (`FOR UPDATE SKIP LOCKED`); SQLite has a single writer.
pub async fn claim_due(
    c: &mut impl Connection,
    now: Micros,
    lease_until: Micros,
    limit: i64,
) -> StoreResult<Vec<Claimed>> {
    let candidates = "SELECT w.id, w.org_id FROM webhook_endpoints w
         WHERE w.enabled AND (w.lease_until IS NULL OR w.lease_until <= $1)
           AND EXISTS (SELECT 1 FROM webhook_messages m
                       WHERE m.endpoint_id = w.id AND m.status = 'pending' AND m.next_attempt_at <= $1)
         ORDER BY COALESCE(w.lease_until, 0), w.id
         LIMIT $2";
    let endpoints: Vec<(String, String)> = match c.conn() {
        Conn::Sqlite(e) => {
            sqlx::query_as(candidates)
                .bind(now)
                .bind(limit)
                .fetch_all(e)
                .await?
        }
        Conn::Postgres(e) => {
            let sql = format!("{candidates} FOR UPDATE OF w SKIP LOCKED");
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(now)
                .bind(limit)
                .fetch_all(e)
                .await?
        }
    };
    let mut out = Vec::with_capacity(endpoints.len());
    for (endpoint_id, org_id) in endpoints {
        let sql = format!(
            "{MESSAGE_SELECT} WHERE m.endpoint_id = $1 AND m.status = 'pending' AND m.next_attempt_at <= $2
             ORDER BY m.seq LIMIT 1"
        );
        let row: Option<MessageRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
            .bind(&endpoint_id).bind(now).fetch_optional(e).await)?;
        let Some(row) = row else { continue };
        let token = ids::random_base62(22);
        on!(c, e => sqlx::query(
            "UPDATE webhook_endpoints SET lease_until = $2, lease_token = $3 WHERE id = $1")
            .bind(&endpoint_id).bind(lease_until).bind(&token)
            .execute(e).await.map(|r| r.rows_affected()))?;
        let endpoint = get_endpoint(c, &org_id, &endpoint_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("endpoint {endpoint_id} vanished")))?;
        out.push(Claimed {
            org_id,
            endpoint,
            message: Message::try_from(row)?,
            lease_token: token,
        });
    }
    Ok(out)
}

/// One delivery attempt's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub started_at: Micros,
    pub success: bool,
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    /// The start of the response body.
    pub response_body: Option<String>,
    /// Why no response was received, or why it was refused.
    pub error: Option<String>,
}

/// What happens after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterFailure {
    /// The next attempt's time, or `None` when the schedule is exhausted (the message fails).
    pub next_attempt_at: Option<Micros>,
    /// The endpoint is disabled when it has been failing since before this instant.
    pub disable_if_failing_since: Micros,
}

/// What [`record_attempt`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub attempt_id: String,
    pub status: MessageStatus,
    pub endpoint_disabled: bool,
}

/// Records an attempt of a claimed message, moves the message on (succeeded, pending at the next
/// step, or failed), keeps the endpoint's failure streak, disables an endpoint failing for too
/// long, and releases the endpoint's lease. `None` when the message no longer exists (its
/// endpoint was deleted meanwhile).
pub async fn record_attempt(
    c: &mut impl Connection,
    claim: &Claimed,
    outcome: &AttemptOutcome,
    after_failure: AfterFailure,
    now: Micros,
) -> StoreResult<Option<Recorded>> {
    let m = &claim.message;
    let attempt_id = ids::prefixed_id("atm");
    let attempts: Option<i32> = on!(c, e => sqlx::query_scalar(
        "SELECT attempts FROM webhook_messages WHERE id = $1")
        .bind(&m.id).fetch_optional(e).await)?;
    let Some(attempts) = attempts else {
        // The endpoint was deleted with its messages while this attempt ran.
        release(c, claim, now).await?;
        return Ok(None);
    };
    let attempt_no = attempts + 1;
    on!(c, e => sqlx::query(
        "INSERT INTO webhook_attempts (id, org_id, message_id, endpoint_id, attempt, started_at, success, status_code,
                                       latency_ms, response_body, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
        .bind(&attempt_id).bind(&claim.org_id).bind(&m.id).bind(&m.endpoint_id).bind(attempt_no)
        .bind(outcome.started_at).bind(outcome.success).bind(outcome.status_code).bind(outcome.latency_ms)
        .bind(&outcome.response_body).bind(&outcome.error)
        .execute(e).await.map(|r| r.rows_affected()))?;
    let (status, next) = if outcome.success {
        (MessageStatus::Succeeded, None)
    } else {
        match after_failure.next_attempt_at {
            Some(at) => (MessageStatus::Pending, Some(at)),
            None => (MessageStatus::Failed, None),
        }
    };
    on!(c, e => sqlx::query(
        "UPDATE webhook_messages SET status = $2, step = step + 1, attempts = attempts + 1, next_attempt_at = $3,
                last_attempt_at = $4, updated_at = $5
         WHERE id = $1")
        .bind(&m.id).bind(status.as_str()).bind(next).bind(outcome.started_at).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    let mut endpoint_disabled = false;
    if outcome.success {
        on!(c, e => sqlx::query("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1")
            .bind(&m.endpoint_id).execute(e).await.map(|r| r.rows_affected()))?;
    } else {
        on!(c, e => sqlx::query(
            "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2) WHERE id = $1")
            .bind(&m.endpoint_id).bind(outcome.started_at).execute(e).await.map(|r| r.rows_affected()))?;
        let n = on!(c, e => sqlx::query(
            "UPDATE webhook_endpoints SET enabled = FALSE, updated_at = $3,
                    disabled_reason = 'every delivery failed for the disabling period'
             WHERE id = $1 AND enabled AND failing_since <= $2")
            .bind(&m.endpoint_id).bind(after_failure.disable_if_failing_since).bind(now)
            .execute(e).await.map(|r| r.rows_affected()))?;
        endpoint_disabled = n == 1;
    }
    release(c, claim, now).await?;
    Ok(Some(Recorded {
        attempt_id,
        status,
        endpoint_disabled,
    }))
}

/// Gives up a claim without an attempt (the worker is stopping): the lease ends now and the
/// message stays as it was.
pub async fn release(c: &mut impl Connection, claim: &Claimed, now: Micros) -> StoreResult<()> {
    on!(c, e => sqlx::query(
        "UPDATE webhook_endpoints SET lease_until = $3, lease_token = NULL WHERE id = $1 AND lease_token = $2")
        .bind(&claim.endpoint.id).bind(&claim.lease_token).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// One attempt in the log.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Attempt {
    pub id: String,
    pub message_id: String,
    pub endpoint_id: String,
    pub attempt: i32,
    pub started_at: Micros,
    pub success: bool,
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// A message's attempts, oldest first.
pub async fn list_attempts(
    c: &mut impl Connection,
    org_id: &str,
    message_id: &str,
) -> StoreResult<Vec<Attempt>> {
    Ok(on!(c, e => sqlx::query_as(
        "SELECT id, message_id, endpoint_id, attempt, started_at, success, status_code, latency_ms, response_body, error
         FROM webhook_attempts WHERE org_id = $1 AND message_id = $2 ORDER BY attempt, started_at")
        .bind(org_id).bind(message_id).fetch_all(e).await)?)
}
