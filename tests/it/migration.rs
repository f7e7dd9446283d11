//! `hrm migrate`, `hrm audit` and `hrm records` against a real Anvil and a real MongoDB-wire
//! server.

use crate::common::cli::Hrm;
use crate::common::{TestEnv, dev};
use alloy::primitives::keccak256;
use hrm::chain::{Consortium, DeploymentStore, EntryKind};
use hrm::records::{Amount, BillDetails, HealthDetails, LineItem, Readings, Record};
use hrm::scenario::{ScenarioPlan, set_up_consortium};
use hrm::submission::{gather_recipients, seal, submit_record};
use mongodb::bson::{Document, doc};
use serde_json::Value;

/// hrm's home with the minimal consortium deployed: dev:1 submits with dev:2 as its panel; dev:3
/// is the patient. Returns the primary's, the panel member's and the patient's clients.
/// The primary, its one supporting hospital and a patient, with the test's database, which the
/// primary keeps its envelopes in (as every participant of a local network shares it).
pub(crate) struct Parties {
    pub clients: [Consortium; 3],
    pub archive: hrm::store::Archive,
    pub primary_signer: alloy::signers::local::PrivateKeySigner,
}

impl std::ops::Deref for Parties {
    type Target = [Consortium; 3];
    fn deref(&self) -> &Self::Target {
        &self.clients
    }
}

pub(crate) async fn consortium(hrm: &Hrm<'_>) -> Parties {
    let store = DeploymentStore::new(hrm.home().join("deployments"));
    let scenario = set_up_consortium(&hrm.env.rpc_urls(), &store, &ScenarioPlan::minimal()).await.unwrap();
    let archive = hrm::store::Archive::connect(&hrm.env.mongodb_uri, &hrm.env.database_name).await.unwrap();
    Parties {
        clients: [&scenario.hospitals[0], &scenario.hospitals[1], &scenario.patients[0]].map(|p| p.client.clone()),
        archive,
        primary_signer: scenario.hospitals[0].signer.clone(),
    }
}

pub(crate) fn health(glucose: f64) -> Record {
    Record::Health(HealthDetails {
        recorded_at: "2026-11-02".into(),
        readings: Readings {
            pregnancies: 2,
            glucose,
            blood_pressure: 70.0,
            skin_thickness: 20.0,
            insulin: 85.0,
            bmi: 28.4,
            diabetes_pedigree: 0.351,
            age: 41,
        },
        notes: None,
    })
}

pub(crate) fn bill(total: &str) -> Record {
    Record::Bill(BillDetails {
        issued_at: "2026-11-03".into(),
        currency: "EUR".into(),
        line_items: vec![LineItem { description: "Visit".into(), amount: Amount::parse(total).unwrap() }],
        total: Amount::parse(total).unwrap(),
    })
}

/// Submits `record` as the primary; the panel member and the patient vote as told.
pub(crate) async fn entry(parties: &Parties, record: &Record, approve: Option<bool>) -> u64 {
    let [primary, member, patient] = &parties.clients;
    let done =
        submit_record(primary, &parties.archive, &parties.primary_signer, patient.sender(), record).await.unwrap();
    let id = done.outcome.entry_id.unwrap();
    match approve {
        Some(true) => {
            member.vote(id, true).await.unwrap();
            patient.vote(id, true).await.unwrap();
        }
        Some(false) => {
            member.vote(id, false).await.unwrap();
        }
        None => {}
    }
    id
}

pub(crate) async fn count(env: &TestEnv, collection: &str, filter: Document) -> u64 {
    env.database().await.collection::<Document>(collection).count_documents(filter).await.unwrap()
}

pub(crate) fn mongo_args(env: &TestEnv) -> [&str; 4] {
    ["--mongodb-uri", env.mongodb_uri.as_str(), "--database", env.database_name.as_str()]
}

/// Runs `hrm --json ARGS` with the database flags; returns (exit code, parsed stdout, stderr).
pub(crate) fn run_json(hrm: &Hrm<'_>, extra_env: &[(&str, &str)], args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["--json"];
    all.extend_from_slice(&mongo_args(hrm.env));
    all.extend_from_slice(args);
    let mut command = hrm.command(&all);
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (output.status.code().unwrap_or(-1), value, String::from_utf8_lossy(&output.stderr).to_string())
}

