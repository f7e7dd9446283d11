//! `hrm serve`: the web app for patients and hospital staff, the second edge over the library
//! beside `src/cli/`.
//!
//! Handlers parse the request, call the same library functions the CLI calls, and render HTML
//! (maud, compiled in). Every page checks the visitor's role on the server; the session layer adds
//! the security headers and refuses any state-changing request without the session's CSRF token.

mod admin;
mod api;
mod archive_cache;
mod assets;
mod chart;
mod clerk;
mod client_address;
mod directory;
mod enroll;
mod entries;
mod guardians;
mod history_cache;
mod layout;
mod listing;
mod metrics_endpoint;
mod name_cache;
mod observe;
mod patient;
mod patients;
mod probes;
mod reviewer;
mod session;
mod signin;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest::Url;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hrm::access::{AccessLog, Reader};
use hrm::audit::AuditReport;
use hrm::chain::Consortium;
use hrm::chain::ledger::EntryLedger;
use hrm::follower::FollowEvent;
use hrm::identity::Identities;
use hrm::migration::{MigrationOptions, MigrationReport};
use hrm::ml::ModelFile;
use hrm::records::RecipientKey;
use hrm::siwe::{SignInChallenges, domain_of};
use hrm::store::{Archive, StaffRole};
use hrm::submission::recipient_key;
use mongodb::bson;

pub use metrics_endpoint::serve_metrics;
pub use session::{Principal, Session};
use session::{Sessions, SignInLinks, SignInThrottle};

/// The strict policy: only this server's own scripts, styles and images; no inline script, no
/// framing, forms only to this server.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// Largest request body accepted (forms and sign-in messages are small).
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Paths that take no CSRF token: the sign-in API `hrm login` calls. It carries no cookie, so a
/// forged cross-site request gains nothing, and its answer is only usable by the key holder.
const CSRF_EXEMPT: [&str; 2] = ["/sign-in/challenge", "/sign-in/device"];

/// How the server was started.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// The URL people reach the server at; its host is the SIWE domain, and `https` makes cookies
    /// Secure.
    pub public_url: Url,
    /// The diabetes model used for patients' predictions.
    pub model_path: PathBuf,
    pub migration: MigrationOptions,
    /// A block explorer (`<url>/tx/<hash>`) for transaction links; none on local chains.
    pub explorer_url: Option<Url>,
    /// With the follower in this process (`--follow`): how many blocks it may fall behind the
    /// head before `/readyz` says the server is not ready.
    pub ready_max_lag: Option<u64>,
    /// Reverse proxies whose `X-Forwarded-For` (or `Forwarded`) header names the client; any
    /// other peer is the client itself.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// What the last migration and audit started from the admin page did.
#[derive(Debug, Default)]
pub struct AdminRuns {
    pub migration: Option<Result<MigrationReport, String>>,
    pub audit: Option<Result<AuditReport, String>>,
}

/// The in-process follower (`hrm serve --follow`), as its events tell it, for the admin page.
#[derive(Debug, Clone, Default)]
pub struct FollowerStatus {
    /// Records archived by the follower since the server started.
    pub migrated: usize,
    /// Passes that archived, failed or repaired something.
    pub busy_passes: usize,
    /// The last such pass, with when it ended.
    pub last_pass: Option<(bson::DateTime, String)>,
    /// The service that is not answering, what it said, and since when.
    pub outage: Option<(String, String, bson::DateTime)>,
    /// The follower stopped (the server is shutting down).
    pub stopped: bool,
    /// New blocks arrive by WebSocket subscription rather than polling.
    pub subscribed: bool,
}

