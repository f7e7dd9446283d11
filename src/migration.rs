//! Migration of approved entries into the archive: idempotent and resumable.
//!
//! Migration reads `EntryApproved` events from the saved checkpoint up to the head (less
//! `confirmations`), in block batches. For each approved entry it finds the envelope named by the
//! submission event's digest (in this hospital's database, else pulled from the submitter's
//! server), opens it with the migrating account's key, checks the plaintext against the on-chain
//! commitment, and inserts the record unless it is already archived. Entries whose patient asked
//! for their erasure are never archived (again). The checkpoint
//! moves past a batch only after the batch's records are durably written, so a crash loses
//! nothing and a rerun duplicates nothing (a record's `_id` names its entry, and an insert never
//! overwrites).
//! Entries that cannot be migrated are reported with the reason and kept in the checkpoint, to
//! be retried by every later run.
//!
//! Reorganisations: the checkpoint remembers the hashes of blocks it read. Each run first checks
//! the newest against the chain; when it differs, the run finds the newest remembered block the
//! chain still has (the common ancestor), moves every archived record whose approval is no longer
//! on the canonical chain into `orphaned_records` (nothing is deleted), and reads again from the
//! ancestor, so an approval that reappears in another block is archived again with its new
//! provenance.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use mongodb::bson::{self, Bson};
use serde::Serialize;

use crate::chain::recovery::RecoveryMap;
use crate::chain::{Approval, ChainError, Confirmations, ConfirmedHead, Consortium, DeploymentRecord, Submission};
use crate::exchange::{EnvelopeFinder, ExchangeError};
use crate::records::RecipientKey;
use crate::store::archive::{archive_id, hex_address};
use crate::store::checkpoint::{FailedEntry, common_ancestor};
use crate::store::{Archive, ArchivedRecord, MigrationCheckpoint, Provenance, RecordCollection, StoreError};
use crate::submission::{SubmissionError, open_submission_as, recipient_key};

/// How migration runs.
#[derive(Debug, Clone)]
pub struct MigrationOptions {
    /// How far behind the head to read, so that blocks likely to be reorganised are not archived.
    pub confirmations: Confirmations,
    /// Blocks per `eth_getLogs` query.
    pub batch_blocks: u64,
    /// Records per database write.
    pub write_chunk: usize,
    /// Test-only: stop (as if crashed) right after this many records were written.
    pub abort_after_writes: Option<usize>,
    /// The migrating hospital's keys with the sealing keys it rotated to
    /// (`SealingKeyStore::recipient_key`); `None`: its account key alone.
    pub recipient_key: Option<RecipientKey>,
}

impl Default for MigrationOptions {
    fn default() -> Self {
        Self {
            confirmations: Confirmations::Auto,
            batch_blocks: 5_000,
            write_chunk: 500,
            abort_after_writes: None,
            recipient_key: None,
        }
    }
}

/// Why migration stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    #[error("stopped on purpose after {0} writes (HRM_TEST_ABORT_AFTER_WRITES); the checkpoint was not advanced")]
    AbortedForTest(usize),
}

/// What one migration run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MigrationReport {
    pub chain_id: u64,
    pub contract: Address,
    /// First and last block read this run (`from > to` when there was nothing new).
    pub from_block: u64,
    pub to_block: u64,
    /// No block was confirmed since the checkpoint, so none was read (failed entries may still
    /// have been retried).
    pub nothing_new: bool,
    /// The head and the rule that chose `to_block`.
    pub confirmed: Option<ConfirmedHead>,
    /// The reorganisation this run found and repaired, if any.
    pub reorganisation: Option<Reorganisation>,
    /// Records archived by this run.
    pub migrated: usize,
    /// Approved entries found already archived.
    pub already_present: usize,
    /// Approved entries passed over because their patient asked for their erasure.
    pub erasure_requested: usize,
    /// Entries that could not be migrated, with the reason.
    pub failed: Vec<FailedMigration>,
    /// From the first log query to the last write.
    #[serde(serialize_with = "crate::serialize::duration_as_seconds")]
    pub elapsed: Duration,
}

impl MigrationReport {
    /// The first and last block this run read; `None` when nothing new was confirmed since the
    /// checkpoint.
    pub fn blocks_read(&self) -> Option<(u64, u64)> {
        (!self.nothing_new).then_some((self.from_block, self.to_block))
    }

    /// The last block an earlier run had read, for saying "nothing new since".
    pub fn read_before(&self) -> u64 {
        self.from_block.saturating_sub(1)
    }
}

