//! The directory entries staff pages and the patient's greeting show, kept a few seconds.
//!
//! A name is shown, never decided on: enrollment and the read rule always ask the database. But
//! every page load asking it costs the database a query it answers at the expense of every other
//! (50 sessions on the patient's page took twice as long), so each patient's entry, or the
//! knowledge that they are not enrolled here, is kept for [`FRESH_FOR`]. An enrollment or unlink
//! made through this server is seen at once; one made elsewhere (another server, `hrm patient`)
//! within [`FRESH_FOR`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use hrm::directory::DirectoryPatient;
use hrm::store::{Archive, StoreError};

use super::layout::PatientNames;

/// How long a patient's entry (or its absence) is shown without asking the database again.
pub const FRESH_FOR: Duration = Duration::from_secs(5);
/// Patients kept; past this, the stale are forgotten (and all, if none is stale).
const CAPACITY: usize = 20_000;

/// The cache; one per server.
#[derive(Default)]
pub struct PatientNamesCache {
    entries: Mutex<HashMap<Address, (Option<DirectoryPatient>, Instant)>>,
}

impl PatientNamesCache {
    /// The directory entries of those of `patients` enrolled here.
    pub async fn get(
        &self,
        archive: &Archive,
        patients: impl IntoIterator<Item = Address>,
    ) -> Result<PatientNames, StoreError> {
        let mut names = PatientNames::new();
        let mut missing = Vec::new();
        {
            let entries = self.entries.lock().expect("name cache lock");
            for patient in patients {
                match entries.get(&patient) {
                    Some((Some(known), at)) if at.elapsed() < FRESH_FOR => {
                        names.insert(patient, known.clone());
                    }
                    Some((None, at)) if at.elapsed() < FRESH_FOR => {}
                    _ if !missing.contains(&patient) => missing.push(patient),
                    _ => {}
                }
            }
        }
        if missing.is_empty() {
            return Ok(names);
        }
        let found = archive.directory_entries_of(missing.iter().copied()).await?;
        let now = Instant::now();
        let mut entries = self.entries.lock().expect("name cache lock");
        if entries.len() + missing.len() > CAPACITY {
            entries.retain(|_, (_, at)| at.elapsed() < FRESH_FOR);
            if entries.len() + missing.len() > CAPACITY {
                entries.clear();
            }
        }
        for patient in missing {
            let known = found.get(&patient).cloned();
            if let Some(known) = &known {
                names.insert(patient, known.clone());
            }
            entries.insert(patient, (known, now));
        }
        Ok(names)
    }

    /// Forgets `patient`, after this server enrolled or unlinked them.
    pub fn forget(&self, patient: Address) {
        self.entries.lock().expect("name cache lock").remove(&patient);
    }
}
