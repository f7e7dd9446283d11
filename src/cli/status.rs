//! `hrm status [--pending] [--patient WHO]`.

use clap::Args;
use hrm::chain::EntryStatus;

use super::context::Context;
use super::output::{print_json, table};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only entries still waiting for votes
    #[arg(long)]
    pub pending: bool,
    /// Only this patient's entries: name, address or dev:N
    #[arg(long)]
    pub patient: Option<String>,
}

pub async fn run(context: &Context, args: StatusArgs) -> eyre::Result<()> {
    let patient = args.patient.as_deref().map(|p| context.address(p)).transpose()?;
    let consortium = context.consortium().await?;
    // Entries name the account the patient had when they were submitted, perhaps one their
    // guardians moved them from since.
    let accounts = match patient {
        Some(patient) => consortium.accounts_of_patient(patient).await?,
        None => Vec::new(),
    };
    let entries: Vec<_> = consortium
        .entries()
        .await?
        .into_iter()
        .filter(|e| !args.pending || e.status == EntryStatus::Pending)
        .filter(|e| patient.is_none() || accounts.contains(&e.patient))
        .collect();
    if context.json() {
        return print_json(&entries);
    }
    if entries.is_empty() {
        println!("No entries match.");
        return Ok(());
    }
    let mut rows = table(["id", "kind", "status", "votes", "patient", "submitted by", "panel"]);
    for e in entries {
        rows.add_row(vec![
            e.id.to_string(),
            e.kind.as_str().to_string(),
            e.status.to_string(),
            format!("{}/{}", e.approvals, e.required_votes),
            e.patient.to_string(),
            e.submitter.to_string(),
            e.panel_id.to_string(),
        ]);
    }
    println!("{rows}");
    Ok(())
}