/// A reorganisation migration found: where the chain parted from what was read, and the records
/// whose approval went with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reorganisation {
    /// The newest block read before, whose hash the chain no longer has.
    pub last_block_read: u64,
    /// The newest block read before that the chain still has; reading starts again after it.
    pub common_ancestor: u64,
    /// Blocks read again.
    pub depth: u64,
    /// Records moved to `orphaned_records`.
    pub orphaned: Vec<OrphanedEntry>,
}

/// An archived record moved out because its approval is no longer on the canonical chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrphanedEntry {
    pub entry_id: u64,
    pub approval_block: u64,
    pub approval_tx: String,
}

/// An approved entry that could not be migrated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedMigration {
    pub entry_id: u64,
    pub reason: String,
}

/// Progress, reported after each batch.
#[derive(Debug, Clone, Copy)]
pub struct MigrationProgress {
    pub from_block: u64,
    pub to_block: u64,
    /// Last block read so far.
    pub scanned_to: u64,
    pub migrated: usize,
    pub already_present: usize,
    pub failed: usize,
}

/// Migrates every approved entry not yet archived. `progress` is called after each batch.
pub async fn migrate(
    consortium: &Consortium,
    archive: &Archive,
    signer: &PrivateKeySigner,
    options: &MigrationOptions,
    mut progress: impl FnMut(MigrationProgress),
) -> Result<MigrationReport, MigrationError> {
    let deployment = consortium.deployment().clone();
    archive.ensure_indexes().await?;
    let mut checkpoint = archive
        .checkpoint(deployment.chain_id, deployment.address)
        .await?
        .unwrap_or_else(|| MigrationCheckpoint::new(deployment.chain_id, deployment.address, deployment.deploy_block));

    let reorganisation = rewind_after_reorganisation(consortium, archive, &mut checkpoint).await?;
    let erasures = consortium.erasure_ledger(None).await?;
    // Records are filed under the account that speaks for the patient now.
    let recoveries = std::sync::Arc::new(RecoveryMap::new(&consortium.recoveries().await?));
    let confirmed = consortium.confirmed_head(options.confirmations).await?;
    // The figure the benchmark reports: from the first log query to the last write.
    let started = Instant::now();
    let target = confirmed.confirmed;
    let from = checkpoint.next_block as u64;
    let mut report = MigrationReport {
        chain_id: deployment.chain_id,
        contract: deployment.address,
        from_block: from,
        to_block: target,
        nothing_new: from > target,
        confirmed: Some(confirmed),
        reorganisation,
        ..Default::default()
    };
    let mut run = RunProgress { recoveries, ..Default::default() };

    // Entries that failed before are retried first, from their approval events.
    let mut retries = Vec::new();
    for failed in std::mem::take(&mut checkpoint.failed) {
        let id = failed.entry_id as u64;
        let approvals =
            consortium.approvals_between(failed.approval_block as u64, failed.approval_block as u64).await?;
        retries.extend(approvals.into_iter().filter(|a| a.id == id));
    }

    let mut batch_from = from;
    loop {
        let in_range = batch_from <= target;
        let batch_to =
            if in_range { target.min(batch_from.saturating_add(options.batch_blocks.max(1) - 1)) } else { target };
        let mut approvals = std::mem::take(&mut retries);
        if in_range {
            approvals.extend(consortium.approvals_between(batch_from, batch_to).await?);
        }
        let before = approvals.len();
        approvals.retain(|a| !erasures.requested(a.id));
        report.erasure_requested += before - approvals.len();
        // Everything an approval up to `target` refers to was mined by `target`.
        let outcome = archive_batch(consortium, archive, signer, &approvals, target, options, &mut run).await?;
        report.migrated += outcome.migrated;
        report.already_present += outcome.already_present;
        for (approval, reason) in outcome.failed {
            checkpoint.failed.push(FailedEntry {
                entry_id: approval.id as i64,
                approval_block: approval.block as i64,
                reason: reason.clone(),
            });
            report.failed.push(FailedMigration { entry_id: approval.id, reason });
        }
        if in_range {
            checkpoint.next_block = (batch_to + 1) as i64;
            if let Some(hash) = consortium.block_hash(batch_to).await? {
                checkpoint.remember(batch_to, hash);
            }
        }
        archive.save_checkpoint(&checkpoint).await?;
        progress(MigrationProgress {
            from_block: from,
            to_block: target,
            scanned_to: batch_to,
            migrated: report.migrated,
            already_present: report.already_present,
            failed: report.failed.len(),
        });
        if !in_range || batch_to >= target {
            break;
        }
        batch_from = batch_to + 1;
    }
    report.elapsed = started.elapsed();
    let metrics = crate::metrics::metrics();
    metrics.records_migrated.inc_by(report.migrated as u64);
    metrics.records_failed.inc_by(report.failed.len() as u64);
    Ok(report)
}

