//! Follow mode: migration run again and again as the chain grows, through outages of the node or
//! the database, until told to stop.
//!
//! Each pass is an ordinary [`migrate`] run, so everything it promises holds here too: a pass cut
//! short (by an outage or by the stop signal) loses nothing and duplicates nothing, because the
//! checkpoint only moves past what was durably written, and reorganisations are repaired at the
//! start of the next pass.

use std::future::Future;
use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest::Url;
use serde::Serialize;

use crate::chain::Consortium;
use crate::chain::provider::NewHeads;
use crate::erasure::{ErasureError, RetentionPolicy, apply_erasures};
use crate::exchange::retry_deliveries;
use crate::migration::{MigrationError, MigrationOptions, MigrationReport, migrate};
use crate::recovery::{RecoveryApplied, RecoveryError, apply_recoveries};
use crate::store::Archive;
use crate::submission::recipient_key;

/// How the follower paces itself.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Time between passes while all is well.
    pub poll_interval: Duration,
    /// The longest wait between attempts during an outage (the wait doubles up to it).
    pub max_backoff: Duration,
    /// Where to subscribe to new blocks (WebSocket): each new block starts a pass at once, and
    /// `poll_interval` remains the fallback. `None`, or a node that refuses, means polling only.
    pub new_heads_url: Option<Url>,
    /// What the hospital keeps when patients ask for erasure.
    pub retention: RetentionPolicy,
}

impl Default for FollowOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(2),
            max_backoff: Duration::from_secs(30),
            new_heads_url: None,
            retention: RetentionPolicy::default(),
        }
    }
}

/// How long to wait for a WebSocket subscription before polling instead.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the follower depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// The chain's JSON-RPC node.
    Node,
    /// The archive database.
    Database,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Node => "the node",
            Self::Database => "the database",
        })
    }
}

/// What the follower tells its caller; an outage is told once, not at every retry.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FollowEvent {
    /// A pass that archived, failed or repaired something (quiet passes are not told).
    Pass { report: MigrationReport },
    /// A service stopped answering; the follower retries with growing waits.
    Outage { service: Service, message: String },
    /// The service answers again and a pass succeeded.
    Recovered {
        service: Service,
        #[serde(serialize_with = "crate::serialize::duration_as_seconds")]
        after: Duration,
    },
    /// A pass erased records at their patients' request and confirmed it on chain, kept some
    /// under the retention policy, or pushed queued envelopes to the hospitals that missed them.
    Exchanged { erased: Vec<u64>, deferred: Vec<u64>, pushed: usize, still_queued: usize },
    /// A pass carried out patients' moves to new accounts: their records re-sealed to the new key
    /// and filed under the new account.
    PatientsMoved { moves: Vec<RecoveryApplied> },
    /// A patient's move could not be carried out (a damaged envelope, a missing key).
    MoveFailed { message: String },
    /// The follower stopped on request; `next_block` is where the saved checkpoint resumes.
    Stopped { next_block: Option<u64> },
    /// How the follower learns of new blocks: `subscribed` to the node's new heads over
    /// WebSocket (at `url`), or polling (with the reason when a subscription failed). Told at the
    /// start and whenever it changes.
    Watching {
        subscribed: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// Subscribes to new heads when the options name a WebSocket URL, telling how blocks will be
/// learnt of either way.
async fn watch_new_heads(options: &FollowOptions, on_event: &mut impl FnMut(FollowEvent)) -> Option<NewHeads> {
    let Some(url) = &options.new_heads_url else {
        on_event(FollowEvent::Watching { subscribed: false, url: None, reason: None });
        return None;
    };
    match NewHeads::subscribe(url, SUBSCRIBE_TIMEOUT).await {
        Ok(heads) => {
            on_event(FollowEvent::Watching { subscribed: true, url: Some(url.to_string()), reason: None });
            Some(heads)
        }
        Err(error) => {
            on_event(FollowEvent::Watching { subscribed: false, url: None, reason: Some(error.to_string()) });
            None
        }
    }
}

async fn next_head(heads: &mut Option<NewHeads>) -> Option<u64> {
    match heads {
        Some(heads) => heads.next().await,
        None => std::future::pending().await,
    }
}

/// How far the archive is behind the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveLag {
    /// The chain's latest block.
    pub head_block: u64,
    /// The last block migration has read (none before the first run).
    pub checkpoint_block: Option<u64>,
    /// Approvals mined after the checkpoint, waiting to be archived, plus entries that failed and
    /// are retried.
    pub waiting: usize,
}

