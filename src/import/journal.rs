//! The import journal: what an import has sent and what the chain confirmed, written down before
//! each step so that a rerun after a crash submits every remaining row once and no row twice.
//!
//! It is a JSON-lines file, appended to and synced line by line. A line torn by a crash is the
//! last one and is ignored: the step it would have recorded had not started (a batch's line is
//! written before the batch is broadcast).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use crate::chain::outbox::SignedTransaction;

/// Why a journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{what} the import journal {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error(
        "the import journal {path} is damaged at line {line}: {message}; move it aside only if you are sure none of its batches reached the chain"
    )]
    Damaged { path: PathBuf, line: usize, message: String },
    #[error(
        "{source_file} has changed since an earlier import of it began (journal {path}); rows of that import may already be on chain. Restore the file to finish that import, or move the journal aside to import the new file as a new one"
    )]
    SourceChanged { source_file: String, path: PathBuf },
}

/// What the journal is about; a rerun must match it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportIdentity {
    /// The file as given on the command line.
    pub source_file: String,
    /// sha256 of the file's bytes.
    pub source_sha256: String,
    pub kind: String,
    pub chain_id: u64,
    pub contract: Address,
    pub submitter: Address,
}

/// A batch as it was about to be broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentBatch {
    pub batch: u64,
    /// The file lines of the batch's rows, in record order.
    pub lines: Vec<usize>,
    pub transaction: SignedTransaction,
}

/// A batch the chain mined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmedBatch {
    pub batch: u64,
    pub tx_hash: B256,
    pub block: u64,
    pub gas_used: u64,
    /// The entries created, in record order.
    pub entry_ids: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum JournalLine {
    Began(ImportIdentity),
    Sent(SentBatch),
    Confirmed(ConfirmedBatch),
    /// Never mined (its nonce went to another transaction); its rows are to be sent again.
    Dropped {
        batch: u64,
    },
    /// A confirmed batch's envelopes were pushed to the panel (or their failed pushes queued).
    Delivered {
        batch: u64,
    },
}

/// The journal of one import, open for appending.
#[derive(Debug)]
pub struct ImportJournal {
    path: PathBuf,
    file: File,
    sent: BTreeMap<u64, SentBatch>,
    confirmed: BTreeMap<u64, ConfirmedBatch>,
    dropped: BTreeSet<u64>,
    delivered: BTreeSet<u64>,
}

