//! `GET /healthz` and `GET /readyz`, for a load balancer or an orchestrator: outside the pages'
//! sessions (a probe gets no cookie), in JSON, and saying nothing of any patient.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hrm::readiness::check_readiness;
use serde_json::json;

use super::WebApp;

pub fn router(app: Arc<WebApp>) -> Router {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(app)
}

/// The process is up and answering.
async fn healthz() -> Response {
    Json(json!({ "status": "up" })).into_response()
}

/// 200 when the node, the database and (with `--follow`) the follower are fit to serve; 503 with
/// the failing checks otherwise.
async fn readyz(State(app): State<Arc<WebApp>>) -> Response {
    let readiness = check_readiness(&app.consortium, &app.archive, app.settings.ready_max_lag).await;
    let status = if readiness.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(readiness)).into_response()
}
