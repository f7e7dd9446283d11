//! `hrm import`: every row checked before anything is sent, batches of entries, and an import
//! killed halfway that a rerun finishes with every row on chain exactly once.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use alloy::providers::Provider;
use hrm::chain::{Connection, DeploymentStore, EntryKind};
use hrm::submission::open_submission;

use crate::common::cli::{Hrm, head};
use crate::common::{TestEnv, dev};

const HEADER: &str = "patient,recorded_at,Pregnancies,Glucose,BloodPressure,SkinThickness,Insulin,BMI,DiabetesPedigreeFunction,Age,notes";

/// A CSV row whose glucose (`glucose`) tells it apart from the others.
fn visit(patient: &str, glucose: u32) -> String {
    format!("{patient},2026-11-02,2,{glucose},70,30,0,31.5,0.4,41,\"visit, glucose {glucose}\"")
}

/// The glucose of every health entry on chain, opened with dev:1's key (the submitter), by id.
async fn glucose_on_chain(env: &TestEnv, home: &Path) -> BTreeMap<u64, u64> {
    let connection = Connection::open(env.rpc_url.clone(), Duration::from_secs(30)).await.unwrap();
    let consortium = connection.attach(&DeploymentStore::new(home.join("deployments"))).await.unwrap();
    let archive = hrm::store::Archive::connect(&env.mongodb_uri, &env.database_name).await.unwrap();
    let mut found = BTreeMap::new();
    for id in 1..=consortium.entry_count().await.unwrap() {
        let submission = consortium.submission(id).await.unwrap();
        if submission.kind != EntryKind::Health {
            continue;
        }
        let envelope = archive.envelope(submission.envelope_digest).await.unwrap().expect("dev:1 kept it");
        let opened = open_submission(&submission, &envelope, &dev(1)).unwrap().expect("dev:1 submitted it");
        found.insert(id, opened.record["readings"]["glucose"].as_f64().unwrap() as u64);
    }
    found
}

