//! `hrm demo`: the whole story on a fresh local network, narrated. The scenario acts; this file
//! only tells what happens.

use std::time::Instant;

use clap::Args;
use eyre::{Context as _, eyre};
use hrm::chain::dev_keys::dev_account;
use hrm::chain::{Confirmations, DeploymentStore};
use hrm::devnet::{Engine, LocalNetwork, NetworkSpec};
use hrm::migration::{MigrationOptions, migrate};
use hrm::ml::{Dataset, Imputation, ModelFile, cross_validate};
use hrm::prediction::score_latest_record;
use hrm::records::EntryKind;
use hrm::scenario::{ConsortiumScenario, Rejection, ScenarioPlan, SubmittedExample, set_up_consortium};
use hrm::store::Archive;
use hrm::submission::open_submission;

use super::choices::EngineChoice;
use super::context::Context;
use super::output::table;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// anvil: one Anvil node; geth: a five-node Geth Clique network, each participant talking to
    /// a node of its own
    #[arg(long, value_enum, default_value_t = EngineChoice::Anvil)]
    pub engine: EngineChoice,
}

fn step(text: &str) {
    println!("\n\x1b[1m== {text}\x1b[0m");
}

pub async fn run(_context: &Context, args: DemoArgs) -> eyre::Result<()> {
    let started = Instant::now();
    let engine = Engine::from(args.engine);
    let workdir = tempfile::Builder::new().prefix("hrm-demo-").tempdir().context("creating the demo's folder")?;
    step(match engine {
        Engine::Anvil => "Starting a throw-away Anvil node and MongoDB-wire server",
        Engine::Geth => {
            "Starting a throw-away five-node Geth network (boot node, three sealers, a full node) and MongoDB-wire server"
        }
    });
    let network = LocalNetwork::start(&NetworkSpec::of(engine), workdir.path()).await?;
    let mongodb_uri = network.mongodb_uri().ok_or_else(|| eyre!("the demo's network has no database"))?;
    println!("chain {} · database {mongodb_uri}", network.rpc_urls().join(", "));

    step("The consortium admin deploys HealthRecords");
    let store = DeploymentStore::new(workdir.path().join("deployments"));
    let scenario = set_up_consortium(&network.rpc_urls(), &store, &ScenarioPlan::story()).await?;
    let deployment = &scenario.deployment;
    println!("contract {} · block {} · {} gas", deployment.address, deployment.deploy_block, scenario.setup_gas[0].1);
    step("Five hospitals join and publish their keys; so do three patients");
    print_roster(&scenario);

    step("St Mary submits each patient's health details and bill, sealed to the patient and the panel");
    let submitted = scenario.submit_example_records().await?;
    print_submissions(&scenario, &submitted);
    tell_who_can_open(&scenario, &submitted[0]).await?;

    step("The panel and each patient vote; Lakeside rejects Ben's bill");
    let bens_bill = submitted.iter().find(|e| e.patient == 1 && e.kind == EntryKind::Bill).expect("Ben has a bill");
    scenario.vote_on(&submitted, Some(Rejection { entry: bens_bill.id, by_panel_member: 1 })).await?;
    print_votes(&scenario, &submitted).await?;

    step("St Mary migrates approved entries into MongoDB, then the archive is audited");
    let archive = Archive::connect(&mongodb_uri, "hrm_demo").await?;
    archive_and_audit(&scenario, &archive).await?;

    step("The diabetes model is trained on the Pima data and scores each patient's latest record");
    train_and_score(&scenario, &archive).await?;

    drop(network);
    println!(
        "\nDone in {:.1} s; the node and the database were stopped and their data removed.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn print_roster(scenario: &ConsortiumScenario) {
    let mut roster = table(["participant", "role", "account"]);
    for (people, role) in [(&scenario.hospitals, "hospital"), (&scenario.patients, "patient")] {
        for person in people {
            roster.add_row(vec![person.name.clone(), role.into(), person.address().to_string()]);
        }
    }
    println!("{roster}");
    let panel: Vec<&str> = scenario.panel().iter().map(|p| p.name.as_str()).collect();
    println!("St Mary names {} as its supporting hospitals.", panel.join(", "));
}

fn print_submissions(scenario: &ConsortiumScenario, submitted: &[SubmittedExample]) {
    let mut entries = table(["entry", "patient", "kind", "gas", "sealed bytes"]);
    for entry in submitted {
        entries.add_row(vec![
            entry.id.to_string(),
            scenario.patients[entry.patient].name.clone(),
            entry.kind.describe().into(),
            entry.gas_used.to_string(),
            entry.envelope_bytes.to_string(),
        ]);
    }
    println!("{entries}");
}

/// The first patient opens their record; an account it was not sealed to cannot.
async fn tell_who_can_open(scenario: &ConsortiumScenario, entry: &SubmittedExample) -> eyre::Result<()> {
    let submission = scenario.primary().client.submission(entry.id).await?;
    let patient = &scenario.patients[entry.patient];
    let opened = open_submission(&submission, &patient.signer)?
        .ok_or_else(|| eyre!("the patient could not open their record"))?;
    let outsider = open_submission(&submission, &dev_account(9))?;
    println!(
        "{} opens entry {}: glucose {}. An outsider gets {}.",
        patient.name,
        entry.id,
        opened.record["readings"]["glucose"],
        if outsider.is_none() { "nothing: it is not sealed to them" } else { "IT OPEN (this must not happen)" }
    );
    Ok(())
}

async fn print_votes(scenario: &ConsortiumScenario, submitted: &[SubmittedExample]) -> eyre::Result<()> {
    let mut status = table(["entry", "patient", "kind", "votes", "status"]);
    for entry in submitted {
        let info = scenario.admin.client.entry(entry.id).await?;
        status.add_row(vec![
            entry.id.to_string(),
            scenario.patients[entry.patient].name.clone(),
            info.kind.describe().into(),
            format!("{}/{}", info.approvals, info.required_votes),
            info.status.to_string(),
        ]);
    }
    println!("{status}");
    Ok(())
}

async fn archive_and_audit(scenario: &ConsortiumScenario, archive: &Archive) -> eyre::Result<()> {
    let (primary, signer) = (&scenario.primary().client, &scenario.primary().signer);
    // The demo's chain lives for a minute and is thrown away: no block needs confirmations
    // (a real consortium keeps the default, see `hrm migrate --help`).
    let options = MigrationOptions { confirmations: Confirmations::Depth(0), ..Default::default() };
    let report = migrate(primary, archive, signer, &options, |_| {}).await?;
    let rerun = migrate(primary, archive, signer, &options, |_| {}).await?;
    let audit = hrm::audit::audit(primary, archive).await?;
    println!(
        "migrated {} ({} failed); a rerun migrated {} more; audit: {} approved on chain, {} archived, {}",
        report.migrated,
        report.failed.len(),
        rerun.migrated,
        audit.approved_on_chain,
        audit.archived,
        if audit.is_clean() { "clean" } else { "NOT CLEAN" }
    );
    Ok(())
}

async fn train_and_score(scenario: &ConsortiumScenario, archive: &Archive) -> eyre::Result<()> {
    let data = Dataset::bundled();
    let evaluation = cross_validate(&data, 10, 42, Imputation::None)?;
    let model = ModelFile::train(&data, Imputation::None)?;
    println!(
        "10-fold CV accuracy {:.3} ± {:.3}, ROC AUC {:.3} ± {:.3}; training accuracy {:.3} (the paper: 0.761)",
        evaluation.accuracy.mean,
        evaluation.accuracy.std,
        evaluation.roc_auc.mean,
        evaluation.roc_auc.std,
        model.metrics.training_accuracy
    );
    let mut predictions = table(["patient", "entry", "glucose", "BMI", "P(diabetes)", "class", "largest factor"]);
    for patient in &scenario.patients {
        let scored = score_latest_record(archive, &model, patient.address(), 0.5).await?;
        let top = scored.prediction.largest_contribution();
        predictions.add_row(vec![
            patient.name.clone(),
            scored.record.entry_id.to_string(),
            scored.details.readings.glucose.to_string(),
            scored.details.readings.bmi.to_string(),
            format!("{:.3}", scored.prediction.probability),
            if scored.prediction.diabetic { "diabetic" } else { "not diabetic" }.into(),
            format!("{} ({:+.2})", top.feature, top.contribution),
        ]);
    }
    println!("{predictions}");
    println!("Each prediction is stored in the archive's `predictions` collection.");
    Ok(())
}