impl ImportJournal {
    /// Opens the journal at `path` for `identity`, creating it when this import is new; refuses
    /// one written for another version of the file.
    pub fn open(path: &Path, identity: &ImportIdentity) -> Result<Self, JournalError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(path, "creating the folder of"))?;
        }
        let exists = path.exists();
        let file = OpenOptions::new().create(true).append(true).read(true).open(path).map_err(io(path, "opening"))?;
        let mut journal = Self {
            path: path.to_path_buf(),
            file,
            sent: BTreeMap::new(),
            confirmed: BTreeMap::new(),
            dropped: BTreeSet::new(),
            delivered: BTreeSet::new(),
        };
        let began = if exists { journal.replay()? } else { None };
        match began {
            Some(earlier) if earlier.source_sha256 != identity.source_sha256 => {
                return Err(JournalError::SourceChanged {
                    source_file: identity.source_file.clone(),
                    path: path.to_path_buf(),
                });
            }
            Some(_) => {}
            None => journal.append(&JournalLine::Began(identity.clone()))?,
        }
        Ok(journal)
    }

    fn replay(&mut self) -> Result<Option<ImportIdentity>, JournalError> {
        let text = std::fs::read_to_string(&self.path).map_err(io(&self.path, "reading"))?;
        // A crash can tear the last line only, and its step never started: cut it off, so that
        // the next line appended starts on a line of its own.
        let complete = text.rfind('\n').map_or(0, |end| end + 1);
        if complete < text.len() {
            self.file.set_len(complete as u64).map_err(io(&self.path, "repairing the torn last line of"))?;
        }
        let mut began = None;
        for (index, text) in text[..complete].lines().enumerate() {
            let line = serde_json::from_str::<JournalLine>(text).map_err(|e| JournalError::Damaged {
                path: self.path.clone(),
                line: index + 1,
                message: e.to_string(),
            })?;
            match line {
                JournalLine::Began(identity) => began = Some(identity),
                JournalLine::Sent(batch) => {
                    self.sent.insert(batch.batch, batch);
                }
                JournalLine::Confirmed(batch) => {
                    self.confirmed.insert(batch.batch, batch);
                }
                JournalLine::Dropped { batch } => {
                    self.dropped.insert(batch);
                }
                JournalLine::Delivered { batch } => {
                    self.delivered.insert(batch);
                }
            }
        }
        if began.is_none() && complete > 0 {
            return Err(JournalError::Damaged {
                path: self.path.clone(),
                line: 1,
                message: "it does not begin with the import it is about".into(),
            });
        }
        Ok(began)
    }

    fn append(&mut self, line: &JournalLine) -> Result<(), JournalError> {
        let mut text = serde_json::to_string(line).expect("journal lines serialize");
        text.push('\n');
        self.file.write_all(text.as_bytes()).map_err(io(&self.path, "writing"))?;
        self.file.sync_data().map_err(io(&self.path, "syncing"))
    }

    /// Where the journal is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a batch about to be broadcast; call before broadcasting it.
    pub fn record_sent(&mut self, batch: SentBatch) -> Result<(), JournalError> {
        self.append(&JournalLine::Sent(batch.clone()))?;
        self.sent.insert(batch.batch, batch);
        Ok(())
    }

    /// Records a mined batch.
    pub fn record_confirmed(&mut self, batch: ConfirmedBatch) -> Result<(), JournalError> {
        self.append(&JournalLine::Confirmed(batch.clone()))?;
        self.confirmed.insert(batch.batch, batch);
        Ok(())
    }

    /// Records a batch that will never be mined.
    pub fn record_dropped(&mut self, batch: u64) -> Result<(), JournalError> {
        self.append(&JournalLine::Dropped { batch })?;
        self.dropped.insert(batch);
        Ok(())
    }

    /// Records that a confirmed batch's envelopes were pushed (or their failures queued).
    pub fn record_delivered(&mut self, batch: u64) -> Result<(), JournalError> {
        self.append(&JournalLine::Delivered { batch })?;
        self.delivered.insert(batch);
        Ok(())
    }

    /// Confirmed batches whose envelopes were not pushed yet (a crash came in between).
    pub fn undelivered(&self) -> Vec<ConfirmedBatch> {
        self.confirmed.values().filter(|b| !self.delivered.contains(&b.batch)).cloned().collect()
    }

    /// Batches sent but neither confirmed nor dropped, in nonce order.
    pub fn unsettled(&self) -> Vec<SentBatch> {
        let mut open: Vec<SentBatch> = self
            .sent
            .values()
            .filter(|b| !self.confirmed.contains_key(&b.batch) && !self.dropped.contains(&b.batch))
            .cloned()
            .collect();
        open.sort_by_key(|b| b.transaction.nonce);
        open
    }

    /// The rows of a sent batch.
    pub fn lines_of(&self, batch: u64) -> &[usize] {
        self.sent.get(&batch).map_or(&[], |b| b.lines.as_slice())
    }

    /// Every confirmed batch, in batch order.
    pub fn confirmed(&self) -> impl Iterator<Item = &ConfirmedBatch> {
        self.confirmed.values()
    }

    /// The file lines whose records are on chain or on their way there.
    pub fn claimed_lines(&self) -> BTreeSet<usize> {
        self.sent.values().filter(|b| !self.dropped.contains(&b.batch)).flat_map(|b| b.lines.iter().copied()).collect()
    }

    /// The number the next batch gets.
    pub fn next_batch_number(&self) -> u64 {
        self.sent.keys().next_back().map_or(1, |last| last + 1)
    }
}

