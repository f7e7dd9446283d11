//! Starting and stopping local services: Anvil nodes, Geth networks and the MongoDB-wire document
//! database.
//!
//! [`LocalNetwork`] is the one way to start them, for `hrm devnet`, the demo, the benchmarks and
//! the test harness; every process started here is stopped by PID when its handle is dropped.

mod anvil;
mod docdb;
mod ferretdb;
pub mod geth;
pub mod local;
mod network;
mod process;

pub use anvil::{AnvilNode, AnvilOptions};
pub use docdb::DocumentDbServer;
pub use ferretdb::FerretDbServer;
pub use geth::{GethNetwork, GethNetworkOptions, GethNodeSpec, NodeRole};
pub use network::{ANVIL_CHAIN_ID, Engine, Lifetime, LocalChain, LocalNetwork, NetworkSpec};
pub use process::{ManagedProcess, accepts_connections, free_port, is_running, stop_pid};

use std::time::Duration;

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
    AlreadyUp { engine: Engine, url: String },
    #[error("no devnet is up; start one with `hrm devnet up`")]
    NotUp,
}
