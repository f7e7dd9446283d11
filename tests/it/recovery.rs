//! A patient who loses their key is moved to a new account by 2 of their 3 guardians: one alone
//! cannot move them; two can. Their pending votes, grants, guardians and erasure requests follow;
//! the old account can do nothing more; the submitting hospital's follower re-seals their records
//! to the new key, and the patient opens their old records with it, pulled from that hospital's
//! server into a database of their own.

use std::time::Duration;

use alloy::primitives::Address;
use hrm::chain::ledger::EntryLedger;
use hrm::chain::{Connection, DeploymentStore};
use hrm::store::Archive;

use crate::common::TestEnv;
use crate::common::cli::{Hrm, health_json};
use crate::common::consortium::{Consortium, expect_contract_error, mined};
use crate::common::dev;
use crate::common::web::{HttpVisitor, Server};

/// How many transactions development account `index` has sent.
async fn sent_by(env: &TestEnv, index: usize) -> u64 {
    use alloy::providers::Provider;
    env.provider_for(&dev(index)).get_transaction_count(dev(index).address()).await.unwrap()
}

#[tokio::test]
async fn two_of_three_guardians_move_a_patient_who_lost_their_key() {
    let env = TestEnv::start("recovery").await;
    let hrm = Hrm::new(&env);
    // St Mary (dev:1) submits, Hope (dev:2) is its panel and one of the guardians, Lakeside
    // (dev:3) is a hospital the patient grants access to. The patient is dev:5; dev:6 and dev:7
    // are relatives; dev:8 is the patient's new account.
    hrm.set_up_consortium(&["dev:2"], "dev:5");
    hrm.ok(&["--from", "dev:0", "hospital", "register", "dev:3", "--name", "Lakeside"]);
    let stmary_db = format!("{}_stmary", env.database_name);
    let patient_db = format!("{}_patient", env.database_name);
    let stmary = Server::start(&hrm, "dev:1", &stmary_db, &[], &["--follow", "--poll-interval", "0.2"]);
    hrm.ok(&["--from", "dev:1", "hospital", "endpoint", "set", &stmary.url]);
    let (old, new) = (dev(5).address(), dev(8).address());

    // The patient names guardians: refused with a sentence when the rule is impossible.
    let refused = hrm.fails(&["--from", "dev:5", "recovery", "set-guardians", "dev:6", "--threshold", "2"]);
    assert!(refused.contains("1 guardian(s) with 2 needed to agree"), "{refused}");
    let refused = hrm.fails(&["--from", "dev:5", "recovery", "set-guardians", "dev:5", "dev:6", "--threshold", "1"]);
    assert!(refused.contains("cannot be their own guardian"), "{refused}");
    let refused = hrm.fails(&["--from", "dev:1", "recovery", "set-guardians", "dev:6", "--threshold", "1"]);
    assert!(refused.contains("not a patient"), "{refused}");
    hrm.ok(&["--from", "dev:5", "recovery", "set-guardians", "dev:6", "dev:7", "dev:2", "--threshold", "2"]);
    let guardians = hrm.json(&["recovery", "guardians", "dev:5"]);
    assert_eq!((guardians["threshold"].as_u64(), guardians["guardians"].as_array().map(Vec::len)), (Some(2), Some(3)));

    // Entry 1 approved and archived; entry 2 waits for the patient; entry 3's erasure asked for;
    // Lakeside granted access.
    let submit = |notes: &str| {
        let file = hrm.write_file(&format!("{notes}.json"), &health_json("120", notes));
        let args = ["--database", &stmary_db, "--from", "dev:1", "submit-health", "--patient", "dev:5", "--file"];
        hrm.json(&[&args[..], &[file.to_str().unwrap()]].concat())["entry_id"].as_u64().unwrap()
    };
    let (first, second, third) = (submit("first-visit"), submit("second-visit"), submit("third-visit"));
    hrm.ok(&["--from", "dev:2", "vote", "1", "2", "3", "--approve"]);
    hrm.ok(&["--from", "dev:5", "vote", "1", "3", "--approve"]);
    hrm.ok(&["--from", "dev:5", "erase", "request", "--entry", &third.to_string()]);
    hrm.ok(&["--from", "dev:5", "share", "grant", "dev:3"]);
    // St Mary knows the patient by an MRN, linked to their account.
    let at_stmary = |args: &[&str]| {
        let all: Vec<&str> = ["--database", stmary_db.as_str()].into_iter().chain(args.iter().copied()).collect();
        hrm.json(&all)
    };
    let asha = ["--mrn", "SM-7", "--name", "Asha Rao", "--birth-date", "1976-05-14", "--sex", "female"];
    at_stmary(&[&["patient", "add"][..], &asha[..]].concat());
    let issued = at_stmary(&["--from", "dev:1", "patient", "enroll", "SM-7", "--url", &stmary.url]);
    hrm.ok(&["--from", "dev:5", "enroll", issued["link"].as_str().unwrap()]);

    // Lakeside reads the archived record under its grant: a read of the old account's records.
    let stmary_archive = Archive::connect(&env.mongodb_uri, &stmary_db).await.unwrap();
    let mut waited = 0;
    while stmary_archive.records_of_patient(old).await.unwrap().is_empty() {
        assert!(waited < 300, "St Mary's follower did not archive entry 1:\n{}", stmary.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let read = hrm.json(&["--database", &stmary_db, "--from", "dev:3", "records", "--patient", "dev:5"]);
    assert_eq!(read["records"].as_array().map(Vec::len), Some(1), "{read}");

    // The new account's key, which the patient hands to their guardians.
    let new_key = hrm.ok(&["--from", "dev:8", "recovery", "key"]).trim().to_string();
    let approve = |guardian: &str, key: &str| {
        hrm.run(&["--json", "--from", guardian, "recovery", "approve", "dev:5", "--new-key", key])
    };
    // Refused, with nothing sent: someone who is not a guardian, a move to an account that took
    // part already.
    let (outsider_sent, guardian_sent) = (sent_by(&env, 9).await, sent_by(&env, 6).await);
    let refused = hrm.fails(&["--from", "dev:9", "recovery", "approve", "dev:5", "--new-key", &new_key]);
    assert!(refused.contains("is not among") && refused.contains("guardians"), "{refused}");
    let lakeside_key = hrm::records::keys::public_key_bytes(&dev(3)).to_string();
    let refused = hrm.fails(&["--from", "dev:6", "recovery", "approve", "dev:5", "--new-key", &lakeside_key]);
    assert!(refused.contains("has taken part already"), "{refused}");
    assert_eq!((sent_by(&env, 9).await, sent_by(&env, 6).await), (outsider_sent, guardian_sent));

    // One guardian alone does not move the patient, and cannot approve twice.
    let one = approve("dev:6", &new_key);
    assert!(one.status.success(), "{}", String::from_utf8_lossy(&one.stderr));
    let one: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!((one["approvals"].as_u64(), one["recovered"].as_bool()), (Some(1), Some(false)), "{one}");
    let refused = hrm.fails(&["--from", "dev:6", "recovery", "approve", "dev:5", "--new-key", &new_key]);
    assert!(refused.contains("approved moving") && refused.contains("already"), "{refused}");
    let status = hrm.json(&["recovery", "status", "dev:5", "--new-account", "dev:8"]);
    assert_eq!((status["moved_to"].is_null(), status["approvals"].as_u64()), (true, Some(1)), "{status}");
    let still = hrm.ok(&["--from", "dev:5", "share", "list"]);
    assert!(still.contains("Lakeside"), "the patient still holds their grants: {still}");

    // The second (a hospital) moves them.
    let two = approve("dev:2", &new_key);
    assert!(two.status.success(), "{}", String::from_utf8_lossy(&two.stderr));
    let two: serde_json::Value = serde_json::from_slice(&two.stdout).unwrap();
    assert_eq!(two["recovered"], true, "{two}");
    let status = hrm.json(&["recovery", "status", "dev:5"]);
    assert_eq!(status["moved_to"].as_str().unwrap().parse::<Address>().unwrap(), new);

    // The old account can do nothing more, and nobody can submit about it.
    for args in [
        vec!["--from", "dev:5", "vote", &*second.to_string(), "--approve"],
        vec!["--from", "dev:5", "share", "revoke", "dev:3"],
        vec!["--from", "dev:5", "key", "publish"],
        vec!["--from", "dev:5", "recovery", "set-guardians", "dev:6", "--threshold", "1"],
        vec!["--from", "dev:5", "erase", "request", "--entry", "1"],
    ] {
        let refused = hrm.fails(&args);
        assert!(refused.contains("was moved to") && refused.contains("can do nothing more"), "{args:?}: {refused}");
    }
    let file = hrm.write_file("later.json", &health_json("120", "later"));
    let refused =
        hrm.fails(&["--from", "dev:1", "submit-health", "--patient", "dev:5", "--file", file.to_str().unwrap()]);
    assert!(refused.contains("was moved to"), "{refused}");

    // Grants, guardians, the pending vote and the erasure request follow the patient.
    let grants = hrm.json(&["share", "list", "--patient", "dev:8"]);
    assert_eq!(grants["grants"][0]["active"], true, "{grants}");
    let grants = hrm.json(&["share", "list", "--patient", "dev:5"]);
    assert_eq!(grants["grants"], serde_json::json!([]), "{grants}");
    assert_eq!(hrm.json(&["recovery", "guardians", "dev:8"])["threshold"], 2);
    let connection = Connection::open(env.rpc_url.clone(), Duration::from_secs(30)).await.unwrap();
    let consortium = connection.attach(&DeploymentStore::new(hrm.home().join("deployments"))).await.unwrap();
    let mut ledger = EntryLedger::default();
    consortium.sync_ledger(&mut ledger).await.unwrap();
    let entry = ledger.entry(second).unwrap();
    assert_eq!((entry.patient, entry.former_patients.clone()), (new, vec![old]));
    assert!(entry.awaits_vote_of(new) && !entry.awaits_vote_of(old));
    assert_eq!(ledger.entry(first).unwrap().vote_of(new).map(|v| v.approve), Some(true), "the old vote is theirs");
    assert_eq!(ledger.erasures_of(new).len(), 1);
    // St Mary's follower re-seals their records to the new key (the erased one excepted); on their
    // page the new account downloads the pending entry's copy sealed to it alone, then votes.
    while stmary_archive.resealed_entries_of(new).await.unwrap().len() < 2 {
        assert!(waited < 300, "St Mary's follower did not re-seal:\n{}", stmary.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let mut patient = HttpVisitor::new(&stmary);
    patient.sign_in_patient(&dev(8)).await;
    let download = patient.get_bytes(&format!("/patient/entries/{second}/envelope")).await;
    assert!(hrm::records::envelope::is_personal_copy(&download, new), "the copy sealed to the new key");
    let voted = hrm.json(&["--from", "dev:8", "vote", &second.to_string(), "--approve"]);
    assert_eq!(voted["status"], "approved", "{voted}");
    // And files them under the new account, the approval just made included.
    while stmary_archive.records_of_patient(new).await.unwrap().len() < 2 {
        assert!(waited < 300, "St Mary's follower did not archive under the new account:\n{}", stmary.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let resealed = stmary_archive.resealed_entries_of(new).await.unwrap();
    assert!(resealed.contains(&first) && resealed.contains(&second) && !resealed.contains(&third), "{resealed:?}");
    assert!(stmary_archive.records_of_patient(old).await.unwrap().is_empty());
    assert_eq!(hrm.json(&["--database", &stmary_db, "--from", "dev:1", "recovery", "apply"]), serde_json::json!([]));
    let known = at_stmary(&["patient", "show", "SM-7"]);
    assert_eq!(known["account"].as_str().unwrap().parse::<Address>().unwrap(), new, "the MRN follows: {known}");

    // The patient opens their old records with the new key, pulled from St Mary's server into
    // their own database; the old account no longer can.
    for (id, notes) in [(first, "first-visit"), (second, "second-visit")] {
        let shown = hrm.json(&["--database", &patient_db, "--from", "dev:8", "show", &id.to_string()]);
        assert_eq!(shown["record"]["notes"], notes, "{shown}");
        assert_eq!(shown["patient_now"].as_str().unwrap().parse::<Address>().unwrap(), new);
    }
    let shown = hrm.json(&["--database", &patient_db, "--from", "dev:5", "show", &first.to_string()]);
    assert!(shown["record"].is_null(), "{shown}");

    // Their page on St Mary's server shows the new account both records, the grant and the
    // erasure request; the old account cannot sign in.
    let page = patient.get("/patient").await;
    for id in [first, second] {
        assert!(page.body.contains(&format!("href=\"/patient/records/{id}\"")), "{}", page.body);
    }
    assert!(
        page.body.contains("Lakeside") && page.body.contains("<td>3</td>"),
        "their grant and erasure: {}",
        page.body
    );
    assert!(page.body.contains("(hrm records)"), "Lakeside's read before the move is in their history: {}", page.body);
    let mut lost = HttpVisitor::new(&stmary);
    let refused = lost.sign_in_patient(&dev(5)).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("moved by its guardians"), "{}", refused.body);

    // The new account's lists hold the entries about the old one: their status, the erasure
    // request made before the move, and an erasure of everything not yet asked about.
    let listed = hrm.json(&["status", "--patient", "dev:8"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");
    let erasures = hrm.json(&["erase", "status", "--patient", "dev:8"]);
    assert_eq!(erasures[0]["entry_id"].as_u64(), Some(third), "{erasures}");
    let prepared = patient.get("/patient/erasure/transaction").await.json();
    let data: alloy::primitives::Bytes = prepared["data"].as_str().unwrap().parse().unwrap();
    let call = <hrm::chain::HealthRecords::requestErasureCall as alloy::sol_types::SolCall>::abi_decode(&data).unwrap();
    let ids: Vec<u64> = call.ids.iter().map(|id| id.to::<u64>()).collect();
    assert_eq!(ids, [first, second], "every entry about them not yet asked about");
}

/// The contract's rules, refusal by refusal, with the error each names.
#[tokio::test]
async fn the_contract_refuses_recoveries_that_cannot_work() {
    use alloy::primitives::U256;
    use hrm::chain::HealthRecords::{self, HealthRecordsErrors as E};
    use hrm::records::keys::public_key_bytes;

    let c = Consortium::deploy("recovery_rules", 1).await;
    let (patient, guardian, relative, fresh) = (&c.patient, &c.stranger, dev(6), dev(7));
    let as_patient = c.as_(patient);
    let refused = |count: usize, threshold: u8| {
        E::InvalidGuardians(HealthRecords::InvalidGuardians { count: U256::from(count), threshold })
    };
    assert_eq!(expect_contract_error(as_patient.setGuardians(vec![], 1).call().await), refused(0, 1));
    let eleven: Vec<Address> = (10..21).map(Address::repeat_byte).collect();
    assert_eq!(expect_contract_error(as_patient.setGuardians(eleven, 1).call().await), refused(11, 1));
    assert_eq!(expect_contract_error(as_patient.setGuardians(vec![guardian.address()], 0).call().await), refused(1, 0));
    assert_eq!(
        expect_contract_error(as_patient.setGuardians(vec![Address::ZERO], 1).call().await),
        E::ZeroAddress(HealthRecords::ZeroAddress {})
    );
    let twice = vec![guardian.address(), guardian.address()];
    assert_eq!(
        expect_contract_error(as_patient.setGuardians(twice, 1).call().await),
        E::DuplicateGuardian(HealthRecords::DuplicateGuardian { guardian: guardian.address() })
    );

    // Two guardians, both needed. A new set lets the approvals given under the old one lapse.
    let both = vec![guardian.address(), relative.address()];
    mined(c.as_(patient).setGuardians(both.clone(), 2).send().await).await;
    let key = public_key_bytes(&fresh);
    mined(c.as_(guardian).approveRecovery(patient.address(), key.clone()).send().await).await;
    assert_eq!(c.as_(guardian).recoveryApprovals(patient.address(), fresh.address()).call().await.unwrap(), 1);
    mined(c.as_(patient).setGuardians(both, 2).send().await).await;
    assert_eq!(c.as_(guardian).recoveryApprovals(patient.address(), fresh.address()).call().await.unwrap(), 0);
    for taken in [&c.admin, &c.primary] {
        assert_eq!(
            expect_contract_error(
                c.as_(guardian).approveRecovery(patient.address(), public_key_bytes(taken)).call().await
            ),
            E::RecoveryToParticipant(HealthRecords::RecoveryToParticipant { account: taken.address() })
        );
    }

    // Both approve: the patient moves, and nothing more can be done about the old account.
    mined(c.as_(guardian).approveRecovery(patient.address(), key.clone()).send().await).await;
    mined(c.as_(&relative).approveRecovery(patient.address(), key.clone()).send().await).await;
    assert_eq!(c.as_(guardian).currentAccountOf(patient.address()).call().await.unwrap(), fresh.address());
    let moved = E::AccountRecovered(HealthRecords::AccountRecovered {
        account: patient.address(),
        newAccount: fresh.address(),
    });
    assert_eq!(
        expect_contract_error(
            c.as_(guardian).approveRecovery(patient.address(), public_key_bytes(&dev(8))).call().await
        ),
        moved
    );
    assert_eq!(expect_contract_error(c.as_(patient).grantAccess(c.outsider.address(), u64::MAX).call().await), moved);
    // The new account inherited the guardians; it cannot be moved back to the old account.
    assert_eq!(
        expect_contract_error(c.as_(guardian).approveRecovery(fresh.address(), public_key_bytes(patient)).call().await),
        E::RecoveryToParticipant(HealthRecords::RecoveryToParticipant { account: patient.address() })
    );
    // An account admitted as a hospital since is not its guardians' to move.
    mined(c.as_(&c.admin).registerHospital(fresh.address(), "Clinic".into()).send().await).await;
    assert_eq!(
        expect_contract_error(c.as_(guardian).approveRecovery(fresh.address(), public_key_bytes(&dev(8))).call().await),
        E::NotPatient(HealthRecords::NotPatient { caller: fresh.address() })
    );
}
