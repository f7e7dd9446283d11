//! `hrm model train|evaluate`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use eyre::Context as _;
use hrm::ml::{Dataset, ModelFile, cross_validate};
use serde_json::json;

use super::choices::ImputationChoice;
use super::context::Context;
use super::output::{key_value_table, print_json, table};

/// Training accuracy the paper reports for its model.
const PAPER_TRAINING_ACCURACY: f64 = 0.761;

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Train the logistic-regression diabetes model and write the model file
    Train(TrainArgs),
    /// Stratified k-fold cross-validation: accuracy, ROC AUC, precision, recall, F1
    Evaluate(EvaluateArgs),
}

#[derive(Debug, Args)]
pub struct DataArgs {
    /// Pima-format CSV [default: the bundled Pima Indians Diabetes data]
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// What to do with "not measured" zeros (Glucose, BloodPressure, SkinThickness, Insulin, BMI)
    #[arg(long, value_enum, default_value_t = ImputationChoice::None)]
    pub impute: ImputationChoice,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Where to write the model file [default: $HRM_HOME/model.json]
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Number of folds
    #[arg(long, default_value_t = 10)]
    pub folds: usize,
    /// Seed of the fold shuffle
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

fn load(args: &DataArgs) -> eyre::Result<Dataset> {
    match &args.data {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading the data file {}", path.display()))?;
            Ok(Dataset::from_csv(&text, &path.display().to_string())?)
        }
        None => Ok(Dataset::bundled()),
    }
}

/// The model file used when none is named.
pub fn default_model_path(context: &Context) -> PathBuf {
    context.home.join("model.json")
}

pub fn run(context: &Context, command: ModelCommand) -> eyre::Result<()> {
    match command {
        ModelCommand::Train(args) => train(context, args),
        ModelCommand::Evaluate(args) => evaluate(context, args),
    }
}

fn train(context: &Context, args: TrainArgs) -> eyre::Result<()> {
    let data = load(&args.data)?;
    let file = ModelFile::train(&data, args.data.impute.into())?;
    let path = args.out.unwrap_or_else(|| default_model_path(context));
    file.save(&path)?;
    if context.json() {
        return print_json(&json!({ "path": path, "model": file }));
    }
    println!("Trained model {} on {} rows; wrote {}", file.model_id, file.training_rows, path.display());
    let mut rows = table(["feature", "mean", "std dev", "coefficient"]);
    for (i, name) in file.feature_names.iter().enumerate() {
        let p = &file.model.preprocessing;
        rows.add_row(vec![
            name.clone(),
            format!("{:.3}", p.means[i]),
            format!("{:.3}", p.std_devs[i]),
            format!("{:+.4}", file.model.coefficients[i]),
        ]);
    }
    rows.add_row(vec!["(intercept)".into(), String::new(), String::new(), format!("{:+.4}", file.model.intercept)]);
    println!("{rows}");
    println!(
        "training accuracy {:.3} (the paper: {PAPER_TRAINING_ACCURACY:.3}); use `hrm model evaluate` for honest figures",
        file.metrics.training_accuracy
    );
    Ok(())
}

fn evaluate(context: &Context, args: EvaluateArgs) -> eyre::Result<()> {
    let data = load(&args.data)?;
    let evaluation = cross_validate(&data, args.folds, args.seed, args.data.impute.into())?;
    if context.json() {
        return print_json(&json!({ "evaluation": evaluation, "paper_training_accuracy": PAPER_TRAINING_ACCURACY }));
    }
    println!(
        "{}-fold stratified cross-validation (seed {}, imputation {}), {} rows",
        evaluation.folds,
        evaluation.seed,
        evaluation.imputation.as_str(),
        data.len()
    );
    let mut rows = table(["metric", "mean", "± std"]);
    for (name, m) in [
        ("accuracy", evaluation.accuracy),
        ("ROC AUC", evaluation.roc_auc),
        ("precision", evaluation.precision),
        ("recall", evaluation.recall),
        ("F1", evaluation.f1),
    ] {
        rows.add_row(vec![name.to_string(), format!("{:.3}", m.mean), format!("{:.3}", m.std)]);
    }
    println!("{rows}");
    let c = evaluation.confusion;
    let mut confusion = table(["summed over folds", "predicted diabetic", "predicted not"]);
    confusion.add_row(vec!["diabetic".to_string(), c.true_positive.to_string(), c.false_negative.to_string()]);
    confusion.add_row(vec!["not diabetic".to_string(), c.false_positive.to_string(), c.true_negative.to_string()]);
    println!("{confusion}");
    let mut training = key_value_table();
    training.add_row(vec![
        "training accuracy, all rows (optimistic)".to_string(),
        format!("{:.3}", evaluation.training_accuracy),
    ]);
    training.add_row(vec!["the paper's training accuracy".to_string(), format!("{PAPER_TRAINING_ACCURACY:.3}")]);
    println!("{training}");
    Ok(())
}
