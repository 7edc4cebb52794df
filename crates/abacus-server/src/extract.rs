//! Request extractors that fail with problem documents naming the field at fault.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

/// A JSON body. Malformed JSON is 400; a well-formed body with a wrong type or a missing field is
/// 422 naming the field (`contacts[0].isPrimary`). Unknown fields are ignored.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse_json(&bytes).map(ApiJson)
    }
}

fn body_error(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request body is larger than the server accepts.",
        )
    } else {
        ApiError::bad_request(format!("The request body could not be read: {e}"))
    }
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
