//! Logistic regression on standardized features: training, the model file, prediction.

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::MlError;
use super::dataset::{Dataset, FEATURES, ZERO_MEANS_MISSING};

/// Version of the model file layout.
pub const MODEL_FORMAT_VERSION: u32 = 1;
/// L2 strength: linfa minimises log-loss + alpha/2·‖w‖², scikit-learn ½‖w‖² + C·log-loss, so
/// alpha = 1/C; the reference figures use C = 1.
pub const ALPHA: f64 = 1.0;

/// How "not measured" zeros are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Imputation {
    /// Zeros are used as they are (as the reference figures do).
    None,
    /// Zeros in Glucose, BloodPressure, SkinThickness, Insulin and BMI are replaced by the
    /// training rows' median of the measured values.
    Median,
}

impl Imputation {
    /// The name used on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Median => "median",
        }
    }
}

/// What the model does to raw readings before the linear part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    pub imputation: Imputation,
    /// Per feature: the value a "not measured" zero becomes (`None`: kept).
    pub impute_values: Vec<Option<f64>>,
    pub means: Vec<f64>,
    pub std_devs: Vec<f64>,
}

impl Preprocessing {
    /// Fits imputation and standardization on training rows only.
    pub fn fit(rows: &[[f64; 8]], imputation: Imputation) -> Self {
        let impute_values: Vec<Option<f64>> = (0..8)
            .map(|feature| {
                if imputation == Imputation::Median && ZERO_MEANS_MISSING.contains(&feature) {
                    median(rows.iter().map(|r| r[feature]).filter(|v| *v != 0.0).collect())
                } else {
                    None
                }
            })
            .collect();
        let imputed: Vec<[f64; 8]> = rows.iter().map(|r| impute(r, &impute_values)).collect();
        let n = imputed.len() as f64;
        let means: Vec<f64> = (0..8).map(|f| imputed.iter().map(|r| r[f]).sum::<f64>() / n).collect();
        let std_devs: Vec<f64> = (0..8)
            .map(|f| {
                let variance = imputed.iter().map(|r| (r[f] - means[f]).powi(2)).sum::<f64>() / n;
                // A constant column carries no information; 1 keeps it at zero instead of NaN.
                if variance > 0.0 { variance.sqrt() } else { 1.0 }
            })
            .collect();
        Self { imputation, impute_values, means, std_devs }
    }

    /// Imputed and standardized features of one row.
    pub fn transform(&self, row: &[f64; 8]) -> [f64; 8] {
        let imputed = impute(row, &self.impute_values);
        let mut out = [0.0; 8];
        for f in 0..8 {
            out[f] = (imputed[f] - self.means[f]) / self.std_devs[f];
        }
        out
    }

    fn matrix(&self, rows: &[[f64; 8]]) -> Array2<f64> {
        let mut matrix = Array2::zeros((rows.len(), 8));
        for (i, row) in rows.iter().enumerate() {
            for (j, value) in self.transform(row).into_iter().enumerate() {
                matrix[[i, j]] = value;
            }
        }
        matrix
    }
}

fn impute(row: &[f64; 8], values: &[Option<f64>]) -> [f64; 8] {
    let mut out = *row;
    for (f, value) in values.iter().enumerate() {
        if let Some(value) = value
            && out[f] == 0.0
        {
            out[f] = *value;
        }
    }
    out
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) { (values[mid - 1] + values[mid]) / 2.0 } else { values[mid] })
}

/// A fitted model: preprocessing plus the probability of diabetes
/// σ(intercept + Σ coefficientᵢ · standardizedᵢ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiabetesModel {
    pub preprocessing: Preprocessing,
    /// Per feature, for the standardized value; positive raises the probability of diabetes.
    pub coefficients: Vec<f64>,
    pub intercept: f64,
}

