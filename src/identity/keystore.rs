//! Encrypted Web3 Secret Storage keystores, one file per account name.

use std::path::{Path, PathBuf};

use alloy::signers::local::{LocalSignerError, PrivateKeySigner};

use super::IdentityError;

/// Whether `name` can name an account: 1 to 64 ASCII letters, digits, `-` or `_`.
pub fn is_valid_account_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A folder of keystores named `NAME.json`.
#[derive(Debug, Clone)]
pub struct KeystoreDir {
    dir: PathBuf,
}

impl KeystoreDir {
    /// The keystores kept in `dir` (created on first use).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Where the keystore of `name` lives.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// The folder, and each keystore in it, that others than its owner may read or write, with
    /// its mode: a keystore is encrypted, but its password is then all that guards the key.
    pub fn loose_permissions(&self) -> std::io::Result<Vec<(PathBuf, u32)>> {
        use std::os::unix::fs::PermissionsExt;
        let mut loose = Vec::new();
        if !self.dir.exists() {
            return Ok(loose);
        }
        let mode_of = |path: &Path| std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777);
        let dir_mode = mode_of(&self.dir)?;
        if dir_mode & 0o077 != 0 {
            loose.push((self.dir.clone(), dir_mode));
        }
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let mode = mode_of(&path)?;
                if mode & 0o077 != 0 {
                    loose.push((path, mode));
                }
            }
        }
        Ok(loose)
    }

    /// The folder the keystores are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a keystore exists for `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.path_of(name).is_file()
    }

    /// Creates a keystore for a new random key.
    pub fn create(&self, name: &str, password: &str) -> Result<PrivateKeySigner, IdentityError> {
        let signer = PrivateKeySigner::random();
        self.store(name, &signer.to_bytes()[..], password)?;
        Ok(signer)
    }

    /// Creates a keystore for an existing private key (hex, optional 0x, surrounding white space
    /// ignored).
    pub fn import(&self, name: &str, private_key_hex: &str, password: &str) -> Result<PrivateKeySigner, IdentityError> {
        let hex = private_key_hex.trim();
        let hex = hex.strip_prefix("0x").unwrap_or(hex);
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IdentityError::InvalidPrivateKey);
        }
        let bytes: Vec<u8> =
            (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex checked")).collect();
        let signer = PrivateKeySigner::from_slice(&bytes).map_err(|_| IdentityError::InvalidPrivateKey)?;
        self.store(name, &bytes, password)?;
        Ok(signer)
    }

    /// Decrypts the keystore of `name`.
    pub fn load(&self, name: &str, password: &str) -> Result<PrivateKeySigner, IdentityError> {
        let path = self.path_of(name);
        PrivateKeySigner::decrypt_keystore(&path, password).map_err(|e| match e {
            LocalSignerError::EthKeystoreError(eth_keystore::KeystoreError::MacMismatch) => {
                IdentityError::WrongPassword(name.to_string())
            }
            other => IdentityError::Keystore { path: path.clone(), message: other.to_string() },
        })
    }

    fn store(&self, name: &str, secret: &[u8], password: &str) -> Result<(), IdentityError> {
        if !is_valid_account_name(name) {
            return Err(IdentityError::InvalidName(name.to_string()));
        }
        if self.contains(name) {
            return Err(IdentityError::NameTaken(name.to_string()));
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| IdentityError::Io {
            what: "creating the keystore folder",
            path: self.dir.clone(),
            source,
        })?;
        restrict_to_owner(&self.dir);
        let file_name = format!("{name}.json");
        PrivateKeySigner::encrypt_keystore(&self.dir, &mut rand::thread_rng(), secret, password, Some(&file_name))
            .map_err(|e| IdentityError::Keystore { path: self.path_of(name), message: e.to_string() })?;
        restrict_to_owner(&self.path_of(name));
        Ok(())
    }
}

/// Keystores (and sealing keys) are encrypted, but there is no reason for other users to read them.
pub(super) fn restrict_to_owner(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = if path.is_dir() { 0o700 } else { 0o600 };
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_valid_account_name("st-marys_2"));
        for bad in ["", "a b", "../x", "dev:1", &"x".repeat(65)] {
            assert!(!is_valid_account_name(bad), "{bad} accepted");
        }
    }
}
