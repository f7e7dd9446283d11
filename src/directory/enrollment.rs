//! Enrollment: a patient proves they hold an account by signing (EIP-191, `personal_sign`) a
//! one-time challenge that staff issue for a directory entry; the hospital then stores MRN ↔
//! account.
//!
//! The challenge's code is the secret: the desk shows it as a link (and a QR code of the link),
//! only its hash is stored, it works once and for [`ENROLLMENT_LIFETIME`]. The message names the
//! server, the hospital and the MRN, so a signature is good for this enrollment only. Each link,
//! unlink and refusal of the account holder's signature is written to the access log, where the
//! patient sees it.

use std::time::{Duration, SystemTime};

use alloy::primitives::Address;
use mongodb::bson::DateTime;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::DirectoryError;
use crate::access::{AccessEvent, AccessLog, AccessOutcome};
use crate::siwe::signer_of;
use crate::store::Archive;
use crate::store::archive::hex_address;
use crate::store::directory::{EnrolledAccount, StoredEnrollmentChallenge};

/// How long staff's enrollment link works.
pub const ENROLLMENT_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// An outstanding challenge, with its code (known to the desk and the patient, never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentChallenge {
    pub code: String,
    pub mrn: String,
    /// The server's host (and port) the patient enrolls at.
    pub domain: String,
    pub hospital: Address,
    pub expires_at: DateTime,
    pub issued_by: String,
}

impl EnrollmentChallenge {
    /// The text the patient's wallet signs.
    pub fn message(&self) -> String {
        format!(
            "{domain} asks you to link your Ethereum account to your record at this hospital.\n\nHospital: {hospital}\nMedical record number: {mrn}\nEnrollment code: {code}\nExpires: {expires}\n\nSigning costs nothing and sends no transaction.",
            domain = self.domain,
            hospital = self.hospital.to_checksum(None),
            mrn = self.mrn,
            code = self.code,
            expires = self.expires_at.try_to_rfc3339_string().unwrap_or_default(),
        )
    }

    /// The enrollment page's path on the server.
    pub fn path(&self) -> String {
        format!("/enroll/{}", self.code)
    }

    fn from_stored(code: &str, stored: StoredEnrollmentChallenge) -> Self {
        Self {
            code: code.to_string(),
            mrn: stored.mrn,
            domain: stored.domain,
            hospital: stored.hospital.parse().unwrap_or_default(),
            expires_at: stored.expires_at,
            issued_by: stored.issued_by,
        }
    }
}

/// Reads the domain and MRN back out of a challenge message, for the patient's side to check
/// before signing: `(domain, mrn)`.
pub fn message_domain_and_mrn(message: &str) -> Option<(String, String)> {
    let domain = message.split_once(" asks you to link")?.0.to_string();
    let mrn = message.lines().find_map(|line| line.strip_prefix("Medical record number: "))?.to_string();
    Some((domain, mrn))
}

fn code_hash(code: &str) -> String {
    alloy::hex::encode(Sha256::digest(code.as_bytes()))
}

/// Issues a challenge for the patient with `mrn`, who must be in the directory and not enrolled.
pub async fn issue_challenge(
    archive: &Archive,
    mrn: &str,
    issued_by: &str,
    domain: &str,
    hospital: Address,
) -> Result<EnrollmentChallenge, DirectoryError> {
    let Some(known) = archive.directory_patient(mrn).await? else {
        return Err(DirectoryError::UnknownMrn { mrn: mrn.to_string() });
    };
    if let Some(account) = known.account {
        return Err(DirectoryError::MrnAlreadyEnrolled { mrn: mrn.to_string(), account });
    }
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    let code = alloy::hex::encode(bytes);
    let expires_at = DateTime::from_system_time(SystemTime::now() + ENROLLMENT_LIFETIME);
    let stored = StoredEnrollmentChallenge {
        code_hash: code_hash(&code),
        mrn: mrn.to_string(),
        issued_by: issued_by.to_string(),
        domain: domain.to_string(),
        hospital: hex_address(hospital),
        expires_at,
    };
    archive.save_enrollment_challenge(&stored).await?;
    Ok(EnrollmentChallenge::from_stored(&code, stored))
}

