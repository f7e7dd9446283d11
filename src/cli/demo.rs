//! `hrm demo`: the whole story on a fresh local network, narrated. The scenario acts; this file
//! only tells what happens.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use eyre::{Context as _, eyre};
use hrm::chain::dev_keys::dev_account;
use hrm::chain::{Confirmations, DeploymentStore};
use hrm::devnet::{Engine, LocalNetwork, NetworkSpec};
use hrm::exchange::EnvelopeFinder;
use hrm::identity::Identities;
use hrm::migration::{MigrationOptions, migrate};
use hrm::ml::{Dataset, Imputation, ModelFile, cross_validate};
use hrm::prediction::score_latest_record;
use hrm::records::EntryKind;
use hrm::scenario::{ConsortiumScenario, Rejection, ScenarioPlan, SubmittedExample, set_up_consortium};
use hrm::store::{Archive, StaffRole};
use hrm::submission::open_submission;

use super::choices::EngineChoice;
use super::context::Context;
use super::output::{bold, table};
use crate::web::{ServeSettings, WebApp};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// anvil: one Anvil node; geth: a five-node Geth Clique network, each participant talking to
    /// a node of its own
    #[arg(long, value_enum, default_value_t = EngineChoice::Anvil)]
    pub engine: EngineChoice,
    /// At the end, leave the web app running for St Mary on the demo's chain and archive (with
    /// staff accounts and patient sign-in links printed) until Ctrl-C
    #[arg(long)]
    pub serve: bool,
    /// Where --serve listens (port 0 picks a free one)
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT", requires = "serve")]
    pub listen: SocketAddr,
}

fn step(text: &str) {
    println!("\n{}", bold(&format!("== {text}")));
}