/// Checks the newest block read against the chain; after a reorganisation, orphans the records
/// whose approval the chain lost and rewinds the checkpoint (saved before anything else moves).
async fn rewind_after_reorganisation(
    consortium: &Consortium,
    archive: &Archive,
    checkpoint: &mut MigrationCheckpoint,
) -> Result<Option<Reorganisation>, MigrationError> {
    let Some(newest) = checkpoint.recent_blocks.last().cloned() else {
        return Ok(None);
    };
    let last_block_read = newest.number as u64;
    if consortium.block_hash(last_block_read).await?.is_some_and(|h| h.to_string() == newest.hash) {
        return Ok(None);
    }
    let mut canonical = HashMap::new();
    for mark in &checkpoint.recent_blocks {
        if let Some(hash) = consortium.block_hash(mark.number as u64).await? {
            canonical.insert(mark.number as u64, hash);
        }
    }
    let deployment = consortium.deployment();
    let ancestor = common_ancestor(&checkpoint.recent_blocks, &canonical)
        .unwrap_or_else(|| deployment.deploy_block.saturating_sub(1));

    // An archived record stands if the chain still holds its approval: the same transaction in
    // the same block.
    let head = consortium.head_block().await?;
    let standing: HashSet<(u64, String, u64)> = consortium
        .all_approvals_between(ancestor + 1, head)
        .await?
        .into_iter()
        .map(|a| (a.id, a.tx_hash.to_string(), a.block))
        .collect();
    let mut orphaned = Vec::new();
    for record in archive.records_approved_after(deployment.chain_id, deployment.address, ancestor).await? {
        let (entry_id, block) = (record.entry_id as u64, record.approval.block as u64);
        if standing.contains(&(entry_id, record.approval.tx_hash.clone(), block)) {
            continue;
        }
        let reason = format!(
            "its approval (block {block}, transaction {}) is no longer on the canonical chain, which parted after block {ancestor}",
            record.approval.tx_hash
        );
        archive.orphan_record(&record, &reason, ancestor).await?;
        orphaned.push(OrphanedEntry { entry_id, approval_block: block, approval_tx: record.approval.tx_hash });
    }
    checkpoint.rewind_to(ancestor);
    archive.save_checkpoint(checkpoint).await?;
    Ok(Some(Reorganisation { last_block_read, common_ancestor: ancestor, depth: last_block_read - ancestor, orphaned }))
}

/// What a run carries from one block batch to the next.
#[derive(Debug, Default)]
struct RunProgress {
    /// Records sent to the database so far (for `abort_after_writes`).
    writes: usize,
    floors: SubmissionFloors,
    /// Patients' moves to new accounts, read once per run.
    recoveries: std::sync::Arc<RecoveryMap>,
}

struct BatchOutcome {
    migrated: usize,
    already_present: usize,
    failed: Vec<(Approval, String)>,
}

/// One chunk's approvals with what opening them needs, read from the chain and the database.
struct FetchedChunk {
    approvals: Vec<Approval>,
    submissions: HashMap<u64, Submission>,
    voters: HashMap<u64, Vec<Address>>,
    envelopes: HashMap<u64, Result<Vec<u8>, ExchangeError>>,
}

/// One chunk's records, opened and checked, grouped by the collection they go to.
struct OpenedChunk {
    records: Vec<(RecordCollection, Vec<ArchivedRecord>)>,
    failed: Vec<(Approval, String)>,
}

/// A chunk being written: how many records it holds, and the write's count of new ones.
type ChunkWrite = (usize, tokio::task::JoinHandle<Result<usize, StoreError>>);

