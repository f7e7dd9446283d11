//! Benchmarks: each starts its own local services (through [`crate::devnet::LocalNetwork`]),
//! measures, and stops them.

pub mod chart;
pub mod gas;
pub mod gas_trace;
pub mod latency;
pub mod migration;
pub mod model;
mod seed;
pub mod serve;
pub mod throughput;

use std::path::PathBuf;

use alloy::primitives::B256;

use crate::devnet::DevnetError;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Devnet(#[from] DevnetError),
    #[error(transparent)]
    Chain(#[from] crate::chain::ChainError),
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    #[error(transparent)]
    Submission(#[from] crate::submission::SubmissionError),
    #[error(transparent)]
    Migration(#[from] crate::migration::MigrationError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Model(#[from] crate::ml::MlError),
    #[error(transparent)]
    Staff(#[from] crate::store::StaffError),
    #[error("the local network has no {0}")]
    MissingService(&'static str),
    #[error("{what}: {message}")]
    Transaction { what: String, message: String },
    #[error("transaction {0} reverted")]
    Reverted(B256),
    #[error("running {command}: {message}")]
    Process { command: String, message: String },
    #[error("drawing {path}: {message}")]
    Chart { path: PathBuf, message: String },
    #[error("only {migrated} of {expected} entries were migrated ({failed} failed)")]
    IncompleteMigration { migrated: usize, expected: usize, failed: usize },
}

impl BenchError {
    /// A failed call or transaction, naming what was being done.
    pub(crate) fn failed(what: impl Into<String>, error: impl std::fmt::Display) -> Self {
        Self::Transaction { what: what.into(), message: error.to_string() }
    }
}
