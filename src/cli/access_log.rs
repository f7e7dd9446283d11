//! `hrm access-log list|anchor|verify`: the log of every read of patients' records, and its
//! tamper evidence.

use std::process::ExitCode;

use clap::Subcommand;
use eyre::eyre;
use hrm::access::{AccessLog, verify_log};
use serde_json::json;

use super::context::Context;
use super::exit_code;
use super::output::{print_json, print_tx, table};

#[derive(Debug, Subcommand)]
pub enum AccessLogCommand {
    /// The newest reads of a patient's records (and refusals): who, which records, why, when
    List {
        /// The patient: name, address or dev:N
        #[arg(long)]
        patient: String,
        /// How many entries, newest first
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Publish the log's head hash on chain (a registered hospital signs, --from), so that a
    /// later rewrite of the log shows
    Anchor,
    /// Recompute the hash chain and check it against every anchor: exit 1 naming each edited,
    /// deleted or reordered entry
    Verify,
}

pub async fn run(context: &Context, command: AccessLogCommand) -> eyre::Result<ExitCode> {
    let archive = context.archive().await?;
    let log = AccessLog::new(&archive);
    match command {
        AccessLogCommand::List { patient, limit } => {
            let patient = context.address(&patient)?;
            let entries = log.entries_about(patient, limit.max(1)).await?;
            if context.json() {
                print_json(&entries)?;
                return Ok(ExitCode::SUCCESS);
            }
            if entries.is_empty() {
                println!("Nobody has read the archived records of {patient} through hrm.");
                return Ok(ExitCode::SUCCESS);
            }
            let mut rows = table(["#", "when (UTC)", "reader", "through", "outcome", "records (rule)"]);
            for entry in &entries {
                let reader = match &entry.user {
                    Some(user) => format!("{} ({user})", entry.reader),
                    None => entry.reader.clone(),
                };
                let records: Vec<String> = entry
                    .records
                    .iter()
                    .map(|r| format!("{} ({})", r.entry_id, r.rule.map_or("refused", |rule| rule.as_str())))
                    .collect();
                rows.add_row(vec![
                    entry.position.to_string(),
                    entry.at.try_to_rfc3339_string().unwrap_or_default(),
                    reader,
                    entry.action.clone(),
                    format!("{:?}", entry.outcome).to_lowercase(),
                    records.join(", "),
                ]);
            }
            println!("{rows}");
            Ok(ExitCode::SUCCESS)
        }
        AccessLogCommand::Anchor => {
            let (position, head) = log.read_head().await?;
            if position == 0 {
                return Err(eyre!("the access log is empty: there is nothing to anchor yet"));
            }
            let (consortium, signer) = context.consortium_signed().await?;
            let anchors = consortium.access_log_anchors().await?;
            if let Some(same) = anchors.iter().find(|a| a.length == position as u64 && a.head == head) {
                let summary = format!("The log's head (entry {position}) was already anchored in block {}", same.block);
                if context.json() {
                    print_json(&json!({ "length": position, "head": head, "already_anchored_in_block": same.block }))?;
                } else {
                    println!("{summary}; nothing sent.");
                }
                return Ok(ExitCode::SUCCESS);
            }
            let outcome = consortium.anchor_access_log(position as u64, head).await?;
            let summary =
                format!("Anchored the access log's head: entry {position}, hash {head}, by {}", signer.address());
            print_tx(context.json(), &summary, &outcome, json!({ "length": position, "head": head }))?;
            Ok(ExitCode::SUCCESS)
        }
        AccessLogCommand::Verify => {
            let consortium = context.consortium().await?;
            let (documents, anchors) =
                tokio::try_join!(async { log.all_documents().await.map_err(eyre::Report::from) }, async {
                    consortium.access_log_anchors().await.map_err(eyre::Report::from)
                },)?;
            let check = verify_log(&documents, &anchors);
            if context.json() {
                print_json(&json!({
                    "clean": check.is_clean(),
                    "entries": check.entries,
                    "anchors": check.anchors,
                    "anchored": check.anchored,
                    "problems": check.problems.iter().map(|p| json!({ "detail": p, "message": p.to_string() })).collect::<Vec<_>>(),
                }))?;
            } else if check.is_clean() {
                println!(
                    "The access log's {} entries link up, and match {} anchor(s) on chain (entries 1 to {} anchored; {} since the last anchor, checked by their links).",
                    check.entries,
                    check.anchors,
                    check.anchored,
                    check.unanchored()
                );
            } else {
                println!("The access log was changed after it was written:");
                for problem in &check.problems {
                    println!("  - {problem}");
                }
            }
            Ok(if check.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(exit_code::FOUND) })
        }
    }
}
