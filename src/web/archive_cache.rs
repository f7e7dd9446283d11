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

/// How long a look at the database may take before another request may start its own (the
/// first may have been cancelled with its request).
const LOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// When a cache last looked at the database, and whether a look is under way. One request looks
/// at a time; the others go on with what was seen before rather than all waiting for that read
/// (behind a busy database, fifty pages would wait for one read).
#[derive(Default)]
pub(super) struct Lookout {
    checked: Option<Instant>,
    looking_since: Option<Instant>,
}

impl Lookout {
    /// Whether the caller should look now: the last look is older than [`CHECK_EVERY`] (or there
    /// was none, or it was forgotten) and nobody else is looking. The others go on with the
    /// generation they have: a server that changed the archive itself has moved it already.
    pub(super) fn start(&mut self) -> bool {
        let due = self.checked.is_none_or(|at| at.elapsed() >= CHECK_EVERY);
        let someone_looking = self.looking_since.is_some_and(|since| since.elapsed() < LOOK_TIMEOUT);
        let start = due && !someone_looking;
        if start {
            self.looking_since = Some(Instant::now());
        }
        start
    }

    /// The look ended; `seen` when it read the database.
    pub(super) fn finish(&mut self, seen: bool) {
        self.looking_since = None;
        if seen {
            self.checked = Some(Instant::now());
        }
    }

    /// The next call looks, whoever else is looking.
    pub(super) fn forget(&mut self) {
        self.checked = None;
    }
}

/// The checkpoint as last seen, and when.
#[derive(Default)]
struct ArchiveVersion {
    lookout: Lookout,
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
    version: Mutex<ArchiveVersion>,
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
        let mut version = self.version.lock().expect("cache lock");
        version.generation += 1;
        version.lookout.forget();
    }

    /// The archive's generation, reading the checkpoint if the last look is older than
    /// [`CHECK_EVERY`] and nobody else is reading it.
    async fn generation(&self, archive: &Archive, deployment: &DeploymentRecord) -> Result<u64, StoreError> {
        {
            let mut version = self.version.lock().expect("cache lock");
            if !version.lookout.start() {
                return Ok(version.generation);
            }
        }
        let read = archive.checkpoint(deployment.chain_id, deployment.address).await;
        let mut version = self.version.lock().expect("cache lock");
        version.lookout.finish(read.is_ok());
        let updated_at = read?.map(|c| c.updated_at);
        if updated_at != version.updated_at {
            version.updated_at = updated_at;
            version.generation += 1;
        }
        Ok(version.generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_caller_looks_at_a_time_and_the_next_look_waits_its_turn() {
        let mut lookout = Lookout::default();
        assert!(lookout.start(), "the first caller looks");
        assert!(!lookout.start(), "the others go on while it looks, even before any look ended");
        lookout.finish(true);
        assert!(!lookout.start(), "a fresh look is used as it is");
        lookout.checked = Some(Instant::now() - CHECK_EVERY);
        assert!(lookout.start(), "a stale look is renewed");
        assert!(!lookout.start(), "while one caller looks, the others go on");
        lookout.finish(false);
        assert!(lookout.start(), "a failed look leaves the next caller to look");
        lookout.looking_since = Some(Instant::now() - LOOK_TIMEOUT);
        assert!(lookout.start(), "a look abandoned with its request does not block the others");
        lookout.finish(true);
        assert!(!lookout.start());
        lookout.forget();
        assert!(lookout.start(), "after forgetting, the next caller looks");
    }
}
