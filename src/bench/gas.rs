//! Gas per function, as the paper's figures 15 and 16 list it, beside the same record stored the
//! paper's way (plaintext strings in contract storage) in a bench-only baseline contract.

use std::path::Path;

use alloy::primitives::{Address, U256};
use alloy::providers::DynProvider;
use alloy::rpc::types::TransactionReceipt;
use alloy::transports::http::reqwest::Url;
use serde::Serialize;

use super::BenchError;
use super::gas_trace::{GasBreakdown, calldata_gas, trace_gas};
use super::seed::submit_sealed;
use crate::chain::provider::signing_provider;
use crate::chain::{BatchOutcome, DeploymentStore, EntryKind, HealthRecords, SealedSubmission};
use crate::devnet::{Engine, LocalNetwork, NetworkSpec};
use crate::records::{BillDetails, HealthDetails, Record};
use crate::scenario::{Participant, ScenarioPlan, set_up_consortium};
use crate::submission::{gather_recipients, seal};

alloy::sol!(
    #[sol(rpc)]
    PaperBaseline,
    "bench/abi/PaperBaseline.json"
);

/// Most gas a single health or bill submission may use (its envelope stays off chain).
pub const SUBMISSION_TARGET: u64 = 60_000;
/// Most gas per record in a batch of [`TARGET_BATCH_SIZE`].
pub const BATCH_RECORD_TARGET: u64 = 35_000;
/// The batch size the per-record target is for.
pub const TARGET_BATCH_SIZE: usize = 10;
/// Most gas a vote may use.
pub const VOTE_TARGET: u64 = 35_000;
/// Batch sizes measured.
pub const BATCH_SIZES: [usize; 3] = [1, 10, 100];
/// Gas every transaction pays before it does anything.
const TRANSACTION_BASE_GAS: u64 = 21_000;
/// Gas for writing one new storage slot (20,000) that was not read before (2,100).
const NEW_SLOT_GAS: u64 = 22_100;

/// One function's gas in both contracts.
#[derive(Debug, Clone, Serialize)]
pub struct GasRow {
    /// The paper's name for the function.
    pub function: &'static str,
    /// hrm's `HealthRecords`.
    pub hrm: Option<u64>,
    /// The paper's way: plaintext strings in storage.
    pub paper_style: Option<u64>,
    /// A view, measured by `eth_estimateGas` rather than a receipt.
    pub estimated: bool,
    /// For batch rows: the least gas a record could cost, whatever the contract did (its share of
    /// the 21,000 per transaction and of the calldata, plus one new storage slot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor: Option<u64>,
}

impl GasRow {
    /// The function's name, marked when the figure is an estimate.
    pub fn label(&self) -> String {
        if self.estimated { format!("{} (estimate)", self.function) } else { self.function.to_string() }
    }

    /// hrm's gas relative to the paper's way, in percent (negative: hrm uses less).
    pub fn difference_percent(&self) -> Option<f64> {
        match (self.hrm, self.paper_style) {
            (Some(hrm), Some(paper)) => Some((hrm as f64 - paper as f64) / paper as f64 * 100.0),
            _ => None,
        }
    }
}

/// The whole table.
#[derive(Debug, Clone, Serialize)]
pub struct GasBench {
    pub rows: Vec<GasRow>,
    pub health_envelope_bytes: usize,
    pub bill_envelope_bytes: usize,
    pub recipients: usize,
    pub submission_target: u64,
    pub batch_record_target: u64,
    pub vote_target: u64,
    /// How many times less gas a record costs in a batch of 10 than the paper's way.
    pub batch_reduction: f64,
    /// An approved record, from submission to the last vote, beside the paper's way.
    pub approved_record: ApprovedRecordGas,
    pub meets_targets: bool,
}

