//! `hrm doctor`: checks of what a hospital's machine needs, each with what to do about a problem.
//!
//! Every check is bounded in time and independent of the others, so one broken service does not
//! hide what is wrong with the rest.

use std::time::{Duration, SystemTime};

use alloy::providers::Provider;
use serde::Serialize;

use crate::chain::{ChainError, Connection, Consortium, DeploymentStore, root_cause};
use crate::identity::KeystoreDir;
use crate::store::Archive;

/// How long a check waits for a service.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// How far the chain's clock may run ahead of this machine's before it is a problem.
const CLOCK_TOLERANCE: Duration = Duration::from_secs(30);

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    /// Works, but not as a consortium should run it.
    Warning,
    /// Does not work.
    Problem,
}

/// One check: what was checked, how it came out, what was seen, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoctorCheck {
    pub name: &'static str,
    pub outcome: Outcome,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}

impl DoctorCheck {
    pub fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self { name, outcome: Outcome::Ok, detail: detail.into(), remedy: None }
    }

    pub fn warning(name: &'static str, detail: impl Into<String>, remedy: impl Into<String>) -> Self {
        Self { name, outcome: Outcome::Warning, detail: detail.into(), remedy: Some(remedy.into()) }
    }

    pub fn problem(name: &'static str, detail: impl Into<String>, remedy: impl Into<String>) -> Self {
        Self { name, outcome: Outcome::Problem, detail: detail.into(), remedy: Some(remedy.into()) }
    }
}

/// Whether the keystores are the owner's alone.
pub fn check_keystores(keystores: &KeystoreDir) -> DoctorCheck {
    match keystores.loose_permissions() {
        Ok(loose) if loose.is_empty() => DoctorCheck::ok(
            "keystores",
            format!("{} and its keystores are the owner's alone", keystores.dir().display()),
        ),
        Ok(loose) => {
            let listed: Vec<String> =
                loose.iter().map(|(path, mode)| format!("{} ({mode:o})", path.display())).collect();
            let fixes: Vec<String> = loose
                .iter()
                .map(|(path, _)| format!("chmod {} {}", if path.is_dir() { "700" } else { "600" }, path.display()))
                .collect();
            DoctorCheck::problem(
                "keystores",
                format!("other users may read or change: {}", listed.join(", ")),
                fixes.join("; "),
            )
        }
        Err(error) => DoctorCheck::problem(
            "keystores",
            format!("{} cannot be read: {error}", keystores.dir().display()),
            "run hrm as the user that owns HRM_HOME",
        ),
    }
}

/// Whether the node answers, and whether a contract is saved for its chain with code there.
/// Returns the attached contract when it is.
pub async fn check_node(
    connection: Result<Connection, ChainError>,
    deployments: &DeploymentStore,
) -> (DoctorCheck, Option<Consortium>) {
    let connection = match connection {
        Ok(connection) => connection,
        Err(error) => {
            let check = DoctorCheck::problem(
                "node",
                error.to_string(),
                "start the node, or point --rpc-url (or rpc_url in hrm.toml) at one that runs",
            );
            return (check, None);
        }
    };
    let chain_id = connection.chain_id();
    let rpc_url = connection.rpc_url().clone();
    match tokio::time::timeout(CHECK_TIMEOUT, connection.attach(deployments)).await {
        Ok(Ok(consortium)) => {
            let address = consortium.deployment().address;
            (DoctorCheck::ok("node", format!("chain {chain_id} at {rpc_url}; contract {address}")), Some(consortium))
        }
        Ok(Err(error @ ChainError::NoDeployment { .. })) => (
            DoctorCheck::problem(
                "node",
                error.to_string(),
                format!(
                    "copy the consortium's deployment record to {}, or run `hrm deploy` for a new consortium",
                    deployments.path_of(chain_id).display()
                ),
            ),
            None,
        ),
        Ok(Err(error)) => {
            (DoctorCheck::problem("node", error.to_string(), "check the node and the saved deployment"), None)
        }
        Err(_) => (
            DoctorCheck::problem(
                "node",
                format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
                "check the node's load and network",
            ),
            None,
        ),
    }
}

