//! Submissions per second from one account: waiting for each receipt, pipelined, or imported in
//! batches as `hrm import` sends them.

use std::path::Path;
use std::time::{Duration, Instant};

use alloy::providers::Provider;
use serde::Serialize;

use super::BenchError;
use super::seed::{SEED_GAS, pipelined_provider, wait_for};
use crate::chain::{DeploymentStore, EntryKind, HealthRecords};
use crate::devnet::{Engine, LocalNetwork, NetworkSpec};
use crate::import::{ImportIdentity, ImportJournal, ImportParty, ImportRow, ImportSettings, import_rows};
use crate::scenario::{ScenarioPlan, sample_record, set_up_consortium};
use crate::submission::{gather_recipients, seal, seal_for_submission};

/// Submissions per second both ways.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputBench {
    pub engine: String,
    pub submissions: usize,
    /// Each submission sealed, sent and its receipt awaited before the next.
    pub sequential_per_second: f64,
    /// All sealed, then sent back to back with a locally kept nonce; receipts awaited at the end.
    pub pipelined_per_second: f64,
    /// The import path (`hrm import`): sealed and sent in batches, journaled, batches in flight.
    pub import_per_second: f64,
    /// Records per batch on the import path.
    pub import_batch_size: usize,
    /// Gas per record on the import path.
    pub import_gas_per_record: u64,
    #[serde(serialize_with = "crate::serialize::duration_as_seconds")]
    pub sequential: Duration,
    #[serde(serialize_with = "crate::serialize::duration_as_seconds")]
    pub pipelined: Duration,
    #[serde(serialize_with = "crate::serialize::duration_as_seconds")]
    pub import: Duration,
}

/// Measures `submissions` health submissions each way on a fresh network of `engine`.
pub async fn bench_throughput(
    engine: Engine,
    submissions: usize,
    workdir: &Path,
) -> Result<ThroughputBench, BenchError> {
    let network = LocalNetwork::start(&NetworkSpec::of(engine), workdir).await?;
    // The benchmark talks to node 1 only.
    let rpc_urls = [network.rpc_url()];
    let store = DeploymentStore::new(workdir.join("deployments"));
    let scenario = set_up_consortium(&rpc_urls, &store, &ScenarioPlan::minimal()).await?;
    let primary = scenario.primary();
    let patient = scenario.patients[0].address();
    let count = submissions.max(1);

    // Sealing and sending, one at a time, as `hrm submit-health` does; no database here, so
    // each envelope is only measured, not kept.
    let started = Instant::now();
    for i in 0..count {
        let sealed = seal_for_submission(&primary.client, patient, &sample_record(i)).await?;
        primary.client.submit(EntryKind::Health, patient, sealed.commitment, sealed.envelope_digest).await?;
    }
    let sequential = started.elapsed();

    let recipients = gather_recipients(&primary.client, patient).await?;
    let provider = pipelined_provider(primary.client.connection().rpc_url(), primary.signer.clone());
    let max_fee = provider.get_gas_price().await.map_err(|e| BenchError::failed("reading the gas price", e))? * 50;
    let contract = HealthRecords::new(primary.client.deployment().address, provider);
    let started = Instant::now();
    let mut pending = Vec::with_capacity(count);
    for i in 0..count {
        let sealed = seal(&sample_record(i), &recipients)?;
        let sent = contract
            .submitHealthDetails(patient, sealed.commitment, sealed.envelope_digest)
            .gas(SEED_GAS)
            .max_fee_per_gas(max_fee)
            .max_priority_fee_per_gas(1)
            .send()
            .await
            .map_err(|e| BenchError::failed(format!("sending submission {i}"), e))?;
        pending.push(sent);
    }
    for sent in pending {
        wait_for(Some(sent)).await?;
    }
    let pipelined = started.elapsed();

    let rows: Vec<ImportRow> =
        (0..count).map(|i| ImportRow { line: i + 2, patient, record: sample_record(i) }).collect();
    let identity = ImportIdentity::of("bench throughput".into(), b"", EntryKind::Health, &primary.client);
    let mut journal = ImportJournal::open(&workdir.join("import-journal.jsonl"), &identity)
        .map_err(|e| BenchError::failed("opening the import journal", e))?;
    let settings = ImportSettings::default();
    let started = Instant::now();
    let mongodb_uri = network.mongodb_uri().ok_or(BenchError::MissingService("document database"))?;
    let archive = crate::store::Archive::connect(&mongodb_uri, "hrm_bench_throughput").await?;
    let party = ImportParty { archive: &archive, signer: &primary.signer };
    let imported = import_rows(&primary.client, &party, EntryKind::Health, &rows, &mut journal, settings, &mut |_| {})
        .await
        .map_err(|e| BenchError::failed("importing", e))?;
    let import = started.elapsed();

    Ok(ThroughputBench {
        engine: engine.as_str().to_string(),
        submissions: count,
        sequential_per_second: count as f64 / sequential.as_secs_f64(),
        pipelined_per_second: count as f64 / pipelined.as_secs_f64(),
        import_per_second: count as f64 / import.as_secs_f64(),
        import_batch_size: settings.batch_size,
        import_gas_per_record: imported.gas_per_row(),
        sequential,
        pipelined,
        import,
    })
}
