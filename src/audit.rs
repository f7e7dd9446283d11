//! The audit: the archive still matches the chain.
//!
//! Every approved entry on chain must be archived, in the collection of its kind, its stored
//! record must recompute (salt + canonical JSON) to the commitment on chain, and its sealed
//! envelope must still be held and hash to the digest on chain; every archived record of the
//! deployment must belong to an approved entry. An entry whose patient asked for its erasure is
//! expected to be absent; one still archived after this hospital confirmed its erasure is
//! reported.

use std::collections::{BTreeMap, HashMap, HashSet};

use alloy::primitives::{Address, B256, hex};
use mongodb::bson::Document;
use serde::Serialize;

use crate::chain::{ChainError, Consortium, EntryKind};
use crate::records::commitment;
use crate::store::{Archive, RecordCollection, StoreError, canonical_record_json};

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
    /// Archived records whose approval a chain reorganisation took away (`hrm migrate` moves
    /// them to `orphaned_records`).
    pub orphaned: Vec<Finding>,
    /// Records already moved to `orphaned_records`, kept there for the record.
    pub orphaned_records_kept: usize,
    /// Approved entries whose patient asked for their erasure: expected to be absent.
    pub erasure_requested: usize,
    /// Records still archived although this hospital confirmed their erasure on chain.
    pub kept_after_erasure: Vec<Finding>,
    /// Records still archived while their erasure waits for this hospital's answer (or was
    /// deferred): `hrm erase apply` or the follower acts on them.
    pub awaiting_erasure: Vec<u64>,
    /// Archived entries whose sealed envelope this database no longer holds.
    pub envelopes_missing: Vec<u64>,
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
    /// True when nothing is missing, altered, unexpected or orphaned in the archive, no record
    /// outlived this hospital's confirmed erasure, and every archived entry's envelope is held.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty()
            && self.altered.is_empty()
            && self.unexpected.is_empty()
            && self.orphaned.is_empty()
            && self.kept_after_erasure.is_empty()
            && self.envelopes_missing.is_empty()
    }
}

/// Audits the archive of `consortium`'s deployment; when `consortium` signs as a hospital, its
/// confirmed erasures are held against the archive too.
pub async fn audit(consortium: &Consortium, archive: &Archive) -> Result<AuditReport, AuditError> {
    let hospital = consortium.connection().sender();
    let erasures = consortium.erasure_ledger(None).await?;
    let deployment = consortium.deployment();
    let head = consortium.head_block().await?;
    let approvals = consortium.all_approvals_between(deployment.deploy_block, head).await?;
    let ids: Vec<u64> = approvals.iter().map(|a| a.id).collect();
    let approved_in: HashMap<u64, (String, u64)> =
        approvals.iter().map(|a| (a.id, (a.tx_hash.to_string(), a.block))).collect();
    let submissions = consortium.submissions_of(&ids, head).await?;
    // What the chain says each approved entry must be; an entry to erase must be nothing here.
    let expected: BTreeMap<u64, (EntryKind, B256)> =
        submissions.values().filter(|s| !erasures.requested(s.id)).map(|s| (s.id, (s.kind, s.commitment))).collect();
    let erasure_requested = ids.iter().filter(|id| erasures.requested(**id)).count();

    let mut report = AuditReport {
        chain_id: deployment.chain_id,
        contract: deployment.address,
        approved_on_chain: approvals.len(),
        head_block: head,
        erasure_requested,
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
            let archived_approval = approval_of(&document);
            if erasures.requested(entry_id) {
                let confirmed = hospital
                    .and_then(|h| erasures.answer(entry_id, h))
                    .is_some_and(|a| matches!(a, crate::chain::ErasureAnswer::Erased { .. }));
                if confirmed {
                    report.kept_after_erasure.push(finding(
                        Some(entry_id),
                        format!(
                            "this hospital confirmed on chain that it erased entry {entry_id}, yet it is still archived"
                        ),
                    ));
                } else {
                    report.awaiting_erasure.push(entry_id);
                }
                continue;
            }
            let Some((kind, on_chain)) = expected.get(&entry_id) else {
                match archived_approval {
                    Some((tx, block)) if !is_mined_in(consortium, &tx, block).await? => {
                        report.orphaned.push(finding(Some(entry_id), orphaned_reason(&tx, block, None)))
                    }
                    _ => report.unexpected.push(finding(
                        Some(entry_id),
                        format!("entry {entry_id} is not an approved entry of this contract"),
                    )),
                }
                continue;
            };
            if let (Some((tx, block)), Some(now)) = (&archived_approval, approved_in.get(&entry_id))
                && (tx, *block) != (&now.0, now.1)
            {
                report.orphaned.push(finding(Some(entry_id), orphaned_reason(tx, *block, Some(now.1))));
                seen.insert(entry_id);
                continue;
            }
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
    report.orphaned_records_kept = archive.orphaned_records(deployment.chain_id, deployment.address).await?.len();
    // Every archived entry was opened from its envelope here, so the envelope must still be here,
    // hashing to its digest (a stored envelope that does not is reported as damaged).
    let archived: Vec<&crate::chain::Submission> =
        submissions.values().filter(|s| seen.contains(&s.id) && expected.contains_key(&s.id)).collect();
    let held = archive.envelopes(&archived.iter().map(|s| s.envelope_digest).collect::<Vec<_>>()).await?;
    report.envelopes_missing =
        archived.iter().filter(|s| !held.contains_key(&s.envelope_digest)).map(|s| s.id).collect();
    report.envelopes_missing.sort_unstable();
    report.missing = expected.keys().copied().filter(|id| !seen.contains(id)).collect();
    // An approval whose submission event is gone cannot be checked; count it as missing too.
    report.missing.extend(ids.iter().copied().filter(|id| !expected.contains_key(id) && !erasures.requested(*id)));
    Ok(report)
}

/// The approval transaction and block an archived document records.
fn approval_of(document: &Document) -> Option<(String, u64)> {
    let approval = document.get_document("approval").ok()?;
    let block = match approval.get("block")? {
        mongodb::bson::Bson::Int64(v) => u64::try_from(*v).ok()?,
        mongodb::bson::Bson::Int32(v) => u64::try_from(*v).ok()?,
        _ => return None,
    };
    Some((approval.get_str("tx_hash").ok()?.to_string(), block))
}

/// Whether transaction `tx` is on the canonical chain in block `block`.
async fn is_mined_in(consortium: &Consortium, tx: &str, block: u64) -> Result<bool, AuditError> {
    let Ok(hash) = tx.parse::<B256>() else {
        return Ok(false);
    };
    Ok(consortium.mined_in(hash).await?.is_some_and(|(number, _)| number == block))
}

fn orphaned_reason(tx: &str, block: u64, approved_again_in: Option<u64>) -> String {
    let again = approved_again_in.map(|b| format!("; the entry was approved again in block {b}")).unwrap_or_default();
    format!(
        "its approval (block {block}, transaction {tx}) is no longer on the canonical chain{again}; `hrm migrate` moves it to orphaned_records"
    )
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
