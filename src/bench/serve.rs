//! How fast the web app answers its two busiest pages, a patient's records and a reviewer's queue,
//! with many people signed in at once.
//!
//! The benchmark fills a fresh archive and chain ([`prepare_serve_bench`]), the caller serves the
//! web app over them (the web edge lives in the binary), and [`measure_serve`] signs visitors in
//! over HTTP, as browsers would, and times their page loads from concurrent sessions.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, keccak256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest::{self, Url};
use mongodb::bson::{self, Bson};
use serde::Serialize;
use serde_json::{Value, json};

use super::BenchError;
use super::latency::LatencyRow;
use super::seed::seed_pending_entries;
use crate::chain::DeploymentStore;
use crate::devnet::{Engine, LocalNetwork, NetworkSpec};
use crate::ml::{Dataset, Imputation, ModelFile};
use crate::records::{EntryKind, Record, commitment};
use crate::scenario::{ConsortiumScenario, ScenarioPlan, example_bill, sample_record, set_up_consortium};
use crate::store::archive::{archive_id, hex_address};
use crate::store::{Archive, ArchivedRecord, Provenance, RecordCollection, StaffRole, canonical_record_json};

/// The reviewer account the benchmark signs in with.
pub const BENCH_REVIEWER: &str = "reviewer";
/// Records are written in batches of this many.
const ARCHIVE_BATCH: usize = 500;
/// Every fifth archived record of a patient is a bill; the rest are health records.
const BILL_EVERY: usize = 5;

/// What the benchmark builds and how hard it pushes.
#[derive(Debug, Clone, Serialize)]
pub struct ServeBenchPlan {
    /// Archived records, spread evenly over the patients.
    pub records: usize,
    pub patients: usize,
    /// Entries on chain waiting for the serving hospital's vote (the reviewer's queue).
    pub pending: usize,
    /// Signed-in sessions requesting at once.
    pub sessions: usize,
    /// Timed requests per page.
    pub requests: usize,
    /// Requests without a cookie (a crawler, a probe) after the pages: their latency at the start
    /// and at the end shows whether they leave anything behind that slows the server.
    pub signed_out_requests: usize,
}

impl Default for ServeBenchPlan {
    fn default() -> Self {
        Self {
            records: 10_000,
            patients: 1_000,
            pending: 100,
            sessions: 50,
            requests: 2_000,
            signed_out_requests: 20_000,
        }
    }
}

/// The data the web app serves during the benchmark: a fresh chain with the minimal consortium
/// (the server runs as its supporting hospital, whose vote the pending entries wait for) and a
/// fresh archive. Dropping it stops the services.
pub struct ServeBenchSite {
    pub scenario: ConsortiumScenario,
    pub archive: Archive,
    /// The diabetes model the patients' pages predict with.
    pub model_path: PathBuf,
    /// The reviewer's password.
    pub reviewer_password: String,
    patients: Vec<PrivateKeySigner>,
    /// Time spent filling the chain and the archive (not part of the figures).
    pub seeding: Duration,
    network: LocalNetwork,
}

impl ServeBenchSite {
    /// The hospital the web app runs as.
    pub fn serving_hospital(&self) -> &crate::scenario::Participant {
        &self.scenario.hospitals[1]
    }

    /// The chain's JSON-RPC endpoints.
    pub fn rpc_urls(&self) -> Vec<String> {
        self.network.rpc_urls()
    }

    /// The archive's MongoDB URI.
    pub fn mongodb_uri(&self) -> Option<String> {
        self.network.mongodb_uri()
    }
}

/// Latency of one page, measured from the client.
#[derive(Debug, Clone, Serialize)]
pub struct PageLoad {
    pub page: String,
    #[serde(flatten)]
    pub latency: LatencyRow,
    /// Answers other than 200, and requests that failed.
    pub errors: usize,
    /// Each session's first load: the server reads the archive rather than its copy.
    pub first_visit: bool,
    /// Requests without a session (the first or the last tenth of the signed-out run).
    pub signed_out: bool,
    pub requests_per_second: f64,
    /// The largest page body answered, in bytes (0 for redirects).
    pub page_bytes: usize,
}