/// Whether the chain's clock agrees with this machine's: a block stamped in this machine's future
/// means this clock is behind, which breaks sign-in messages and signed requests.
pub async fn check_clock(consortium: &Consortium) -> DoctorCheck {
    let provider = consortium.connection().provider();
    let latest =
        tokio::time::timeout(CHECK_TIMEOUT, provider.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)).await;
    let block = match latest {
        Ok(Ok(Some(block))) => block,
        Ok(Ok(None)) => return DoctorCheck::problem("clock", "the node has no latest block", "check the node"),
        Ok(Err(error)) => {
            return DoctorCheck::problem(
                "clock",
                format!("the node answered with an error: {error}"),
                "check the node",
            );
        }
        Err(_) => return DoctorCheck::problem("clock", "the node did not answer", "check the node"),
    };
    let stamped = SystemTime::UNIX_EPOCH + Duration::from_secs(block.header.timestamp);
    let now = SystemTime::now();
    match stamped.duration_since(now) {
        Ok(ahead) if ahead > CLOCK_TOLERANCE => DoctorCheck::problem(
            "clock",
            format!("block {} is stamped {} s in this machine's future", block.header.number, ahead.as_secs()),
            "this machine's clock is behind: enable time synchronisation (systemd-timesyncd or chrony)",
        ),
        Ok(_) => DoctorCheck::ok("clock", format!("block {} agrees with this machine's clock", block.header.number)),
        Err(behind) => {
            let age = behind.duration();
            let detail = format!("the latest block, {}, is {} s old", block.header.number, age.as_secs());
            DoctorCheck::ok("clock", detail)
        }
    }
}

/// Whether the archive answers, and has every index it relies on.
pub async fn check_database(archive: Result<Archive, crate::store::StoreError>) -> DoctorCheck {
    let archive = match archive {
        Ok(archive) => archive,
        Err(error) => {
            return DoctorCheck::problem(
                "database",
                error.to_string(),
                "start the database, or point --mongodb-uri (or mongodb_uri in hrm.toml) at it",
            );
        }
    };
    match tokio::time::timeout(CHECK_TIMEOUT, archive.missing_indexes()).await {
        Ok(Ok(missing)) if missing.is_empty() => {
            DoctorCheck::ok("database", format!("{} answers; every index is there", archive.hosts()))
        }
        Ok(Ok(missing)) => {
            let listed: Vec<String> =
                missing.iter().map(|(collection, index)| format!("{collection}.{index}")).collect();
            DoctorCheck::warning(
                "database",
                format!("{} answers; missing indexes: {}", archive.hosts(), listed.join(", ")),
                "start `hrm serve` or run `hrm migrate` once, which create them (pages are slow without them)",
            )
        }
        Ok(Err(error)) => {
            DoctorCheck::problem("database", error.to_string(), "check the database user's rights to list indexes")
        }
        Err(_) => DoctorCheck::problem(
            "database",
            format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
            "check the database's load and network",
        ),
    }
}

/// Whether this hospital's published endpoint (`hrm hospital endpoint set`) is served over TLS
/// that the other hospitals will accept: an https URL whose certificate this machine trusts.
pub async fn check_endpoint(consortium: &Consortium, hospital: alloy::primitives::Address) -> DoctorCheck {
    let endpoint = match consortium.endpoint_of(hospital).await {
        Ok(Some(endpoint)) => endpoint,
        Ok(None) => {
            return DoctorCheck::warning(
                "endpoint",
                format!("{hospital} has published no endpoint"),
                "publish where its server answers: `hrm hospital endpoint set https://…` (other hospitals push and pull envelopes there)",
            );
        }
        Err(error) => return DoctorCheck::problem("endpoint", error.to_string(), "check the node"),
    };
    // The same rule `hrm hospital endpoint set` applies, in case it was published another way.
    if let Err(reason) = crate::exchange::check_endpoint(&endpoint) {
        return DoctorCheck::problem("endpoint", reason, "publish the https:// URL with `hrm hospital endpoint set`");
    }
    let https = endpoint.starts_with("https://");
    let client = alloy::transports::http::reqwest::Client::builder()
        .timeout(CHECK_TIMEOUT)
        .build()
        .expect("a default client builds");
    let probe = format!("{endpoint}/healthz");
    match client.get(probe.clone()).send().await {
        Ok(response) if response.status().is_success() => {
            let how = if https { "its certificate is trusted" } else { "plain HTTP on this machine only" };
            DoctorCheck::ok("endpoint", format!("{endpoint} answers; {how}"))
        }
        Ok(response) => DoctorCheck::problem(
            "endpoint",
            format!("{probe} answered {}", response.status()),
            "check that `hrm serve` runs behind that URL and the proxy forwards /healthz and /api/v1/",
        ),
        Err(error) => DoctorCheck::problem(
            "endpoint",
            format!("{probe}: {}", root_cause(&error)),
            "check the certificate (it must chain to a trusted authority and name the host) and that the server runs",
        ),
    }
}
