//! Who acts: encrypted keystores, the address book, Anvil's development keys, and how a name
//! given on the command line becomes an address or a signer.

mod address_book;
mod keystore;
mod sealing_keys;

pub use address_book::AddressBook;
pub use keystore::{KeystoreDir, is_valid_account_name};
pub use sealing_keys::SealingKeyStore;

use std::path::PathBuf;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;

use crate::chain::dev_keys::{self, DEV_ACCOUNT_COUNT};

/// Why a name, address or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "unknown account '{name}'; known names: {known}. Create one with `hrm account new {name}` or name an address with `hrm account label {name} 0x…`"
    )]
    UnknownAccount { name: String, known: String },
    #[error("'{0}' is not a valid account name: use 1 to 64 letters, digits, '-' or '_'")]
    InvalidName(String),
    #[error("an account named '{0}' already exists")]
    NameTaken(String),
    #[error("'{0}' is not a valid address (expected 0x followed by 40 hex digits)")]
    InvalidAddress(String),
    #[error("development key '{spec}' is not one of dev:0 to dev:{last}")]
    UnknownDevKey { spec: String, last: usize },
    #[error(
        "development keys such as '{spec}' are public and only usable on local chains (ids 31337 and 1337), not on chain {chain_id}"
    )]
    DevKeyOnPublicChain { spec: String, chain_id: u64 },
    #[error(
        "no keystore for {0}: it can only be used as an address, not to sign; import its key with `hrm account import`"
    )]
    NoKeystore(String),
    #[error("no password for the keystore of '{0}': set HRM_PASSWORD, or run hrm in a terminal to be asked")]
    PasswordUnavailable(String),
    #[error("wrong password for the keystore of '{0}'")]
    WrongPassword(String),
    #[error("the private key is not valid: expected 32 bytes as 64 hex digits (an optional 0x prefix is fine)")]
    InvalidPrivateKey,
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("the address book {path} is damaged: {message}")]
    DamagedAddressBook { path: PathBuf, message: String },
    #[error("keystore {path}: {message}")]
    Keystore { path: PathBuf, message: String },
}

/// How an account was named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountSpec {
    /// `dev:N`, one of Anvil's development accounts.
    Dev(usize),
    /// A literal address.
    Address(Address),
    /// A name from the address book / keystores.
    Name(String),
}

impl AccountSpec {
    /// Reads `dev:N`, `0x…` or a name.
    pub fn parse(spec: &str) -> Result<Self, IdentityError> {
        let spec = spec.trim();
        if let Some(index) = spec.strip_prefix("dev:") {
            return index
                .parse::<usize>()
                .ok()
                .filter(|i| *i < DEV_ACCOUNT_COUNT)
                .map(Self::Dev)
                .ok_or_else(|| IdentityError::UnknownDevKey { spec: spec.to_string(), last: DEV_ACCOUNT_COUNT - 1 });
        }
        if spec.starts_with("0x") || spec.starts_with("0X") {
            return spec.parse().map(Self::Address).map_err(|_| IdentityError::InvalidAddress(spec.to_string()));
        }
        if !is_valid_account_name(spec) {
            return Err(IdentityError::InvalidName(spec.to_string()));
        }
        Ok(Self::Name(spec.to_string()))
    }
}

/// Keystores, the address book and rotated sealing keys under one hrm home folder.
#[derive(Debug, Clone)]
pub struct Identities {
    pub keystores: KeystoreDir,
    pub book: AddressBook,
    pub sealing_keys: SealingKeyStore,
}

impl Identities {
    /// The identities kept under `home` (`keystores/` and `addresses.json`).
    pub fn open(home: &std::path::Path) -> Self {
        Self {
            keystores: KeystoreDir::new(home.join("keystores")),
            book: AddressBook::new(home.join("addresses.json")),
            sealing_keys: SealingKeyStore::new(home.join("sealing-keys")),
        }
    }

    /// The address an account spec stands for.
    pub fn resolve_address(&self, spec: &str) -> Result<Address, IdentityError> {
        match AccountSpec::parse(spec)? {
            AccountSpec::Dev(index) => Ok(dev_keys::dev_signer(index).expect("index checked").address()),
            AccountSpec::Address(address) => Ok(address),
            AccountSpec::Name(name) => self.book.get(&name)?.ok_or_else(|| self.unknown(&name)),
        }
    }

