//! `hrm records --patient WHO`.

use clap::Args;
use hrm::store::ArchivedRecord;

use super::context::Context;
use super::output::{print_json, table};

#[derive(Debug, Args)]
pub struct RecordsArgs {
    /// The patient: name, address or dev:N
    #[arg(long)]
    pub patient: String,
}

pub async fn run(context: &Context, args: RecordsArgs) -> eyre::Result<()> {
    let patient = context.address(&args.patient)?;
    let archive = context.archive().await?;
    let records = archive.records_of_patient(patient).await?;
    if context.json() {
        let values: Vec<serde_json::Value> = records
            .into_iter()
            .map(|r| {
                mongodb::bson::Bson::Document(mongodb::bson::to_document(&r).expect("records serialize"))
                    .into_relaxed_extjson()
            })
            .collect();
        return print_json(&values);
    }
    if records.is_empty() {
        println!("No archived records for {patient}.");
        return Ok(());
    }
    let mut rows = table(["entry", "kind", "date", "summary", "approved in block", "chain"]);
    for record in &records {
        rows.add_row(vec![
            record.entry_id.to_string(),
            record.kind.as_str().to_string(),
            date_of(record),
            summary_of(record),
            record.approval.block.to_string(),
            record.chain_id.to_string(),
        ]);
    }
    println!("{rows}");
    Ok(())
}

fn date_of(record: &ArchivedRecord) -> String {
    ["recorded_at", "issued_at"].iter().find_map(|k| record.record.get_str(k).ok()).unwrap_or_default().to_string()
}

fn summary_of(record: &ArchivedRecord) -> String {
    let number =
        |doc: &mongodb::bson::Document, key: &str| doc.get(key).map(|v| v.to_string()).unwrap_or_else(|| "?".into());
    match record.record.get_document("readings") {
        Ok(readings) => format!(
            "glucose {}, BP {}, BMI {}, age {}",
            number(readings, "glucose"),
            number(readings, "blood_pressure"),
            number(readings, "bmi"),
            number(readings, "age")
        ),
        Err(_) => format!(
            "{} {}",
            record.record.get_str("total").unwrap_or("?"),
            record.record.get_str("currency").unwrap_or("")
        ),
    }
}
