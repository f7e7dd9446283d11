//! What every command needs: resolved settings, identities, and connections.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest::Url;
use eyre::{Context as _, eyre};
use hrm::access::Reader;
use hrm::chain::{Connection, Consortium, DeploymentStore};
use hrm::config::{self, FileConfig, layered};
use hrm::devnet::local::{DevnetHome, DevnetState};
use hrm::identity::{Identities, IdentityError};
use hrm::store::Archive;

use super::GlobalArgs;

/// Settings and identities resolved once per invocation.
pub struct Context {
    pub global: GlobalArgs,
    pub home: PathBuf,
    pub file: FileConfig,
    pub identities: Identities,
    /// The devnet started by `hrm devnet up`, whose endpoints are the defaults.
    pub devnet: Option<DevnetState>,
}

impl Context {
    pub fn new(global: GlobalArgs) -> eyre::Result<Self> {
        let home = global.home.clone().unwrap_or_else(config::default_home);
        let file = FileConfig::load(global.config.as_deref(), &home)?;
        let identities = Identities::open(&home);
        let devnet = DevnetHome::new(&home).load()?;
        Ok(Self { global, home, file, identities, devnet })
    }

    pub fn json(&self) -> bool {
        self.global.json
    }

    /// The first node's URL.
    pub fn rpc_url(&self) -> eyre::Result<Url> {
        Ok(self.rpc_urls()?.remove(0))
    }

    /// Every node's URL, in the order they are tried: the flags (or HRM_RPC_URL), else the
    /// file's `rpc_urls`, else its `rpc_url`, else the running devnet's, else the default.
    pub fn rpc_urls(&self) -> eyre::Result<Vec<Url>> {
        // The running devnet's endpoint is the default: it is what `hrm devnet up` is for.
        let default = self.devnet.as_ref().map_or(config::DEFAULT_RPC_URL, |d| d.rpc_url());
        let from_file = self
            .file
            .rpc_urls
            .clone()
            .filter(|urls| !urls.is_empty())
            .or_else(|| self.file.rpc_url.clone().map(|url| vec![url]));
        let flags = (!self.global.rpc_url.is_empty()).then(|| self.global.rpc_url.clone());
        let urls = layered(flags, from_file, vec![default.to_string()]);
        urls.iter()
            .map(|url| {
                url.trim().parse().map_err(|e| {
                    eyre!("'{url}' is not a valid RPC URL ({e}); pass e.g. --rpc-url http://127.0.0.1:8545")
                })
            })
            .collect()
    }

    /// The archive's URI: flag, HRM_MONGODB_URI, MONGODB_URI, file, default.
    pub fn mongodb_uri(&self) -> String {
        let from_env = self.global.mongodb_uri.clone().or_else(|| std::env::var("MONGODB_URI").ok());
        let default = self.devnet.as_ref().map_or(config::DEFAULT_MONGODB_URI, |d| d.mongodb_uri());
        layered(from_env, self.file.mongodb_uri.clone(), default.to_string())
    }

    /// The archive's database name.
    pub fn database_name(&self) -> String {
        layered(self.global.database.clone(), self.file.database.clone(), config::DEFAULT_DATABASE.to_string())
    }

    /// The connected archive.
    pub async fn archive(&self) -> eyre::Result<Archive> {
        Ok(Archive::connect(&self.mongodb_uri(), &self.database_name()).await?)
    }

    /// The archive when one was named (flag, environment, config file or a running devnet), for
    /// commands a patient without a database also runs; `None` otherwise.
    pub async fn configured_archive(&self) -> eyre::Result<Option<Archive>> {
        let named = self.global.mongodb_uri.is_some()
            || std::env::var_os("MONGODB_URI").is_some()
            || self.file.mongodb_uri.is_some()
            || self.devnet.is_some();
        Ok(if named { Some(self.archive().await?) } else { None })
    }

    pub fn receipt_timeout(&self) -> Duration {
        let secs = layered(
            self.global.receipt_timeout,
            self.file.receipt_timeout_secs,
            config::DEFAULT_RECEIPT_TIMEOUT.as_secs(),
        );
        Duration::from_secs(secs)
    }

    pub fn deployments(&self) -> DeploymentStore {
        DeploymentStore::new(self.home.join("deployments"))
    }

    /// An address from a name, `0x…` or `dev:N`.
    pub fn address(&self, spec: &str) -> eyre::Result<Address> {
        Ok(self.identities.resolve_address(spec)?)
    }

    /// A read-only connection.
    pub async fn connect(&self) -> eyre::Result<Connection> {
        Ok(Connection::open_any(self.rpc_urls()?, self.receipt_timeout()).await?)
    }

    /// The `--from` signer for the connected chain.
    pub fn signer(&self, connection: &Connection) -> eyre::Result<PrivateKeySigner> {
        let spec = self.global.from.as_deref().ok_or_else(|| {
            eyre!("this command signs a transaction: name the account with --from NAME|ADDRESS (or HRM_FROM)")
        })?;
        Ok(self.identities.resolve_signer(spec, connection.chain_id(), password_for)?)
    }

    /// A connection that signs with `--from`.
    pub async fn connect_signed(&self) -> eyre::Result<(Connection, PrivateKeySigner)> {
        let connection = self.connect().await?;
        let signer = self.signer(&connection)?;
        Ok((connection.with_signer(signer.clone()), signer))
    }

    /// The deployed contract, read-only.
    pub async fn consortium(&self) -> eyre::Result<Consortium> {
        Ok(self.connect().await?.attach(&self.deployments()).await?)
    }

    /// The deployed contract and who is reading (the `--from` account, whose key proves it):
    /// every read of patients' records is decided and logged under that account.
    pub async fn reader(&self, action: &str) -> eyre::Result<(Consortium, Reader)> {
        if self.global.from.is_none() {
            return Err(eyre!(
                "reading patients' records is decided and logged by who reads: name your account with --from (the patient's, or your hospital's)"
            ));
        }
        let connection = self.connect().await?;
        let signer = self.signer(&connection)?;
        let consortium = connection.attach(&self.deployments()).await?;
        Ok((consortium, Reader::account(signer.address(), action)))
    }

    /// The deployed contract, signing with `--from`.
    pub async fn consortium_signed(&self) -> eyre::Result<(Consortium, PrivateKeySigner)> {
        let (connection, signer) = self.connect_signed().await?;
        Ok((connection.attach(&self.deployments()).await?, signer))
    }
}

/// A keystore password: `HRM_PASSWORD`, else asked for on the terminal.
pub fn password_for(name: &str) -> Result<String, IdentityError> {
    if let Ok(password) = std::env::var("HRM_PASSWORD") {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(IdentityError::PasswordUnavailable(name.to_string()));
    }
    rpassword::prompt_password(format!("Password for '{name}': "))
        .map_err(|_| IdentityError::PasswordUnavailable(name.to_string()))
}

/// A new keystore's password, asked twice on a terminal.
pub fn new_password_for(name: &str) -> eyre::Result<String> {
    if let Ok(password) = std::env::var("HRM_PASSWORD") {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(IdentityError::PasswordUnavailable(name.to_string()).into());
    }
    let first = rpassword::prompt_password(format!("New password for '{name}': ")).context("reading the password")?;
    let second = rpassword::prompt_password("Repeat it: ").context("reading the password")?;
    if first != second {
        return Err(eyre!("the two passwords differ; nothing was created"));
    }
    Ok(first)
}
