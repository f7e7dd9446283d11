//! How fast the diabetes model trains and predicts.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::BenchError;
use crate::ml::{Dataset, Imputation, ModelFile};

/// Training and prediction times.
#[derive(Debug, Clone, Serialize)]
pub struct ModelBench {
    pub rows: usize,
    pub training_runs: usize,
    /// Median of the training runs (standardization and the solver, as `hrm model train`).
    #[serde(serialize_with = "micros")]
    pub training_median: Duration,
    #[serde(serialize_with = "micros")]
    pub training_min: Duration,
    pub predictions: usize,
    /// Mean time of one prediction with its explanation (standardize, score, contributions).
    #[serde(serialize_with = "micros")]
    pub prediction_mean: Duration,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e6)
}

/// Trains `training_runs` times on the bundled data, then times `predictions` predictions.
pub fn bench_model(training_runs: usize, predictions: usize) -> Result<ModelBench, BenchError> {
    let data = Dataset::bundled();
    let mut times = Vec::with_capacity(training_runs);
    let mut model = None;
    for _ in 0..training_runs.max(1) {
        let started = Instant::now();
        let trained = ModelFile::train(black_box(&data), Imputation::None)?;
        times.push(started.elapsed());
        model = Some(trained);
    }
    times.sort();
    let model = model.expect("trained at least once").model;
    let started = Instant::now();
    for i in 0..predictions {
        black_box(model.explain(black_box(&data.rows[i % data.len()]), 0.5));
    }
    let total = started.elapsed();
    Ok(ModelBench {
        rows: data.len(),
        training_runs: times.len(),
        training_median: times[times.len() / 2],
        training_min: times[0],
        predictions,
        prediction_mean: total / predictions.max(1) as u32,
    })
}
