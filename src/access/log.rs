//! The access log: one hash-chained document per read of patients' records (and per refusal),
//! in the archive's `access_log` collection.
//!
//! Entry `n` (its `_id`, from 1) holds the hash of entry `n - 1`, and its own hash covers that
//! and everything it says, so an entry edited, deleted or moved in the database breaks the chain
//! where it happened. Hospitals publish the head hash on chain (`hrm access-log anchor`); a log
//! rewritten whole, hashes and all, then no longer matches its anchors.

use alloy::primitives::{Address, B256, keccak256};
use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{self, Document, doc};
use serde::{Deserialize, Serialize};

use super::rule::ReadRule;
use crate::store::archive::hex_address;
use crate::store::{ACCESS_LOG_COLLECTION, Archive, StoreError};

/// Appends retried after another process took the position this one wanted.
const APPEND_ATTEMPTS: usize = 20;

/// Whether a read was allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessOutcome {
    Allowed,
    Denied,
}

/// One record named in a log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedRecord {
    /// The record's archive id (`<chain id>:<contract>:<entry id>`).
    pub record: String,
    pub entry_id: i64,
    /// The rule that allowed the read; none for a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<ReadRule>,
}

/// What a read appends: who read which of whose records, how, and whether it was allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEvent {
    /// The reading account: the patient, or the hospital whose staff or operator read.
    pub reader: Address,
    /// The staff member's user name, for reads through the web app's staff pages.
    pub user: Option<String>,
    /// Where the read happened, e.g. `web: patient page`, `hrm records`.
    pub action: String,
    pub patient: Address,
    pub outcome: AccessOutcome,
    pub records: Vec<LoggedRecord>,
}

impl AccessEvent {
    /// The `i`-th of a run of allowed reads naming no record, one account reading another's: for
    /// tests and examples of the log's mechanics.
    pub fn example(i: usize) -> Self {
        AccessEvent {
            reader: Address::repeat_byte(2),
            user: None,
            action: format!("read {i}"),
            patient: Address::repeat_byte(1),
            outcome: AccessOutcome::Allowed,
            records: Vec::new(),
        }
    }
}

/// A stored log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessLogEntry {
    /// Position in the log, from 1.
    #[serde(rename = "_id")]
    pub position: i64,
    pub at: bson::DateTime,
    /// Lower-case hex.
    pub reader: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub action: String,
    /// Lower-case hex.
    pub patient: String,
    pub outcome: AccessOutcome,
    pub records: Vec<LoggedRecord>,
    /// The previous entry's hash (zero for the first), 0x-hex.
    pub prev: String,
    /// keccak256 of this entry's contents and `prev`, 0x-hex.
    pub hash: String,
}

/// The hashed part of an entry, in a fixed field order: everything but the position (so that a
/// moved entry is told apart from an edited one) and the hash itself.
#[derive(Serialize)]
struct HashedEntry<'a> {
    prev: &'a str,
    at_ms: i64,
    reader: &'a str,
    user: Option<&'a str>,
    action: &'a str,
    patient: &'a str,
    outcome: AccessOutcome,
    records: &'a [LoggedRecord],
}

impl AccessLogEntry {
    pub(super) fn seal(position: i64, prev: B256, at: bson::DateTime, event: &AccessEvent) -> Self {
        let mut entry = Self {
            position,
            at,
            reader: hex_address(event.reader),
            user: event.user.clone(),
            action: event.action.clone(),
            patient: hex_address(event.patient),
            outcome: event.outcome,
            records: event.records.clone(),
            prev: prev.to_string(),
            hash: String::new(),
        };
        entry.hash = entry.computed_hash().to_string();
        entry
    }

    /// The hash the entry's contents call for (compare with the stored `hash`).
    pub fn computed_hash(&self) -> B256 {
        let hashed = HashedEntry {
            prev: &self.prev,
            at_ms: self.at.timestamp_millis(),
            reader: &self.reader,
            user: self.user.as_deref(),
            action: &self.action,
            patient: &self.patient,
            outcome: self.outcome,
            records: &self.records,
        };
        keccak256(serde_json::to_vec(&hashed).expect("a log entry serializes"))
    }

    /// The stored hash, parsed (zero when damaged).
    pub fn stored_hash(&self) -> B256 {
        self.hash.parse().unwrap_or_default()
    }
}

/// The archive's access log.
#[derive(Debug)]
pub struct AccessLog {
    entries: Collection<AccessLogEntry>,
    // The last entry this process knows of, held by whoever is writing. Another process's append
    // makes an insert fail on the position, and the head is read again.
    head: tokio::sync::Mutex<Option<(i64, B256)>>,
    // Appends waiting for the writer: whoever takes `head` next writes them all in one insert
    // (a group commit), so that fifty pages loading at once cost a few round trips, not fifty in
    // a row.
    waiting: std::sync::Mutex<Vec<WaitingAppend>>,
    counts: AppendCounts,
}