impl FollowerStatus {
    /// Takes in one of the follower's events.
    pub fn record(&mut self, event: &FollowEvent) {
        match event {
            FollowEvent::Pass { report } => {
                self.migrated += report.migrated;
                self.busy_passes += 1;
                let blocks = match report.blocks_read() {
                    Some((from, to)) => format!("blocks {from}–{to}"),
                    None => format!("nothing new since block {}", report.read_before()),
                };
                let summary = format!("{} archived, {} failed, {blocks}", report.migrated, report.failed.len());
                self.last_pass = Some((bson::DateTime::now(), summary));
            }
            FollowEvent::Outage { service, message } => {
                self.outage = Some((service.to_string(), message.clone(), bson::DateTime::now()));
            }
            FollowEvent::Recovered { .. } => self.outage = None,
            FollowEvent::Exchanged { erased, deferred, pushed, still_queued } => {
                let summary = format!(
                    "{} erased at patients' request, {} kept by the retention policy, {pushed} envelope(s) pushed, {still_queued} still queued",
                    erased.len(),
                    deferred.len()
                );
                self.last_pass = Some((bson::DateTime::now(), summary));
            }
            FollowEvent::PatientsMoved { moves } => {
                let resealed: usize = moves.iter().map(|m| m.resealed.len()).sum();
                let summary =
                    format!("{} patient(s) moved to a new account, {resealed} record(s) re-sealed", moves.len());
                self.last_pass = Some((bson::DateTime::now(), summary));
            }
            FollowEvent::MoveFailed { message } => {
                self.last_pass = Some((bson::DateTime::now(), format!("a patient's move failed: {message}")));
            }
            FollowEvent::Stopped { .. } => self.stopped = true,
            FollowEvent::Watching { subscribed, .. } => self.subscribed = *subscribed,
        }
    }
}

/// Everything the handlers share.
pub struct WebApp {
    /// The contract, signing as this server's hospital.
    pub consortium: Consortium,
    pub hospital: PrivateKeySigner,
    /// The hospital's keys for opening envelopes: its account key and the sealing keys it
    /// rotated to.
    pub hospital_key: RecipientKey,
    pub archive: Archive,
    pub identities: Identities,
    pub settings: ServeSettings,
    sessions: Sessions,
    challenges: SignInChallenges,
    links: SignInLinks,
    throttle: SignInThrottle,
    /// The entry ledger, and when its last sync with the chain began.
    ledger: tokio::sync::Mutex<(EntryLedger, Option<std::time::Instant>)>,
    /// Patients' archived records and predictions, read again when the archive changes.
    pub patient_archives: archive_cache::PatientArchives,
    /// The model file as last read, with its modification time.
    model: Mutex<Option<(SystemTime, Arc<ModelFile>)>>,
    pub admin_runs: Mutex<AdminRuns>,
    /// The follower's state when the server follows the chain (`--follow`); `None` otherwise.
    pub follower: Mutex<Option<FollowerStatus>>,
    /// Where every read of patients' records through these pages is logged.
    pub access_log: AccessLog,
    /// Patients' access histories, read again when someone else reads.
    pub access_histories: history_cache::AccessHistories,
    /// Enrolled patients' names for staff pages, kept a few seconds.
    pub patient_names_cache: name_cache::PatientNamesCache,
}

impl WebApp {
    pub fn new(
        consortium: Consortium,
        hospital: PrivateKeySigner,
        archive: Archive,
        identities: Identities,
        settings: ServeSettings,
    ) -> Self {
        let domain = domain_of(&settings.public_url);
        let uri = settings.public_url.as_str().trim_end_matches('/').to_string();
        let challenges =
            SignInChallenges::new(&uri, &domain, consortium.connection().chain_id()).kept_in(archive.clone());
        let access_log = AccessLog::new(&archive);
        let hospital_key = settings.migration.recipient_key.clone().unwrap_or_else(|| recipient_key(&hospital));
        Self {
            consortium,
            hospital_key,
            hospital,
            identities,
            settings,
            sessions: Sessions::new(archive.clone()),
            challenges,
            links: SignInLinks::new(archive.clone()),
            throttle: SignInThrottle::new(archive.clone()),
            archive,
            ledger: tokio::sync::Mutex::new((EntryLedger::default(), None)),
            patient_archives: archive_cache::PatientArchives::default(),
            model: Mutex::new(None),
            admin_runs: Mutex::new(AdminRuns::default()),
            follower: Mutex::new(None),
            access_log,
            access_histories: history_cache::AccessHistories::default(),
            patient_names_cache: name_cache::PatientNamesCache::default(),
        }
    }

