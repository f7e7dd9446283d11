//! Sealing a record for its recipients and submitting it; opening a submitted entry again.

use alloy::primitives::{Address, B256, Bytes};
use alloy::signers::local::PrivateKeySigner;
use rand::RngCore;

use crate::chain::{ChainError, Consortium, Submission, TxOutcome};
use crate::records::envelope::{EnvelopeRecipient, envelope_recipients};
use crate::records::{EnvelopeError, Record, commitment, open_envelope, seal_record};

/// Why a record could not be submitted or opened.
#[derive(Debug, thiserror::Error)]
pub enum SubmissionError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
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
    pub envelope: Bytes,
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
        let key = consortium.public_key_of(address).await?;
        let public_key: [u8; 64] =
            key.as_ref().try_into().map_err(|_| SubmissionError::KeyNotPublished { role, address })?;
        recipients.push(EnvelopeRecipient { address, public_key });
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
        envelope: envelope.into(),
        recipients: recipients.iter().map(|r| r.address).collect(),
    })
}

/// Seals a record for the patient, the signer and its panel, and submits it.
pub async fn submit_record(
    consortium: &Consortium,
    patient: Address,
    record: &Record,
) -> Result<TxOutcome, SubmissionError> {
    consortium.check_submission(record.kind(), patient).await?;
    let recipients = gather_recipients(consortium, patient).await?;
    let sealed = seal(record, &recipients)?;
    Ok(consortium.submit(record.kind(), patient, sealed.commitment, sealed.envelope).await?)
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

/// Opens a submission's envelope with `signer`'s key and checks the record against the
/// commitment and kind the chain holds. `Ok(None)` when the signer is not a recipient.
pub fn open_submission(
    submission: &Submission,
    signer: &PrivateKeySigner,
) -> Result<Option<OpenedEntry>, SubmissionError> {
    let address = signer.address();
    if !envelope_recipients(&submission.envelope)?.contains(&address) {
        return Ok(None);
    }
    let secret = k256::SecretKey::from_slice(&signer.to_bytes()[..]).expect("a signer's key is a valid secret key");
    let opened = open_envelope(&submission.envelope, address, &secret)?;
    let id = submission.id;
    if commitment(&opened.salt, &opened.record_json) != submission.commitment || opened.kind != submission.kind {
        return Err(SubmissionError::CommitmentMismatch { id });
    }
    let record = serde_json::from_slice(&opened.record_json)
        .map_err(|e| SubmissionError::UnreadableRecord { id, message: e.to_string() })?;
    Ok(Some(OpenedEntry { record_json: opened.record_json, record, salt: opened.salt, recipients: opened.recipients }))
}
