//! API keys and the authentication layer.
//!
//! A key is `<key_id>.<secret>`, sent as `Authorization: Bearer <key>`. The key id is stored in
//! clear (it names the key in logs and the CLI); the secret only as its SHA-256 digest, compared in
//! constant time. SHA-256 rather than a password hash because generated secrets carry ~238 bits of
//! entropy, which no brute force reaches, and a password hash would cost milliseconds per request.

use abacus_core::ids;
use abacus_core::time::{Micros, now_micros};
use abacus_store::{Connection, api_keys, orgs};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::problem::ApiError;

/// The organization (and key) a request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub org_id: String,
    pub key_id: String,
}

/// A key split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyParts<'a> {
    pub key_id: &'a str,
    pub secret: &'a str,
}

const MIN_SECRET_LEN: usize = 16;

/// Parses `<key_id>.<secret>`: the id is 1 to 64 of `[A-Za-z0-9_-]`, the secret 16 to 256
/// printable characters.
pub fn parse_key(key: &str) -> Result<KeyParts<'_>, String> {
    let (key_id, secret) = key
        .split_once('.')
        .ok_or("an API key has the form <key_id>.<secret>")?;
    if key_id.is_empty()
        || key_id.len() > 64
        || !key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err("the key id must be 1 to 64 letters, digits, '_' or '-'".into());
    }
    if secret.len() < MIN_SECRET_LEN
        || secret.len() > 256
        || !secret.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(format!(
            "the secret must be {MIN_SECRET_LEN} to 256 printable characters"
        ));
    }
    Ok(KeyParts { key_id, secret })
}

pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A fresh key: `ak_` + 16 base62 characters, a dot, and a 40-character base62 secret.
pub fn generate_key() -> String {
    format!("ak_{}.{}", ids::random_base62(16), ids::random_base62(40))
}

/// Stores `key` (or a generated one) for `org_id`. Returns the stored record and the full key,
/// which is shown once and never again.
pub async fn create_key(
    c: &mut impl Connection,
    org_id: &str,
    name: &str,
    key: Option<&str>,
) -> anyhow::Result<(api_keys::ApiKey, String)> {
    let full = match key {
        Some(k) => k.to_string(),
        None => generate_key(),
    };
    let parts = parse_key(&full).map_err(|e| anyhow::anyhow!("invalid API key: {e}"))?;
    let record = api_keys::insert(
        c,
        parts.key_id,
        org_id,
        name,
        &hash_secret(parts.secret),
        now_micros(),
    )
    .await?;
    Ok((record, full))
}

/// Creates the first organization and its key when the database has no organization. Returns
/// the new organization and key when it did.
pub async fn bootstrap(
    db: &abacus_store::Db,
    provided_key: Option<&str>,
) -> anyhow::Result<Option<(orgs::Organization, String)>> {
    let mut tx = db.begin().await?;
    orgs::lock_for_bootstrap(&mut tx).await?;
    if orgs::count(&mut tx).await? > 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    let org = orgs::Organization {
        id: orgs::new_id(),
        name: "Default organization".into(),
        time_zone: "UTC".into(),
        created_at: now_micros(),
    };
    orgs::insert(&mut tx, &org).await?;
    let (_, key) = create_key(&mut tx, &org.id, "bootstrap", provided_key).await?;
    tx.commit().await?;
    Ok(Some((org, key)))
}

/// A key's use is recorded at most once a minute.
const TOUCH_INTERVAL: Micros = 60 * 1_000_000;

/// Authenticates the request and records its [`Tenant`]; 401 with a problem document otherwise.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().map(str::to_owned));
    match tenant_of(&state, header).await {
        Ok(tenant) => {
            req.extensions_mut().insert(tenant);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn tenant_of(
    state: &AppState,
    header: Option<Result<String, axum::http::header::ToStrError>>,
) -> Result<Tenant, ApiError> {
    let header = header.ok_or_else(|| {
        ApiError::unauthorized("Missing API key: send 'Authorization: Bearer <key>'.")
    })?;
    let value = header.map_err(|_| ApiError::unauthorized("Malformed Authorization header."))?;
    let value = value.as_str();
    let (scheme, key) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || key.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "Malformed Authorization header: expected 'Bearer <key>'.",
        ));
    }
    let parts = parse_key(key.trim())
        .map_err(|e| ApiError::unauthorized(format!("Malformed API key: {e}.")))?;
    let mut conn = state.db.read().await?;
    let creds = api_keys::find_active(&mut conn, parts.key_id).await?;
    drop(conn);
    let invalid = || ApiError::unauthorized("Invalid or revoked API key.");
    let creds = creds.ok_or_else(invalid)?;
    if !bool::from(creds.secret_hash.ct_eq(&hash_secret(parts.secret))) {
        return Err(invalid());
    }
    let now = now_micros();
    if creds.last_used_at.is_none_or(|t| t < now - TOUCH_INTERVAL) {
        let db = state.db.clone();
        let key_id = creds.id.clone();
        tokio::spawn(async move {
            let touched = async {
                let mut tx = db.begin().await?;
                api_keys::touch(&mut tx, &key_id, now, now - TOUCH_INTERVAL).await?;
                tx.commit().await
            };
            if let Err(e) = touched.await {
                tracing::warn!(error = %e, "could not record API key use");
            }
        });
    }
    Ok(Tenant {
        org_id: creds.org_id,
        key_id: creds.id,
    })
}

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Tenant>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("Not authenticated."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse() {
        let key = generate_key();
        let parts = parse_key(&key).unwrap();
        assert!(parts.key_id.starts_with("ak_"));
        assert_eq!(parts.secret.len(), 40);
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "nodot",
            ".secretsecretsecret",
            "id.short",
            "bad id.secretsecretsecret",
            "id.secret with spaces!",
        ] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
        assert!(parse_key("abacus_ci.0123456789abcdef").is_ok());
    }

    #[test]
    fn hashes_are_sha256() {
        assert_eq!(hash_secret("x").len(), 32);
        assert_ne!(hash_secret("x"), hash_secret("y"));
    }
}
