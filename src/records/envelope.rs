//! The sealed envelope: a record encrypted so that only its recipients can read it.
//!
//! A random 256-bit data key encrypts the payload (the 32-byte salt followed by the record's
//! canonical JSON) with AES-256-GCM. The data key is wrapped for each recipient with ECIES on
//! secp256k1: one ephemeral key pair per envelope, ECDH with the recipient's registered public key,
//! HKDF-SHA256 to a key-encryption key, AES-256-GCM. Every primitive comes from RustCrypto.
//!
//! Binary layout, version 1 (all integers one byte):
//!
//! ```text
//! offset  size   field
//! 0       4      magic "HRME"
//! 4       1      version = 1
//! 5       1      entry kind (0 health, 1 bill)
//! 6       1      recipient count n (1..=64)
//! 7       33     ephemeral public key, compressed SEC1
//! 40      68·n   per recipient: address (20) ‖ wrapped data key (32 + 16-byte GCM tag)
//! 40+68n  12     payload nonce
//! 52+68n  rest   payload ciphertext: AES-256-GCM(data key, salt ‖ canonical JSON) with its tag
//! ```
//!
//! Version 2 is the same but for each recipient's entry, which names the version of the
//! recipient's sealing key it was wrapped for (0: the account's own key; a hospital's key rotated
//! n times is at version n, see `rotateKey`): address (20) ‖ key version (4, big-endian) ‖ wrapped
//! data key (48), 72 bytes. An envelope is written as version 1 while every recipient's key is at
//! version 0, so envelopes before any rotation are unchanged; both versions open.
//!
//! The header (bytes before the payload nonce) is the payload's associated data, so changing a
//! recipient, the kind or the version is detected like a change to the ciphertext. A wrapped key
//! uses an all-zero nonce: its key-encryption key is derived from a fresh ephemeral key and the
//! recipient's key, so it encrypts exactly one message.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use alloy::primitives::Address;
use hkdf::Hkdf;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::{PublicKey, SecretKey};
use rand::RngCore;
use sha2::Sha256;

use super::EntryKind;

const MAGIC: &[u8; 4] = b"HRME";
const VERSION_1: u8 = 1;
/// Recipients' entries name their key's version.
const VERSION_2: u8 = 2;
const HEADER_FIXED: usize = 7 + 33;
const RECIPIENT_LEN: usize = 20 + 32 + 16;
const KEY_VERSION_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const SALT_LEN: usize = 32;
/// Most recipients one envelope is sealed to.
pub const MAX_RECIPIENTS: usize = 64;
const KEY_WRAP_INFO: &[u8] = b"hrm envelope v1 key wrap";

/// Why an envelope could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("an envelope needs 1 to {MAX_RECIPIENTS} recipients, not {0}")]
    RecipientCount(usize),
    #[error("the public key of {0} is not a valid secp256k1 key")]
    InvalidPublicKey(Address),
    #[error("the public key registered for {0} does not belong to that address")]
    KeyAddressMismatch(Address),
    #[error("this is not an hrm envelope (bad magic, version or length)")]
    Malformed,
    #[error("{0} is not a recipient of this envelope")]
    NotARecipient(Address),
    #[error("the envelope failed its integrity check: it was altered, or the key is wrong")]
    Tampered,
    #[error(
        "the envelope was sealed to version {version} of {address}'s sealing key, which is not among the keys at hand: copy that account's sealing-keys folder from where `hrm key rotate` ran"
    )]
    SealingKeyMissing { address: Address, version: u32 },
}

/// One recipient: an address, its registered 64-byte public key (x ‖ y) and that key's version
/// (0: the account's own key, which must hash to the address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeRecipient {
    pub address: Address,
    pub public_key: [u8; 64],
    pub key_version: u32,
}

