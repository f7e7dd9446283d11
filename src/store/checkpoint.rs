//! How far migration has read the chain, per deployment.

use std::collections::HashMap;

use alloy::primitives::{Address, B256};
use mongodb::bson::{self, doc};
use mongodb::options::{ReplaceOptions, WriteConcern};
use serde::{Deserialize, Serialize};

use super::archive::hex_address;
use super::{Archive, StoreError};

pub(super) const COLLECTION: &str = "migration_checkpoints";

/// How many recent blocks' hashes a checkpoint remembers to find where a reorganised chain
/// parted from what migration read. A reorganisation deeper than all of them rewinds to the
/// deployment block: slow, but nothing is missed.
pub const REMEMBERED_BLOCKS: usize = 64;

/// The first block migration has not read yet, the hashes of blocks it read (to notice a
/// reorganisation), and the entries it could not migrate (retried on every run until they
/// succeed, so none is forgotten).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigrationCheckpoint {
    /// `<chain id>:<contract>`.
    #[serde(rename = "_id")]
    pub id: String,
    pub chain_id: i64,
    pub contract: String,
    pub next_block: i64,
    /// Hashes of blocks read, oldest first; the last is the newest block read.
    #[serde(default)]
    pub recent_blocks: Vec<BlockMark>,
    /// Approved entries that failed, with the approval block.
    pub failed: Vec<FailedEntry>,
    pub updated_at: bson::DateTime,
}

/// An approved entry migration could not archive yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedEntry {
    pub entry_id: i64,
    /// Block of the entry's approval, where a retry finds it again.
    pub approval_block: i64,
    pub reason: String,
}

/// A block number and the hash it had when migration read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMark {
    pub number: i64,
    /// 0x-hex.
    pub hash: String,
}

impl BlockMark {
    /// A mark for block `number` with `hash`.
    pub fn new(number: u64, hash: B256) -> Self {
        Self { number: number as i64, hash: hash.to_string() }
    }
}

impl MigrationCheckpoint {
    /// A checkpoint at `next_block` with nothing failed.
    pub fn new(chain_id: u64, contract: Address, next_block: u64) -> Self {
        Self {
            id: format!("{chain_id}:{}", hex_address(contract)),
            chain_id: chain_id as i64,
            contract: hex_address(contract),
            next_block: next_block as i64,
            recent_blocks: Vec::new(),
            failed: Vec::new(),
            updated_at: bson::DateTime::now(),
        }
    }

    /// Remembers that block `number` had `hash` when it was read, forgetting the oldest marks.
    pub fn remember(&mut self, number: u64, hash: B256) {
        self.recent_blocks.retain(|m| m.number < number as i64);
        self.recent_blocks.push(BlockMark::new(number, hash));
        let excess = self.recent_blocks.len().saturating_sub(REMEMBERED_BLOCKS);
        self.recent_blocks.drain(..excess);
    }

    /// Moves back to read again from the block after `common_ancestor`.
    pub fn rewind_to(&mut self, common_ancestor: u64) {
        self.next_block = self.next_block.min(common_ancestor as i64 + 1);
        self.recent_blocks.retain(|m| m.number <= common_ancestor as i64);
    }
}

/// The newest remembered block whose hash the chain still has at its number: where the chain
/// read before and the chain now part. `canonical` holds the chain's hash at each remembered
/// number (missing: the chain is shorter now). `None` when no remembered block survived.
pub fn common_ancestor(marks: &[BlockMark], canonical: &HashMap<u64, B256>) -> Option<u64> {
    marks.iter().rev().find_map(|mark| {
        let number = u64::try_from(mark.number).ok()?;
        let hash: B256 = mark.hash.parse().ok()?;
        (canonical.get(&number) == Some(&hash)).then_some(number)
    })
}

impl Archive {
    /// The saved checkpoint of a deployment, if any.
    pub async fn checkpoint(
        &self,
        chain_id: u64,
        contract: Address,
    ) -> Result<Option<MigrationCheckpoint>, StoreError> {
        let id = MigrationCheckpoint::new(chain_id, contract, 0).id;
        self.db
            .collection::<MigrationCheckpoint>(COLLECTION)
            .find_one(doc! { "_id": id })
            .await
            .map_err(StoreError::operation("reading the migration checkpoint"))
    }

    /// Saves a checkpoint, acknowledged by a majority with journaling.
    pub async fn save_checkpoint(&self, checkpoint: &MigrationCheckpoint) -> Result<(), StoreError> {
        let mut checkpoint = checkpoint.clone();
        checkpoint.updated_at = bson::DateTime::now();
        let options = ReplaceOptions::builder()
            .upsert(true)
            .write_concern(WriteConcern::builder().w(mongodb::options::Acknowledgment::Majority).journal(true).build())
            .build();
        self.db
            .collection::<MigrationCheckpoint>(COLLECTION)
            .replace_one(doc! { "_id": &checkpoint.id }, &checkpoint)
            .with_options(options)
            .await
            .map_err(StoreError::operation("saving the migration checkpoint"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(byte: u8) -> B256 {
        B256::repeat_byte(byte)
    }

    #[test]
    fn the_common_ancestor_is_the_newest_block_the_chain_still_has() {
        let marks: Vec<BlockMark> = [(10, 1), (20, 2), (30, 3)].map(|(n, h)| BlockMark::new(n, hash(h))).to_vec();
        let chain = |pairs: &[(u64, u8)]| pairs.iter().map(|(n, h)| (*n, hash(*h))).collect::<HashMap<_, _>>();
        // Nothing changed.
        assert_eq!(common_ancestor(&marks, &chain(&[(10, 1), (20, 2), (30, 3)])), Some(30));
        // Block 30 was replaced.
        assert_eq!(common_ancestor(&marks, &chain(&[(10, 1), (20, 2), (30, 9)])), Some(20));
        // The chain is shorter now, and 20 was replaced too.
        assert_eq!(common_ancestor(&marks, &chain(&[(10, 1), (20, 8)])), Some(10));
        // Deeper than everything remembered.
        assert_eq!(common_ancestor(&marks, &chain(&[(10, 7), (20, 8), (30, 9)])), None);
        assert_eq!(common_ancestor(&[], &chain(&[(10, 1)])), None);
    }

    #[test]
    fn remembers_a_bounded_window_and_rewinds() {
        let mut checkpoint = MigrationCheckpoint::new(31337, Address::ZERO, 1);
        for n in 1..=100u64 {
            checkpoint.remember(n, hash(n as u8));
        }
        checkpoint.next_block = 101;
        assert_eq!(checkpoint.recent_blocks.len(), REMEMBERED_BLOCKS);
        assert_eq!(checkpoint.recent_blocks.last().unwrap().number, 100);
        checkpoint.rewind_to(80);
        assert_eq!((checkpoint.next_block, checkpoint.recent_blocks.last().unwrap().number), (81, 80));
        // Remembering a block again replaces what was remembered at and above it.
        checkpoint.remember(75, hash(0xee));
        assert_eq!(checkpoint.recent_blocks.last().unwrap(), &BlockMark::new(75, hash(0xee)));
        assert!(checkpoint.recent_blocks.iter().all(|m| m.number <= 75));
    }
}