    /// This server's hospital.
    pub fn hospital_address(&self) -> Address {
        self.hospital.address()
    }

    /// A one-time link that signs `patient` in (for 5 minutes): what `hrm login` prints after the
    /// patient signed the challenge, and what `hrm demo --serve` prints for its patients.
    pub async fn sign_in_link(&self, patient: Address) -> Result<String, hrm::store::StoreError> {
        let token = self.links.issue(patient).await?;
        Ok(format!("{}/sign-in/link/{token}", self.settings.public_url.as_str().trim_end_matches('/')))
    }

    /// The directory entries of those `patients` whom this hospital enrolled, for staff pages and
    /// the patient's greeting (a few seconds old at most).
    pub async fn patient_names(
        &self,
        patients: impl IntoIterator<Item = Address>,
    ) -> Result<layout::PatientNames, PageError> {
        self.patient_names_cache.get(&self.archive, patients).await.map_err(PageError::failed)
    }

    /// The diabetes model, read again only when its file changes (`hrm model train` replaces it
    /// while the server runs); `None` while there is no usable model file.
    pub fn model(&self) -> Option<Arc<ModelFile>> {
        let path = &self.settings.model_path;
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
        let mut cached = self.model.lock().expect("model lock");
        if let Some((at, model)) = cached.as_ref()
            && *at == modified
        {
            return Some(model.clone());
        }
        let model = Arc::new(ModelFile::load(path).ok()?);
        *cached = Some((modified, model.clone()));
        Some(model)
    }

    /// Finds the envelopes this hospital may open: in its database, else pulled from the
    /// submitter's server.
    pub fn envelope_finder(&self) -> hrm::exchange::EnvelopeFinder<'_> {
        hrm::exchange::EnvelopeFinder {
            consortium: &self.consortium,
            archive: Some(&self.archive),
            signer: Some(&self.hospital),
        }
    }

    /// Whether cookies must be Secure: the server is reached over TLS.
    fn secure_cookies(&self) -> bool {
        self.settings.public_url.scheme() == "https"
    }

    /// The entry ledger brought up to the chain's head as it was at least when this call began.
    ///
    /// A sync that began after this call did read a head at least that new, so the call uses it
    /// rather than asking the node again: requests that arrive together while one sync runs
    /// share the next, instead of queueing behind the lock for one node round trip each.
    pub async fn ledger(&self) -> Result<tokio::sync::MappedMutexGuard<'_, EntryLedger>, PageError> {
        let asked = std::time::Instant::now();
        let mut guard = self.ledger.lock().await;
        let (ledger, last_sync) = &mut *guard;
        if !last_sync.is_some_and(|began| began > asked) {
            let began = std::time::Instant::now();
            self.consortium.sync_ledger(ledger).await.map_err(PageError::failed)?;
            *last_sync = Some(began);
        }
        Ok(tokio::sync::MutexGuard::map(guard, |(ledger, _)| ledger))
    }
}

/// The router with every page, and the hospital-to-hospital API and the probes beside them
/// (outside the pages' sessions); every request is logged and counted.
pub fn router(app: Arc<WebApp>) -> Router {
    api::router(app.clone())
        .merge(probes::router(app.clone()))
        .merge(pages(app))
        .layer(middleware::from_fn(observe::observe))
}