/// What opening an envelope gives: the salt and the record's canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedPayload {
    pub kind: EntryKind,
    pub salt: [u8; 32],
    pub record_json: Vec<u8>,
    /// Every address the envelope is sealed to.
    pub recipients: Vec<Address>,
}

/// Seals `salt ‖ canonical_json` to every recipient (duplicates are sealed to once).
pub fn seal_record(
    kind: EntryKind,
    salt: &[u8; 32],
    canonical_json: &[u8],
    recipients: &[EnvelopeRecipient],
) -> Result<Vec<u8>, EnvelopeError> {
    let mut unique: Vec<&EnvelopeRecipient> = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        if !unique.iter().any(|r| r.address == recipient.address) {
            unique.push(recipient);
        }
    }
    if unique.is_empty() || unique.len() > MAX_RECIPIENTS {
        return Err(EnvelopeError::RecipientCount(unique.len()));
    }
    let mut rng = rand::rngs::OsRng;
    let ephemeral = SecretKey::random(&mut rng);
    let ephemeral_public = ephemeral.public_key().to_encoded_point(true);
    let mut data_key = [0u8; 32];
    rng.fill_bytes(&mut data_key);

    let format = if unique.iter().any(|r| r.key_version != 0) { VERSION_2 } else { VERSION_1 };
    let mut out = Vec::with_capacity(
        HEADER_FIXED + unique.len() * recipient_len(format) + NONCE_LEN + SALT_LEN + canonical_json.len() + TAG_LEN,
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[format, kind as u8, unique.len() as u8]);
    out.extend_from_slice(ephemeral_public.as_bytes());
    for recipient in unique {
        let public = parse_public_key(recipient)?;
        let recipient_public = public.to_encoded_point(true);
        let kek = key_encryption_key(&ephemeral, &public, ephemeral_public.as_bytes(), recipient_public.as_bytes());
        let aad = wrap_aad(format, kind, recipient.address, recipient.key_version);
        let wrapped = kek
            .encrypt(&Nonce::default(), Payload { msg: &data_key, aad: &aad })
            .expect("AES-GCM encryption of 32 bytes cannot fail");
        out.extend_from_slice(recipient.address.as_slice());
        if format == VERSION_2 {
            out.extend_from_slice(&recipient.key_version.to_be_bytes());
        }
        out.extend_from_slice(&wrapped);
    }
    let header_len = out.len();
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let mut plaintext = Vec::with_capacity(SALT_LEN + canonical_json.len());
    plaintext.extend_from_slice(salt);
    plaintext.extend_from_slice(canonical_json);
    let cipher = Aes256Gcm::new(&data_key.into());
    let ciphertext = cipher
        .encrypt(&Nonce::from(nonce), Payload { msg: &plaintext, aad: &out[..header_len] })
        .expect("AES-GCM encryption cannot fail for in-memory payloads");
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Opens an envelope as `address`, whose secret key (at version 0) is `secret`.
pub fn open_envelope(envelope: &[u8], address: Address, secret: &SecretKey) -> Result<OpenedPayload, EnvelopeError> {
    RecipientKey::with_address(secret.clone(), address).open(envelope)
}

/// A recipient's keys, ready to open many envelopes: the account's own (version 0) and any
/// sealing keys it rotated to since, each with its public half, which every opening salts the key
/// derivation with, derived once rather than per envelope.
#[derive(Clone)]
pub struct RecipientKey {
    address: Address,
    keys: Vec<VersionedKey>,
}

#[derive(Clone)]
struct VersionedKey {
    version: u32,
    secret: SecretKey,
    /// The public key, SEC1-compressed.
    public: k256::EncodedPoint,
}

impl VersionedKey {
    fn new(version: u32, secret: SecretKey) -> Self {
        let public = secret.public_key().to_encoded_point(true);
        Self { version, secret, public }
    }
}

impl std::fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientKey").field("address", &self.address).finish_non_exhaustive()
    }
}

