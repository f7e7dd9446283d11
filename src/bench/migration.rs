//! How fast approved entries move from the chain into the archive.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::BenchError;
use super::seed::seed_approved_entries;
use crate::chain::DeploymentStore;
use crate::devnet::{Engine, LocalNetwork, NetworkSpec};
use crate::migration::{MigrationOptions, migrate};
use crate::scenario::{ScenarioPlan, set_up_consortium};
use crate::store::Archive;

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
    Ok(MigrationBench {
        entries,
        elapsed: report.elapsed,
        entries_per_second: entries as f64 / report.elapsed.as_secs_f64(),
        rerun_elapsed: rerun.elapsed,
        seeding,
        audit_clean: audit.is_clean(),
    })
}
