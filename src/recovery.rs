//! A hospital's part in a patient's recovery: once the patient's guardians moved them to a new
//! account, the hospital re-seals to the new key a copy of every record of theirs it holds (the
//! original envelope stays: the chain's digest names it, and the other recipients still open it),
//! files their archived records under the new account, and remembers that it did. Its follower
//! does this when it sees the move; `hrm recovery apply` does it by hand.

use alloy::primitives::Address;
use serde::Serialize;

use crate::chain::recovery::{Recovery, RecoveryMap};
use crate::chain::{ChainError, Consortium, Submission};
use crate::records::envelope::{EnvelopeRecipient, envelope_recipients};
use crate::records::{EnvelopeError, RecipientKey, commitment, seal_record};
use crate::store::{Archive, StoreError};

/// Why a move could not be carried out here.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("entry {entry_id}: {source}")]
    Envelope { entry_id: u64, source: EnvelopeError },
    #[error("{account} has no published key on chain to re-seal to")]
    NoKey { account: Address },
}

/// What carrying out one move did at this hospital.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveryApplied {
    pub old_account: Address,
    pub new_account: Address,
    /// Entries whose record this hospital re-sealed to the new account.
    pub resealed: Vec<u64>,
    /// Entries about the patient this hospital holds no envelope of, or cannot open.
    pub not_held: Vec<u64>,
    /// Entries whose envelope did not match the chain's commitment: left as they are.
    pub mismatched: Vec<u64>,
    /// Entries whose erasure the patient asked for: not re-sealed.
    pub erasure_requested: Vec<u64>,
    /// Archived records filed under the new account.
    pub refiled: u64,
}

/// Carries out every move on chain this hospital has not carried out yet, oldest first. `key`
/// opens the envelopes sealed to this hospital (every version of its sealing key).
pub async fn apply_recoveries(
    consortium: &Consortium,
    archive: &Archive,
    key: &RecipientKey,
) -> Result<Vec<RecoveryApplied>, RecoveryError> {
    let recoveries = consortium.recoveries().await?;
    if recoveries.is_empty() {
        return Ok(Vec::new());
    }
    let map = RecoveryMap::new(&recoveries);
    let mut applied = Vec::new();
    for recovery in &recoveries {
        if archive.recovery_applied(recovery.old_account, recovery.new_account).await? {
            continue;
        }
        applied.push(apply_recovery(consortium, archive, key, &map, recovery).await?);
        archive.remember_recovery_applied(recovery.old_account, recovery.new_account).await?;
    }
    Ok(applied)
}

/// Re-seals and re-files one move's records. Safe to run again: copies made before are skipped,
/// and records already filed under the new account stay.
async fn apply_recovery(
    consortium: &Consortium,
    archive: &Archive,
    key: &RecipientKey,
    map: &RecoveryMap,
    recovery: &Recovery,
) -> Result<RecoveryApplied, RecoveryError> {
    let new = recovery.new_account;
    let (public_key, key_version) = consortium.sealing_key_of(new).await?;
    let public_key: [u8; 64] = public_key.as_ref().try_into().map_err(|_| RecoveryError::NoKey { account: new })?;
    let recipient = EnvelopeRecipient { address: new, public_key, key_version };
    // Entries name the account the patient had when they were submitted: this move's old one, or
    // one before it.
    let mut submissions = consortium.submissions_about(&map.former_accounts_of(new)).await?;
    // A record the patient asked to erase is not copied again.
    let erasures = consortium.erasure_ledger(None).await?;
    let erasure_requested: Vec<u64> = submissions.iter().map(|s| s.id).filter(|id| erasures.requested(*id)).collect();
    submissions.retain(|s| !erasure_requested.contains(&s.id));
    let done = archive.resealed_entries_of(new).await?;
    let digests: Vec<_> = submissions.iter().map(|s| s.envelope_digest).collect();
    let mut held = archive.envelopes(&digests).await?;
    let mut applied = RecoveryApplied {
        old_account: recovery.old_account,
        new_account: new,
        resealed: Vec::new(),
        not_held: Vec::new(),
        mismatched: Vec::new(),
        erasure_requested,
        refiled: 0,
    };
    for submission in &submissions {
        if done.contains(&submission.id) {
            applied.resealed.push(submission.id);
            continue;
        }
        let Some(envelope) = held.remove(&submission.envelope_digest) else {
            applied.not_held.push(submission.id);
            continue;
        };
        match reseal(submission, &envelope, key, &recipient)? {
            Resealed::Copy(copy) => {
                archive.store_resealed_envelope(submission.id, new, &copy).await?;
                applied.resealed.push(submission.id);
            }
            Resealed::NotARecipient => applied.not_held.push(submission.id),
            Resealed::Mismatch => applied.mismatched.push(submission.id),
        }
    }
    applied.refiled = archive.refile_patient(recovery.old_account, new).await?;
    Ok(applied)
}

enum Resealed {
    Copy(Vec<u8>),
    NotARecipient,
    Mismatch,
}

/// Opens `envelope` with this hospital's key and seals its record, with the same salt (so the
/// commitment on chain still vouches for it), to `recipient` alone.
fn reseal(
    submission: &Submission,
    envelope: &[u8],
    key: &RecipientKey,
    recipient: &EnvelopeRecipient,
) -> Result<Resealed, RecoveryError> {
    let entry_id = submission.id;
    let recipients = envelope_recipients(envelope).map_err(|source| RecoveryError::Envelope { entry_id, source })?;
    if !recipients.contains(&key.address()) {
        return Ok(Resealed::NotARecipient);
    }
    let opened = key.open(envelope).map_err(|source| RecoveryError::Envelope { entry_id, source })?;
    if commitment(&opened.salt, &opened.record_json) != submission.commitment || opened.kind != submission.kind {
        return Ok(Resealed::Mismatch);
    }
    let copy = seal_record(opened.kind, &opened.salt, &opened.record_json, std::slice::from_ref(recipient))
        .map_err(|source| RecoveryError::Envelope { entry_id, source })?;
    Ok(Resealed::Copy(copy))
}