    /// The signer an account spec stands for on chain `chain_id`. `password` is asked for only
    /// when a keystore must be decrypted.
    pub fn resolve_signer(
        &self,
        spec: &str,
        chain_id: u64,
        password: impl FnOnce(&str) -> Result<String, IdentityError>,
    ) -> Result<PrivateKeySigner, IdentityError> {
        let dev_key = |spec: &str, index: usize| {
            if !dev_keys::is_dev_chain(chain_id) {
                return Err(IdentityError::DevKeyOnPublicChain { spec: spec.to_string(), chain_id });
            }
            Ok(dev_keys::dev_signer(index).expect("index checked"))
        };
        // A name or address without a keystore may stand for a development account (`hrm account
        // label st-mary dev:1`): it then signs with that public key, on local chains only.
        let labelled_dev_key = |address: Address| {
            let signer = dev_keys::dev_signer_of(address)?;
            Some(if dev_keys::is_dev_chain(chain_id) {
                Ok(signer)
            } else {
                Err(IdentityError::DevKeyOnPublicChain { spec: spec.to_string(), chain_id })
            })
        };
        let name = match AccountSpec::parse(spec)? {
            AccountSpec::Dev(index) => return dev_key(spec, index),
            AccountSpec::Address(address) => {
                match self.book.name_of(address)?.filter(|name| self.keystores.contains(name)) {
                    Some(name) => name,
                    None => {
                        return labelled_dev_key(address)
                            .unwrap_or(Err(IdentityError::NoKeystore(address.to_string())));
                    }
                }
            }
            AccountSpec::Name(name) => {
                if !self.keystores.contains(&name) {
                    return match self.book.get(&name)? {
                        Some(address) => labelled_dev_key(address).unwrap_or(Err(IdentityError::NoKeystore(name))),
                        None => Err(self.unknown(&name)),
                    };
                }
                name
            }
        };
        let password = password(&name)?;
        self.keystores.load(&name, &password)
    }

    fn unknown(&self, name: &str) -> IdentityError {
        let known: Vec<String> = self.book.entries().unwrap_or_default().into_iter().map(|(n, _)| n).collect();
        let known = if known.is_empty() { "none yet".to_string() } else { known.join(", ") };
        IdentityError::UnknownAccount { name: name.to_string(), known }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(AccountSpec::parse("dev:3").unwrap(), AccountSpec::Dev(3));
        assert!(AccountSpec::parse("dev:10").is_err());
        let address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
        assert_eq!(AccountSpec::parse(address).unwrap(), AccountSpec::Address(address.parse().unwrap()));
        assert!(matches!(AccountSpec::parse("0x1234"), Err(IdentityError::InvalidAddress(_))));
        assert_eq!(AccountSpec::parse("st-marys").unwrap(), AccountSpec::Name("st-marys".into()));
        assert!(matches!(AccountSpec::parse("a b"), Err(IdentityError::InvalidName(_))));
    }

    #[test]
    fn dev_keys_only_on_dev_chains() {
        let dir = tempfile::tempdir().unwrap();
        let ids = Identities::open(dir.path());
        let never = |_: &str| -> Result<String, IdentityError> { panic!("no password needed") };
        assert!(ids.resolve_signer("dev:1", 31337, never).is_ok());
        let err = ids.resolve_signer("dev:1", 1, never).unwrap_err();
        assert!(matches!(err, IdentityError::DevKeyOnPublicChain { chain_id: 1, .. }));
    }

    #[test]
    fn unknown_names_say_what_is_known() {
        let dir = tempfile::tempdir().unwrap();
        let ids = Identities::open(dir.path());
        // Not a development account: a name for one would sign (see below).
        ids.book.insert("clinic", "0x1111111111111111111111111111111111111111".parse().unwrap()).unwrap();
        let err = ids.resolve_address("clinc").unwrap_err().to_string();
        assert!(err.contains("clinc") && err.contains("clinic"), "{err}");
        let err = ids.resolve_signer("clinic", 31337, |_| Ok(String::new())).unwrap_err();
        assert!(matches!(err, IdentityError::NoKeystore(_)));
    }

    #[test]
    fn a_name_for_a_development_account_signs_only_on_local_chains() {
        let dir = tempfile::tempdir().unwrap();
        let ids = Identities::open(dir.path());
        let st_mary = dev_keys::dev_signer(1).unwrap().address();
        ids.book.insert("st-mary", st_mary).unwrap();
        let never = |_: &str| -> Result<String, IdentityError> { panic!("no password needed") };
        assert_eq!(ids.resolve_signer("st-mary", 31337, never).unwrap().address(), st_mary);
        assert_eq!(ids.resolve_signer(&st_mary.to_string(), 1337, never).unwrap().address(), st_mary);
        let err = ids.resolve_signer("st-mary", 1, never).unwrap_err();
        assert!(matches!(err, IdentityError::DevKeyOnPublicChain { chain_id: 1, .. }), "{err}");
    }
}
