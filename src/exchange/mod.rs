//! The envelope exchange between hospitals' servers: sealed envelopes live only in the databases
//! of the hospitals that may read them, never on chain.
//!
//! The submitter stores each envelope before it sends the transaction naming its digest, then
//! pushes it to every hospital of the entry's panel that publishes an endpoint ([`deliver`]). A
//! recipient that missed the push pulls it from the submitter when it needs it
//! ([`EnvelopeFinder`]). Every request is signed by the requesting account ([`request`]); the
//! receiving server checks the signature, its age and that it is new, asks the chain whether the
//! signer is a recipient of the entry, and checks the bytes against the digest on chain
//! ([`accept_push`], [`serve_pull`]). Nobody is trusted for the bytes; the chain is trusted for
//! who may have them.
//!
//! On a devnet every participant shares one database and no endpoint is published: there the
//! finder reads every envelope from that database.

pub mod client;
pub mod deliveries;
pub mod request;

use std::collections::HashMap;

use alloy::primitives::{Address, B256, keccak256};
use alloy::signers::local::PrivateKeySigner;

pub use client::{ExchangeClient, check_endpoint};
pub use deliveries::{Delivery, DeliveryReport, deliver, retry_deliveries};
pub use request::{ExchangeAction, SignedRequest, exchange_domain};

use crate::chain::{ChainError, Consortium, Submission};
use crate::store::envelopes::PendingPull;
use crate::store::{Archive, EnvelopeSource, StoreError};

/// The largest envelope a server accepts: 64 recipients with a generous record.
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;

/// Why a server refused a push or a pull. Each says what was wrong; nothing was stored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExchangeRefusal {
    #[error("the request is not signed: the {0} header is missing")]
    Unsigned(&'static str),
    #[error("the request's {0} header is not well formed")]
    Malformed(&'static str),
    #[error(
        "the signature is not {claimed}'s signature of this request (forged, or signed for another chain, contract or entry)"
    )]
    Forged { claimed: Address },
    #[error(
        "the request was signed at {issued_at} (unix time) but this server's time is {now}: requests more than 5 minutes old, or dated ahead, are refused; check the clock and sign a new one"
    )]
    Stale { issued_at: u64, now: u64 },
    #[error("this request was received before; each request is signed anew, so a repeated one is refused")]
    Replayed,
    #[error("there is no entry {0} on this chain")]
    UnknownEntry(u64),
    #[error(
        "{signer} is not a recipient of entry {entry_id}: only its patient, its submitter and its panel may hold its envelope"
    )]
    NotRecipient { signer: Address, entry_id: u64 },
    #[error("this hospital ({hospital}) is not a recipient of entry {entry_id}, so it takes no envelope for it")]
    NotForThisHospital { hospital: Address, entry_id: u64 },
    #[error("the envelope's digest {actual} is not the digest {on_chain} that entry {entry_id} holds on chain")]
    DigestMismatch { entry_id: u64, actual: B256, on_chain: B256 },
    #[error("the envelope is {0} bytes; the most a server takes is {MAX_ENVELOPE_BYTES}")]
    TooLarge(usize),
    #[error("this hospital does not hold the envelope of entry {0}")]
    NotHeld(u64),
    #[error("the envelope of entry {0} was erased at its patient's request")]
    Erased(u64),
}

/// Why an exchange could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error(transparent)]
    Refused(#[from] ExchangeRefusal),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{url} refused the request ({status}): {reason}")]
    RefusedBy { url: String, status: u16, reason: String },
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error(
        "the envelope of entry {entry_id} is not in this database, and its submitter {submitter} publishes no endpoint to pull it from; ask them to run `hrm hospital endpoint set`, or point --mongodb-uri at a database that holds it"
    )]
    NoSource { entry_id: u64, submitter: Address },
    #[error("the envelope {url} sent for entry {entry_id} does not hash to the digest on chain; it was not kept")]
    WrongBytes { url: String, entry_id: u64 },
    #[error(
        "the envelope of entry {entry_id} could not be pulled from its submitter {attempts} time(s) (last: {last_error}); the next try waits until {next_attempt}"
    )]
    PullWaits { entry_id: u64, attempts: i32, last_error: String, next_attempt: String },
}

