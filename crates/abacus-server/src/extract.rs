//! Request extractors that fail with problem documents naming the field at fault.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::problem::ApiError;

/// A JSON body. Malformed JSON is 400; a well-formed body with a wrong type or a missing field is
/// 422 naming the field (`contacts[0].isPrimary`). Unknown fields are ignored.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req.into_body(), state.config.max_body_bytes).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// How much of an oversized body is read and thrown away before answering 413, so that a client
/// still sending gets to read the answer instead of a reset connection.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// Reads a whole body of at most `limit` bytes; a larger one is 413.
pub async fn read_body(mut body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::bad_request(format!("The request body could not be read: {e}"))
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        if seen > limit {
            if seen > DRAIN_LIMIT {
                break;
            }
            continue;
        }
        buf.extend_from_slice(&data);
    }
    if seen > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The request body is larger than the {limit} bytes the server accepts."),
        ));
    }
    Ok(Bytes::from(buf))
}

/// Parses a JSON document into `T`, classifying failures as described on [`ApiJson`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "The request body is empty; a JSON document was expected.",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        json_error(&path, &inner)
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("Malformed JSON: {e}")))?;
    Ok(value)
}

fn json_error(path: &str, e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request(format!("Malformed JSON: {e}"))
        }
        Category::Data => {
            let message = strip_position(&e.to_string());
            let field = match message
                .strip_prefix("missing field `")
                .and_then(|m| m.split('`').next())
            {
                Some(missing) if path == "." => missing.to_string(),
                Some(missing) => format!("{path}.{missing}"),
                None if path == "." => "body".to_string(),
                None => path.to_string(),
            };
            let message = if message.starts_with("missing field") {
                "is required".to_string()
            } else {
                message
            };
            ApiError::invalid_field(&field, message)
        }
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// A JSON body that may be left out: an empty body is `T::default()` (action endpoints such as
/// `POST /invoices/{id}/issue`, which the SDK calls with or without a body).
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req.into_body(), state.config.max_body_bytes).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

/// Query parameters, read one by one so that a bad value is reported with its name. Parameters
/// the endpoint does not know are ignored.
pub struct QueryParams(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::bad_request(format!("The query string is malformed: {e}")))?;
        Ok(QueryParams(pairs.into_iter().collect()))
    }
}

impl QueryParams {
    /// A non-empty string parameter.
    pub fn string(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.is_empty()).cloned()
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.string(name)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| ApiError::bad_param(name, format!("'{v}' is not an integer")))
            })
            .transpose()
    }

    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.string(name)
            .map(|v| match v.as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(ApiError::bad_param(
                    name,
                    format!("'{v}' is not a boolean (true or false)"),
                )),
            })
            .transpose()
    }

    /// A comma-separated list (`tag_ids=a,b`), empty when absent.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.string(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `field:asc|desc` where field is one of `allowed`; `None` when absent.
    pub fn sort<'a>(&self, allowed: &[&'a str]) -> Result<Option<(&'a str, bool)>, ApiError> {
        let Some(v) = self.string("sort") else {
            return Ok(None);
        };
        let (field, order) = v.split_once(':').unwrap_or((v.as_str(), "asc"));
        let descending = match order {
            "asc" => false,
            "desc" => true,
            _ => {
                return Err(ApiError::bad_param(
                    "sort",
                    format!("order '{order}' is not asc or desc"),
                ));
            }
        };
        let field = allowed.iter().find(|f| **f == field).ok_or_else(|| {
            ApiError::bad_param(
                "sort",
                format!(
                    "'{field}' is not sortable; use one of {}",
                    allowed.join(", ")
                ),
            )
        })?;
        Ok(Some((field, descending)))
    }
}

/// Deserializes part of a body that was read as JSON already (`value` sits at `prefix`, e.g.
/// `prices[2]`; empty for the whole body), with the same classification as [`ApiJson`] and paths that include the prefix.
pub fn parse_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = match inner.as_str() {
            p if prefix.is_empty() => p.to_string(),
            "." => prefix.to_string(),
            p if p.starts_with('[') => format!("{prefix}{p}"),
            p => format!("{prefix}.{p}"),
        };
        json_error(&path, &e.into_inner())
    })
}
