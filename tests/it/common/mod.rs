//! The harness every integration test shares.
//!
//! `TestEnv::start` gives a test its own Anvil node and its own MongoDB-wire server (SecantusDB),
//! started by the library's one launcher (`LocalNetwork`) on free ports with temporary storage,
//! and a database name nobody else uses. The processes are stopped by PID when the `TestEnv` is
//! dropped, which also happens when the test panics; if the test binary itself is killed, the
//! kernel kills them (they are tied to the spawning thread).
//!
//! `HRM_TEST_RPC_URL` and `HRM_TEST_MONGODB_URI` point the harness at running services instead.
//! `HRM_TEST_ARCHIVE=ferretdb` gives each test FerretDB over PostgreSQL instead of SecantusDB (the
//! test script runs the archive-facing tests once more that way). A service that cannot start
//! fails the test with the reason; nothing is ever skipped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest::Url;
use hrm::chain::provider::{read_provider, signing_provider};
use hrm::devnet::{Engine, FerretDbServer, LocalNetwork, NetworkSpec};

/// Overrides the chain: tests use this JSON-RPC endpoint instead of starting Anvil.
pub const RPC_URL_ENV: &str = "HRM_TEST_RPC_URL";
/// Overrides the database: tests use this MongoDB URI instead of starting a server.
pub const MONGODB_URI_ENV: &str = "HRM_TEST_MONGODB_URI";
/// Which MongoDB-wire server the harness starts: `secantusdb` (the default) or `ferretdb`.
pub const ARCHIVE_ENV: &str = "HRM_TEST_ARCHIVE";

static NEXT_DATABASE: AtomicUsize = AtomicUsize::new(0);

/// The services one test runs against.
pub struct TestEnv {
    /// JSON-RPC URL of the chain.
    pub rpc_url: Url,
    /// URI of the MongoDB-wire server.
    pub mongodb_uri: String,
    /// This test's own database.
    pub database_name: String,
    network: Option<LocalNetwork>,
    ferretdb: Option<FerretDbServer>,
    // Declared last so it is removed after the processes using it have stopped.
    dir: tempfile::TempDir,
}

impl TestEnv {
    /// Starts (or connects to) the chain and the database and waits until each answers.
    pub async fn start(test_name: &str) -> Self {
        let dir = test_dir(test_name);
        let external_rpc = std::env::var(RPC_URL_ENV).ok();
        let on_ferretdb = match std::env::var(ARCHIVE_ENV).as_deref() {
            Ok("ferretdb") => true,
            Ok("secantusdb") | Err(_) => false,
            Ok(other) => panic!("{ARCHIVE_ENV}={other}: name secantusdb or ferretdb"),
        };
        let ferretdb = match on_ferretdb && std::env::var(MONGODB_URI_ENV).is_err() {
            true => Some(
                FerretDbServer::start(&dir.path().join("ferretdb"), true)
                    .unwrap_or_else(|e| panic!("the test harness could not start FerretDB over PostgreSQL: {e}")),
            ),
            false => None,
        };
        let external_db = std::env::var(MONGODB_URI_ENV).ok().or_else(|| ferretdb.as_ref().map(FerretDbServer::uri));
        let network = match (&external_rpc, &external_db) {
            (Some(_), Some(_)) => None,
            _ => {
                let spec = NetworkSpec { with_database: external_db.is_none(), ..NetworkSpec::of(Engine::Anvil) };
                let network = LocalNetwork::start(&spec, dir.path())
                    .await
                    .unwrap_or_else(|e| panic!("the test harness could not start its services: {e}"));
                Some(network)
            }
        };
        let rpc_url = external_rpc.unwrap_or_else(|| network.as_ref().expect("started").rpc_url());
        let mongodb_uri = external_db
            .unwrap_or_else(|| network.as_ref().and_then(LocalNetwork::mongodb_uri).expect("the database was started"));
        let mut env = Self::over(test_name, &rpc_url, mongodb_uri, network, dir).await;
        env.ferretdb = ferretdb;
        env
    }

