//! The command line: one module per subcommand, each with its arguments and a `run`.

mod access_log;
mod account;
mod admin;
mod audit;
mod bench;
mod choices;
mod completions;
mod context;
mod demo;
mod deploy;
mod devnet;
mod doctor;
mod enroll;
mod erase;
mod export;
mod hospital;
mod import;
mod key;
mod logging;
mod login;
mod man;
mod metrics_listen;
mod migrate;
mod model;
mod output;
mod patient;
mod predict;
mod records;
mod recovery;
mod serve;
mod share;
mod show;
mod status;
mod submit;
mod vote;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub use context::Context;

/// Exit statuses, like ripgrep's: what a script can tell apart without reading the output.
pub mod exit_code {
    /// The command ran and found something: `hrm audit` found the archive differing from the chain,
    /// `hrm doctor` a problem.
    pub const FOUND: u8 = 1;
    /// The command could not do its work: bad input, a refused transaction, an unreachable service.
    /// Usage errors caught while parsing the command line exit with 2 as well.
    pub const ERROR: u8 = 2;
    /// `hrm migrate` finished, but some approved entries could not be migrated (retried next run).
    pub const PARTIAL: u8 = 3;
}

const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success
  1  the command found something: `hrm audit` found differences between the archive and the chain,
     `hrm export fhir --verify` found a record that differs from its commitment,
     `hrm access-log verify` found the log changed, `hrm doctor` found a problem
  2  an error: bad input, a refused transaction, an unreachable node or database
  3  `hrm migrate` finished but some approved entries could not be migrated (they are retried)";

