//! The sealing keys a hospital rotated to (`hrm key rotate`), kept so that envelopes sealed to an
//! earlier key still open.
//!
//! Each key is a file `<home>/sealing-keys/<account>/v<N>.json` (N its version on chain), its
//! secret encrypted with AES-256-GCM under a key derived (HKDF-SHA256) from the account's own
//! private key, and bound to the account and the version. So the files are useless without the
//! account key, which stays in its password-protected keystore, and no second password is asked.
//! Version 0 is the account key itself and has no file.

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use alloy::primitives::{Address, hex};
use alloy::signers::local::PrivateKeySigner;
use hkdf::Hkdf;
use k256::SecretKey;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::IdentityError;
use super::keystore::restrict_to_owner;
use crate::fsutil::write_atomically;
use crate::records::RecipientKey;

const STORE_KEY_INFO: &[u8] = b"hrm sealing key store v1";

/// One stored sealing key, as written to its file.
#[derive(Debug, Serialize, Deserialize)]
struct StoredSealingKey {
    account: Address,
    version: u32,
    /// The public half (64 bytes, x ‖ y), as published on chain.
    public_key: String,
    nonce: String,
    ciphertext: String,
}

/// The sealing keys of every account under one hrm home.
#[derive(Debug, Clone)]
pub struct SealingKeyStore {
    dir: PathBuf,
}

impl SealingKeyStore {
    /// The store in `dir` (`<home>/sealing-keys`).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Where `account`'s sealing keys are kept.
    pub fn folder_of(&self, account: Address) -> PathBuf {
        self.dir.join(format!("{account:#x}"))
    }

    fn path_of(&self, account: Address, version: u32) -> PathBuf {
        self.folder_of(account).join(format!("v{version}.json"))
    }

    /// Keeps `secret` as `signer`'s sealing key at `version`; refuses to replace a kept key.
    pub fn save(&self, signer: &PrivateKeySigner, version: u32, secret: &SecretKey) -> Result<PathBuf, IdentityError> {
        let account = signer.address();
        let path = self.path_of(account, version);
        if path.exists() {
            return Err(IdentityError::Keystore {
                path,
                message: "a sealing key of this version is kept already; it was not replaced".into(),
            });
        }
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let secret_bytes: [u8; 32] = secret.to_bytes().into();
        let ciphertext = store_cipher(signer)
            .encrypt(&Nonce::from(nonce), Payload { msg: &secret_bytes, aad: &binding(account, version) })
            .expect("AES-GCM encryption of 32 bytes cannot fail");
        let public = secret.public_key().to_encoded_point(false);
        let stored = StoredSealingKey {
            account,
            version,
            public_key: hex::encode_prefixed(&public.as_bytes()[1..]),
            nonce: hex::encode_prefixed(nonce),
            ciphertext: hex::encode_prefixed(ciphertext),
        };
        let json = serde_json::to_vec_pretty(&stored).expect("a stored key serialises");
        write_atomically(&path, &json).map_err(|source| IdentityError::Io {
            what: "writing the sealing key",
            path: path.clone(),
            source,
        })?;
        restrict_to_owner(&self.folder_of(account));
        restrict_to_owner(&path);
        Ok(path)
    }

    /// Forgets the key at `version` (a rotation that was not mined).
    pub fn discard(&self, account: Address, version: u32) {
        let _ = std::fs::remove_file(self.path_of(account, version));
    }

    /// `signer`'s keys for opening envelopes: its account key (version 0) and every sealing key
    /// kept for it.
    pub fn recipient_key(&self, signer: &PrivateKeySigner) -> Result<RecipientKey, IdentityError> {
        let account_secret =
            SecretKey::from_slice(&signer.to_bytes()[..]).expect("a signer's key is a valid secret key");
        let mut key = RecipientKey::new(account_secret);
        let folder = self.folder_of(signer.address());
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(key),
            Err(source) => return Err(IdentityError::Io { what: "reading the sealing keys in", path: folder, source }),
        };
        for entry in entries {
            let path = entry.map_err(|source| IdentityError::Io {
                what: "reading the sealing keys in",
                path: folder.clone(),
                source,
            })?;
            let path = path.path();
            if path.extension().is_some_and(|e| e == "json") {
                let (version, secret) = open_stored(signer, &path)?;
                key = key.with_sealing_key(version, secret);
            }
        }
        Ok(key)
    }
}