/// Submits a health batch of `size` typical records; returns the outcome and the floor per record.
async fn measure_batch(
    primary: &crate::chain::Consortium,
    patient: Address,
    size: usize,
) -> Result<(BatchOutcome, u64), BenchError> {
    use alloy::sol_types::SolCall;
    let recipients = gather_recipients(primary, patient).await?;
    let mut records = Vec::with_capacity(size);
    for _ in 0..size {
        let sealed = seal(&Record::Health(HealthDetails::example()), &recipients)?;
        records.push(SealedSubmission {
            patient,
            commitment: sealed.commitment,
            envelope_digest: sealed.envelope_digest,
        });
    }
    let input = HealthRecords::submitHealthDetailsBatchCall {
        patients: records.iter().map(|r| r.patient).collect(),
        commitments: records.iter().map(|r| r.commitment).collect(),
        envelopeDigests: records.iter().map(|r| r.envelope_digest).collect(),
    }
    .abi_encode();
    let outcome = primary.submit_batch(EntryKind::Health, &records).await?;
    let floor = (TRANSACTION_BASE_GAS + calldata_gas(&input)) / size as u64 + NEW_SLOT_GAS;
    Ok((outcome, floor))
}

fn gas(receipt: &TransactionReceipt) -> Option<u64> {
    Some(receipt.gas_used)
}

fn bench_error(what: &str) -> impl FnOnce(alloy::contract::Error) -> BenchError + '_ {
    move |e| BenchError::failed(what, e)
}

/// The table's name for a batch row.
fn batch_label(size: usize) -> &'static str {
    match size {
        1 => "setHealthDetails, batch of 1 (per record)",
        10 => "setHealthDetails, batch of 10 (per record)",
        100 => "setHealthDetails, batch of 100 (per record)",
        _ => "setHealthDetails, batch (per record)",
    }
}

