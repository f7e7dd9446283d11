//! The hospital-to-hospital API, `/api/v1/`: the third edge beside the pages and the CLI.
//!
//! Other hospitals' servers (and patients' `hrm`) push and pull sealed envelopes here. Nothing of
//! the pages applies: no session, no cookie, no CSRF token; each request carries its own EIP-712
//! signature, and the library's exchange decides (`hrm::exchange`). Handlers only parse the
//! request, call the library and turn its answer into a status and a JSON error.

mod envelopes;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hrm::exchange::{ExchangeError, ExchangeRefusal};
use serde_json::json;

use super::WebApp;

/// The API's routes.
pub fn router(app: Arc<WebApp>) -> Router {
    Router::new().route("/api/v1/envelopes/{entry}", get(envelopes::pull).put(envelopes::push)).with_state(app)
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
