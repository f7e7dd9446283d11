//! Private data off the chain: three hospitals, each with its own `hrm serve` and its own
//! database, exchange sealed envelopes over signed requests; a patient's erasure leaves no byte of
//! the record in any database while the chain keeps the evidence.

use std::time::Duration;

use alloy::primitives::{B256, keccak256};
use futures_util::TryStreamExt;
use hrm::chain::dev_keys::dev_account;
use hrm::chain::{Connection, Consortium, DeploymentStore};
use hrm::exchange::client::envelope_url;
use hrm::exchange::{ExchangeAction, ExchangeClient, ExchangeError, SignedRequest, exchange_domain, retry_deliveries};
use hrm::store::Archive;
use mongodb::bson::Document;

use crate::common::TestEnv;
use crate::common::cli::{Hrm, health_json};
use crate::common::web::{HttpVisitor, STAFF_PASSWORD, Server};

/// A reading no database may hold after the erasure.
const GLUCOSE: &str = "173.25";
const NOTES: &str = "exchange-erasure-marker-5d1c";

async fn consortium_of(env: &TestEnv, hrm: &Hrm<'_>) -> Consortium {
    let connection = Connection::open(env.rpc_url.clone(), Duration::from_secs(30)).await.unwrap();
    connection.attach(&DeploymentStore::new(hrm.home().join("deployments"))).await.unwrap()
}

async fn archive(env: &TestEnv, database: &str) -> Archive {
    Archive::connect(&env.mongodb_uri, database).await.unwrap()
}

/// A hospital's own database name for this test.
fn db(env: &TestEnv, hospital: &str) -> String {
    format!("{}_{hospital}", env.database_name)
}

/// The refusal a server answered with: its status and reason.
fn refusal(result: Result<Vec<u8>, ExchangeError>) -> (u16, String) {
    match result {
        Err(ExchangeError::RefusedBy { status, reason, .. }) => (status, reason),
        Err(other) => panic!("expected the server's refusal, got: {other}"),
        Ok(_) => panic!("the server handed over the envelope"),
    }
}

/// Every document of every collection of `database`, as bytes to search: binary fields raw,
/// everything else as extended JSON.
async fn every_byte_of(env: &TestEnv, database: &str) -> Vec<u8> {
    let db = env.mongo_client().await.database(database);
    let mut bytes = Vec::new();
    for name in db.list_collection_names().await.unwrap() {
        let documents: Vec<Document> =
            db.collection::<Document>(&name).find(Document::new()).await.unwrap().try_collect().await.unwrap();
        for document in documents {
            collect_bytes(&mongodb::bson::Bson::Document(document), &mut bytes);
        }
    }
    bytes
}