#[tokio::test]
async fn every_row_is_checked_before_anything_is_sent_then_sent_in_batches_once() {
    let env = TestEnv::start("import_rows").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2", "dev:3"], "dev:4");
    hrm.ok(&["--from", "dev:5", "key", "publish"]);

    let mut lines = vec![HEADER.to_string()];
    lines.extend((0..12).map(|i| visit(if i % 2 == 0 { "dev:4" } else { "dev:5" }, 100 + i)));
    // Lines 14 to 17: an implausible glucose, a bad date, a patient without a key, nobody.
    lines.push(visit("dev:4", 900));
    lines.push(visit("dev:4", 120).replace("2026-11-02", "02/11/2026"));
    lines.push(visit("dev:6", 121));
    lines.push(visit("nobody", 122));
    let csv = hrm.write_file("visits.csv", &(lines.join("\n") + "\n"));
    let csv = csv.to_str().unwrap();

    let before = head(&env).await;
    let output = hrm.run(&["--from", "dev:1", "import", "--csv", csv]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for expected in [
        "│ 14   ┆ Glucose",
        "900 is outside the plausible range 40 to 600",
        "│ 15   ┆ recorded_at",
        "│ 16   ┆ patient",
        "has not published a public key",
        "│ 17   ┆ patient",
        "4 rows of",
        "cannot be imported",
        "nothing was sent",
        "--skip-invalid",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    assert_eq!(head(&env).await, before, "a refused import sent something");

    let args = ["--from", "dev:1", "import", "--csv", csv, "--skip-invalid", "--batch-size", "5"];
    let report = hrm.json(&args);
    assert_eq!((report["batches"].as_u64(), report["sent_now"].as_u64()), (Some(3), Some(12)), "{report}");
    let skipped: Vec<u64> = report["skipped"].as_array().unwrap().iter().map(|p| p["line"].as_u64().unwrap()).collect();
    assert_eq!(skipped, [14, 15, 16, 17]);
    let rows = report["rows"].as_array().unwrap();
    let on_chain = glucose_on_chain(&env, hrm.home()).await;
    assert_eq!(on_chain.len(), 12);
    for row in rows {
        let line = row["line"].as_u64().unwrap();
        let id = row["entry_id"].as_u64().unwrap();
        // Line 2 holds glucose 100, line 3 glucose 101, ...
        assert_eq!(on_chain[&id], 100 + line - 2, "line {line} became entry {id}");
    }
    let per_row = report["gas_per_row"].as_u64().unwrap();
    assert!(per_row < 100_000, "{per_row} gas per row");

    // The same command again sends nothing: every row is already on chain.
    let before = head(&env).await;
    let again = hrm.json(&args);
    assert_eq!((again["sent_now"].as_u64(), again["from_earlier_runs"].as_u64()), (Some(0), Some(12)));
    assert_eq!(again["rows"], report["rows"]);
    assert_eq!(head(&env).await, before);

    // Bills come from JSONL, a bill per line.
    let bill = r#"{"patient": "dev:5", "issued_at": "2026-11-02", "currency": "USD", "line_items": [{"description": "Consultation", "amount": "120.00"}], "total": "120.00"}"#;
    let jsonl = hrm.write_file("bills.jsonl", &format!("{bill}\n{bill}\n"));
    let jsonl = jsonl.to_str().unwrap();
    let bills = hrm.json(&["--from", "dev:1", "import", "--jsonl", jsonl, "--kind", "bill"]);
    let ids: Vec<String> =
        bills["rows"].as_array().unwrap().iter().map(|r| r["entry_id"].as_u64().unwrap().to_string()).collect();
    assert_eq!(ids, ["13", "14"]);
    let shown = hrm.json(&hrm.with_archive(&["--from", "dev:1", "show", &ids[1]]));
    assert_eq!((shown["entry"]["kind"].as_str(), shown["record"]["total"].as_str()), (Some("bill"), Some("120.00")));
    let refused = hrm.fails(&["--from", "dev:1", "import", "--csv", csv, "--kind", "bill"]);
    assert!(refused.contains("import bills from JSONL"), "{refused}");

    // A batch must fit half a block: with blocks of 1,000,000 gas, 20 rows of about 50,000 gas
    // each cannot go as one batch of the default 50, and no batch may use more than 500,000.
    let provider = env.provider_for(&dev(0));
    let _: serde_json::Value =
        provider.raw_request("evm_setBlockGasLimit".into(), (alloy::primitives::U256::from(1_000_000),)).await.unwrap();
    let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
    let mut lines = vec![HEADER.to_string()];
    lines.extend((0..20).map(|i| visit("dev:4", 200 + i)));
    let small_blocks = hrm.write_file("small-blocks.csv", &(lines.join("\n") + "\n"));
    let report = hrm.json(&["--from", "dev:1", "import", "--csv", small_blocks.to_str().unwrap()]);
    assert_eq!(report["rows"].as_array().unwrap().len(), 20, "{report}");
    let transactions: std::collections::BTreeSet<String> =
        report["rows"].as_array().unwrap().iter().map(|r| r["tx_hash"].as_str().unwrap().to_string()).collect();
    assert!(transactions.len() >= 2, "20 rows went in one batch over half a block: {report}");
    for hash in transactions {
        let receipt = provider.get_transaction_receipt(hash.parse().unwrap()).await.unwrap().unwrap();
        assert!(receipt.gas_used <= 500_000, "a batch used {} gas", receipt.gas_used);
    }
}

#[tokio::test]
async fn a_killed_import_run_again_submits_every_row_exactly_once() {
    let env = TestEnv::start("import_killed").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    // One block a second from now on, so the import is still under way when it is killed.
    let provider = env.provider_for(&dev(0));
    let _: () = provider.raw_request("evm_setAutomine".into(), (false,)).await.unwrap();
    let _: () = provider.raw_request("evm_setIntervalMining".into(), (1,)).await.unwrap();

    let rows = 30;
    let mut lines = vec![HEADER.to_string()];
    lines.extend((0..rows).map(|i| visit("dev:4", 100 + i)));
    let csv = hrm.write_file("day.csv", &(lines.join("\n") + "\n"));
    let args = ["--from", "dev:1", "import", "--csv", csv.to_str().unwrap(), "--batch-size", "3", "--in-flight", "2"];

    let mut first =
        hrm.command(&args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let journals = hrm.home().join("imports");
    let sent = || -> usize {
        std::fs::read_dir(&journals)
            .map(|dir| {
                dir.flatten()
                    .map(|f| std::fs::read_to_string(f.path()).unwrap_or_default().matches("\"step\":\"sent\"").count())
                    .sum()
            })
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while sent() < 4 {
        assert!(first.try_wait().unwrap().is_none(), "the import ended before it could be killed");
        assert!(std::time::Instant::now() < deadline, "the import sent nothing in two minutes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let sent_before_kill = sent();
    assert!(sent_before_kill < 10, "the import finished before it was killed");

    let report = hrm.json(&args);
    assert_eq!(report["rows"].as_array().unwrap().len(), rows as usize, "{report}");
    assert!(report["from_earlier_runs"].as_u64().unwrap() >= 3, "{report}");

    // Every row is on chain once: thirty entries, thirty different glucose values.
    let on_chain = glucose_on_chain(&env, hrm.home()).await;
    let mut values: Vec<u64> = on_chain.values().copied().collect();
    values.sort_unstable();
    assert_eq!(values, (100..100 + rows as u64).collect::<Vec<_>>(), "rows on chain: {on_chain:?}");
}
