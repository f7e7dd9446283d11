//! Reading the contract's event log in batched `eth_getLogs` queries.

use std::collections::HashMap;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;

use super::contract::HealthRecords;
use super::{ChainError, Consortium, EntryKind, Submission};

/// Most entry ids named in one log query's topic filter.
const IDS_PER_QUERY: usize = 200;
/// Blocks per `eth_getLogs` query when a range is read whole (public nodes cap the range).
const BLOCKS_PER_QUERY: u64 = 10_000;

/// An `EntryApproved` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub id: u64,
    pub kind: EntryKind,
    pub patient: Address,
    pub tx_hash: B256,
    pub block: u64,
}

impl Consortium {
    async fn logs(&self, filter: Filter) -> Result<Vec<Log>, ChainError> {
        let filter = filter.address(self.deployment().address);
        self.connection()
            .provider()
            .get_logs(&filter)
            .await
            .map_err(|e| ChainError::from_transport(e, self.connection().rpc_url().as_str(), None))
    }

    /// The latest block number.
    pub async fn head_block(&self) -> Result<u64, ChainError> {
        self.connection()
            .provider()
            .get_block_number()
            .await
            .map_err(|e| ChainError::from_transport(e, self.connection().rpc_url().as_str(), None))
    }

    /// Approvals mined in blocks `from..=to`, in chain order.
    pub async fn approvals_between(&self, from: u64, to: u64) -> Result<Vec<Approval>, ChainError> {
        let filter =
            Filter::new().event_signature(HealthRecords::EntryApproved::SIGNATURE_HASH).from_block(from).to_block(to);
        self.logs(filter)
            .await?
            .iter()
            .map(|log| {
                let event = decode::<HealthRecords::EntryApproved>(log)?;
                Ok(Approval {
                    id: event.id.saturating_to(),
                    kind: EntryKind::from_u8(event.kind)
                        .ok_or_else(|| ChainError::Rpc(format!("unknown entry kind {}", event.kind)))?,
                    patient: event.patient,
                    tx_hash: log.transaction_hash.unwrap_or_default(),
                    block: log.block_number.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Approvals mined in blocks `from..=to`, however long the range, in queries of at most
    /// 10,000 blocks.
    pub async fn all_approvals_between(&self, from: u64, to: u64) -> Result<Vec<Approval>, ChainError> {
        let mut approvals = Vec::new();
        let mut start = from;
        while start <= to {
            let end = to.min(start.saturating_add(BLOCKS_PER_QUERY - 1));
            approvals.extend(self.approvals_between(start, end).await?);
            start = end + 1;
        }
        Ok(approvals)
    }

    /// The submission events of `ids` (mined up to block `to`), by id.
    pub async fn submissions_of(&self, ids: &[u64], to: u64) -> Result<HashMap<u64, Submission>, ChainError> {
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let filter = self.entry_filter(HealthRecords::EntrySubmitted::SIGNATURE_HASH, chunk, to);
            for log in self.logs(filter).await? {
                let event = decode::<HealthRecords::EntrySubmitted>(&log)?;
                let id = event.id.saturating_to();
                let kind = EntryKind::from_u8(event.kind)
                    .ok_or_else(|| ChainError::Rpc(format!("unknown entry kind {}", event.kind)))?;
                found.insert(
                    id,
                    Submission {
                        id,
                        kind,
                        patient: event.patient,
                        submitter: event.submitter,
                        envelope_digest: event.envelopeDigest,
                        panel_id: event.panelId,
                        commitment: event.commitment,
                        tx_hash: log.transaction_hash.unwrap_or_default(),
                        block: log.block_number.unwrap_or_default(),
                    },
                );
            }
        }
        Ok(found)
    }

    /// The accounts that approved each of `ids` (votes mined up to block `to`), in vote order.
    pub async fn approvers_of(&self, ids: &[u64], to: u64) -> Result<HashMap<u64, Vec<Address>>, ChainError> {
        let mut voters: HashMap<u64, Vec<Address>> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let filter = self.entry_filter(HealthRecords::VoteCast::SIGNATURE_HASH, chunk, to);
            for log in self.logs(filter).await? {
                let event = decode::<HealthRecords::VoteCast>(&log)?;
                if event.approve {
                    voters.entry(event.id.saturating_to()).or_default().push(event.voter);
                }
            }
        }
        Ok(voters)
    }

    fn entry_filter(&self, signature: B256, ids: &[u64], to: u64) -> Filter {
        let topics: Vec<B256> = ids.iter().map(|id| B256::from(U256::from(*id))).collect();
        Filter::new().event_signature(signature).topic1(topics).from_block(self.deployment().deploy_block).to_block(to)
    }
}

pub(super) fn decode<E: SolEvent>(log: &Log) -> Result<E, ChainError> {
    E::decode_log(&log.inner)
        .map(|l| l.data)
        .map_err(|e| ChainError::Rpc(format!("decoding a {} event: {e}", E::SIGNATURE)))
}
