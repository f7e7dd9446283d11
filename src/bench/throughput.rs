//! Submissions per second from one account: waiting for each receipt, pipelined, or imported in
//! batches as `hrm import` sends them.

use std::path::Path;
use std::time::{Duration, Instant};

use alloy::providers::Provider;
use serde::Serialize;

use super::BenchError;
use super::seed::{SEED_GAS, pipelined_provider, wait_for};
use crate::chain::{Confirmations, Consortium, DeploymentStore, EntryKind, HealthRecords};
use crate::devnet::{Engine, LocalNetwork, NetworkSpec};
use crate::import::{ImportIdentity, ImportJournal, ImportParty, ImportReport, ImportRow, ImportSettings, import_rows};
use crate::migration::{MigrationOptions, migrate};
use crate::scenario::{ConsortiumScenario, ScenarioPlan, sample_record, set_up_consortium};
use crate::store::Archive;
use crate::submission::{gather_recipients, seal, seal_for_submission};
use crate::voting::vote_on_entries;

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
    /// Records taken from import to the archive.
    pub end_to_end: EndToEnd,
}

/// Records brought all the way: imported, voted on by every panel hospital and the patient (each
/// voter's votes in batches, voters at once), and migrated into the archive.
#[derive(Debug, Clone, Serialize)]
pub struct EndToEnd {
    pub records: usize,
    /// The nodes' block gas limit, which bounds batches of records and of votes.
    pub block_gas_limit: u64,
    #[serde(serialize_with = "crate::serialize::duration_as_seconds")]
    pub import: Duration,
    #[serde(serialize_with = "crate::serialize::duration_as_seconds")]
    pub votes: Duration,
    /// Vote transactions sent, all voters together.
    pub vote_transactions: usize,
    #[serde(serialize_with = "crate::serialize::duration_as_seconds")]
    pub migration: Duration,
    /// From the first import transaction to the last archived record.
    #[serde(serialize_with = "crate::serialize::duration_as_seconds")]
    pub elapsed: Duration,
    pub approved_records_per_second: f64,
}

/// Measures `submissions` health submissions each way on a fresh network of `engine`, then takes
/// `records` records from import to the archive.
pub async fn bench_throughput(
    engine: Engine,
    submissions: usize,
    records: usize,
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

    let mongodb_uri = network.mongodb_uri().ok_or(BenchError::MissingService("document database"))?;
    let archive = crate::store::Archive::connect(&mongodb_uri, "hrm_bench_throughput").await?;
    let settings = ImportSettings::default();
    let started = Instant::now();
    let imported = import_sample(&primary.client, &archive, &primary.signer, patient, 0..count, workdir).await?;
    let import = started.elapsed();

    let end_to_end = approve_and_archive(&scenario, &archive, count..count + records.max(1), workdir).await?;

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
        end_to_end,
    })
}

/// Imports sample records `lines` about `patient` as `hrm import` does (journaled, envelopes kept
/// in `archive`), each range with its own journal.
async fn import_sample(
    primary: &Consortium,
    archive: &Archive,
    signer: &alloy::signers::local::PrivateKeySigner,
    patient: alloy::primitives::Address,
    lines: std::ops::Range<usize>,
    workdir: &Path,
) -> Result<ImportReport, BenchError> {
    let rows: Vec<ImportRow> =
        lines.clone().map(|i| ImportRow { line: i + 2, patient, record: sample_record(i) }).collect();
    let source = format!("bench throughput {lines:?}");
    let identity = ImportIdentity::of(source, b"", EntryKind::Health, primary);
    let journal_path = workdir.join(format!("import-journal-{}.jsonl", lines.start));
    let mut journal = ImportJournal::open(&journal_path, &identity)
        .map_err(|e| BenchError::failed("opening the import journal", e))?;
    let party = ImportParty { archive, signer };
    import_rows(primary, &party, EntryKind::Health, &rows, &mut journal, ImportSettings::default(), &mut |_| {})
        .await
        .map_err(|e| BenchError::failed("importing", e))
}

/// Imports sample records `lines`, has every panel hospital and the patient approve them (each
/// voter as `hrm vote` does, the voters at once), and migrates them; times each step.
async fn approve_and_archive(
    scenario: &ConsortiumScenario,
    archive: &Archive,
    lines: std::ops::Range<usize>,
    workdir: &Path,
) -> Result<EndToEnd, BenchError> {
    let (primary, patient) = (scenario.primary(), &scenario.patients[0]);
    let block_gas_limit = primary.client.block_gas_limit().await?;
    let records = lines.len();
    let started = Instant::now();
    let imported = import_sample(&primary.client, archive, &primary.signer, patient.address(), lines, workdir).await?;
    let import = started.elapsed();
    let ids: Vec<u64> = imported.rows.iter().map(|row| row.entry_id).collect();

    let voted_at = Instant::now();
    let voters = scenario.panel().iter().chain([patient]);
    let batches =
        futures_util::future::try_join_all(voters.map(|voter| vote_on_entries(&voter.client, &ids, true))).await?;
    let votes = voted_at.elapsed();

    let migrated_at = Instant::now();
    // Every vote is mined: read up to the head, as a follower does once blocks are final.
    let options = MigrationOptions { confirmations: Confirmations::Depth(0), ..MigrationOptions::default() };
    let report = migrate(&primary.client, archive, &primary.signer, &options, |_| {}).await?;
    let migration = migrated_at.elapsed();
    if report.migrated < records || !report.failed.is_empty() {
        return Err(BenchError::IncompleteMigration {
            migrated: report.migrated,
            expected: records,
            failed: report.failed.len(),
        });
    }
    let elapsed = started.elapsed();
    Ok(EndToEnd {
        records,
        block_gas_limit,
        import,
        votes,
        vote_transactions: batches.iter().map(Vec::len).sum(),
        migration,
        elapsed,
        approved_records_per_second: records as f64 / elapsed.as_secs_f64(),
    })
}
