//! `hrm bench latency`.

use std::path::{Path, PathBuf};

use clap::Args;
use eyre::Context as _;
use hrm::bench::chart::draw_latency_chart;
use hrm::bench::latency::bench_latency;

use crate::cli::choices::EngineChoice;
use crate::cli::context::Context;
use crate::cli::output::{print_json, table};

#[derive(Debug, Args)]
pub struct LatencyArgs {
    #[arg(long, default_value_t = 20)]
    pub iterations: usize,
    #[arg(long, value_enum, default_value_t = EngineChoice::Anvil)]
    pub engine: EngineChoice,
    /// Where to draw the chart (PNG)
    #[arg(long, value_name = "PATH", default_value = "hrm-latency.png")]
    pub chart: PathBuf,
}

pub async fn run(context: &Context, args: LatencyArgs, workdir: &Path) -> eyre::Result<()> {
    let hrm_binary = std::env::current_exe().context("locating the hrm binary")?;
    let result = bench_latency(args.engine.into(), args.iterations, workdir, &hrm_binary).await?;
    draw_latency_chart(&args.chart, &result)?;
    if context.json() {
        return print_json(&result);
    }
    eprintln!("chart: {}", args.chart.display());
    let mut rows = table(["function", "p50 ms", "p95 ms", "p99 ms"]);
    for r in result.rows.iter().chain([&result.rpc_round_trip]) {
        rows.add_row(vec![
            r.function.clone(),
            format!("{:.2}", r.p50_ms),
            format!("{:.2}", r.p95_ms),
            format!("{:.2}", r.p99_ms),
        ]);
    }
    println!("{rows}");
    println!("hrm's overhead on a view over the bare JSON-RPC round trip (p50): {:.3} ms", result.hrm_overhead_ms);
    if !result.cast.is_empty() {
        let mut cast = table(["call", "cast p50 ms (process)", "hrm p50 ms", "hrm timed as", "cast / hrm"]);
        for c in &result.cast {
            cast.add_row(vec![
                c.call.clone(),
                format!("{:.2}", c.cast_p50_ms),
                format!("{:.2}", c.hrm_p50_ms),
                c.hrm_timed_as.to_string(),
                format!("{:.1}×", c.ratio),
            ]);
        }
        println!("{cast}");
    }
    Ok(())
}
