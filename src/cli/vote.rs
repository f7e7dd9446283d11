//! `hrm vote ID --approve|--reject`.

use clap::Args;
use serde_json::json;

use super::context::Context;
use super::output::print_tx;

#[derive(Debug, Args)]
pub struct VoteArgs {
    /// The entry id
    pub id: u64,
    /// Approve the entry
    #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
    pub approve: bool,
    /// Reject the entry (one rejection rejects it)
    #[arg(long)]
    pub reject: bool,
}

pub async fn run(context: &Context, args: VoteArgs) -> eyre::Result<()> {
    let (consortium, signer) = context.consortium_signed().await?;
    let outcome = consortium.vote(args.id, args.approve).await?;
    let entry = consortium.entry(args.id).await?;
    let decision = if args.approve { "approved" } else { "rejected" };
    let summary = format!(
        "{} {decision} entry {}: {} of {} approvals, now {}",
        signer.address(),
        args.id,
        entry.approvals,
        entry.required_votes,
        entry.status
    );
    print_tx(
        context.json(),
        &summary,
        &outcome,
        json!({ "vote": decision, "status": entry.status, "approvals": entry.approvals, "required_votes": entry.required_votes }),
    )
}
