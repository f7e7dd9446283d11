//! `hrm submit-health` and `hrm submit-bill`.

use std::path::PathBuf;

use clap::Args;
use eyre::{Context as _, eyre};
use hrm::records::{Amount, BillDetails, EntryKind, HealthDetails, LineItem, Readings, Record};
use hrm::submission::submit_record;
use serde_json::json;

use super::context::Context;
use super::output::print_tx;

#[derive(Debug, Args)]
pub struct SubmitHealthArgs {
    /// The patient: name, address or dev:N (must have published a key)
    #[arg(long)]
    pub patient: String,
    /// The record as a JSON file ({"recorded_at", "readings": {...}, "notes"}); replaces the flags
    #[arg(long, value_name = "PATH", conflicts_with_all = ["recorded_at", "pregnancies", "glucose", "blood_pressure", "skin_thickness", "insulin", "bmi", "diabetes_pedigree", "age", "notes"])]
    pub file: Option<PathBuf>,
    /// Date of the readings, YYYY-MM-DD
    #[arg(long, required_unless_present = "file")]
    pub recorded_at: Option<String>,
    #[arg(long, required_unless_present = "file")]
    pub pregnancies: Option<u32>,
    /// Plasma glucose, mg/dL (0: not measured)
    #[arg(long, required_unless_present = "file")]
    pub glucose: Option<f64>,
    /// Diastolic blood pressure, mmHg (0: not measured)
    #[arg(long, required_unless_present = "file")]
    pub blood_pressure: Option<f64>,
    /// Triceps skin-fold thickness, mm (0: not measured)
    #[arg(long, required_unless_present = "file")]
    pub skin_thickness: Option<f64>,
    /// Two-hour serum insulin, µU/mL (0: not measured)
    #[arg(long, required_unless_present = "file")]
    pub insulin: Option<f64>,
    /// Body-mass index (0: not measured)
    #[arg(long, required_unless_present = "file")]
    pub bmi: Option<f64>,
    /// Diabetes pedigree function
    #[arg(long, required_unless_present = "file")]
    pub diabetes_pedigree: Option<f64>,
    /// Age in years
    #[arg(long, required_unless_present = "file")]
    pub age: Option<u32>,
    /// Free-text notes (at most 2,000 characters)
    #[arg(long)]
    pub notes: Option<String>,
}

#[derive(Debug, Args)]
pub struct SubmitBillArgs {
    /// The patient: name, address or dev:N (must have published a key)
    #[arg(long)]
    pub patient: String,
    /// The bill as a JSON file ({"issued_at", "currency", "line_items": [...], "total"}); replaces the flags
    #[arg(long, value_name = "PATH", conflicts_with_all = ["issued_at", "currency", "items", "total"])]
    pub file: Option<PathBuf>,
    /// Date of issue, YYYY-MM-DD
    #[arg(long, required_unless_present = "file")]
    pub issued_at: Option<String>,
    /// ISO 4217 currency code, e.g. USD
    #[arg(long, required_unless_present = "file")]
    pub currency: Option<String>,
    /// A line item as DESCRIPTION=AMOUNT, e.g. "Consultation=120.00"; repeat for each item
    #[arg(long = "item", value_name = "DESCRIPTION=AMOUNT", required_unless_present = "file")]
    pub items: Vec<String>,
    /// The bill's total; must equal the sum of the items
    #[arg(long, required_unless_present = "file")]
    pub total: Option<String>,
}

pub async fn run_health(context: &Context, args: SubmitHealthArgs) -> eyre::Result<()> {
    let record = match &args.file {
        Some(path) => read_record(EntryKind::Health, path)?,
        None => {
            let missing = || eyre!("give the readings as flags or the record with --file");
            let record = Record::Health(HealthDetails {
                recorded_at: args.recorded_at.clone().ok_or_else(missing)?,
                readings: Readings {
                    pregnancies: args.pregnancies.ok_or_else(missing)?,
                    glucose: args.glucose.ok_or_else(missing)?,
                    blood_pressure: args.blood_pressure.ok_or_else(missing)?,
                    skin_thickness: args.skin_thickness.ok_or_else(missing)?,
                    insulin: args.insulin.ok_or_else(missing)?,
                    bmi: args.bmi.ok_or_else(missing)?,
                    diabetes_pedigree: args.diabetes_pedigree.ok_or_else(missing)?,
                    age: args.age.ok_or_else(missing)?,
                },
                notes: args.notes.clone(),
            });
            record.validate()?;
            record
        }
    };
    submit(context, &args.patient, record).await
}

pub async fn run_bill(context: &Context, args: SubmitBillArgs) -> eyre::Result<()> {
    let record = match &args.file {
        Some(path) => read_record(EntryKind::Bill, path)?,
        None => {
            let missing = || eyre!("give the bill as flags or with --file");
            let line_items = args.items.iter().map(|item| parse_item(item)).collect::<eyre::Result<Vec<_>>>()?;
            let total = args.total.as_deref().ok_or_else(missing)?;
            let record = Record::Bill(BillDetails {
                issued_at: args.issued_at.clone().ok_or_else(missing)?,
                currency: args.currency.clone().ok_or_else(missing)?,
                line_items,
                total: Amount::parse(total).map_err(|e| eyre!("--total: {e}"))?,
            });
            record.validate()?;
            record
        }
    };
    submit(context, &args.patient, record).await
}

fn read_record(kind: EntryKind, path: &PathBuf) -> eyre::Result<Record> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the record file {}", path.display()))?;
    Ok(Record::from_json(kind, &text, &path.display().to_string())?)
}

fn parse_item(item: &str) -> eyre::Result<LineItem> {
    LineItem::parse(item).map_err(|e| eyre!("--item {e}"))
}

async fn submit(context: &Context, patient: &str, record: Record) -> eyre::Result<()> {
    let patient = context.address(patient)?;
    let (consortium, signer) = context.consortium_signed().await?;
    let archive = context.archive().await?;
    let done = submit_record(&consortium, &archive, &signer, patient, &record).await?;
    let summary =
        format!("Submitted {} for patient {patient} by {}; awaiting votes", record.kind().describe(), signer.address());
    let extra = json!({
        "kind": record.kind(),
        "patient": patient,
        "envelope_digest": done.envelope_digest,
        "deliveries": done.deliveries,
    });
    print_tx(context.json(), &summary, &done.outcome, extra)?;
    if !context.json() {
        super::output::print_deliveries(&done.deliveries);
    }
    Ok(())
}