/// Health-record approval for a hospital consortium on Ethereum.
///
/// A primary hospital submits a patient's health or bill details sealed to the patient, itself
/// and its supporting hospitals; they and the patient vote; an entry is approved only when all
/// agree. Only a commitment and the sealed envelope's digest ever reach the chain; the envelope
/// stays with the hospitals that may read it.
#[derive(Debug, Parser)]
#[command(name = "hrm", version, propagate_version = true, max_term_width = 100, after_help = EXIT_STATUS_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes. Flags beat environment variables, which beat the config file.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// JSON-RPC endpoint of the chain [default: the running devnet's, else http://127.0.0.1:8545].
    /// Repeat it (or separate URLs with commas) to name several nodes of the network: hrm uses
    /// the first that answers and moves to the next when it stops answering
    #[arg(long, global = true, env = "HRM_RPC_URL", value_name = "URL", value_delimiter = ',')]
    pub rpc_url: Vec<String>,
    /// Account that signs: a keystore name, an address with a keystore, or dev:0..dev:9 (Anvil's
    /// public development keys, local chains only; also by a name labelled as one)
    #[arg(long, global = true, env = "HRM_FROM", value_name = "NAME|ADDRESS")]
    pub from: Option<String>,
    /// Config file [default: ./hrm.toml, else $HRM_HOME/hrm.toml]
    #[arg(long, global = true, env = "HRM_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Folder for keystores, the address book and saved deployments [default: ~/.hrm]
    #[arg(long, global = true, env = "HRM_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// MongoDB URI of the archive [default: the running devnet's, else mongodb://127.0.0.1:27017]
    #[arg(long, global = true, env = "HRM_MONGODB_URI", value_name = "URI")]
    pub mongodb_uri: Option<String>,
    /// Database name of the archive [default: hrm]
    #[arg(long, global = true, env = "HRM_DATABASE", value_name = "NAME")]
    pub database: Option<String>,
    /// Seconds to wait for a transaction's receipt [default: 120]
    #[arg(long, global = true, env = "HRM_RECEIPT_TIMEOUT", value_name = "SECONDS")]
    pub receipt_timeout: Option<u64>,
    /// Print machine-readable JSON instead of tables
    #[arg(long, global = true)]
    pub json: bool,
    /// How `hrm serve` writes its log to stderr: readable lines, or JSON for a log shipper
    #[arg(long, global = true, env = "HRM_LOG_FORMAT", value_enum, default_value_t, value_name = "FORMAT")]
    pub log_format: logging::LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, import and list signing accounts (encrypted keystores) and name addresses
    #[command(subcommand)]
    Account(account::AccountCommand),
    /// Deploy the HealthRecords contract; the signer becomes the consortium admin
    Deploy(deploy::DeployArgs),
    /// The consortium admin's own commands: renounce registering hospitals
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Register and list hospitals; their supporting hospitals; propose and approve changes to
    /// the membership
    #[command(subcommand)]
    Hospital(hospital::HospitalCommand),
    /// Publish the signer's public key so records can be sealed to it; a hospital rotates its own
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Submit a patient's health details (readings), sealed to the patient and the panel
    SubmitHealth(submit::SubmitHealthArgs),
    /// Submit a patient's bill details, sealed to the patient and the panel
    SubmitBill(submit::SubmitBillArgs),
    /// Import a lab system's export (CSV or JSONL): every row checked, then sent in batches
    Import(import::ImportArgs),
    /// Show an entry: decrypted when the signer is a recipient, metadata otherwise
    Show(show::ShowArgs),
    /// Approve or reject pending entries (several in one transaction) as a panel hospital or patient
    Vote(vote::VoteArgs),
    /// List entries with their votes and status
    Status(status::StatusArgs),
    /// Copy approved entries into MongoDB, checked against their commitments (idempotent)
    Migrate(migrate::MigrateArgs),
    /// Check that MongoDB still matches the chain: nothing missing, altered or unexpected
    Audit(audit::AuditArgs),
    /// List the patient's archived records the --from account may read, newest first (logged)
    Records(records::RecordsArgs),
    /// A patient lets other hospitals read their archived records, or withdraws it; who holds access
    #[command(subcommand)]
    Share(share::ShareCommand),
    /// A patient asks hospitals to erase records; hospitals erase and confirm, or defer, on chain
    #[command(subcommand)]
    Erase(erase::EraseCommand),
    /// A patient's guardians, and their recovery to a new account when they lose their key
    #[command(subcommand)]
    Recovery(recovery::RecoveryCommand),
    /// The log of every read of patients' records: list it, anchor its head on chain, verify it
    #[command(subcommand, name = "access-log")]
    AccessLog(access_log::AccessLogCommand),
    /// Export a patient's archive as FHIR R4 with chain provenance; check such an export
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Train and evaluate the diabetes model (logistic regression on the Pima data)
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Probability of diabetes for a patient's latest archived health record, or for a file
    Predict(predict::PredictArgs),
    /// Start, inspect and stop a local Anvil or five-node Geth network with a MongoDB-wire server
    #[command(subcommand)]
    Devnet(devnet::DevnetCommand),
    /// The whole story on a throw-away local Anvil and MongoDB-wire server, narrated
    Demo(demo::DemoArgs),
    /// Run the web app for patients and this hospital's staff (and manage its staff accounts)
    Serve(serve::ServeArgs),
    /// Sign in to a web app as a patient without a browser wallet: prints a one-time link
    Login(login::LoginArgs),
    /// This hospital's patient directory (name, birth date, MRN) and enrollment links to accounts
    #[command(subcommand)]
    Patient(patient::PatientCommand),
    /// Link your account to a hospital's record of you, with the enrollment link its desk gave you
    Enroll(enroll::EnrollArgs),
    /// Benchmarks on local services it starts and stops itself (use a release build)
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Check this machine: config, keystore permissions, the node and its chain id against the
    /// deployment, the clock, the database and its indexes, the hospital's endpoint and its TLS
    Doctor(doctor::DoctorArgs),
    /// Print a shell completion script (bash, zsh or fish)
    Completions(completions::CompletionsArgs),
    /// Print the manual page, or write one per subcommand into a folder
    Man(man::ManArgs),
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> eyre::Result<ExitCode> {
    // These describe the command line itself, so no setting or config file may stop them.
    let command = match cli.command {
        Command::Completions(args) => {
            completions::run(args);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man(args) => return man::run(cli.global.json, args).map(|()| ExitCode::SUCCESS),
        command => command,
    };
    let context = Context::new(cli.global)?;
    match command {
        Command::Completions(_) | Command::Man(_) => unreachable!("answered before reading settings"),
        Command::Migrate(args) => return migrate::run(&context, args).await,
        Command::Audit(args) => return audit::run(&context, args).await,
        Command::Doctor(args) => return doctor::run(&context, args).await,
        Command::Export(command) => return export::run(&context, command).await,
        Command::AccessLog(command) => return access_log::run(&context, command).await,
        Command::Records(args) => records::run(&context, args).await,
        Command::Share(command) => share::run(&context, command).await,
        Command::Erase(command) => erase::run(&context, command).await,
        Command::Recovery(command) => recovery::run(&context, command).await,
        Command::Bench(command) => bench::run(&context, command).await,
        Command::Model(command) => model::run(&context, command),
        Command::Demo(args) => demo::run(&context, args).await,
        Command::Devnet(command) => devnet::run(&context, command).await,
        Command::Predict(args) => predict::run(&context, args).await,
        Command::Account(command) => account::run(&context, command),
        Command::Deploy(args) => deploy::run(&context, args).await,
        Command::Admin(command) => admin::run(&context, command).await,
        Command::Hospital(command) => hospital::run(&context, command).await,
        Command::Key(command) => key::run(&context, command).await,
        Command::SubmitHealth(args) => submit::run_health(&context, args).await,
        Command::SubmitBill(args) => submit::run_bill(&context, args).await,
        Command::Import(args) => import::run(&context, args).await,
        Command::Show(args) => show::run(&context, args).await,
        Command::Vote(args) => vote::run(&context, args).await,
        Command::Status(args) => status::run(&context, args).await,
        Command::Serve(args) => serve::run(&context, args).await,
        Command::Login(args) => login::run(&context, args).await,
        Command::Patient(command) => patient::run(&context, command).await,
        Command::Enroll(args) => enroll::run(&context, args).await,
    }?;
    Ok(ExitCode::SUCCESS)
}
