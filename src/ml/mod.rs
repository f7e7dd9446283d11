//! The diabetes model: the Pima data, a logistic regression on standardized features, honest
//! evaluation, and predictions for patients' records.

pub mod dataset;
pub mod evaluate;
pub mod metrics;
pub mod model;

pub use dataset::Dataset;
pub use evaluate::{Evaluation, cross_validate};
pub use model::{Contribution, DiabetesModel, Imputation, ModelFile, Prediction};

use std::path::PathBuf;

/// Why the model could not be trained, read or used.
#[derive(Debug, thiserror::Error)]
pub enum MlError {
    #[error("{file}: {message}")]
    Csv { file: String, message: String },
    #[error("training failed: {0}")]
    Training(String),
    #[error("no model file at {0}: train one with `hrm model train` (or pass --model PATH)")]
    ModelMissing(PathBuf),
    #[error("the model file {path} cannot be used: {message}; train a new one with `hrm model train`")]
    BadModel { path: PathBuf, message: String },
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("cannot make {folds} folds: use 2 to {max} (each fold needs rows of both outcomes)")]
    InvalidFolds { folds: usize, max: usize },
}
