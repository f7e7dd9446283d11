//! `hrm bench model`.

use clap::Args;
use hrm::bench::model::bench_model;

use crate::cli::context::Context;
use crate::cli::output::{key_value_table, print_json};

#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Training runs (the median is reported)
    #[arg(long, default_value_t = 50)]
    pub runs: usize,
    /// Predictions to average over
    #[arg(long, default_value_t = 200_000)]
    pub predictions: usize,
}

pub fn run(context: &Context, args: ModelArgs) -> eyre::Result<()> {
    let result = bench_model(args.runs, args.predictions)?;
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
