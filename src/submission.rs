//! Sealing a record for its recipients and submitting it; opening a submitted entry again.

use alloy::primitives::{Address, B256, keccak256};
use alloy::signers::local::PrivateKeySigner;
use rand::RngCore;
use serde::Serialize;

use crate::chain::{ChainError, Consortium, Submission, TxOutcome};
use crate::exchange::{DeliveryReport, ExchangeError, deliver};
use crate::records::envelope::{EnvelopeRecipient, envelope_recipients, is_personal_copy};
use crate::records::{EnvelopeError, RecipientKey, Record, commitment, seal_record};
use crate::store::{Archive, EnvelopeSource, StoreError};

/// Why a record could not be submitted or opened.
#[derive(Debug, thiserror::Error)]
pub enum SubmissionError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    #[error("entry {id}: the envelope at hand does not hash to the digest the chain holds")]
    EnvelopeDigestMismatch { id: u64 },
    #[error(
        "{role} {address} has not published a public key, so the record cannot be sealed to them; they must run `hrm key publish` first"
    )]
    KeyNotPublished { role: &'static str, address: Address },
    #[error("entry {id}: the opened record does not match its on-chain commitment")]
    CommitmentMismatch { id: u64 },
    #[error("entry {id}: the opened record is not valid JSON: {message}")]
    UnreadableRecord { id: u64, message: String },
}

/// A record sealed and committed, ready to submit.
#[derive(Debug, Clone)]
pub struct SealedRecord {
    pub commitment: B256,
    pub envelope: Vec<u8>,
    /// keccak256 of the envelope: what the chain keeps of it.
    pub envelope_digest: B256,
    pub recipients: Vec<Address>,
}

/// The recipients of a submission by the signer: the patient, the signer and its panel.
pub async fn gather_recipients(
    consortium: &Consortium,
    patient: Address,
) -> Result<Vec<EnvelopeRecipient>, SubmissionError> {
    let submitter = consortium.sender();
    let mut parties = vec![("patient", patient), ("submitting hospital", submitter)];
    for member in consortium.supporting_hospitals(submitter).await? {
        parties.push(("supporting hospital", member));
    }
    let mut recipients = Vec::with_capacity(parties.len());
    for (role, address) in parties {
        let (key, key_version) = consortium.sealing_key_of(address).await?;
        let public_key: [u8; 64] =
            key.as_ref().try_into().map_err(|_| SubmissionError::KeyNotPublished { role, address })?;
        recipients.push(EnvelopeRecipient { address, public_key, key_version });
    }
    Ok(recipients)
}

/// Seals a validated record to `recipients` with a fresh random salt.
pub fn seal(record: &Record, recipients: &[EnvelopeRecipient]) -> Result<SealedRecord, SubmissionError> {
    let mut salt = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let canonical = record.canonical_json();
    let envelope = seal_record(record.kind(), &salt, &canonical, recipients)?;
    Ok(SealedRecord {
        commitment: commitment(&salt, &canonical),
        envelope_digest: keccak256(&envelope),
        envelope,
        recipients: recipients.iter().map(|r| r.address).collect(),
    })
}

/// Checks that the signer may submit for `patient` (the contract's own checks, dry-run), and
/// seals `record` for the patient, the signer and its panel.
pub async fn seal_for_submission(
    consortium: &Consortium,
    patient: Address,
    record: &Record,
) -> Result<SealedRecord, SubmissionError> {
    consortium.check_submission(record.kind(), patient).await?;
    let recipients = gather_recipients(consortium, patient).await?;
    seal(record, &recipients)
}

/// What submitting one record did: the transaction, and the envelope's pushes to the panel.
#[derive(Debug, Clone, Serialize)]
pub struct SubmittedRecord {
    #[serde(flatten)]
    pub outcome: TxOutcome,
    pub envelope_digest: B256,
    pub deliveries: DeliveryReport,
}

/// Seals a record for the patient, the signer and its panel, stores the envelope in `archive`,
/// submits its commitment and digest, and pushes the envelope to the panel's servers.
pub async fn submit_record(
    consortium: &Consortium,
    archive: &Archive,
    signer: &PrivateKeySigner,
    patient: Address,
    record: &Record,
) -> Result<SubmittedRecord, SubmissionError> {
    let sealed = seal_for_submission(consortium, patient, record).await?;
    // Stored first: a crash after the transaction must not leave an entry nobody can open.
    archive.store_envelope(&sealed.envelope, &EnvelopeSource::SealedHere).await?;
    let outcome = consortium.submit(record.kind(), patient, sealed.commitment, sealed.envelope_digest).await?;
    let entry_id = outcome.entry_id.expect("a submission's outcome names its entry");
    let submission = consortium.mined_submission(entry_id).await?;
    let deliveries = deliver(consortium, archive, signer, &[submission]).await?;
    Ok(SubmittedRecord { outcome, envelope_digest: sealed.envelope_digest, deliveries })
}

/// A submitted entry, opened by one of its recipients.
#[derive(Debug, Clone)]
pub struct OpenedEntry {
    /// The record's canonical JSON, as committed.
    pub record_json: Vec<u8>,
    pub record: serde_json::Value,
    pub salt: [u8; 32],
    pub recipients: Vec<Address>,
}

/// Opens a submission's envelope with `signer`'s key and checks the envelope against the digest
/// (unless it is a copy re-sealed to the signer alone after a recovery), and the record against
/// the commitment and kind, that the chain holds. `Ok(None)` when the signer is not a recipient.
pub fn open_submission(
    submission: &Submission,
    envelope: &[u8],
    signer: &PrivateKeySigner,
) -> Result<Option<OpenedEntry>, SubmissionError> {
    open_submission_as(submission, envelope, &recipient_key(signer))
}

/// `signer`'s key as a recipient of envelopes, for opening many with [`open_submission_as`].
pub fn recipient_key(signer: &PrivateKeySigner) -> RecipientKey {
    let secret = k256::SecretKey::from_slice(&signer.to_bytes()[..]).expect("a signer's key is a valid secret key");
    RecipientKey::new(secret)
}

/// [`open_submission`] with a key prepared once for many envelopes.
pub fn open_submission_as(
    submission: &Submission,
    envelope: &[u8],
    key: &RecipientKey,
) -> Result<Option<OpenedEntry>, SubmissionError> {
    let id = submission.id;
    // A copy re-sealed to a recovered patient alone has its own digest; the commitment below
    // vouches for what it holds.
    if keccak256(envelope) != submission.envelope_digest && !is_personal_copy(envelope, key.address()) {
        return Err(SubmissionError::EnvelopeDigestMismatch { id });
    }
    if !envelope_recipients(envelope)?.contains(&key.address()) {
        return Ok(None);
    }
    let opened = key.open(envelope)?;
    if commitment(&opened.salt, &opened.record_json) != submission.commitment || opened.kind != submission.kind {
        return Err(SubmissionError::CommitmentMismatch { id });
    }
    let record = serde_json::from_slice(&opened.record_json)
        .map_err(|e| SubmissionError::UnreadableRecord { id, message: e.to_string() })?;
    Ok(Some(OpenedEntry { record_json: opened.record_json, record, salt: opened.salt, recipients: opened.recipients }))
}
