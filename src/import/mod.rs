//! Importing a lab system's export: rows read and validated whole ([`source`]), sealed and
//! submitted in batches, several batches in flight, every step written to a journal first
//! ([`journal`]) so that a rerun after a crash submits each remaining row once and none twice.

pub mod journal;
pub mod source;

use std::collections::{BTreeMap, HashMap, VecDeque};

use alloy::primitives::{Address, B256};
use serde::Serialize;

pub use journal::{ImportIdentity, ImportJournal, JournalError, journal_path};
pub use source::{CSV_COLUMNS, ImportRow, ParsedSource, RowProblem, SourceFormat, read_source};

use crate::chain::outbox::{FeeCaps, TransactionFate};
use crate::chain::{ChainError, Consortium, EntryKind, SealedSubmission, submitted_entry_ids};
use crate::exchange::deliver;
use crate::records::envelope::EnvelopeRecipient;
use crate::store::{Archive, EnvelopeSource};
use crate::submission::{SubmissionError, gather_recipients, seal};
use alloy::signers::local::PrivateKeySigner;
use journal::{ConfirmedBatch, SentBatch};

/// Most calldata one batch may carry. Geth refuses transactions over 128 KiB; this leaves room.
const MAX_BATCH_CALLDATA: usize = 100_000;
/// Calldata per record: its patient, commitment and envelope digest, a word each.
const CALLDATA_PER_RECORD: usize = 3 * 32;

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Submission(#[from] SubmissionError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Exchange(#[from] crate::exchange::ExchangeError),
    #[error("the batch of lines {lines} was refused: {source}")]
    Refused { lines: String, source: ChainError },
    #[error(
        "the batch of lines {lines} was mined in transaction {tx_hash} but reverted, so none of its rows is on chain; run the same command again to send them again"
    )]
    Reverted { lines: String, tx_hash: B256 },
    #[error(
        "the batch of lines {lines} was replaced by another transaction from this account, so none of its rows is on chain; run the same command again to send them again"
    )]
    Replaced { lines: String },
}

/// How an import sends.
#[derive(Debug, Clone, Copy)]
pub struct ImportSettings {
    /// Most records per transaction; fewer when a batch would not fit a block or a transaction.
    pub batch_size: usize,
    /// Batches broadcast before waiting for the oldest one's receipt.
    pub in_flight: usize,
}

impl Default for ImportSettings {
    fn default() -> Self {
        Self { batch_size: 50, in_flight: 4 }
    }
}

/// What an import reports as it goes.
#[derive(Debug, Clone)]
pub enum ImportProgress {
    /// Rows an earlier run of the same import had already sent.
    Resumed {
        rows: usize,
    },
    /// The rows this run is to send.
    Planned {
        rows: usize,
    },
    BatchSent {
        batch: u64,
        rows: usize,
    },
    BatchConfirmed {
        batch: u64,
        rows: usize,
        gas_used: u64,
    },
}

/// A row on chain.
#[derive(Debug, Clone, Serialize)]
pub struct ImportedRow {
    pub line: usize,
    pub patient: Address,
    pub entry_id: u64,
    pub batch: u64,
    pub tx_hash: B256,
    pub block: u64,
}

/// What an import did, earlier runs included.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// Every row on chain, by line.
    pub rows: Vec<ImportedRow>,
    pub batches: usize,
    pub gas_used: u64,
    /// Rows sent by earlier runs of the same import.
    pub from_earlier_runs: usize,
    /// Rows sent by this run.
    pub sent_now: usize,
}

impl ImportReport {
    /// Average gas per row.
    pub fn gas_per_row(&self) -> u64 {
        self.gas_used / self.rows.len().max(1) as u64
    }
}

