//! Benchmarks: each starts its own local services, measures, and stops them.

pub mod chart;
pub mod gas;
pub mod latency;
pub mod migration;
pub mod model;
mod seed;
pub mod throughput;

pub use seed::{SeededConsortium, seed_consortium};

use std::path::Path;

pub use crate::devnet::local::Engine;
use crate::devnet::{AnvilNode, AnvilOptions, DevnetError, GethNetwork, GethNetworkOptions};

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

/// The chain a benchmark runs on, stopped when dropped.
pub enum BenchNetwork {
    Anvil(AnvilNode),
    /// Five Geth nodes; the benchmark talks to node 1.
    Geth(GethNetwork),
}

impl BenchNetwork {
    /// Starts a fresh network of `engine` under `dir`.
    pub async fn start(engine: Engine, dir: &Path) -> Result<Self, BenchError> {
        Ok(match engine {
            Engine::Anvil => Self::Anvil(AnvilNode::start(
                &AnvilOptions { tie_to_parent: true, ..Default::default() },
                &dir.join("anvil.log"),
            )?),
            Engine::Geth => {
                let options = GethNetworkOptions { nodes: 5, block_time: 1, tie_to_parent: true };
                let network = GethNetwork::start_ready(&dir.join("geth"), &options).await?;
                Self::Geth(network)
            }
        })
    }

    /// The JSON-RPC URL the benchmark uses.
    pub fn rpc_url(&self) -> String {
        match self {
            Self::Anvil(node) => node.rpc_url(),
            Self::Geth(network) => network.specs()[0].rpc_url(),
        }
    }
}
