//! Starting and stopping local services: Anvil nodes and the MongoDB-wire document database.
//!
//! Used by the integration-test harness and by local development; every process started here is
//! stopped by PID when its handle is dropped.

mod anvil;
mod docdb;
pub mod geth;
pub mod local;
mod process;

pub use anvil::{AnvilNode, AnvilOptions};
pub use docdb::DocumentDbServer;
pub use geth::{GethNetwork, GethNetworkOptions, GethNodeSpec, NodeRole};
pub use process::{ManagedProcess, accepts_connections, free_port, is_running, stop_pid};

use std::path::Path;
use std::time::Duration;

/// An Anvil node and a document database server, stopped when dropped.
pub struct LocalStack {
    pub anvil: AnvilNode,
    pub docdb: DocumentDbServer,
}

impl LocalStack {
    /// Starts both with their data and logs under `dir`; `tie_to_parent` kills them if this
    /// process dies without stopping them.
    pub fn start(dir: &Path, tie_to_parent: bool) -> Result<Self, DevnetError> {
        let anvil = AnvilNode::start(&AnvilOptions { tie_to_parent, ..Default::default() }, &dir.join("anvil.log"))?;
        let docdb = DocumentDbServer::start(&dir.join("docdb"), 0, tie_to_parent)?;
        Ok(Self { anvil, docdb })
    }
}

/// Why a local service could not be started.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    #[error(transparent)]
    ToolMissing(#[from] crate::tools::ToolNotFound),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{name} exited during start-up ({status}); its last output:\n{log_tail}")]
    Exited { name: String, status: String, log_tail: String },
    #[error("{name} was not ready after {timeout:?}; its last output:\n{log_tail}")]
    NotReady { name: String, timeout: Duration, log_tail: String },
    #[error("a {engine:?} devnet is already up ({url}); stop it first with `hrm devnet down`")]
    AlreadyUp { engine: local::Engine, url: String },
    #[error("no devnet is up; start one with `hrm devnet up`")]
    NotUp,
}
