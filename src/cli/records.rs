//! `hrm records --patient WHO`: the patient's archived records that the `--from` account may
//! read, under the same rule as the web app; the read is logged.

use clap::Args;
use hrm::access::{AccessLog, read_patient_records};

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
    let (consortium, reader) = context.reader("hrm records").await?;
    let archive = context.archive().await?;
    let log = AccessLog::new(&archive);
    let screened = read_patient_records(&archive, &consortium, &log, &reader, patient).await?;
    if context.json() {
        let records: Vec<_> = screened
            .allowed
            .iter()
            .map(|(record, rule)| {
                let mut value = record.to_json();
                value["read_rule"] = rule.as_str().into();
                value
            })
            .collect();
        return print_json(&serde_json::json!({ "records": records, "withheld": screened.withheld.len() }));
    }
    let withheld_note = || {
        if !screened.withheld.is_empty() {
            println!(
                "{} more record(s) of {patient} are not yours to read: ask the patient for access (`hrm share grant`). The attempt was logged.",
                screened.withheld.len()
            );
        }
    };
    if screened.allowed.is_empty() {
        println!("No archived records of {patient} that {} may read.", reader.account);
        withheld_note();
        return Ok(());
    }
    let mut rows = table(["entry", "kind", "date", "summary", "approved in block", "why you may read it"]);
    for (record, rule) in &screened.allowed {
        let details = record.details()?;
        rows.add_row(vec![
            record.entry_id.to_string(),
            record.kind.as_str().to_string(),
            details.date().to_string(),
            details.summary(),
            record.approval.block.to_string(),
            rule.as_str().to_string(),
        ]);
    }
    println!("{rows}");
    withheld_note();
    Ok(())
}