/// Reads a file's text, checks every row (and on chain every patient), and returns the rows that
/// can be sent beside the problems of the others, by line.
pub async fn read_and_check(
    consortium: &Consortium,
    text: &str,
    format: SourceFormat,
    kind: EntryKind,
    resolve: &dyn Fn(&str) -> Result<Address, String>,
) -> Result<ParsedSource, ImportError> {
    let parsed = read_source(text, format, kind, resolve);
    let mut problems = parsed.problems;
    problems.extend(check_patients(consortium, kind, &parsed.rows).await?);
    problems.sort_by_key(|p| p.line);
    let rows = parsed.rows.into_iter().filter(|r| !problems.iter().any(|p| p.line == r.line)).collect();
    Ok(ParsedSource { rows, problems })
}

/// Reads a FHIR R4 Bundle of Observations ([`crate::fhir::read_observations`]): each set of
/// readings becomes a row, "line" being the Bundle entry it starts at. A set's patient is matched
/// by their account identifier (through `resolve`), or by this hospital's medical record number
/// in its directory, where they must be enrolled. Then every row is checked as
/// [`read_and_check`] does.
pub async fn read_and_check_fhir(
    consortium: &Consortium,
    archive: &Archive,
    text: &str,
    resolve: &dyn Fn(&str) -> Result<Address, String>,
) -> Result<ParsedSource, ImportError> {
    let read = crate::fhir::read_observations(text, &crate::fhir::mrn_system(consortium.sender()));
    let mut parsed = ParsedSource::default();
    for found in read.problems {
        parsed.problems.push(RowProblem { line: found.entry, column: found.field, problem: found.problem });
    }
    for set in read.sets {
        let patient = match &set.patient {
            crate::fhir::FhirPatient::Account(account) => resolve(account),
            crate::fhir::FhirPatient::Mrn(mrn) => match archive.directory_patient(mrn).await? {
                Some(known) => known.account.ok_or_else(|| {
                    format!("medical record number {mrn} is in this hospital's directory but not enrolled: enroll the patient first")
                }),
                None => Err(format!("no patient with medical record number {mrn} in this hospital's directory")),
            },
        };
        let record = crate::records::Record::Health(set.details);
        match (patient, record.validate()) {
            (Ok(patient), Ok(())) => parsed.rows.push(ImportRow { line: set.entry, patient, record }),
            (patient, checked) => {
                if let Err(why) = patient {
                    parsed.problems.push(RowProblem { line: set.entry, column: "patient".into(), problem: why });
                }
                if let Err(error) = checked {
                    let column = error.field().unwrap_or("-").to_string();
                    parsed.problems.push(RowProblem { line: set.entry, column, problem: error.to_string() });
                }
            }
        }
    }
    parsed.problems.extend(check_patients(consortium, EntryKind::Health, &parsed.rows).await?);
    parsed.problems.sort_by_key(|p| p.line);
    let problems = &parsed.problems;
    parsed.rows.retain(|r| !problems.iter().any(|p| p.line == r.line));
    Ok(parsed)
}

impl ImportIdentity {
    /// The identity of an import of `source_bytes` (named `source_file`) by the consortium's
    /// signer.
    pub fn of(source_file: String, source_bytes: &[u8], kind: EntryKind, consortium: &Consortium) -> Self {
        use sha2::{Digest, Sha256};
        Self {
            source_file,
            source_sha256: alloy::primitives::hex::encode(Sha256::digest(source_bytes)),
            kind: kind.as_str().to_string(),
            chain_id: consortium.connection().chain_id(),
            contract: consortium.deployment().address,
            submitter: consortium.sender(),
        }
    }
}