impl ArchiveLag {
    /// Blocks between the checkpoint and the head.
    pub fn blocks_behind(&self) -> u64 {
        let read = self.checkpoint_block.unwrap_or(0);
        self.head_block.saturating_sub(read)
    }
}

/// Reads how far the archive of `consortium`'s deployment is behind the chain: two reads of the
/// chain (the head, the approvals since the checkpoint) and one of the checkpoint.
pub async fn archive_lag(consortium: &Consortium, archive: &Archive) -> Result<ArchiveLag, MigrationError> {
    let deployment = consortium.deployment();
    let (head_block, checkpoint) =
        tokio::try_join!(async { Ok::<_, MigrationError>(consortium.head_block().await?) }, async {
            Ok(archive.checkpoint(deployment.chain_id, deployment.address).await?)
        })?;
    let next_block = checkpoint.as_ref().map_or(deployment.deploy_block, |c| c.next_block.max(0) as u64);
    let approvals = if next_block <= head_block {
        consortium.all_approvals_between(next_block, head_block).await?.len()
    } else {
        0
    };
    let failed = checkpoint.as_ref().map_or(0, |c| c.failed.len());
    Ok(ArchiveLag {
        head_block,
        checkpoint_block: checkpoint.map(|c| (c.next_block.max(1) - 1) as u64),
        waiting: approvals + failed,
    })
}

/// One pass: migrate what is new, erase what patients asked to erase (and confirm it), and try
/// again the envelope pushes that failed before.
async fn follow_pass(
    consortium: &Consortium,
    archive: &Archive,
    signer: &PrivateKeySigner,
    migration: &MigrationOptions,
    retention: RetentionPolicy,
    move_failure: &mut Option<String>,
    on_event: &mut impl FnMut(FollowEvent),
) -> Result<crate::migration::MigrationReport, MigrationError> {
    let report = migrate(consortium, archive, signer, migration, |_| {}).await?;
    let (erased, deferred) = match apply_erasures(consortium, archive, signer, retention).await {
        Ok(pass) => (pass.erased.iter().map(|e| e.entry_id).collect::<Vec<_>>(), pass.deferred),
        Err(ErasureError::Store(e)) => return Err(MigrationError::Store(e)),
        Err(ErasureError::Chain(e)) => return Err(MigrationError::Chain(e)),
        Err(ErasureError::NothingToErase { .. }) => (Vec::new(), Vec::new()),
    };
    let key = migration.recipient_key.clone().unwrap_or_else(|| recipient_key(signer));
    match apply_recoveries(consortium, archive, &key).await {
        Ok(moves) => {
            *move_failure = None;
            if !moves.is_empty() {
                on_event(FollowEvent::PatientsMoved { moves });
            }
        }
        Err(RecoveryError::Store(e)) => return Err(MigrationError::Store(e)),
        Err(RecoveryError::Chain(e)) => return Err(MigrationError::Chain(e)),
        // Not a service's outage: tried again at the next pass.
        Err(error) => {
            if let Some(event) = news_of_move_failure(move_failure, error.to_string()) {
                on_event(event);
            }
        }
    }
    let pushes = retry_deliveries(consortium, archive, signer).await?;
    if !erased.is_empty() || !deferred.is_empty() || !pushes.delivered.is_empty() || !pushes.queued.is_empty() {
        let (pushed, still_queued) = (pushes.delivered.len(), pushes.queued.len());
        on_event(FollowEvent::Exchanged { erased, deferred, pushed, still_queued });
    }
    Ok(report)
}

