//! Scoring a patient: the diabetes model applied to their latest archived health record, and the
//! result stored beside it. The CLI (`hrm predict`), the demo and the web app all score this way.

use alloy::primitives::Address;

use crate::ml::{ModelFile, Prediction};
use crate::records::{EntryKind, HealthDetails, RecordError};
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
    /// What was stored in the archive's `predictions` collection.
    pub stored: StoredPrediction,
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
    score_record(archive, model, record, threshold).await
}

/// Scores one archived health record and stores the prediction.
async fn score_record(
    archive: &Archive,
    model: &ModelFile,
    record: ArchivedRecord,
    threshold: f64,
) -> Result<ScoredRecord, PredictionError> {
    let details = record.health_details()?;
    details.readings.validate().map_err(|source| PredictionError::UnusableRecord { id: record.id.clone(), source })?;
    let prediction = model.model.explain(&details.readings.values(), threshold);
    let stored = StoredPrediction::new(model, &record, &prediction);
    archive.save_prediction(&stored).await?;
    Ok(ScoredRecord { record, details, prediction, stored })
}

/// The probability at which a prediction calls a patient diabetic, unless told otherwise.
pub const DEFAULT_THRESHOLD: f64 = 0.5;

/// Everything archived about one patient: what their records page shows.
#[derive(Debug, Clone)]
pub struct PatientArchive {
    /// Health records and bills, newest submission first.
    pub records: Vec<ArchivedRecord>,
    /// Stored predictions, newest first.
    pub predictions: Vec<StoredPrediction>,
}

impl PatientArchive {
    /// The latest health record, in the order [`Archive::latest_health_record`] uses.
    pub fn latest_health_record(&self) -> Option<&ArchivedRecord> {
        self.records
            .iter()
            .filter(|r| r.kind == EntryKind::Health)
            .max_by(|a, b| a.latest_first_key().cmp(&b.latest_first_key()))
    }
}

/// A patient's archived records and predictions, read at once (three queries, in parallel), after
/// scoring their latest health record with `model` if that model has not scored it yet: the
/// newest record always has a prediction.
pub async fn patient_archive(
    archive: &Archive,
    model: Option<&ModelFile>,
    patient: Address,
    threshold: f64,
) -> Result<PatientArchive, PredictionError> {
    let (records, predictions) =
        tokio::try_join!(archive.records_of_patient(patient), archive.predictions_of_patient(patient))?;
    let mut found = PatientArchive { records, predictions };
    let Some((model, latest)) = model.zip(found.latest_health_record()) else {
        return Ok(found);
    };
    let scored = found.predictions.iter().any(|p| p.record_id == latest.id && p.model_id == model.model_id);
    if !scored {
        match score_record(archive, model, latest.clone(), threshold).await {
            Ok(new) => found.predictions.insert(0, new.stored),
            // A record the model cannot use keeps the predictions it has; the page says none is new.
            Err(PredictionError::UnusableRecord { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{self, doc};

    use super::*;
    use crate::store::Provenance;

    fn archived(entry_id: i64, kind: EntryKind, recorded_at: &str, block: i64) -> ArchivedRecord {
        let at = Provenance { tx_hash: String::new(), block };
        ArchivedRecord {
            id: entry_id.to_string(),
            chain_id: 1,
            contract: String::new(),
            entry_id,
            kind,
            patient: String::new(),
            submitter: String::new(),
            record: doc! { "recorded_at": recorded_at },
            commitment: String::new(),
            salt: String::new(),
            envelope_digest: None,
            submission: at.clone(),
            approval: at,
            voters: Vec::new(),
            migrated_at: bson::DateTime::now(),
            parsed: Default::default(),
        }
    }

    #[test]
    fn the_latest_health_record_is_the_latest_visit_then_the_latest_submission() {
        let records = vec![
            archived(1, EntryKind::Health, "2026-03-01", 90),
            archived(2, EntryKind::Health, "2026-05-01", 10),
            archived(3, EntryKind::Health, "2026-05-01", 20),
            archived(4, EntryKind::Bill, "2027-01-01", 99),
        ];
        let found = PatientArchive { records, predictions: Vec::new() };
        assert_eq!(found.latest_health_record().map(|r| r.entry_id), Some(3));
        let none = PatientArchive { records: vec![archived(5, EntryKind::Bill, "2026-01-01", 1)], predictions: vec![] };
        assert!(none.latest_health_record().is_none());
    }
}
