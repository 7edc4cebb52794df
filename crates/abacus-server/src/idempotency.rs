//! `Idempotency-Key` on writes: a repeat gets the stored response (`Idempotent-Replayed: true`),
//! the same key with another request is 422, a repeat while the first is running is 409 with
//! `Retry-After`. Responses are kept for 24 hours; only successful responses are stored, so a
//! request that failed can be retried with its key.
//!
//! The layer claims the key before the handler runs. A handler that writes stores its response in
//! its own transaction through [`Idem::commit`], so the write and the stored response commit
//! together; for any other handler the layer stores the response after it returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use abacus_core::time::{Micros, now_micros};
use abacus_store::Tx;
use abacus_store::idempotency::{self, Claim, StoredResponse};
use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::auth::Tenant;
use crate::extract::read_body;
use crate::problem::{ApiError, ApiResult};

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED: &str = "idempotent-replayed";
const LEASE: Micros = 60 * 1_000_000;
const MAX_KEY_LEN: usize = 255;

/// A key this request holds.
#[derive(Clone, Debug)]
struct IdemClaim {
    org_id: String,
    key: String,
    owner: String,
    completed: Arc<AtomicBool>,
}

pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let wake = state.webhooks_wake.clone();
    let response = match run(state, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    // A successful write may have put webhook messages in the outbox: start delivering now
    // rather than at the worker's next poll.
    if response.status().is_success() {
        wake.notify_one();
    }
    response
}

async fn run(state: AppState, req: Request, next: Next) -> ApiResult<Response> {
    let is_write = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let (Some(key), Some(tenant), true) = (
        req.headers().get(HEADER),
        req.extensions().get::<Tenant>(),
        is_write,
    ) else {
        return Ok(next.run(req).await);
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::bad_param(
                "Idempotency-Key",
                format!("must be 1 to {MAX_KEY_LEN} printable characters"),
            )
        })?
        .to_string();
    let org_id = tenant.org_id.clone();

    let (mut parts, body) = req.into_parts();
    let bytes = read_body(body, state.config.max_body_bytes).await?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("")
            .as_bytes(),
    );
    hasher.update(b"\n");
    hasher.update(&bytes);
    let hash = hasher.finalize().to_vec();

    let owner = uuid::Uuid::new_v4().to_string();
    let now = now_micros();
    let mut tx = state.db.begin().await?;
    let claim = idempotency::claim(&mut tx, &org_id, &key, &hash, &owner, now, now + LEASE).await?;
    tx.commit().await?;

    match claim {
        Claim::Mismatch => Err(ApiError::invalid_field(
            "Idempotency-Key",
            format!("'{key}' was already used with a different request; use a new key for a new request"),
        )),
        Claim::InProgress { retry_after_secs } => Err(ApiError::conflict(format!(
            "A request with Idempotency-Key '{key}' is still being processed; retry after it completes"
        ))
        .with_retry_after(retry_after_secs)),
        Claim::Replay(stored) => Ok(replay(stored)),
        Claim::Claimed => {
            let claim = IdemClaim { org_id, key, owner, completed: Arc::new(AtomicBool::new(false)) };
            parts.extensions.insert(claim.clone());
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            finish(&state, &claim, response).await
        }
    }
}

/// What makes two requests "the same": method, path with query, and body.
pub fn fingerprint(method: &str, path_and_query: &str, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b"\n");
    hasher.update(path_and_query.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher.finalize().to_vec()
}

/// After the handler: keep a response it already stored, store a success it did not, release the
/// key after a failure.
async fn finish(state: &AppState, claim: &IdemClaim, response: Response) -> ApiResult<Response> {
    if claim.completed.load(Ordering::SeqCst) {
        return Ok(response);
    }
    let mut tx = state.db.begin().await?;
    if !response.status().is_success() {
        idempotency::release(&mut tx, &claim.org_id, &claim.key, &claim.owner).await?;
        tx.commit().await?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX)
        .await
        .map_err(|_| ApiError::internal())?;
    let stored = StoredResponse {
        status: parts.status.as_u16(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        body: body.to_vec(),
    };
    idempotency::complete(&mut tx, &claim.org_id, &claim.key, &claim.owner, &stored).await?;
    tx.commit().await?;
    Ok(Response::from_parts(parts, Body::from(body)))
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    if let Some(ct) = stored
        .content_type
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// The idempotency claim of the current request, if it sent a key.
pub struct Idem(Option<IdemClaim>);

impl<S: Send + Sync> FromRequestParts<S> for Idem {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Idem(parts.extensions.get::<IdemClaim>().cloned()))
    }
}

impl Idem {
    /// Commits a handler's transaction together with its response, and returns that response.
    pub async fn commit(
        self,
        mut tx: Tx,
        status: StatusCode,
        body: &impl Serialize,
    ) -> ApiResult<Response> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            tracing::error!(error = %e, "response serialisation failed");
            ApiError::internal()
        })?;
        if let Some(claim) = &self.0 {
            let stored = StoredResponse {
                status: status.as_u16(),
                content_type: Some("application/json".into()),
                body: bytes.clone(),
            };
            if !idempotency::complete(&mut tx, &claim.org_id, &claim.key, &claim.owner, &stored)
                .await?
            {
                tx.rollback().await?;
                return Err(ApiError::conflict(
                    "This request took too long and a retry with the same Idempotency-Key has taken over; nothing was written",
                ));
            }
        }
        tx.commit().await?;
        if let Some(claim) = &self.0 {
            claim.completed.store(true, Ordering::SeqCst);
        }
        Ok(json_response(status, bytes))
    }
}

pub fn json_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
