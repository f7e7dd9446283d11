//! Blocks as migration and the audit see them: hashes to notice reorganisations, the newest block
//! that is safe to read, and where a transaction was mined.

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::B256;
use alloy::providers::Provider;
use serde::Serialize;

use super::{ChainError, Consortium};

/// Blocks to stay behind the head on a chain that neither mines instantly nor reports a
/// finalized block (a Geth Clique network): with one-second blocks, a short wait; deeper than
/// the one- or two-block forks two Clique sealers can briefly disagree on.
pub const DEFAULT_CONFIRMATION_DEPTH: u64 = 12;

/// How far behind the head migration reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confirmations {
    /// Decide from the chain: 0 on an instant-mining development chain (Anvil's automine), the
    /// node's `finalized` block where it reports one, else [`DEFAULT_CONFIRMATION_DEPTH`].
    #[default]
    Auto,
    /// Exactly this many blocks behind the head.
    Depth(u64),
}

/// Which rule chose the block migration reads up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum ConfirmationRule {
    /// An instant-mining development chain: every block is final as soon as it exists.
    InstantMining,
    /// The node's `finalized` block.
    Finalized,
    /// A fixed depth behind the head.
    Depth { blocks: u64 },
}

impl std::fmt::Display for ConfirmationRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InstantMining => write!(f, "the head (instant-mining development chain)"),
            Self::Finalized => write!(f, "the node's finalized block"),
            Self::Depth { blocks } => write!(f, "{blocks} blocks behind the head"),
        }
    }
}

/// The head, and the newest block the confirmation rule lets migration read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConfirmedHead {
    pub head: u64,
    pub confirmed: u64,
    #[serde(flatten)]
    pub rule: ConfirmationRule,
}

impl Consortium {
    pub(super) fn transport_error(&self) -> impl Fn(alloy::transports::TransportError) -> ChainError + '_ {
        |e| ChainError::from_transport(e, self.connection().rpc_url().as_str(), None)
    }

    /// The hash of block `number` on the node's canonical chain; `None` past the head.
    pub async fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainError> {
        let block = self
            .connection()
            .provider()
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(self.transport_error())?;
        Ok(block.map(|b| b.header.hash))
    }

    /// The block number and hash a transaction was mined in on the canonical chain; `None` when
    /// it is not (or no longer) there.
    pub async fn mined_in(&self, tx_hash: B256) -> Result<Option<(u64, B256)>, ChainError> {
        let receipt =
            self.connection().provider().get_transaction_receipt(tx_hash).await.map_err(self.transport_error())?;
        Ok(receipt.and_then(|r| Some((r.block_number?, r.block_hash?))))
    }

    /// The head and the newest block `confirmations` lets migration read.
    pub async fn confirmed_head(&self, confirmations: Confirmations) -> Result<ConfirmedHead, ChainError> {
        let head = self.head_block().await?;
        let provider = self.connection().provider();
        let rule = match confirmations {
            Confirmations::Depth(blocks) => ConfirmationRule::Depth { blocks },
            Confirmations::Auto => {
                // Anvil answers `anvil_getAutomine`; other nodes refuse the method.
                let automine: Option<bool> = provider.raw_request("anvil_getAutomine".into(), ()).await.ok();
                if automine == Some(true) {
                    ConfirmationRule::InstantMining
                } else {
                    match provider.get_block_by_number(BlockNumberOrTag::Finalized).await {
                        Ok(Some(block)) => {
                            return Ok(ConfirmedHead {
                                head,
                                confirmed: block.header.number.min(head),
                                rule: ConfirmationRule::Finalized,
                            });
                        }
                        // Geth on a Clique network has no finalized block and says so.
                        _ => ConfirmationRule::Depth { blocks: DEFAULT_CONFIRMATION_DEPTH },
                    }
                }
            }
        };
        let confirmed = match rule {
            ConfirmationRule::Depth { blocks } => head.saturating_sub(blocks),
            _ => head,
        };
        Ok(ConfirmedHead { head, confirmed, rule })
    }
}