/// What a server knows to judge a request: its chain, its database and its own account.
pub struct ExchangeServer<'a> {
    pub consortium: &'a Consortium,
    pub archive: &'a Archive,
    pub hospital: Address,
}

impl ExchangeServer<'_> {
    /// The checks every request passes before anything is read or stored: the signature for
    /// this deployment, its age, that it is new, the entry exists and the signer may hold it.
    /// Returns the entry's submission.
    async fn admit(&self, request: &SignedRequest) -> Result<Submission, ExchangeError> {
        let deployment = self.consortium.deployment();
        let domain = exchange_domain(deployment.chain_id, deployment.address);
        request.verify(&domain, request::unix_now())?;
        if !self.archive.remember_request(request.replay_key(&domain)).await? {
            return Err(ExchangeRefusal::Replayed.into());
        }
        let submission = match self.consortium.submission(request.entry_id).await {
            Ok(submission) => submission,
            Err(ChainError::MissingSubmission { .. }) => {
                return Err(ExchangeRefusal::UnknownEntry(request.entry_id).into());
            }
            Err(e) => return Err(e.into()),
        };
        if !self.consortium.is_recipient(request.entry_id, request.signer).await? {
            return Err(ExchangeRefusal::NotRecipient { signer: request.signer, entry_id: request.entry_id }.into());
        }
        if self.consortium.erasure_requested(request.entry_id).await? {
            return Err(ExchangeRefusal::Erased(request.entry_id).into());
        }
        Ok(submission)
    }
}

/// Takes an envelope another recipient pushed: stored only when the request passes every check,
/// this hospital is a recipient too, and the bytes hash to the digest on chain.
pub async fn accept_push(
    server: &ExchangeServer<'_>,
    request: &SignedRequest,
    envelope: &[u8],
) -> Result<(), ExchangeError> {
    if request.action != ExchangeAction::Push {
        return Err(ExchangeRefusal::Forged { claimed: request.signer }.into());
    }
    if envelope.len() > MAX_ENVELOPE_BYTES {
        return Err(ExchangeRefusal::TooLarge(envelope.len()).into());
    }
    let submission = server.admit(request).await?;
    if !server.consortium.is_recipient(request.entry_id, server.hospital).await? {
        return Err(
            ExchangeRefusal::NotForThisHospital { hospital: server.hospital, entry_id: request.entry_id }.into()
        );
    }
    let actual = keccak256(envelope);
    if actual != submission.envelope_digest || request.envelope_digest != submission.envelope_digest {
        let on_chain = submission.envelope_digest;
        return Err(ExchangeRefusal::DigestMismatch { entry_id: request.entry_id, actual, on_chain }.into());
    }
    server.archive.store_envelope(envelope, &EnvelopeSource::PushedBy(request.signer)).await?;
    Ok(())
}

/// Hands a recipient the envelope it asked for, when the request passes every check and this
/// hospital holds it: to a patient its guardians moved to a new account, the copy re-sealed to
/// that account when this hospital made one.
pub async fn serve_pull(server: &ExchangeServer<'_>, request: &SignedRequest) -> Result<Vec<u8>, ExchangeError> {
    if request.action != ExchangeAction::Pull {
        return Err(ExchangeRefusal::Forged { claimed: request.signer }.into());
    }
    let submission = server.admit(request).await?;
    if request.envelope_digest != submission.envelope_digest {
        let (actual, on_chain) = (request.envelope_digest, submission.envelope_digest);
        return Err(ExchangeRefusal::DigestMismatch { entry_id: request.entry_id, actual, on_chain }.into());
    }
    if request.signer != submission.patient
        && let Some(copy) = server.archive.resealed_envelope(request.entry_id, request.signer).await?
    {
        return Ok(copy);
    }
    server.archive.envelope(submission.envelope_digest).await?.ok_or(ExchangeRefusal::NotHeld(request.entry_id).into())
}

/// Where a participant finds the envelopes it may open: its own database first, then the
/// submitter's server (kept in the database once pulled and checked).
pub struct EnvelopeFinder<'a> {
    pub consortium: &'a Consortium,
    /// This participant's database; a patient may have none.
    pub archive: Option<&'a Archive>,
    /// Signs pulls as this participant; without it nothing is pulled.
    pub signer: Option<&'a PrivateKeySigner>,
}

