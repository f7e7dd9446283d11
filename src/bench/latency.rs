//! Client-side latency of each function (signing and receipt included), as the paper's figure 17
//! reports it, and hrm's own overhead over the bare JSON-RPC round trip.

use std::path::Path;
use std::time::{Duration, Instant};

use alloy::primitives::{U256, hex};
use alloy::sol_types::SolCall;
use serde::Serialize;

use super::BenchError;
use super::seed::submit_sealed;
use crate::chain::{DeploymentStore, HealthRecords};
use crate::devnet::{Engine, LocalNetwork, NetworkSpec};
use crate::records::{BillDetails, Record};
use crate::scenario::{ConsortiumScenario, ScenarioPlan, sample_record, set_up_consortium};
use crate::tools::{self, Tool};

/// Percentiles of one function's latency, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRow {
    pub function: String,
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// The same call made by `cast` as a whole process, against hrm.
#[derive(Debug, Clone, Serialize)]
pub struct CastComparison {
    pub call: String,
    pub cast_p50_ms: f64,
    pub hrm_p50_ms: f64,
    /// cast's time over hrm's.
    pub ratio: f64,
    /// How hrm was timed: "process" (the hrm binary) or "in-process" (the library call).
    pub hrm_timed_as: &'static str,
}

/// The latency report.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyBench {
    pub engine: String,
    pub iterations: usize,
    pub rows: Vec<LatencyRow>,
    /// The bare round trip of the `eth_call` behind `getVoteCount`.
    pub rpc_round_trip: LatencyRow,
    /// hrm's `getVoteCount` p50 minus the bare round trip's p50.
    pub hrm_overhead_ms: f64,
    pub cast: Vec<CastComparison>,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1].as_secs_f64() * 1e3
}

impl LatencyRow {
    /// The percentiles of `samples` (none when there are no samples: all zero).
    pub fn from_samples(function: &str, mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let at = |p| if samples.is_empty() { 0.0 } else { percentile(&samples, p) };
        Self {
            function: function.to_string(),
            samples: samples.len(),
            p50_ms: at(50.0),
            p95_ms: at(95.0),
            p99_ms: at(99.0),
        }
    }
}

async fn timed<T, E: std::fmt::Display>(
    samples: &mut Vec<Duration>,
    what: &str,
    call: impl std::future::IntoFuture<Output = Result<T, E>>,
) -> Result<T, BenchError> {
    let started = Instant::now();
    let value = call.into_future().await.map_err(|e| BenchError::failed(what, e))?;
    samples.push(started.elapsed());
    Ok(value)
}

/// Measures `iterations` rounds of every function on a fresh network of `engine`.
pub async fn bench_latency(
    engine: Engine,
    iterations: usize,
    workdir: &Path,
    hrm_binary: &Path,
) -> Result<LatencyBench, BenchError> {
    let network = LocalNetwork::start(&NetworkSpec::of(engine).without_database(), workdir).await?;
    let rpc_url = network.rpc_url();
    // The hrm processes compared with cast find the deployment in this home.
    let home = workdir.join("home");
    let scenario = set_up_consortium(
        std::slice::from_ref(&rpc_url),
        &DeploymentStore::new(home.join("deployments")),
        &ScenarioPlan::minimal(),
    )
    .await?;
    let (primary, member, patient) =
        (&scenario.primary().client, &scenario.panel()[0].client, &scenario.patients[0].client);
    let contract = primary.contract();
    let names = [
        "submitHealthDetails",
        "submitBillDetails",
        "approvePendingEntry",
        "rejectPendingEntry",
        "setSupportingHospitals",
        "getHealthDetails",
        "getBillDetails",
        "getSupportingHospitals",
        "dataMigrationAllow",
        "getVoteCount",
    ];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    let mut bare = Vec::new();
    let http = alloy::transports::http::reqwest::Client::new();
    let address = primary.deployment().address;

    for i in 0..iterations.max(1) {
        let health = timed(
            &mut samples[0],
            "submitting health details",
            submit_sealed(primary, patient.sender(), &sample_record(i)),
        )
        .await?
        .0;
        let bill = timed(
            &mut samples[1],
            "submitting bill details",
            submit_sealed(primary, patient.sender(), &Record::Bill(BillDetails::example())),
        )
        .await?
        .0;
        let (h, b) = (health.entry_id.unwrap_or_default(), bill.entry_id.unwrap_or_default());
        timed(&mut samples[2], "approving", member.vote(h, true)).await?;
        timed(&mut samples[3], "rejecting", member.vote(b, false)).await?;
        timed(&mut samples[4], "setting the panel", primary.set_supporting_hospitals(vec![member.sender()])).await?;
        let (hw, bw) = (U256::from(h), U256::from(b));
        timed(&mut samples[5], "getHealthDetails", contract.getHealthDetails(hw).call()).await?;
        timed(&mut samples[6], "getBillDetails", contract.getBillDetails(bw).call()).await?;
        timed(&mut samples[7], "getSupportingHospitals", contract.getSupportingHospitals(primary.sender()).call())
            .await?;
        timed(&mut samples[8], "dataMigrationAllow", contract.dataMigrationAllow(hw).call()).await?;
        timed(&mut samples[9], "getVoteCount", contract.getVoteCount(hw).call()).await?;
        // The same eth_call, as bare JSON over HTTP with a kept-alive connection.
        let data = hex::encode_prefixed(HealthRecords::getVoteCountCall { id: hw }.abi_encode());
        let body = serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "eth_call",
            "params": [{ "to": address, "data": data }, "latest"],
        });
        timed(&mut bare, "the bare eth_call", async { http.post(&rpc_url).json(&body).send().await?.bytes().await })
            .await?;
    }

    let rows: Vec<LatencyRow> = names.iter().zip(samples).map(|(name, s)| LatencyRow::from_samples(name, s)).collect();
    let rpc_round_trip = LatencyRow::from_samples("eth_call (bare JSON-RPC)", bare);
    let hrm_overhead_ms = rows[9].p50_ms - rpc_round_trip.p50_ms;
    let cast = match tools::locate(Tool::Cast) {
        Ok(cast) => compare_with_cast(&cast, hrm_binary, &home, &rpc_url, &scenario, iterations, &rows).await?,
        Err(_) => Vec::new(),
    };
    Ok(LatencyBench { engine: engine.as_str().to_string(), iterations, rows, rpc_round_trip, hrm_overhead_ms, cast })
}

