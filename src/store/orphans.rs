//! Records whose approval a chain reorganisation took away: moved here, never deleted.

use alloy::primitives::Address;
use futures_util::TryStreamExt;
use mongodb::bson::{self, doc};
use serde::{Deserialize, Serialize};

use super::archive::hex_address;
use super::{Archive, ArchivedRecord, RecordCollection, StoreError};

pub(super) const COLLECTION: &str = "orphaned_records";

/// An archived record whose approval is no longer on the canonical chain, as it was archived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrphanedRecord {
    /// `<record id>@<approval tx hash>`: one document per lost approval, so moving a record
    /// twice (after a crash halfway) stores it once.
    #[serde(rename = "_id")]
    pub id: String,
    pub chain_id: i64,
    pub contract: String,
    pub entry_id: i64,
    pub record: ArchivedRecord,
    pub reason: String,
    /// The newest block the chain kept when the reorganisation was found.
    pub common_ancestor: i64,
    pub orphaned_at: bson::DateTime,
}

impl Archive {
    /// Archived records of a deployment whose approval was mined after block `block`.
    pub async fn records_approved_after(
        &self,
        chain_id: u64,
        contract: Address,
        block: u64,
    ) -> Result<Vec<ArchivedRecord>, StoreError> {
        let filter = doc! { "chain_id": chain_id as i64, "contract": hex_address(contract), "approval.block": { "$gt": block as i64 } };
        self.records_matching(filter, "reading recently approved records").await
    }

    /// Moves `record` from the archive to `orphaned_records` with `reason`: the copy is written
    /// (journaled) before the original is deleted, so a crash in between leaves it in both
    /// places, and the next run finishes the move.
    pub async fn orphan_record(
        &self,
        record: &ArchivedRecord,
        reason: &str,
        common_ancestor: u64,
    ) -> Result<(), StoreError> {
        let orphan = OrphanedRecord {
            id: format!("{}@{}", record.id, record.approval.tx_hash),
            chain_id: record.chain_id,
            contract: record.contract.clone(),
            entry_id: record.entry_id,
            record: record.clone(),
            reason: reason.to_string(),
            common_ancestor: common_ancestor as i64,
            orphaned_at: bson::DateTime::now(),
        };
        let document = bson::to_document(&orphan)
            .map_err(|e| StoreError::Damaged { id: orphan.id.clone(), message: e.to_string() })?;
        let journaled = mongodb::options::WriteConcern::builder().journal(true).build();
        self.db
            .collection::<bson::Document>(COLLECTION)
            .update_one(doc! { "_id": &orphan.id }, doc! { "$setOnInsert": document })
            .upsert(true)
            .write_concern(journaled)
            .await
            .map_err(StoreError::operation("keeping an orphaned record"))?;
        self.db
            .collection::<ArchivedRecord>(RecordCollection::for_kind(record.kind).name())
            .delete_one(doc! { "_id": &record.id, "approval.tx_hash": &record.approval.tx_hash })
            .await
            .map_err(StoreError::operation("moving an orphaned record out of the archive"))?;
        Ok(())
    }

    /// Every orphaned record of a deployment, oldest first.
    pub async fn orphaned_records(&self, chain_id: u64, contract: Address) -> Result<Vec<OrphanedRecord>, StoreError> {
        self.db
            .collection::<OrphanedRecord>(COLLECTION)
            .find(doc! { "chain_id": chain_id as i64, "contract": hex_address(contract) })
            .sort(doc! { "orphaned_at": 1 })
            .await
            .map_err(StoreError::operation("reading orphaned records"))?
            .try_collect()
            .await
            .map_err(StoreError::operation("reading orphaned records"))
    }
}