    /// A harness over services the test started itself (to stop and restart them under hrm);
    /// it starts nothing and stops nothing.
    pub async fn attach(test_name: &str, rpc_url: &str, mongodb_uri: String) -> Self {
        let dir = test_dir(test_name);
        Self::over(test_name, rpc_url, mongodb_uri, None, dir).await
    }

    async fn over(
        test_name: &str,
        rpc_url: &str,
        mongodb_uri: String,
        network: Option<LocalNetwork>,
        dir: tempfile::TempDir,
    ) -> Self {
        let rpc_url: Url = rpc_url.parse().unwrap_or_else(|e| panic!("bad RPC URL {rpc_url}: {e}"));
        let database_name = format!(
            "hrm_test_{}_{}_{}",
            test_name.chars().filter(char::is_ascii_alphanumeric).take(24).collect::<String>(),
            std::process::id(),
            NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
        );
        let env = Self { rpc_url, mongodb_uri, database_name, network, ferretdb: None, dir };
        env.wait_until_answering().await;
        env
    }

    /// Every node's JSON-RPC URL (one for Anvil).
    pub fn rpc_urls(&self) -> Vec<String> {
        match &self.network {
            Some(network) => network.rpc_urls(),
            None => vec![self.rpc_url.to_string()],
        }
    }

    async fn wait_until_answering(&self) {
        let chain = read_provider(self.rpc_url.clone());
        tokio::time::timeout(Duration::from_secs(30), chain.get_chain_id())
            .await
            .unwrap_or_else(|_| panic!("the chain at {} did not answer within 30 s", self.rpc_url))
            .unwrap_or_else(|e| panic!("the chain at {} did not answer: {e}", self.rpc_url));
        let client = self.mongo_client().await;
        client
            .database("admin")
            .run_command(mongodb::bson::doc! { "ping": 1 })
            .await
            .unwrap_or_else(|e| panic!("the database at {} did not answer: {e}", self.mongodb_uri));
    }

    /// A client for the database server.
    pub async fn mongo_client(&self) -> mongodb::Client {
        let mut options = mongodb::options::ClientOptions::parse(&self.mongodb_uri)
            .await
            .unwrap_or_else(|e| panic!("bad MongoDB URI {}: {e}", self.mongodb_uri));
        options.server_selection_timeout = Some(Duration::from_secs(10));
        mongodb::Client::with_options(options).expect("building the MongoDB client")
    }

    /// This test's own database.
    pub async fn database(&self) -> mongodb::Database {
        self.mongo_client().await.database(&self.database_name)
    }

    /// A provider that signs with development account `index`.
    pub fn provider_for(&self, signer: &PrivateKeySigner) -> DynProvider {
        signing_provider(self.rpc_url.clone(), signer.clone())
    }

    /// A temporary folder removed after the test.
    pub fn temp_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Process ids of the services this harness started (none for external ones).
    pub fn started_pids(&self) -> Vec<u32> {
        let mut pids = self.network.as_ref().map(LocalNetwork::pids).unwrap_or_default();
        pids.extend(self.ferretdb.as_ref().and_then(FerretDbServer::pid));
        pids
    }
}

fn test_dir(test_name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("hrm-test-{test_name}-"))
        .tempdir()
        .expect("creating the test's temporary folder")
}

/// The parts of a sealed envelope that are its own secret bytes: the ephemeral public key, each
/// wrapped data key, and the payload (nonce and ciphertext). The rest is the format's magic and
/// the recipients' addresses (see `hrm::records::envelope`), which are no secret.
pub fn envelope_secret_parts(envelope: &[u8]) -> Vec<&[u8]> {
    let recipients = envelope[6] as usize;
    let header = 40 + 68 * recipients;
    let mut parts: Vec<&[u8]> = vec![&envelope[7..40], &envelope[header..]];
    parts.extend((0..recipients).map(|i| &envelope[40 + 68 * i + 20..40 + 68 * (i + 1)]));
    parts
}

/// Development account `index` (0..10), funded on every fresh chain the harness starts.
pub use hrm::chain::dev_keys::dev_account as dev;

pub mod cli;
pub mod consortium;
pub mod proxy;
pub mod web;
