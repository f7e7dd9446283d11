//! Benchmarks: each starts its own local services, measures, and stops them.

pub mod gas;
pub mod migration;
pub mod model;
mod seed;

pub use seed::{SeededConsortium, seed_consortium};

use crate::devnet::DevnetError;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Devnet(#[from] DevnetError),
    #[error(transparent)]
    Chain(#[from] crate::chain::ChainError),
    #[error(transparent)]
    Submission(#[from] crate::submission::SubmissionError),
    #[error(transparent)]
    Migration(#[from] crate::migration::MigrationError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Other(String),
}
