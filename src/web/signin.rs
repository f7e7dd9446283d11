//! Signing in and out: staff with a user name and password, patients with Sign-In with Ethereum
//! (from a browser wallet, or a one-time link that `hrm login` obtains with the local keystore).

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::Address;
use axum::Json;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use hrm::siwe::SiweError;
use hrm::store::{StaffError, StaffRole};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::layout::{csrf_field, page};
use super::session::session_cookie;
use super::{PageError, Principal, Visit, WebApp};

/// `/`: each visitor's start page.
pub async fn home(visit: Visit) -> Redirect {
    Redirect::to(start_page(visit.session.principal.as_ref()))
}

fn start_page(principal: Option<&Principal>) -> &'static str {
    match principal {
        None => "/sign-in",
        Some(Principal::Patient { .. }) => "/patient",
        Some(Principal::Staff { roles, .. }) => {
            if roles.contains(&StaffRole::Clerk) {
                "/clerk"
            } else if roles.contains(&StaffRole::Reviewer) {
                "/reviewer"
            } else {
                "/admin"
            }
        }
    }
}

/// The sign-in page.
fn sign_in_page(app: &WebApp, visit: &Visit, error: Option<&str>) -> Markup {
    page(
        visit,
        "Sign in",
        html! {
            h1 { "Sign in" }
            div.columns {
                section.card {
                    h2 { "Patients" }
                    p { "Sign in with the wallet that holds your patient account. Nothing is paid and no transaction is sent." }
                    button #wallet-sign-in.primary type="button" { "Sign in with your wallet" }
                    p #wallet-status.hint role="status" {}
                    details {
                        summary { "No browser wallet?" }
                        p { "Run this on the computer that holds your account, then open the link it prints:" }
                        pre { code { "hrm login " (app.settings.public_url.as_str().trim_end_matches('/')) " --from <your account>" } }
                    }
                }
                section.card {
                    h2 { "Hospital staff" }
                    @if let Some(error) = error { p.error role="alert" { (error) } }
                    form method="post" action="/sign-in/staff" {
                        (csrf_field(visit))
                        label { "User name" input name="username" autocomplete="username" required; }
                        label { "Password" input name="password" type="password" autocomplete="current-password" required; }
                        button.primary type="submit" { "Sign in" }
                    }
                }
            }
        },
    )
}

/// `GET /sign-in`.
pub async fn show(State(app): State<Arc<WebApp>>, visit: Visit) -> Response {
    if visit.session.principal.is_some() {
        return Redirect::to(start_page(visit.session.principal.as_ref())).into_response();
    }
    sign_in_page(&app, &visit, None).into_response()
}

#[derive(Deserialize)]
pub struct StaffSignIn {
    username: String,
    password: String,
}

