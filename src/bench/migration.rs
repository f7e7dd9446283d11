//! How fast approved entries move from the chain into the archive.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::BenchError;
use super::seed::seed_approved_entries;
use crate::chain::{DeploymentRecord, DeploymentStore};
use crate::devnet::{Engine, LocalNetwork, NetworkSpec};
use crate::migration::{MigrationOptions, migrate};
use crate::scenario::{ScenarioPlan, set_up_consortium};
use crate::store::{Archive, RecordCollection};

/// The figures of one migration benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationBench {
    pub entries: usize,
    /// Migration time, from the first chain query to the last write.
    #[serde(serialize_with = "crate::serialize::duration_as_seconds")]
    pub elapsed: Duration,
    pub entries_per_second: f64,
    /// A second run over the same chain: nothing new, everything found in place.
    #[serde(serialize_with = "crate::serialize::duration_as_seconds")]
    pub rerun_elapsed: Duration,
    /// Time spent creating the approved entries (not part of the figure).
    #[serde(serialize_with = "crate::serialize::duration_as_seconds")]
    pub seeding: Duration,
    pub audit_clean: bool,
    /// The database's own speed for the same documents: a plain `insert_many` of the records
    /// migration wrote, in commands of the same size, into fresh collections with the archive's
    /// indexes, on the same server, right after migration.
    pub raw_insert: RawInsert,
    /// Migration's speed over the raw insert's (target ≥ 0.5).
    pub ratio_to_raw_insert: f64,
}

/// A raw bulk insert of the migrated documents.
#[derive(Debug, Clone, Serialize)]
pub struct RawInsert {
    pub documents: usize,
    /// Into collections indexed as the archive's are (the baseline of the ratio).
    #[serde(serialize_with = "crate::serialize::duration_as_seconds")]
    pub elapsed: Duration,
    pub documents_per_second: f64,
    /// Into collections with no index but `_id`, for reference: what each index costs.
    #[serde(serialize_with = "crate::serialize::duration_as_seconds")]
    pub unindexed_elapsed: Duration,
    pub unindexed_documents_per_second: f64,
}

/// Seeds `entries` approved entries on a fresh Anvil, migrates them into a fresh local
/// MongoDB-wire server, and times it.
pub async fn bench_migration(entries: usize, workdir: &std::path::Path) -> Result<MigrationBench, BenchError> {
    let network = LocalNetwork::start(&NetworkSpec::of(Engine::Anvil), workdir).await?;
    let mongodb_uri = network.mongodb_uri().ok_or(BenchError::MissingService("document database"))?;
    let store = DeploymentStore::new(workdir.join("deployments"));
    let scenario = set_up_consortium(&network.rpc_urls(), &store, &ScenarioPlan::minimal()).await?;
    let archive = Archive::connect(&mongodb_uri, "hrm_bench").await?;
    let seeding_started = Instant::now();
    seed_approved_entries(&scenario, &archive, entries).await?;
    let seeding = seeding_started.elapsed();

    let options = MigrationOptions::default();
    let (primary, signer) = (&scenario.primary().client, &scenario.primary().signer);
    let report = migrate(primary, &archive, signer, &options, |_| {}).await?;
    if report.migrated != entries || !report.failed.is_empty() {
        return Err(BenchError::IncompleteMigration {
            migrated: report.migrated,
            expected: entries,
            failed: report.failed.len(),
        });
    }
    let rerun = migrate(primary, &archive, signer, &options, |_| {}).await?;
    let audit = crate::audit::audit(primary, &archive).await?;
    let raw_insert = raw_insert(&archive, primary.deployment(), options.write_chunk).await?;
    let entries_per_second = entries as f64 / report.elapsed.as_secs_f64();
    Ok(MigrationBench {
        entries,
        elapsed: report.elapsed,
        entries_per_second,
        ratio_to_raw_insert: entries_per_second / raw_insert.documents_per_second,
        raw_insert,
        rerun_elapsed: rerun.elapsed,
        seeding,
        audit_clean: audit.is_clean(),
    })
}

/// Bulk-inserts the documents migration wrote, as they are stored, into scratch collections of
/// the same database: once indexed as the archive is, once with `_id` alone.
async fn raw_insert(archive: &Archive, deployment: &DeploymentRecord, chunk: usize) -> Result<RawInsert, BenchError> {
    let mut documents = 0;
    let (mut elapsed, mut unindexed_elapsed) = (Duration::ZERO, Duration::ZERO);
    for collection in RecordCollection::ALL {
        let stored = archive.documents_of(collection, deployment.chain_id, deployment.address).await?;
        documents += stored.len();
        let scratch = format!("bench_raw_{}", collection.name());
        elapsed += archive.bulk_insert_fresh(&scratch, Some(collection), &stored, chunk).await?;
        unindexed_elapsed += archive.bulk_insert_fresh(&scratch, None, &stored, chunk).await?;
    }
    Ok(RawInsert {
        documents,
        elapsed,
        documents_per_second: documents as f64 / elapsed.as_secs_f64(),
        unindexed_elapsed,
        unindexed_documents_per_second: documents as f64 / unindexed_elapsed.as_secs_f64(),
    })
}
