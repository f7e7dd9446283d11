//! Submissions per second from one account: waiting for each receipt, or pipelined.

use std::path::Path;
use std::time::{Duration, Instant};

use alloy::providers::Provider;
use serde::Serialize;

use super::seed::{SEED_GAS, pipelined_provider, sample_record, seed_consortium, wait_for};
use super::{BenchError, BenchNetwork, Engine};
use crate::chain::HealthRecords;
use crate::chain::dev_keys::dev_signer;
use crate::submission::{gather_recipients, seal, submit_record};

/// Submissions per second both ways.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputBench {
    pub engine: String,
    pub submissions: usize,
    /// Each submission sealed, sent and its receipt awaited before the next.
    pub sequential_per_second: f64,
    /// All sealed, then sent back to back with a locally kept nonce; receipts awaited at the end.
    pub pipelined_per_second: f64,
    #[serde(serialize_with = "seconds")]
    pub sequential: Duration,
    #[serde(serialize_with = "seconds")]
    pub pipelined: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Measures `submissions` health submissions each way on a fresh network of `engine`.
pub async fn bench_throughput(
    engine: Engine,
    submissions: usize,
    workdir: &Path,
) -> Result<ThroughputBench, BenchError> {
    let network = BenchNetwork::start(engine, workdir).await?;
    let url = network.rpc_url().parse().map_err(|e| BenchError::Other(format!("the node's URL: {e}")))?;
    let seeded = seed_consortium(&url, &workdir.join("home")).await?;
    let patient = seeded.patient.sender();
    let count = submissions.max(1);

    let started = Instant::now();
    for i in 0..count {
        submit_record(&seeded.primary, patient, &sample_record(i)).await?;
    }
    let sequential = started.elapsed();

    let recipients = gather_recipients(&seeded.primary, patient).await?;
    let provider = pipelined_provider(&url, dev_signer(1).expect("a development key"));
    let max_fee =
        provider.get_gas_price().await.map_err(|e| BenchError::Other(format!("reading the gas price: {e}")))? * 50;
    let contract = HealthRecords::new(seeded.primary.deployment().address, provider);
    let started = Instant::now();
    let mut pending = Vec::with_capacity(count);
    for i in 0..count {
        let sealed = seal(&sample_record(i), &recipients)?;
        let sent = contract
            .submitHealthDetails(patient, sealed.commitment, sealed.envelope)
            .gas(SEED_GAS)
            .max_fee_per_gas(max_fee)
            .max_priority_fee_per_gas(1)
            .send()
            .await
            .map_err(|e| BenchError::Other(format!("sending submission {i}: {e}")))?;
        pending.push(sent);
    }
    for sent in pending {
        wait_for(Some(sent)).await?;
    }
    let pipelined = started.elapsed();

    Ok(ThroughputBench {
        engine: format!("{engine:?}").to_lowercase(),
        submissions: count,
        sequential_per_second: count as f64 / sequential.as_secs_f64(),
        pipelined_per_second: count as f64 / pipelined.as_secs_f64(),
        sequential,
        pipelined,
    })
}