/// Dry-runs a submission for every distinct patient of `rows`, so that patients who cannot
/// receive records (no published key, or a hospital) are reported per row before anything is
/// sent. A refusal that is about the submitter (not a hospital, no panel) is an error.
pub async fn check_patients(
    consortium: &Consortium,
    kind: EntryKind,
    rows: &[ImportRow],
) -> Result<Vec<RowProblem>, ImportError> {
    let mut verdicts: HashMap<Address, Option<String>> = HashMap::new();
    for row in rows {
        if verdicts.contains_key(&row.patient) {
            continue;
        }
        let verdict = match consortium.check_submission(kind, row.patient).await {
            Ok(()) => None,
            Err(ChainError::Reverted { name: "PatientKeyNotPublished" | "PatientIsParticipant", message }) => {
                Some(message)
            }
            Err(other) => return Err(other.into()),
        };
        verdicts.insert(row.patient, verdict);
    }
    Ok(rows
        .iter()
        .filter_map(|row| {
            let problem = verdicts.get(&row.patient)?.clone()?;
            Some(RowProblem { line: row.line, column: "patient".into(), problem })
        })
        .collect())
}

/// Where an import keeps its envelopes and who signs its pushes: the submitting hospital.
pub struct ImportParty<'a> {
    pub archive: &'a Archive,
    pub signer: &'a PrivateKeySigner,
}

/// Submits `rows` of `kind` as the consortium's signer, resuming the import `journal` records.
/// Each envelope is stored in the archive before its batch is journaled and sent; each confirmed
/// batch's envelopes are pushed to the panel's servers (a failed push is queued for the follower).
pub async fn import_rows(
    consortium: &Consortium,
    party: &ImportParty<'_>,
    kind: EntryKind,
    rows: &[ImportRow],
    journal: &mut ImportJournal,
    settings: ImportSettings,
    on_progress: &mut dyn FnMut(ImportProgress),
) -> Result<ImportReport, ImportError> {
    settle_earlier_run(consortium, party, journal).await?;
    let claimed = journal.claimed_lines();
    let earlier = rows.iter().filter(|r| claimed.contains(&r.line)).count();
    if earlier > 0 {
        on_progress(ImportProgress::Resumed { rows: earlier });
    }
    let to_send: Vec<&ImportRow> = rows.iter().filter(|r| !claimed.contains(&r.line)).collect();
    on_progress(ImportProgress::Planned { rows: to_send.len() });
    if !to_send.is_empty() {
        let mut sender = BatchSender::new(consortium, party.archive, kind).await?;
        let mut in_flight: VecDeque<SentBatch> = VecDeque::new();
        let mut start = 0;
        while start < to_send.len() {
            let end = (start + settings.batch_size.max(1)).min(to_send.len());
            let batch = sender.send_next(&to_send[start..end], journal).await?;
            start += batch.lines.len();
            on_progress(ImportProgress::BatchSent { batch: batch.batch, rows: batch.lines.len() });
            in_flight.push_back(batch);
            if in_flight.len() >= settings.in_flight.max(1) {
                let oldest = in_flight.pop_front().expect("one is in flight");
                settle(consortium, journal, &oldest, on_progress).await?;
            }
        }
        while let Some(oldest) = in_flight.pop_front() {
            settle(consortium, journal, &oldest, on_progress).await?;
        }
    }
    // Pushed once every batch is mined, so that pushing never holds up the batches in flight.
    deliver_confirmed(consortium, party, journal).await?;
    Ok(report(rows, journal, earlier))
}

/// Seals rows and sends them as batches with consecutive nonces.
struct BatchSender<'a> {
    consortium: &'a Consortium,
    archive: &'a Archive,
    kind: EntryKind,
    nonce: u64,
    fees: FeeCaps,
    /// Most gas one batch may use: half a block, so a batch always fits beside others.
    gas_budget: u64,
    recipients: HashMap<Address, Vec<EnvelopeRecipient>>,
}

impl<'a> BatchSender<'a> {
    async fn new(consortium: &'a Consortium, archive: &'a Archive, kind: EntryKind) -> Result<Self, ImportError> {
        Ok(Self {
            consortium,
            archive,
            kind,
            nonce: consortium.next_nonce(true).await?,
            fees: consortium.fee_caps().await?,
            gas_budget: consortium.block_gas_limit().await? / 2,
            recipients: HashMap::new(),
        })
    }