impl RecipientKey {
    /// The key of the account `secret` controls.
    pub fn new(secret: SecretKey) -> Self {
        let address = alloy::primitives::Address::from_public_key(&secret.public_key().into());
        Self::with_address(secret, address)
    }

    fn with_address(secret: SecretKey, address: Address) -> Self {
        Self { address, keys: vec![VersionedKey::new(0, secret)] }
    }

    /// The same keys and the sealing key at `version` (from a rotation).
    pub fn with_sealing_key(mut self, version: u32, secret: SecretKey) -> Self {
        self.keys.retain(|key| key.version != version);
        self.keys.push(VersionedKey::new(version, secret));
        self
    }

    /// The account the key opens envelopes as.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The versions of the sealing keys at hand, 0 (the account's own) first.
    pub fn versions(&self) -> Vec<u32> {
        let mut versions: Vec<u32> = self.keys.iter().map(|key| key.version).collect();
        versions.sort_unstable();
        versions
    }

    /// Opens an envelope sealed to this key's account, with the key of the version it names.
    pub fn open(&self, envelope: &[u8]) -> Result<OpenedPayload, EnvelopeError> {
        let address = self.address;
        let header = parse_header(envelope)?;
        let slot = header.recipients.iter().position(|a| *a == address).ok_or(EnvelopeError::NotARecipient(address))?;
        let version = header.key_versions[slot];
        let key = self
            .keys
            .iter()
            .find(|key| key.version == version)
            .ok_or(EnvelopeError::SealingKeyMissing { address, version })?;
        let ephemeral_bytes = &envelope[7..HEADER_FIXED];
        let ephemeral = PublicKey::from_sec1_bytes(ephemeral_bytes).map_err(|_| EnvelopeError::Tampered)?;
        let kek = key_encryption_key(&key.secret, &ephemeral, ephemeral_bytes, key.public.as_bytes());
        let start = HEADER_FIXED + slot * recipient_len(header.format) + recipient_len(header.format) - 48;
        let wrapped = &envelope[start..start + 48];
        let aad = wrap_aad(header.format, header.kind, address, version);
        let data_key =
            kek.decrypt(&Nonce::default(), Payload { msg: wrapped, aad: &aad }).map_err(|_| EnvelopeError::Tampered)?;
        let cipher = Aes256Gcm::new_from_slice(&data_key).map_err(|_| EnvelopeError::Tampered)?;
        let nonce: [u8; NONCE_LEN] = envelope[header.len..header.len + NONCE_LEN].try_into().expect("length checked");
        let plaintext = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload { msg: &envelope[header.len + NONCE_LEN..], aad: &envelope[..header.len] },
            )
            .map_err(|_| EnvelopeError::Tampered)?;
        if plaintext.len() < SALT_LEN {
            return Err(EnvelopeError::Malformed);
        }
        let (salt, record_json) = plaintext.split_at(SALT_LEN);
        Ok(OpenedPayload {
            kind: header.kind,
            salt: salt.try_into().expect("split at the salt length"),
            record_json: record_json.to_vec(),
            recipients: header.recipients,
        })
    }
}

/// The addresses an envelope is sealed to, readable without any key.
pub fn envelope_recipients(envelope: &[u8]) -> Result<Vec<Address>, EnvelopeError> {
    parse_header(envelope).map(|h| h.recipients)
}

/// Whether `envelope` is a copy sealed to `account` alone: what a hospital re-seals for a patient
/// moved to a new account. The chain's digest names only the original envelope, so such a copy is
/// trusted for what its opening proves: a record that matches the commitment on chain.
pub fn is_personal_copy(envelope: &[u8], account: Address) -> bool {
    envelope_recipients(envelope).is_ok_and(|recipients| recipients == [account])
}

/// The key versions an envelope names for its recipients, in its recipients' order (all 0 in a
/// version 1 envelope).
pub fn envelope_key_versions(envelope: &[u8]) -> Result<Vec<(Address, u32)>, EnvelopeError> {
    parse_header(envelope).map(|h| h.recipients.into_iter().zip(h.key_versions).collect())
}

