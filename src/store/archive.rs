//! Archived records: one document per approved entry, with its chain provenance.

use alloy::primitives::Address;
use futures_util::TryStreamExt;
use mongodb::bson::{self, Bson, Document, doc};
use serde::{Deserialize, Serialize};

use super::{Archive, StoreError};
use crate::records::EntryKind;
use crate::records::canonical::canonical_json;

/// The collection an entry kind is archived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordCollection {
    Health,
    Bills,
}

impl RecordCollection {
    /// The collection's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Health => "health_records",
            Self::Bills => "bills",
        }
    }

    /// Where entries of `kind` go.
    pub fn for_kind(kind: EntryKind) -> Self {
        match kind {
            EntryKind::Health => Self::Health,
            EntryKind::Bill => Self::Bills,
        }
    }

    /// Both collections.
    pub const ALL: [Self; 2] = [Self::Health, Self::Bills];
}

/// Where on chain something happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub tx_hash: String,
    pub block: i64,
}

/// An approved record in plaintext with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedRecord {
    /// `<chain id>:<contract>:<entry id>`.
    #[serde(rename = "_id")]
    pub id: String,
    pub chain_id: i64,
    /// Contract address, lower-case hex.
    pub contract: String,
    pub entry_id: i64,
    pub kind: EntryKind,
    /// Patient address, lower-case hex.
    pub patient: String,
    /// Submitting hospital, lower-case hex.
    pub submitter: String,
    /// The record as submitted (health or bill details).
    pub record: Document,
    /// On-chain commitment at migration, 0x-hex.
    pub commitment: String,
    /// The commitment's salt, 0x-hex.
    pub salt: String,
    pub submission: Provenance,
    pub approval: Provenance,
    /// Accounts that approved, lower-case hex, in vote order.
    pub voters: Vec<String>,
    pub migrated_at: bson::DateTime,
}

/// The document key of an entry.
pub fn archive_id(chain_id: u64, contract: Address, entry_id: u64) -> String {
    format!("{chain_id}:{}:{entry_id}", hex_address(contract))
}

/// Addresses are stored in lower case so that equality queries need no normalising.
pub fn hex_address(address: Address) -> String {
    format!("{address:#x}")
}

/// The canonical JSON of a stored record: what its commitment must cover.
pub fn canonical_record_json(record: &Document) -> Vec<u8> {
    canonical_json(&Bson::Document(record.clone()).into_relaxed_extjson())
}

impl Archive {
    /// Inserts each record unless its entry is already archived (an upsert with
    /// `$setOnInsert`, so an existing document is never overwritten), in one `update` command.
    /// Returns how many were new.
    ///
    /// The write is acknowledged but not journaled on its own: the checkpoint saved after it is
    /// (`j: true`), and a journaled write makes every earlier write of the journal durable too,
    /// so the batch is durable before the checkpoint moves past it. Journaling each batch as
    /// well would halve migration speed for nothing.
    pub async fn insert_missing(
        &self,
        collection: RecordCollection,
        records: &[ArchivedRecord],
    ) -> Result<usize, StoreError> {
        if records.is_empty() {
            return Ok(0);
        }
        let mut updates = Vec::with_capacity(records.len());
        for record in records {
            let document = bson::to_document(record)
                .map_err(|e| StoreError::Damaged { id: record.id.clone(), message: e.to_string() })?;
            updates.push(doc! {
                "q": { "chain_id": record.chain_id, "contract": &record.contract, "entry_id": record.entry_id },
                "u": { "$setOnInsert": document },
                "upsert": true,
            });
        }
        let command = doc! {
            "update": collection.name(),
            "updates": updates,
            "ordered": false,
        };
        let reply = self.db.run_command(command).await.map_err(StoreError::operation("archiving records"))?;
        if let Ok(errors) = reply.get_array("writeErrors")
            && let Some(first) = errors.first()
        {
            return Err(StoreError::Operation { operation: "archiving records", message: first.to_string() });
        }
        Ok(reply.get_array("upserted").map(Vec::len).unwrap_or(0))
    }

    /// Every archived record of one deployment in one collection, as raw documents (so a damaged
    /// one is reported rather than failing the read).
    pub async fn documents_of(
        &self,
        collection: RecordCollection,
        chain_id: u64,
        contract: Address,
    ) -> Result<Vec<Document>, StoreError> {
        let filter = doc! { "chain_id": chain_id as i64, "contract": hex_address(contract) };
        self.db
            .collection::<Document>(collection.name())
            .find(filter)
            .await
            .map_err(StoreError::operation("reading archived records"))?
            .try_collect()
            .await
            .map_err(StoreError::operation("reading archived records"))
    }

    /// A patient's archived records of both kinds, newest submission first.
    pub async fn records_of_patient(&self, patient: Address) -> Result<Vec<ArchivedRecord>, StoreError> {
        let mut all = Vec::new();
        for collection in RecordCollection::ALL {
            let found: Vec<ArchivedRecord> = self
                .db
                .collection::<ArchivedRecord>(collection.name())
                .find(doc! { "patient": hex_address(patient) })
                .await
                .map_err(StoreError::operation("reading a patient's records"))?
                .try_collect()
                .await
                .map_err(StoreError::operation("reading a patient's records"))?;
            all.extend(found);
        }
        all.sort_by_key(|r| std::cmp::Reverse((r.submission.block, r.entry_id)));
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_records_recompute_to_the_same_canonical_json() {
        let text = br#"{"readings":{"bmi":33.6,"glucose":148,"big":3000000000},"notes":"x","total":"12.50"}"#;
        let value: serde_json::Value = serde_json::from_slice(text).unwrap();
        let Bson::Document(document) = Bson::try_from(value.clone()).unwrap() else { panic!("an object") };
        assert_eq!(canonical_record_json(&document), canonical_json(&value));
        // Through BSON bytes and back, as the database stores it.
        let bytes = bson::to_vec(&document).unwrap();
        let read: Document = bson::from_slice(&bytes).unwrap();
        assert_eq!(canonical_record_json(&read), canonical_json(&value));
    }

    #[test]
    fn ids_and_addresses_are_lower_case() {
        let contract: Address = "0x5FbDB2315678afecb367f032d93F642f64180aa3".parse().unwrap();
        assert_eq!(archive_id(31337, contract, 7), "31337:0x5fbdb2315678afecb367f032d93f642f64180aa3:7");
    }
}
