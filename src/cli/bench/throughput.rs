//! `hrm bench throughput`.

use std::path::Path;

use clap::Args;
use hrm::bench::throughput::bench_throughput;

use crate::cli::choices::EngineChoice;
use crate::cli::context::Context;
use crate::cli::output::{print_json, table};

#[derive(Debug, Args)]
pub struct ThroughputArgs {
    /// Records each way: one by one, pipelined, and imported in batches
    #[arg(long, default_value_t = 200)]
    pub submissions: usize,
    /// Records taken end to end: imported, approved by the panel and the patient, and migrated
    #[arg(long, default_value_t = 1_000)]
    pub records: usize,
    #[arg(long, value_enum, default_value_t = EngineChoice::Anvil)]
    pub engine: EngineChoice,
}

pub async fn run(context: &Context, args: ThroughputArgs, workdir: &Path) -> eyre::Result<()> {
    let result = bench_throughput(args.engine.into(), args.submissions, args.records, workdir).await?;
    if context.json() {
        return print_json(&result);
    }
    let mut rows = table(["submissions from one account", "seconds", "per second"]);
    for (way, elapsed, rate) in [
        ("sequential", result.sequential, result.sequential_per_second),
        ("pipelined", result.pipelined, result.pipelined_per_second),
        ("imported in batches", result.import, result.import_per_second),
    ] {
        rows.add_row(vec![
            format!("{way} ({})", result.submissions),
            format!("{:.2}", elapsed.as_secs_f64()),
            format!("{rate:.1}"),
        ]);
    }
    println!("{rows}");
    println!(
        "Imported in batches of up to {} records, {} batches in flight: {} gas per record.",
        result.import_batch_size,
        hrm::import::ImportSettings::default().in_flight,
        result.import_gas_per_record
    );
    let e2e = &result.end_to_end;
    let mut rows = table(["end to end", "seconds"]);
    rows.add_row(vec![format!("import ({} records)", e2e.records), format!("{:.2}", e2e.import.as_secs_f64())]);
    rows.add_row(vec![
        format!("votes: the panel and the patient at once ({} transactions)", e2e.vote_transactions),
        format!("{:.2}", e2e.votes.as_secs_f64()),
    ]);
    rows.add_row(vec!["migration into the archive".to_string(), format!("{:.2}", e2e.migration.as_secs_f64())]);
    rows.add_row(vec!["total".to_string(), format!("{:.2}", e2e.elapsed.as_secs_f64())]);
    println!("{rows}");
    println!(
        "{:.1} approved records per second on {}, end to end (block gas limit {}).",
        e2e.approved_records_per_second, result.engine, e2e.block_gas_limit
    );
    Ok(())
}