/// What this process has appended, for caches of the log to tell their own appends from others'.
#[derive(Debug, Default)]
struct AppendCounts {
    /// Entries whose reader is not the patient: what a patient's history shows.
    by_others: std::sync::atomic::AtomicI64,
    /// The highest position this process has written, is writing, or read as the head.
    known_head: std::sync::atomic::AtomicI64,
    /// Times this process found a position taken by another writer.
    others_found: std::sync::atomic::AtomicU64,
}

#[derive(Debug)]
struct WaitingAppend {
    event: AccessEvent,
    at: bson::DateTime,
    done: tokio::sync::oneshot::Sender<Result<AccessLogEntry, StoreError>>,
}

impl AccessLog {
    /// The log in `archive` (its index is made by `Archive::ensure_indexes`).
    pub fn new(archive: &Archive) -> Self {
        let entries = archive.database().collection(ACCESS_LOG_COLLECTION);
        Self {
            entries,
            head: tokio::sync::Mutex::new(None),
            waiting: std::sync::Mutex::new(Vec::new()),
            counts: AppendCounts::default(),
        }
    }

    /// How many entries this process has appended whose reader is not the patient: what a
    /// patient's history shows.
    pub fn reads_by_others_here(&self) -> i64 {
        self.counts.by_others.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many times a write of this process found its position taken by another writer: a
    /// change means another process appended.
    pub fn others_found(&self) -> u64 {
        self.counts.others_found.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Appends `event` after the current head and returns the stored entry once it is written.
    pub async fn append(&self, event: &AccessEvent) -> Result<AccessLogEntry, StoreError> {
        let (done, mut written) = tokio::sync::oneshot::channel();
        let waiting = WaitingAppend { event: event.clone(), at: bson::DateTime::now(), done };
        self.waiting.lock().expect("access log queue").push(waiting);
        // Either another append's writer takes this one along (and this append leaves the queue
        // for the writer's lock at once), or this append becomes the writer and takes along
        // every append waiting by then. Waiting for the lock even when already written would
        // make each append queue behind every writer before it, in single file.
        tokio::select! {
            biased;
            result = &mut written => return result.unwrap_or_else(|_| Err(writer_stopped())),
            mut head = self.head.lock() => {
                let batch = std::mem::take(&mut *self.waiting.lock().expect("access log queue"));
                if !batch.is_empty() {
                    self.write(&mut head, batch).await;
                }
            }
        }
        written.await.unwrap_or_else(|_| Err(writer_stopped()))
    }

    /// Writes `batch` after the head, in order, and tells each waiting append its entry.
    async fn write(&self, head: &mut Option<(i64, B256)>, mut batch: Vec<WaitingAppend>) {
        for _ in 0..APPEND_ATTEMPTS {
            use std::sync::atomic::Ordering::SeqCst;
            let (position, prev) = match *head {
                Some(known) => known,
                None => match self.read_head().await {
                    Ok(read) => {
                        self.counts.known_head.fetch_max(read.0, SeqCst);
                        read
                    }
                    Err(error) => return fail_all(batch, &error),
                },
            };
            let mut sealed: Vec<AccessLogEntry> = Vec::with_capacity(batch.len());
            for (offset, waiting) in batch.iter().enumerate() {
                let prev = sealed.last().map_or(prev, AccessLogEntry::stored_hash);
                sealed.push(AccessLogEntry::seal(position + 1 + offset as i64, prev, waiting.at, &waiting.event));
            }
            let last_position = sealed.last().expect("a batch is not empty").position;
            self.counts.known_head.fetch_max(last_position, SeqCst);
            match self.entries.insert_many(&sealed).ordered(true).await {
                Ok(_) => {
                    let last = sealed.last().expect("a batch is not empty");
                    *head = Some((last.position, last.stored_hash()));
                    self.count(&sealed);
                    for (waiting, entry) in batch.into_iter().zip(sealed) {
                        let _ = waiting.done.send(Ok(entry));
                    }
                    return;
                }
                Err(error) if crate::store::is_duplicate_key(&error) => {
                    self.counts.others_found.fetch_add(1, SeqCst);
                    // Another writer took a position: those of ours already written (an ordered
                    // insert stops at the first failure) are done; the rest go after the new head.
                    *head = None;
                    let written = match self.written_of(&sealed).await {
                        Ok(written) => written,
                        Err(error) => return fail_all(batch, &error),
                    };
                    let rest = batch.split_off(written);
                    self.count(&sealed[..written]);
                    for (waiting, entry) in batch.into_iter().zip(sealed) {
                        let _ = waiting.done.send(Ok(entry));
                    }
                    batch = rest;
                    if batch.is_empty() {
                        return;
                    }
                }
                Err(error) => return fail_all(batch, &StoreError::operation("appending to the access log")(error)),
            }
        }
        let error = StoreError::Operation {
            operation: "appending to the access log",
            message: format!("{APPEND_ATTEMPTS} other writers took the next position first; try again"),
        };
        fail_all(batch, &error);
    }

    fn count(&self, written: &[AccessLogEntry]) {
        use std::sync::atomic::Ordering::Relaxed;
        let by_others = written.iter().filter(|e| e.reader != e.patient).count() as i64;
        self.counts.by_others.fetch_add(by_others, Relaxed);
    }

    /// How many of `sealed` (in order) are stored as sealed.
    async fn written_of(&self, sealed: &[AccessLogEntry]) -> Result<usize, StoreError> {
        let positions: Vec<i64> = sealed.iter().map(|e| e.position).collect();
        let stored: Vec<AccessLogEntry> = self
            .entries
            .find(doc! { "_id": { "$in": positions } })
            .await
            .map_err(StoreError::operation("reading the access log"))?
            .try_collect()
            .await
            .map_err(StoreError::operation("reading the access log"))?;
        Ok(sealed
            .iter()
            .take_while(|ours| stored.iter().any(|s| s.position == ours.position && s.hash == ours.hash))
            .count())
    }

    /// The last entry's position and hash; `(0, zero)` for an empty log.
    ///
    /// Positions run from 1 without a gap, so the head is found by looking entries up by
    /// position, starting from the highest this process knows: doubling the step until a
    /// position is free, then halving back. Sorting by position would be simpler, but some
    /// MongoDB-wire servers (SecantusDB) answer a sort, or a range of `_id`, by reading the whole
    /// collection, and the log only grows; a lookup of one `_id` every server answers from the
    /// index. (A log with an entry deleted may be read as ending before the gap; the verifier
    /// reports such a log whatever is appended.)
    pub async fn read_head(&self) -> Result<(i64, B256), StoreError> {
        let hint = self.counts.known_head.load(std::sync::atomic::Ordering::SeqCst);
        // The last position known to hold an entry (0: before the first), and one known free.
        let (mut held, mut held_hash) = (0, B256::ZERO);
        let mut free = None;
        if hint > 0 {
            match self.hash_at(hint).await? {
                Some(hash) => (held, held_hash) = (hint, hash),
                None => free = Some(hint),
            }
        }
        let mut free = match free {
            Some(free) => free,
            None => {
                let mut step = 1;
                loop {
                    match self.hash_at(held + step).await? {
                        Some(hash) => (held, held_hash, step) = (held + step, hash, step * 2),
                        None => break held + step,
                    }
                }
            }
        };
        while free - held > 1 {
            let middle = held + (free - held) / 2;
            match self.hash_at(middle).await? {
                Some(hash) => (held, held_hash) = (middle, hash),
                None => free = middle,
            }
        }
        Ok((held, held_hash))
    }

    /// Whether another process appended beyond every position this process knows (written, being
    /// written, or read as the head). When one did, the known head moves to the log's head, so
    /// each such append is reported once. One lookup by position when nobody did.
    pub async fn appended_elsewhere(&self) -> Result<bool, StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        let next = self.counts.known_head.load(SeqCst) + 1;
        let taken = self.hash_at(next).await?.is_some();
        // This process raises the known head before it sends a write: a position still beyond it
        // once the lookup has answered was written by another process.
        if !taken || self.counts.known_head.load(SeqCst) >= next {
            return Ok(false);
        }
        let (head, _) = self.read_head().await?;
        self.counts.known_head.fetch_max(head, SeqCst);
        Ok(true)
    }

    /// The stored hash of the entry at `position`, if there is one.
    async fn hash_at(&self, position: i64) -> Result<Option<B256>, StoreError> {
        let found = self
            .entries
            .clone_with_type::<Document>()
            .find_one(doc! { "_id": position })
            .projection(doc! { "hash": 1 })
            .await
            .map_err(StoreError::operation("reading the access log's head"))?;
        Ok(found.map(|entry| entry.get_str("hash").ok().and_then(|hash| hash.parse().ok()).unwrap_or_default()))
    }

    /// The newest `limit` entries about `patient`, newest first.
    pub async fn entries_about(&self, patient: Address, limit: i64) -> Result<Vec<AccessLogEntry>, StoreError> {
        self.newest(doc! { "patient": hex_address(patient) }, limit).await
    }

    /// The newest `limit` reads of a patient's records by anyone but the patient, newest first:
    /// what the patient's history shows. `accounts` are the patient's: the one of now, then those
    /// their guardians moved them from, whose reads are theirs too.
    pub async fn reads_by_others(&self, accounts: &[Address], limit: i64) -> Result<Vec<AccessLogEntry>, StoreError> {
        self.reads_by_others_from(accounts, 0, limit).await
    }

    /// As [`AccessLog::reads_by_others`], from the `skip`-th newest: a page of the history.
    pub async fn reads_by_others_from(
        &self,
        accounts: &[Address],
        skip: u64,
        limit: i64,
    ) -> Result<Vec<AccessLogEntry>, StoreError> {
        self.newest_from(Self::by_others(accounts), skip, limit).await
    }

    /// How many reads of a patient's records (under any of `accounts`) by anyone but the patient
    /// the log holds.
    pub async fn count_reads_by_others(&self, accounts: &[Address]) -> Result<u64, StoreError> {
        self.entries
            .count_documents(Self::by_others(accounts))
            .await
            .map_err(StoreError::operation("counting the access log"))
    }

    fn by_others(accounts: &[Address]) -> Document {
        let accounts: Vec<String> = accounts.iter().map(|account| hex_address(*account)).collect();
        // Nearly every patient has one account: their query keeps the plain equality on
        // `patient` that the `patient_newest` index was measured with under `bench serve`.
        match accounts.as_slice() {
            [patient] => doc! { "patient": patient, "reader": { "$ne": patient } },
            _ => doc! { "patient": { "$in": &accounts }, "reader": { "$nin": &accounts } },
        }
    }

    async fn newest(&self, filter: Document, limit: i64) -> Result<Vec<AccessLogEntry>, StoreError> {
        self.newest_from(filter, 0, limit).await
    }

    async fn newest_from(&self, filter: Document, skip: u64, limit: i64) -> Result<Vec<AccessLogEntry>, StoreError> {
        self.entries
            .find(filter)
            .sort(doc! { "_id": -1 })
            .skip(skip)
            .limit(limit)
            .await
            .map_err(StoreError::operation("reading the access log"))?
            .try_collect()
            .await
            .map_err(StoreError::operation("reading the access log"))
    }

    /// Every entry as stored, in position order: raw, so that a damaged one is reported by the
    /// verifier rather than failing the read.
    pub async fn all_documents(&self) -> Result<Vec<Document>, StoreError> {
        self.entries
            .clone_with_type::<Document>()
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await
            .map_err(StoreError::operation("reading the access log"))?
            .try_collect()
            .await
            .map_err(StoreError::operation("reading the access log"))
    }
}

/// The answer of an append whose writer stopped before it said how the write went.
fn writer_stopped() -> StoreError {
    StoreError::Operation { operation: "appending to the access log", message: "the writer stopped".into() }
}

fn fail_all(batch: Vec<WaitingAppend>, error: &StoreError) {
    for waiting in batch {
        let _ = waiting
            .done
            .send(Err(StoreError::Operation { operation: "appending to the access log", message: error.to_string() }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AccessEvent {
        AccessEvent {
            reader: Address::repeat_byte(2),
            user: Some("rita".into()),
            action: "web: patient records".into(),
            patient: Address::repeat_byte(1),
            outcome: AccessOutcome::Allowed,
            records: vec![LoggedRecord { record: "1:0xab:3".into(), entry_id: 3, rule: Some(ReadRule::Grant) }],
        }
    }

    #[test]
    fn the_hash_covers_the_contents_and_the_previous_hash() {
        let at = bson::DateTime::from_millis(1_700_000_000_000);
        let entry = AccessLogEntry::seal(1, B256::ZERO, at, &event());
        assert_eq!(entry.computed_hash(), entry.stored_hash());
        let mut edited = entry.clone();
        edited.user = Some("someone else".into());
        assert_ne!(edited.computed_hash(), entry.stored_hash());
        let relinked = AccessLogEntry::seal(1, B256::repeat_byte(9), at, &event());
        assert_ne!(relinked.stored_hash(), entry.stored_hash());
        // The position is not hashed: a moved entry still hashes to itself.
        let mut moved = entry.clone();
        moved.position = 7;
        assert_eq!(moved.computed_hash(), entry.stored_hash());
    }

    #[test]
    fn a_stored_entry_reads_back_to_the_same_hash() {
        let entry = AccessLogEntry::seal(3, B256::repeat_byte(1), bson::DateTime::now(), &event());
        let document = bson::to_document(&entry).unwrap();
        let read: AccessLogEntry = bson::from_document(document).unwrap();
        assert_eq!(read.computed_hash(), entry.stored_hash());
    }
}