fn collect_bytes(value: &mongodb::bson::Bson, out: &mut Vec<u8>) {
    use mongodb::bson::Bson;
    match value {
        Bson::Binary(binary) => out.extend_from_slice(&binary.bytes),
        Bson::Document(document) => document.values().for_each(|v| collect_bytes(v, out)),
        Bson::Array(items) => items.iter().for_each(|v| collect_bytes(v, out)),
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn hospitals_exchange_envelopes_over_signed_requests_and_erase_them_on_request() {
    let env = TestEnv::start("exchange").await;
    let hrm = Hrm::new(&env);
    // St Mary (dev:1) submits; Hope (dev:2) and Lakeside (dev:3) are its panel; Northgate (dev:4)
    // is a hospital outside it; the patient is dev:6.
    hrm.set_up_consortium(&["dev:2", "dev:3"], "dev:6");
    hrm.ok(&["--from", "dev:0", "hospital", "register", "dev:4", "--name", "Northgate"]);
    let (stmary_db, hope_db, lakeside_db, patient_db) =
        (db(&env, "stmary"), db(&env, "hope"), db(&env, "lakeside"), db(&env, "patient"));
    let stmary = Server::start(&hrm, "dev:1", &stmary_db, &[], &[]);
    let hope = Server::start(&hrm, "dev:2", &hope_db, &[("rita", "reviewer")], &[]);
    let northgate = Server::start(&hrm, "dev:4", &db(&env, "northgate"), &[], &[]);
    hrm.ok(&["--from", "dev:1", "hospital", "endpoint", "set", &stmary.url]);
    hrm.ok(&["--from", "dev:2", "hospital", "endpoint", "set", &hope.url]);
    hrm.ok(&["--from", "dev:4", "hospital", "endpoint", "set", &northgate.url]);
    // Lakeside is down: its published endpoint answers nothing.
    let closed = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );
    hrm.ok(&["--from", "dev:3", "hospital", "endpoint", "set", &closed]);
    let listed = hrm.json(&["hospital", "list"]);
    assert_eq!(listed[0]["endpoint"], stmary.url.as_str(), "{listed}");
    let refused = hrm.fails(&["--from", "dev:2", "hospital", "endpoint", "set", "http://hope.example.org"]);
    assert!(refused.contains("must be https://"), "{refused}");

    // St Mary submits: the envelope reaches Hope at once; Lakeside's push is queued.
    let file = hrm.write_file("visit.json", &health_json(GLUCOSE, NOTES));
    let submitted = hrm.json(&[
        "--database",
        &stmary_db,
        "--from",
        "dev:1",
        "submit-health",
        "--patient",
        "dev:6",
        "--file",
        file.to_str().unwrap(),
    ]);
    let id = submitted["entry_id"].as_u64().unwrap();
    let digest: B256 = submitted["envelope_digest"].as_str().unwrap().parse().unwrap();
    let hospital_of =
        |push: &serde_json::Value| push["hospital"].as_str().unwrap().parse::<alloy::primitives::Address>().unwrap();
    assert_eq!(hospital_of(&submitted["deliveries"]["delivered"][0]), dev_account(2).address(), "{submitted}");
    assert_eq!(hospital_of(&submitted["deliveries"]["queued"][0]), dev_account(3).address(), "{submitted}");
    assert!(submitted["deliveries"]["queued"][0]["reason"].as_str().unwrap().contains("cannot reach"), "{submitted}");
    let consortium = consortium_of(&env, &hrm).await;
    let on_chain = consortium.submission(id).await.unwrap();
    assert_eq!(on_chain.envelope_digest, digest, "the chain holds the digest");
    let envelope = archive(&env, &stmary_db).await.envelope(digest).await.unwrap().expect("the submitter keeps it");
    assert_eq!(keccak256(&envelope), digest);
    assert_eq!(
        archive(&env, &hope_db).await.envelope(digest).await.unwrap().as_deref(),
        Some(&envelope[..]),
        "pushed to Hope"
    );
    assert!(archive(&env, &lakeside_db).await.envelope(digest).await.unwrap().is_none());
    let queued = archive(&env, &stmary_db).await.pending_deliveries().await.unwrap();
    assert_eq!(queued.len(), 1, "Lakeside's push waits");
    assert!(queued[0].next_attempt_at > mongodb::bson::DateTime::now(), "after a back-off");

    // Hope's reviewer opens and approves from the pushed copy.
    let mut rita = HttpVisitor::new(&hope);
    rita.sign_in_staff("rita", STAFF_PASSWORD).await;
    let page = rita.get(&format!("/reviewer/entries/{id}")).await;
    assert!(page.status == 200 && page.body.contains(NOTES), "{}", page.body);
    hrm.ok(&["--database", &hope_db, "--from", "dev:2", "vote", &id.to_string(), "--approve"]);

    // Lakeside comes up later, with its own database, and pulls the envelope when its reviewer
    // opens the entry.
    let lakeside = Server::start(&hrm, "dev:3", &lakeside_db, &[("rob", "reviewer")], &[]);
    hrm.ok(&["--from", "dev:3", "hospital", "endpoint", "set", &lakeside.url]);
    let mut rob = HttpVisitor::new(&lakeside);
    rob.sign_in_staff("rob", STAFF_PASSWORD).await;
    let page = rob.get(&format!("/reviewer/entries/{id}")).await;
    assert!(page.status == 200 && page.body.contains(GLUCOSE), "{}", page.body);
    assert!(archive(&env, &lakeside_db).await.envelope(digest).await.unwrap().is_some(), "pulled and kept");

    // St Mary's follower tries the queued push again once it is due (here: made due now), and
    // it goes through now that Lakeside answers.
    let stmary_archive = archive(&env, &stmary_db).await;
    stmary_archive
        .database()
        .collection::<Document>("envelope_deliveries")
        .update_many(
            Document::new(),
            mongodb::bson::doc! { "$set": { "next_attempt_at": mongodb::bson::DateTime::now() } },
        )
        .await
        .unwrap();
    let connection = Connection::open(env.rpc_url.clone(), Duration::from_secs(30)).await.unwrap();
    let as_stmary = connection
        .with_signer(dev_account(1))
        .attach(&DeploymentStore::new(hrm.home().join("deployments")))
        .await
        .unwrap();
    let retried = retry_deliveries(&as_stmary, &stmary_archive, &dev_account(1)).await.unwrap();
    assert_eq!((retried.delivered.len(), retried.queued.len()), (1, 0), "{retried:?}");
    assert!(stmary_archive.pending_deliveries().await.unwrap().is_empty(), "the queue is empty once delivered");
    hrm.ok(&["--database", &lakeside_db, "--from", "dev:3", "vote", &id.to_string(), "--approve"]);

    // The patient, with no database at all, pulls from the submitter each time they read.
    let mut bare = hrm.command(&["--json", "--from", "dev:6", "show", &id.to_string()]);
    let bare = bare.env_remove("HRM_MONGODB_URI").output().unwrap();
    assert!(bare.status.success(), "{}", String::from_utf8_lossy(&bare.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&bare.stdout).unwrap();
    assert_eq!(shown["record"]["notes"], NOTES, "{shown}");
    // With a database of their own, the patient keeps what they pulled, then votes.
    let shown = hrm.json(&["--database", &patient_db, "--from", "dev:6", "show", &id.to_string()]);
    assert_eq!(shown["record"]["notes"], NOTES, "{shown}");
    assert_eq!(shown["envelope_digest"], digest.to_string());
    hrm.ok(&["--database", &patient_db, "--from", "dev:6", "vote", &id.to_string(), "--approve"]);

    // St Mary archives and audits; its follower pass would have retried the queued push, which
    // the erasure below removes in any case.
    let migrated = hrm.json(&["--database", &stmary_db, "--from", "dev:1", "migrate", "--confirmations", "0"]);
    assert_eq!(migrated["migrated"], 1, "{migrated}");
    let archived: Document = env
        .mongo_client()
        .await
        .database(&stmary_db)
        .collection::<Document>("health_records")
        .find_one(mongodb::bson::doc! { "entry_id": id as i64 })
        .await
        .unwrap()
        .expect("archived");
    let salt = archived.get_str("salt").unwrap().trim_start_matches("0x").to_string();
    let audit = hrm.json(&["--database", &stmary_db, "--from", "dev:1", "audit"]);
    assert_eq!(
        (audit["missing"].as_array().unwrap().len(), audit["envelopes_missing"].as_array().unwrap().len()),
        (0, 0),
        "{audit}"
    );

    // With the submitter down, Hope still opens its own copy.
    drop(stmary);
    let shown = hrm.json(&["--database", &hope_db, "--from", "dev:2", "show", &id.to_string()]);
    assert_eq!(shown["record"]["notes"], NOTES);

    // Refusals, straight at Hope's API: each says why, and stores nothing.
    let stranger = ExchangeClient::new(&consortium, dev_account(4));
    let (status, reason) = refusal(stranger.pull(&hope.url, &on_chain).await.map(|_| Vec::new()));
    assert_eq!(status, 403, "{reason}");
    assert!(reason.contains("is not a recipient of entry"), "{reason}");
    let patient = ExchangeClient::new(&consortium, dev_account(6));
    let url = envelope_url(&hope.url, id);
    let once = patient.signed(ExchangeAction::Pull, id, digest);
    assert_eq!(patient.send_signed(&url, &once, None).await.unwrap(), envelope, "the patient may pull their own");
    let (status, reason) = refusal(patient.send_signed(&url, &once, None).await);
    assert!(status == 409 && reason.contains("received before"), "{status} {reason}");
    let deployment = consortium.deployment();
    let domain = exchange_domain(deployment.chain_id, deployment.address);
    let old = SignedRequest::sign(&dev_account(6), &domain, ExchangeAction::Pull, id, digest, once.issued_at - 3_600);
    let (status, reason) = refusal(patient.send_signed(&url, &old, None).await);
    assert!(status == 401 && reason.contains("5 minutes"), "{status} {reason}");
    let forged = SignedRequest { signer: dev_account(2).address(), ..patient.signed(ExchangeAction::Pull, id, digest) };
    let (status, reason) = refusal(patient.send_signed(&url, &forged, None).await);
    assert!(status == 401 && reason.contains("signature"), "{status} {reason}");
    let submitter = ExchangeClient::new(&consortium, dev_account(1));
    let (status, reason) = refusal(submitter.push(&lakeside.url, id, b"not the envelope").await.map(|()| Vec::new()));
    assert!(status == 422 && reason.contains("digest"), "{status} {reason}");
    let huge = vec![7u8; 200 * 1024];
    let signed = submitter.signed(ExchangeAction::Push, id, keccak256(&huge));
    let (status, reason) = refusal(submitter.send_signed(&envelope_url(&lakeside.url, id), &signed, Some(huge)).await);
    assert!(status == 413 && reason.contains("bytes"), "{status} {reason}");
    let (status, _) = refusal(stranger.push(&northgate.url, id, &envelope).await.map(|()| Vec::new()));
    assert_eq!(status, 403, "Northgate takes no envelope it may not hold");
    assert!(archive(&env, &db(&env, "northgate")).await.envelope(digest).await.unwrap().is_none());

    // Erasure: the patient asks for the health record and a bill; St Mary keeps the bill for the
    // tax office until a date, and every holder erases the rest and confirms on chain.
    let bill = hrm.json(&[
        "--database",
        &stmary_db,
        "--from",
        "dev:1",
        "submit-bill",
        "--patient",
        "dev:6",
        "--issued-at",
        "2026-11-03",
        "--currency",
        "EUR",
        "--item",
        "Consultation=80.00",
        "--total",
        "80.00",
    ])["entry_id"]
        .as_u64()
        .unwrap()
        .to_string();
    // St Mary's server is down: the patient's pull of the bill fails, and the next is not tried
    // before its back-off ends.
    let first = hrm.fails(&["--database", &patient_db, "--from", "dev:6", "show", &bill]);
    assert!(first.contains("cannot reach"), "{first}");
    let second = hrm.fails(&["--database", &patient_db, "--from", "dev:6", "show", &bill]);
    assert!(second.contains("1 time(s)") && second.contains("the next try waits until"), "{second}");
    let refused = hrm.fails(&["--from", "dev:2", "erase", "request", "--entry", &id.to_string()]);
    assert!(refused.contains("only a record's patient"), "{refused}");
    let requested = hrm.json(&[
        "--database",
        &patient_db,
        "--from",
        "dev:6",
        "erase",
        "request",
        "--entry",
        &id.to_string(),
        "--entry",
        &bill,
    ]);
    assert!(requested["tx_hash"].is_string(), "{requested}");
    assert_eq!(requested["own_copies_deleted"], 1, "the patient's pulled copy goes at once: {requested}");
    let pulls = env.mongo_client().await.database(&patient_db).collection::<Document>("envelope_pulls");
    assert_eq!(pulls.count_documents(Document::new()).await.unwrap(), 0, "and the failed pull is forgotten");
    let again = hrm.fails(&["--from", "dev:6", "erase", "request", "--entry", &id.to_string()]);
    assert!(again.contains("already requested"), "{again}");
    let defer = |reason: &str| {
        let args = ["--from", "dev:1", "erase", "defer", "--entry", &bill, "--until", "2031-12-31", "--reason", reason];
        hrm.run(&[&["--json"][..], &args[..]].concat())
    };
    let bad_reason = defer("because");
    let said = String::from_utf8_lossy(&bad_reason.stderr);
    assert!(!bad_reason.status.success() && said.contains("legal-obligation"), "{said}");
    let kept: serde_json::Value = serde_json::from_slice(&defer("legal-obligation").stdout).unwrap();
    assert!(kept["tx_hash"].is_string(), "{kept}");
    let outsider = hrm.json(&["--database", &db(&env, "northgate"), "--from", "dev:4", "erase", "apply"]);
    assert_eq!(
        (outsider["erased"].as_array().unwrap().len(), outsider["not_held"].as_u64()),
        (0, Some(2)),
        "{outsider}"
    );
    let erased_ids = |pass: &serde_json::Value| -> Vec<String> {
        pass["erased"].as_array().unwrap().iter().map(|e| e["entry_id"].to_string()).collect()
    };
    let pass = hrm.json(&["--database", &stmary_db, "--from", "dev:1", "erase", "apply"]);
    assert_eq!(erased_ids(&pass), [id.to_string()], "St Mary keeps the bill: {pass}");
    let pass = hrm.json(&["--database", &hope_db, "--from", "dev:2", "erase", "apply"]);
    assert_eq!(erased_ids(&pass), [id.to_string(), bill.clone()], "Hope erases both: {pass}");
    // Lakeside's retention policy keeps bills: deferred on chain, not erased.
    let pass = hrm.json(&["--database", &lakeside_db, "--from", "dev:3", "erase", "apply", "--keep-bills-for", "10"]);
    assert_eq!(erased_ids(&pass), [id.to_string()], "Lakeside keeps the bill: {pass}");
    assert_eq!(pass["deferred"], serde_json::json!([bill.parse::<u64>().unwrap()]), "{pass}");
    let status = hrm.json(&["erase", "status", "--patient", "dev:6"]);
    let holders = status[0]["holders"].as_array().unwrap();
    assert_eq!(holders.len(), 3, "{status}");
    assert!(holders.iter().all(|h| h["answer"]["state"] == "erased" && h["answer"]["block"].is_u64()), "{status}");
    let bill_answers: Vec<&str> =
        status[1]["holders"].as_array().unwrap().iter().map(|h| h["answer"]["state"].as_str().unwrap()).collect();
    assert_eq!(bill_answers, ["kept", "erased", "kept"], "St Mary by hand, Lakeside by policy: {status}");
    assert_eq!(status[1]["holders"][0]["answer"]["reason"], "legal-obligation", "{status}");
    let table = hrm.ok(&["erase", "status", "--patient", "dev:6"]);
    assert!(table.contains("erased (block") && table.contains("kept until 2032-01-01"), "{table}");

    // No byte of the record is left in any database: its readings, its salt, its envelope.
    // The envelope's own bytes (its header also names the recipients' addresses, which the kept
    // bill's envelope names too).
    let own = crate::common::envelope_secret_parts(&envelope);
    for database in [&stmary_db, &hope_db, &lakeside_db, &patient_db] {
        let bytes = every_byte_of(&env, database).await;
        assert!(!bytes.is_empty(), "{database} was read");
        assert!(
            !contains(&bytes, NOTES.as_bytes()) && !contains(&bytes, GLUCOSE.as_bytes()),
            "{database} holds the readings"
        );
        assert!(!contains(&bytes, salt.as_bytes()), "{database} holds the salt");
        for window in own.iter().flat_map(|part| part.windows(16)) {
            assert!(!contains(&bytes, window), "{database} holds a piece of the envelope");
        }
    }
    // The chain keeps the evidence: the commitment, the digest and the votes.
    let kept = consortium.submission(id).await.unwrap();
    assert_eq!((kept.commitment, kept.envelope_digest), (on_chain.commitment, digest));
    let head = consortium.head_block().await.unwrap();
    assert_eq!(consortium.approvers_of(&[id], head).await.unwrap()[&id].len(), 3);
    // Erased entries are expected absent: the audit is clean, and migrating again brings nothing back.
    let stmary_archive = ["--database", stmary_db.as_str(), "--from", "dev:1"];
    let remigrated = hrm.json(&[&stmary_archive[..], &["migrate", "--confirmations", "0"]].concat());
    assert_eq!(remigrated["migrated"], 0, "{remigrated}");
    let audit_of_stmary = || {
        let audit = hrm.run(&[&["--json"][..], &stmary_archive[..], &["audit"]].concat());
        let report: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
        (audit.status.code(), report)
    };
    let (code, audit) = audit_of_stmary();
    assert_eq!(code, Some(0), "the audit found something: {audit}");
    assert_eq!(audit["erasure_requested"], 1, "{audit}");
    assert!(audit["kept_after_erasure"].as_array().unwrap().is_empty(), "{audit}");
    // A hospital that confirmed an erasure but kept the record is caught by its own audit.
    let records = env.mongo_client().await.database(&stmary_db).collection::<Document>("health_records");
    records.insert_one(archived).await.unwrap();
    let (code, audit) = audit_of_stmary();
    assert_eq!(code, Some(1), "{audit}");
    assert_eq!(audit["kept_after_erasure"][0]["entry_id"], id, "{audit}");
    records.delete_many(Document::new()).await.unwrap();
    // Pulling an erased envelope is refused as gone.
    let (status, reason) = refusal(patient.pull(&hope.url, &on_chain).await.map(|_| Vec::new()));
    assert!(status == 410 && reason.contains("erased"), "{status} {reason}");

    // Once removed from the consortium, Lakeside is no recipient of anything: Hope refuses it
    // before it looks further (it was told "erased" while a member).
    let lakeside_client = ExchangeClient::new(&consortium, dev_account(3));
    let (status, _) = refusal(lakeside_client.pull(&hope.url, &on_chain).await.map(|_| Vec::new()));
    assert_eq!(status, 410, "a member is told the envelope is gone");
    hrm.ok(&["--from", "dev:1", "hospital", "propose", "remove", "dev:3"]);
    hrm.ok(&["--from", "dev:2", "hospital", "approve", "1"]);
    hrm.ok(&["--from", "dev:4", "hospital", "approve", "1"]);
    let (status, reason) = refusal(lakeside_client.pull(&hope.url, &on_chain).await.map(|_| Vec::new()));
    assert!(status == 403 && reason.contains("is not a recipient of entry"), "{status} {reason}");
}
