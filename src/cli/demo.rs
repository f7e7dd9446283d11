//! `hrm demo`: the whole story on a fresh local network, narrated.

use std::time::{Duration, Instant};

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use clap::Args;
use eyre::{Context as _, eyre};
use hrm::chain::dev_keys::dev_signer;
use hrm::chain::keys::public_key_bytes;
use hrm::chain::{Connection, Consortium, DeploymentStore};
use hrm::devnet::local::Engine;
use hrm::devnet::{DocumentDbServer, GethNetwork, GethNetworkOptions, LocalStack};
use hrm::migration::{MigrationOptions, migrate};
use hrm::ml::{Dataset, Imputation, ModelFile, cross_validate};
use hrm::records::{Amount, BillDetails, HealthDetails, LineItem, Readings, Record};
use hrm::store::{Archive, StoredPrediction};
use hrm::submission::{open_submission, submit_record};

use super::context::Context;
use super::output::table;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// anvil: one Anvil node; geth: a five-node Geth Clique network, each participant talking to
    /// a node of its own
    #[arg(long, value_enum, default_value_t = Engine::Anvil)]
    pub engine: Engine,
}

/// The throw-away services the demo runs on; dropping them stops every process.
enum DemoServices {
    Anvil(LocalStack),
    Geth(GethNetwork, DocumentDbServer),
}

impl DemoServices {
    async fn start(engine: Engine, dir: &std::path::Path) -> eyre::Result<Self> {
        Ok(match engine {
            Engine::Anvil => Self::Anvil(LocalStack::start(dir, true)?),
            Engine::Geth => {
                let docdb = DocumentDbServer::start(&dir.join("docdb"), 0, true)?;
                let options = GethNetworkOptions { nodes: 5, block_time: 1, tie_to_parent: true };
                let network = GethNetwork::start_ready(&dir.join("geth"), &options).await?;
                Self::Geth(network, docdb)
            }
        })
    }

    /// Each node's JSON-RPC URL.
    fn rpc_urls(&self) -> Vec<String> {
        match self {
            Self::Anvil(stack) => vec![stack.anvil.rpc_url()],
            Self::Geth(network, _) => network.specs().iter().map(|s| s.rpc_url()).collect(),
        }
    }

    fn mongodb_uri(&self) -> String {
        match self {
            Self::Anvil(stack) => stack.docdb.uri(),
            Self::Geth(_, docdb) => docdb.uri(),
        }
    }
}

const HOSPITALS: [&str; 5] = ["St Mary (primary)", "Hope", "Lakeside", "Northgate", "Riverside"];
const PATIENTS: [&str; 3] = ["Asha", "Ben", "Chidi"];

fn dev(index: usize) -> PrivateKeySigner {
    dev_signer(index).expect("a development key")
}

fn step(text: &str) {
    println!("\n\x1b[1m== {text}\x1b[0m");
}

