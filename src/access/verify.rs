//! Checking the access log: the hash chain entry by entry, then each on-chain anchor.

use std::collections::HashMap;

use alloy::primitives::B256;
use mongodb::bson::{self, Bson, Document};
use serde::Serialize;

use super::log::AccessLogEntry;
use crate::chain::sharing::LogAnchor;

/// Something wrong with the stored log, with the position (from 1) where it shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum LogProblem {
    #[error("entry {position} is damaged: {message}")]
    Damaged { position: i64, message: String },
    #[error("entry {position} was edited: its contents no longer match its hash")]
    Edited { position: i64 },
    #[error("entry {position} is missing: it was deleted")]
    Missing { position: i64 },
    #[error("entry {position} is out of place: {}", follows_text(*.follows))]
    OutOfPlace { position: i64, follows: Option<i64> },
    #[error(
        "entry {length} does not match the head anchored in block {block}: entries {from} to {length} were rewritten after they were anchored"
    )]
    AnchorMismatch { length: i64, from: i64, block: u64 },
    #[error(
        "the head anchored in block {block} covers {length} entries but the log holds {held}: entries were deleted from its end"
    )]
    AnchorBeyondLog { length: i64, held: i64, block: u64 },
}

fn follows_text(follows: Option<i64>) -> String {
    match follows {
        Some(earlier) => format!("it was written right after entry {earlier} (the log was reordered)"),
        None => "the entry it was written after is not in the log (one before it was deleted)".to_string(),
    }
}

/// What `verify_log` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogVerification {
    /// Entries in the log.
    pub entries: i64,
    /// Anchors checked.
    pub anchors: usize,
    /// Entries covered by the latest anchor.
    pub anchored: i64,
    pub problems: Vec<LogProblem>,
}

impl LogVerification {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// Entries written since the latest anchor: checked by their links only.
    pub fn unanchored(&self) -> i64 {
        (self.entries - self.anchored).max(0)
    }
}

