//! What a hospital keeps for patients its guardians moved to a new account: each record's copy
//! re-sealed to the new key (beside the original envelope, which the chain's digest names and so
//! cannot be replaced), the patient's archived records filed under the new account, and which
//! moves it has carried out.

use std::collections::HashSet;

use alloy::primitives::Address;
use futures_util::TryStreamExt;
use mongodb::bson::{self, Binary, Document, doc, spec::BinarySubtype};
use serde::{Deserialize, Serialize};

use super::archive::hex_address;
use super::{Archive, RecordCollection, StoreError};

/// The collection of envelopes re-sealed to a recovered patient's new key.
pub const RESEALED_ENVELOPES_COLLECTION: &str = "resealed_envelopes";
/// The collection of moves this hospital has carried out.
pub const RECOVERIES_APPLIED_COLLECTION: &str = "recoveries_applied";

#[derive(Debug, Serialize, Deserialize)]
struct ResealedEnvelope {
    /// `<entry id>:<account>`.
    #[serde(rename = "_id")]
    id: String,
    entry_id: i64,
    /// The account it is sealed to, lower-case hex.
    account: String,
    bytes: Binary,
    resealed_at: bson::DateTime,
}

fn resealed_id(entry_id: u64, account: Address) -> String {
    format!("{entry_id}:{}", hex_address(account))
}

/// A move's `_id` in `recoveries_applied`: `<old account>:<new account>`.
fn applied_id(old: Address, new: Address) -> String {
    format!("{}:{}", hex_address(old), hex_address(new))
}

impl Archive {
    /// Keeps entry `entry_id`'s copy re-sealed to `account` (replacing an earlier one).
    pub async fn store_resealed_envelope(
        &self,
        entry_id: u64,
        account: Address,
        envelope: &[u8],
    ) -> Result<(), StoreError> {
        let id = resealed_id(entry_id, account);
        let filter = doc! { "_id": &id };
        let document = ResealedEnvelope {
            id: id.clone(),
            entry_id: entry_id as i64,
            account: hex_address(account),
            bytes: Binary { subtype: BinarySubtype::Generic, bytes: envelope.to_vec() },
            resealed_at: bson::DateTime::now(),
        };
        let document = bson::to_document(&document).map_err(|e| StoreError::Damaged { id, message: e.to_string() })?;
        self.db
            .collection::<Document>(RESEALED_ENVELOPES_COLLECTION)
            .replace_one(filter, document)
            .upsert(true)
            .await
            .map_err(StoreError::operation("storing a re-sealed envelope"))?;
        Ok(())
    }

    /// Entry `entry_id`'s copy re-sealed to `account`, if this hospital made one.
    pub async fn resealed_envelope(&self, entry_id: u64, account: Address) -> Result<Option<Vec<u8>>, StoreError> {
        let found = self
            .db
            .collection::<ResealedEnvelope>(RESEALED_ENVELOPES_COLLECTION)
            .find_one(doc! { "_id": resealed_id(entry_id, account) })
            .await
            .map_err(StoreError::operation("reading a re-sealed envelope"))?;
        Ok(found.map(|stored| stored.bytes.bytes))
    }

    /// The entries with a copy re-sealed to `account`.
    pub async fn resealed_entries_of(&self, account: Address) -> Result<HashSet<u64>, StoreError> {
        let found: Vec<ResealedEnvelope> = self
            .db
            .collection::<ResealedEnvelope>(RESEALED_ENVELOPES_COLLECTION)
            .find(doc! { "account": hex_address(account) })
            .await
            .map_err(StoreError::operation("reading re-sealed envelopes"))?
            .try_collect()
            .await
            .map_err(StoreError::operation("reading re-sealed envelopes"))?;
        Ok(found.into_iter().map(|stored| stored.entry_id as u64).collect())
    }