pub async fn run(context: &Context, args: DemoArgs) -> eyre::Result<()> {
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

    // On a local network every participant shares this one database, so each finds there the
    // envelopes it may open; a real consortium's hospitals exchange them between their servers.
    let archive = Archive::connect(&mongodb_uri, "hrm_demo").await?;
    step("St Mary submits each patient's health details and bill, sealed to the patient and the panel");
    println!("Only each envelope's digest goes on chain; the envelopes stay in the hospitals' databases.");
    let submitted = scenario.submit_example_records(&archive).await?;
    print_submissions(&scenario, &submitted);
    tell_who_can_open(&scenario, &archive, &submitted[0]).await?;

    step("The panel and each patient vote; Lakeside rejects Ben's bill");
    let bens_bill = submitted.iter().find(|e| e.patient == 1 && e.kind == EntryKind::Bill).expect("Ben has a bill");
    scenario.vote_on(&submitted, Some(Rejection { entry: bens_bill.id, by_panel_member: 1 })).await?;
    print_votes(&scenario, &submitted).await?;

    step("St Mary migrates approved entries into MongoDB, then the archive is audited");
    archive_and_audit(&scenario, &archive).await?;

    step("The diabetes model is trained on the Pima data and scores each patient's latest record");
    let model = train_and_score(&scenario, &archive).await?;

    if args.serve {
        step("St Mary's web app runs on the demo's data");
        super::logging::init(context.global.log_format);
        serve_demo(&scenario, &archive, &model, workdir.path(), args.listen).await?;
    }
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
async fn tell_who_can_open(
    scenario: &ConsortiumScenario,
    archive: &Archive,
    entry: &SubmittedExample,
) -> eyre::Result<()> {
    let submission = scenario.primary().client.mined_submission(entry.id).await?;
    let patient = &scenario.patients[entry.patient];
    let finder = EnvelopeFinder { consortium: &patient.client, archive: Some(archive), signer: Some(&patient.signer) };
    let envelope = finder.envelope_of(&submission).await?;
    let opened = open_submission(&submission, &envelope, &patient.signer)?
        .ok_or_else(|| eyre!("the patient could not open their record"))?;
    let outsider = open_submission(&submission, &envelope, &dev_account(9))?;
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
    // On a multi-node network St Mary's node may be a block behind the nodes the last votes went
    // through: migrate once it has every block any participant's node has.
    let mut head = 0;
    for participant in std::iter::once(&scenario.admin).chain(&scenario.hospitals).chain(&scenario.patients) {
        head = head.max(participant.client.head_block().await?);
    }
    primary.connection().wait_for_block(head).await?;
    let options = demo_migration_options();
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

async fn train_and_score(scenario: &ConsortiumScenario, archive: &Archive) -> eyre::Result<ModelFile> {
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
    Ok(model)
}

/// The demo's chain is thrown away at the end and mines only when it is sent a transaction, so no
/// block needs confirmations (a real consortium keeps the default, see `hrm migrate --help`).
fn demo_migration_options() -> MigrationOptions {
    MigrationOptions { confirmations: Confirmations::Depth(0), ..Default::default() }
}

/// Serves St Mary's web app until Ctrl-C, as `hrm serve` would on the demo's chain and archive:
/// staff accounts with fresh passwords, the participants' names in the address book (so the
/// clerk's form takes "asha"), the demo's model, and a one-time sign-in link per patient.
async fn serve_demo(
    scenario: &ConsortiumScenario,
    archive: &Archive,
    model: &ModelFile,
    workdir: &Path,
    listen: SocketAddr,
) -> eyre::Result<()> {
    let identities = Identities::open(&workdir.join("home"));
    for person in scenario.hospitals.iter().chain(&scenario.patients) {
        identities.book.insert(&address_book_name(&person.name), person.address())?;
    }
    let model_path = workdir.join("model.json");
    model.save(&model_path)?;
    let mut staff = table(["staff account", "password", "can"]);
    for (username, role, can) in [
        ("clerk", StaffRole::Clerk, "enter health and bill details"),
        ("reviewer", StaffRole::Reviewer, "vote on entries waiting for St Mary"),
        ("admin", StaffRole::Admin, "migrate, audit, manage staff"),
    ] {
        let password = demo_password();
        archive.add_staff(username, &password, &[role]).await?;
        staff.add_row(vec![username.to_string(), password, can.to_string()]);
    }

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} (is another server using the port? pass --listen)"))?;
    let bound = listener.local_addr()?;
    let public_url = format!("http://{bound}").parse().context("the server's URL")?;
    let settings = ServeSettings {
        public_url,
        model_path,
        migration: demo_migration_options(),
        explorer_url: None,
        ready_max_lag: None,
        trusted_proxies: Vec::new(),
    };
    let primary = scenario.primary();
    let app = Arc::new(WebApp::new(
        primary.client.clone(),
        primary.signer.clone(),
        archive.clone(),
        identities,
        settings.clone(),
    ));
    println!(
        "Serving hrm for {} ({}) at {} (listening on {bound})",
        primary.name,
        primary.address(),
        settings.public_url
    );
    println!("{staff}");
    let url = settings.public_url.as_str().trim_end_matches('/');
    println!(
        "Patients sign in with a browser wallet holding their development key, or open their one-time link \
         (it works once, for 5 minutes; `hrm login {url} --from dev:N` prints a new one):"
    );
    for patient in &scenario.patients {
        let link = app.sign_in_link(patient.address()).await?;
        println!("  {:<6} dev:{}  {link}", patient.name, patient.account);
    }
    println!("Press Ctrl-C to stop the server, the node and the database.");
    crate::web::serve(listener, app, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("serving the web app")?;
    Ok(())
}

/// The address-book name of a participant: "St Mary (primary)" is `st-mary`.
fn address_book_name(name: &str) -> String {
    let plain = name.split('(').next().unwrap_or(name).trim().to_lowercase();
    plain.split_whitespace().collect::<Vec<_>>().join("-")
}

/// A password for a demo staff account: 12 letters and digits, new each run.
fn demo_password() -> String {
    use rand::Rng as _;
    use rand::distributions::Alphanumeric;
    rand::thread_rng().sample_iter(&Alphanumeric).take(12).map(char::from).collect()
}
