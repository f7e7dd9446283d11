//! `hrm bench gas`.

use std::path::{Path, PathBuf};

use clap::Args;
use hrm::bench::chart::draw_gas_chart;
use hrm::bench::gas::{ApprovedRecordGas, bench_gas};

use crate::cli::context::Context;
use crate::cli::output::{print_json, table};

#[derive(Debug, Args)]
pub struct GasArgs {
    /// Where to draw the chart (PNG)
    #[arg(long, value_name = "PATH", default_value = "hrm-gas.png")]
    pub chart: PathBuf,
}

pub async fn run(context: &Context, args: GasArgs, workdir: &Path) -> eyre::Result<()> {
    let result = bench_gas(workdir).await?;
    draw_gas_chart(&args.chart, &result)?;
    if context.json() {
        return print_json(&result);
    }
    eprintln!("chart: {}", args.chart.display());
    let mut rows = table(["function", "hrm (sealed)", "paper's way (plaintext)", "difference", "floor"]);
    let cell = |v: Option<u64>| v.map(|g| g.to_string()).unwrap_or_else(|| "-".into());
    for row in &result.rows {
        let difference = row.difference_percent().map(|d| format!("{d:+.0}%")).unwrap_or_default();
        let floor = row.floor.map(|g| g.to_string()).unwrap_or_default();
        rows.add_row(vec![row.label(), cell(row.hrm), cell(row.paper_style), difference, floor]);
    }
    println!("{rows}");
    println!(
        "Envelopes for {} recipients: health {} bytes, bill {} bytes. In a batch of 10 a record costs {:.1}× less than the paper's way.",
        result.recipients, result.health_envelope_bytes, result.bill_envelope_bytes, result.batch_reduction,
    );
    println!(
        "Floor: the least any contract could charge a record (21,000 per transaction and the calldata, shared by the batch, plus one new storage slot)."
    );
    print_approved_record(&result.approved_record);
    println!(
        "Targets (single submission ≤ {}, a record in a batch of 10 ≤ {} and ≥ 5× less than the paper's way, vote ≤ {}, an approved record ≥ {:.0}× less than the paper's way): {}",
        result.submission_target,
        result.batch_record_target,
        result.vote_target,
        result.approved_record.reduction_target,
        if result.meets_targets { "met" } else { "NOT met" }
    );
    Ok(())
}

/// The approved record's gas, part by part, from the traced transactions.
fn print_approved_record(approved: &ApprovedRecordGas) {
    let mut rows = table([
        "an approved record (panel of two)",
        "total",
        "intrinsic",
        "calldata",
        "storage",
        "events",
        "computation",
        "refund",
    ]);
    let parts = [
        ("submission (share of a batch of 10)", &approved.submission),
        ("two hospitals' votes (shares of batches of 10)", &approved.panel_votes),
        ("the patient's vote (alone)", &approved.patient_vote),
        ("total", &approved.total),
        ("for reference: the patient's vote in \"Approve all\" of 9", &approved.patient_vote_in_batch),
    ];
    for (label, gas) in parts {
        rows.add_row(vec![
            label.to_string(),
            gas.total.to_string(),
            gas.intrinsic.to_string(),
            gas.calldata.to_string(),
            gas.storage.to_string(),
            gas.events.to_string(),
            gas.computation.to_string(),
            gas.refund.to_string(),
        ]);
    }
    println!("{rows}");
    println!(
        "An approved record costs {} gas; the paper's way {} (a submission, two votes, the approving vote): {:.1}× less (target ≥ {:.0}×). With the patient's vote in \"Approve all\": {} gas, {:.1}× less.",
        approved.total.total,
        approved.paper_style,
        approved.reduction,
        approved.reduction_target,
        approved.total_with_patient_batch,
        approved.paper_style as f64 / approved.total_with_patient_batch.max(1) as f64,
    );
}
