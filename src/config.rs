//! Settings: flags beat environment (`HRM_*`), which beats the config file, which beats defaults.
//!
//! The command line resolves flags and environment (clap does both); this module supplies the
//! file and the defaults. The file is `--config PATH` (or `HRM_CONFIG`) when given, else
//! `./hrm.toml`, else `$HRM_HOME/hrm.toml`, if either exists:
//!
//! ```toml
//! rpc_url = "http://127.0.0.1:8545"
//! mongodb_uri = "mongodb://127.0.0.1:27017"
//! database = "hrm"
//! receipt_timeout_secs = 120
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// JSON-RPC endpoint used when nothing else names one.
pub const DEFAULT_RPC_URL: &str = "http://127.0.0.1:8545";
/// MongoDB URI used when nothing else names one.
pub const DEFAULT_MONGODB_URI: &str = "mongodb://127.0.0.1:27017";
/// Database name used when nothing else names one.
pub const DEFAULT_DATABASE: &str = "hrm";
/// How long a command waits for a transaction's receipt by default.
pub const DEFAULT_RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// Name of the config file looked for in the current directory and in the hrm home.
pub const CONFIG_FILE_NAME: &str = "hrm.toml";

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading the config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the config file {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// What a config file may set.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub rpc_url: Option<String>,
    /// Several nodes of the network, tried in order (instead of `rpc_url`).
    pub rpc_urls: Option<Vec<String>>,
    pub mongodb_uri: Option<String>,
    pub database: Option<String>,
    pub receipt_timeout_secs: Option<u64>,
}

impl FileConfig {
    /// The config file `load` reads: `explicit` if given, else the first of `./hrm.toml` and
    /// `<home>/hrm.toml` that exists; `None` when there is none.
    pub fn path(explicit: Option<&Path>, home: &Path) -> Option<PathBuf> {
        match explicit {
            Some(path) => Some(path.to_path_buf()),
            None => [PathBuf::from(CONFIG_FILE_NAME), home.join(CONFIG_FILE_NAME)].into_iter().find(|p| p.is_file()),
        }
    }

    /// Reads the config file: `explicit` if given (it must exist), else the first of
    /// `./hrm.toml` and `<home>/hrm.toml` that exists, else an empty config.
    pub fn load(explicit: Option<&Path>, home: &Path) -> Result<Self, ConfigError> {
        let Some(path) = Self::path(explicit, home) else { return Ok(Self::default()) };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        toml::from_str(&text).map_err(|e| ConfigError::Invalid { path, message: e.to_string() })
    }
}

/// The folder holding keystores, the address book and saved deployments: `$HRM_HOME`, else
/// `~/.hrm`.
pub fn default_home() -> PathBuf {
    if let Some(home) = std::env::var_os("HRM_HOME") {
        return PathBuf::from(home);
    }
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")).join(".hrm")
}

/// The first value present: flag or environment, then file, then default.
pub fn layered<T>(flag_or_env: Option<T>, file: Option<T>, default: T) -> T {
    flag_or_env.or(file).unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beat_defaults() {
        assert_eq!(layered(Some(1), Some(2), 3), 1);
        assert_eq!(layered(None, Some(2), 3), 2);
        assert_eq!(layered(None, None, 3), 3);
    }

    #[test]
    fn reads_an_explicit_file_and_refuses_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custom.toml");
        std::fs::write(&path, "rpc_url = \"http://node:8545\"\nreceipt_timeout_secs = 5\n").unwrap();
        let config = FileConfig::load(Some(&path), dir.path()).unwrap();
        assert_eq!(config.rpc_url.as_deref(), Some("http://node:8545"));
        assert_eq!(config.receipt_timeout_secs, Some(5));

        std::fs::write(&path, "rpc_uri = \"typo\"\n").unwrap();
        let err = FileConfig::load(Some(&path), dir.path()).unwrap_err().to_string();
        assert!(err.contains("custom.toml") && err.contains("rpc_uri"), "{err}");
        assert!(FileConfig::load(Some(&dir.path().join("missing.toml")), dir.path()).is_err());
    }
}