/// `POST /sign-in/staff`.
pub async fn staff(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Form(form): Form<StaffSignIn>,
) -> Result<Response, PageError> {
    let username = form.username.trim().to_ascii_lowercase();
    let throttled = app.throttle.wait_before_next(visit.client, Some(&username)).await.map_err(PageError::failed)?;
    if let Some(wait) = throttled {
        let message = too_many_attempts(wait);
        return Ok((StatusCode::TOO_MANY_REQUESTS, sign_in_page(&app, &visit, Some(&message))).into_response());
    }
    match app.archive.sign_in_staff(&username, &form.password).await {
        Ok(account) => {
            let principal = Principal::staff(&account);
            let start = Redirect::to(start_page(Some(&principal)));
            signed_in(&app, &visit, principal, start).await
        }
        Err(StaffError::SignInRefused) => {
            app.throttle.record_failure(visit.client, Some(&username)).await.map_err(PageError::failed)?;
            let message = format!("{}.", capitalise(&StaffError::SignInRefused.to_string()));
            Ok((StatusCode::UNAUTHORIZED, sign_in_page(&app, &visit, Some(&message))).into_response())
        }
        Err(other) => Err(PageError::failed(other)),
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn too_many_attempts(wait: Duration) -> String {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    format!(
        "Too many failed sign-ins. Wait {minutes} minute(s) and try again, or ask your hospital's admin to reset your password."
    )
}

/// Ends the visitor's session and starts a signed-in one (a new id, so a planted cookie is useless).
async fn signed_in(
    app: &WebApp,
    visit: &Visit,
    principal: Principal,
    then: impl IntoResponse,
) -> Result<Response, PageError> {
    let session = app.sessions.rotate(&visit.session.id, principal).await.map_err(PageError::failed)?;
    let mut response = then.into_response();
    let cookie = session_cookie(&session.id, app.secure_cookies());
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("cookie is ASCII"));
    Ok(response)
}

#[derive(Deserialize)]
pub struct ChallengeRequest {
    address: String,
}

#[derive(Serialize)]
pub struct ChallengeReply {
    message: String,
}

/// `POST /sign-in/challenge`: an EIP-4361 message for the address to sign.
pub async fn challenge(State(app): State<Arc<WebApp>>, Json(request): Json<ChallengeRequest>) -> Response {
    let Ok(address) = request.address.trim().parse::<Address>() else {
        return json_error(StatusCode::BAD_REQUEST, "the address is not a 0x-prefixed 20-byte hex address");
    };
    match app.challenges.issue(address).await {
        Ok(message) => Json(ChallengeReply { message: message.to_text() }).into_response(),
        Err(error) => json_error(StatusCode::SERVICE_UNAVAILABLE, &error.to_string()),
    }
}

#[derive(Deserialize)]
pub struct SignedChallenge {
    message: String,
    signature: String,
}

/// `POST /sign-in/wallet`: a browser wallet's signature signs the patient in.
pub async fn wallet(State(app): State<Arc<WebApp>>, visit: Visit, Json(signed): Json<SignedChallenge>) -> Response {
    let patient = match redeem(&app, &visit, &signed).await {
        Ok(patient) => patient,
        Err((status, reason)) => return json_error(status, &reason),
    };
    let then = Json(serde_json::json!({ "redirect": "/patient" }));
    match signed_in(&app, &visit, Principal::Patient { address: patient }, then).await {
        Ok(response) => response,
        Err(_) => json_error(StatusCode::SERVICE_UNAVAILABLE, "the session could not be stored; try again in a minute"),
    }
}

/// `POST /sign-in/device`: `hrm login` trades a signature for a one-time sign-in link.
pub async fn device(State(app): State<Arc<WebApp>>, visit: Visit, Json(signed): Json<SignedChallenge>) -> Response {
    let patient = match redeem(&app, &visit, &signed).await {
        Ok(patient) => patient,
        Err((status, reason)) => return json_error(status, &reason),
    };
    match app.sign_in_link(patient).await {
        Ok(link) => Json(serde_json::json!({ "link": link })).into_response(),
        Err(error) => json_error(StatusCode::SERVICE_UNAVAILABLE, &error.to_string()),
    }
}

/// The patient a signed challenge signs in, or the refusal's status and reason.
async fn redeem(app: &WebApp, visit: &Visit, signed: &SignedChallenge) -> Result<Address, (StatusCode, String)> {
    let unavailable = |error: hrm::store::StoreError| (StatusCode::SERVICE_UNAVAILABLE, error.to_string());
    if let Some(wait) = app.throttle.wait_before_next(visit.client, None).await.map_err(unavailable)? {
        return Err((StatusCode::TOO_MANY_REQUESTS, too_many_attempts(wait)));
    }
    match app.challenges.redeem(&signed.message, &signed.signature).await {
        Ok(patient) => match app.consortium.recovered_to(patient).await {
            Ok(None) => Ok(patient),
            Ok(Some(moved)) => Err((
                StatusCode::FORBIDDEN,
                format!(
                    "{patient} was moved by its guardians to {moved} and can do nothing more; sign in with {moved}"
                ),
            )),
            Err(error) => Err((StatusCode::SERVICE_UNAVAILABLE, error.to_string())),
        },
        Err(error @ SiweError::Unavailable(_)) => Err((StatusCode::SERVICE_UNAVAILABLE, error.to_string())),
        Err(error) => {
            app.throttle.record_failure(visit.client, None).await.map_err(unavailable)?;
            Err((StatusCode::UNAUTHORIZED, error.to_string()))
        }
    }
}

/// A JSON refusal, `{"error": message}`, as the wallet and CLI calls expect.
pub(super) fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// `GET /sign-in/link/{token}`: a one-time link from `hrm login`.
pub async fn link(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    match app.links.redeem(&token).await.map_err(PageError::failed)? {
        Some(patient) => signed_in(&app, &visit, Principal::Patient { address: patient }, Redirect::to("/patient")).await,
        None => Err(PageError::BadRequest(
            "This sign-in link is unknown, already used or expired (links work once, for 5 minutes). Run `hrm login` again."
                .into(),
        )),
    }
}

/// `POST /sign-out`.
pub async fn sign_out(State(app): State<Arc<WebApp>>, visit: Visit) -> Result<Redirect, PageError> {
    app.sessions.end(&visit.session.id).await.map_err(PageError::failed)?;
    Ok(Redirect::to("/sign-in"))
}
