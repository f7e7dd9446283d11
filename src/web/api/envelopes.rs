//! `GET /api/v1/envelopes/{entry}` (pull) and `PUT /api/v1/envelopes/{entry}` (push).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hrm::exchange::{
    ExchangeAction, ExchangeError, ExchangeRefusal, ExchangeServer, MAX_ENVELOPE_BYTES, SignedRequest, accept_push,
    serve_pull,
};
use serde_json::json;

use super::refused;
use crate::web::WebApp;

fn signed_request(action: ExchangeAction, entry: u64, headers: &HeaderMap) -> Result<SignedRequest, ExchangeError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    Ok(SignedRequest::from_headers(action, entry, header)?)
}

fn server(app: &WebApp) -> ExchangeServer<'_> {
    ExchangeServer { consortium: &app.consortium, archive: &app.archive, hospital: app.hospital_address() }
}

/// A recipient pulls an envelope this hospital holds.
pub async fn pull(State(app): State<Arc<WebApp>>, Path(entry): Path<u64>, headers: HeaderMap) -> Response {
    let result = async {
        let request = signed_request(ExchangeAction::Pull, entry, &headers)?;
        serve_pull(&server(&app), &request).await
    }
    .await;
    match result {
        Ok(envelope) => ([(header::CONTENT_TYPE, "application/octet-stream")], envelope).into_response(),
        Err(error) => refused(error),
    }
}

/// Another recipient pushes an envelope this hospital may hold.
pub async fn push(State(app): State<Arc<WebApp>>, Path(entry): Path<u64>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let request = signed_request(ExchangeAction::Push, entry, &headers)?;
        let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let envelope = axum::body::to_bytes(body, MAX_ENVELOPE_BYTES)
            .await
            .map_err(|_| ExchangeRefusal::TooLarge(length.unwrap_or(MAX_ENVELOPE_BYTES + 1)))?;
        accept_push(&server(&app), &request, &envelope).await
    }
    .await;
    match result {
        Ok(()) => (StatusCode::CREATED, axum::Json(json!({ "stored": true }))).into_response(),
        Err(error) => refused(error),
    }
}