/// Archives `approvals` in chunks of `options.write_chunk`, in three overlapping stages: chunk
/// `k + 2` is read (its events and envelopes) while chunk `k + 1` is opened on a blocking thread
/// (decryption and the commitment check) and chunk `k` is written. The database server then
/// reads and writes without waiting for hrm's decryption, and hrm decrypts while the server
/// works, so a chunk takes about as long as the slower of the two rather than their sum.
async fn archive_batch(
    consortium: &Consortium,
    archive: &Archive,
    signer: &PrivateKeySigner,
    approvals: &[Approval],
    up_to_block: u64,
    options: &MigrationOptions,
    run: &mut RunProgress,
) -> Result<BatchOutcome, MigrationError> {
    let mut outcome = BatchOutcome { migrated: 0, already_present: 0, failed: Vec::new() };
    let mut opening: Option<tokio::task::JoinHandle<OpenedChunk>> = None;
    let mut writing: Option<ChunkWrite> = None;
    let mut chunks = approvals.chunks(options.write_chunk.max(1));
    let key = options.recipient_key.clone().unwrap_or_else(|| recipient_key(signer));
    loop {
        let fetched = match chunks.next() {
            Some(chunk) => Some(fetch_chunk(consortium, archive, signer, chunk, up_to_block, &mut run.floors).await),
            None => None,
        };
        if let Some(opened) = opening.take() {
            let opened = opened.await.unwrap_or_else(|joined| std::panic::resume_unwind(joined.into_panic()));
            // The write in flight finishes (and is counted) before the next starts or anything fails.
            if let Some(write) = writing.take() {
                finish_write(write, &mut outcome).await?;
            }
            let write = start_write(archive, opened, options, &mut run.writes, &mut outcome);
            if options.abort_after_writes.is_some_and(|limit| run.writes >= limit) {
                finish_write(write, &mut outcome).await?;
                return Err(MigrationError::AbortedForTest(run.writes));
            }
            writing = Some(write);
        }
        let Some(fetched) = fetched else { break };
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(error) => {
                if let Some(write) = writing.take() {
                    finish_write(write, &mut outcome).await?;
                }
                return Err(error);
            }
        };
        let (deployment, key, recoveries) = (consortium.deployment().clone(), key.clone(), run.recoveries.clone());
        opening = Some(tokio::task::spawn_blocking(move || open_chunk(fetched, &deployment, &key, &recoveries)));
    }
    if let Some(write) = writing {
        finish_write(write, &mut outcome).await?;
    }
    Ok(outcome)
}

/// Starts writing an opened chunk (cut short for `abort_after_writes`); its failures are counted
/// now.
fn start_write(
    archive: &Archive,
    mut opened: OpenedChunk,
    options: &MigrationOptions,
    writes: &mut usize,
    outcome: &mut BatchOutcome,
) -> ChunkWrite {
    outcome.failed.append(&mut opened.failed);
    let mut records = opened.records;
    if let Some(limit) = options.abort_after_writes {
        let mut allowed = limit.saturating_sub(*writes);
        for (_, group) in &mut records {
            group.truncate(allowed);
            allowed -= group.len();
        }
    }
    let count: usize = records.iter().map(|(_, group)| group.len()).sum();
    *writes += count;
    (count, tokio::spawn(write_chunk(archive.clone(), records)))
}

/// Writes one chunk's records; returns how many were new.
async fn write_chunk(
    archive: Archive,
    records: Vec<(RecordCollection, Vec<ArchivedRecord>)>,
) -> Result<usize, StoreError> {
    let mut inserted = 0;
    for (collection, group) in records {
        inserted += archive.insert_missing(collection, &group).await?;
    }
    Ok(inserted)
}

/// Waits for a chunk's write and counts what it archived.
async fn finish_write((count, write): ChunkWrite, outcome: &mut BatchOutcome) -> Result<(), MigrationError> {
    let inserted = match write.await {
        Ok(result) => result?,
        Err(joined) if joined.is_panic() => std::panic::resume_unwind(joined.into_panic()),
        Err(_) => {
            return Err(StoreError::Operation {
                operation: "archiving records",
                message: "the write was cancelled".into(),
            }
            .into());
        }
    };
    outcome.migrated += inserted;
    outcome.already_present += count - inserted;
    Ok(())
}

/// Lower bounds on the block an entry was submitted in, learnt from submissions read earlier in
/// the run. The contract numbers entries in the order they are mined, so entry `n` was mined no
/// earlier than any entry below it: log queries can start there instead of at the deployment,
/// which spares the node reading the whole chain for every chunk.
#[derive(Debug, Default)]
struct SubmissionFloors(std::collections::BTreeMap<u64, u64>);

impl SubmissionFloors {
    /// The latest block known to be at or before entry `id`'s submission.
    fn floor_of(&self, id: u64) -> Option<u64> {
        self.0.range(..=id).next_back().map(|(_, block)| *block)
    }

    /// Remembers the lowest and highest entry of `submissions` (two per chunk keep it small).
    fn learn(&mut self, submissions: &HashMap<u64, Submission>) {
        let lowest = submissions.values().min_by_key(|s| s.id);
        let highest = submissions.values().max_by_key(|s| s.id);
        for submission in lowest.into_iter().chain(highest) {
            self.0.insert(submission.id, submission.block);
        }
    }
}