/// A move that fails fails again at every pass until someone mends it: it is told once, and
/// again only when the reason changes or after a pass that carried out every move it found.
fn news_of_move_failure(told: &mut Option<String>, message: String) -> Option<FollowEvent> {
    if told.as_deref() == Some(message.as_str()) {
        return None;
    }
    *told = Some(message.clone());
    Some(FollowEvent::MoveFailed { message })
}

/// Migrates new approvals as they reach the confirmation depth until `stop` completes. Returns an
/// error only for what retrying cannot mend.
pub async fn follow(
    consortium: &Consortium,
    archive: &Archive,
    signer: &PrivateKeySigner,
    migration: &MigrationOptions,
    options: &FollowOptions,
    stop: impl Future<Output = ()>,
    mut on_event: impl FnMut(FollowEvent),
) -> Result<(), MigrationError> {
    tokio::pin!(stop);
    let mut outage: Option<(Service, Instant)> = None;
    let mut backoff = options.poll_interval;
    let mut heads = watch_new_heads(options, &mut on_event).await;
    let mut move_failure = None;
    loop {
        // Stopping in the middle of a pass is as safe as a crash there, which loses nothing.
        let result = tokio::select! {
            result = follow_pass(consortium, archive, signer, migration, options.retention, &mut move_failure, &mut on_event) => result,
            () = &mut stop => break,
        };
        match result {
            Ok(report) => {
                if let Some(confirmed) = &report.confirmed {
                    let read = report.blocks_read().map_or(report.read_before(), |(_, to)| to);
                    crate::metrics::metrics().follower_lag_blocks.set(confirmed.head.saturating_sub(read) as i64);
                }
                if let Some((service, since)) = outage.take() {
                    on_event(FollowEvent::Recovered { service, after: since.elapsed() });
                    if heads.is_none() && options.new_heads_url.is_some() {
                        heads = watch_new_heads(options, &mut on_event).await;
                    }
                }
                backoff = options.poll_interval;
                if report.migrated > 0 || !report.failed.is_empty() || report.reorganisation.is_some() {
                    on_event(FollowEvent::Pass { report });
                }
            }
            Err(MigrationError::AbortedForTest(writes)) => return Err(MigrationError::AbortedForTest(writes)),
            Err(error) => {
                let service = match error {
                    MigrationError::Store(_) => Service::Database,
                    _ => Service::Node,
                };
                if outage.map(|(s, _)| s) != Some(service) {
                    on_event(FollowEvent::Outage { service, message: error.to_string() });
                    outage = Some((service, Instant::now()));
                }
                backoff = (backoff * 2).min(options.max_backoff).max(options.poll_interval);
            }
        }
        let wait = if outage.is_some() { backoff } else { options.poll_interval };
        let subscribed = heads.is_some() && outage.is_none();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            announced = next_head(&mut heads), if subscribed => {
                if announced.is_none() {
                    // The connection dropped: poll until a pass succeeds after an outage.
                    heads = None;
                    on_event(FollowEvent::Watching {
                        subscribed: false,
                        url: None,
                        reason: Some("the WebSocket connection closed".into()),
                    });
                }
            }
            () = &mut stop => break,
        }
    }
    let deployment = consortium.deployment();
    let next_block =
        archive.checkpoint(deployment.chain_id, deployment.address).await.ok().flatten().map(|c| c.next_block as u64);
    on_event(FollowEvent::Stopped { next_block });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_that_keeps_failing_is_told_once_until_its_reason_changes() {
        let mut told = None;
        let told_again =
            |told: &mut Option<String>, message: &str| news_of_move_failure(told, message.into()).is_some();
        assert!(told_again(&mut told, "entry 4's envelope is damaged"));
        assert!(!told_again(&mut told, "entry 4's envelope is damaged"), "the same failure at the next pass");
        assert!(told_again(&mut told, "entry 9's envelope is damaged"), "another reason");
        // A pass whose moves went through forgets it: a later failure is news again.
        told = None;
        assert!(told_again(&mut told, "entry 9's envelope is damaged"));
    }
}