/// The outstanding challenge with `code`.
pub async fn open_challenge(archive: &Archive, code: &str) -> Result<EnrollmentChallenge, DirectoryError> {
    let stored = archive.enrollment_challenge(&code_hash(code)).await?.ok_or(DirectoryError::UnknownChallenge)?;
    Ok(EnrollmentChallenge::from_stored(code, stored))
}

/// Enrolls `account` with the challenge `code`, given the account's signature of its message.
///
/// Refused, with nothing stored and the challenge left for another try, when the signature is not
/// `account`'s or `account` is enrolled here already; refused when the challenge is unknown, used
/// or expired. The link, and a refusal of the account's own signature, go to the access log.
pub async fn enroll(
    archive: &Archive,
    log: &AccessLog,
    code: &str,
    account: Address,
    signature_hex: &str,
) -> Result<EnrolledAccount, DirectoryError> {
    let challenge = open_challenge(archive, code).await?;
    let logged = |action: String, outcome: AccessOutcome| AccessEvent {
        reader: challenge.hospital,
        user: Some(challenge.issued_by.clone()),
        action,
        patient: account,
        outcome,
        records: Vec::new(),
    };
    let signer = signer_of(&challenge.message(), signature_hex)
        .map_err(|e| DirectoryError::BadSignature(e.to_string().replace("the signature is not valid: ", "")))?;
    // Not logged under `account`: its holder signed nothing, and whoever claims it chooses it.
    if signer != account {
        return Err(DirectoryError::ForeignSignature { account, signer });
    }
    if let Some(existing) = archive.enrollment_of(account).await? {
        log.append(&logged("enrollment refused: already enrolled".into(), AccessOutcome::Denied)).await?;
        return Err(DirectoryError::AccountAlreadyEnrolled { account, mrn: existing.mrn });
    }
    if !archive.take_enrollment_challenge(&code_hash(code)).await? {
        return Err(DirectoryError::UnknownChallenge);
    }
    let link = EnrolledAccount {
        account: hex_address(account),
        mrn: challenge.mrn.clone(),
        hospital: hex_address(challenge.hospital),
        enrolled_at: DateTime::now(),
        enrolled_by: challenge.issued_by.clone(),
    };
    archive.link_account(&link).await?;
    // The link's entry records its issue too (by `user`, at this time): until the patient signs,
    // no account is known to file it under.
    let issued = DateTime::from_system_time(challenge.expires_at.to_system_time() - ENROLLMENT_LIFETIME);
    let issued = issued.try_to_rfc3339_string().unwrap_or_default();
    let action = format!("enrollment: account linked to this hospital's record (link issued {issued})");
    log.append(&logged(action, AccessOutcome::Allowed)).await?;
    Ok(link)
}

/// Unlinks the account enrolled with `mrn`, at the patient's request; returns the account.
pub async fn unlink(
    archive: &Archive,
    log: &AccessLog,
    hospital: Address,
    mrn: &str,
    by: &str,
) -> Result<Address, DirectoryError> {
    if archive.directory_patient(mrn).await?.is_none() {
        return Err(DirectoryError::UnknownMrn { mrn: mrn.to_string() });
    }
    let account = archive.unlink_mrn(mrn).await?.ok_or_else(|| DirectoryError::NotEnrolled { mrn: mrn.to_string() })?;
    log.append(&AccessEvent {
        reader: hospital,
        user: Some(by.to_string()),
        action: "enrollment: account unlinked at the patient's request".into(),
        patient: account,
        outcome: AccessOutcome::Allowed,
        records: Vec::new(),
    })
    .await?;
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_server_hospital_mrn_and_code_and_reads_back() {
        let challenge = EnrollmentChallenge {
            code: "c0de".into(),
            mrn: "MRN-7".into(),
            domain: "records.example.org".into(),
            hospital: Address::repeat_byte(0xab),
            expires_at: DateTime::from_millis(1_800_000_000_000),
            issued_by: "nurse".into(),
        };
        let message = challenge.message();
        assert!(message.contains("Enrollment code: c0de"));
        assert!(message.contains("2027-01-15T08:00:00Z"), "{message}");
        assert_eq!(message_domain_and_mrn(&message), Some(("records.example.org".into(), "MRN-7".into())));
        assert_eq!(challenge.path(), "/enroll/c0de");
        assert_eq!(message_domain_and_mrn("sign this"), None);
    }
}