fn io(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> JournalError {
    let path = path.to_path_buf();
    move |source| JournalError::Io { what, path, source }
}

/// The journal's place for an import of `identity` under `folder`: one file per source file,
/// chain, contract, submitter and kind.
pub fn journal_path(folder: &Path, identity: &ImportIdentity, canonical_source: &Path) -> PathBuf {
    use sha2::{Digest, Sha256};
    let key = format!(
        "{}|{}|{}|{}|{}",
        canonical_source.display(),
        identity.kind,
        identity.chain_id,
        identity.contract,
        identity.submitter
    );
    let digest = Sha256::digest(key.as_bytes());
    let stem = canonical_source.file_stem().and_then(|s| s.to_str()).unwrap_or("import");
    folder.join(format!("{stem}-{}.jsonl", &alloy::primitives::hex::encode(digest)[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::Bytes;

    fn identity(sha: &str) -> ImportIdentity {
        ImportIdentity {
            source_file: "visits.csv".into(),
            source_sha256: sha.into(),
            kind: "health".into(),
            chain_id: 31337,
            contract: Address::repeat_byte(1),
            submitter: Address::repeat_byte(2),
        }
    }

    fn sent(batch: u64, lines: Vec<usize>, nonce: u64) -> SentBatch {
        SentBatch {
            batch,
            lines,
            transaction: SignedTransaction {
                hash: B256::repeat_byte(batch as u8),
                nonce,
                raw: Bytes::from(vec![1, 2]),
            },
        }
    }

    #[test]
    fn a_reopened_journal_knows_what_was_sent_confirmed_and_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("imports/visits.jsonl");
        let mut journal = ImportJournal::open(&path, &identity("aa")).unwrap();
        journal.record_sent(sent(1, vec![2, 3], 7)).unwrap();
        journal.record_sent(sent(2, vec![4, 5], 8)).unwrap();
        journal.record_sent(sent(3, vec![6], 9)).unwrap();
        journal
            .record_confirmed(ConfirmedBatch {
                batch: 1,
                tx_hash: B256::ZERO,
                block: 5,
                gas_used: 1,
                entry_ids: vec![1, 2],
            })
            .unwrap();
        journal.record_dropped(3).unwrap();
        drop(journal);

        let mut journal = ImportJournal::open(&path, &identity("aa")).unwrap();
        assert_eq!(journal.unsettled(), vec![sent(2, vec![4, 5], 8)]);
        // Batch 1 was confirmed, but a crash came before its envelopes were pushed.
        assert_eq!(journal.undelivered().iter().map(|b| b.batch).collect::<Vec<_>>(), [1]);
        journal.record_delivered(1).unwrap();
        drop(journal);
        let journal = ImportJournal::open(&path, &identity("aa")).unwrap();
        assert!(journal.undelivered().is_empty(), "the delivery is journaled");
        assert_eq!(journal.claimed_lines().into_iter().collect::<Vec<_>>(), [2, 3, 4, 5]);
        assert_eq!(journal.confirmed().map(|b| b.batch).collect::<Vec<_>>(), [1]);
        assert_eq!(journal.next_batch_number(), 4);
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_a_changed_file_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("visits.jsonl");
        let mut journal = ImportJournal::open(&path, &identity("aa")).unwrap();
        journal.record_sent(sent(1, vec![2], 7)).unwrap();
        drop(journal);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"step":"sent","batch":2,"li"#).unwrap();
        drop(file);
        let mut journal = ImportJournal::open(&path, &identity("aa")).unwrap();
        journal.record_sent(sent(2, vec![3], 8)).unwrap();
        drop(journal);
        let journal = ImportJournal::open(&path, &identity("aa")).unwrap();
        assert_eq!(journal.unsettled().len(), 2);
        drop(journal);
        let refused = ImportJournal::open(&path, &identity("bb")).unwrap_err();
        assert!(refused.to_string().contains("has changed since an earlier import"), "{refused}");
    }
}