/// The figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct ServeBench {
    pub plan: ServeBenchPlan,
    pub pages: Vec<PageLoad>,
    /// Time spent filling the chain and the archive (not part of the figures).
    #[serde(serialize_with = "crate::serialize::duration_as_seconds")]
    pub seeding: Duration,
}

/// The archive database the benchmark fills and the web app serves.
pub const ARCHIVE_DATABASE: &str = "hrm_bench_serve";

/// A bench patient's key, the same on every run.
fn bench_patient(index: usize) -> PrivateKeySigner {
    let secret = keccak256(format!("hrm bench serve patient {index}"));
    PrivateKeySigner::from_bytes(&secret).expect("a keccak hash is a valid secp256k1 key")
}

/// Starts a fresh Anvil and MongoDB-wire server; submits `plan.pending` entries awaiting the
/// serving hospital's vote; archives `plan.records` records of `plan.patients` patients; trains
/// the model; adds the reviewer account.
///
/// The archived records are written as migration writes them (plaintext details, a true
/// commitment over them, provenance) but straight into the archive: the pages under test read only
/// the archive and the entry ledger, and sealing and approving 10,000 entries on chain first would
/// measure the seeding, not the web app.
pub async fn prepare_serve_bench(plan: &ServeBenchPlan, workdir: &Path) -> Result<ServeBenchSite, BenchError> {
    let started = Instant::now();
    let network = LocalNetwork::start(&NetworkSpec::of(Engine::Anvil), workdir).await?;
    let mongodb_uri = network.mongodb_uri().ok_or(BenchError::MissingService("document database"))?;
    let store = DeploymentStore::new(workdir.join("deployments"));
    let scenario = set_up_consortium(&network.rpc_urls(), &store, &ScenarioPlan::minimal()).await?;
    let archive = Archive::connect(&mongodb_uri, ARCHIVE_DATABASE).await?;
    archive.ensure_indexes().await?;
    seed_pending_entries(&scenario, &archive, plan.pending).await?;
    let patients: Vec<PrivateKeySigner> = (0..plan.patients.max(1)).map(bench_patient).collect();
    let deployment = &scenario.deployment;
    let submitter = scenario.primary().address();
    let voters = vec![hex_address(scenario.hospitals[1].address())];
    let mut batches: Vec<(RecordCollection, Vec<ArchivedRecord>)> =
        RecordCollection::ALL.iter().map(|c| (*c, Vec::new())).collect();
    for i in 0..plan.records {
        let (patient, visit) = (i % patients.len(), i / patients.len());
        let record = if visit % BILL_EVERY == BILL_EVERY - 1 { example_bill(i) } else { dated_health_record(i, visit) };
        let archived = archived_record(
            deployment.chain_id,
            deployment.address,
            i as u64 + 1_000_000,
            &record,
            patients[patient].address(),
            submitter,
            &voters,
        );
        let batch = &mut batches[usize::from(archived.kind == EntryKind::Bill)];
        batch.1.push(archived);
        if batch.1.len() == ARCHIVE_BATCH {
            archive.insert_missing(batch.0, &std::mem::take(&mut batch.1)).await?;
        }
    }
    for (collection, rest) in batches {
        archive.insert_missing(collection, &rest).await?;
    }

    let model_path = workdir.join("model.json");
    ModelFile::train(&Dataset::bundled(), Imputation::None)?.save(&model_path)?;
    let reviewer_password = hex_token();
    archive.add_staff(BENCH_REVIEWER, &reviewer_password, &[StaffRole::Reviewer]).await?;
    Ok(ServeBenchSite {
        scenario,
        archive,
        model_path,
        reviewer_password,
        patients,
        seeding: started.elapsed(),
        network,
    })
}

/// Health record `i`, the patient's visit number `visit`, dated a month apart so charts have a
/// line to draw.
fn dated_health_record(i: usize, visit: usize) -> Record {
    let mut record = sample_record(i);
    if let Record::Health(details) = &mut record {
        details.recorded_at = format!("{}-{:02}-15", 2020 + visit / 12, 1 + visit % 12);
    }
    record
}