struct Header {
    format: u8,
    kind: EntryKind,
    recipients: Vec<Address>,
    key_versions: Vec<u32>,
    /// Bytes up to the payload nonce.
    len: usize,
}

/// Bytes of one recipient's entry in an envelope of `format`.
fn recipient_len(format: u8) -> usize {
    if format == VERSION_2 { RECIPIENT_LEN + KEY_VERSION_LEN } else { RECIPIENT_LEN }
}

fn parse_header(envelope: &[u8]) -> Result<Header, EnvelopeError> {
    if envelope.len() < HEADER_FIXED || &envelope[..4] != MAGIC || !matches!(envelope[4], VERSION_1 | VERSION_2) {
        return Err(EnvelopeError::Malformed);
    }
    let format = envelope[4];
    let kind = EntryKind::from_u8(envelope[5]).ok_or(EnvelopeError::Malformed)?;
    let count = usize::from(envelope[6]);
    let entry_len = recipient_len(format);
    let len = HEADER_FIXED + count * entry_len;
    if count == 0 || count > MAX_RECIPIENTS || envelope.len() < len + NONCE_LEN + SALT_LEN + TAG_LEN {
        return Err(EnvelopeError::Malformed);
    }
    let entry = |i: usize| &envelope[HEADER_FIXED + i * entry_len..][..entry_len];
    let recipients = (0..count).map(|i| Address::from_slice(&entry(i)[..20])).collect();
    let key_versions = (0..count)
        .map(|i| match format {
            VERSION_2 => u32::from_be_bytes(entry(i)[20..24].try_into().expect("four bytes")),
            _ => 0,
        })
        .collect();
    Ok(Header { format, kind, recipients, key_versions, len })
}

fn parse_public_key(recipient: &EnvelopeRecipient) -> Result<PublicKey, EnvelopeError> {
    let mut sec1 = [0u8; 65];
    sec1[0] = 0x04;
    sec1[1..].copy_from_slice(&recipient.public_key);
    let key = PublicKey::from_sec1_bytes(&sec1).map_err(|_| EnvelopeError::InvalidPublicKey(recipient.address))?;
    // Sealing to a key that is not the address's own would hand the record to someone else. A
    // rotated key (version 1 on) is the address's by the contract's word: only the account itself
    // publishes it.
    if recipient.key_version == 0 && super::keys::address_of_public_key(&recipient.public_key) != recipient.address {
        return Err(EnvelopeError::KeyAddressMismatch(recipient.address));
    }
    Ok(key)
}

/// HKDF-SHA256 over the ECDH secret between `secret` and `peer`, salted with the ephemeral and
/// the recipient public keys (compressed), to an AES-256-GCM key. The sealer passes the ephemeral
/// secret and the recipient's key; the recipient passes its own secret and the ephemeral key.
fn key_encryption_key(
    secret: &SecretKey,
    peer: &PublicKey,
    ephemeral_public: &[u8],
    recipient_public: &[u8],
) -> Aes256Gcm {
    let shared = k256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
    let salt = [ephemeral_public, recipient_public].concat();
    let hkdf = Hkdf::<Sha256>::new(Some(&salt), shared.raw_secret_bytes());
    let mut key = [0u8; 32];
    hkdf.expand(KEY_WRAP_INFO, &mut key).expect("32 bytes is a valid HKDF-SHA256 output length");
    Aes256Gcm::new(&key.into())
}