/// Reads the submissions, votes and envelopes of `approvals`.
async fn fetch_chunk(
    consortium: &Consortium,
    archive: &Archive,
    signer: &PrivateKeySigner,
    approvals: &[Approval],
    up_to_block: u64,
    floors: &mut SubmissionFloors,
) -> Result<FetchedChunk, MigrationError> {
    let ids: Vec<u64> = approvals.iter().map(|a| a.id).collect();
    // An entry's submission and votes were all mined by the block that approved it, and no
    // earlier than the submission of any entry with a lower id.
    let to = approvals.iter().map(|a| a.block).max().unwrap_or(up_to_block).min(up_to_block);
    let from = ids.iter().min().and_then(|id| floors.floor_of(*id)).unwrap_or(consortium.deployment().deploy_block);
    let submissions = consortium.submissions_in(&ids, from, to).await?;
    floors.learn(&submissions);
    let voters = consortium.approvers_in(&ids, from, to).await?;
    let finder = EnvelopeFinder { consortium, archive: Some(archive), signer: Some(signer) };
    let listed: Vec<Submission> = submissions.values().cloned().collect();
    let envelopes = finder.envelopes_of(&listed).await?;
    Ok(FetchedChunk { approvals: approvals.to_vec(), submissions, voters, envelopes })
}

/// Opens each entry of a fetched chunk and checks it against its commitment.
fn open_chunk(
    mut fetched: FetchedChunk,
    deployment: &DeploymentRecord,
    key: &RecipientKey,
    recoveries: &RecoveryMap,
) -> OpenedChunk {
    let mut opened =
        OpenedChunk { records: RecordCollection::ALL.iter().map(|c| (*c, Vec::new())).collect(), failed: Vec::new() };
    for approval in fetched.approvals {
        let envelope = fetched.envelopes.remove(&approval.id);
        let found = (fetched.submissions.get(&approval.id), envelope);
        match build_record(deployment, key, &approval, found, fetched.voters.get(&approval.id), recoveries) {
            Ok(record) => {
                let collection = RecordCollection::for_kind(record.kind);
                if let Some((_, group)) = opened.records.iter_mut().find(|(c, _)| *c == collection) {
                    group.push(record);
                }
            }
            Err(reason) => opened.failed.push((approval, reason)),
        }
    }
    opened
}

/// Opens and checks one approved entry; the error is the reason it cannot be migrated.
fn build_record(
    deployment: &DeploymentRecord,
    key: &RecipientKey,
    approval: &Approval,
    (submission, envelope): (Option<&Submission>, Option<Result<Vec<u8>, ExchangeError>>),
    voters: Option<&Vec<Address>>,
    recoveries: &RecoveryMap,
) -> Result<ArchivedRecord, String> {
    let submission = submission.ok_or("its submission event was not found")?;
    let envelope = envelope.ok_or("its envelope was not looked for")?.map_err(|e| e.to_string())?;
    let opened = match open_submission_as(submission, &envelope, key) {
        Ok(Some(opened)) => opened,
        Ok(None) => {
            return Err(format!("it is not sealed to the migrating account {}", key.address()));
        }
        Err(SubmissionError::CommitmentMismatch { .. }) => {
            return Err("the opened record does not match its on-chain commitment".into());
        }
        Err(e) => return Err(e.to_string()),
    };
    let Ok(Bson::Document(record)) = Bson::try_from(opened.record) else {
        return Err("the opened record is not a JSON object".into());
    };
    Ok(ArchivedRecord {
        id: archive_id(deployment.chain_id, deployment.address, approval.id),
        chain_id: deployment.chain_id as i64,
        contract: hex_address(deployment.address),
        entry_id: approval.id as i64,
        kind: submission.kind,
        patient: hex_address(recoveries.current_of(submission.patient)),
        submitter: hex_address(submission.submitter),
        record,
        commitment: submission.commitment.to_string(),
        salt: format!("0x{}", alloy::primitives::hex::encode(opened.salt)),
        envelope_digest: Some(submission.envelope_digest.to_string()),
        submission: Provenance { tx_hash: submission.tx_hash.to_string(), block: submission.block as i64 },
        approval: Provenance { tx_hash: approval.tx_hash.to_string(), block: approval.block as i64 },
        // A patient's vote is filed under their account of now, as the record is: an account they
        // lost must not pass for another voter of the record.
        voters: voters.map(|v| v.iter().map(|a| hex_address(recoveries.current_of(*a))).collect()).unwrap_or_default(),
        migrated_at: bson::DateTime::now(),
        parsed: Default::default(),
    })
}
