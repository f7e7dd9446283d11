//! Reading the contract's event logs over its whole history, and keeping the chain-wide ones a
//! follower reads on every pass (moves of patients, erasure requests and answers, access-log
//! anchors, removals) so that a later read asks the node only for the blocks since.

use std::collections::HashMap;
use std::sync::Mutex;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::B256;
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};

use super::{ChainError, Consortium};

/// Blocks per `eth_getLogs` query (public nodes cap the range).
pub(super) const BLOCKS_PER_QUERY: u64 = 10_000;

/// The logs of one filter up to a block, and that block's hash then.
#[derive(Debug, Clone)]
struct ReadThrough {
    block: u64,
    hash: B256,
    logs: Vec<Log>,
}

/// Chain-wide filters' logs read before, by filter. Shared by a consortium client's clones.
#[derive(Debug, Default)]
pub(super) struct LogCache {
    filters: Mutex<HashMap<String, ReadThrough>>,
}

impl LogCache {
    fn get(&self, key: &str) -> Option<ReadThrough> {
        self.filters.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(key).cloned()
    }

    /// Keeps `read` unless a concurrent read already kept a later one.
    fn keep(&self, key: String, read: ReadThrough) {
        let mut filters = self.filters.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if filters.get(&key).is_none_or(|kept| kept.block <= read.block) {
            filters.insert(key, read);
        }
    }
}

/// The block a read resumes from: the one after the block read last, if the chain still holds
/// that block (a block's hash commits to every block before it, so nothing up to it changed).
/// `None` when nothing was read or a reorganisation replaced it: read from the deployment.
fn resume_after(kept: Option<&ReadThrough>, head: u64, hash_now: Option<B256>) -> Option<u64> {
    let kept = kept?;
    (kept.block <= head && hash_now == Some(kept.hash)).then_some(kept.block + 1)
}

impl Consortium {
    /// The contract's logs matching `filter` from its deployment to the head, in chain order.
    pub(super) async fn logs_since_deployment(&self, filter: Filter) -> Result<Vec<Log>, ChainError> {
        let head = self.connection().provider().get_block_number().await.map_err(self.transport_error())?;
        self.logs_between(&filter, self.deployment().deploy_block, head).await
    }

    /// The same as [`Self::logs_since_deployment`], for a filter that names no one patient or
    /// hospital (one kept copy per filter): the logs read before are kept, and only the blocks
    /// since are asked for while the chain still holds the last block read.
    pub(super) async fn chain_wide_logs(&self, filter: Filter) -> Result<Vec<Log>, ChainError> {
        let key = serde_json::to_string(&filter).expect("a log filter serializes");
        let provider = self.connection().provider();
        let latest = provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(self.transport_error())?
            .ok_or_else(|| ChainError::Rpc(format!("{} has no latest block", self.connection().rpc_url())))?;
        let (head, head_hash) = (latest.header.number, latest.header.hash);
        let kept = self.log_cache().get(&key);
        // A follower's pass with no new block finds the kept read at the head: the head's hash is
        // at hand, and nothing is left to read or keep.
        let hash_now = match &kept {
            Some(kept) if kept.block == head => Some(head_hash),
            Some(kept) if kept.block < head => self.block_hash(kept.block).await?,
            _ => None,
        };
        let (mut logs, from) = match resume_after(kept.as_ref(), head, hash_now) {
            Some(from) => (kept.map(|kept| kept.logs).unwrap_or_default(), from),
            None => (Vec::new(), self.deployment().deploy_block),
        };
        if from > head {
            return Ok(logs);
        }
        logs.extend(self.logs_between(&filter, from, head).await?);
        // Kept only if the head did not change under the read: a reorganisation in between could
        // otherwise pair these logs with another chain's hash.
        if self.block_hash(head).await? == Some(head_hash) {
            self.log_cache().keep(key, ReadThrough { block: head, hash: head_hash, logs: logs.clone() });
        }
        Ok(logs)
    }

    /// The contract's logs matching `filter` in blocks `from..=to`, in queries of at most
    /// [`BLOCKS_PER_QUERY`] blocks.
    async fn logs_between(&self, filter: &Filter, from: u64, to: u64) -> Result<Vec<Log>, ChainError> {
        let provider = self.connection().provider();
        let mut logs = Vec::new();
        let mut start = from;
        while start <= to {
            let end = to.min(start.saturating_add(BLOCKS_PER_QUERY - 1));
            let range = filter.clone().address(self.deployment().address).from_block(start).to_block(end);
            logs.extend(provider.get_logs(&range).await.map_err(self.transport_error())?);
            start = end + 1;
        }
        Ok(logs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_through(block: u64, hash: u8) -> ReadThrough {
        ReadThrough { block, hash: B256::repeat_byte(hash), logs: Vec::new() }
    }

    #[test]
    fn a_read_resumes_after_the_last_block_read_while_the_chain_still_holds_it() {
        let kept = read_through(120, 7);
        assert_eq!(resume_after(Some(&kept), 130, Some(B256::repeat_byte(7))), Some(121));
        assert_eq!(resume_after(Some(&kept), 120, Some(B256::repeat_byte(7))), Some(121));
    }

    #[test]
    fn a_reorganisation_or_a_shorter_chain_starts_the_read_over() {
        let kept = read_through(120, 7);
        assert_eq!(resume_after(Some(&kept), 130, Some(B256::repeat_byte(8))), None, "another block 120");
        assert_eq!(resume_after(Some(&kept), 130, None), None, "no block 120");
        assert_eq!(resume_after(Some(&kept), 119, Some(B256::repeat_byte(7))), None, "the head is below it");
        assert_eq!(resume_after(None, 130, None), None, "nothing read before");
    }

    #[test]
    fn a_later_read_is_kept_over_an_earlier_one_that_finishes_after_it() {
        let cache = LogCache::default();
        cache.keep("f".into(), read_through(130, 1));
        cache.keep("f".into(), read_through(120, 2));
        assert_eq!(cache.get("f").unwrap().block, 130);
        cache.keep("f".into(), read_through(131, 3));
        assert_eq!(cache.get("f").unwrap().block, 131);
    }
}
