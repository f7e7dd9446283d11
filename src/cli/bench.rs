//! `hrm bench …`.

use clap::Subcommand;
use eyre::Context as _;

use super::context::Context;
use super::output::{key_value_table, print_json, table};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Gas per function on a fresh Anvil (views by estimate), beside the same record stored the
    /// paper's way (plaintext strings in contract storage)
    Gas,
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
        eprintln!(
            "note: this is a debug build; run benchmarks with `cargo run --release -- bench …`"
        );
    }
    let workdir = tempfile::Builder::new()
        .prefix("hrm-bench-")
        .tempdir()
        .context("creating a working folder")?;
    match command {
        BenchCommand::Gas => {
            let workdir = tempfile::Builder::new()
                .prefix("hrm-bench-")
                .tempdir()
                .context("creating a working folder")?;
            let result = hrm::bench::gas::bench_gas(workdir.path()).await?;
            if context.json() {
                return print_json(&result);
            }
            let mut rows = table([
                "function",
                "hrm (sealed)",
                "paper's way (plaintext)",
                "difference",
            ]);
            let cell = |v: Option<u64>| v.map(|g| g.to_string()).unwrap_or_else(|| "-".into());
            for row in &result.rows {
                let name = if row.estimated {
                    format!("{} (estimate)", row.function)
                } else {
                    row.function.to_string()
                };
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
                if result.meets_targets {
                    "met"
                } else {
                    "NOT met"
                }
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
            rows.add_row(vec![
                "approved entries".to_string(),
                result.entries.to_string(),
            ]);
            rows.add_row(vec![
                "migration".to_string(),
                format!("{:.3} s", result.elapsed.as_secs_f64()),
            ]);
            rows.add_row(vec![
                "throughput".to_string(),
                format!("{:.0} entries/s", result.entries_per_second),
            ]);
            rows.add_row(vec![
                "rerun (nothing new)".to_string(),
                format!("{:.3} s", result.rerun_elapsed.as_secs_f64()),
            ]);
            rows.add_row(vec![
                "audit afterwards".to_string(),
                if result.audit_clean {
                    "clean"
                } else {
                    "NOT clean"
                }
                .to_string(),
            ]);
            rows.add_row(vec![
                "seeding (not timed)".to_string(),
                format!("{:.1} s", result.seeding.as_secs_f64()),
            ]);
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
                format!(
                    "training on {} rows (median of {})",
                    result.rows, result.training_runs
                ),
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
