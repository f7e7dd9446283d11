//! Starting and stopping local services: Anvil nodes and the MongoDB-wire document database.
//!
//! Used by the integration-test harness and by local development; every process started here is
//! stopped by PID when its handle is dropped.

mod anvil;
mod docdb;
mod process;

pub use anvil::{AnvilNode, AnvilOptions};
pub use docdb::DocumentDbServer;
pub use process::{ManagedProcess, accepts_connections, free_port};

use std::time::Duration;

/// Why a local service could not be started.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    #[error(transparent)]
    ToolMissing(#[from] crate::tools::ToolNotFound),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{name} exited during start-up ({status}); its last output:\n{log_tail}")]
    Exited {
        name: String,
        status: String,
        log_tail: String,
    },
    #[error("{name} was not ready after {timeout:?}; its last output:\n{log_tail}")]
    NotReady {
        name: String,
        timeout: Duration,
        log_tail: String,
    },
}
