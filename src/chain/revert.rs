//! The contract's custom errors, decoded from revert data and told as sentences.

use alloy::contract::Error as ContractCallError;

use super::contract::HealthRecords::HealthRecordsErrors;
use super::contract::{EntryKind, EntryStatus};

/// Decodes a failed call's revert data into one of the contract's custom errors, if it is one.
pub fn decode_contract_error(error: &ContractCallError) -> Option<HealthRecordsErrors> {
    error.as_decoded_interface_error::<HealthRecordsErrors>()
}

/// A sentence that says what went wrong and, where there is one, what to do.
pub fn describe_contract_error(error: &HealthRecordsErrors) -> String {
    use HealthRecordsErrors as E;
    match error {
        E::NotAdmin(e) => format!(
            "{} is not the consortium admin; only the account that deployed the contract registers the first hospitals, and member hospitals propose the others (`hrm hospital propose add`)",
            e.caller
        ),
        E::NotRegisteredHospital(e) => format!(
            "{} is not a registered hospital of the consortium; a member hospital proposes its admission with `hrm hospital propose add {}`",
            e.account, e.account
        ),
        E::HospitalAlreadyRegistered(e) => {
            format!("{} is already a registered hospital", e.hospital)
        }
        E::ZeroAddress(_) => "the zero address cannot be registered".to_string(),
        E::EmptyHospitalName(_) => "a hospital needs a non-empty name".to_string(),
        E::InvalidPublicKeyLength(e) => {
            format!("a public key must be 64 bytes (uncompressed secp256k1 without the 0x04 prefix), not {}", e.length)
        }
        E::KeyNotOwnedByCaller(e) => format!(
            "that public key belongs to {}, not to the sender {}; each account publishes its own key",
            e.keyOwner, e.caller
        ),
        E::KeyAlreadyRotated(e) => format!(
            "{} rotated its sealing key already (it is at version {}); publish a new one with `hrm key rotate`",
            e.account, e.version
        ),
        E::NoKeyToRotate(e) => format!("{} has no published key to rotate; run `hrm key publish` first", e.account),
        E::SameSealingKey(e) => format!("that is {}'s sealing key already; a rotation needs a new key", e.account),
        E::TooManySupportingHospitals(e) => {
            format!("{} supporting hospitals is too many; the most is {}", e.count, e.max)
        }
        E::NoSupportingHospitals(e) => format!(
            "hospital {} has no supporting hospitals; name them first with `hrm hospital supporting set`",
            e.primary
        ),
        E::SupportingHospitalNotRegistered(e) => {
            format!("supporting hospital {} is not a registered hospital", e.hospital)
        }
        E::DuplicateSupportingHospital(e) => {
            format!("supporting hospital {} is named more than once", e.hospital)
        }
        E::CannotSupportSelf(e) => {
            format!("hospital {} cannot be its own supporting hospital", e.primary)
        }
        E::PatientKeyNotPublished(e) => format!(
            "patient {} has not published a public key, so nothing can be sealed to them; the patient must run `hrm key publish` first",
            e.patient
        ),
        E::PatientIsParticipant(e) => {
            format!("{} cannot be the patient: it is the submitting hospital or a registered hospital", e.patient)
        }
        E::ZeroCommitment(_) => "the record commitment is zero".to_string(),
        E::ZeroEnvelopeDigest(_) => "the sealed envelope's digest is zero".to_string(),
        E::UnknownEntry(e) => format!("there is no entry {}", e.id),
        E::WrongEntryKind(e) => format!(
            "entry {} holds {}",
            e.id,
            EntryKind::from_u8(e.actual).map_or("another kind of record", EntryKind::describe)
        ),
        E::NotEntryVoter(e) => format!(
            "{} is not a voter on entry {}: only its patient and the supporting hospitals named when it was submitted vote",
            e.account, e.id
        ),
        E::AlreadyVoted(e) => format!("{} has already voted on entry {}", e.voter, e.id),
        E::EntryNotPending(e) => format!(
            "entry {} is no longer pending (it is {}); votes are closed",
            e.id,
            EntryStatus::from_u8(e.status).map_or("in an unknown state", EntryStatus::as_str)
        ),
        E::EmptyBatch(_) => "the batch holds no records".to_string(),
        E::BatchLengthMismatch(e) => format!(
            "the batch's lists differ in length: {} patients, {} commitments, {} envelope digests",
            e.patients, e.commitments, e.envelopeDigests
        ),
        E::BatchRecordInvalid(e) => {
            let reason = match HealthRecordsErrors::abi_decode(&e.reason) {
                Ok(inner) => describe_contract_error(&inner),
                Err(_) => format!("an undecodable reason 0x{}", alloy::primitives::hex::encode(&e.reason)),
            };
            format!("record {} of the batch (counting from 0) was refused: {reason}", e.index)
        }
        E::NotPatient(e) => format!(
            "{} is not a patient here (only an account that published its key and is neither a hospital nor the admin grants or revokes access, and only to its own records)",
            e.caller
        ),
        E::GranteeNotHospital(e) => {
            format!(
                "{} is not a registered hospital: access can only be granted to one (see `hrm hospital list`)",
                e.account
            )
        }
        E::AccessAlreadyGranted(e) => format!(
            "{} already holds access until {}; revoke it first to change the date",
            e.hospital,
            describe_expiry(e.expiresAt)
        ),
        E::AccessNotGranted(e) => format!("{} holds no grant from you, so there is nothing to revoke", e.hospital),
        E::ExpiryNotInFuture(e) => format!(
            "the grant would end at {}, which is not after the chain's current time {}",
            describe_expiry(e.expiresAt),
            describe_expiry(e.blockTime.saturating_to())
        ),
        E::EmptyAccessLog(_) => "an access-log anchor needs at least one entry and a non-zero head hash".to_string(),
        E::InvalidEndpointLength(e) => {
            format!("the endpoint URL is {} bytes long; the most is {}", e.length, e.max)
        }
        E::NotEntryPatient(e) => format!(
            "{} is not the patient of entry {}: only a record's patient may ask for its erasure",
            e.caller, e.id
        ),
        E::ErasureAlreadyRequested(e) => {
            format!("the erasure of entry {} was already requested; see `hrm erase status`", e.id)
        }
        E::ErasureNotRequested(e) => {
            format!("nobody asked for the erasure of entry {}, so there is nothing to confirm or defer", e.id)
        }
        E::NotRecordHolder(e) => format!(
            "{} does not hold entry {}: only its submitter and the supporting hospitals of its panel answer its erasure request",
            e.account, e.id
        ),
        E::ErasureAlreadyConfirmed(e) => {
            format!("{} has already confirmed the erasure of entry {}", e.hospital, e.id)
        }
        E::NoDeferralReason(_) => {
            "a deferral needs a reason: legal-obligation, public-health, research or legal-claims".to_string()
        }
        E::AdminHasRenounced(_) => "the admin has renounced: hospitals now join and leave by their members' proposals (`hrm hospital propose add|remove`, `hrm hospital approve`)".to_string(),
        E::NoHospitalsYet(_) => "there is no hospital yet to propose members: register the first hospitals before the admin renounces".to_string(),
        E::UnknownProposal(e) => format!("there is no proposal {}; see `hrm hospital proposals`", e.id),
        E::ProposalExpired(e) => format!(
            "proposal {} expired at {}; propose it again",
            e.id,
            describe_expiry(e.expiredAt)
        ),
        E::ProposalAlreadyPassed(e) => format!("proposal {} has already passed", e.id),
        E::AlreadyApprovedProposal(e) => format!("{} has already approved proposal {}", e.hospital, e.id),
        E::InvalidMembershipRule(e) => format!(
            "a rule of more than {}% with proposals open {} seconds is not allowed: the percentage must be 50 to 99 and a proposal open from an hour to 90 days",
            e.percent, e.lifetime
        ),
        E::LastHospital(e) => format!("{} is the last hospital of the consortium and cannot be removed", e.hospital),
        E::RemovedFromConsortium(e) => format!(
            "{} was removed from the consortium: it no longer votes on the entries of its former panels",
            e.hospital
        ),
        E::InvalidGuardians(e) => format!(
            "{} guardian(s) with {} needed to agree: name 1 to {} guardians, and a threshold from 1 to their number",
            e.count,
            e.threshold,
            super::recovery::MAX_GUARDIANS
        ),
        E::CannotGuardSelf(e) => format!("{} cannot be their own guardian: guardians act when the patient's key is lost", e.patient),
        E::DuplicateGuardian(e) => format!("{} is named twice among the guardians", e.guardian),
        E::NotGuardian(e) => {
            format!("{} is not among {}'s guardians, so it cannot approve moving them", e.account, e.patient)
        }
        E::AlreadyApprovedRecovery(e) => format!(
            "{} approved moving {} to {} already; another guardian must approve too",
            e.guardian, e.patient, e.newAccount
        ),
        E::RecoveryToParticipant(e) => format!(
            "{} has taken part already (a published key, a role, or an earlier move): a patient moves only to a fresh account; make a new one with `hrm account new`",
            e.account
        ),
        E::AccountRecovered(e) => format!(
            "{} was moved to {} by its guardians and can do nothing more; use {} instead",
            e.account, e.newAccount, e.newAccount
        ),
        E::DeferralNotInFuture(e) => format!(
            "the record would be kept until {}, which is not after the chain's current time {}",
            describe_expiry(e.until),
            describe_expiry(e.blockTime.saturating_to())
        ),
    }
}

use alloy::sol_types::SolInterface as _;

/// A grant's expiry for people: a UTC date and time, or "until revoked".
pub fn describe_expiry(expires_at: u64) -> String {
    if expires_at == u64::MAX {
        return "revoked".to_string();
    }
    let millis = i64::try_from(expires_at).unwrap_or(i64::MAX / 1000).saturating_mul(1000);
    mongodb::bson::DateTime::from_millis(millis).try_to_rfc3339_string().unwrap_or_else(|_| expires_at.to_string())
}

/// The custom error's name, as declared in the contract.
pub fn contract_error_name(error: &HealthRecordsErrors) -> &'static str {
    use alloy::sol_types::SolInterface;
    HealthRecordsErrors::name_by_selector(error.selector()).unwrap_or("unknown")
}
