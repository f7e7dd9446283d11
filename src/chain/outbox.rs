//! Transactions signed here and sent as raw bytes.
//!
//! A caller that must never submit a record twice (the importer) writes a signed transaction down
//! before broadcasting it. After a crash it can send the very same bytes again: they have the same
//! hash and nonce, so at most one copy is ever mined, and the nonce tells whether it never will be.

use std::time::Duration;

use alloy::network::eip2718::Encodable2718;
use alloy::network::{NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{B256, Bytes};
use alloy::providers::Provider;
use alloy::rpc::types::{BlockNumberOrTag, TransactionReceipt, TransactionRequest};
use serde::{Deserialize, Serialize};

use super::consortium::{Consortium, SealedSubmission};
use super::{ChainError, EntryKind};

/// A transaction signed and ready to broadcast, as a journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTransaction {
    pub hash: B256,
    pub nonce: u64,
    pub raw: Bytes,
}

/// Fee caps for transactions sent back to back.
#[derive(Debug, Clone, Copy)]
pub struct FeeCaps {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

/// What became of a broadcast transaction.
#[derive(Debug)]
pub enum TransactionFate {
    /// Mined, successfully or not.
    Mined(Box<TransactionReceipt>),
    /// Another transaction of the sender's was mined with its nonce: it never will be.
    Dropped,
}

/// How often a transaction still waiting for its receipt is sent again.
const REBROADCAST_EVERY: Duration = Duration::from_secs(5);
/// How often to ask for a receipt.
const RECEIPT_POLL: Duration = Duration::from_millis(200);

impl Consortium {
    /// The signer's next nonce: counting its transactions still waiting in the pool when
    /// `pending`, only the mined ones otherwise.
    pub async fn next_nonce(&self, pending: bool) -> Result<u64, ChainError> {
        let count = self.connection().provider().get_transaction_count(self.sender());
        let count = if pending { count.pending() } else { count.latest() };
        count.await.map_err(|e| self.connection().transport_error(e))
    }

    /// Fee caps with room for the base fee to double while transactions wait in the pool.
    pub async fn fee_caps(&self) -> Result<FeeCaps, ChainError> {
        let estimate = self
            .connection()
            .provider()
            .estimate_eip1559_fees()
            .await
            .map_err(|e| self.connection().transport_error(e))?;
        Ok(FeeCaps {
            max_fee_per_gas: estimate.max_fee_per_gas.saturating_mul(2),
            max_priority_fee_per_gas: estimate.max_priority_fee_per_gas,
        })
    }

    /// The gas limit of the newest block.
    pub async fn block_gas_limit(&self) -> Result<u64, ChainError> {
        let block = self
            .connection()
            .provider()
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(|e| self.connection().transport_error(e))?
            .ok_or_else(|| ChainError::Rpc("the node has no latest block".into()))?;
        Ok(block.header.gas_limit)
    }

    /// Gas a batch submission by the signer would use now; the contract's refusal (naming the
    /// record) when it would revert.
    pub async fn estimate_batch_gas(&self, kind: EntryKind, records: &[SealedSubmission]) -> Result<u64, ChainError> {
        let request = self.batch_request(kind, records);
        self.connection()
            .provider()
            .estimate_gas(request)
            .await
            .map_err(|e| self.connection().classify(alloy::contract::Error::TransportError(e)))
    }

    /// Signs a batch submission with the given nonce, gas limit and fees, without sending it.
    pub async fn sign_batch(
        &self,
        kind: EntryKind,
        records: &[SealedSubmission],
        nonce: u64,
        gas_limit: u64,
        fees: FeeCaps,
    ) -> Result<SignedTransaction, ChainError> {
        let request = self
            .batch_request(kind, records)
            .with_nonce(nonce)
            .with_gas_limit(gas_limit)
            .with_chain_id(self.connection().chain_id())
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let envelope = request
            .build(self.connection().wallet())
            .await
            .map_err(|e| ChainError::Rpc(format!("signing a batch: {e}")))?;
        Ok(SignedTransaction { hash: *envelope.tx_hash(), nonce, raw: envelope.encoded_2718().into() })
    }

    /// Broadcasts a signed transaction. Sending one the node already has, or one already mined,
    /// is not an error: that is what a resumed import does.
    pub async fn broadcast(&self, transaction: &SignedTransaction) -> Result<(), ChainError> {
        match self.connection().provider().send_raw_transaction(&transaction.raw).await {
            Ok(_) => Ok(()),
            Err(error) => {
                let text = error.to_string().to_ascii_lowercase();
                let known = ["already known", "already imported", "known transaction", "nonce too low"];
                if known.iter().any(|k| text.contains(k)) {
                    Ok(())
                } else {
                    Err(self.connection().transport_error(error))
                }
            }
        }
    }

    /// Waits (up to the receipt timeout) until a broadcast transaction is mined, or until its
    /// nonce is taken by another one.
    ///
    /// While it waits, the same bytes are sent again now and then: the node that first had them
    /// may have stopped before passing them on, and the connection may have moved to another
    /// node since. The same signed bytes cannot be mined twice.
    pub async fn await_fate(&self, transaction: &SignedTransaction) -> Result<TransactionFate, ChainError> {
        let deadline = tokio::time::Instant::now() + self.connection().receipt_timeout();
        let mut next_broadcast = tokio::time::Instant::now() + REBROADCAST_EVERY;
        loop {
            if tokio::time::Instant::now() >= next_broadcast {
                // A failure here is the node's, which the receipt query below reports.
                let _ = self.broadcast(transaction).await;
                next_broadcast += REBROADCAST_EVERY;
            }
            // The nonce is read before the receipt: when it has moved past ours, the block that
            // moved it was already there when the receipt was asked for.
            let mined_nonce = self.next_nonce(false).await?;
            let receipt = self
                .connection()
                .provider()
                .get_transaction_receipt(transaction.hash)
                .await
                .map_err(|e| self.connection().transport_error(e))?;
            if let Some(receipt) = receipt {
                return Ok(TransactionFate::Mined(Box::new(receipt)));
            }
            if mined_nonce > transaction.nonce {
                return Ok(TransactionFate::Dropped);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ChainError::ReceiptTimeout {
                    tx_hash: transaction.hash,
                    seconds: self.connection().receipt_timeout().as_secs(),
                });
            }
            tokio::time::sleep(RECEIPT_POLL).await;
        }
    }

    fn batch_request(&self, kind: EntryKind, records: &[SealedSubmission]) -> TransactionRequest {
        let patients = records.iter().map(|r| r.patient).collect();
        let commitments = records.iter().map(|r| r.commitment).collect();
        let digests = records.iter().map(|r| r.envelope_digest).collect();
        let input = match kind {
            EntryKind::Health => {
                self.contract().submitHealthDetailsBatch(patients, commitments, digests).calldata().clone()
            }
            EntryKind::Bill => {
                self.contract().submitBillDetailsBatch(patients, commitments, digests).calldata().clone()
            }
        };
        TransactionRequest::default().with_from(self.sender()).with_to(self.deployment().address).with_input(input)
    }
}
