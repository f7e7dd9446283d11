//! Votes on several entries at once: sent in as few transactions as fit the chain's blocks.

use serde::Serialize;

use crate::chain::{ChainError, Consortium};

/// One transaction of votes.
#[derive(Debug, Clone, Serialize)]
pub struct VoteBatch {
    pub entry_ids: Vec<u64>,
    pub tx_hash: alloy::primitives::B256,
    pub block: u64,
    pub gas_used: u64,
}

/// Casts the signer's vote (`approve`, or reject) on every entry of `ids`, in batches that each fit
/// half a block (halved until the node estimates them under that). A vote the contract refuses
/// (not a voter, already voted, not pending) refuses its whole batch with a sentence naming the
/// entry, and the batches before it stand. Every id is checked before anything is sent.
pub async fn vote_on_entries(
    consortium: &Consortium,
    ids: &[u64],
    approve: bool,
) -> Result<Vec<VoteBatch>, ChainError> {
    let budget = consortium.block_gas_limit().await? / 2;
    // Dry-run the whole list first, so that a refusal anywhere sends nothing.
    // (A list too large for one block fails to estimate otherwise; the batches below split it.)
    if let Err(refused @ (ChainError::Reverted { .. } | ChainError::Unreachable { .. })) =
        consortium.estimate_vote_batch(ids, approve).await
    {
        return Err(refused);
    }
    let mut batches = Vec::new();
    let mut rest = ids;
    while !rest.is_empty() {
        let mut size = rest.len();
        loop {
            match consortium.estimate_vote_batch(&rest[..size], approve).await {
                Ok(gas) if gas <= budget || size == 1 => break,
                Err(refused @ (ChainError::Reverted { .. } | ChainError::Unreachable { .. })) => return Err(refused),
                Err(other) if size == 1 => return Err(other),
                Ok(_) | Err(_) => size /= 2,
            }
        }
        let outcome = consortium.vote_batch(&rest[..size], approve).await?;
        batches.push(VoteBatch {
            entry_ids: rest[..size].to_vec(),
            tx_hash: outcome.tx_hash,
            block: outcome.block,
            gas_used: outcome.gas_used,
        });
        rest = &rest[size..];
    }
    Ok(batches)
}