fn pages(app: Arc<WebApp>) -> Router {
    Router::new()
        .route("/", get(signin::home))
        .route("/sign-in", get(signin::show))
        .route("/sign-in/staff", post(signin::staff))
        .route("/sign-in/challenge", post(signin::challenge))
        .route("/sign-in/wallet", post(signin::wallet))
        .route("/sign-in/device", post(signin::device))
        .route("/sign-in/link/{token}", get(signin::link))
        .route("/sign-out", post(signin::sign_out))
        .route("/patient", get(patient::overview))
        .route("/patient/records/{entry}", get(patient::record))
        .route("/patient/fhir", get(patient::fhir_bundle))
        .route("/patient/history", get(patient::history))
        .route("/patient/entries/{entry}", get(patient::pending))
        .route("/patient/entries/{entry}/envelope", get(patient::pending_envelope))
        .route("/patient/entries/{entry}/vote-transaction", get(patient::vote_transaction))
        .route("/patient/entries/{entry}/state", get(patient::entry_state))
        .route("/clerk", get(clerk::submissions))
        .route("/clerk/health", get(clerk::health_form).post(clerk::submit_health))
        .route("/clerk/bill", get(clerk::bill_form).post(clerk::submit_bill))
        .route("/entries/{entry}", get(entries::entry))
        .route("/patients", get(directory::index))
        .route("/patients/new", get(directory::new_form).post(directory::register))
        .route("/patients/suggest", get(directory::suggest))
        .route("/patients/mrn/{mrn}", get(directory::show))
        .route("/patients/mrn/{mrn}/enrollment", post(directory::start_enrollment))
        .route("/patients/mrn/{mrn}/unlink", post(directory::unlink_account))
        .route("/enroll/{code}", get(enroll::show).post(enroll::redeem))
        .route("/enroll/{code}/message", get(enroll::message))
        .route("/patients/{patient}", get(patients::records))
        .route("/patients/{patient}/fhir", get(patients::fhir_bundle))
        .route("/patient/sharing/transaction", get(patient::sharing_transaction))
        .route("/patient/sharing/state", get(patient::sharing_state))
        .route("/patient/approve-all/transaction", get(patient::approve_all_transaction))
        .route("/patient/approve-all/state", get(patient::approve_all_state))
        .route("/patient/erasure/transaction", get(patient::erasure_transaction))
        .route("/patient/erasure/state", get(patient::erasure_state))
        .route("/patient/recovery", get(guardians::overview))
        .route("/patient/recovery/guardians-transaction", get(guardians::guardians_transaction))
        .route("/patient/recovery/guardians-state", get(guardians::guardians_state))
        .route("/patient/recovery/approve-transaction", get(guardians::approve_transaction))
        .route("/patient/recovery/approve-state", get(guardians::approve_state))
        .route("/reviewer", get(reviewer::queue))
        .route("/reviewer/entries/{entry}", get(reviewer::open))
        .route("/reviewer/entries/{entry}/confirm", post(reviewer::confirm))
        .route("/reviewer/entries/{entry}/vote", post(reviewer::vote))
        .route("/reviewer/approve-selected", post(reviewer::confirm_selected))
        .route("/reviewer/approve-selected/vote", post(reviewer::approve_selected))
        .route("/admin", get(admin::status))
        .route("/admin/entries", get(admin::entries))
        .route("/admin/migrate", post(admin::migrate))
        .route("/admin/audit", post(admin::audit))
        .route("/admin/proposals/{id}/approve", post(admin::approve_proposal))
        .route("/admin/staff", get(admin::staff).post(admin::add_staff))
        .route("/admin/staff/{username}", post(admin::change_staff))
        .route("/assets/{name}", get(assets::asset))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), session_layer))
        .with_state(app)
}

/// How often the sessions-open metric is counted again.
const SESSION_COUNT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// Counts between two sweeps of expired sign-in state (a minute).
const EXPIRED_SWEEP_EVERY_ROUNDS: u64 = 12;

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<WebApp>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Sessions live in the database, which other servers share: count them there. Expired
    // sign-in state goes too, on servers without TTL indexes.
    let counter = app.clone();
    let session_count = tokio::spawn(async move {
        for round in 0u64.. {
            if let Ok(open) = counter.sessions.count().await {
                hrm::metrics::metrics().sessions_open.set(open as i64);
            }
            if round % EXPIRED_SWEEP_EVERY_ROUNDS == 0
                && let Err(error) = counter.archive.delete_expired().await
            {
                tracing::warn!(error = %error, "expired sign-in state could not be deleted");
            }
            tokio::time::sleep(SESSION_COUNT_EVERY).await;
        }
    });
    let served = axum::serve(listener, router(app).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    session_count.abort();
    served
}

async fn not_found(visit: Visit) -> Response {
    PageError::NotFound.render(&visit)
}

