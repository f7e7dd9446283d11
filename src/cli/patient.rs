//! `hrm patient add|find|show|enroll|unlink`: the hospital's private patient directory (name,
//! birth date, sex, its medical record number), kept in its database, and enrollment links that
//! tie an entry to the patient's account.

use alloy::primitives::Address;
use alloy::transports::http::reqwest::Url;
use clap::{Args, Subcommand};
use eyre::{Context as _, eyre};
use hrm::access::AccessLog;
use hrm::directory::enrollment::{ENROLLMENT_LIFETIME, issue_challenge, unlink};
use hrm::directory::{DirectoryPatient, KnownPatient, NewPatient, PatientSearch};
use hrm::siwe::domain_of;

use super::context::Context;
use super::output::{key_value_table, print_json, table};

/// Who registers or unlinks from the command line, in the directory and the access log.
const CLI_USER: &str = "command line";
/// Most patients `hrm patient find` lists.
const FIND_LIMIT: i64 = 50;

#[derive(Debug, Subcommand)]
pub enum PatientCommand {
    /// Register a patient in this hospital's directory (kept in its database, never on chain)
    Add(AddArgs),
    /// Find patients by name (any word's start), medical record number, birth date (YYYY-MM-DD)
    /// or enrolled account
    Find(FindArgs),
    /// Show one patient and the account enrolled with them
    Show(MrnArgs),
    /// Issue a one-time enrollment link (10 minutes) for the patient to sign with their account
    Enroll(EnrollLinkArgs),
    /// Unlink the account enrolled with a patient, at the patient's request (logged)
    Unlink(MrnArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// This hospital's medical record number (letters, digits, - _ .), unique in its directory
    #[arg(long)]
    pub mrn: String,
    /// The patient's full name
    #[arg(long)]
    pub name: String,
    /// Date of birth, YYYY-MM-DD
    #[arg(long)]
    pub birth_date: String,
    /// female, male, other or unknown
    #[arg(long)]
    pub sex: String,
    #[arg(long, default_value = "")]
    pub phone: String,
    #[arg(long, default_value = "")]
    pub email: String,
}

#[derive(Debug, Args)]
pub struct FindArgs {
    /// A name or part of one, a medical record number, a birth date or an address
    pub query: String,
}

#[derive(Debug, Args)]
pub struct MrnArgs {
    /// The patient's medical record number
    pub mrn: String,
}

#[derive(Debug, Args)]
pub struct EnrollLinkArgs {
    /// The patient's medical record number
    pub mrn: String,
    /// The address of this hospital's `hrm serve`, which the link opens, e.g. https://records.example.org
    #[arg(long)]
    pub url: String,
}

pub async fn run(context: &Context, command: PatientCommand) -> eyre::Result<()> {
    let archive = context.archive().await?;
    // The directory's search indexes and the uniqueness of each MRN's link live in indexes.
    archive.ensure_indexes().await?;
    match command {
        PatientCommand::Add(args) => {
            let new = NewPatient::check(&args.mrn, &args.name, &args.birth_date, &args.sex, &args.phone, &args.email)
                .map_err(|e| eyre!("{e}; nothing was stored"))?;
            let patient = DirectoryPatient::new(new, CLI_USER);
            archive.add_directory_patient(&patient).await?;
            let known = KnownPatient { patient, account: None };
            if context.json() {
                return print_json(&known.to_json());
            }
            println!(
                "Registered {} as medical record number {}. Enroll their account with `hrm patient enroll {} --url URL`.",
                known.patient.name, known.patient.mrn, known.patient.mrn
            );
            Ok(())
        }
        PatientCommand::Find(args) => {
            let search = PatientSearch::parse(&args.query);
            let total = archive.count_directory_patients(&search).await?;
            let found = archive.find_directory_patients(&search, 0, FIND_LIMIT).await?;
            if context.json() {
                let found: Vec<_> = found.iter().map(KnownPatient::to_json).collect();
                return print_json(&serde_json::json!({ "patients": found, "total": total }));
            }
            if found.is_empty() {
                let hint = if search.names_too_short() { " (names match from two letters on)" } else { "" };
                println!("No patient in this hospital's directory matches '{}'{hint}.", args.query.trim());
                return Ok(());
            }
            let mut rows = table(["MRN", "name", "born", "sex", "enrolled account"]);
            for known in &found {
                rows.add_row(vec![
                    known.patient.mrn.clone(),
                    known.patient.name.clone(),
                    known.patient.birth_date.clone(),
                    known.patient.sex.to_string(),
                    known.account.map_or_else(|| "not enrolled".into(), |a| a.to_string()),
                ]);
            }
            println!("{rows}");
            if total > found.len() as u64 {
                println!("{} of {total} shown: narrow the search.", found.len());
            }
            Ok(())
        }
        PatientCommand::Show(args) => {
            let known = archive.directory_patient(args.mrn.trim()).await?.ok_or_else(|| {
                eyre!("no patient with medical record number {} in this hospital's directory", args.mrn.trim())
            })?;
            if context.json() {
                return print_json(&known.to_json());
            }
            let patient = &known.patient;
            let mut rows = key_value_table();
            rows.add_row(vec!["medical record number", &patient.mrn]);
            rows.add_row(vec!["name", &patient.name]);
            rows.add_row(vec!["born", &patient.birth_date]);
            rows.add_row(vec!["sex", patient.sex.as_str()]);
            rows.add_row(vec!["phone", patient.phone.as_deref().unwrap_or("—")]);
            rows.add_row(vec!["e-mail", patient.email.as_deref().unwrap_or("—")]);
            let account = known.account.map_or_else(|| "not enrolled".into(), |a| a.to_string());
            rows.add_row(vec!["enrolled account", &account]);
            rows.add_row(vec!["registered by", &patient.registered_by]);
            println!("{rows}");
            Ok(())
        }
        PatientCommand::Enroll(args) => {
            let base: Url = args.url.parse().map_err(|e| {
                eyre!("'{}' is not a URL ({e}); pass the address of this hospital's hrm serve", args.url)
            })?;
            let hospital = hospital(context)?;
            let challenge = issue_challenge(&archive, args.mrn.trim(), CLI_USER, &domain_of(&base), hospital).await?;
            let link = base.join(&challenge.path()).with_context(|| format!("building the link under {base}"))?;
            if context.json() {
                return print_json(&serde_json::json!({
                    "mrn": challenge.mrn,
                    "link": link.as_str(),
                    "expires_at": challenge.expires_at.try_to_rfc3339_string().unwrap_or_default(),
                }));
            }
            println!(
                "Give the patient this link; it works once, for {} minutes. They open it with their wallet, or run `hrm enroll LINK --from THEIR_ACCOUNT`:\n{link}",
                ENROLLMENT_LIFETIME.as_secs() / 60
            );
            Ok(())
        }
        PatientCommand::Unlink(args) => {
            let hospital = hospital(context)?;
            let account = unlink(&archive, &AccessLog::new(&archive), hospital, args.mrn.trim(), CLI_USER).await?;
            if context.json() {
                return print_json(&serde_json::json!({ "mrn": args.mrn.trim(), "unlinked": account }));
            }
            println!(
                "Unlinked {account} from medical record number {}; the patient can enroll again.",
                args.mrn.trim()
            );
            Ok(())
        }
    }
}

/// The hospital this directory belongs to: `--from`.
fn hospital(context: &Context) -> eyre::Result<Address> {
    let spec = context.global.from.as_deref().ok_or_else(|| {
        eyre!("name your hospital's account with --from NAME|ADDRESS (or HRM_FROM): enrollment is logged under it")
    })?;
    context.address(spec)
}
