//! The harness every integration test shares.
//!
//! `TestEnv::start` gives a test its own Anvil node and its own MongoDB-wire server (SecantusDB),
//! on free ports with temporary storage, and a database name nobody else uses. Both processes are
//! stopped by PID when the `TestEnv` is dropped, which also happens when the test panics; if the
//! test binary itself is killed, the kernel kills them (they are tied to the spawning thread).
//!
//! `HRM_TEST_RPC_URL` and `HRM_TEST_MONGODB_URI` point the harness at running services instead.
//! A service that cannot start fails the test with the reason; nothing is ever skipped.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest::Url;
use hrm::chain::dev_keys::dev_signer;
use hrm::chain::provider::{read_provider, signing_provider};
use hrm::devnet::{AnvilNode, AnvilOptions, DocumentDbServer};

/// Overrides the chain: tests use this JSON-RPC endpoint instead of starting Anvil.
pub const RPC_URL_ENV: &str = "HRM_TEST_RPC_URL";
/// Overrides the database: tests use this MongoDB URI instead of starting a server.
pub const MONGODB_URI_ENV: &str = "HRM_TEST_MONGODB_URI";

static NEXT_DATABASE: AtomicUsize = AtomicUsize::new(0);

/// The services one test runs against.
pub struct TestEnv {
    /// JSON-RPC URL of the chain.
    pub rpc_url: Url,
    /// URI of the MongoDB-wire server.
    pub mongodb_uri: String,
    /// This test's own database.
    pub database_name: String,
    anvil: Option<AnvilNode>,
    docdb: Option<DocumentDbServer>,
    // Declared last so it is removed after the processes using it have stopped.
    dir: tempfile::TempDir,
}

impl TestEnv {
    /// Starts (or connects to) the chain and the database and waits until each answers.
    pub async fn start(test_name: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("hrm-test-{test_name}-"))
            .tempdir()
            .expect("creating the test's temporary folder");

        let (anvil, rpc_url) = match std::env::var(RPC_URL_ENV) {
            Ok(url) => (None, url),
            Err(_) => {
                let options = AnvilOptions { tie_to_parent: true, ..Default::default() };
                let node = AnvilNode::start(&options, &dir.path().join("anvil.log"))
                    .unwrap_or_else(|e| panic!("the test harness could not start anvil: {e}"));
                let url = node.rpc_url();
                (Some(node), url)
            }
        };
        let rpc_url: Url = rpc_url.parse().unwrap_or_else(|e| panic!("bad RPC URL {rpc_url}: {e}"));

        let (docdb, mongodb_uri) = match std::env::var(MONGODB_URI_ENV) {
            Ok(uri) => (None, uri),
            Err(_) => {
                let server = DocumentDbServer::start(&dir.path().join("docdb"), 0, true)
                    .unwrap_or_else(|e| panic!("the test harness could not start the MongoDB-wire server: {e}"));
                let uri = server.uri();
                (Some(server), uri)
            }
        };

        let database_name = format!(
            "hrm_test_{}_{}_{}",
            test_name.chars().filter(char::is_ascii_alphanumeric).take(24).collect::<String>(),
            std::process::id(),
            NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
        );
        let env = Self { rpc_url, mongodb_uri, database_name, anvil, docdb, dir };
        env.wait_until_answering().await;
        env
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
        self.anvil
            .iter()
            .filter_map(AnvilNode::pid)
            .chain(self.docdb.iter().filter_map(DocumentDbServer::pid))
            .collect()
    }
}

/// Development account `index` (0..10), funded on every fresh Anvil.
pub fn dev(index: usize) -> PrivateKeySigner {
    dev_signer(index).expect("there are ten development accounts")
}

pub mod cli;
pub mod consortium;
