//! Filling a fresh chain with approved entries quickly, for benchmarks.

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest::Url;

use super::BenchError;
use crate::chain::HealthRecords;
use crate::scenario::{ConsortiumScenario, sample_record};
use crate::store::{Archive, EnvelopeSource};
use crate::submission::{gather_recipients, seal, seal_for_submission};

/// Gas limit given to single seeded transactions, so that no estimate is needed per transaction.
pub(super) const SEED_GAS: u64 = 400_000;
/// Records per seeded submission, and votes per seeded vote, in one transaction each.
const SEED_BATCH: usize = 50;
/// Gas limit of a seeded batch: 50 submissions or 50 deciding votes take about 2 million.
const SEED_BATCH_GAS: u64 = 4_000_000;
/// Transactions in flight before waiting for the latest receipt. A deep queue makes Anvil mine
/// full blocks, and full blocks raise the base fee until queued transactions are priced out.
const IN_FLIGHT: usize = 20;

/// A provider that keeps its own nonce, so transactions can be sent back to back without
/// waiting for each receipt.
pub(super) fn pipelined_provider(rpc_url: &Url, signer: PrivateKeySigner) -> DynProvider {
    ProviderBuilder::new()
        .with_cached_nonce_management()
        .wallet(EthereumWallet::from(signer))
        .connect_http(rpc_url.clone())
        .erased()
}

/// Submits `count` health records for the scenario's first patient and has the primary's panel
/// and the patient approve each (in batches, as `hrm vote` sends them); returns the ids. The
/// envelopes are kept in `archive`.
pub async fn seed_approved_entries(
    scenario: &ConsortiumScenario,
    archive: &Archive,
    count: usize,
) -> Result<Vec<u64>, BenchError> {
    let ids = seed_pending_entries(scenario, archive, count).await?;
    let primary = &scenario.primary().client;
    let patient = &scenario.patients[0];
    let rpc_url = primary.connection().rpc_url();
    let address = primary.deployment().address;
    let max_fee = primary
        .connection()
        .provider()
        .get_gas_price()
        .await
        .map_err(|e| BenchError::failed("reading the gas price", e))?
        * 4;

    let voters = scenario.panel().iter().chain([patient]);
    for voter in voters {
        let contract = HealthRecords::new(address, pipelined_provider(rpc_url, voter.signer.clone()));
        let mut last = None;
        for (sent, batch) in ids.chunks(SEED_BATCH).enumerate() {
            let batch: Vec<U256> = batch.iter().map(|id| U256::from(*id)).collect();
            let pending = contract
                .approvePendingEntries(batch)
                .gas(SEED_BATCH_GAS)
                .max_fee_per_gas(max_fee)
                .max_priority_fee_per_gas(1)
                .send()
                .await
                .map_err(|e| BenchError::failed(format!("seeding votes from entry {}", ids[sent * SEED_BATCH]), e))?;
            last = Some(pending);
            if (sent + 1) % IN_FLIGHT == 0 {
                wait_for(last.take()).await?;
            }
        }
        wait_for(last).await?;
    }
    Ok(ids)
}

/// Submits `count` health records from the primary about the scenario's first patient, sealed and
/// left waiting for votes, in batches as `hrm import` sends them; returns the ids. The envelopes
/// are kept in `archive`, as a submitting hospital keeps them.
pub async fn seed_pending_entries(
    scenario: &ConsortiumScenario,
    archive: &Archive,
    count: usize,
) -> Result<Vec<u64>, BenchError> {
    let primary = &scenario.primary().client;
    let patient = &scenario.patients[0];
    let rpc_url = primary.connection().rpc_url();
    let address = primary.deployment().address;
    let first_id = primary.entry_count().await? + 1;
    let recipients = gather_recipients(primary, patient.address()).await?;

    let provider = pipelined_provider(rpc_url, scenario.primary().signer.clone());
    let max_fee = provider.get_gas_price().await.map_err(|e| BenchError::failed("reading the gas price", e))? * 4;
    let contract = HealthRecords::new(address, provider);
    let mut last = None;
    let indexes: Vec<usize> = (0..count).collect();
    for (sent, batch) in indexes.chunks(SEED_BATCH).enumerate() {
        let mut sealed = Vec::with_capacity(batch.len());
        for i in batch {
            sealed.push(seal(&sample_record(*i), &recipients)?);
        }
        let envelopes: Vec<&[u8]> = sealed.iter().map(|s| s.envelope.as_slice()).collect();
        archive.store_envelopes(&envelopes, &EnvelopeSource::SealedHere).await?;
        let pending = contract
            .submitHealthDetailsBatch(
                vec![patient.address(); batch.len()],
                sealed.iter().map(|s| s.commitment).collect(),
                sealed.iter().map(|s| s.envelope_digest).collect(),
            )
            .gas(SEED_BATCH_GAS)
            .max_fee_per_gas(max_fee)
            .max_priority_fee_per_gas(1)
            .send()
            .await
            .map_err(|e| BenchError::failed(format!("seeding submissions from record {}", batch[0]), e))?;
        last = Some(pending);
        if (sent + 1) % IN_FLIGHT == 0 {
            wait_for(last.take()).await?;
        }
    }
    wait_for(last).await?;
    let ids: Vec<u64> = (first_id..first_id + count as u64).collect();
    Ok(ids)
}

/// Waits for the receipt of the last of a run of pipelined transactions.
pub(super) async fn wait_for(
    pending: Option<alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>>,
) -> Result<(), BenchError> {
    if let Some(pending) = pending {
        let receipt = pending.get_receipt().await.map_err(|e| BenchError::failed("waiting for a receipt", e))?;
        if !receipt.status() {
            return Err(BenchError::Reverted(receipt.transaction_hash));
        }
    }
    Ok(())
}

/// Seals and submits one record without an archive (what the chain sees is all the benchmarks measure); returns the
/// outcome and the envelope's size.
pub async fn submit_sealed(
    primary: &crate::chain::Consortium,
    patient: Address,
    record: &crate::records::Record,
) -> Result<(crate::chain::TxOutcome, usize), BenchError> {
    let sealed = seal_for_submission(primary, patient, record).await?;
    let outcome = primary.submit(record.kind(), patient, sealed.commitment, sealed.envelope_digest).await?;
    Ok((outcome, sealed.envelope.len()))
}
