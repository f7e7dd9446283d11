//! Where the contract lives on each chain: saved at deploy, read by every later command.

use std::path::PathBuf;

use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use super::ChainError;
use crate::fsutil::write_atomically;

/// A deployment of `HealthRecords` on one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub chain_id: u64,
    pub address: Address,
    /// Block of the deployment transaction: event scans start here.
    pub deploy_block: u64,
    pub tx_hash: B256,
    pub deployer: Address,
    /// Seconds since the Unix epoch.
    pub deployed_at: u64,
}

/// The saved deployments, one JSON file per chain id.
#[derive(Debug, Clone)]
pub struct DeploymentStore {
    dir: PathBuf,
}

impl DeploymentStore {
    /// Deployments kept in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The file of `chain_id`'s deployment.
    pub fn path_of(&self, chain_id: u64) -> PathBuf {
        self.dir.join(format!("{chain_id}.json"))
    }

    /// The saved deployment on `chain_id`, if any.
    pub fn load(&self, chain_id: u64) -> Result<Option<DeploymentRecord>, ChainError> {
        let path = self.path_of(chain_id);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| ChainError::DamagedDeployment { path, message: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ChainError::Io { what: "reading the deployment record", path, source }),
        }
    }

    /// Saves a deployment, replacing any earlier one on its chain.
    pub fn save(&self, record: &DeploymentRecord) -> Result<PathBuf, ChainError> {
        let path = self.path_of(record.chain_id);
        let text = serde_json::to_string_pretty(record).expect("a deployment record serializes");
        write_atomically(&path, text.as_bytes()).map_err(|source| ChainError::Io {
            what: "saving the deployment record",
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}