fn archived_record(
    chain_id: u64,
    contract: Address,
    entry_id: u64,
    record: &Record,
    patient: Address,
    submitter: Address,
    voters: &[String],
) -> ArchivedRecord {
    let Ok(Bson::Document(document)) = Bson::try_from(record.to_json_value()) else {
        unreachable!("a record is a JSON object")
    };
    let salt: [u8; 32] = keccak256(entry_id.to_be_bytes()).0;
    let fake_tx = |what: &str| B256::from(keccak256(format!("{what} {entry_id}"))).to_string();
    ArchivedRecord {
        id: archive_id(chain_id, contract, entry_id),
        chain_id: chain_id as i64,
        contract: hex_address(contract),
        entry_id: entry_id as i64,
        kind: record.kind(),
        patient: hex_address(patient),
        submitter: hex_address(submitter),
        commitment: commitment(&salt, &canonical_record_json(&document)).to_string(),
        record: document,
        salt: alloy::primitives::hex::encode_prefixed(salt),
        envelope_digest: None,
        submission: Provenance { tx_hash: fake_tx("submission"), block: entry_id as i64 },
        approval: Provenance { tx_hash: fake_tx("approval"), block: entry_id as i64 + 1 },
        voters: voters.to_vec(),
        migrated_at: bson::DateTime::now(),
        parsed: Default::default(),
    }
}

fn hex_token() -> String {
    alloy::primitives::hex::encode(rand::random::<[u8; 16]>())
}

/// Signs `plan.sessions` patients and as many reviewer sessions in at `base`, then times each
/// session's first load of its page (all at once), then `plan.requests` loads of each page from
/// all sessions at once.
pub async fn measure_serve(base: &Url, site: &ServeBenchSite, plan: &ServeBenchPlan) -> Result<ServeBench, BenchError> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(plan.sessions.max(1))
        .build()
        .map_err(|e| BenchError::failed("building the HTTP client", e))?;
    let visitor = WebVisitor { client, base: base.clone() };
    let sessions = plan.sessions.max(1);
    let mut patient_cookies = Vec::with_capacity(sessions);
    for patient in site.patients.iter().cycle().take(sessions) {
        patient_cookies.push(visitor.sign_in_patient(patient).await?);
    }
    let mut reviewer_cookies = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        reviewer_cookies.push(visitor.sign_in_staff(BENCH_REVIEWER, &site.reviewer_password).await?);
    }
    let visitor = Arc::new(visitor);
    let mut pages = Vec::new();
    for (page, path, cookies) in
        [("patient's records", "/patient", patient_cookies), ("reviewer's queue", "/reviewer", reviewer_cookies)]
    {
        // Each session's first load reads the archive (and scores the patient's latest record);
        // later loads find the server's copy until the archive changes.
        let mut first = load_page(&visitor, &format!("{page}, first visit"), path, &cookies, cookies.len()).await;
        first.first_visit = true;
        if path == "/patient" {
            pages.push(first);
        }
        pages.push(load_page(&visitor, page, path, &cookies, plan.requests).await);
    }
    if plan.signed_out_requests > 0 {
        pages.extend(load_signed_out(&visitor, plan.signed_out_requests, sessions).await);
    }
    Ok(ServeBench { plan: plan.clone(), pages, seeding: site.seeding })
}

/// `requests` loads of `/patient` without a cookie (each answered with a redirect to sign in),
/// from `workers` at once; the latency of the first tenth sent and of the last tenth.
async fn load_signed_out(visitor: &Arc<WebVisitor>, requests: usize, workers: usize) -> [PageLoad; 2] {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (visitor, next) = (visitor.clone(), next.clone());
        tasks.spawn(async move {
            let (mut samples, mut errors) = (Vec::new(), 0);
            loop {
                let sequence = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if sequence >= requests {
                    break;
                }
                let sent = Instant::now();
                match visitor.load_signed_out("/patient").await {
                    Ok(()) => samples.push((sequence, sent.elapsed())),
                    Err(_) => errors += 1,
                }
            }
            (samples, errors)
        });
    }
    let (mut samples, errors) = gather(tasks).await;
    let rate = samples.len() as f64 / started.elapsed().as_secs_f64();
    samples.sort_by_key(|(sequence, _)| *sequence);
    let tenth = (requests / 10).max(1);
    let part = |name: &str, range: Vec<Duration>| PageLoad {
        page: format!("signed-out visitor, {name} of {requests}"),
        requests_per_second: rate,
        latency: LatencyRow::from_samples("/patient → /sign-in", range),
        errors,
        first_visit: false,
        signed_out: true,
        page_bytes: 0,
    };
    let first = samples.iter().filter(|(sequence, _)| *sequence < tenth).map(|(_, d)| *d).collect();
    let last = samples.iter().filter(|(sequence, _)| *sequence >= requests - tenth).map(|(_, d)| *d).collect();
    [part(&format!("first {tenth}"), first), part(&format!("last {tenth}"), last)]
}

