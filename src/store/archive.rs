//! Archived records: one document per approved entry, with its chain provenance.

use alloy::primitives::Address;
use futures_util::TryStreamExt;
use mongodb::bson::{self, Bson, Document, doc};
use serde::{Deserialize, Serialize};

use super::{Archive, StoreError};
use crate::records::canonical::canonical_json;
use crate::records::{BillDetails, EntryKind, HealthDetails, Record};

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

/// The order of "latest first" among a patient's health records, and the keys of the index that
/// serves it.
pub(crate) static LATEST_FIRST: std::sync::LazyLock<Document> =
    std::sync::LazyLock::new(|| doc! { "record.recorded_at": -1, "submission.block": -1, "entry_id": -1 });

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
    /// keccak256 of the sealed envelope the record was opened from, as on chain, 0x-hex (absent
    /// in records archived before envelopes left the chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope_digest: Option<String>,
    pub submission: Provenance,
    pub approval: Provenance,
    /// Accounts that approved, lower-case hex, in vote order.
    pub voters: Vec<String>,
    pub migrated_at: bson::DateTime,
    /// `record` typed, once it has been asked for.
    #[serde(skip)]
    pub parsed: ParsedRecord,
}

/// The typed form of an archived record's details, parsed once per copy read: the web app keeps
/// a patient's records and shows them on every page load. Not part of the record's value (two
/// records are equal whatever either has parsed). `record` is not changed once read, so the
/// parse cannot go stale.
#[derive(Clone, Default)]
pub struct ParsedRecord(std::sync::OnceLock<Record>);

impl PartialEq for ParsedRecord {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for ParsedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ParsedRecord")
    }
}

impl ArchivedRecord {
    /// The archived record, typed by its kind.
    pub fn details(&self) -> Result<Record, StoreError> {
        if let Some(parsed) = self.parsed.0.get() {
            return Ok(parsed.clone());
        }
        let damaged = |e: bson::de::Error| StoreError::Damaged { id: self.id.clone(), message: e.to_string() };
        let parsed = match self.kind {
            EntryKind::Health => Record::Health(bson::from_document(self.record.clone()).map_err(damaged)?),
            EntryKind::Bill => Record::Bill(bson::from_document(self.record.clone()).map_err(damaged)?),
        };
        Ok(self.parsed.0.get_or_init(|| parsed).clone())
    }

    /// The archived health details; an error when the entry holds a bill.
    pub fn health_details(&self) -> Result<HealthDetails, StoreError> {
        match self.details()? {
            Record::Health(details) => Ok(details),
            Record::Bill(_) => Err(self.not_of_kind(EntryKind::Health)),
        }
    }

    /// The archived bill details; an error when the entry holds health details.
    pub fn bill_details(&self) -> Result<BillDetails, StoreError> {
        match self.details()? {
            Record::Bill(details) => Ok(details),
            Record::Health(_) => Err(self.not_of_kind(EntryKind::Bill)),
        }
    }

    /// The document as JSON for scripts (relaxed extended JSON: dates as ISO strings).
    pub fn to_json(&self) -> serde_json::Value {
        let document = bson::to_document(self).expect("an archived record serializes to BSON");
        Bson::Document(document).into_relaxed_extjson()
    }

    /// Where the record sorts among a patient's health records, greatest latest: the order of
    /// [`LATEST_FIRST`], for records already in memory.
    pub fn latest_first_key(&self) -> (Option<&str>, i64, i64) {
        (self.record.get_str("recorded_at").ok(), self.submission.block, self.entry_id)
    }

    fn not_of_kind(&self, wanted: EntryKind) -> StoreError {
        StoreError::Damaged {
            id: self.id.clone(),
            message: format!("it holds {}, not {}", self.kind.describe(), wanted.describe()),
        }
    }
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
    /// Inserts each record unless its entry is already archived (its `_id` names the deployment
    /// and the entry, so an existing document is found by the insert and never overwritten), in
    /// one unordered `insert` command. Returns how many were new.
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
        let mut documents = Vec::with_capacity(records.len());
        for record in records {
            documents.push(
                bson::to_document(record)
                    .map_err(|e| StoreError::Damaged { id: record.id.clone(), message: e.to_string() })?,
            );
        }
        self.insert_new(collection.name(), documents, false, "archiving records").await
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

    /// The archived records of both kinds that match `filter`; `what` names the read in errors.
    pub(super) async fn records_matching(
        &self,
        filter: Document,
        what: &'static str,
    ) -> Result<Vec<ArchivedRecord>, StoreError> {
        let mut found = Vec::new();
        for collection in RecordCollection::ALL {
            let records: Vec<ArchivedRecord> = self
                .db
                .collection::<ArchivedRecord>(collection.name())
                .find(filter.clone())
                .await
                .map_err(StoreError::operation(what))?
                .try_collect()
                .await
                .map_err(StoreError::operation(what))?;
            found.extend(records);
        }
        Ok(found)
    }

    /// A patient's archived records of both kinds, newest submission first.
    pub async fn records_of_patient(&self, patient: Address) -> Result<Vec<ArchivedRecord>, StoreError> {
        let filter = doc! { "patient": hex_address(patient) };
        let mut all = self.records_matching(filter, "reading a patient's records").await?;
        all.sort_by_key(|r| std::cmp::Reverse((r.submission.block, r.entry_id)));
        Ok(all)
    }

    /// One of `patient`'s archived records by entry id; `None` when there is none or it is another
    /// patient's, so that a patient asking for someone else's record learns nothing.
    pub async fn record_of_patient(
        &self,
        patient: Address,
        entry_id: u64,
    ) -> Result<Option<ArchivedRecord>, StoreError> {
        let filter = doc! { "patient": hex_address(patient), "entry_id": entry_id as i64 };
        Ok(self.records_matching(filter, "reading a patient's record").await?.into_iter().next())
    }

    /// The archived record of one entry, if it has been migrated.
    pub async fn archived_entry(
        &self,
        chain_id: u64,
        contract: Address,
        entry_id: u64,
    ) -> Result<Option<ArchivedRecord>, StoreError> {
        let filter = doc! { "_id": archive_id(chain_id, contract, entry_id) };
        Ok(self.records_matching(filter, "reading an archived entry").await?.into_iter().next())
    }

    /// The patient's latest archived health record: latest `recorded_at`, then latest
    /// submission. One indexed query (`patient_latest`).
    pub async fn latest_health_record(&self, patient: Address) -> Result<Option<ArchivedRecord>, StoreError> {
        self.db
            .collection::<ArchivedRecord>(RecordCollection::Health.name())
            .find_one(doc! { "patient": hex_address(patient) })
            .sort(LATEST_FIRST.clone())
            .await
            .map_err(StoreError::operation("finding a patient's latest health record"))
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
