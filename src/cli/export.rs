//! `hrm export fhir`: a patient's archive as one FHIR R4 Bundle with each record's chain evidence,
//! and `--verify`, which checks such a Bundle against the chain.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use eyre::{Context as _, eyre};
use hrm::access::{AccessLog, read_patient_records};
use hrm::fhir::{PatientExport, check_bundle, patient_bundle};

use super::context::Context;
use super::exit_code;
use super::output::{print_json, table};

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// A patient's archived records, bills and predictions as one FHIR R4 Bundle (type
    /// collection) with a Provenance per record naming its chain entry, transactions and
    /// commitment; or, with --verify, check such a Bundle against the chain
    Fhir(FhirArgs),
}

#[derive(Debug, Args)]
pub struct FhirArgs {
    /// The patient: name, address or dev:N. The records exported are those the --from account
    /// may read (the patient's own account exports them all); the read is logged
    #[arg(long, required_unless_present = "verify", conflicts_with = "verify")]
    pub patient: Option<String>,
    /// Write the Bundle to this file instead of standard output
    #[arg(long, value_name = "FILE", conflicts_with = "verify")]
    pub out: Option<PathBuf>,
    /// Check a Bundle (one hrm wrote, or one received from another hospital): rebuild each record
    /// from its values and compare its commitment with the chain's; exit 1 naming what changed
    #[arg(long, value_name = "FILE")]
    pub verify: Option<PathBuf>,
}

pub async fn run(context: &Context, command: ExportCommand) -> eyre::Result<ExitCode> {
    let ExportCommand::Fhir(args) = command;
    match (&args.verify, &args.patient) {
        (Some(file), _) => verify(context, file).await,
        (None, Some(patient)) => export(context, patient, args.out.as_ref()).await.map(|()| ExitCode::SUCCESS),
        (None, None) => Err(eyre!("name the patient with --patient, or a Bundle to check with --verify FILE")),
    }
}

async fn export(context: &Context, patient: &str, out: Option<&PathBuf>) -> eyre::Result<()> {
    let patient = context.address(patient)?;
    let (consortium, reader) = context.reader("hrm export fhir").await?;
    let archive = context.archive().await?;
    let log = AccessLog::new(&archive);
    let screened = read_patient_records(&archive, &consortium, &log, &reader, patient).await?;
    if screened.allowed.is_empty() {
        return Err(match screened.withheld.len() {
            0 => eyre!(
                "the archive holds no records of {patient}: entries are archived once approved and migrated (`hrm migrate`)"
            ),
            n => eyre!(
                "none of the {n} archived record(s) of {patient} are {}'s to read: the patient can grant access with `hrm share grant`. The attempt was logged.",
                reader.account
            ),
        });
    }
    let hospital_names = consortium.hospitals().await?.into_iter().collect();
    let records = screened.allowed.into_iter().map(|(record, _)| record).collect();
    let export = PatientExport::read(&archive, patient, records, hospital_names).await?;
    let bundle = patient_bundle(&export)?;
    let text = serde_json::to_string_pretty(&bundle)?;
    let Some(out) = out else {
        println!("{text}");
        return Ok(());
    };
    hrm::fsutil::write_atomically(out, text.as_bytes()).with_context(|| format!("writing {}", out.display()))?;
    let entries = bundle["entry"].as_array().map(Vec::as_slice).unwrap_or_default();
    let count = |kind: &str| entries.iter().filter(|e| e["resource"]["resourceType"] == kind).count();
    if context.json() {
        return print_json(&serde_json::json!({
            "file": out,
            "resources": entries.len(),
            "observations": count("Observation"),
            "invoices": count("Invoice"),
            "risk_assessments": count("RiskAssessment"),
            "provenances": count("Provenance"),
        }));
    }
    println!(
        "Wrote {}: a FHIR R4 Bundle of {} resources for {patient} ({} Observations, {} Invoices, {} RiskAssessments, {} Provenances).",
        out.display(),
        entries.len(),
        count("Observation"),
        count("Invoice"),
        count("RiskAssessment"),
        count("Provenance"),
    );
    println!("Check it against the chain with `hrm export fhir --verify {}`.", out.display());
    Ok(())
}

async fn verify(context: &Context, file: &PathBuf) -> eyre::Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let bundle: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let consortium = context.consortium().await?;
    let check = check_bundle(&bundle, &consortium).await.with_context(|| format!("checking {}", file.display()))?;
    if context.json() {
        print_json(&serde_json::json!({ "clean": check.is_clean(), "records": check.records }))?;
    } else {
        let mut rows = table(["entry", "result"]);
        for record in &check.records {
            let result = if record.problems.is_empty() {
                "matches the chain's commitment".to_string()
            } else {
                record.problems.join("\n")
            };
            rows.add_row(vec![record.entry_id.to_string(), result]);
        }
        println!("{rows}");
        let changed = check.records.iter().filter(|r| !r.problems.is_empty()).count();
        match changed {
            0 => println!("All {} records match what the chain committed to.", check.records.len()),
            n => println!("{n} of {} records differ from what the chain committed to.", check.records.len()),
        }
    }
    Ok(if check.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(exit_code::FOUND) })
}
