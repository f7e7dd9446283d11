//! Deleting every copy of one record this hospital keeps, at its patient's request.

use alloy::primitives::{Address, B256};
use mongodb::bson::{Document, doc};
use serde::Serialize;

use super::archive::{archive_id, hex_address};
use super::{Archive, RecordCollection, StoreError};

/// What erasing one entry deleted here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ErasedCopies {
    /// The sealed envelope.
    pub envelope: bool,
    /// Archived records (0 or 1).
    pub records: u64,
    pub predictions: u64,
    /// Copies kept in `orphaned_records` after a reorganisation.
    pub orphaned_copies: u64,
    /// Queued pushes of its envelope.
    pub queued_pushes: u64,
    /// Copies re-sealed to its patient's new account after a recovery.
    pub resealed_copies: u64,
}

impl Archive {
    /// Deletes the envelope `digest` and every archived copy of entry `entry_id` of the
    /// deployment: the record, its predictions, its orphaned copies and its queued pushes. The
    /// access log keeps that reads happened, never the data, and stays.
    pub async fn erase_entry(
        &self,
        chain_id: u64,
        contract: Address,
        entry_id: u64,
        digest: B256,
    ) -> Result<ErasedCopies, StoreError> {
        let record_id = archive_id(chain_id, contract, entry_id);
        let of_entry =
            doc! { "chain_id": chain_id as i64, "contract": hex_address(contract), "entry_id": entry_id as i64 };
        let mut erased = ErasedCopies { envelope: self.delete_envelope(digest).await?, ..Default::default() };
        for collection in RecordCollection::ALL {
            erased.records += self.delete_all(collection.name(), doc! { "_id": &record_id }).await?;
        }
        erased.predictions = self.delete_all(super::predictions::COLLECTION, doc! { "record_id": &record_id }).await?;
        erased.orphaned_copies = self.delete_all(super::orphans::COLLECTION, of_entry).await?;
        erased.queued_pushes = self
            .delete_all(super::envelopes::PENDING_DELIVERIES_COLLECTION, doc! { "entry_id": entry_id as i64 })
            .await?;
        self.pull_done(entry_id).await?;
        erased.resealed_copies = self.delete_resealed_envelopes(entry_id).await?;
        self.forget_cached_archives().await?;
        Ok(erased)
    }

    /// Web servers keep patients' archives in memory until the checkpoint changes: touching it
    /// makes every server on this database read them again within a second.
    pub(super) async fn forget_cached_archives(&self) -> Result<(), StoreError> {
        self.db
            .collection::<Document>(super::checkpoint::COLLECTION)
            .update_many(doc! {}, doc! { "$set": { "updated_at": mongodb::bson::DateTime::now() } })
            .await
            .map_err(StoreError::operation("touching the migration checkpoint"))?;
        Ok(())
    }

    async fn delete_all(&self, collection: &str, filter: Document) -> Result<u64, StoreError> {
        let deleted = self
            .db
            .collection::<Document>(collection)
            .delete_many(filter)
            .await
            .map_err(StoreError::operation("erasing a record"))?;
        Ok(deleted.deleted_count)
    }
}