/// Checks `documents` (the log in position order) link by link and against `anchors`.
pub fn verify_log(documents: &[Document], anchors: &[LogAnchor]) -> LogVerification {
    let mut problems = Vec::new();
    // Where each stored hash sits, to say what a misplaced entry was written after.
    let mut position_of_hash: HashMap<String, i64> = HashMap::new();
    let mut stored_hash_at: HashMap<i64, String> = HashMap::new();
    let mut parsed = Vec::with_capacity(documents.len());
    for document in documents {
        let position = match document.get("_id") {
            Some(Bson::Int64(n)) => *n,
            Some(Bson::Int32(n)) => i64::from(*n),
            other => {
                problems.push(LogProblem::Damaged {
                    position: 0,
                    message: format!("it has no numeric position ({other:?})"),
                });
                continue;
            }
        };
        let hash = document.get_str("hash").unwrap_or_default().to_string();
        position_of_hash.insert(hash.clone(), position);
        stored_hash_at.insert(position, hash);
        parsed.push((position, bson::from_document::<AccessLogEntry>(document.clone())));
    }

    let mut expected = 1;
    let mut previous_hash = B256::ZERO.to_string();
    for (position, entry) in parsed {
        let gap = position > expected;
        for missing in expected..position {
            problems.push(LogProblem::Missing { position: missing });
        }
        expected = position + 1;
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                problems.push(LogProblem::Damaged { position, message: e.to_string() });
                previous_hash = stored_hash_at.get(&position).cloned().unwrap_or_default();
                continue;
            }
        };
        if entry.computed_hash().to_string() != entry.hash {
            problems.push(LogProblem::Edited { position });
        }
        if entry.prev != previous_hash && !gap {
            let follows =
                if entry.prev == B256::ZERO.to_string() { Some(0) } else { position_of_hash.get(&entry.prev).copied() };
            problems.push(LogProblem::OutOfPlace { position, follows });
        }
        previous_hash = entry.hash;
    }
    let entries = expected - 1;

    let mut anchored_from = 1;
    let mut anchored = 0;
    let mut sorted: Vec<&LogAnchor> = anchors.iter().collect();
    sorted.sort_by_key(|a| (a.length, a.block));
    for anchor in sorted {
        let length = i64::try_from(anchor.length).unwrap_or(i64::MAX);
        match stored_hash_at.get(&length) {
            None => problems.push(LogProblem::AnchorBeyondLog { length, held: entries, block: anchor.block }),
            Some(hash) if *hash != anchor.head.to_string() => {
                problems.push(LogProblem::AnchorMismatch { length, from: anchored_from, block: anchor.block })
            }
            Some(_) => anchored_from = length + 1,
        }
        anchored = anchored.max(length);
    }
    LogVerification { entries, anchors: anchors.len(), anchored, problems }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::Address;

    use super::*;
    use crate::access::log::{AccessEvent, AccessOutcome};

    fn log_of(count: usize) -> Vec<AccessLogEntry> {
        let mut entries: Vec<AccessLogEntry> = Vec::new();
        for i in 0..count {
            let prev = entries.last().map_or(B256::ZERO, |e| e.stored_hash());
            let event = AccessEvent::example(i);
            entries.push(AccessLogEntry::seal(i as i64 + 1, prev, bson::DateTime::from_millis(0), &event));
        }
        entries
    }

    fn documents(entries: &[AccessLogEntry]) -> Vec<Document> {
        entries.iter().map(|e| bson::to_document(e).unwrap()).collect()
    }

    fn anchor(entries: &[AccessLogEntry], length: usize) -> LogAnchor {
        LogAnchor {
            hospital: Address::ZERO,
            length: length as u64,
            head: entries[length - 1].stored_hash(),
            block: 10,
            tx_hash: B256::ZERO,
        }
    }

    #[test]
    fn a_log_that_only_grew_since_its_anchor_is_clean() {
        let entries = log_of(5);
        let check = verify_log(&documents(&entries), &[anchor(&entries, 3)]);
        assert!(check.is_clean(), "{:?}", check.problems);
        assert_eq!((check.entries, check.anchored, check.unanchored()), (5, 3, 2));
    }

    #[test]
    fn an_edit_a_deletion_and_a_swap_are_each_named_where_they_are() {
        let entries = log_of(6);
        let mut edited = documents(&entries);
        edited[2].insert("action", "nothing to see");
        assert_eq!(verify_log(&edited, &[]).problems, [LogProblem::Edited { position: 3 }]);

        let mut deleted = documents(&entries);
        deleted.remove(3);
        assert_eq!(verify_log(&deleted, &[]).problems, [LogProblem::Missing { position: 4 }]);

        let mut swapped = entries.clone();
        swapped.swap(2, 3);
        swapped[2].position = 3;
        swapped[3].position = 4;
        assert_eq!(
            verify_log(&documents(&swapped), &[]).problems,
            [
                LogProblem::OutOfPlace { position: 3, follows: Some(4) },
                LogProblem::OutOfPlace { position: 4, follows: Some(2) },
                // Entry 5 was written after what is now entry 3.
                LogProblem::OutOfPlace { position: 5, follows: Some(3) },
            ]
        );
    }

    #[test]
    fn a_log_rewritten_hashes_and_all_fails_its_anchor() {
        let entries = log_of(4);
        let anchors = [anchor(&entries, 2), anchor(&entries, 4)];
        // Entry 3 changed and every hash from it recomputed: the links hold, the anchor does not.
        let mut rewritten = entries[..2].to_vec();
        for (i, original) in entries[2..].iter().enumerate() {
            let prev = rewritten.last().unwrap().stored_hash();
            let event = AccessEvent {
                reader: Address::repeat_byte(2),
                user: None,
                action: if i == 0 { "rewritten".into() } else { original.action.clone() },
                patient: Address::repeat_byte(1),
                outcome: AccessOutcome::Allowed,
                records: Vec::new(),
            };
            rewritten.push(AccessLogEntry::seal(original.position, prev, bson::DateTime::from_millis(0), &event));
        }
        assert_eq!(
            verify_log(&documents(&rewritten), &anchors).problems,
            [LogProblem::AnchorMismatch { length: 4, from: 3, block: 10 }]
        );
        // Truncated below an anchor.
        assert_eq!(
            verify_log(&documents(&entries[..3]), &anchors).problems,
            [LogProblem::AnchorBeyondLog { length: 4, held: 3, block: 10 }]
        );
    }
}