/// Times `cast send` (a vote) and `cast call` (getVoteCount) as processes, beside `hrm vote` as a
/// process and hrm's in-process view call.
async fn compare_with_cast(
    cast: &Path,
    hrm: &Path,
    home: &Path,
    rpc_url: &str,
    scenario: &ConsortiumScenario,
    iterations: usize,
    rows: &[LatencyRow],
) -> Result<Vec<CastComparison>, BenchError> {
    let (primary, member, patient) = (&scenario.primary().client, &scenario.panel()[0], &scenario.patients[0]);
    let address = primary.deployment().address.to_string();
    let member_key = hex::encode_prefixed(member.signer.to_bytes());
    let member_account = format!("dev:{}", member.account);
    let run = |command: &mut std::process::Command| -> Result<Duration, BenchError> {
        let started = Instant::now();
        let described = format!("{command:?}");
        let failed = |message: String| BenchError::Process { command: described.clone(), message };
        let output = command.output().map_err(|e| failed(e.to_string()))?;
        if !output.status.success() {
            return Err(failed(String::from_utf8_lossy(&output.stderr).into_owned()));
        }
        Ok(started.elapsed())
    };
    let (mut cast_votes, mut hrm_votes, mut cast_views) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..iterations.max(1) {
        // Two fresh entries per round: one voted on by cast, one by hrm (setup, not timed).
        let mut ids = Vec::new();
        for _ in 0..2 {
            let (outcome, _) = submit_sealed(primary, patient.address(), &sample_record(i)).await?;
            ids.push(outcome.entry_id.unwrap_or_default().to_string());
        }
        cast_votes.push(run(std::process::Command::new(cast).args([
            "send",
            &address,
            "approvePendingEntry(uint256)",
            &ids[0],
            "--rpc-url",
            rpc_url,
            "--private-key",
            &member_key,
        ]))?);
        hrm_votes.push(run(std::process::Command::new(hrm).env("HRM_HOME", home).args([
            "--rpc-url",
            rpc_url,
            "--from",
            &member_account,
            "vote",
            &ids[1],
            "--approve",
        ]))?);
        cast_views.push(run(std::process::Command::new(cast).args([
            "call",
            &address,
            "getVoteCount(uint256)(uint8,uint8)",
            &ids[0],
            "--rpc-url",
            rpc_url,
        ]))?);
    }
    let (cast_vote, hrm_vote, cast_view) = (
        LatencyRow::from_samples("", cast_votes),
        LatencyRow::from_samples("", hrm_votes),
        LatencyRow::from_samples("", cast_views),
    );
    let hrm_view = rows.iter().find(|r| r.function == "getVoteCount").map_or(f64::NAN, |r| r.p50_ms);
    Ok(vec![
        CastComparison {
            call: "approvePendingEntry (a vote)".into(),
            cast_p50_ms: cast_vote.p50_ms,
            hrm_p50_ms: hrm_vote.p50_ms,
            ratio: cast_vote.p50_ms / hrm_vote.p50_ms,
            hrm_timed_as: "process",
        },
        CastComparison {
            call: "getVoteCount (a view)".into(),
            cast_p50_ms: cast_view.p50_ms,
            hrm_p50_ms: hrm_view,
            ratio: cast_view.p50_ms / hrm_view,
            hrm_timed_as: "in-process",
        },
    ])
}