/// Every worker's samples and errors, a worker that panicked counted as one error.
async fn gather<T: 'static>(mut workers: tokio::task::JoinSet<(Vec<T>, usize)>) -> (Vec<T>, usize) {
    let (mut samples, mut errors) = (Vec::new(), 0);
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok((worker_samples, worker_errors)) => {
                samples.extend(worker_samples);
                errors += worker_errors;
            }
            Err(_) => errors += 1,
        }
    }
    (samples, errors)
}

/// Loads `path` `requests` times, shared evenly by the sessions, all sessions at once.
async fn load_page(visitor: &Arc<WebVisitor>, page: &str, path: &str, cookies: &[String], requests: usize) -> PageLoad {
    let started = Instant::now();
    let page_bytes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for (index, cookie) in cookies.iter().enumerate() {
        let quota = requests / cookies.len() + usize::from(index < requests % cookies.len());
        let (visitor, cookie, path, page_bytes) =
            (visitor.clone(), cookie.clone(), path.to_string(), page_bytes.clone());
        workers.spawn(async move {
            let (mut samples, mut errors) = (Vec::with_capacity(quota), 0);
            for _ in 0..quota {
                let sent = Instant::now();
                match visitor.load(&path, &cookie).await {
                    Ok(bytes) => {
                        samples.push(sent.elapsed());
                        page_bytes.fetch_max(bytes, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(_) => errors += 1,
                }
            }
            (samples, errors)
        });
    }
    let (samples, errors) = gather(workers).await;
    let elapsed = started.elapsed();
    PageLoad {
        page: page.to_string(),
        requests_per_second: samples.len() as f64 / elapsed.as_secs_f64(),
        latency: LatencyRow::from_samples(path, samples),
        errors,
        first_visit: false,
        signed_out: false,
        page_bytes: page_bytes.load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// A browser without the browser: a session cookie per visitor, sent by hand.
struct WebVisitor {
    client: reqwest::Client,
    base: Url,
}

impl WebVisitor {
    fn url(&self, path: &str) -> Result<Url, BenchError> {
        self.base.join(path).map_err(|e| BenchError::failed(format!("building the URL of {path}"), e))
    }

    /// A new session: its cookie and CSRF token, from the sign-in page.
    async fn start_session(&self) -> Result<(String, String), BenchError> {
        let url = self.url("/sign-in")?;
        let response =
            self.client.get(url.clone()).send().await.map_err(|e| BenchError::failed(format!("GET {url}"), e))?;
        let cookie =
            session_cookie(&response).ok_or_else(|| BenchError::failed(format!("GET {url}"), "no session cookie"))?;
        let page = response.text().await.map_err(|e| BenchError::failed(format!("GET {url}"), e))?;
        let csrf = page
            .split("name=\"csrf-token\" content=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .ok_or_else(|| BenchError::failed(format!("GET {url}"), "the page has no CSRF token"))?;
        Ok((cookie, csrf.to_string()))
    }

    async fn post(
        &self,
        path: &str,
        cookie: &str,
        csrf: Option<&str>,
        body: Value,
    ) -> Result<reqwest::Response, BenchError> {
        let url = self.url(path)?;
        let mut request = self
            .client
            .post(url.clone())
            .header("cookie", format!("hrm_session={cookie}"))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send().await.map_err(|e| BenchError::failed(format!("POST {url}"), e))
    }

    /// Signs a patient in with Sign-In with Ethereum; returns the signed-in session's cookie.
    async fn sign_in_patient(&self, patient: &PrivateKeySigner) -> Result<String, BenchError> {
        let (cookie, csrf) = self.start_session().await?;
        let challenge = self.post("/sign-in/challenge", &cookie, None, json!({ "address": patient.address() })).await?;
        let challenge: Value =
            challenge.json().await.map_err(|e| BenchError::failed("reading the sign-in challenge", e))?;
        let message = challenge["message"].as_str().ok_or_else(|| BenchError::failed("signing in", "no challenge"))?;
        let signature =
            patient.sign_message_sync(message.as_bytes()).map_err(|e| BenchError::failed("signing in", e))?;
        let body =
            json!({ "message": message, "signature": alloy::primitives::hex::encode_prefixed(signature.as_bytes()) });
        let signed_in = self.post("/sign-in/wallet", &cookie, Some(&csrf), body).await?;
        session_cookie(&signed_in)
            .ok_or_else(|| BenchError::failed("signing a patient in", format!("answer {}", signed_in.status())))
    }

    /// Signs a staff member in with the form; returns the signed-in session's cookie.
    async fn sign_in_staff(&self, username: &str, password: &str) -> Result<String, BenchError> {
        let (cookie, csrf) = self.start_session().await?;
        let url = self.url("/sign-in/staff")?;
        let form = [("_csrf", csrf.as_str()), ("username", username), ("password", password)];
        let body = serde_urlencoded::to_string(form).map_err(|e| BenchError::failed("encoding the sign-in form", e))?;
        let signed_in = self
            .client
            .post(url.clone())
            .header("cookie", format!("hrm_session={cookie}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| BenchError::failed(format!("POST {url}"), e))?;
        session_cookie(&signed_in).ok_or_else(|| {
            BenchError::failed(format!("signing in {username}"), format!("answer {}", signed_in.status()))
        })
    }

    /// Loads `path` without a cookie; anything but the redirect to sign in is an error.
    async fn load_signed_out(&self, path: &str) -> Result<(), BenchError> {
        let url = self.url(path)?;
        let response =
            self.client.get(url.clone()).send().await.map_err(|e| BenchError::failed(format!("GET {url}"), e))?;
        let status = response.status();
        response.bytes().await.map_err(|e| BenchError::failed(format!("GET {url}"), e))?;
        if status != reqwest::StatusCode::SEE_OTHER {
            return Err(BenchError::failed(format!("GET {url}"), format!("answer {status}")));
        }
        Ok(())
    }

    /// Loads a page in full and gives its size; an answer other than 200 is an error.
    async fn load(&self, path: &str, cookie: &str) -> Result<usize, BenchError> {
        let url = self.url(path)?;
        let response = self
            .client
            .get(url.clone())
            .header("cookie", format!("hrm_session={cookie}"))
            .send()
            .await
            .map_err(|e| BenchError::failed(format!("GET {url}"), e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| BenchError::failed(format!("GET {url}"), e))?;
        if status != reqwest::StatusCode::OK {
            return Err(BenchError::failed(format!("GET {url}"), format!("answer {status}")));
        }
        Ok(body.len())
    }
}

/// The session id a response sets.
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    let set = response.headers().get("set-cookie")?.to_str().ok()?;
    set.split(';').next()?.strip_prefix("hrm_session=").map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_patients_are_distinct_and_stable() {
        assert_eq!(bench_patient(3).address(), bench_patient(3).address());
        assert_ne!(bench_patient(3).address(), bench_patient(4).address());
    }

    #[test]
    fn an_archived_bench_record_carries_a_true_commitment() {
        let record = dated_health_record(7, 13);
        let archived = archived_record(31337, Address::ZERO, 9, &record, Address::repeat_byte(1), Address::ZERO, &[]);
        let salt: [u8; 32] = alloy::primitives::hex::decode(&archived.salt).unwrap().try_into().unwrap();
        assert_eq!(archived.commitment, commitment(&salt, &canonical_record_json(&archived.record)).to_string());
        assert_eq!(archived.health_details().unwrap().recorded_at, "2021-02-15");
    }
}