    /// Files `old`'s archived records and predictions under `new`, and names `new` for `old`
    /// among each record's voters; returns how many records moved. Run again, it moves nothing.
    pub async fn refile_patient(&self, old: Address, new: Address) -> Result<u64, StoreError> {
        let (old, new) = (hex_address(old), hex_address(new));
        let mut moved = 0;
        for collection in RecordCollection::ALL {
            let records = self.db.collection::<Document>(collection.name());
            let found: Vec<Document> = records
                .find(doc! { "patient": &old })
                .projection(doc! { "voters": 1 })
                .await
                .map_err(StoreError::operation("re-filing a patient's records"))?
                .try_collect()
                .await
                .map_err(StoreError::operation("re-filing a patient's records"))?;
            for record in found {
                let voters: Vec<String> = record
                    .get_array("voters")
                    .map(|voters| {
                        voters
                            .iter()
                            .filter_map(|v| v.as_str())
                            .map(|v| if v == old { new.clone() } else { v.to_string() })
                            .collect()
                    })
                    .unwrap_or_default();
                let id = record.get("_id").cloned().unwrap_or(bson::Bson::Null);
                records
                    .update_one(doc! { "_id": id }, doc! { "$set": { "patient": &new, "voters": voters } })
                    .await
                    .map_err(StoreError::operation("re-filing a patient's records"))?;
                moved += 1;
            }
        }
        self.db
            .collection::<Document>(super::predictions::COLLECTION)
            .update_many(doc! { "patient": &old }, doc! { "$set": { "patient": &new } })
            .await
            .map_err(StoreError::operation("re-filing a patient's predictions"))?;
        self.move_enrollment(&old, &new).await?;
        if moved > 0 {
            self.forget_cached_archives().await?;
        }
        Ok(moved)
    }

    /// The directory's link of `old` to its MRN becomes `new`'s. The link's `_id` is the account
    /// and its MRN is unique, so the old link goes before the new one is written: a crash between
    /// the two leaves the MRN unlinked (the patient enrolls again), never linked twice.
    async fn move_enrollment(&self, old: &str, new: &str) -> Result<(), StoreError> {
        let accounts = self.db.collection::<Document>(super::directory::ACCOUNTS);
        let what = "moving a patient's enrollment";
        let Some(mut link) = accounts.find_one(doc! { "_id": old }).await.map_err(StoreError::operation(what))? else {
            return Ok(());
        };
        accounts.delete_one(doc! { "_id": old }).await.map_err(StoreError::operation(what))?;
        link.insert("_id", new);
        link.insert("moved_from", old);
        match accounts.insert_one(link).await {
            Ok(_) => Ok(()),
            Err(e) if super::is_duplicate_key(&e) => Ok(()),
            Err(e) => Err(StoreError::operation(what)(e)),
        }
    }

    /// Whether this hospital carried out the move of `old` to `new`.
    pub async fn recovery_applied(&self, old: Address, new: Address) -> Result<bool, StoreError> {
        let found = self
            .db
            .collection::<Document>(RECOVERIES_APPLIED_COLLECTION)
            .find_one(doc! { "_id": applied_id(old, new) })
            .await
            .map_err(StoreError::operation("reading the moves carried out"))?;
        Ok(found.is_some())
    }

    /// Remembers that this hospital carried out the move of `old` to `new`.
    pub async fn remember_recovery_applied(&self, old: Address, new: Address) -> Result<(), StoreError> {
        let id = applied_id(old, new);
        self.db
            .collection::<Document>(RECOVERIES_APPLIED_COLLECTION)
            .replace_one(doc! { "_id": &id }, doc! { "_id": &id, "applied_at": bson::DateTime::now() })
            .upsert(true)
            .await
            .map_err(StoreError::operation("remembering a move carried out"))?;
        Ok(())
    }

    /// Deletes entry `entry_id`'s re-sealed copies; how many there were.
    pub(super) async fn delete_resealed_envelopes(&self, entry_id: u64) -> Result<u64, StoreError> {
        let deleted = self
            .db
            .collection::<Document>(RESEALED_ENVELOPES_COLLECTION)
            .delete_many(doc! { "entry_id": entry_id as i64 })
            .await
            .map_err(StoreError::operation("erasing a record"))?;
        Ok(deleted.deleted_count)
    }
}
