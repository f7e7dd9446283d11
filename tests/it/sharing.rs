//! Patient-controlled sharing and the access log, through the command line: the read rule for
//! each kind of reader (`hrm records --from`), grants and revocations on chain, one log entry per
//! read and per refusal, and `hrm access-log verify` catching an edited, a deleted and a
//! reordered entry made directly in the database.

use mongodb::bson::{Document, doc};
use serde_json::Value;

use crate::common::TestEnv;
use crate::common::cli::{Hrm, health_json};

/// Runs `hrm --json --from FROM records --patient dev:4`: (entry ids shown with their rule,
/// number withheld).
fn records_as(hrm: &Hrm<'_>, from: &str) -> (Vec<String>, u64) {
    let report = hrm.json(&hrm.with_archive(&["--from", from, "records", "--patient", "dev:4"]));
    let shown = report["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r["entry_id"], r["read_rule"].as_str().unwrap()))
        .collect();
    (shown, report["withheld"].as_u64().unwrap())
}

fn verify(hrm: &Hrm<'_>) -> (i32, Value) {
    let output = hrm.command(&hrm.with_archive(&["--json", "access-log", "verify"])).output().unwrap();
    (output.status.code().unwrap(), serde_json::from_slice(&output.stdout).unwrap_or(Value::Null))
}

fn messages(report: &Value) -> Vec<String> {
    report["problems"].as_array().unwrap().iter().map(|p| p["message"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_patient_lets_a_third_hospital_in_and_out_and_every_read_is_logged() {
    let env = TestEnv::start("sharing_cli").await;
    let hrm = Hrm::new(&env);
    // dev:1 submits with dev:2 on its panel; dev:3 is a hospital that handled nothing; dev:4 is
    // the patient.
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    hrm.ok(&["--from", "dev:0", "hospital", "register", "dev:3", "--name", "Hospital C"]);
    let record = hrm.write_file("record.json", &health_json("148", "fasting"));
    hrm.ok(&["--from", "dev:1", "submit-health", "--patient", "dev:4", "--file", record.to_str().unwrap()]);
    for voter in ["dev:2", "dev:4"] {
        hrm.ok(&["--from", voter, "vote", "1", "--approve"]);
    }
    hrm.ok(&hrm.with_archive(&["--from", "dev:1", "migrate"]));

    // The rule, reader by reader.
    assert_eq!(records_as(&hrm, "dev:4"), (vec!["1 own".to_string()], 0));
    assert_eq!(records_as(&hrm, "dev:1"), (vec!["1 submitter".to_string()], 0));
    assert_eq!(records_as(&hrm, "dev:2"), (vec!["1 panel".to_string()], 0));
    assert_eq!(records_as(&hrm, "dev:3"), (vec![], 1), "hospital C holds no grant yet");
    let refused = hrm.fails(&hrm.with_archive(&["--from", "dev:3", "export", "fhir", "--patient", "dev:4"]));
    assert!(refused.contains("share grant"), "{refused}");
    let without_reader = hrm.fails(&hrm.with_archive(&["records", "--patient", "dev:4"]));
    assert!(without_reader.contains("--from"), "{without_reader}");

    // Grant, read, revoke: access follows the chain at once.
    hrm.ok(&["--from", "dev:4", "share", "grant", "dev:3", "--until", "2999-12-31"]);
    assert_eq!(records_as(&hrm, "dev:3"), (vec!["1 grant".to_string()], 0));
    let again = hrm.fails(&["--from", "dev:4", "share", "grant", "dev:3"]);
    assert!(again.contains("already holds access until 3000-01-01"), "{again}");
    let listed = hrm.json(&["share", "list", "--patient", "dev:4"]);
    assert_eq!(listed["grants"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["grants"][0]["active"], true);
    hrm.ok(&["--from", "dev:4", "share", "revoke", "dev:3"]);
    assert_eq!(records_as(&hrm, "dev:3"), (vec![], 1), "the revocation takes effect on the next read");
    let listed = hrm.json(&["--from", "dev:4", "share", "list"]);
    assert!(listed["grants"].as_array().unwrap().is_empty(), "{listed}");
    assert_eq!(listed["history"].as_array().unwrap().len(), 2);
    let text = hrm.ok(&["share", "list", "--patient", "dev:4"]);
    assert!(text.contains("No hospital holds a grant") && text.contains("revoked"), "{text}");

    // Refusals from the contract, told plainly.
    let twice = hrm.fails(&["--from", "dev:4", "share", "revoke", "dev:3"]);
    assert!(twice.contains("holds no grant from you"), "{twice}");
    let not_hospital = hrm.fails(&["--from", "dev:4", "share", "grant", "dev:5"]);
    assert!(not_hospital.contains("is not a registered hospital"), "{not_hospital}");
    let by_hospital = hrm.fails(&["--from", "dev:1", "share", "grant", "dev:3"]);
    assert!(by_hospital.contains("is not a patient here"), "{by_hospital}");
    let bad_date = hrm.fails(&["--from", "dev:4", "share", "grant", "dev:3", "--until", "31/12/2999"]);
    assert!(bad_date.contains("YYYY-MM-DD"), "{bad_date}");

    // One log entry per read and one per refusal, newest first; the failed export was refused.
    let log = hrm.json(&hrm.with_archive(&["access-log", "list", "--patient", "dev:4"]));
    let summary: Vec<String> = log
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| {
            let rule = e["records"][0]["rule"].as_str().unwrap_or("-");
            format!("{} {} {rule}", e["action"].as_str().unwrap(), e["outcome"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        summary,
        [
            "hrm records allowed own",
            "hrm records allowed submitter",
            "hrm records allowed panel",
            "hrm records denied -",
            "hrm export fhir denied -",
            "hrm records allowed grant",
            "hrm records denied -",
        ]
    );

    // Verified clean, anchored, grown: still clean.
    let (code, report) = verify(&hrm);
    assert_eq!((code, report["entries"].as_i64(), report["anchors"].as_u64()), (0, Some(7), Some(0)), "{report}");
    let not_hospital = hrm.fails(&hrm.with_archive(&["--from", "dev:4", "access-log", "anchor"]));
    assert!(not_hospital.contains("not a registered hospital"), "{not_hospital}");
    hrm.ok(&hrm.with_archive(&["--from", "dev:1", "access-log", "anchor"]));
    let unchanged = hrm.ok(&hrm.with_archive(&["--from", "dev:1", "access-log", "anchor"]));
    assert!(unchanged.contains("already anchored"), "{unchanged}");
    records_as(&hrm, "dev:4");
    let (code, report) = verify(&hrm);
    assert_eq!((code, report["entries"].as_i64(), report["anchored"].as_i64()), (0, Some(8), Some(7)), "{report}");

    // Tampering made directly in the database, each named where it is.
    let log = env.database().await.collection::<Document>("access_log");
    let original: Vec<Document> = {
        use futures_util::TryStreamExt;
        log.find(doc! {}).sort(doc! { "_id": 1 }).await.unwrap().try_collect().await.unwrap()
    };
    let restore = || async {
        log.delete_many(doc! {}).await.unwrap();
        log.insert_many(original.clone()).await.unwrap();
    };

    log.update_one(doc! { "_id": 4_i64 }, doc! { "$set": { "outcome": "allowed" } }).await.unwrap();
    let (code, report) = verify(&hrm);
    assert_eq!(code, 1);
    assert_eq!(messages(&report), ["entry 4 was edited: its contents no longer match its hash"]);
    restore().await;

    log.delete_one(doc! { "_id": 3_i64 }).await.unwrap();
    let (code, report) = verify(&hrm);
    assert_eq!((code, messages(&report)), (1, vec!["entry 3 is missing: it was deleted".to_string()]));
    restore().await;

    // Entries 5 and 6 swap places.
    let mut fifth = original[4].clone();
    let mut sixth = original[5].clone();
    fifth.insert("_id", 6_i64);
    sixth.insert("_id", 5_i64);
    log.delete_many(doc! { "_id": { "$in": [5_i64, 6_i64] } }).await.unwrap();
    log.insert_many([sixth, fifth]).await.unwrap();
    let (code, report) = verify(&hrm);
    assert_eq!(code, 1);
    let found = messages(&report);
    assert!(found[0].starts_with("entry 5 is out of place: it was written right after entry 6"), "{found:?}");
    assert!(found[1].starts_with("entry 6 is out of place: it was written right after entry 4"), "{found:?}");
    restore().await;

    // The last entry before the anchor rewritten with its hash recomputed: only the anchor tells.
    let mut rewritten: hrm::access::AccessLogEntry = mongodb::bson::from_document(original[6].clone()).unwrap();
    rewritten.action = "nothing happened".into();
    rewritten.hash = rewritten.computed_hash().to_string();
    log.replace_one(doc! { "_id": 7_i64 }, mongodb::bson::to_document(&rewritten).unwrap()).await.unwrap();
    let (code, report) = verify(&hrm);
    assert_eq!(code, 1);
    let found = messages(&report);
    assert!(found.iter().any(|m| m.starts_with("entry 7 does not match the head anchored")), "{found:?}");
    restore().await;
    assert_eq!(verify(&hrm).0, 0, "restored, the log verifies again");
}

/// Two writers (the web app and a CLI, say) appending at once: every append gets its own
/// position, and the log still links up.
#[tokio::test]
async fn concurrent_appends_from_two_processes_keep_one_chain() {
    use hrm::access::{AccessEvent, AccessLog, verify_log};

    let env = TestEnv::start("sharing_concurrent").await;
    let archive = hrm::store::Archive::connect(&env.mongodb_uri, &env.database_name).await.unwrap();
    let (first, second) = (AccessLog::new(&archive), AccessLog::new(&archive));
    let appends = (0..40).map(|i| {
        let log = if i % 2 == 0 { &first } else { &second };
        let event = AccessEvent::example(i);
        async move { log.append(&event).await.unwrap().position }
    });
    let mut positions = futures_util::future::join_all(appends).await;
    positions.sort_unstable();
    assert_eq!(positions, (1..=40).collect::<Vec<i64>>());
    let check = verify_log(&first.all_documents().await.unwrap(), &[]);
    assert!(check.is_clean() && check.entries == 40, "{check:?}");
}

/// The head is found by looking entries up by position (a sort would read the whole log on some
/// servers): right at every length, from a cold start and from a process that knows part of it;
/// another process's appends are seen once each, this process's own never.
#[tokio::test]
async fn the_log_head_is_found_at_every_length_and_appends_elsewhere_are_seen() {
    use hrm::access::{AccessEvent, AccessLog};

    let env = TestEnv::start("sharing_head").await;
    let archive = hrm::store::Archive::connect(&env.mongodb_uri, &env.database_name).await.unwrap();
    let (here, elsewhere) = (AccessLog::new(&archive), AccessLog::new(&archive));
    assert_eq!(AccessLog::new(&archive).read_head().await.unwrap(), (0, alloy::primitives::B256::ZERO));
    assert!(!here.appended_elsewhere().await.unwrap(), "an empty log");
    let mut last = None;
    for length in 1..=37i64 {
        let entry = elsewhere.append(&AccessEvent::example(length as usize)).await.unwrap();
        assert_eq!(entry.position, length);
        last = Some(entry.stored_hash());
        let cold = AccessLog::new(&archive);
        assert_eq!(cold.read_head().await.unwrap(), (length, entry.stored_hash()), "a cold read at length {length}");
        assert_eq!(elsewhere.read_head().await.unwrap(), (length, entry.stored_hash()), "from the writer's own head");
    }
    // `here` has seen nothing yet: the 37 entries are another process's, reported once.
    assert!(here.appended_elsewhere().await.unwrap());
    assert!(!here.appended_elsewhere().await.unwrap(), "the same appends are not reported twice");
    assert_eq!(here.read_head().await.unwrap(), (37, last.unwrap()));
    let own = here.append(&AccessEvent::example(100)).await.unwrap();
    assert_eq!(own.position, 38, "after the other process's entries");
    assert!(!here.appended_elsewhere().await.unwrap(), "its own append is not another's");
    let theirs = elsewhere.append(&AccessEvent::example(101)).await.unwrap();
    assert_eq!(theirs.position, 39, "the other process finds position 38 taken and writes after it");
    assert!(here.appended_elsewhere().await.unwrap(), "the other process appended again");
}