/// The visitor: their session and network address.
#[derive(Debug, Clone)]
pub struct Visit {
    pub session: Session,
    pub client: IpAddr,
}

impl Visit {
    /// The signed-in staff member holding `role`.
    pub fn staff(&self, role: StaffRole) -> Result<&str, PageError> {
        match &self.session.principal {
            Some(Principal::Staff { username, roles }) if roles.contains(&role) => Ok(username),
            Some(Principal::Staff { roles, .. }) => Err(PageError::Forbidden(format!(
                "This page is for the {role} role; your account has {}. Ask your hospital's admin if you need it.",
                roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" and ")
            ))),
            Some(Principal::Patient { .. }) => Err(PageError::Forbidden("This page is for hospital staff.".into())),
            None => Err(PageError::SignedOut),
        }
    }

    /// The signed-in staff member, whatever their role.
    pub fn any_staff(&self) -> Result<&str, PageError> {
        match &self.session.principal {
            Some(Principal::Staff { username, .. }) => Ok(username),
            Some(Principal::Patient { .. }) => Err(PageError::Forbidden("This page is for hospital staff.".into())),
            None => Err(PageError::SignedOut),
        }
    }

    /// The signed-in member of the clinical staff (clerks and reviewers): the people who may look
    /// a patient up. Admins alone manage the server, not patients' records.
    pub fn clinical_staff(&self) -> Result<&str, PageError> {
        match &self.session.principal {
            Some(Principal::Staff { username, roles })
                if roles.contains(&StaffRole::Clerk) || roles.contains(&StaffRole::Reviewer) =>
            {
                Ok(username)
            }
            Some(Principal::Staff { .. }) => Err(PageError::Forbidden(
                "Patients' records are for clerks and reviewers; your account has neither role. Ask your hospital's admin if you need one."
                    .into(),
            )),
            Some(Principal::Patient { .. }) => Err(PageError::Forbidden("This page is for hospital staff.".into())),
            None => Err(PageError::SignedOut),
        }
    }

    /// This visit as a reader of records, for the read rule and the access log: the patient, or
    /// the server's hospital with the staff member's user name.
    pub fn reader(&self, app: &WebApp, action: &str) -> Reader {
        match &self.session.principal {
            Some(Principal::Patient { address }) => Reader::account(*address, action),
            Some(Principal::Staff { username, .. }) => {
                Reader { account: app.hospital_address(), user: Some(username.clone()), action: action.to_string() }
            }
            None => Reader::account(Address::ZERO, action),
        }
    }

    /// The signed-in patient.
    pub fn patient(&self) -> Result<Address, PageError> {
        match &self.session.principal {
            Some(Principal::Patient { address }) => Ok(*address),
            Some(Principal::Staff { .. }) => Err(PageError::Forbidden(
                "This page is for patients; staff see entries under Submissions or Review.".into(),
            )),
            None => Err(PageError::SignedOut),
        }
    }

    pub fn has_role(&self, role: StaffRole) -> bool {
        matches!(&self.session.principal, Some(Principal::Staff { roles, .. }) if roles.contains(&role))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Visit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Visit>()
            .cloned()
            .ok_or_else(|| (StatusCode::INTERNAL_SERVER_ERROR, "no session layer").into_response())
    }
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in: go to the sign-in page.
    SignedOut,
    /// Signed in, but this role may not do this.
    Forbidden(String),
    /// No such page, or not one this visitor may know exists.
    NotFound,
    /// The request was wrong; the message says how.
    BadRequest(String),
    /// Something the server relies on failed.
    Failed(String),
}

impl PageError {
    pub fn failed(error: impl std::fmt::Display) -> Self {
        PageError::Failed(error.to_string())
    }

    fn render(&self, visit: &Visit) -> Response {
        let (status, title, message) = match self {
            PageError::SignedOut => return Redirect::to("/sign-in").into_response(),
            PageError::Forbidden(message) => (StatusCode::FORBIDDEN, "Not allowed", message.clone()),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or nothing you may see. Go back to your start page.".to_string(),
            ),
            PageError::BadRequest(message) => (StatusCode::BAD_REQUEST, "That did not work", message.clone()),
            PageError::Failed(message) => (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", message.clone()),
        };
        (status, layout::error_page(visit, title, &message)).into_response()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        // Only carried out: the session layer renders it with the visitor's navigation.
        let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        response.extensions_mut().insert(Arc::new(self));
        response
    }
}

