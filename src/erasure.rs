//! A patient's erasure of their records: the request on chain, each holding hospital's answer
//! (erased, or kept for a legal reason until a date), and what each hospital's archive must then
//! no longer hold.

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use serde::Serialize;

use crate::chain::{ChainError, Consortium, DeferralReason, EntryErasure, EntryKind, ErasureAnswer, TxOutcome};
use crate::exchange::request::unix_now;
use crate::store::erasure::ErasedCopies;
use crate::store::{Archive, StoreError};

/// Why erasure could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{patient} has no entries to erase")]
    NothingToErase { patient: Address },
}

/// One entry this hospital erased and confirmed.
#[derive(Debug, Clone, Serialize)]
pub struct ErasedEntry {
    pub entry_id: u64,
    pub deleted: ErasedCopies,
    pub confirmation: TxOutcome,
}

/// What a hospital keeps when a patient asks for erasure, because the law obliges it to: decided
/// once by the hospital, applied by its follower and by `hrm erase apply` before anything is
/// erased.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep bills this many years from the request (tax and accounting laws), deferring their
    /// erasure on chain for a legal obligation; `None` erases them like any record.
    pub keep_bills_for_years: Option<u32>,
}

const SECONDS_PER_YEAR: u64 = 365 * 24 * 60 * 60;

/// What one pass over the erasure requests did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ErasurePass {
    /// Entries erased and confirmed now.
    pub erased: Vec<ErasedEntry>,
    /// Entries kept under the retention policy, deferred on chain now.
    pub deferred: Vec<u64>,
    /// Requests this hospital answered before (confirmed, or deferred to a date still ahead).
    pub answered_before: usize,
    /// Requests for entries this hospital does not hold.
    pub not_held: usize,
}

/// The entries a patient asks to erase: the ones named, or all of theirs.
pub async fn entries_to_erase(
    consortium: &Consortium,
    patient: Address,
    named: &[u64],
) -> Result<Vec<u64>, ErasureError> {
    if !named.is_empty() {
        return Ok(named.to_vec());
    }
    // Entries name the account the patient had when they were submitted.
    let accounts = consortium.accounts_of_patient(patient).await?;
    let requested = consortium.erasure_ledger(None).await?;
    let mut ids = Vec::new();
    for entry in consortium.entries().await? {
        if accounts.contains(&entry.patient) && !requested.requested(entry.id) {
            ids.push(entry.id);
        }
    }
    if ids.is_empty() {
        return Err(ErasureError::NothingToErase { patient });
    }
    Ok(ids)
}

/// Deletes the copies of `ids`' envelopes a patient's own database keeps (pulled to read them),
/// once the patient asked for their erasure; returns how many were held.
pub async fn forget_own_copies(consortium: &Consortium, archive: &Archive, ids: &[u64]) -> Result<usize, ErasureError> {
    let mut deleted = 0;
    for id in ids {
        let digest = consortium.submission(*id).await?.envelope_digest;
        deleted += usize::from(archive.delete_envelope(digest).await?);
        archive.pull_done(*id).await?;
    }
    Ok(deleted)
}

/// Acts on every erasure request for an entry `signer`'s hospital holds and has not answered (or
/// whose deferral ran out): deletes its envelope, archived record, predictions and every other
/// copy here, then confirms on chain; or, for a record `policy` keeps that was not answered yet,
/// defers on chain. Run by the follower and by `hrm erase apply`.
pub async fn apply_erasures(
    consortium: &Consortium,
    archive: &Archive,
    signer: &PrivateKeySigner,
    policy: RetentionPolicy,
) -> Result<ErasurePass, ErasureError> {
    let hospital = signer.address();
    let ledger = consortium.erasure_ledger(None).await?;
    let now = unix_now();
    let mut pass = ErasurePass::default();
    for request in ledger.requests.values() {
        let answer = ledger.answer(request.entry_id, hospital);
        match answer {
            Some(ErasureAnswer::Erased { .. }) => {
                pass.answered_before += 1;
                continue;
            }
            Some(ErasureAnswer::Kept { until, .. }) if *until > now => {
                pass.answered_before += 1;
                continue;
            }
            _ => {}
        }
        let entry = consortium.entry(request.entry_id).await?;
        // Held as its submitter or on its panel: also after this hospital's removal from the
        // consortium, which ends its right to receive envelopes, not its duty to erase them.
        let held = entry.submitter == hospital || consortium.entry_panel(request.entry_id).await?.contains(&hospital);
        if !held {
            pass.not_held += 1;
            continue;
        }
        // A deferral that ran out is not renewed: the record is erased.
        if let (Some(years), None, EntryKind::Bill) = (policy.keep_bills_for_years, answer, entry.kind) {
            let until = now + u64::from(years) * SECONDS_PER_YEAR;
            consortium.defer_erasure(request.entry_id, until, DeferralReason::LegalObligation).await?;
            pass.deferred.push(request.entry_id);
            continue;
        }
        let submission = consortium.submission(request.entry_id).await?;
        let deployment = consortium.deployment();
        let deleted = archive
            .erase_entry(deployment.chain_id, deployment.address, request.entry_id, submission.envelope_digest)
            .await?;
        let confirmation = consortium.confirm_erasure(request.entry_id).await?;
        pass.erased.push(ErasedEntry { entry_id: request.entry_id, deleted, confirmation });
    }
    Ok(pass)
}

/// Keeps an entry's record until `until` (unix seconds) for `reason`, on chain.
pub async fn defer_erasure(
    consortium: &Consortium,
    entry_id: u64,
    until: u64,
    reason: DeferralReason,
) -> Result<TxOutcome, ErasureError> {
    Ok(consortium.defer_erasure(entry_id, until, reason).await?)
}

/// Where each of a patient's erasure requests stands, hospital by hospital.
pub async fn erasure_status(consortium: &Consortium, patient: Address) -> Result<Vec<EntryErasure>, ErasureError> {
    // Requests the patient made before their guardians moved them are theirs too.
    let accounts = consortium.accounts_of_patient(patient).await?;
    let ledger = consortium.erasure_ledger(None).await?;
    let mut status = Vec::with_capacity(ledger.requests.len());
    let theirs = ledger.requests.iter().filter(|(_, request)| accounts.contains(&request.patient));
    for (&entry_id, _) in theirs {
        let submitter = consortium.entry(entry_id).await?.submitter;
        let panel = consortium.entry_panel(entry_id).await?;
        status.extend(ledger.status_of(entry_id, std::iter::once(submitter).chain(panel)));
    }
    Ok(status)
}
