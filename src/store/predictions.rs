//! Stored predictions, one document per scoring of an archived record.

use mongodb::bson::{self, doc};
use serde::{Deserialize, Serialize};

use super::{Archive, ArchivedRecord, StoreError};
use crate::ml::{Contribution, ModelFile, Prediction};

pub(super) const COLLECTION: &str = "predictions";

/// A prediction made for an archived record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPrediction {
    pub model_id: String,
    pub model_format_version: u32,
    /// The archived record's `_id` (`<chain id>:<contract>:<entry id>`).
    pub record_id: String,
    pub chain_id: i64,
    pub contract: String,
    pub entry_id: i64,
    pub patient: String,
    pub probability: f64,
    pub threshold: f64,
    pub diabetic: bool,
    /// Each feature's part in the prediction, largest effect first (empty in predictions stored
    /// before contributions were kept).
    #[serde(default)]
    pub contributions: Vec<Contribution>,
    pub predicted_at: bson::DateTime,
}

impl StoredPrediction {
    /// What to store for a prediction `model` made for an archived `record`.
    pub fn new(model: &ModelFile, record: &ArchivedRecord, prediction: &Prediction) -> Self {
        Self {
            model_id: model.model_id.clone(),
            model_format_version: model.format_version,
            record_id: record.id.clone(),
            chain_id: record.chain_id,
            contract: record.contract.clone(),
            entry_id: record.entry_id,
            patient: record.patient.clone(),
            probability: prediction.probability,
            threshold: prediction.threshold,
            diabetic: prediction.diabetic,
            contributions: prediction.contributions_by_size(),
            predicted_at: bson::DateTime::now(),
        }
    }
}

impl Archive {
    /// Stores a prediction (acknowledged write).
    pub async fn save_prediction(&self, prediction: &StoredPrediction) -> Result<(), StoreError> {
        self.db
            .collection::<StoredPrediction>(COLLECTION)
            .insert_one(prediction)
            .await
            .map_err(StoreError::operation("storing the prediction"))?;
        Ok(())
    }

    /// Predictions stored for one archived record, oldest first.
    pub async fn predictions_for(&self, record_id: &str) -> Result<Vec<StoredPrediction>, StoreError> {
        use futures_util::TryStreamExt;
        self.db
            .collection::<StoredPrediction>(COLLECTION)
            .find(doc! { "record_id": record_id })
            .sort(doc! { "predicted_at": 1 })
            .await
            .map_err(StoreError::operation("reading predictions"))?
            .try_collect()
            .await
            .map_err(StoreError::operation("reading predictions"))
    }

    /// A patient's predictions, newest first.
    pub async fn predictions_of_patient(
        &self,
        patient: alloy::primitives::Address,
    ) -> Result<Vec<StoredPrediction>, StoreError> {
        use futures_util::TryStreamExt;
        self.db
            .collection::<StoredPrediction>(COLLECTION)
            .find(doc! { "patient": super::archive::hex_address(patient) })
            .sort(doc! { "predicted_at": -1 })
            .await
            .map_err(StoreError::operation("reading a patient's predictions"))?
            .try_collect()
            .await
            .map_err(StoreError::operation("reading a patient's predictions"))
    }
}