/// Sessions, CSRF and security headers around every request.
async fn session_layer(
    State(app): State<Arc<WebApp>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let cookie_id = cookie_value(request.headers(), session::COOKIE);
    let client = client_address::client_address(peer.ip(), request.headers(), &app.settings.trusted_proxies);
    let known = match cookie_id.as_deref() {
        Some(id) => app.sessions.get(id).await,
        None => Ok(None),
    };
    let (session, unavailable) = match known {
        Ok(known) => (known.unwrap_or_else(Session::unsaved), None),
        Err(error) => (Session::unsaved(), Some(error)),
    };
    let visit = Visit { session, client };
    if let Some(error) = unavailable {
        tracing::warn!(error = %error, "sessions cannot be read");
        return PageError::failed(
            "The sign-in service is unavailable (the database does not answer). Try again in a minute.",
        )
        .render(&visit);
    }

    let mut response = match check_csrf(&method, &path, &visit, request).await {
        Ok(mut request) => {
            request.extensions_mut().insert(visit.clone());
            let response = next.run(request).await;
            match response.extensions().get::<Arc<PageError>>().cloned() {
                Some(error) => {
                    if let PageError::Failed(message) = &*error {
                        // Library errors name entries, files and services, never a record's contents.
                        tracing::warn!(error = %message, "the page failed");
                    }
                    error.render(&visit)
                }
                None => response,
            }
        }
        Err(refusal) => refusal.render(&visit),
    };

    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !path.starts_with("/assets/") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    keep_session(&app, &visit.session, &mut response).await;
    response
}

/// After a page: a new visitor shown a page (a form whose CSRF token must be checked when it is
/// posted) gets their session stored and its cookie; a message the page showed is forgotten.
/// Redirects, JSON, assets and errors store nothing.
async fn keep_session(app: &WebApp, session: &Session, response: &mut Response) {
    let is_page = response.status() == StatusCode::OK
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html"));
    if !is_page {
        return;
    }
    if let Some(message) = &session.flash
        && let Err(error) = app.sessions.clear_flash(&session.id, message).await
    {
        tracing::warn!(error = %error, "a shown message could not be cleared");
    }
    if session.is_stored() || response.headers().contains_key(header::SET_COOKIE) {
        return;
    }
    match app.sessions.save(session).await {
        Ok(()) => {
            let cookie = session::session_cookie(&session.id, app.secure_cookies());
            response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("cookie is ASCII"));
        }
        Err(error) => tracing::warn!(error = %error, "a session could not be stored"),
    }
}

/// Lets safe requests through; a state-changing one must carry the session's CSRF token in the
/// `X-CSRF-Token` header or the `_csrf` form field.
async fn check_csrf(method: &Method, path: &str, visit: &Visit, request: Request) -> Result<Request, PageError> {
    // An enrollment is proved by the account's signature over a challenge named by the secret code
    // in its path, which a forged cross-site request cannot make.
    let enrollment = path.starts_with("/enroll/");
    if matches!(*method, Method::GET | Method::HEAD) || CSRF_EXEMPT.contains(&path) || enrollment {
        return Ok(request);
    }
    let refused = || {
        PageError::Forbidden(
            "The form was out of date or did not come from this site (its security token did not match). Reload the page and try again."
                .into(),
        )
    };
    let header_token = request.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_string);
    if let Some(token) = header_token {
        return if constant_time_eq(&token, &visit.session.csrf) { Ok(request) } else { Err(refused()) };
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| PageError::BadRequest("The request was too large.".into()))?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let token = fields.iter().find(|(name, _)| name == "_csrf").map(|(_, value)| value.as_str());
    match token {
        Some(token) if constant_time_eq(token, &visit.session.csrf) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(refused()),
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn cookie_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}
