//! Running the `hrm` binary the way a user does, against the harness's services.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;

use super::{TestEnv, dev};

/// The `hrm` binary with its own home folder (keystores, address book, deployments).
pub struct Hrm<'a> {
    pub env: &'a TestEnv,
    pub home: PathBuf,
}

impl<'a> Hrm<'a> {
    /// An `hrm` with an empty home inside the test's temporary folder.
    pub fn new(env: &'a TestEnv) -> Self {
        let home = env.temp_dir().join(format!("home-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        Self { env, home }
    }

    /// A command with the harness's RPC URL, its database (as `hrm devnet up` gives every
    /// participant one shared database, where envelopes are found) and this home; nothing from
    /// the caller's environment that hrm reads leaks in. Flags still override the database.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hrm"));
        for var in [
            "HRM_RPC_URL",
            "HRM_FROM",
            "HRM_CONFIG",
            "HRM_PASSWORD",
            "HRM_RECEIPT_TIMEOUT",
            "HRM_MONGODB_URI",
            "HRM_DATABASE",
            "MONGODB_URI",
        ] {
            command.env_remove(var);
        }
        command
            .env("HRM_HOME", &self.home)
            .env("HRM_RPC_URL", self.env.rpc_url.as_str())
            .env("HRM_MONGODB_URI", &self.env.mongodb_uri)
            .env("HRM_DATABASE", &self.env.database_name)
            .current_dir(&self.home)
            .args(args);
        command
    }

    /// The flags that point hrm at the harness's database (commands that read records log each
    /// read there).
    pub fn archive_flags(&self) -> [&str; 4] {
        ["--mongodb-uri", self.env.mongodb_uri.as_str(), "--database", self.env.database_name.as_str()]
    }

    /// `args` after the database flags.
    pub fn with_archive<'s>(&'s self, args: &[&'s str]) -> Vec<&'s str> {
        [&self.archive_flags()[..], args].concat()
    }

    /// Runs `hrm ARGS`; returns the output whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running hrm")
    }

    /// Runs `hrm ARGS` and returns stdout, failing the test (with stderr) on a non-zero exit.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "hrm {} failed ({}):\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("stdout is UTF-8")
    }

    /// Runs `hrm --json ARGS` and parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("hrm {} printed no JSON ({e}):\n{text}", args.join(" ")))
    }

    /// Runs `hrm ARGS`, expects a non-zero exit, and returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(!output.status.success(), "hrm {} succeeded but should have failed", args.join(" "));
        String::from_utf8(output.stderr).expect("stderr is UTF-8")
    }

    /// A file in the home folder with `contents`.
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.home.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Through the command line: dev:0 deploys; dev:1 and each of `panel` register as hospitals
    /// (named "Hospital dev:N") and publish their keys; dev:1 names `panel` its supporting
    /// hospitals; `patient` publishes a key.
    pub fn set_up_consortium(&self, panel: &[&str], patient: &str) {
        self.ok(&["--from", "dev:0", "deploy"]);
        self.admit_consortium(panel, patient);
    }

    /// `set_up_consortium` on a contract deployed already.
    pub fn admit_consortium(&self, panel: &[&str], patient: &str) {
        for hospital in std::iter::once(&"dev:1").chain(panel) {
            self.ok(&["--from", "dev:0", "hospital", "register", hospital, "--name", &format!("Hospital {hospital}")]);
            self.ok(&["--from", hospital, "key", "publish"]);
        }
        let mut set = vec!["--from", "dev:1", "hospital", "supporting", "set"];
        set.extend_from_slice(panel);
        self.ok(&set);
        self.ok(&["--from", patient, "key", "publish"]);
    }
}

/// Sends 10 ether from development account 0 to `to`.
pub async fn fund(env: &TestEnv, to: Address) {
    let provider = env.provider_for(&dev(0));
    let tx = TransactionRequest::default().with_to(to).with_value(U256::from(10u128.pow(19)));
    let receipt = provider.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status());
}

/// The chain's latest block number: unchanged means no transaction was mined (Anvil mines
/// every transaction at once).
pub async fn head(env: &TestEnv) -> u64 {
    env.provider_for(&dev(0)).get_block_number().await.unwrap()
}

/// A health record as a user writes it, with `notes` and `glucose` to choose.
pub fn health_json(glucose: &str, notes: &str) -> String {
    format!(
        r#"{{
  "recorded_at": "2026-11-02",
  "readings": {{
    "pregnancies": 6, "glucose": {glucose}, "blood_pressure": 72, "skin_thickness": 35,
    "insulin": 0, "bmi": 33.6, "diabetes_pedigree": 0.627, "age": 50
  }},
  "notes": "{notes}"
}}"#
    )
}
