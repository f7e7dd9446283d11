//! Whether this hospital's process can do its work now: what `GET /readyz` answers a load
//! balancer, and what `hrm doctor` will build on.
//!
//! Each check is bounded in time, so a hung node or database makes the process not ready rather
//! than making the probe hang.

use std::time::Duration;

use alloy::providers::Provider;
use mongodb::bson::doc;
use serde::Serialize;

use crate::chain::Consortium;
use crate::metrics::metrics;
use crate::store::Archive;

/// How long one check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// One check: what was checked, whether it passed, and what was seen (never health data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadinessCheck {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// Every check, and whether all passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub checks: Vec<ReadinessCheck>,
}

/// Checks that the node answers with the deployment's chain id, that the archive answers, and,
/// when `max_follower_lag` is given (the process runs the follower), that the archive's
/// checkpoint is within that many blocks of the head.
pub async fn check_readiness(consortium: &Consortium, archive: &Archive, max_follower_lag: Option<u64>) -> Readiness {
    let (node, database) = tokio::join!(check_node(consortium), check_database(archive));
    let mut checks = vec![node, database];
    if let Some(max_lag) = max_follower_lag {
        checks.push(check_follower(consortium, archive, max_lag).await);
    }
    Readiness { ready: checks.iter().all(|c| c.ok), checks }
}

async fn check_node(consortium: &Consortium) -> ReadinessCheck {
    let expected = consortium.deployment().chain_id;
    let answer = tokio::time::timeout(CHECK_TIMEOUT, consortium.connection().provider().get_chain_id()).await;
    let (ok, detail) = match answer {
        Ok(Ok(chain_id)) if chain_id == expected => (true, format!("chain {chain_id}")),
        Ok(Ok(chain_id)) => (false, format!("the node is on chain {chain_id}, the deployment on chain {expected}")),
        Ok(Err(error)) => (false, format!("the node answered with an error: {error}")),
        Err(_) => (false, format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    };
    if !ok {
        metrics().node_error();
    }
    ReadinessCheck { name: "node", ok, detail }
}

async fn check_database(archive: &Archive) -> ReadinessCheck {
    let answer = tokio::time::timeout(CHECK_TIMEOUT, archive.database().run_command(doc! { "ping": 1 })).await;
    let (ok, detail) = match answer {
        Ok(Ok(_)) => (true, format!("{} answers", archive.hosts())),
        Ok(Err(error)) => (false, format!("{}: {}", archive.hosts(), first_line(&error.to_string()))),
        Err(_) => (false, format!("{}: no answer within {} s", archive.hosts(), CHECK_TIMEOUT.as_secs())),
    };
    if !ok {
        metrics().database_error();
    }
    ReadinessCheck { name: "database", ok, detail }
}

async fn check_follower(consortium: &Consortium, archive: &Archive, max_lag: u64) -> ReadinessCheck {
    let deployment = consortium.deployment();
    let read = async {
        let head = consortium.head_block().await.map_err(|e| e.to_string())?;
        let checkpoint =
            archive.checkpoint(deployment.chain_id, deployment.address).await.map_err(|e| e.to_string())?;
        Ok::<_, String>((head, checkpoint.map(|c| (c.next_block.max(1) - 1) as u64)))
    };
    let (ok, detail) = match tokio::time::timeout(CHECK_TIMEOUT, read).await {
        Ok(Ok((head, read))) => {
            let behind = head.saturating_sub(read.unwrap_or(deployment.deploy_block));
            (behind <= max_lag, format!("{behind} block(s) behind the head (at most {max_lag})"))
        }
        Ok(Err(error)) => (false, error),
        Err(_) => (false, format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    };
    ReadinessCheck { name: "follower", ok, detail }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
