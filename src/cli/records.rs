//! `hrm records --patient WHO`.

use clap::Args;

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
        return print_json(&records.iter().map(|r| r.to_json()).collect::<Vec<_>>());
    }
    if records.is_empty() {
        println!("No archived records for {patient}.");
        return Ok(());
    }
    let mut rows = table(["entry", "kind", "date", "summary", "approved in block", "chain"]);
    for record in &records {
        let details = record.details()?;
        rows.add_row(vec![
            record.entry_id.to_string(),
            record.kind.as_str().to_string(),
            details.date().to_string(),
            details.summary(),
            record.approval.block.to_string(),
            record.chain_id.to_string(),
        ]);
    }
    println!("{rows}");
    Ok(())
}
