//! The patient's side of enrollment: the page an enrollment link (or its QR code) opens, where the
//! patient's wallet signs the challenge, and the JSON calls that page and `hrm enroll` make. The
//! code in the link is the credential, so these need no session (and no CSRF token: a forged
//! request cannot sign for the patient's account).

use std::sync::Arc;

use alloy::primitives::Address;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hrm::directory::DirectoryError;
use hrm::directory::enrollment::{enroll, open_challenge};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{hospital_label, page};
use super::listing::capitalised;
use super::signin::json_error;
use super::{PageError, Visit, WebApp};

/// `GET /enroll/{code}`: what the patient is asked to sign, and the button that asks their wallet.
pub async fn show(State(app): State<Arc<WebApp>>, visit: Visit, Path(code): Path<String>) -> Result<Markup, PageError> {
    let challenge = open_challenge(&app.archive, &code).await.map_err(refused_page)?;
    let names = app.ledger().await?.hospital_names().clone();
    let hospital = hospital_label(&names, challenge.hospital);
    Ok(page(
        &visit,
        "Link your account",
        html! {
            h1 { "Link your account to " (hospital) }
            section.card #enroll {
                p { (hospital) " asks you to link your Ethereum account to its record of you, medical record number " strong { (challenge.mrn) } ". Staff can then submit your health details by your name, and you see them here." }
                p { "Your wallet shows the message to sign. Signing costs nothing and sends no transaction." }
                details { summary { "The message" } pre.message { (challenge.message()) } }
                p.actions { button.primary #wallet-enroll type="button" data-code=(code) { "Sign with my wallet" } }
                p #enroll-status role="status" aria-live="polite" {}
                p.hint { "No browser wallet? On your own computer, run " code { "hrm enroll " (app.settings.public_url.as_str().trim_end_matches('/')) (challenge.path()) " --from YOUR_ACCOUNT" } "." }
            }
        },
    ))
}

fn refused_page(error: DirectoryError) -> PageError {
    match error {
        DirectoryError::Store(error) => PageError::failed(error),
        other => PageError::BadRequest(capitalised(&format!("{other}."))),
    }
}

/// `GET /enroll/{code}/message`: the message to sign and the chain it is for, as JSON.
pub async fn message(State(app): State<Arc<WebApp>>, Path(code): Path<String>) -> Response {
    match open_challenge(&app.archive, &code).await {
        Ok(challenge) => Json(serde_json::json!({
            "message": challenge.message(),
            "mrn": challenge.mrn,
            "hospital": challenge.hospital,
            "chain_id": app.consortium.connection().chain_id(),
        }))
        .into_response(),
        Err(error) => refused_json(error),
    }
}

/// What the patient's side sends: the account and its signature of the message.
#[derive(Debug, Deserialize)]
pub struct SignedEnrollment {
    account: String,
    signature: String,
}

/// `POST /enroll/{code}`: links the account, or says why not (as JSON).
pub async fn redeem(
    State(app): State<Arc<WebApp>>,
    Path(code): Path<String>,
    Json(signed): Json<SignedEnrollment>,
) -> Response {
    let Ok(account) = signed.account.trim().parse::<Address>() else {
        return json_error(StatusCode::BAD_REQUEST, &format!("'{}' is not an account address (0x…)", signed.account));
    };
    match enroll(&app.archive, &app.access_log, &code, account, &signed.signature).await {
        Ok(link) => {
            app.patient_names_cache.forget(account);
            Json(serde_json::json!({ "mrn": link.mrn, "account": account })).into_response()
        }
        Err(error) => refused_json(error),
    }
}

fn refused_json(error: DirectoryError) -> Response {
    let status = match &error {
        DirectoryError::UnknownChallenge => StatusCode::NOT_FOUND,
        DirectoryError::BadSignature(_) | DirectoryError::ForeignSignature { .. } => StatusCode::UNAUTHORIZED,
        DirectoryError::AccountAlreadyEnrolled { .. } | DirectoryError::MrnAlreadyEnrolled { .. } => {
            StatusCode::CONFLICT
        }
        DirectoryError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    json_error(status, &error.to_string())
}
