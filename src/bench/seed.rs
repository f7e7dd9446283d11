//! Filling a fresh chain with approved entries quickly, for benchmarks.

use std::path::Path;
use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::U256;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest::Url;

use super::BenchError;
use crate::chain::dev_keys::dev_signer;
use crate::chain::keys::public_key_bytes;
use crate::chain::{Connection, Consortium, DeploymentStore, HealthRecords};
use crate::records::{HealthDetails, Readings, Record};
use crate::submission::{gather_recipients, seal};

/// Gas limit given to seeded transactions, so that no estimate is needed per transaction.
pub(super) const SEED_GAS: u64 = 400_000;
/// Transactions in flight before waiting for the latest receipt. A deep queue makes Anvil mine
/// full blocks, and full blocks raise the base fee until queued transactions are priced out.
const IN_FLIGHT: usize = 200;

/// A deployed consortium: primary dev:1, supporting dev:2, patient dev:6, admin dev:0.
pub struct SeededConsortium {
    pub primary: Consortium,
    pub member: Consortium,
    pub patient: Consortium,
    pub primary_signer: PrivateKeySigner,
}

/// Deploys and sets up the consortium (saved under `home`).
pub async fn seed_consortium(rpc_url: &Url, home: &Path) -> Result<SeededConsortium, BenchError> {
    let store = DeploymentStore::new(home.join("deployments"));
    let connect = |index: usize| async move {
        Ok::<_, BenchError>(Connection::open(rpc_url.clone(), Duration::from_secs(60)).await?.with_signer(dev(index)))
    };
    connect(0).await?.deploy(&store, true).await?;
    let admin = connect(0).await?.attach(&store).await?;
    let primary = connect(1).await?.attach(&store).await?;
    let member = connect(2).await?.attach(&store).await?;
    let patient = connect(6).await?.attach(&store).await?;
    admin.register_hospital(primary.sender(), "Primary").await?;
    admin.register_hospital(member.sender(), "Supporting").await?;
    for (party, index) in [(&primary, 1), (&member, 2), (&patient, 6)] {
        party.publish_key(public_key_bytes(&dev(index))).await?;
    }
    primary.set_supporting_hospitals(vec![member.sender()]).await?;
    Ok(SeededConsortium { primary, member, patient, primary_signer: dev(1) })
}

fn dev(index: usize) -> PrivateKeySigner {
    dev_signer(index).expect("a development key")
}

/// A provider that keeps its own nonce, so transactions can be sent back to back without
/// waiting for each receipt.
pub(super) fn pipelined_provider(rpc_url: &Url, signer: PrivateKeySigner) -> DynProvider {
    ProviderBuilder::new()
        .with_cached_nonce_management()
        .wallet(EthereumWallet::from(signer))
        .connect_http(rpc_url.clone())
        .erased()
}

/// Submits `count` health records and has both required voters approve each; returns the ids.
pub async fn seed_approved_entries(
    seeded: &SeededConsortium,
    rpc_url: &Url,
    count: usize,
) -> Result<Vec<u64>, BenchError> {
    let address = seeded.primary.deployment().address;
    let first_id = seeded.primary.entry_count().await? + 1;
    let recipients = gather_recipients(&seeded.primary, seeded.patient.sender()).await?;
    let fees = |provider: &DynProvider| {
        let provider = provider.clone();
        async move {
            provider
                .get_gas_price()
                .await
                .map(|p| p * 4)
                .map_err(|e| BenchError::Other(format!("reading the gas price: {e}")))
        }
    };

    let primary = pipelined_provider(rpc_url, dev(1));
    let max_fee = fees(&primary).await?;
    let contract = HealthRecords::new(address, primary.clone());
    let mut last = None;
    for i in 0..count {
        let record = sample_record(i);
        let sealed = seal(&record, &recipients)?;
        let pending = contract
            .submitHealthDetails(seeded.patient.sender(), sealed.commitment, sealed.envelope)
            .gas(SEED_GAS)
            .max_fee_per_gas(max_fee)
            .max_priority_fee_per_gas(1)
            .send()
            .await
            .map_err(|e| BenchError::Other(format!("seeding submission {i}: {e}")))?;
        last = Some(pending);
        if (i + 1) % IN_FLIGHT == 0 {
            wait_for(last.take()).await?;
        }
    }
    wait_for(last).await?;
    let ids: Vec<u64> = (first_id..first_id + count as u64).collect();

    for voter in [dev(2), dev(6)] {
        let provider = pipelined_provider(rpc_url, voter);
        let contract = HealthRecords::new(address, provider);
        let mut last = None;
        for (sent, id) in ids.iter().enumerate() {
            let pending = contract
                .approvePendingEntry(U256::from(*id))
                .gas(SEED_GAS)
                .max_fee_per_gas(max_fee)
                .max_priority_fee_per_gas(1)
                .send()
                .await
                .map_err(|e| BenchError::Other(format!("seeding a vote on entry {id}: {e}")))?;
            last = Some(pending);
            if (sent + 1) % IN_FLIGHT == 0 {
                wait_for(last.take()).await?;
            }
        }
        wait_for(last).await?;
    }
    Ok(ids)
}

pub(super) async fn wait_for(
    pending: Option<alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>>,
) -> Result<(), BenchError> {
    if let Some(pending) = pending {
        let receipt =
            pending.get_receipt().await.map_err(|e| BenchError::Other(format!("waiting for seeding: {e}")))?;
        if !receipt.status() {
            return Err(BenchError::Other(format!("seeding transaction {} reverted", receipt.transaction_hash)));
        }
    }
    Ok(())
}

/// A plausible record that varies with `i`.
pub fn sample_record(i: usize) -> Record {
    let wobble = (i % 50) as f64;
    Record::Health(HealthDetails {
        recorded_at: "2026-11-02".into(),
        readings: Readings {
            pregnancies: (i % 8) as u32,
            glucose: 85.0 + wobble * 2.0,
            blood_pressure: 60.0 + (i % 30) as f64,
            skin_thickness: 15.0 + (i % 25) as f64,
            insulin: (i % 4) as f64 * 40.0,
            bmi: 22.0 + wobble / 5.0,
            diabetes_pedigree: 0.2 + (i % 10) as f64 / 20.0,
            age: 21 + (i % 50) as u32,
        },
        notes: Some(format!("benchmark visit {i}")),
    })
}
