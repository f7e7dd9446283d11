//! `hrm bench migrate`.

use std::path::Path;

use clap::Args;
use hrm::bench::migration::bench_migration;

use crate::cli::context::Context;
use crate::cli::output::{key_value_table, print_json};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Approved entries to migrate
    #[arg(long, default_value_t = 2_000)]
    pub entries: usize,
}

pub async fn run(context: &Context, args: MigrateArgs, workdir: &Path) -> eyre::Result<()> {
    if !context.json() {
        eprintln!("seeding {} approved entries on a fresh Anvil…", args.entries);
    }
    let result = bench_migration(args.entries, workdir).await?;
    if context.json() {
        return print_json(&result);
    }
    let mut rows = key_value_table();
    rows.add_row(vec!["approved entries".to_string(), result.entries.to_string()]);
    rows.add_row(vec!["migration".to_string(), format!("{:.3} s", result.elapsed.as_secs_f64())]);
    rows.add_row(vec!["throughput".to_string(), format!("{:.0} entries/s", result.entries_per_second)]);
    let raw = &result.raw_insert;
    rows.add_row(vec![
        "raw insert_many, same documents and indexes".to_string(),
        format!("{:.3} s: {:.0} documents/s", raw.elapsed.as_secs_f64(), raw.documents_per_second),
    ]);
    rows.add_row(vec![
        "migration ÷ raw insert (target ≥ 0.5)".to_string(),
        format!(
            "{:.2}× {}",
            result.ratio_to_raw_insert,
            if result.ratio_to_raw_insert >= 0.5 { "met" } else { "NOT met" }
        ),
    ]);
    rows.add_row(vec![
        "raw insert_many, _id index only (reference)".to_string(),
        format!("{:.3} s: {:.0} documents/s", raw.unindexed_elapsed.as_secs_f64(), raw.unindexed_documents_per_second),
    ]);
    rows.add_row(vec!["rerun (nothing new)".to_string(), format!("{:.3} s", result.rerun_elapsed.as_secs_f64())]);
    rows.add_row(vec![
        "audit afterwards".to_string(),
        if result.audit_clean { "clean" } else { "NOT clean" }.to_string(),
    ]);
    rows.add_row(vec!["seeding (not timed)".to_string(), format!("{:.1} s", result.seeding.as_secs_f64())]);
    println!("{rows}");
    Ok(())
}