    /// Seals, signs, journals and broadcasts a batch of the first of `rows`: all of them, or as
    /// many as fit a transaction and the gas budget.
    async fn send_next(&mut self, rows: &[&ImportRow], journal: &mut ImportJournal) -> Result<SentBatch, ImportError> {
        let mut sealed = Vec::with_capacity(rows.len());
        let mut envelopes = Vec::with_capacity(rows.len());
        let mut calldata = 0;
        for row in rows {
            if !self.recipients.contains_key(&row.patient) {
                let recipients = gather_recipients(self.consortium, row.patient).await?;
                self.recipients.insert(row.patient, recipients);
            }
            let record = seal(&row.record, &self.recipients[&row.patient])?;
            calldata += CALLDATA_PER_RECORD;
            if calldata > MAX_BATCH_CALLDATA && !sealed.is_empty() {
                break;
            }
            sealed.push(SealedSubmission {
                patient: row.patient,
                commitment: record.commitment,
                envelope_digest: record.envelope_digest,
            });
            envelopes.push(record.envelope);
        }
        // Halve the batch until it fits the gas budget. A batch larger than a whole block does not
        // estimate high: the node refuses to estimate it, so that refusal halves it too, unless
        // the contract itself refused (a record is invalid) or the node is gone.
        let gas = loop {
            match self.consortium.estimate_batch_gas(self.kind, &sealed).await {
                Ok(gas) if gas <= self.gas_budget || sealed.len() == 1 => break gas,
                Err(source @ (ChainError::Reverted { .. } | ChainError::Unreachable { .. })) => {
                    let lines = describe_lines(rows[..sealed.len()].iter().map(|r| r.line));
                    return Err(ImportError::Refused { lines, source });
                }
                Err(source) if sealed.len() == 1 => {
                    return Err(ImportError::Refused { lines: rows[0].line.to_string(), source });
                }
                Ok(_) | Err(_) => sealed.truncate(sealed.len() / 2),
            }
        };
        // Kept before the batch is journaled and sent, in one write: every entry it creates can be
        // opened. Only the rows the batch kept: the others are sealed anew for a later batch.
        let stored: Vec<&[u8]> = envelopes[..sealed.len()].iter().map(Vec::as_slice).collect();
        self.archive.store_envelopes(&stored, &EnvelopeSource::SealedHere).await?;
        // Head room as for single transactions: an estimate can come from a node a block behind.
        let transaction = self.consortium.sign_batch(self.kind, &sealed, self.nonce, gas + gas / 4, self.fees).await?;
        let batch = SentBatch {
            batch: journal.next_batch_number(),
            lines: rows[..sealed.len()].iter().map(|r| r.line).collect(),
            transaction,
        };
        journal.record_sent(batch.clone())?;
        self.consortium.broadcast(&batch.transaction).await?;
        self.nonce += 1;
        Ok(batch)
    }
}

/// Sends again what an earlier run broadcast (or was about to) and waits for each to be mined
/// or dropped; a dropped batch's rows are sent again later.
async fn settle_earlier_run(
    consortium: &Consortium,
    party: &ImportParty<'_>,
    journal: &mut ImportJournal,
) -> Result<(), ImportError> {
    deliver_confirmed(consortium, party, journal).await?;
    let unsettled = journal.unsettled();
    for batch in &unsettled {
        consortium.broadcast(&batch.transaction).await?;
    }
    for batch in &unsettled {
        match consortium.await_fate(&batch.transaction).await? {
            TransactionFate::Mined(receipt) if receipt.status() => confirm(journal, batch, &receipt)?,
            TransactionFate::Mined(_) | TransactionFate::Dropped => journal.record_dropped(batch.batch)?,
        }
    }
    Ok(())
}

