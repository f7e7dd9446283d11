//! The paper's story through the `hrm` command line on Anvil: five hospitals, a patient with a
//! keystore, sealed health and bill details, votes, approval, and a rejection.

use crate::common::cli::{Hrm, fund, health_json};
use crate::common::{TestEnv, dev};
use alloy::primitives::Address;

#[tokio::test]
async fn the_papers_story() {
    let env = TestEnv::start("cli_story").await;
    let hrm = Hrm::new(&env);

    // The patient holds their own encrypted keystore; hospitals use development keys.
    let created =
        hrm.command(&["--json", "account", "new", "alice"]).env("HRM_PASSWORD", "correct horse").output().unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let alice: Address = serde_json::from_slice::<serde_json::Value>(&created.stdout).unwrap()["address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    fund(&env, alice).await;
    let as_alice = |args: &[&str]| {
        let output = hrm.command(args).env("HRM_PASSWORD", "correct horse").output().unwrap();
        assert!(output.status.success(), "hrm {args:?} as alice: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };

    // Deploy and admit five hospitals: one primary, four supporting.
    let deployed = hrm.json(&["--from", "dev:0", "deploy"]);
    assert!(deployed["address"].as_str().unwrap().starts_with("0x"));
    let refused = hrm.fails(&["--from", "dev:0", "deploy"]);
    assert!(refused.contains("--force"), "{refused}");

    let hospitals = ["St Mary", "Hope", "Lakeside", "Northgate", "Riverside"];
    for (i, name) in hospitals.iter().enumerate() {
        let who = format!("dev:{}", i + 1);
        hrm.ok(&["--from", "dev:0", "hospital", "register", &who, "--name", name]);
        hrm.ok(&["--from", &who, "key", "publish"]);
    }
    let listed = hrm.json(&["hospital", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 5);
    as_alice(&["--from", "alice", "key", "publish"]);
    hrm.ok(&["account", "label", "primary", &dev(1).address().to_string()]);
    let set = hrm.ok(&["--from", "dev:1", "hospital", "supporting", "set", "dev:2", "dev:3", "dev:4", "dev:5"]);
    assert!(set.contains("4 supporting"), "{set}");
    // A label names an address for reading; it signs only for a development account, on local chains.
    let panel = hrm.json(&["hospital", "supporting", "get", "primary"]);
    hrm.ok(&["account", "label", "clinic", "0x1111111111111111111111111111111111111111"]);
    assert!(hrm.fails(&["--from", "clinic", "key", "publish"]).contains("no keystore for clinic"));
    assert_eq!(panel["supporting"].as_array().unwrap().len(), 4);

    // Health details from a file, bill details from flags.
    let record = hrm.write_file("visit.json", &health_json("148", "fasting sample"));
    let health =
        hrm.json(&["--from", "dev:1", "submit-health", "--patient", "alice", "--file", record.to_str().unwrap()]);
    let health_id = health["entry_id"].as_u64().unwrap();
    assert!(health["gas_used"].as_u64().unwrap() > 0 && health["tx_hash"].as_str().is_some());
    let bill = hrm.json(&[
        "--from",
        "dev:1",
        "submit-bill",
        "--patient",
        "alice",
        "--issued-at",
        "2026-11-02",
        "--currency",
        "USD",
        "--item",
        "Consultation=120.00",
        "--item",
        "HbA1c test=45.50",
        "--item",
        "Glucose meter=30.25",
        "--total",
        "195.75",
    ]);
    let bill_id = bill["entry_id"].as_u64().unwrap();
    assert_eq!(bill_id, health_id + 1);

    // The patient and the panel open the records; an outsider sees only metadata.
    let health = health_id.to_string();
    let opened = serde_json::from_str::<serde_json::Value>(&as_alice(
        &hrm.with_archive(&["--json", "--from", "alice", "show", &health]),
    ))
    .unwrap();
    assert_eq!(opened["record"]["readings"]["glucose"], 148);
    assert_eq!(opened["record"]["notes"], "fasting sample");
    for member in ["dev:2", "dev:3", "dev:4", "dev:5", "dev:1"] {
        let bill = bill_id.to_string();
        let shown = hrm.json(&hrm.with_archive(&["--from", member, "show", &bill]));
        assert_eq!(shown["record"]["total"], "195.75", "{member} could not open the bill");
    }
    let outsider = hrm.json(&hrm.with_archive(&["--from", "dev:7", "show", &health]));
    assert!(outsider["record"].is_null());
    assert_eq!(outsider["entry"]["status"], "pending");
    let text = hrm.ok(&hrm.with_archive(&["--from", "dev:7", "show", &health]));
    assert!(text.contains("sealed") && !text.contains("fasting"), "{text}");
    // Each opening is in the access log, with the rule that allowed it; the outsider's two
    // attempts are logged as refusals.
    let log = hrm.json(&hrm.with_archive(&["access-log", "list", "--patient", "alice"]));
    let rules: Vec<String> = log
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| format!("{} {}", e["outcome"].as_str().unwrap(), e["records"][0]["rule"].as_str().unwrap_or("-")))
        .collect();
    let panel = "allowed panel";
    assert_eq!(
        rules,
        ["allowed own", panel, panel, panel, panel, "allowed submitter", "denied -", "denied -"],
        "{log}"
    );
    assert_eq!(log[0]["reader"], format!("{:#x}", dev(7).address()));

    // Everyone required approves the health details: only then is migration allowed.
    for member in ["dev:2", "dev:3", "dev:4", "dev:5"] {
        let vote = hrm.json(&["--from", member, "vote", &health_id.to_string(), "--approve"]);
        assert_eq!(vote["status"], "pending");
    }
    let last = serde_json::from_str::<serde_json::Value>(&as_alice(&[
        "--json",
        "--from",
        "alice",
        "vote",
        &health_id.to_string(),
        "--approve",
    ]))
    .unwrap();
    assert_eq!((last["status"].as_str(), last["approvals"].as_u64()), (Some("approved"), Some(5)));

    // One hospital rejects the bill.
    hrm.ok(&["--from", "dev:2", "vote", &bill_id.to_string(), "--approve"]);
    let rejected = hrm.json(&["--from", "dev:3", "vote", &bill_id.to_string(), "--reject"]);
    assert_eq!(rejected["status"], "rejected");
    let late = hrm.fails(&["--from", "dev:4", "vote", &bill_id.to_string(), "--approve"]);
    assert!(late.contains("no longer pending"), "{late}");

    let statuses = hrm.json(&["status", "--patient", "alice"]);
    let statuses: Vec<_> =
        statuses.as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap().to_string()).collect();
    assert_eq!(statuses, ["approved", "rejected"]);
    assert!(hrm.json(&["status", "--pending"]).as_array().unwrap().is_empty());

    // dataMigrationAllow, read straight from the contract.
    let consortium = hrm::chain::HealthRecords::new(
        deployed["address"].as_str().unwrap().parse().unwrap(),
        env.provider_for(&dev(0)),
    );
    let allowed = |id: u64| consortium.dataMigrationAllow(alloy::primitives::U256::from(id));
    assert!(allowed(health_id).call().await.unwrap());
    assert!(!allowed(bill_id).call().await.unwrap());
}

#[tokio::test]
async fn several_entries_are_voted_on_in_one_transaction() {
    let env = TestEnv::start("cli_vote_batch").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:6");
    let record = hrm.write_file("visit.json", &health_json("120", "batch"));
    for _ in 0..3 {
        hrm.ok(&["--from", "dev:1", "submit-health", "--patient", "dev:6", "--file", record.to_str().unwrap()]);
    }
    let voted = hrm.json(&["--from", "dev:2", "vote", "1", "2", "3", "--approve"]);
    assert_eq!(voted["batches"].as_array().unwrap().len(), 1, "one transaction: {voted}");
    assert_eq!(voted["batches"][0]["entry_ids"], serde_json::json!([1, 2, 3]));
    assert!(voted["entries"].as_array().unwrap().iter().all(|e| e["approvals"] == 1), "{voted}");

    // A vote the contract would refuse anywhere in the list sends nothing, and names the entry.
    let before = crate::common::cli::head(&env).await;
    let refused = hrm.fails(&["--from", "dev:2", "vote", "3", "1", "--reject"]);
    assert!(refused.contains("has already voted on entry 3"), "{refused}");
    assert_eq!(crate::common::cli::head(&env).await, before, "nothing was sent");

    let table = hrm.ok(&["--from", "dev:6", "vote", "1", "2", "3", "--approve"]);
    assert!(table.contains("approved 3 entries in 1 transaction(s)"), "{table}");
    assert_eq!(table.matches("approved").count(), 4, "each entry is now approved:\n{table}");
}
