//! The `Alguna-Version` header: which API generation a request speaks.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::problem::ApiError;

pub const HEADER: &str = "alguna-version";
/// The only dated version Alguna has published.
pub const SUPPORTED: &[&str] = &["2026-04-01"];

/// The surface a request speaks. Paths shared by both generations (`/events`, `/metrics`, ...)
/// answer in v2 shape when the request carries `Alguna-Version`, else in v1 shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    V2,
}

/// Rejects unknown versions with 400 and records the surface for the handlers.
pub async fn check(mut req: Request, next: Next) -> Response {
    let version = match req.headers().get(HEADER) {
        None => ApiVersion::V1,
        Some(v) => match v.to_str() {
            Ok(s) if SUPPORTED.contains(&s.trim()) => ApiVersion::V2,
            _ => {
                let shown = String::from_utf8_lossy(v.as_bytes()).into_owned();
                return ApiError::bad_param(
                    "Alguna-Version",
                    format!(
                        "unknown API version '{shown}'; supported: {}",
                        SUPPORTED.join(", ")
                    ),
                )
                .into_response();
            }
        },
    };
    req.extensions_mut().insert(version);
    next.run(req).await
}

impl<S: Send + Sync> FromRequestParts<S> for ApiVersion {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ApiVersion>()
            .copied()
            .unwrap_or(ApiVersion::V1))
    }
}
