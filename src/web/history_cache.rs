//! Patients' access histories (reads of their records by others) as last read, kept until
//! someone other than a patient reads through this server or anyone appends elsewhere.
//!
//! Every patient page load appends an entry (the patient's own read), so the log's head moves
//! all the time; what a history shows changes only with reads by others. This server knows its
//! own (the log counts them); another process's appends show as an entry beyond every position
//! this server wrote or is writing (`AccessLog::appended_elsewhere`), or as a write of this
//! server finding its position taken, checked at most every
//! [`CHECK_EVERY`](super::archive_cache::CHECK_EVERY) by one request at a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use alloy::primitives::Address;
use hrm::access::{AccessLog, AccessLogEntry};
use hrm::store::StoreError;

use super::archive_cache::{Lookout, MAX_AGE};

/// Rows of a history kept and shown.
pub const HISTORY_ROWS: i64 = 50;
/// Patients kept; past this all are forgotten.
const CAPACITY: usize = 10_000;

#[derive(Default)]
struct LogVersion {
    lookout: Lookout,
    /// `AccessLog::others_found`'s count of other writers found, when last checked.
    others_found: u64,
    /// This server's appends of reads by others, when last checked.
    by_others_here: i64,
    generation: u64,
}

/// A patient's history, the generation it was read at, and when.
struct CachedHistory {
    generation: u64,
    read: Instant,
    history: Arc<Vec<AccessLogEntry>>,
}

/// The cache; one per server.
#[derive(Default)]
pub struct AccessHistories {
    version: Mutex<LogVersion>,
    patients: Mutex<HashMap<Address, CachedHistory>>,
}

impl AccessHistories {
    /// The newest reads of a patient's records by others, newest first. `accounts`: the
    /// patient's account of now (the cache's key), then those their guardians moved them from.
    pub async fn get(&self, log: &AccessLog, accounts: &[Address]) -> Result<Arc<Vec<AccessLogEntry>>, StoreError> {
        let patient = accounts[0];
        let generation = self.generation(log).await?;
        if let Some(hit) = self.patients.lock().expect("cache lock").get(&patient)
            && hit.generation == generation
            && hit.read.elapsed() < MAX_AGE
        {
            return Ok(hit.history.clone());
        }
        let history = Arc::new(log.reads_by_others(accounts, HISTORY_ROWS).await?);
        let mut patients = self.patients.lock().expect("cache lock");
        if patients.len() >= CAPACITY {
            patients.clear();
        }
        patients.insert(patient, CachedHistory { generation, read: Instant::now(), history: history.clone() });
        Ok(history)
    }

    /// Moves on when this server logged a read by someone other than the patient, or when the
    /// log grew by more than this server appended (another process wrote).
    async fn generation(&self, log: &AccessLog) -> Result<u64, StoreError> {
        {
            let mut version = self.version.lock().expect("cache lock");
            let by_others = log.reads_by_others_here();
            if by_others != version.by_others_here {
                version.generation += 1;
                version.by_others_here = by_others;
            }
            if !version.lookout.start() {
                return Ok(version.generation);
            }
        }
        let appended = log.appended_elsewhere().await;
        let others_found = log.others_found();
        let mut version = self.version.lock().expect("cache lock");
        version.lookout.finish(appended.is_ok());
        if appended? || others_found != version.others_found {
            version.generation += 1;
        }
        version.others_found = others_found;
        Ok(version.generation)
    }
}