impl DiabetesModel {
    /// Fits the model on `data`.
    pub fn fit(data: &Dataset, imputation: Imputation) -> Result<Self, MlError> {
        let preprocessing = Preprocessing::fit(&data.rows, imputation);
        let x = preprocessing.matrix(&data.rows);
        let y: Array1<usize> = data.outcomes.iter().map(|o| usize::from(*o)).collect();
        let fitted = LogisticRegression::default()
            .alpha(ALPHA)
            .max_iterations(200)
            .gradient_tolerance(1e-8)
            .fit(&linfa::Dataset::new(x, y))
            .map_err(|e| MlError::Training(e.to_string()))?;
        // linfa's positive class is the more frequent label, which for this data is 0 (not
        // diabetic); the model file always speaks of diabetes, so flip the signs then.
        let sign = if fitted.labels().pos.class == 1 { 1.0 } else { -1.0 };
        Ok(Self {
            preprocessing,
            coefficients: fitted.params().iter().map(|c| sign * c).collect(),
            intercept: sign * fitted.intercept(),
        })
    }

    /// The linear score of one raw row.
    fn score(&self, row: &[f64; 8]) -> f64 {
        let z = self.preprocessing.transform(row);
        self.intercept + z.iter().zip(&self.coefficients).map(|(v, c)| v * c).sum::<f64>()
    }

    /// Probability of diabetes for one raw row.
    pub fn probability(&self, row: &[f64; 8]) -> f64 {
        sigmoid(self.score(row))
    }

    /// The probability and each feature's contribution (coefficient × standardized value).
    pub fn explain(&self, row: &[f64; 8], threshold: f64) -> Prediction {
        let standardized = self.preprocessing.transform(row);
        let contributions = FEATURES
            .iter()
            .enumerate()
            .map(|(i, name)| Contribution {
                feature: name.to_string(),
                value: row[i],
                standardized: standardized[i],
                contribution: self.coefficients[i] * standardized[i],
            })
            .collect();
        let probability = self.probability(row);
        Prediction { probability, threshold, diabetic: probability >= threshold, contributions }
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// One feature's part in a prediction.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Contribution {
    pub feature: String,
    pub value: f64,
    pub standardized: f64,
    pub contribution: f64,
}

/// A scored record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub probability: f64,
    pub threshold: f64,
    /// Whether the probability reaches the threshold.
    pub diabetic: bool,
    pub contributions: Vec<Contribution>,
}

impl Prediction {
    /// The contributions, largest effect (either way) first.
    pub fn contributions_by_size(&self) -> Vec<Contribution> {
        let mut sorted = self.contributions.clone();
        sorted.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
        sorted
    }

    /// The feature that moved the probability most, either way.
    pub fn largest_contribution(&self) -> Contribution {
        self.contributions_by_size().swap_remove(0)
    }
}

/// The model file: the model with what it was trained on and how well it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub format_version: u32,
    /// sha256 of the model part, so a prediction names the exact model that made it.
    pub model_id: String,
    pub feature_names: Vec<String>,
    pub model: DiabetesModel,
    pub training_data_sha256: String,
    pub training_rows: usize,
    pub metrics: TrainingMetrics,
    /// Seconds since the Unix epoch.
    pub trained_at: u64,
}

/// How the model does on its own training rows (optimistic by construction).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingMetrics {
    pub training_accuracy: f64,
    pub training_roc_auc: f64,
}

impl ModelFile {
    /// Trains on `data` and describes the result.
    pub fn train(data: &Dataset, imputation: Imputation) -> Result<Self, MlError> {
        let model = DiabetesModel::fit(data, imputation)?;
        let probabilities: Vec<f64> = data.rows.iter().map(|r| model.probability(r)).collect();
        let metrics = TrainingMetrics {
            training_accuracy: super::metrics::accuracy(&probabilities, &data.outcomes, 0.5),
            training_roc_auc: super::metrics::roc_auc(&probabilities, &data.outcomes),
        };
        let model_id = model_id(&model);
        Ok(Self {
            format_version: MODEL_FORMAT_VERSION,
            model_id,
            feature_names: FEATURES.iter().map(ToString::to_string).collect(),
            model,
            training_data_sha256: data.sha256.clone(),
            training_rows: data.len(),
            metrics,
            trained_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
        })
    }

