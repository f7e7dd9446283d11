//! `hrm bench …`.

use clap::Subcommand;
use eyre::Context as _;

use std::path::PathBuf;

use hrm::bench::Engine;
use hrm::bench::chart::{Bar, render_bars};

use super::context::Context;
use super::output::{key_value_table, print_json, table};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Client-side latency of each function (signing and receipt included): p50, p95, p99; and
    /// the same vote and view made by `cast` as whole processes
    Latency {
        #[arg(long, default_value_t = 20)]
        iterations: usize,
        #[arg(long, value_enum, default_value_t = Engine::Anvil)]
        engine: Engine,
        /// Where to draw the chart (PNG)
        #[arg(long, value_name = "PATH", default_value = "hrm-latency.png")]
        chart: PathBuf,
    },
    /// Submissions per second from one account: sequential (each receipt awaited) versus
    /// pipelined (local nonces, receipts awaited together)
    Throughput {
        #[arg(long, default_value_t = 200)]
        submissions: usize,
        #[arg(long, value_enum, default_value_t = Engine::Anvil)]
        engine: Engine,
    },
    /// Gas per function on a fresh Anvil (views by estimate), beside the same record stored the
    /// paper's way (plaintext strings in contract storage)
    Gas {
        /// Where to draw the chart (PNG)
        #[arg(long, value_name = "PATH", default_value = "hrm-gas.png")]
        chart: PathBuf,
    },
    /// Seed approved entries on a fresh Anvil and time their migration into a fresh local
    /// MongoDB-wire server (from the first log query to the last write)
    Migrate {
        /// Approved entries to migrate
        #[arg(long, default_value_t = 2_000)]
        entries: usize,
    },
    /// Time training on the 768 Pima rows and one prediction
    Model {
        /// Training runs (the median is reported)
        #[arg(long, default_value_t = 50)]
        runs: usize,
        /// Predictions to average over
        #[arg(long, default_value_t = 200_000)]
        predictions: usize,
    },
}