fn open_stored(signer: &PrivateKeySigner, path: &Path) -> Result<(u32, SecretKey), IdentityError> {
    let damaged = |message: String| IdentityError::Keystore { path: path.to_path_buf(), message };
    let bytes = std::fs::read(path).map_err(|source| IdentityError::Io {
        what: "reading the sealing key",
        path: path.to_path_buf(),
        source,
    })?;
    let stored: StoredSealingKey = serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
    if stored.account != signer.address() {
        return Err(damaged(format!("it belongs to {}, not to {}", stored.account, signer.address())));
    }
    let nonce: [u8; 12] = hex::decode(&stored.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| damaged("its nonce is not 12 bytes of hex".into()))?;
    let ciphertext = hex::decode(&stored.ciphertext).map_err(|e| damaged(e.to_string()))?;
    let secret = store_cipher(signer)
        .decrypt(&Nonce::from(nonce), Payload { msg: &ciphertext, aad: &binding(stored.account, stored.version) })
        .map_err(|_| damaged("it does not open with this account's key (altered, or another account's)".into()))?;
    let secret = SecretKey::from_slice(&secret).map_err(|_| damaged("it holds no valid secret key".into()))?;
    Ok((stored.version, secret))
}

/// The cipher the account's sealing keys are kept under, derived from its private key.
fn store_cipher(signer: &PrivateKeySigner) -> Aes256Gcm {
    let hkdf = Hkdf::<Sha256>::new(Some(signer.address().as_slice()), &signer.to_bytes()[..]);
    let mut key = [0u8; 32];
    hkdf.expand(STORE_KEY_INFO, &mut key).expect("32 bytes is a valid HKDF-SHA256 output length");
    Aes256Gcm::new(&key.into())
}

/// What a stored key is bound to: its account and version.
fn binding(account: Address, version: u32) -> Vec<u8> {
    [account.as_slice(), &version.to_be_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_keys_come_back_for_their_account_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = SealingKeyStore::new(dir.path().join("sealing-keys"));
        let hospital = PrivateKeySigner::random();
        assert_eq!(store.recipient_key(&hospital).unwrap().versions(), vec![0], "none kept yet");
        let first = SecretKey::random(&mut rand::rngs::OsRng);
        let second = SecretKey::random(&mut rand::rngs::OsRng);
        store.save(&hospital, 1, &first).unwrap();
        store.save(&hospital, 2, &second).unwrap();
        assert!(store.save(&hospital, 2, &first).is_err(), "a kept key is never replaced");
        assert_eq!(store.recipient_key(&hospital).unwrap().versions(), vec![0, 1, 2]);

        // Another account cannot open them, even given the files as its own.
        let other = PrivateKeySigner::random();
        std::fs::create_dir_all(store.folder_of(other.address())).unwrap();
        std::fs::copy(store.path_of(hospital.address(), 1), store.path_of(other.address(), 1)).unwrap();
        let refused = store.recipient_key(&other).unwrap_err().to_string();
        assert!(refused.contains("belongs to"), "{refused}");
        // Nor does a file renamed to another version.
        std::fs::rename(store.path_of(hospital.address(), 2), store.path_of(hospital.address(), 7)).unwrap();
        let kept = store.recipient_key(&hospital).unwrap();
        assert_eq!(kept.versions(), vec![0, 1, 2], "the version is the file's content, not its name");
        store.discard(hospital.address(), 7);
        assert_eq!(store.recipient_key(&hospital).unwrap().versions(), vec![0, 1]);
    }
}
