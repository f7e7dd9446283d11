//! `hrm erase request|apply|defer|status`: a patient's erasure of their records, and each
//! holding hospital's answer on chain.

use clap::{Args, Subcommand};
use eyre::eyre;
use hrm::chain::revert::describe_expiry;
use hrm::chain::sharing::end_of_day;
use hrm::chain::{DeferralReason, ErasureAnswer};
use hrm::erasure::{apply_erasures, defer_erasure, entries_to_erase, erasure_status, forget_own_copies};
use serde_json::json;

use super::context::Context;
use super::output::{print_json, print_tx, table};

#[derive(Debug, Subcommand)]
pub enum EraseCommand {
    /// Ask every hospital holding your records to erase them (sent from your account, --from)
    Request(RequestArgs),
    /// As a hospital: erase every record whose erasure was requested and confirm it on chain
    /// (the follower of `hrm migrate --follow` and `hrm serve --follow` does this too)
    Apply {
        #[command(flatten)]
        retention: super::migrate::RetentionArgs,
    },
    /// As a hospital: keep a record the law obliges you to keep, until a date, and say why on chain
    Defer(DeferArgs),
    /// Where a patient's erasure requests stand, hospital by hospital
    Status {
        /// The patient: name, address or dev:N [default: the --from account]
        #[arg(long)]
        patient: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct RequestArgs {
    /// An entry to erase (repeatable)
    #[arg(long = "entry", value_name = "ID", required_unless_present = "all")]
    pub entries: Vec<u64>,
    /// Every entry of yours not yet asked for
    #[arg(long, conflicts_with = "entries")]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct DeferArgs {
    /// The entry to keep
    #[arg(long = "entry", value_name = "ID")]
    pub entry: u64,
    /// The last day it is kept (UTC)
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub until: String,
    /// Why: legal-obligation, public-health, research or legal-claims (GDPR art. 17(3))
    #[arg(long)]
    pub reason: String,
}

pub async fn run(context: &Context, command: EraseCommand) -> eyre::Result<()> {
    match command {
        EraseCommand::Request(args) => {
            let (consortium, signer) = context.consortium_signed().await?;
            let ids = entries_to_erase(&consortium, signer.address(), &args.entries).await?;
            let outcome = consortium.request_erasure(&ids).await?;
            // The patient's own copies (pulled to read them) go at once.
            let forgotten = match context.configured_archive().await? {
                Some(archive) => forget_own_copies(&consortium, &archive, &ids).await?,
                None => 0,
            };
            let listed: Vec<String> = ids.iter().map(ToString::to_string).collect();
            let summary = format!(
                "Asked the hospitals holding entries {} to erase them ({forgotten} copies kept here deleted); see `hrm erase status` for their answers",
                listed.join(", ")
            );
            let extra = json!({ "patient": signer.address(), "entries": ids, "own_copies_deleted": forgotten });
            print_tx(context.json(), &summary, &outcome, extra)
        }
        EraseCommand::Apply { retention } => {
            let (consortium, signer) = context.consortium_signed().await?;
            let archive = context.archive().await?;
            let pass = apply_erasures(&consortium, &archive, &signer, retention.policy()).await?;
            if context.json() {
                return print_json(&pass);
            }
            if pass.erased.is_empty() && pass.deferred.is_empty() {
                println!("Nothing to erase: every request for a record held here was answered already.");
            }
            for entry_id in &pass.deferred {
                println!(
                    "Kept entry {entry_id} (a bill) under the retention policy; its erasure is deferred on chain."
                );
            }
            for erased in &pass.erased {
                println!(
                    "Erased entry {} (envelope {}, {} record(s), {} prediction(s)); confirmed in block {}, transaction {}.",
                    erased.entry_id,
                    if erased.deleted.envelope { "deleted" } else { "not held" },
                    erased.deleted.records,
                    erased.deleted.predictions,
                    erased.confirmation.block,
                    erased.confirmation.tx_hash
                );
            }
            Ok(())
        }
        EraseCommand::Defer(args) => {
            let reason = DeferralReason::parse(&args.reason).map_err(|e| eyre!("--reason {e}"))?;
            let until = end_of_day(&args.until).map_err(|e| eyre!("--until {e}"))?;
            let (consortium, _) = context.consortium_signed().await?;
            let outcome = defer_erasure(&consortium, args.entry, until, reason).await?;
            let summary = format!(
                "Entry {} is kept until {} for {}; the patient sees this answer",
                args.entry,
                describe_expiry(until),
                reason.describe()
            );
            print_tx(
                context.json(),
                &summary,
                &outcome,
                json!({ "entry": args.entry, "until": until, "reason": reason }),
            )
        }
        EraseCommand::Status { patient } => {
            let consortium = context.consortium().await?;
            let patient = match patient {
                Some(spec) => context.address(&spec)?,
                None => context.signer(consortium.connection())?.address(),
            };
            let status = erasure_status(&consortium, patient).await?;
            if context.json() {
                return print_json(&status);
            }
            if status.is_empty() {
                println!("{patient} has asked for no erasure.");
                return Ok(());
            }
            let names = consortium.hospitals().await?;
            let mut rows = table(["entry", "hospital", "answer"]);
            for entry in &status {
                for holder in &entry.holders {
                    let name = names
                        .iter()
                        .find(|(a, _)| *a == holder.hospital)
                        .map_or_else(|| holder.hospital.to_string(), |(_, n)| n.clone());
                    let answer = match &holder.answer {
                        Some(ErasureAnswer::Erased { block, tx_hash }) => {
                            format!("erased (block {block}, transaction {tx_hash})")
                        }
                        Some(ErasureAnswer::Kept { until, reason, .. }) => {
                            format!("kept until {}: {}", describe_expiry(*until), reason.describe())
                        }
                        None => "not yet".to_string(),
                    };
                    rows.add_row(vec![entry.entry_id.to_string(), name, answer]);
                }
            }
            println!("{rows}");
            Ok(())
        }
    }
}
