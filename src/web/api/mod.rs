//! The hospital-to-hospital API, `/api/v1/`: the third edge beside the pages and the CLI.
//!
//! Other hospitals' servers (and patients' `hrm`) push and pull sealed envelopes here. Nothing of
//! the pages applies: no session, no cookie, no CSRF token; each request carries its own EIP-712
//! signature, and the library's exchange decides (`hrm::exchange`). Handlers only parse the
//! request, call the library and turn its answer into a status and a JSON error.

mod envelopes;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hrm::exchange::{ExchangeError, ExchangeRefusal};
use serde_json::json;

use super::WebApp;

/// The API's routes, with their own request log.
pub fn router(app: Arc<WebApp>) -> Router {
    Router::new()
        .route("/api/v1/envelopes/{entry}", get(envelopes::pull).put(envelopes::push))
        .layer(middleware::from_fn_with_state(app.clone(), log_request))
        .with_state(app)
}

/// The status and JSON body of an exchange that did not happen; the reason is the library's
/// sentence, which names neither the envelope nor any record.
fn refused(error: ExchangeError) -> Response {
    use ExchangeRefusal as R;
    let status = match &error {
        ExchangeError::Refused(refusal) => match refusal {
            R::Unsigned(_) | R::Malformed(_) => StatusCode::BAD_REQUEST,
            R::Forged { .. } | R::Stale { .. } => StatusCode::UNAUTHORIZED,
            R::Replayed => StatusCode::CONFLICT,
            R::UnknownEntry(_) | R::NotHeld(_) => StatusCode::NOT_FOUND,
            R::NotRecipient { .. } | R::NotForThisHospital { .. } => StatusCode::FORBIDDEN,
            R::DigestMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            R::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            R::Erased(_) => StatusCode::GONE,
        },
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, axum::Json(json!({ "error": error.to_string() }))).into_response()
}

/// Logs method, path, status and time: no header (signatures), no body (envelopes).
async fn log_request(State(app): State<Arc<WebApp>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let response = next.run(request).await;
    if app.settings.log_requests {
        eprintln!("{method} {path} {} {:.1} ms", response.status().as_u16(), started.elapsed().as_secs_f64() * 1e3);
    }
    response
}