/// The last gas figure the scenario's set-up recorded for `function`.
fn setup_gas(setup: &[(&'static str, u64)], function: &str) -> Option<u64> {
    setup.iter().rev().find(|(name, _)| *name == function).map(|(_, gas)| *gas)
}

/// Runs every function of both contracts on a fresh Anvil: five hospitals (a primary and four
/// supporting), a patient, the typical record and bill.
pub async fn bench_gas(workdir: &Path) -> Result<GasBench, BenchError> {
    let network = LocalNetwork::start(&NetworkSpec::of(Engine::Anvil).without_database().traced(), workdir).await?;
    let rpc_url = network.rpc_url();
    let plan = ScenarioPlan { patients: vec!["Patient".into()], ..ScenarioPlan::story() };
    let scenario =
        set_up_consortium(std::slice::from_ref(&rpc_url), &DeploymentStore::new(workdir.join("deployments")), &plan)
            .await?;
    let deployment_gas = setup_gas(&scenario.setup_gas, "deployment");
    let register = setup_gas(&scenario.setup_gas, "registerHospital");
    // The patient publishes last.
    let publish = setup_gas(&scenario.setup_gas, "publishKey");
    let set_panel = setup_gas(&scenario.setup_gas, "setSupportingHospitals");
    let (primary, panel, patient) = (&scenario.primary().client, scenario.panel(), &scenario.patients[0].client);
    let panel_addresses: Vec<Address> = panel.iter().map(Participant::address).collect();
    // Only the commitment and the envelope's digest reach the chain; the envelope's size is what
    // the hospitals exchange off chain.
    let (health, health_envelope_bytes) =
        submit_sealed(primary, patient.sender(), &Record::Health(HealthDetails::example())).await?;
    let (bill, bill_envelope_bytes) =
        submit_sealed(primary, patient.sender(), &Record::Bill(BillDetails::example())).await?;
    let (health_id, bill_id) = (health.entry_id.unwrap_or_default(), bill.entry_id.unwrap_or_default());
    let first_vote = panel[0].client.vote(health_id, true).await?.gas_used;
    for member in &panel[1..] {
        member.client.vote(health_id, true).await?;
    }
    let approving_vote = patient.vote(health_id, true).await?.gas_used;
    let rejection = panel[0].client.vote(bill_id, false).await?.gas_used;
    // The patient's sharing, and a hospital anchoring the access log.
    let outsider = panel[0].address();
    let grant = patient.grant_access(outsider, crate::chain::sharing::UNTIL_REVOKED).await?.gas_used;
    let revoke = patient.revoke_access(outsider).await?.gas_used;
    let anchor = primary.anchor_access_log(1, alloy::primitives::B256::repeat_byte(1)).await?.gas_used;
    // Where the primary's server answers, and an erasure: asked, deferred by one holder, confirmed
    // by the other.
    let endpoint = primary.set_endpoint("https://records.st-mary.example").await?.gas_used;
    let erasure_request = patient.request_erasure(&[health_id]).await?.gas_used;
    let (until, reason) = (4_102_444_800, crate::chain::DeferralReason::LegalObligation);
    let deferral = panel[0].client.defer_erasure(health_id, until, reason).await?.gas_used;
    let confirmation = primary.confirm_erasure(health_id).await?.gas_used;
    let mut batches = Vec::with_capacity(BATCH_SIZES.len());
    let mut batch_vote = None;
    for size in BATCH_SIZES {
        let (outcome, floor) = measure_batch(primary, patient.sender(), size).await?;
        batches.push((size, (outcome.gas_used / size as u64, floor)));
        // A supporting hospital votes on the batch of 10 in one transaction.
        if size == TARGET_BATCH_SIZE {
            let outcome = panel[0].client.vote_batch(&outcome.entry_ids, true).await?;
            batch_vote = Some(outcome.gas_used / size as u64);
        }
    }
    let panel_of_two = [&panel[0].client, &panel[1].client];
    let approved_record = approve_a_batch(primary, panel_of_two, patient).await?;
    let contract = scenario.admin.client.contract();
    let (h, b) = (U256::from(health_id), U256::from(bill_id));
    let estimate =
        |e: Result<u64, alloy::contract::Error>| e.map(Some).map_err(|e| BenchError::failed("estimating a view", e));
    let hrm_views = [
        estimate(contract.getHealthDetails(h).estimate_gas().await)?,
        estimate(contract.getBillDetails(b).estimate_gas().await)?,
        estimate(contract.getSupportingHospitals(primary.sender()).estimate_gas().await)?,
        estimate(contract.dataMigrationAllow(h).estimate_gas().await)?,
        estimate(contract.getVoteCount(h).estimate_gas().await)?,
    ];

    // The paper's way: the same people and calls, the record in storage as plaintext strings.
    let url: Url = rpc_url.parse().map_err(|e| BenchError::failed(format!("reading the node's URL {rpc_url}"), e))?;
    let people: Vec<&Participant> = [&scenario.admin].into_iter().chain(&scenario.hospitals).collect();
    let provider = |i: usize| -> DynProvider { signing_provider(url.clone(), people[i].signer.clone()) };
    let baseline_deploy = PaperBaseline::deploy_builder(provider(1))
        .send()
        .await
        .map_err(bench_error("deploying the baseline"))?
        .get_receipt()
        .await
        .map_err(|e| BenchError::failed("deploying the baseline", e))?;
    let address = baseline_deploy
        .contract_address
        .ok_or_else(|| BenchError::failed("deploying the baseline", "the receipt names no contract address"))?;
    let baseline = |i: usize| PaperBaseline::new(address, provider(i));
    let mined = |r: Result<
        alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
        alloy::contract::Error,
    >| async move {
        let pending = r.map_err(bench_error("a baseline transaction"))?;
        pending.get_receipt().await.map_err(|e| BenchError::failed("waiting for a baseline receipt", e))
    };
    let base_panel = mined(baseline(1).setSupportingHospitals(panel_addresses.clone()).send().await).await?;
    let record = HealthDetails::example();
    let r = &record.readings;
    let details = PaperBaseline::HealthDetails {
        recordedAt: record.recorded_at.clone(),
        pregnancies: r.pregnancies.to_string(),
        glucose: r.glucose.to_string(),
        bloodPressure: r.blood_pressure.to_string(),
        skinThickness: r.skin_thickness.to_string(),
        insulin: r.insulin.to_string(),
        bmi: r.bmi.to_string(),
        diabetesPedigree: r.diabetes_pedigree.to_string(),
        age: r.age.to_string(),
        notes: record.notes.clone().unwrap_or_default(),
    };
    let base_health = mined(baseline(1).setHealthDetails(U256::from(1), details).send().await).await?;
    let typical = BillDetails::example();
    let bill_details = PaperBaseline::BillDetails {
        issuedAt: typical.issued_at.clone(),
        currency: typical.currency.clone(),
        descriptions: typical.line_items.iter().map(|i| i.description.clone()).collect(),
        amounts: typical.line_items.iter().map(|i| i.amount.to_string()).collect(),
        total: typical.total.to_string(),
    };
    let base_bill = mined(baseline(1).setBillDetails(U256::from(2), bill_details).send().await).await?;
    let base_first_vote = mined(baseline(2).approvePendingEntries(U256::from(1)).send().await).await?;
    for i in 3..=4 {
        mined(baseline(i).approvePendingEntries(U256::from(1)).send().await).await?;
    }
    let base_approving_vote = mined(baseline(5).approvePendingEntries(U256::from(1)).send().await).await?;
    let reader = baseline(0);
    let base_views = [
        estimate(reader.getHealthDetails(U256::from(1)).estimate_gas().await)?,
        estimate(reader.getBillDetails(U256::from(2)).estimate_gas().await)?,
        estimate(reader.getSupportingHospitals(scenario.primary().address()).estimate_gas().await)?,
        estimate(reader.dataMigrationAllow(U256::from(1)).estimate_gas().await)?,
        estimate(reader.getVoteCount(U256::from(1)).estimate_gas().await)?,
    ];
    drop(network);
    let paper_approved_record =
        [gas(&base_health), gas(&base_first_vote), gas(&base_first_vote), gas(&base_approving_vote)]
            .into_iter()
            .sum::<Option<u64>>()
            .unwrap_or_default();
    let approved_record = ApprovedRecordGas::new(approved_record, paper_approved_record);

    let row = |function, hrm, paper_style, estimated| GasRow { function, hrm, paper_style, estimated, floor: None };
    let mut rows = vec![
        row("deployment", deployment_gas, gas(&baseline_deploy), false),
        row("registerHospital", register, None, false),
        row("publishKey", publish, None, false),
        row("setSupportingHospitals (4)", set_panel, gas(&base_panel), false),
        row("setHealthDetails", Some(health.gas_used), gas(&base_health), false),
        row("setBillDetails", Some(bill.gas_used), gas(&base_bill), false),
    ];
    // The paper has no batches: each record in a batch is set beside one record set its way.
    rows.extend(batches.iter().map(|(size, (per_record, floor))| GasRow {
        function: batch_label(*size),
        hrm: Some(*per_record),
        paper_style: gas(&base_health),
        estimated: false,
        floor: Some(*floor),
    }));
    rows.extend([
        row("approvePendingEntries (a vote)", Some(first_vote), gas(&base_first_vote), false),
        row("approvePendingEntries (the approving vote)", Some(approving_vote), gas(&base_approving_vote), false),
        row("rejectPendingEntry", Some(rejection), None, false),
        row("approvePendingEntries, batch of 10 (per vote)", batch_vote, None, false),
        row("grantAccess", Some(grant), None, false),
        row("revokeAccess", Some(revoke), None, false),
        row("anchorAccessLog", Some(anchor), None, false),
        row("setEndpoint", Some(endpoint), None, false),
        row("requestErasure (one entry)", Some(erasure_request), None, false),
        row("deferErasure", Some(deferral), None, false),
        row("confirmErasure", Some(confirmation), None, false),
        row("getHealthDetails", hrm_views[0], base_views[0], true),
        row("getBillDetails", hrm_views[1], base_views[1], true),
        row("getSupportingHospitals", hrm_views[2], base_views[2], true),
        row("dataMigrationAllow", hrm_views[3], base_views[3], true),
        row("getVoteCount", hrm_views[4], base_views[4], true),
    ]);
    let at_target_size = batches.iter().find(|(size, _)| *size == TARGET_BATCH_SIZE).map(|(_, (gas, _))| *gas);
    let at_target_size = at_target_size.expect("the target batch size is measured");
    let batch_reduction = gas(&base_health).unwrap_or_default() as f64 / at_target_size as f64;
    let meets_targets = health.gas_used <= SUBMISSION_TARGET
        && bill.gas_used <= SUBMISSION_TARGET
        && at_target_size <= BATCH_RECORD_TARGET
        && batch_reduction >= 5.0
        && approved_record.reduction >= APPROVED_RECORD_REDUCTION_TARGET
        && first_vote.max(approving_vote).max(rejection) <= VOTE_TARGET;
    Ok(GasBench {
        rows,
        health_envelope_bytes,
        bill_envelope_bytes,
        recipients: 2 + panel_addresses.len(),
        submission_target: SUBMISSION_TARGET,
        batch_record_target: BATCH_RECORD_TARGET,
        vote_target: VOTE_TARGET,
        batch_reduction,
        approved_record,
        meets_targets,
    })
}

/// What one approved record costs the consortium, traced, before it is compared with the paper.
struct TracedApproval {
    submission: GasBreakdown,
    panel_votes: GasBreakdown,
    patient_vote: GasBreakdown,
    patient_vote_in_batch: GasBreakdown,
}

/// With the primary's panel cut to `panel`'s two hospitals: a batch of 10 submitted, each
/// hospital's votes on it in one transaction, the patient's vote on the first entry alone and on
/// the other nine together. Every transaction is traced.
async fn approve_a_batch(
    primary: &crate::chain::Consortium,
    panel: [&crate::chain::Consortium; 2],
    patient: &crate::chain::Consortium,
) -> Result<TracedApproval, BenchError> {
    primary.set_supporting_hospitals(panel.iter().map(|member| member.sender()).collect()).await?;
    let size = TARGET_BATCH_SIZE as u64;
    let (submitted, _) = measure_batch(primary, patient.sender(), TARGET_BATCH_SIZE).await?;
    let ids = submitted.entry_ids;
    let provider = primary.connection().provider();
    let submission = trace_gas(provider, submitted.tx_hash).await?.share(size);
    let mut panel_votes = GasBreakdown::default();
    for member in panel {
        let voted = member.vote_batch(&ids, true).await?;
        panel_votes = panel_votes + trace_gas(provider, voted.tx_hash).await?.share(size);
    }
    let alone = patient.vote(ids[0], true).await?;
    let together = patient.vote_batch(&ids[1..], true).await?;
    Ok(TracedApproval {
        submission,
        panel_votes,
        patient_vote: trace_gas(provider, alone.tx_hash).await?,
        patient_vote_in_batch: trace_gas(provider, together.tx_hash).await?.share(size - 1),
    })
}

/// The least reduction, against the paper's way, of the gas an approved record costs.
pub const APPROVED_RECORD_REDUCTION_TARGET: f64 = 5.0;

/// Gas for one record from submission to approval, with a panel of two: its share of a batch of
/// 10, each supporting hospital's share of its batch of 10 votes, and the patient's vote.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovedRecordGas {
    /// The record's share of a batch of 10.
    pub submission: GasBreakdown,
    /// The two hospitals' shares of their batches of votes.
    pub panel_votes: GasBreakdown,
    /// The patient's vote on this entry alone (a patient usually has one entry in a batch).
    pub patient_vote: GasBreakdown,
    /// The sum, with the patient voting alone.
    pub total: GasBreakdown,
    /// The patient's vote as a share of "Approve all" over nine entries, for reference.
    pub patient_vote_in_batch: GasBreakdown,
    /// The total with the patient's vote in such a batch.
    pub total_with_patient_batch: u64,
    /// The same record the paper's way: a submission, two votes and the approving vote.
    pub paper_style: u64,
    /// `paper_style / total.total`.
    pub reduction: f64,
    pub reduction_target: f64,
}

impl ApprovedRecordGas {
    fn new(traced: TracedApproval, paper_style: u64) -> Self {
        let total = traced.submission + traced.panel_votes + traced.patient_vote;
        let total_with_patient_batch = total.total - traced.patient_vote.total + traced.patient_vote_in_batch.total;
        Self {
            submission: traced.submission,
            panel_votes: traced.panel_votes,
            patient_vote: traced.patient_vote,
            total,
            patient_vote_in_batch: traced.patient_vote_in_batch,
            total_with_patient_batch,
            paper_style,
            reduction: paper_style as f64 / total.total.max(1) as f64,
            reduction_target: APPROVED_RECORD_REDUCTION_TARGET,
        }
    }
}