/// Waits for one batch of this run and journals what became of it.
async fn settle(
    consortium: &Consortium,
    journal: &mut ImportJournal,
    batch: &SentBatch,
    on_progress: &mut dyn FnMut(ImportProgress),
) -> Result<(), ImportError> {
    let lines = || describe_lines(batch.lines.iter().copied());
    match consortium.await_fate(&batch.transaction).await? {
        TransactionFate::Mined(receipt) if receipt.status() => {
            confirm(journal, batch, &receipt)?;
            on_progress(ImportProgress::BatchConfirmed {
                batch: batch.batch,
                rows: batch.lines.len(),
                gas_used: receipt.gas_used,
            });
            Ok(())
        }
        TransactionFate::Mined(receipt) => {
            journal.record_dropped(batch.batch)?;
            Err(ImportError::Reverted { lines: lines(), tx_hash: receipt.transaction_hash })
        }
        TransactionFate::Dropped => {
            journal.record_dropped(batch.batch)?;
            Err(ImportError::Replaced { lines: lines() })
        }
    }
}

/// Journals a mined batch (its envelopes are pushed once every batch is mined).
fn confirm(
    journal: &mut ImportJournal,
    batch: &SentBatch,
    receipt: &alloy::rpc::types::TransactionReceipt,
) -> Result<(), ImportError> {
    let confirmed = ConfirmedBatch {
        batch: batch.batch,
        tx_hash: receipt.transaction_hash,
        block: receipt.block_number.unwrap_or_default(),
        gas_used: receipt.gas_used,
        entry_ids: submitted_entry_ids(receipt),
    };
    journal.record_confirmed(confirmed)?;
    Ok(())
}

/// Pushes the envelopes of every confirmed batch not journaled as delivered to the panel, then
/// journals each: at the end of an import, and at the start of a rerun after a crash.
async fn deliver_confirmed(
    consortium: &Consortium,
    party: &ImportParty<'_>,
    journal: &mut ImportJournal,
) -> Result<(), ImportError> {
    for batch in journal.undelivered() {
        let submissions = consortium.submissions_of(&batch.entry_ids, batch.block).await?;
        let mut entries: Vec<_> = submissions.into_values().collect();
        entries.sort_unstable_by_key(|s| s.id);
        deliver(consortium, party.archive, party.signer, &entries).await?;
        journal.record_delivered(batch.batch)?;
    }
    Ok(())
}

fn report(rows: &[ImportRow], journal: &ImportJournal, from_earlier_runs: usize) -> ImportReport {
    let patients: HashMap<usize, Address> = rows.iter().map(|r| (r.line, r.patient)).collect();
    let mut imported = BTreeMap::new();
    let (mut batches, mut gas_used) = (0, 0);
    for batch in journal.confirmed() {
        batches += 1;
        gas_used += batch.gas_used;
        for (line, entry_id) in journal.lines_of(batch.batch).iter().zip(&batch.entry_ids) {
            imported.insert(
                *line,
                ImportedRow {
                    line: *line,
                    patient: patients.get(line).copied().unwrap_or_default(),
                    entry_id: *entry_id,
                    batch: batch.batch,
                    tx_hash: batch.tx_hash,
                    block: batch.block,
                },
            );
        }
    }
    let rows: Vec<ImportedRow> = imported.into_values().collect();
    let sent_now = rows.len().saturating_sub(from_earlier_runs);
    ImportReport { rows, batches, gas_used, from_earlier_runs, sent_now }
}

/// Lines as people read them: `2-5, 9`.
pub fn describe_lines(lines: impl IntoIterator<Item = usize>) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for line in lines {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == line => *end = line,
            _ => ranges.push((line, line)),
        }
    }
    let parts: Vec<String> =
        ranges.iter().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::describe_lines;

    #[test]
    fn lines_read_as_ranges() {
        assert_eq!(describe_lines([2, 3, 4, 5, 9, 11, 12]), "2-5, 9, 11-12");
        assert_eq!(describe_lines([7]), "7");
        assert_eq!(describe_lines([]), "");
    }
}
