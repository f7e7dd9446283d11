//! `hrm bench gas`.

use std::path::{Path, PathBuf};

use clap::Args;
use hrm::bench::chart::draw_gas_chart;
use hrm::bench::gas::bench_gas;

use crate::cli::context::Context;
use crate::cli::output::{print_json, table};

#[derive(Debug, Args)]
pub struct GasArgs {
    /// Where to draw the chart (PNG)
    #[arg(long, value_name = "PATH", default_value = "hrm-gas.png")]
    pub chart: PathBuf,
}

pub async fn run(context: &Context, args: GasArgs, workdir: &Path) -> eyre::Result<()> {
    let result = bench_gas(workdir).await?;
    draw_gas_chart(&args.chart, &result)?;
    if context.json() {
        return print_json(&result);
    }
    eprintln!("chart: {}", args.chart.display());
    let mut rows = table(["function", "hrm (sealed)", "paper's way (plaintext)", "difference", "floor"]);
    let cell = |v: Option<u64>| v.map(|g| g.to_string()).unwrap_or_else(|| "-".into());
    for row in &result.rows {
        let difference = row.difference_percent().map(|d| format!("{d:+.0}%")).unwrap_or_default();
        let floor = row.floor.map(|g| g.to_string()).unwrap_or_default();
        rows.add_row(vec![row.label(), cell(row.hrm), cell(row.paper_style), difference, floor]);
    }
    println!("{rows}");
    println!(
        "Envelopes for {} recipients: health {} bytes, bill {} bytes. In a batch of 10 a record costs {:.1}× less than the paper's way.",
        result.recipients, result.health_envelope_bytes, result.bill_envelope_bytes, result.batch_reduction,
    );
    println!(
        "Floor: the least any contract could charge a record (21,000 per transaction and the calldata, shared by the batch, plus one new storage slot)."
    );
    println!(
        "Targets (single submission ≤ {}, a record in a batch of 10 ≤ {} and ≥ 5× less than the paper's way, vote ≤ {}): {}",
        result.submission_target,
        result.batch_record_target,
        result.vote_target,
        if result.meets_targets { "met" } else { "NOT met" }
    );
    Ok(())
}