pub async fn run(context: &Context, command: BenchCommand) -> eyre::Result<()> {
    if cfg!(debug_assertions) && !context.json() {
        eprintln!("note: this is a debug build; run benchmarks with `cargo run --release -- bench …`");
    }
    let workdir = tempfile::Builder::new().prefix("hrm-bench-").tempdir().context("creating a working folder")?;
    match command {
        BenchCommand::Latency { iterations, engine, chart } => {
            let workdir =
                tempfile::Builder::new().prefix("hrm-bench-").tempdir().context("creating a working folder")?;
            let hrm_binary = std::env::current_exe().context("locating the hrm binary")?;
            let result = hrm::bench::latency::bench_latency(engine, iterations, workdir.path(), &hrm_binary).await?;
            let bars: Vec<Bar> = result
                .rows
                .iter()
                .chain([&result.rpc_round_trip])
                .flat_map(|r| {
                    [
                        Bar { label: format!("{} p50", r.function), value: r.p50_ms, series: 0 },
                        Bar { label: format!("{} p95", r.function), value: r.p95_ms, series: 1 },
                    ]
                })
                .collect();
            let title = format!("hrm latency per function ({:?}, {} iterations)", engine, result.iterations);
            render_bars(&chart, &title, "milliseconds, signing and receipt included", &bars, &["p50", "p95"])?;
            if !context.json() {
                eprintln!("chart: {}", chart.display());
            }
            if context.json() {
                return print_json(&result);
            }
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
            println!(
                "hrm's overhead on a view over the bare JSON-RPC round trip (p50): {:.3} ms",
                result.hrm_overhead_ms
            );
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
        BenchCommand::Throughput { submissions, engine } => {
            let workdir =
                tempfile::Builder::new().prefix("hrm-bench-").tempdir().context("creating a working folder")?;
            let result = hrm::bench::throughput::bench_throughput(engine, submissions, workdir.path()).await?;
            if context.json() {
                return print_json(&result);
            }
            let mut rows = table(["submissions from one account", "seconds", "per second"]);
            rows.add_row(vec![
                format!("sequential ({})", result.submissions),
                format!("{:.2}", result.sequential.as_secs_f64()),
                format!("{:.1}", result.sequential_per_second),
            ]);
            rows.add_row(vec![
                format!("pipelined ({})", result.submissions),
                format!("{:.2}", result.pipelined.as_secs_f64()),
                format!("{:.1}", result.pipelined_per_second),
            ]);
            println!("{rows}");
            Ok(())
        }
        BenchCommand::Gas { chart } => {
            let workdir =
                tempfile::Builder::new().prefix("hrm-bench-").tempdir().context("creating a working folder")?;
            let result = hrm::bench::gas::bench_gas(workdir.path()).await?;
            let bars: Vec<Bar> = result
                .rows
                .iter()
                .flat_map(|r| {
                    let name = if r.estimated { format!("{} (estimate)", r.function) } else { r.function.to_string() };
                    let hrm = r.hrm.map(|g| Bar { label: format!("{name} · hrm"), value: g as f64, series: 0 });
                    let paper = r.paper_style.map(|g| Bar {
                        label: format!("{name} · paper's way"),
                        value: g as f64,
                        series: 1,
                    });
                    [hrm, paper].into_iter().flatten()
                })
                .collect();
            let title = "Gas per function: hrm (sealed) vs the paper's way (plaintext)";
            render_bars(&chart, title, "gas", &bars, &["hrm (sealed)", "paper's way (plaintext)"])?;
            if !context.json() {
                eprintln!("chart: {}", chart.display());
            }
            if context.json() {
                return print_json(&result);
            }
            let mut rows = table(["function", "hrm (sealed)", "paper's way (plaintext)", "difference"]);
            let cell = |v: Option<u64>| v.map(|g| g.to_string()).unwrap_or_else(|| "-".into());
            for row in &result.rows {
                let name =
                    if row.estimated { format!("{} (estimate)", row.function) } else { row.function.to_string() };
                let difference = match (row.hrm, row.paper_style) {
                    (Some(a), Some(b)) => {
                        format!("{:+.0}%", (a as f64 - b as f64) / b as f64 * 100.0)
                    }
                    _ => String::new(),
                };
                rows.add_row(vec![name, cell(row.hrm), cell(row.paper_style), difference]);
            }
            println!("{rows}");
            println!(
                "Envelopes for {} recipients: health {} bytes, bill {} bytes. Targets (submission ≤ {}, vote ≤ {}): {}",
                result.recipients,
                result.health_envelope_bytes,
                result.bill_envelope_bytes,
                result.submission_target,
                result.vote_target,
                if result.meets_targets { "met" } else { "NOT met" }
            );
            Ok(())
        }
        BenchCommand::Migrate { entries } => {
            eprintln!("seeding {entries} approved entries on a fresh Anvil…");
            let result = hrm::bench::migration::bench_migration(entries, workdir.path()).await?;
            if context.json() {
                return print_json(&result);
            }
            let mut rows = key_value_table();
            rows.add_row(vec!["approved entries".to_string(), result.entries.to_string()]);
            rows.add_row(vec!["migration".to_string(), format!("{:.3} s", result.elapsed.as_secs_f64())]);
            rows.add_row(vec!["throughput".to_string(), format!("{:.0} entries/s", result.entries_per_second)]);
            rows.add_row(vec![
                "rerun (nothing new)".to_string(),
                format!("{:.3} s", result.rerun_elapsed.as_secs_f64()),
            ]);
            rows.add_row(vec![
                "audit afterwards".to_string(),
                if result.audit_clean { "clean" } else { "NOT clean" }.to_string(),
            ]);
            rows.add_row(vec!["seeding (not timed)".to_string(), format!("{:.1} s", result.seeding.as_secs_f64())]);
            println!("{rows}");
            Ok(())
        }
        BenchCommand::Model { runs, predictions } => {
            let result = hrm::bench::model::bench_model(runs, predictions)?;
            if context.json() {
                return print_json(&result);
            }
            let mut rows = key_value_table();
            rows.add_row(vec![
                format!("training on {} rows (median of {})", result.rows, result.training_runs),
                format!("{:.2} ms", result.training_median.as_secs_f64() * 1e3),
            ]);
            rows.add_row(vec![
                "training, fastest run".to_string(),
                format!("{:.2} ms", result.training_min.as_secs_f64() * 1e3),
            ]);
            rows.add_row(vec![
                format!("one prediction (mean of {})", result.predictions),
                format!("{:.2} µs", result.prediction_mean.as_secs_f64() * 1e6),
            ]);
            println!("{rows}");
            Ok(())
        }
    }
}