#[tokio::test]
async fn migrates_approved_entries_once_with_provenance() {
    let env = TestEnv::start("migrate_once").await;
    let hrm = Hrm::new(&env);
    let parties = consortium(&hrm).await;
    let mut approved = Vec::new();
    for i in 0..4 {
        approved.push(entry(&parties, &health(100.0 + f64::from(i)), Some(true)).await);
    }
    approved.push(entry(&parties, &bill("42.10"), Some(true)).await);
    let pending = entry(&parties, &health(150.0), None).await;
    let rejected = entry(&parties, &bill("9.99"), Some(false)).await;

    // Staying far behind the head reads nothing yet.
    let (code, report, stderr) = run_json(&hrm, &[], &["--from", "dev:1", "migrate", "--confirmations", "1000"]);
    assert_eq!((code, report["migrated"].as_u64()), (0, Some(0)), "{stderr}");
    assert_eq!(count(&env, "health_records", doc! {}).await, 0);
    // Small log batches find everything all the same.
    let (code, report, stderr) = run_json(&hrm, &[], &["--from", "dev:1", "migrate", "--batch-blocks", "3"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!((report["migrated"].as_u64(), report["already_present"].as_u64()), (Some(5), Some(0)));
    assert_eq!(count(&env, "health_records", doc! {}).await, 4);
    assert_eq!(count(&env, "bills", doc! {}).await, 1);
    for id in [pending, rejected] {
        assert_eq!(count(&env, "health_records", doc! { "entry_id": id as i64 }).await, 0);
        assert_eq!(count(&env, "bills", doc! { "entry_id": id as i64 }).await, 0);
    }

    // The document carries its provenance and the plaintext.
    let stored = env
        .database()
        .await
        .collection::<Document>("health_records")
        .find_one(doc! { "entry_id": approved[0] as i64 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.get_i64("chain_id").unwrap(), 31337);
    assert_eq!(
        stored.get_document("record").unwrap().get_document("readings").unwrap().get_i32("glucose").unwrap(),
        100
    );
    assert_eq!(stored.get_str("patient").unwrap(), format!("{:#x}", dev(3).address()));
    assert_eq!(stored.get_array("voters").unwrap().len(), 2);
    for key in ["submission", "approval"] {
        let provenance = stored.get_document(key).unwrap();
        assert!(provenance.get_str("tx_hash").unwrap().starts_with("0x") && provenance.get_i64("block").unwrap() > 0);
    }
    let salt = stored.get_str("salt").unwrap();
    assert_eq!(salt.len(), 66);

    // A rerun finds nothing new; without its checkpoint it finds everything already present.
    let (code, report, _) = run_json(&hrm, &[], &["--from", "dev:1", "migrate"]);
    assert_eq!((code, report["migrated"].as_u64(), report["nothing_new"].as_bool()), (0, Some(0), Some(true)));
    let said = String::from_utf8(hrm.run(&hrm.with_archive(&["--from", "dev:1", "migrate"])).stdout).unwrap();
    let since = report["from_block"].as_u64().unwrap() - 1;
    assert!(said.contains(&format!("none: nothing new since block {since}")), "{said}");
    assert!(!said.contains(&format!("to {since}")), "an empty range is not told as blocks: {said}");
    env.database().await.collection::<Document>("migration_checkpoints").delete_many(doc! {}).await.unwrap();
    let (code, report, _) = run_json(&hrm, &[], &["--from", "dev:1", "migrate"]);
    assert_eq!((code, report["migrated"].as_u64(), report["already_present"].as_u64()), (0, Some(0), Some(5)));
    assert_eq!(count(&env, "health_records", doc! {}).await + count(&env, "bills", doc! {}).await, 5);

    // The pending entry, once approved, is picked up by the next run.
    parties[1].vote(pending, true).await.unwrap();
    parties[2].vote(pending, true).await.unwrap();
    let (_, report, _) = run_json(&hrm, &[], &["--from", "dev:1", "migrate"]);
    assert_eq!(report["migrated"].as_u64(), Some(1));

    // records --patient: newest first, both kinds.
    let (code, records, _) = run_json(&hrm, &[], &["--from", "dev:3", "records", "--patient", "dev:3"]);
    assert_eq!(code, 0);
    let ids: Vec<u64> =
        records["records"].as_array().unwrap().iter().map(|r| r["entry_id"].as_u64().unwrap()).collect();
    assert!(records["records"].as_array().unwrap().iter().all(|r| r["read_rule"] == "own"), "{records}");
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!((ids.len(), ids.clone()), (6, sorted));
    assert!(hrm.ok(&hrm.with_archive(&["--from", "dev:3", "records", "--patient", "dev:3"])).contains("glucose 100"));
}

#[tokio::test]
async fn a_crash_halfway_loses_nothing_and_duplicates_nothing() {
    let env = TestEnv::start("migrate_crash").await;
    let hrm = Hrm::new(&env);
    let parties = consortium(&hrm).await;
    for i in 0..12 {
        entry(&parties, &health(90.0 + f64::from(i)), Some(true)).await;
    }
    let (code, _, stderr) = run_json(&hrm, &[("HRM_TEST_ABORT_AFTER_WRITES", "5")], &["--from", "dev:1", "migrate"]);
    assert_eq!(code, 2, "an error exits with 2: {stderr}");
    assert!(stderr.contains("stopped on purpose after 5 writes"), "{stderr}");
    assert_eq!(count(&env, "health_records", doc! {}).await, 5);
    assert_eq!(
        count(&env, "migration_checkpoints", doc! {}).await,
        0,
        "the checkpoint moved before the batch was written"
    );

    let (code, report, stderr) = run_json(&hrm, &[], &["--from", "dev:1", "migrate"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!((report["migrated"].as_u64(), report["already_present"].as_u64()), (Some(7), Some(5)));
    assert_eq!(count(&env, "health_records", doc! {}).await, 12);
    let distinct =
        env.database().await.run_command(doc! { "distinct": "health_records", "key": "entry_id" }).await.unwrap();
    assert_eq!(distinct.get_array("values").unwrap().len(), 12);
}

#[tokio::test]
async fn entries_that_cannot_be_opened_or_verified_are_reported() {
    let env = TestEnv::start("migrate_failures").await;
    let hrm = Hrm::new(&env);
    let parties = consortium(&hrm).await;
    let good = entry(&parties, &health(120.0), Some(true)).await;

    // An envelope sealed for one record, committed to another: the contract cannot tell.
    let [primary, member, patient] = &parties.clients;
    let recipients = gather_recipients(primary, patient.sender()).await.unwrap();
    let sealed = seal(&health(130.0), &recipients).unwrap();
    parties.archive.store_envelope(&sealed.envelope, &hrm::store::EnvelopeSource::SealedHere).await.unwrap();
    let forged = primary
        .submit(EntryKind::Health, patient.sender(), keccak256(b"another record"), sealed.envelope_digest)
        .await
        .unwrap()
        .entry_id
        .unwrap();
    member.vote(forged, true).await.unwrap();
    patient.vote(forged, true).await.unwrap();

    // An outsider can open nothing.
    let (code, report, _) = run_json(&hrm, &[], &["--from", "dev:7", "migrate"]);
    assert_eq!(code, 3);
    let failed: Vec<(u64, String)> = report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["entry_id"].as_u64().unwrap(), f["reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|(_, reason)| reason.contains("not sealed to the migrating account")), "{failed:?}");

    // The primary migrates the good entry and reports the forged one, on every run.
    for _ in 0..2 {
        let (code, report, stderr) = run_json(&hrm, &[], &["--from", "dev:1", "migrate"]);
        assert_eq!(code, 3, "{stderr}");
        let failed = report["failed"].as_array().unwrap();
        assert_eq!(failed.len(), 1, "{report}");
        assert_eq!(failed[0]["entry_id"].as_u64(), Some(forged));
        assert!(failed[0]["reason"].as_str().unwrap().contains("does not match its on-chain commitment"));
    }
    assert_eq!(count(&env, "health_records", doc! { "entry_id": good as i64 }).await, 1);
    assert_eq!(count(&env, "health_records", doc! { "entry_id": forged as i64 }).await, 0);
    let text = hrm
        .command(&["--mongodb-uri", &env.mongodb_uri, "--database", &env.database_name, "--from", "dev:1", "migrate"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("does not match its on-chain commitment"));
}

#[tokio::test]
async fn an_unreachable_database_is_named_and_nothing_moves() {
    let env = TestEnv::start("migrate_unreachable").await;
    let hrm = Hrm::new(&env);
    let parties = consortium(&hrm).await;
    entry(&parties, &health(110.0), Some(true)).await;
    let output = hrm
        .command(&["--mongodb-uri", "mongodb://127.0.0.1:9/?connectTimeoutMS=500", "--from", "dev:1", "migrate"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "an error exits with 2");
    assert!(stderr.contains("cannot reach the database at 127.0.0.1:9"), "{stderr}");
    assert_eq!(count(&env, "migration_checkpoints", doc! {}).await, 0);
    // MONGODB_URI is honoured when HRM_MONGODB_URI is not set.
    let output = hrm
        .command(&["--database", &env.database_name, "--from", "dev:1", "migrate"])
        .env("MONGODB_URI", &env.mongodb_uri)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn the_audit_names_missing_altered_and_unexpected_records() {
    let env = TestEnv::start("audit").await;
    let hrm = Hrm::new(&env);
    let parties = consortium(&hrm).await;
    let ids = [
        entry(&parties, &health(101.0), Some(true)).await,
        entry(&parties, &health(102.0), Some(true)).await,
        entry(&parties, &health(103.0), Some(true)).await,
        entry(&parties, &bill("12.50"), Some(true)).await,
    ];
    let pending = entry(&parties, &health(104.0), None).await;
    let (code, _, stderr) = run_json(&hrm, &[], &["--from", "dev:1", "migrate"]);
    assert_eq!(code, 0, "{stderr}");

    let (code, report, _) = run_json(&hrm, &[], &["audit"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!((report["approved_on_chain"].as_u64(), report["archived"].as_u64()), (Some(4), Some(4)));

    let db = env.database().await;
    let records = db.collection::<Document>("health_records");
    // One glucose value changed by hand.
    records
        .update_one(doc! { "entry_id": ids[0] as i64 }, doc! { "$set": { "record.readings.glucose": 180 } })
        .await
        .unwrap();
    // One record deleted.
    records.delete_one(doc! { "entry_id": ids[1] as i64 }).await.unwrap();
    // One forged from a real one, for an entry that is only pending.
    let mut forged = records.find_one(doc! { "entry_id": ids[2] as i64 }).await.unwrap().unwrap();
    forged.insert("_id", "forged");
    forged.insert("entry_id", pending as i64);
    records.insert_one(forged).await.unwrap();

    let (code, report, _) = run_json(&hrm, &[], &["audit"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["missing"], serde_json::json!([ids[1]]));
    let altered = report["altered"].as_array().unwrap();
    assert_eq!(altered.len(), 1);
    assert_eq!(altered[0]["entry_id"].as_u64(), Some(ids[0]));
    assert!(altered[0]["reason"].as_str().unwrap().contains("no longer matches the commitment"));
    let unexpected = report["unexpected"].as_array().unwrap();
    assert_eq!(unexpected.len(), 1);
    assert_eq!(
        (unexpected[0]["entry_id"].as_u64(), unexpected[0]["document"].as_str()),
        (Some(pending), Some("forged"))
    );

    let table =
        hrm.command(&["--mongodb-uri", &env.mongodb_uri, "--database", &env.database_name, "audit"]).output().unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert_eq!(table.status.code(), Some(1));
    assert!(text.contains("missing") && text.contains("altered") && text.contains("unexpected"), "{text}");
}

#[tokio::test]
async fn predictions_for_a_patients_latest_archived_record_are_stored() {
    let env = TestEnv::start("predict_patient").await;
    let hrm = Hrm::new(&env);
    let parties = consortium(&hrm).await;
    let model = hrm.home().join("model.json");
    hrm.ok(&["model", "train", "--out", model.to_str().unwrap()]);

    // Before anything is archived there is nothing to score.
    let (code, _, stderr) = run_json(&hrm, &[], &["predict", "--patient", "dev:3"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("has no approved health record") && stderr.contains("hrm migrate"), "{stderr}");

    entry(&parties, &health(95.0), Some(true)).await;
    let latest = entry(&parties, &health(188.0), Some(true)).await;
    entry(&parties, &bill("30.00"), Some(true)).await;
    entry(&parties, &health(99.0), None).await; // pending: not archived
    let (code, _, stderr) = run_json(&hrm, &[], &["--from", "dev:1", "migrate"]);
    assert_eq!(code, 0, "{stderr}");

    let (code, scored, stderr) = run_json(&hrm, &[], &["predict", "--patient", "dev:3"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(scored["stored"], true);
    assert!(scored["source"].as_str().unwrap().contains(&format!("entry {latest}")), "{scored}");
    let stored = env.database().await.collection::<Document>("predictions").find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(stored.get_i64("entry_id").unwrap(), latest as i64);
    assert_eq!(stored.get_str("model_id").unwrap(), scored["model_id"].as_str().unwrap());
    assert_eq!(stored.get_f64("probability").unwrap(), scored["prediction"]["probability"].as_f64().unwrap());
    assert!(stored.get_datetime("predicted_at").is_ok());
}
