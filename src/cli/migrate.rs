//! `hrm migrate`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Args;
use hrm::migration::{MigrationOptions, MigrationProgress, migrate};
use indicatif::{ProgressBar, ProgressStyle};

use super::context::Context;
use super::exit_code;
use super::output::{key_value_table, print_json, table};

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 every approved entry is archived; 2 migration could not run; 3 some entries could not be migrated (listed, and retried on the next run)."
)]
pub struct MigrateArgs {
    /// Stay this many blocks behind the head (protects against reorganisations)
    #[arg(long, default_value_t = 0)]
    pub confirmations: u64,
    /// Blocks per log query
    #[arg(long, default_value_t = 5_000)]
    pub batch_blocks: u64,
}

/// Migrates with the `--from` account's key; exit 0 when everything was migrated, 3 when some
/// entries could not be.
pub async fn run(context: &Context, args: MigrateArgs) -> eyre::Result<ExitCode> {
    let archive = context.archive().await?;
    let (consortium, signer) = context.consortium_signed().await?;
    let options = MigrationOptions {
        confirmations: args.confirmations,
        batch_blocks: args.batch_blocks,
        // A test-only switch that simulates a crash part way through.
        abort_after_writes: std::env::var("HRM_TEST_ABORT_AFTER_WRITES").ok().and_then(|v| v.parse().ok()),
        ..Default::default()
    };
    let bar =
        if context.json() || !std::io::stderr().is_terminal() { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} blocks {pos}/{len} [{bar:30}] {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let on_progress = |p: MigrationProgress| {
        bar.set_length(p.to_block.saturating_sub(p.from_block) + 1);
        bar.set_position(p.scanned_to.saturating_sub(p.from_block) + 1);
        bar.set_message(format!("{} migrated, {} present, {} failed", p.migrated, p.already_present, p.failed));
    };
    let report = migrate(&consortium, &archive, &signer, &options, on_progress).await?;
    bar.finish_and_clear();

    if context.json() {
        print_json(&report)?;
    } else {
        let mut summary = key_value_table();
        summary.add_row(vec!["blocks read".to_string(), format!("{} to {}", report.from_block, report.to_block)]);
        summary.add_row(vec!["migrated".to_string(), report.migrated.to_string()]);
        summary.add_row(vec!["already present".to_string(), report.already_present.to_string()]);
        summary.add_row(vec!["failed".to_string(), report.failed.len().to_string()]);
        summary.add_row(vec!["database".to_string(), format!("{} / {}", archive.hosts(), context.database_name())]);
        println!("{summary}");
        if !report.failed.is_empty() {
            let mut failures = table(["entry", "why it was not migrated"]);
            for failure in &report.failed {
                failures.add_row(vec![failure.entry_id.to_string(), failure.reason.clone()]);
            }
            println!("{failures}");
        }
    }
    if report.failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        if !context.json() {
            eprintln!(
                "warning: {} approved entries could not be migrated; they are retried on the next run",
                report.failed.len()
            );
        }
        Ok(ExitCode::from(exit_code::PARTIAL))
    }
}