    /// Reads and checks a model file.
    pub fn load(path: &std::path::Path) -> Result<Self, MlError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                MlError::ModelMissing(path.to_path_buf())
            } else {
                MlError::Io { what: "reading the model file", path: path.to_path_buf(), source }
            }
        })?;
        let file: Self = serde_json::from_str(&text)
            .map_err(|e| MlError::BadModel { path: path.to_path_buf(), message: e.to_string() })?;
        let bad = |message: String| MlError::BadModel { path: path.to_path_buf(), message };
        if file.format_version != MODEL_FORMAT_VERSION {
            return Err(bad(format!("format version {} (this hrm reads {MODEL_FORMAT_VERSION})", file.format_version)));
        }
        if file.feature_names != FEATURES
            || file.model.coefficients.len() != 8
            || file.model.preprocessing.means.len() != 8
        {
            return Err(bad("it is not a model of the eight Pima features".into()));
        }
        if model_id(&file.model) != file.model_id {
            return Err(bad("its coefficients do not match its model id (the file was edited)".into()));
        }
        Ok(file)
    }

    /// Writes the model file (atomically).
    pub fn save(&self, path: &std::path::Path) -> Result<(), MlError> {
        let text = serde_json::to_string_pretty(self).expect("a model serializes");
        crate::fsutil::write_atomically(path, text.as_bytes()).map_err(|source| MlError::Io {
            what: "writing the model file",
            path: path.to_path_buf(),
            source,
        })
    }
}

fn model_id(model: &DiabetesModel) -> String {
    use sha2::{Digest, Sha256};
    let canonical = crate::records::canonical::to_canonical_json(model).expect("a model serializes");
    Sha256::digest(&canonical)[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preprocessing_is_fitted_on_the_rows_given() {
        let rows = [
            [1.0, 0.0, 70.0, 20.0, 0.0, 30.0, 0.5, 30.0],
            [3.0, 100.0, 80.0, 0.0, 50.0, 20.0, 0.7, 50.0],
            [5.0, 120.0, 0.0, 40.0, 150.0, 0.0, 0.3, 40.0],
        ];
        let plain = Preprocessing::fit(&rows, Imputation::None);
        assert_eq!(plain.means[0], 3.0);
        assert!(plain.impute_values.iter().all(Option::is_none));
        let imputed = Preprocessing::fit(&rows, Imputation::Median);
        assert_eq!(imputed.impute_values[1], Some(110.0)); // median of 100, 120
        assert_eq!(imputed.impute_values[0], None); // pregnancies: 0 is a real value
        assert_eq!(imputed.transform(&rows[0])[1], (110.0 - imputed.means[1]) / imputed.std_devs[1]);
    }

    #[test]
    fn coefficients_speak_of_diabetes() {
        let data = Dataset::bundled();
        let file = ModelFile::train(&data, Imputation::None).unwrap();
        // Glucose and BMI raise the probability of diabetes in every published fit.
        assert!(file.model.coefficients[1] > 0.5 && file.model.coefficients[5] > 0.3, "{:?}", file.model.coefficients);
        let (positive, negative) = data.rows.iter().zip(&data.outcomes).fold((0.0, 0.0), |(p, n), (row, o)| {
            let probability = file.model.probability(row);
            if *o == 1 { (p + probability, n) } else { (p, n + probability) }
        });
        assert!(positive / 268.0 > negative / 500.0 + 0.2);
        assert!((0.76..0.80).contains(&file.metrics.training_accuracy), "{}", file.metrics.training_accuracy);
    }

    #[test]
    fn contributions_add_up_to_the_score() {
        let file = ModelFile::train(&Dataset::bundled(), Imputation::None).unwrap();
        let row = [6.0, 148.0, 72.0, 35.0, 0.0, 33.6, 0.627, 50.0];
        let prediction = file.model.explain(&row, 0.5);
        let score = file.model.intercept + prediction.contributions.iter().map(|c| c.contribution).sum::<f64>();
        assert!((sigmoid(score) - prediction.probability).abs() < 1e-12);
    }

    #[test]
    fn a_saved_model_reads_back_and_edits_are_caught() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        let file = ModelFile::train(&Dataset::bundled(), Imputation::Median).unwrap();
        file.save(&path).unwrap();
        assert_eq!(ModelFile::load(&path).unwrap(), file);
        let mut edited: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edited["model"]["intercept"] = serde_json::json!(file.model.intercept + 0.5);
        std::fs::write(&path, edited.to_string()).unwrap();
        assert!(ModelFile::load(&path).unwrap_err().to_string().contains("edited"));
        let err = ModelFile::load(&dir.path().join("none.json")).unwrap_err().to_string();
        assert!(err.contains("hrm model train"), "{err}");
    }
}
