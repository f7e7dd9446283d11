//! How fast approved entries move from the chain into the archive.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::seed::seed_approved_entries;
use super::{BenchError, seed_consortium};
use crate::devnet::LocalStack;
use crate::migration::{MigrationOptions, migrate};
use crate::store::Archive;

/// The figures of one migration benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationBench {
    pub entries: usize,
    /// Migration time, from the first chain query to the last write.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
    pub entries_per_second: f64,
    /// A second run over the same chain: nothing new, everything found in place.
    #[serde(serialize_with = "seconds")]
    pub rerun_elapsed: Duration,
    /// Time spent creating the approved entries (not part of the figure).
    #[serde(serialize_with = "seconds")]
    pub seeding: Duration,
    pub audit_clean: bool,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Seeds `entries` approved entries on a fresh Anvil, migrates them into a fresh local
/// MongoDB-wire server, and times it.
pub async fn bench_migration(entries: usize, workdir: &std::path::Path) -> Result<MigrationBench, BenchError> {
    let services = LocalStack::start(workdir, true)?;
    let rpc_url = services.anvil.rpc_url().parse().map_err(|e| BenchError::Other(format!("anvil's URL: {e}")))?;
    let seeded = seed_consortium(&rpc_url, &workdir.join("home")).await?;
    let seeding_started = Instant::now();
    seed_approved_entries(&seeded, &rpc_url, entries).await?;
    let seeding = seeding_started.elapsed();

    let archive = Archive::connect(&services.docdb.uri(), "hrm_bench").await?;
    let options = MigrationOptions::default();
    let report = migrate(&seeded.primary, &archive, &seeded.primary_signer, &options, |_| {}).await?;
    if report.migrated != entries || !report.failed.is_empty() {
        return Err(BenchError::Other(format!(
            "migrated {} of {entries} entries ({} failed)",
            report.migrated,
            report.failed.len()
        )));
    }
    let rerun = migrate(&seeded.primary, &archive, &seeded.primary_signer, &options, |_| {}).await?;
    let audit = crate::audit::audit(&seeded.primary, &archive).await?;
    Ok(MigrationBench {
        entries,
        elapsed: report.elapsed,
        entries_per_second: entries as f64 / report.elapsed.as_secs_f64(),
        rerun_elapsed: rerun.elapsed,
        seeding,
        audit_clean: audit.is_clean(),
    })
}
