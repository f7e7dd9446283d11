//! Who may read patients' records, and the log of every read.
//!
//! Every edge that shows a record (the web app's pages and downloads, `hrm records`, `hrm show`,
//! `hrm export fhir`) reads through here: [`read_rule`] decides, and each read or refusal is
//! appended to the [`AccessLog`].

pub mod log;
pub mod rule;
pub mod verify;

pub use log::{AccessEvent, AccessLog, AccessLogEntry, AccessOutcome, LoggedRecord};

pub use rule::{ReadRule, RecordParties, needs_grant_check, read_rule};
pub use verify::{LogProblem, LogVerification, verify_log};

use alloy::primitives::Address;

use crate::chain::{ChainError, Consortium};
use crate::listing::{PAGE_SIZE, Paged, page_window};
use crate::store::{Archive, ArchivedRecord, StoreError};

/// Why a read could not be decided or logged.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("asking the chain whether the patient granted access: {0}")]
    Chain(#[from] ChainError),
}

/// Who is reading, and through what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    /// The patient's account, or the hospital's for its staff and operators.
    pub account: Address,
    /// A staff member's user name (web app).
    pub user: Option<String>,
    /// Where, e.g. `web: patient page` or `hrm records`.
    pub action: String,
}

impl Reader {
    /// A reader without a user name.
    pub fn account(account: Address, action: impl Into<String>) -> Self {
        Self { account, user: None, action: action.into() }
    }
}

/// A patient's archived records screened for one reader.
#[derive(Debug, Clone, Default)]
pub struct ScreenedRecords {
    /// What the reader may see, with the rule that allows each, in the order given.
    pub allowed: Vec<(ArchivedRecord, ReadRule)>,
    /// Entry ids of the records withheld from the reader.
    pub withheld: Vec<i64>,
}

/// Reads `patient`'s archived records as `reader`: only those the rule allows, and the read (and
/// any refusal) logged.
pub async fn read_patient_records(
    archive: &Archive,
    consortium: &Consortium,
    log: &AccessLog,
    reader: &Reader,
    patient: Address,
) -> Result<ScreenedRecords, AccessError> {
    let records = archive.records_of_patient(patient).await?;
    screen_records(consortium, log, reader, patient, records).await
}

/// Applies the rule to `records` (all `patient`'s, read already) for `reader`, and logs one entry
/// for what was shown and one for what was withheld.
pub async fn screen_records(
    consortium: &Consortium,
    log: &AccessLog,
    reader: &Reader,
    patient: Address,
    records: Vec<ArchivedRecord>,
) -> Result<ScreenedRecords, AccessError> {
    let rules = decide_reads(consortium, log, reader, patient, &records).await?;
    let mut screened = ScreenedRecords::default();
    for (record, rule) in records.into_iter().zip(rules) {
        match rule {
            Some(rule) => screened.allowed.push((record, rule)),
            None => screened.withheld.push(record.entry_id),
        }
    }
    Ok(screened)
}

/// The rule for each of `records` (all `patient`'s, borrowed, e.g. from a cache) for `reader`:
/// `None` where it may not read. Logs one entry for what it may read and one for what it may
/// not; nothing when there are no records. The chain is asked about a grant only when another
/// rule does not allow.
pub async fn decide_reads(
    consortium: &Consortium,
    log: &AccessLog,
    reader: &Reader,
    patient: Address,
    records: &[ArchivedRecord],
) -> Result<Vec<Option<ReadRule>>, AccessError> {
    let parties: Vec<RecordParties> = records.iter().map(RecordParties::of_archived).collect();
    let granted = needs_grant_check(reader.account, &parties) && consortium.has_access(patient, reader.account).await?;
    let rules: Vec<Option<ReadRule>> = parties.iter().map(|p| read_rule(reader.account, p, granted)).collect();
    let (mut shown, mut refused) = (Vec::new(), Vec::new());
    for (record, rule) in records.iter().zip(&rules) {
        match rule {
            Some(rule) => shown.push(logged(record, Some(*rule))),
            None => refused.push(logged(record, None)),
        }
    }
    for (outcome, records) in [(AccessOutcome::Allowed, shown), (AccessOutcome::Denied, refused)] {
        if !records.is_empty() {
            log.append(&event(reader, patient, outcome, records)).await?;
        }
    }
    Ok(rules)
}

/// One archived record asked for by entry id.
#[derive(Debug, Clone)]
pub enum RecordRead {
    Allowed(Box<ArchivedRecord>, ReadRule),
    /// The record exists but the rule does not let this reader see it (logged).
    Denied,
    /// No such archived record.
    NotArchived,
}

/// Reads one archived record as `reader`, logging the read or the refusal.
pub async fn read_archived_record(
    archive: &Archive,
    consortium: &Consortium,
    log: &AccessLog,
    reader: &Reader,
    entry_id: u64,
) -> Result<RecordRead, AccessError> {
    let deployment = consortium.deployment();
    let Some(record) = archive.archived_entry(deployment.chain_id, deployment.address, entry_id).await? else {
        return Ok(RecordRead::NotArchived);
    };
    let patient = record.patient.parse().unwrap_or_default();
    let mut screened = screen_records(consortium, log, reader, patient, vec![record]).await?;
    Ok(match screened.allowed.pop() {
        Some((record, rule)) => RecordRead::Allowed(Box::new(record), rule),
        None => RecordRead::Denied,
    })
}

/// Logs a read of a record that is not archived (a sealed entry opened from the chain):
/// `rule` is what allowed it, or `None` for a refusal.
pub async fn log_entry_read(
    log: &AccessLog,
    reader: &Reader,
    parties: &RecordParties,
    record: String,
    entry_id: u64,
    rule: Option<ReadRule>,
) -> Result<AccessLogEntry, AccessError> {
    let outcome = if rule.is_some() { AccessOutcome::Allowed } else { AccessOutcome::Denied };
    let records = vec![LoggedRecord { record, entry_id: entry_id as i64, rule }];
    Ok(log.append(&event(reader, parties.patient, outcome, records)).await?)
}

fn logged(record: &ArchivedRecord, rule: Option<ReadRule>) -> LoggedRecord {
    LoggedRecord { record: record.id.clone(), entry_id: record.entry_id, rule }
}

fn event(reader: &Reader, patient: Address, outcome: AccessOutcome, records: Vec<LoggedRecord>) -> AccessEvent {
    AccessEvent {
        reader: reader.account,
        user: reader.user.clone(),
        action: reader.action.clone(),
        patient,
        outcome,
        records,
    }
}

/// Page `page` of a patient's access history (every read by anyone but the patient, and every
/// refusal), newest first, fifty a page. `accounts`: the patient's account of now, then those
/// their guardians moved them from.
pub async fn history_page(
    log: &AccessLog,
    accounts: &[Address],
    page: usize,
) -> Result<Paged<AccessLogEntry>, StoreError> {
    let total = log.count_reads_by_others(accounts).await? as usize;
    let (page, skip) = page_window(total, page);
    let items = log.reads_by_others_from(accounts, skip as u64, PAGE_SIZE as i64).await?;
    Ok(Paged::fetched(items, total, page))
}