/// What a wrapped data key is bound to: the format, the kind, the recipient and (version 2) the
/// version of the key it was wrapped for.
fn wrap_aad(format: u8, kind: EntryKind, address: Address, key_version: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(30);
    aad.extend_from_slice(MAGIC);
    aad.extend_from_slice(&[format, kind as u8]);
    aad.extend_from_slice(address.as_slice());
    if format == VERSION_2 {
        aad.extend_from_slice(&key_version.to_be_bytes());
    }
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::keys::public_key_bytes;
    use alloy::signers::local::PrivateKeySigner;

    fn party() -> (PrivateKeySigner, EnvelopeRecipient, SecretKey) {
        let signer = PrivateKeySigner::random();
        let recipient = EnvelopeRecipient {
            address: signer.address(),
            public_key: public_key_bytes(&signer).as_ref().try_into().unwrap(),
            key_version: 0,
        };
        let secret = SecretKey::from_slice(&signer.to_bytes()[..]).unwrap();
        (signer, recipient, secret)
    }

    const RECORD: &[u8] = br#"{"readings":{"glucose":148},"recorded_at":"2026-11-02"}"#;

    #[test]
    fn a_personal_copy_is_sealed_to_one_account_alone() {
        let (alone, others) = (party(), [party(), party()]);
        let copy = seal_record(EntryKind::Health, &[7; 32], RECORD, std::slice::from_ref(&alone.1)).unwrap();
        assert!(is_personal_copy(&copy, alone.1.address));
        assert!(!is_personal_copy(&copy, others[0].1.address), "another account's copy");
        let shared = seal_record(EntryKind::Health, &[7; 32], RECORD, &[alone.1.clone(), others[1].1.clone()]).unwrap();
        assert!(!is_personal_copy(&shared, alone.1.address), "an envelope for several recipients");
        assert!(!is_personal_copy(b"not an envelope", alone.1.address));
    }

    #[test]
    fn each_of_three_recipients_opens_it() {
        let parties: Vec<_> = (0..3).map(|_| party()).collect();
        let recipients: Vec<_> = parties.iter().map(|p| p.1.clone()).collect();
        let envelope = seal_record(EntryKind::Health, &[7; 32], RECORD, &recipients).unwrap();
        assert_eq!(envelope_recipients(&envelope).unwrap(), recipients.iter().map(|r| r.address).collect::<Vec<_>>());
        for (_, recipient, secret) in &parties {
            let opened = open_envelope(&envelope, recipient.address, secret).unwrap();
            assert_eq!((opened.kind, opened.salt, opened.record_json.as_slice()), (EntryKind::Health, [7; 32], RECORD));
        }
    }

    #[test]
    fn a_non_recipient_cannot_open_it() {
        let (_, alice, _) = party();
        let (_, mallory, mallory_secret) = party();
        let envelope = seal_record(EntryKind::Bill, &[1; 32], RECORD, std::slice::from_ref(&alice)).unwrap();
        assert_eq!(
            open_envelope(&envelope, mallory.address, &mallory_secret),
            Err(EnvelopeError::NotARecipient(mallory.address))
        );
        // Claiming to be Alice without her key fails the integrity check.
        assert_eq!(open_envelope(&envelope, alice.address, &mallory_secret), Err(EnvelopeError::Tampered));
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let (_, alice, secret) = party();
        let envelope = seal_record(EntryKind::Health, &[3; 32], RECORD, std::slice::from_ref(&alice)).unwrap();
        for index in 0..envelope.len() {
            let mut altered = envelope.clone();
            altered[index] ^= 0x01;
            assert!(open_envelope(&altered, alice.address, &secret).is_err(), "flipping byte {index} went unnoticed");
        }
        assert!(open_envelope(&envelope[..envelope.len() - 1], alice.address, &secret).is_err());
    }

    #[test]
    fn the_kind_is_bound_to_the_envelope() {
        let (_, alice, secret) = party();
        let mut envelope = seal_record(EntryKind::Health, &[3; 32], RECORD, std::slice::from_ref(&alice)).unwrap();
        envelope[5] = EntryKind::Bill as u8;
        assert_eq!(open_envelope(&envelope, alice.address, &secret), Err(EnvelopeError::Tampered));
    }

    #[test]
    fn refuses_keys_that_are_not_the_addresses_own() {
        let (_, alice, _) = party();
        let (_, bob, _) = party();
        let forged = EnvelopeRecipient { address: alice.address, public_key: bob.public_key, key_version: 0 };
        assert_eq!(
            seal_record(EntryKind::Health, &[0; 32], RECORD, &[forged]),
            Err(EnvelopeError::KeyAddressMismatch(alice.address))
        );
        assert_eq!(seal_record(EntryKind::Health, &[0; 32], RECORD, &[]), Err(EnvelopeError::RecipientCount(0)));
    }

    /// A recipient at key version `version`: a fresh sealing key that is not its account's.
    fn rotated(recipient: &EnvelopeRecipient, version: u32) -> (EnvelopeRecipient, SecretKey) {
        let sealing = PrivateKeySigner::random();
        let public_key = public_key_bytes(&sealing).as_ref().try_into().unwrap();
        let secret = SecretKey::from_slice(&sealing.to_bytes()[..]).unwrap();
        (EnvelopeRecipient { address: recipient.address, public_key, key_version: version }, secret)
    }

    #[test]
    fn a_rotated_key_opens_what_was_sealed_to_it_and_the_old_key_what_was_sealed_before() {
        let (_, hospital, account_secret) = party();
        let (_, patient, patient_secret) = party();
        let before = seal_record(EntryKind::Health, &[1; 32], RECORD, &[patient.clone(), hospital.clone()]).unwrap();
        assert_eq!(before[4], VERSION_1, "no rotation yet: the first layout, unchanged");
        let (rotated_hospital, rotated_secret) = rotated(&hospital, 3);
        let after = seal_record(EntryKind::Health, &[2; 32], RECORD, &[patient.clone(), rotated_hospital]).unwrap();
        assert_eq!(after[4], VERSION_2);
        assert_eq!(envelope_key_versions(&after).unwrap(), vec![(patient.address, 0), (hospital.address, 3)]);

        let old_keys = RecipientKey::with_address(account_secret.clone(), hospital.address);
        assert_eq!(old_keys.open(&before).unwrap().salt, [1; 32]);
        assert_eq!(
            old_keys.open(&after).unwrap_err(),
            EnvelopeError::SealingKeyMissing { address: hospital.address, version: 3 }
        );
        let keys = old_keys.with_sealing_key(3, rotated_secret.clone());
        assert_eq!(keys.versions(), vec![0, 3]);
        assert_eq!(keys.open(&before).unwrap().salt, [1; 32], "the old key still opens the old envelope");
        assert_eq!(keys.open(&after).unwrap().salt, [2; 32], "the new key opens the new one");
        assert_eq!(open_envelope(&after, patient.address, &patient_secret).unwrap().salt, [2; 32]);

        // The version is bound to the wrapped key: naming another one fails the integrity check.
        let mut renamed = after.clone();
        let version_at = HEADER_FIXED + (RECIPIENT_LEN + KEY_VERSION_LEN) + 20 + 3;
        renamed[version_at] = 0;
        let renamed_keys = RecipientKey::with_address(rotated_secret, hospital.address);
        assert!(renamed_keys.open(&renamed).is_err());
        for index in 0..after.len() {
            let mut altered = after.clone();
            altered[index] ^= 0x01;
            assert!(keys.open(&altered).is_err(), "flipping byte {index} went unnoticed");
        }
    }

    #[test]
    fn size_for_six_recipients() {
        let recipients: Vec<_> = (0..6).map(|_| party().1).collect();
        let envelope = seal_record(EntryKind::Health, &[0; 32], RECORD, &recipients).unwrap();
        assert_eq!(envelope.len(), HEADER_FIXED + 6 * RECIPIENT_LEN + NONCE_LEN + SALT_LEN + RECORD.len() + TAG_LEN);
    }
}
