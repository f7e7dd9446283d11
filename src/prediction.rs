//! Scoring a patient: the diabetes model applied to their latest archived health record, and the
//! result stored beside it. The CLI (`hrm predict`), the demo and the web app all score this way.

use alloy::primitives::Address;

use crate::ml::{ModelFile, Prediction};
use crate::records::{HealthDetails, RecordError};
use crate::store::{Archive, ArchivedRecord, StoreError, StoredPrediction};

/// Why a patient could not be scored.
#[derive(Debug, thiserror::Error)]
pub enum PredictionError {
    #[error(
        "patient {0} has no approved health record in the archive; submit one, have it approved, and run `hrm migrate`"
    )]
    NoHealthRecord(Address),
    #[error("archived record {id} cannot be scored: {source}")]
    UnusableRecord { id: String, source: RecordError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A patient's latest health record and what the model made of it.
#[derive(Debug, Clone)]
pub struct ScoredRecord {
    pub record: ArchivedRecord,
    pub details: HealthDetails,
    pub prediction: Prediction,
}

/// Scores `patient`'s latest archived health record with `model` at `threshold`, and stores the
/// prediction in the archive.
pub async fn score_latest_record(
    archive: &Archive,
    model: &ModelFile,
    patient: Address,
    threshold: f64,
) -> Result<ScoredRecord, PredictionError> {
    let record = archive.latest_health_record(patient).await?.ok_or(PredictionError::NoHealthRecord(patient))?;
    let details = record.health_details()?;
    details.readings.validate().map_err(|source| PredictionError::UnusableRecord { id: record.id.clone(), source })?;
    let prediction = model.model.explain(&details.readings.values(), threshold);
    archive.save_prediction(&StoredPrediction::new(model, &record, &prediction)).await?;
    Ok(ScoredRecord { record, details, prediction })
}

/// The probability at which a prediction calls a patient diabetic, unless told otherwise.
pub const DEFAULT_THRESHOLD: f64 = 0.5;

/// A patient's stored predictions, newest first, after scoring their latest health record with
/// `model` if that model has not scored it yet: the newest record always has a prediction.
pub async fn predictions_of_patient(
    archive: &Archive,
    model: &ModelFile,
    patient: Address,
    threshold: f64,
) -> Result<Vec<StoredPrediction>, PredictionError> {
    if let Some(latest) = archive.latest_health_record(patient).await? {
        let scored = archive.predictions_for(&latest.id).await?.iter().any(|p| p.model_id == model.model_id);
        if !scored {
            match score_latest_record(archive, model, patient, threshold).await {
                // A record the model cannot use keeps the predictions it has; the page says none is new.
                Ok(_) | Err(PredictionError::UnusableRecord { .. }) => {}
                Err(other) => return Err(other),
            }
        }
    }
    Ok(archive.predictions_of_patient(patient).await?)
}
