//! `hrm vote ID… --approve|--reject`.

use clap::Args;
use hrm::voting::vote_on_entries;
use serde_json::json;

use super::context::Context;
use super::output::{print_json, print_tx, table};

#[derive(Debug, Args)]
pub struct VoteArgs {
    /// The entry ids: several are voted on in as few transactions as fit the chain's blocks
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<u64>,
    /// Approve the entries
    #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
    pub approve: bool,
    /// Reject the entries (one rejection rejects an entry)
    #[arg(long)]
    pub reject: bool,
}

pub async fn run(context: &Context, args: VoteArgs) -> eyre::Result<()> {
    let (consortium, signer) = context.consortium_signed().await?;
    let decision = if args.approve { "approved" } else { "rejected" };
    if let [id] = args.ids[..] {
        let outcome = consortium.vote(id, args.approve).await?;
        let entry = consortium.entry(id).await?;
        let summary = format!(
            "{} {decision} entry {id}: {} of {} approvals, now {}",
            signer.address(),
            entry.approvals,
            entry.required_votes,
            entry.status
        );
        let extra = json!({ "vote": decision, "status": entry.status, "approvals": entry.approvals, "required_votes": entry.required_votes });
        return print_tx(context.json(), &summary, &outcome, extra);
    }
    let batches = vote_on_entries(&consortium, &args.ids, args.approve).await?;
    let mut entries = Vec::with_capacity(args.ids.len());
    for id in &args.ids {
        entries.push(consortium.entry(*id).await?);
    }
    if context.json() {
        return print_json(&json!({ "vote": decision, "batches": batches, "entries": entries }));
    }
    println!(
        "{} {decision} {} entries in {} transaction(s), {} gas in all",
        signer.address(),
        entries.len(),
        batches.len(),
        batches.iter().map(|b| b.gas_used).sum::<u64>()
    );
    let mut rows = table(["entry", "approvals", "status"]);
    for entry in &entries {
        rows.add_row(vec![
            entry.id.to_string(),
            format!("{} of {}", entry.approvals, entry.required_votes),
            entry.status.to_string(),
        ]);
    }
    println!("{rows}");
    Ok(())
}
