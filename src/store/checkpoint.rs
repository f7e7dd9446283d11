//! How far migration has read the chain, per deployment.

use alloy::primitives::Address;
use mongodb::bson::{self, doc};
use mongodb::options::{ReplaceOptions, WriteConcern};
use serde::{Deserialize, Serialize};

use super::archive::hex_address;
use super::{Archive, StoreError};

const COLLECTION: &str = "migration_checkpoints";

/// The first block migration has not read yet, and the entries it could not migrate (retried on
/// every run until they succeed, so none is forgotten).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigrationCheckpoint {
    /// `<chain id>:<contract>`.
    #[serde(rename = "_id")]
    pub id: String,
    pub chain_id: i64,
    pub contract: String,
    pub next_block: i64,
    /// Approved entries that failed, with the approval block.
    pub failed: Vec<FailedEntry>,
    pub updated_at: bson::DateTime,
}

/// An approved entry migration could not archive yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedEntry {
    pub entry_id: i64,
    /// Block of the entry's approval, where a retry finds it again.
    pub approval_block: i64,
    pub reason: String,
}

impl MigrationCheckpoint {
    /// A checkpoint at `next_block` with nothing failed.
    pub fn new(chain_id: u64, contract: Address, next_block: u64) -> Self {
        Self {
            id: format!("{chain_id}:{}", hex_address(contract)),
            chain_id: chain_id as i64,
            contract: hex_address(contract),
            next_block: next_block as i64,
            failed: Vec::new(),
            updated_at: bson::DateTime::now(),
        }
    }
}

impl Archive {
    /// The saved checkpoint of a deployment, if any.
    pub async fn checkpoint(
        &self,
        chain_id: u64,
        contract: Address,
    ) -> Result<Option<MigrationCheckpoint>, StoreError> {
        let id = MigrationCheckpoint::new(chain_id, contract, 0).id;
        self.db
            .collection::<MigrationCheckpoint>(COLLECTION)
            .find_one(doc! { "_id": id })
            .await
            .map_err(StoreError::operation("reading the migration checkpoint"))
    }

    /// Saves a checkpoint, acknowledged by a majority with journaling.
    pub async fn save_checkpoint(&self, checkpoint: &MigrationCheckpoint) -> Result<(), StoreError> {
        let mut checkpoint = checkpoint.clone();
        checkpoint.updated_at = bson::DateTime::now();
        let options = ReplaceOptions::builder()
            .upsert(true)
            .write_concern(WriteConcern::builder().w(mongodb::options::Acknowledgment::Majority).journal(true).build())
            .build();
        self.db
            .collection::<MigrationCheckpoint>(COLLECTION)
            .replace_one(doc! { "_id": &checkpoint.id }, &checkpoint)
            .with_options(options)
            .await
            .map_err(StoreError::operation("saving the migration checkpoint"))?;
        Ok(())
    }
}
