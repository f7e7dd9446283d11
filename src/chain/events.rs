//! Reading the contract's event log in batched `eth_getLogs` queries.

use std::collections::HashMap;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log, Topic};
use alloy::sol_types::SolEvent;

use super::contract::HealthRecords;
use super::logs::BLOCKS_PER_QUERY;
use super::{ChainError, Consortium, EntryKind, Submission};

/// Most entry ids named in one log query's topic filter. A node reads the whole block range for
/// each query, so fewer, larger queries are faster; Geth refuses more than 1,000 per position.
const IDS_PER_QUERY: usize = 500;

/// An `EntryApproved` event: the vote that completed an entry's approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub id: u64,
    /// Who cast the last approving vote.
    pub voter: Address,
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
                    voter: event.voter,
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
        self.submissions_in(ids, self.deployment().deploy_block, to).await
    }

    /// The submission events of `ids` mined in blocks `from..=to`, by id. A node reads every
    /// block of the range, so a caller that knows where the entries were submitted saves the
    /// node that work.
    pub async fn submissions_in(
        &self,
        ids: &[u64],
        from: u64,
        to: u64,
    ) -> Result<HashMap<u64, Submission>, ChainError> {
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let filter = self.entry_filter(HealthRecords::EntrySubmitted::SIGNATURE_HASH, chunk, from, to);
            for log in self.logs(filter).await? {
                let submission = submission_of(&log)?;
                found.insert(submission.id, submission);
            }
        }
        Ok(found)
    }

    /// Every submission about any of `patients` (accounts as the entries name them), in chain
    /// order.
    pub async fn submissions_about(&self, patients: &[Address]) -> Result<Vec<Submission>, ChainError> {
        if patients.is_empty() {
            return Ok(Vec::new());
        }
        let topics: Vec<B256> = patients.iter().map(|patient| patient.into_word()).collect();
        let filter = Filter::new().event_signature(HealthRecords::EntrySubmitted::SIGNATURE_HASH).topic2(topics);
        self.logs_since_deployment(filter).await?.iter().map(submission_of).collect()
    }

    /// The accounts that approved each of `ids` (votes mined up to block `to`), in vote order.
    pub async fn approvers_of(&self, ids: &[u64], to: u64) -> Result<HashMap<u64, Vec<Address>>, ChainError> {
        self.approvers_in(ids, self.deployment().deploy_block, to).await
    }

    /// The accounts that approved each of `ids` with votes mined in blocks `from..=to`, in vote
    /// order: the `VoteCast` events and the `EntryApproved` of the last vote, read together.
    pub async fn approvers_in(
        &self,
        ids: &[u64],
        from: u64,
        to: u64,
    ) -> Result<HashMap<u64, Vec<Address>>, ChainError> {
        let mut voters: HashMap<u64, Vec<Address>> = HashMap::with_capacity(ids.len());
        let approving = vec![HealthRecords::VoteCast::SIGNATURE_HASH, HealthRecords::EntryApproved::SIGNATURE_HASH];
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let filter = self.entry_filter(approving.clone(), chunk, from, to);
            for log in self.logs(filter).await? {
                let (id, voter) = if log.topic0() == Some(&HealthRecords::VoteCast::SIGNATURE_HASH) {
                    let event = decode::<HealthRecords::VoteCast>(&log)?;
                    (event.id, event.voter)
                } else {
                    let event = decode::<HealthRecords::EntryApproved>(&log)?;
                    (event.id, event.voter)
                };
                // Voter 0: approved when a removed hospital's vote was released, not by a vote.
                if voter != Address::ZERO {
                    voters.entry(id.saturating_to()).or_default().push(voter);
                }
            }
        }
        Ok(voters)
    }

    fn entry_filter(&self, signatures: impl Into<Topic>, ids: &[u64], from: u64, to: u64) -> Filter {
        let topics: Vec<B256> = ids.iter().map(|id| B256::from(U256::from(*id))).collect();
        Filter::new().event_signature(signatures).topic1(topics).from_block(from).to_block(to)
    }
}

pub(super) fn decode<E: SolEvent>(log: &Log) -> Result<E, ChainError> {
    E::decode_log(&log.inner)
        .map(|l| l.data)
        .map_err(|e| ChainError::Rpc(format!("decoding a {} event: {e}", E::SIGNATURE)))
}

/// The submission an `EntrySubmitted` log tells.
fn submission_of(log: &Log) -> Result<Submission, ChainError> {
    let event = decode::<HealthRecords::EntrySubmitted>(log)?;
    let id = event.id.saturating_to();
    let kind =
        EntryKind::from_u8(event.kind).ok_or_else(|| ChainError::Rpc(format!("unknown entry kind {}", event.kind)))?;
    Ok(Submission {
        id,
        kind,
        patient: event.patient,
        submitter: event.submitter,
        envelope_digest: event.envelopeDigest,
        panel_id: event.panelId,
        commitment: event.commitment,
        tx_hash: log.transaction_hash.unwrap_or_default(),
        block: log.block_number.unwrap_or_default(),
    })
}
