//! Benchmarks: each starts its own local services, measures, and stops them.

pub mod migration;
pub mod model;
mod seed;

pub use seed::{SeededConsortium, seed_consortium};

use std::path::Path;

use crate::devnet::{AnvilNode, AnvilOptions, DevnetError, DocumentDbServer};

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

/// An Anvil node and a document database in a temporary folder, stopped when dropped.
pub struct LocalServices {
    pub anvil: AnvilNode,
    pub docdb: DocumentDbServer,
}

impl LocalServices {
    /// Starts both under `dir`.
    pub fn start(dir: &Path) -> Result<Self, BenchError> {
        let anvil = AnvilNode::start(
            &AnvilOptions {
                tie_to_parent: true,
                ..Default::default()
            },
            &dir.join("anvil.log"),
        )?;
        let docdb = DocumentDbServer::start(&dir.join("docdb"), 0, true)?;
        Ok(Self { anvil, docdb })
    }
}
