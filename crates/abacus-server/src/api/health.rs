//! `GET /healthz`: the process is up and its database answers.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz(State(state): State<AppState>) -> Response {
    let db_ok = match state.db.read().await {
        Ok(mut c) => abacus_store::orgs::count(&mut c).await.is_ok(),
        Err(_) => false,
    };
    let backend = format!("{:?}", state.db.backend()).to_lowercase();
    if db_ok {
        Json(serde_json::json!({"status": "ok", "database": backend})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "unavailable", "database": backend})),
        )
            .into_response()
    }
}
