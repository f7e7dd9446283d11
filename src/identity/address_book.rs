//! Names for addresses, kept in `addresses.json` beside the keystores.

use std::collections::BTreeMap;
use std::path::PathBuf;

use alloy::primitives::Address;

use super::IdentityError;
use crate::fsutil::write_atomically;

/// A JSON file mapping names to addresses.
#[derive(Debug, Clone)]
pub struct AddressBook {
    path: PathBuf,
}

impl AddressBook {
    /// The address book stored at `path` (created on first insert).
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// Every name and address, sorted by name.
    pub fn entries(&self) -> Result<Vec<(String, Address)>, IdentityError> {
        Ok(self.read()?.into_iter().collect())
    }

    /// The address of `name`, if known.
    pub fn get(&self, name: &str) -> Result<Option<Address>, IdentityError> {
        Ok(self.read()?.get(name).copied())
    }

    /// The first name of `address`, if any.
    pub fn name_of(&self, address: Address) -> Result<Option<String>, IdentityError> {
        Ok(self.read()?.into_iter().find(|(_, a)| *a == address).map(|(n, _)| n))
    }

    /// Adds a name; refuses to rename an existing one to another address.
    pub fn insert(&self, name: &str, address: Address) -> Result<(), IdentityError> {
        if !super::is_valid_account_name(name) {
            return Err(IdentityError::InvalidName(name.to_string()));
        }
        let mut book = self.read()?;
        match book.get(name) {
            Some(existing) if *existing == address => return Ok(()),
            Some(_) => return Err(IdentityError::NameTaken(name.to_string())),
            None => {}
        }
        book.insert(name.to_string(), address);
        let text = serde_json::to_string_pretty(&book).expect("an address map serializes");
        write_atomically(&self.path, text.as_bytes()).map_err(|source| IdentityError::Io {
            what: "writing the address book",
            path: self.path.clone(),
            source,
        })
    }

    fn read(&self) -> Result<BTreeMap<String, Address>, IdentityError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| IdentityError::DamagedAddressBook { path: self.path.clone(), message: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(source) => Err(IdentityError::Io { what: "reading the address book", path: self.path.clone(), source }),
        }
    }
}
