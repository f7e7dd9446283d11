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
const VERSION: u8 = 1;
const HEADER_FIXED: usize = 7 + 33;
const RECIPIENT_LEN: usize = 20 + 32 + 16;
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
}

/// One recipient: an address and its registered 64-byte public key (x ‖ y).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeRecipient {
    pub address: Address,
    pub public_key: [u8; 64],
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

    let mut out = Vec::with_capacity(
        HEADER_FIXED + unique.len() * RECIPIENT_LEN + NONCE_LEN + SALT_LEN + canonical_json.len() + TAG_LEN,
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[VERSION, kind as u8, unique.len() as u8]);
    out.extend_from_slice(ephemeral_public.as_bytes());
    for recipient in unique {
        let public = parse_public_key(recipient)?;
        let recipient_public = public.to_encoded_point(true);
        let kek = key_encryption_key(&ephemeral, &public, ephemeral_public.as_bytes(), recipient_public.as_bytes());
        let aad = wrap_aad(kind, recipient.address);
        let wrapped = kek
            .encrypt(&Nonce::default(), Payload { msg: &data_key, aad: &aad })
            .expect("AES-GCM encryption of 32 bytes cannot fail");
        out.extend_from_slice(recipient.address.as_slice());
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

/// Opens an envelope as `address`, whose secret key is `secret`.
pub fn open_envelope(envelope: &[u8], address: Address, secret: &SecretKey) -> Result<OpenedPayload, EnvelopeError> {
    RecipientKey::with_address(secret.clone(), address).open(envelope)
}

/// A recipient's key, ready to open many envelopes: its public half, which every opening salts
/// the key derivation with, is derived once rather than per envelope.
#[derive(Clone)]
pub struct RecipientKey {
    address: Address,
    secret: SecretKey,
    /// The public key, SEC1-compressed.
    public: k256::EncodedPoint,
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
        let public = secret.public_key().to_encoded_point(true);
        Self { address, secret, public }
    }

    /// The account the key opens envelopes as.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Opens an envelope sealed to this key's account.
    pub fn open(&self, envelope: &[u8]) -> Result<OpenedPayload, EnvelopeError> {
        let (address, secret) = (self.address, &self.secret);
        let header = parse_header(envelope)?;
        let slot = header.recipients.iter().position(|a| *a == address).ok_or(EnvelopeError::NotARecipient(address))?;
        let ephemeral_bytes = &envelope[7..HEADER_FIXED];
        let ephemeral = PublicKey::from_sec1_bytes(ephemeral_bytes).map_err(|_| EnvelopeError::Tampered)?;
        let kek = key_encryption_key(secret, &ephemeral, ephemeral_bytes, self.public.as_bytes());
        let start = HEADER_FIXED + slot * RECIPIENT_LEN + 20;
        let wrapped = &envelope[start..start + 48];
        let data_key = kek
            .decrypt(&Nonce::default(), Payload { msg: wrapped, aad: &wrap_aad(header.kind, address) })
            .map_err(|_| EnvelopeError::Tampered)?;
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

struct Header {
    kind: EntryKind,
    recipients: Vec<Address>,
    /// Bytes up to the payload nonce.
    len: usize,
}

fn parse_header(envelope: &[u8]) -> Result<Header, EnvelopeError> {
    if envelope.len() < HEADER_FIXED || &envelope[..4] != MAGIC || envelope[4] != VERSION {
        return Err(EnvelopeError::Malformed);
    }
    let kind = EntryKind::from_u8(envelope[5]).ok_or(EnvelopeError::Malformed)?;
    let count = usize::from(envelope[6]);
    let len = HEADER_FIXED + count * RECIPIENT_LEN;
    if count == 0 || count > MAX_RECIPIENTS || envelope.len() < len + NONCE_LEN + SALT_LEN + TAG_LEN {
        return Err(EnvelopeError::Malformed);
    }
    let recipients =
        (0..count).map(|i| Address::from_slice(&envelope[HEADER_FIXED + i * RECIPIENT_LEN..][..20])).collect();
    Ok(Header { kind, recipients, len })
}

fn parse_public_key(recipient: &EnvelopeRecipient) -> Result<PublicKey, EnvelopeError> {
    let mut sec1 = [0u8; 65];
    sec1[0] = 0x04;
    sec1[1..].copy_from_slice(&recipient.public_key);
    let key = PublicKey::from_sec1_bytes(&sec1).map_err(|_| EnvelopeError::InvalidPublicKey(recipient.address))?;
    // Sealing to a key that is not the address's own would hand the record to someone else.
    if super::keys::address_of_public_key(&recipient.public_key) != recipient.address {
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

fn wrap_aad(kind: EntryKind, address: Address) -> Vec<u8> {
    let mut aad = Vec::with_capacity(26);
    aad.extend_from_slice(MAGIC);
    aad.extend_from_slice(&[VERSION, kind as u8]);
    aad.extend_from_slice(address.as_slice());
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
        };
        let secret = SecretKey::from_slice(&signer.to_bytes()[..]).unwrap();
        (signer, recipient, secret)
    }

    const RECORD: &[u8] = br#"{"readings":{"glucose":148},"recorded_at":"2026-11-02"}"#;

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
        let forged = EnvelopeRecipient { address: alice.address, public_key: bob.public_key };
        assert_eq!(
            seal_record(EntryKind::Health, &[0; 32], RECORD, &[forged]),
            Err(EnvelopeError::KeyAddressMismatch(alice.address))
        );
        assert_eq!(seal_record(EntryKind::Health, &[0; 32], RECORD, &[]), Err(EnvelopeError::RecipientCount(0)));
    }

    #[test]
    fn size_for_six_recipients() {
        let recipients: Vec<_> = (0..6).map(|_| party().1).collect();
        let envelope = seal_record(EntryKind::Health, &[0; 32], RECORD, &recipients).unwrap();
        assert_eq!(envelope.len(), HEADER_FIXED + 6 * RECIPIENT_LEN + NONCE_LEN + SALT_LEN + RECORD.len() + TAG_LEN);
    }
}
