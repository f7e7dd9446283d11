//! `hrm audit`.

use std::process::ExitCode;

use clap::Args;

use super::context::Context;
use super::exit_code;
use super::output::{key_value_table, print_json, table};

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 the archive matches the chain; 1 it does not (the differences are listed); 2 the audit could not run."
)]
pub struct AuditArgs {}

/// Exit 0 when the archive matches the chain, 1 ([`exit_code::FOUND`]) when anything is missing,
/// altered or unexpected.
pub async fn run(context: &Context, _args: AuditArgs) -> eyre::Result<ExitCode> {
    let archive = context.archive().await?;
    // With --from, the hospital's confirmed erasures are checked against its archive too.
    let consortium = match context.global.from {
        Some(_) => context.consortium_signed().await?.0,
        None => context.consortium().await?,
    };
    let report = hrm::audit::audit(&consortium, &archive).await?;
    if context.json() {
        print_json(&report)?;
    } else {
        let mut summary = key_value_table();
        summary.add_row(vec![
            "approved on chain".to_string(),
            format!("{} (up to block {})", report.approved_on_chain, report.head_block),
        ]);
        summary.add_row(vec!["archived".to_string(), report.archived.to_string()]);
        summary.add_row(vec!["missing".to_string(), report.missing.len().to_string()]);
        summary.add_row(vec!["altered".to_string(), report.altered.len().to_string()]);
        summary.add_row(vec!["unexpected".to_string(), report.unexpected.len().to_string()]);
        summary.add_row(vec![
            "orphaned (approval lost in a reorganisation)".to_string(),
            report.orphaned.len().to_string(),
        ]);
        summary.add_row(vec!["kept in orphaned_records".to_string(), report.orphaned_records_kept.to_string()]);
        summary.add_row(vec!["erasure requested (expected absent)".to_string(), report.erasure_requested.to_string()]);
        if !report.awaiting_erasure.is_empty() {
            summary.add_row(vec!["still to erase here".to_string(), report.awaiting_erasure.len().to_string()]);
        }
        println!("{summary}");
        if !report.is_clean() {
            let mut findings = table(["problem", "entry", "document", "detail"]);
            for id in &report.missing {
                findings.add_row(vec![
                    "missing".into(),
                    id.to_string(),
                    String::new(),
                    "approved on chain, not in the archive".into(),
                ]);
            }
            for id in &report.envelopes_missing {
                findings.add_row(vec![
                    "envelope missing".into(),
                    id.to_string(),
                    String::new(),
                    "archived, but its sealed envelope is no longer in this database".into(),
                ]);
            }
            for (problem, list) in [
                ("altered", &report.altered),
                ("unexpected", &report.unexpected),
                ("orphaned", &report.orphaned),
                ("kept after erasure", &report.kept_after_erasure),
            ] {
                for f in list {
                    let entry = f.entry_id.map(|id| id.to_string()).unwrap_or_default();
                    findings.add_row(vec![
                        problem.to_string(),
                        entry,
                        format!("{}/{}", f.collection, f.document),
                        f.reason.clone(),
                    ]);
                }
            }
            println!("{findings}");
        } else {
            println!("The archive matches the chain.");
        }
    }
    Ok(if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(exit_code::FOUND) })
}
