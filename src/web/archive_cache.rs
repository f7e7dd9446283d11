//! Patients' archived records and predictions as last read, kept until the archive changes.
//!
//! Records reach the archive only through migration, and every migration run ends by saving its
//! checkpoint with a new `updated_at`. So the server reads that one small document (at most every
//! [`CHECK_EVERY`]) instead of a patient's three collections on every page load, and reads a
//! patient's data again once the checkpoint has moved. [`MAX_AGE`] bounds what the checkpoint
//! cannot see (predictions stored by `hrm predict` on another machine).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use hrm::chain::DeploymentRecord;
use hrm::ml::ModelFile;
use hrm::prediction::{PatientArchive, PredictionError, patient_archive};
use hrm::store::{Archive, StoreError};
use mongodb::bson;

/// How stale the view of the checkpoint may be: a migration shows on patients' pages this late.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);
/// How long a patient's data is kept however quiet the checkpoint is.
pub const MAX_AGE: Duration = Duration::from_secs(30);
/// Patients kept; past this the oldest half is forgotten.
const CAPACITY: usize = 10_000;

/// The checkpoint as last seen, and when.
#[derive(Default)]
struct ArchiveVersion {
    checked: Option<Instant>,
    updated_at: Option<bson::DateTime>,
    /// Bumped whenever `updated_at` changes or this server migrates.
    generation: u64,
}

struct CachedPatient {
    generation: u64,
    model_id: Option<String>,
    read: Instant,
    archive: Arc<PatientArchive>,
}

/// The cache; one per server.
#[derive(Default)]
pub struct PatientArchives {
    version: tokio::sync::Mutex<ArchiveVersion>,
    patients: Mutex<HashMap<Address, CachedPatient>>,
}

impl PatientArchives {
    /// `patient`'s records and predictions (scoring the latest record with `model` if it has not),
    /// from the cache while the archive has not changed.
    pub async fn get(
        &self,
        archive: &Archive,
        deployment: &DeploymentRecord,
        model: Option<&ModelFile>,
        patient: Address,
        threshold: f64,
    ) -> Result<Arc<PatientArchive>, PredictionError> {
        let generation = self.generation(archive, deployment).await?;
        let model_id = model.map(|m| m.model_id.clone());
        if let Some(hit) = self.patients.lock().expect("cache lock").get(&patient)
            && hit.generation == generation
            && hit.model_id == model_id
            && hit.read.elapsed() < MAX_AGE
        {
            return Ok(hit.archive.clone());
        }
        let read = Arc::new(patient_archive(archive, model, patient, threshold).await?);
        let mut patients = self.patients.lock().expect("cache lock");
        if patients.len() >= CAPACITY {
            let mut ages: Vec<Instant> = patients.values().map(|p| p.read).collect();
            ages.sort();
            let cutoff = ages[ages.len() / 2];
            patients.retain(|_, p| p.read > cutoff);
        }
        patients.insert(patient, CachedPatient { generation, model_id, read: Instant::now(), archive: read.clone() });
        Ok(read)
    }

    /// Forgets everything: this server has just changed the archive.
    pub async fn invalidate(&self) {
        let mut version = self.version.lock().await;
        version.generation += 1;
        version.checked = None;
    }

    /// The archive's generation, reading the checkpoint if the last look is older than
    /// [`CHECK_EVERY`].
    async fn generation(&self, archive: &Archive, deployment: &DeploymentRecord) -> Result<u64, StoreError> {
        let mut version = self.version.lock().await;
        if version.checked.is_some_and(|at| at.elapsed() < CHECK_EVERY) {
            return Ok(version.generation);
        }
        let updated_at = archive.checkpoint(deployment.chain_id, deployment.address).await?.map(|c| c.updated_at);
        if updated_at != version.updated_at {
            version.updated_at = updated_at;
            version.generation += 1;
        }
        version.checked = Some(Instant::now());
        Ok(version.generation)
    }
}