pub async fn run(_context: &Context, args: DemoArgs) -> eyre::Result<()> {
    let started = Instant::now();
    let workdir = tempfile::Builder::new().prefix("hrm-demo-").tempdir().context("creating the demo's folder")?;
    step(match args.engine {
        Engine::Anvil => "Starting a throw-away Anvil node and MongoDB-wire server",
        Engine::Geth => {
            "Starting a throw-away five-node Geth network (boot node, three sealers, a full node) and MongoDB-wire server"
        }
    });
    let services = DemoServices::start(args.engine, workdir.path()).await?;
    let urls = services.rpc_urls();
    println!("chain {} · database {}", urls.join(", "), services.mongodb_uri());
    let store = DeploymentStore::new(workdir.path().join("deployments"));
    // Participant `index` talks to node `index mod n`: on Geth, hospitals use different nodes.
    let connect = |index: usize| {
        let url = urls[index % urls.len()].clone();
        async move {
            let url: alloy::transports::http::reqwest::Url = url.parse()?;
            Ok::<_, eyre::Report>(Connection::open(url, Duration::from_secs(120)).await?.with_signer(dev(index)))
        }
    };

    step("The consortium admin deploys HealthRecords");
    let (deployment, outcome) = connect(0).await?.deploy(&store, true).await?;
    println!("contract {} · block {} · {} gas", deployment.address, outcome.block, outcome.gas_used);
    let admin = connect(0).await?.attach(&store).await?;

    step("Five hospitals join and publish their keys; so do three patients");
    let mut hospitals: Vec<Consortium> = Vec::new();
    let mut roster = table(["participant", "role", "account"]);
    for (i, name) in HOSPITALS.iter().enumerate() {
        let hospital = connect(i + 1).await?.attach(&store).await?;
        admin.register_hospital(hospital.sender(), name).await?;
        hospital.publish_key(public_key_bytes(&dev(i + 1))).await?;
        roster.add_row(vec![name.to_string(), "hospital".into(), hospital.sender().to_string()]);
        hospitals.push(hospital);
    }
    let mut patients: Vec<Consortium> = Vec::new();
    for (i, name) in PATIENTS.iter().enumerate() {
        let patient = connect(6 + i).await?.attach(&store).await?;
        patient.publish_key(public_key_bytes(&dev(6 + i))).await?;
        roster.add_row(vec![name.to_string(), "patient".into(), patient.sender().to_string()]);
        patients.push(patient);
    }
    println!("{roster}");
    let primary = &hospitals[0];
    let panel: Vec<Address> = hospitals[1..].iter().map(Consortium::sender).collect();
    primary.set_supporting_hospitals(panel).await?;
    println!("St Mary names Hope, Lakeside, Northgate and Riverside as its supporting hospitals.");

    step("St Mary submits each patient's health details and bill, sealed to the patient and the panel");
    let mut entries = table(["entry", "patient", "kind", "gas", "sealed bytes"]);
    let mut submitted = Vec::new();
    for (i, patient) in patients.iter().enumerate() {
        for record in [health_record(i), bill_record(i)] {
            let outcome = submit_record(primary, patient.sender(), &record).await?;
            let id = outcome.entry_id.expect("a submission has an entry id");
            let envelope = primary.submission(id).await?.envelope.len();
            entries.add_row(vec![
                id.to_string(),
                PATIENTS[i].into(),
                record.kind().describe().into(),
                outcome.gas_used.to_string(),
                envelope.to_string(),
            ]);
            submitted.push((id, i, record.kind()));
        }
    }
    println!("{entries}");
    // Every participant's node must have the submissions before it votes on them.
    let last_block = primary.submission(submitted.last().expect("six entries").0).await?.block;
    for party in hospitals.iter().chain(&patients) {
        party.connection().wait_for_block(last_block).await?;
    }
    let first = primary.submission(submitted[0].0).await?;
    let opened = open_submission(&first, &dev(6))?.ok_or_else(|| eyre!("the patient could not open their record"))?;
    let outsider = open_submission(&first, &dev(9))?;
    println!(
        "Asha opens entry {}: glucose {}. An outsider gets {}.",
        first.id,
        opened.record["readings"]["glucose"],
        if outsider.is_none() { "nothing: it is not sealed to them" } else { "IT OPEN (this must not happen)" }
    );

    step("The panel and each patient vote; Lakeside rejects Ben's bill");
    let rejected =
        submitted.iter().find(|(_, p, k)| *p == 1 && *k == hrm::records::EntryKind::Bill).map(|(id, ..)| *id);
    for (id, patient, _) in &submitted {
        for voter in &hospitals[1..] {
            let reject = Some(*id) == rejected && voter.sender() == hospitals[2].sender();
            voter.vote(*id, !reject).await?;
            if reject {
                break;
            }
        }
        if Some(*id) != rejected {
            patients[*patient].vote(*id, true).await?;
        }
    }
    let mut status = table(["entry", "patient", "kind", "votes", "status"]);
    for (id, patient, _) in &submitted {
        let entry = admin.entry(*id).await?;
        status.add_row(vec![
            id.to_string(),
            PATIENTS[*patient].into(),
            entry.kind.describe().into(),
            format!("{}/{}", entry.approvals, entry.required_votes),
            entry.status.to_string(),
        ]);
    }
    println!("{status}");

    step("St Mary migrates approved entries into MongoDB, then the archive is audited");
    let archive = Archive::connect(&services.mongodb_uri(), "hrm_demo").await?;
    let report = migrate(primary, &archive, &dev(1), &MigrationOptions::default(), |_| {}).await?;
    let rerun = migrate(primary, &archive, &dev(1), &MigrationOptions::default(), |_| {}).await?;
    let audit = hrm::audit::audit(primary, &archive).await?;
    println!(
        "migrated {} ({} failed); a rerun migrated {} more; audit: {} approved on chain, {} archived, {}",
        report.migrated,
        report.failed.len(),
        rerun.migrated,
        audit.approved_on_chain,
        audit.archived,
        if audit.is_clean() { "clean" } else { "NOT CLEAN" }
    );

    step("The diabetes model is trained on the Pima data and scores each patient's latest record");
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
    for (i, patient) in patients.iter().enumerate() {
        let record = archive
            .latest_health_record(patient.sender())
            .await?
            .ok_or_else(|| eyre!("{} has no archived record", PATIENTS[i]))?;
        let details: HealthDetails = mongodb::bson::from_document(record.record.clone())?;
        let prediction = model.model.explain(&details.readings.values(), 0.5);
        archive.save_prediction(&StoredPrediction::new(&model, &record, &prediction)).await?;
        let top = prediction
            .contributions
            .iter()
            .max_by(|a, b| a.contribution.abs().total_cmp(&b.contribution.abs()))
            .expect("eight features");
        predictions.add_row(vec![
            PATIENTS[i].into(),
            record.entry_id.to_string(),
            details.readings.glucose.to_string(),
            details.readings.bmi.to_string(),
            format!("{:.3}", prediction.probability),
            if prediction.diabetic { "diabetic" } else { "not diabetic" }.into(),
            format!("{} ({:+.2})", top.feature, top.contribution),
        ]);
    }
    println!("{predictions}");
    println!("Each prediction is stored in the archive's `predictions` collection.");

    drop(services);
    println!(
        "\nDone in {:.1} s; the node and the database were stopped and their data removed.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn health_record(patient: usize) -> Record {
    let readings = [
        HealthDetails::example().readings,
        Readings {
            pregnancies: 1,
            glucose: 85.0,
            blood_pressure: 66.0,
            skin_thickness: 29.0,
            insulin: 0.0,
            bmi: 26.6,
            diabetes_pedigree: 0.351,
            age: 31,
        },
        Readings {
            pregnancies: 3,
            glucose: 183.0,
            blood_pressure: 64.0,
            skin_thickness: 0.0,
            insulin: 0.0,
            bmi: 23.3,
            diabetes_pedigree: 0.672,
            age: 32,
        },
    ];
    Record::Health(HealthDetails {
        recorded_at: format!("2026-11-{:02}", 2 + patient),
        readings: readings[patient % 3].clone(),
        notes: Some("fasting sample".into()),
    })
}

fn bill_record(patient: usize) -> Record {
    let amount = |text: &str| Amount::parse(text).expect("a valid amount");
    let items = vec![
        LineItem { description: "Consultation".into(), amount: amount("120.00") },
        LineItem { description: "HbA1c test".into(), amount: amount(["45.50", "38.00", "52.25"][patient % 3]) },
        LineItem { description: "Glucose meter".into(), amount: amount("30.25") },
    ];
    let total = Amount { hundredths: items.iter().map(|i| i.amount.hundredths).sum() };
    Record::Bill(BillDetails {
        issued_at: format!("2026-11-{:02}", 2 + patient),
        currency: "USD".into(),
        line_items: items,
        total,
    })
}
