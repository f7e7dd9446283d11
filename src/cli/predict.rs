//! `hrm predict --patient WHO | --file PATH`.

use std::path::PathBuf;

use clap::Args;
use eyre::{Context as _, eyre};
use hrm::ml::{ModelFile, Prediction};
use hrm::prediction::score_latest_record;
use hrm::records::{HealthDetails, Readings};
use serde_json::json;

use super::context::Context;
use super::model::default_model_path;
use super::output::{print_json, table};

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Score this patient's latest archived health record (name, address or dev:N)
    #[arg(long, required_unless_present = "file", conflicts_with = "file")]
    pub patient: Option<String>,
    /// Score readings from a JSON file: a health record (as for submit-health) or just its
    /// "readings" object; nothing is stored
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Probability from which the class is "diabetic"
    #[arg(long, default_value_t = hrm::prediction::DEFAULT_THRESHOLD)]
    pub threshold: f64,
    /// Model file [default: $HRM_HOME/model.json]
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
}

pub async fn run(context: &Context, args: PredictArgs) -> eyre::Result<()> {
    if !(0.0..=1.0).contains(&args.threshold) {
        return Err(eyre!("--threshold must be between 0 and 1, not {}", args.threshold));
    }
    let model = ModelFile::load(&args.model.clone().unwrap_or_else(|| default_model_path(context)))?;
    let (source, prediction, stored) = match (&args.patient, &args.file) {
        (_, Some(path)) => {
            let prediction = model.model.explain(&readings_from_file(path)?.values(), args.threshold);
            (path.display().to_string(), prediction, false)
        }
        (Some(patient), None) => {
            let patient = context.address(patient)?;
            let archive = context.archive().await?;
            let scored = score_latest_record(&archive, &model, patient, args.threshold).await?;
            let (record, recorded_at) = (&scored.record, &scored.details.recorded_at);
            (format!("entry {} ({}, recorded {recorded_at})", record.entry_id, record.id), scored.prediction, true)
        }
        (None, None) => unreachable!("clap requires --patient or --file"),
    };
    if context.json() {
        return print_json(
            &json!({ "source": source, "model_id": model.model_id, "prediction": prediction, "stored": stored }),
        );
    }
    print_prediction(&source, &model.model_id, &prediction, stored);
    Ok(())
}

fn readings_from_file(path: &PathBuf) -> eyre::Result<Readings> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| eyre!("{}: line {}, column {}: not valid JSON", path.display(), e.line(), e.column()))?;
    let readings = if value.get("readings").is_some() {
        let details: HealthDetails = serde_json::from_value(value).map_err(|e| eyre!("{}: {e}", path.display()))?;
        details.validate()?;
        details.readings
    } else {
        let readings: Readings = serde_json::from_value(value).map_err(|e| eyre!("{}: {e}", path.display()))?;
        readings.validate()?;
        readings
    };
    Ok(readings)
}

fn print_prediction(source: &str, model_id: &str, prediction: &Prediction, stored: bool) {
    let class = if prediction.diabetic { "diabetic" } else { "not diabetic" };
    println!(
        "{source}: probability of diabetes {:.3} → {class} (threshold {}, model {model_id}){}",
        prediction.probability,
        prediction.threshold,
        if stored { "; stored in predictions" } else { "" }
    );
    let mut rows = table(["feature", "value", "standardized", "contribution"]);
    for c in prediction.contributions_by_size() {
        rows.add_row(vec![
            c.feature,
            format!("{}", c.value),
            format!("{:+.2}", c.standardized),
            format!("{:+.3}", c.contribution),
        ]);
    }
    println!("{rows}");
}
