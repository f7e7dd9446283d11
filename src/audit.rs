//! The audit: the archive still matches the chain.
//!
//! Every approved entry on chain must be archived, in the collection of its kind, and its stored
//! record must recompute (salt + canonical JSON) to the commitment on chain; every archived record
//! of the deployment must belong to an approved entry.

use std::collections::{BTreeMap, HashSet};

use alloy::primitives::{Address, B256, hex};
use mongodb::bson::Document;
use serde::Serialize;

use crate::chain::{ChainError, Consortium, EntryKind};
use crate::records::commitment;
use crate::store::{Archive, RecordCollection, StoreError, canonical_record_json};

/// Blocks per `eth_getLogs` query when collecting approvals.
const BLOCKS_PER_QUERY: u64 = 10_000;

/// Why the audit could not run (as opposed to what it found).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the audit found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditReport {
    pub chain_id: u64,
    pub contract: Address,
    /// Approved entries on chain, up to `head_block`.
    pub approved_on_chain: usize,
    pub head_block: u64,
    /// Archived records of this deployment that were examined.
    pub archived: usize,
    /// Approved entries with no archived record.
    pub missing: Vec<u64>,
    /// Archived records that no longer match the chain.
    pub altered: Vec<Finding>,
    /// Archived records that belong to no approved entry.
    pub unexpected: Vec<Finding>,
}

/// One archived document that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The document's `_id`.
    pub document: String,
    pub collection: &'static str,
    pub entry_id: Option<u64>,
    pub reason: String,
}

impl AuditReport {
    /// True when nothing is missing, altered or unexpected.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.altered.is_empty() && self.unexpected.is_empty()
    }
}

/// Audits the archive of `consortium`'s deployment.
pub async fn audit(consortium: &Consortium, archive: &Archive) -> Result<AuditReport, AuditError> {
    let deployment = consortium.deployment();
    let head = consortium.head_block().await?;
    let mut approvals = Vec::new();
    let mut from = deployment.deploy_block;
    while from <= head {
        let to = head.min(from + BLOCKS_PER_QUERY - 1);
        approvals.extend(consortium.approvals_between(from, to).await?);
        from = to + 1;
    }
    let ids: Vec<u64> = approvals.iter().map(|a| a.id).collect();
    let submissions = consortium.submissions_of(&ids, head).await?;
    // What the chain says each approved entry must be.
    let expected: BTreeMap<u64, (EntryKind, B256)> =
        submissions.values().map(|s| (s.id, (s.kind, s.commitment))).collect();

    let mut report = AuditReport {
        chain_id: deployment.chain_id,
        contract: deployment.address,
        approved_on_chain: approvals.len(),
        head_block: head,
        ..Default::default()
    };
    let mut seen = HashSet::new();
    for collection in RecordCollection::ALL {
        for document in archive.documents_of(collection, deployment.chain_id, deployment.address).await? {
            report.archived += 1;
            let finding = |entry_id: Option<u64>, reason: String| Finding {
                document: document
                    .get("_id")
                    .map(ToString::to_string)
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_string(),
                collection: collection.name(),
                entry_id,
                reason,
            };
            let Some(entry_id) = entry_id_of(&document) else {
                report.unexpected.push(finding(None, "it has no entry id".into()));
                continue;
            };
            let Some((kind, on_chain)) = expected.get(&entry_id) else {
                report.unexpected.push(finding(
                    Some(entry_id),
                    format!("entry {entry_id} is not an approved entry of this contract"),
                ));
                continue;
            };
            if !seen.insert(entry_id) {
                report.unexpected.push(finding(Some(entry_id), format!("entry {entry_id} is archived more than once")));
                continue;
            }
            if RecordCollection::for_kind(*kind) != collection {
                report.altered.push(finding(
                    Some(entry_id),
                    format!("entry {entry_id} holds {} but is archived in {}", kind.describe(), collection.name()),
                ));
                continue;
            }
            if let Err(reason) = check_commitment(&document, *on_chain) {
                report.altered.push(finding(Some(entry_id), reason));
            }
        }
    }
    report.missing = expected.keys().copied().filter(|id| !seen.contains(id)).collect();
    // An approval whose submission event is gone cannot be checked; count it as missing too.
    report.missing.extend(ids.iter().copied().filter(|id| !expected.contains_key(id)));
    Ok(report)
}

fn entry_id_of(document: &Document) -> Option<u64> {
    match document.get("entry_id")? {
        mongodb::bson::Bson::Int64(v) => u64::try_from(*v).ok(),
        mongodb::bson::Bson::Int32(v) => u64::try_from(*v).ok(),
        _ => None,
    }
}

fn check_commitment(document: &Document, on_chain: B256) -> Result<(), String> {
    let salt_hex = document.get_str("salt").map_err(|_| "it has no salt".to_string())?;
    let salt: [u8; 32] = hex::decode(salt_hex)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| "its salt is not 32 bytes of hex".to_string())?;
    let record = document.get_document("record").map_err(|_| "it has no record".to_string())?;
    if commitment(&salt, &canonical_record_json(record)) != on_chain {
        return Err("its record no longer matches the commitment on chain".into());
    }
    Ok(())
}