impl EnvelopeFinder<'_> {
    /// The envelope of one submission.
    pub async fn envelope_of(&self, submission: &Submission) -> Result<Vec<u8>, ExchangeError> {
        let mut found = self.envelopes_of(std::slice::from_ref(submission)).await?;
        found.remove(&submission.id).expect("one answer per submission")
    }

    /// The envelopes of several submissions, by entry id: those held are read in one query, the
    /// others pulled one by one. A failed pull is that entry's error, not the whole call's.
    pub async fn envelopes_of(
        &self,
        submissions: &[Submission],
    ) -> Result<HashMap<u64, Result<Vec<u8>, ExchangeError>>, ExchangeError> {
        let digests: Vec<B256> = submissions.iter().map(|s| s.envelope_digest).collect();
        let mut held = match self.archive {
            Some(archive) => archive.envelopes(&digests).await?,
            None => HashMap::new(),
        };
        let mut found = HashMap::with_capacity(submissions.len());
        for submission in submissions {
            let envelope = match held.remove(&submission.envelope_digest) {
                Some(envelope) => Ok(envelope),
                None => self.pull(submission, false).await,
            };
            found.insert(submission.id, envelope);
        }
        Ok(found)
    }

    /// The copy of a submission re-sealed to the signer, a patient its guardians moved to a new
    /// account after the entry was submitted: from its database (on a devnet, where the hospitals
    /// share it), else pulled from the submitter, whose server hands it to that account.
    pub async fn resealed_copy_of(&self, submission: &Submission) -> Result<Vec<u8>, ExchangeError> {
        if let (Some(archive), Some(signer)) = (self.archive, self.signer)
            && let Some(copy) = archive.resealed_envelope(submission.id, signer.address()).await?
        {
            return Ok(copy);
        }
        self.pull(submission, true).await
    }

    /// Pulls from the submitter. With a database, a failed pull is remembered and not tried
    /// again before its back-off ends (15 s, doubling to an hour): a follower retrying a
    /// migration every pass does not hammer a submitter that is down.
    /// `copy_allowed`: a copy re-sealed to the signer alone is taken too (see
    /// [`ExchangeClient::pull_resealed`]); it is not kept among the envelopes.
    async fn pull(&self, submission: &Submission, copy_allowed: bool) -> Result<Vec<u8>, ExchangeError> {
        let no_source = || ExchangeError::NoSource { entry_id: submission.id, submitter: submission.submitter };
        let signer = self.signer.ok_or_else(no_source)?;
        if signer.address() == submission.submitter {
            return Err(no_source());
        }
        let endpoint = self.consortium.endpoint_of(submission.submitter).await?.ok_or_else(no_source)?;
        let waiting = match self.archive {
            Some(archive) => archive.pending_pull(submission.id).await?,
            None => None,
        };
        if let Some(waiting) = &waiting
            && waiting.next_attempt_at > mongodb::bson::DateTime::now()
        {
            return Err(ExchangeError::PullWaits {
                entry_id: submission.id,
                attempts: waiting.attempts,
                last_error: waiting.last_error.clone(),
                next_attempt: waiting.next_attempt_at.try_to_rfc3339_string().unwrap_or_default(),
            });
        }
        let client = ExchangeClient::new(self.consortium, signer.clone());
        let pulled = match copy_allowed {
            true => client.pull_resealed(&endpoint, submission).await,
            false => client.pull(&endpoint, submission).await,
        };
        let Some(archive) = self.archive else { return pulled };
        match pulled {
            Ok(envelope) if keccak256(&envelope) != submission.envelope_digest => Ok(envelope),
            Ok(envelope) => {
                archive.store_envelope(&envelope, &EnvelopeSource::PulledFrom(submission.submitter)).await?;
                if waiting.is_some() {
                    archive.pull_done(submission.id).await?;
                }
                Ok(envelope)
            }
            Err(error) => {
                let attempts = waiting.map_or(0, |w| w.attempts).saturating_add(1);
                let wait = deliveries::retry_delay(attempts.max(1) as u32);
                let next = mongodb::bson::DateTime::now().timestamp_millis() + wait.as_millis() as i64;
                archive
                    .queue_pull(&PendingPull {
                        entry_id: submission.id as i64,
                        attempts,
                        next_attempt_at: mongodb::bson::DateTime::from_millis(next),
                        last_error: error.to_string(),
                    })
                    .await?;
                Err(error)
            }
        }
    }
}
