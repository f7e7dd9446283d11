//! The benchmark commands run end to end (small sizes; no timing is asserted).

use crate::common::TestEnv;
use crate::common::cli::Hrm;

#[tokio::test]
async fn bench_commands_run_and_report() {
    let env = TestEnv::start("bench_smoke").await;
    let hrm = Hrm::new(&env);
    let migration = hrm.json(&["bench", "migrate", "--entries", "25"]);
    assert_eq!(migration["entries"], 25);
    assert_eq!(migration["audit_clean"], true);
    assert!(migration["entries_per_second"].as_f64().unwrap() > 0.0);
    // The same documents, bulk-inserted raw beside migration, give the ratio.
    assert_eq!(migration["raw_insert"]["documents"], 25, "{migration}");
    let ratio = migration["ratio_to_raw_insert"].as_f64().unwrap();
    let expected = migration["entries_per_second"].as_f64().unwrap()
        / migration["raw_insert"]["documents_per_second"].as_f64().unwrap();
    assert!(ratio > 0.0 && (ratio - expected).abs() < 1e-9, "{migration}");

    let is_png = |path: &std::path::Path| {
        std::fs::read(path).is_ok_and(|b| b.starts_with(b"\x89PNG\r\n\x1a\n") && b.len() > 10_000)
    };
    let gas_chart = hrm.home().join("gas.png");
    let gas = hrm.json(&["bench", "gas", "--chart", gas_chart.to_str().unwrap()]);
    assert!(is_png(&gas_chart), "no gas chart");
    assert_eq!(gas["meets_targets"], true, "{gas}");
    assert_eq!(gas["recipients"], 6);
    let rows = gas["rows"].as_array().unwrap();
    let health = rows.iter().find(|r| r["function"] == "setHealthDetails").unwrap();
    assert!(health["hrm"].as_u64().unwrap() < health["paper_style"].as_u64().unwrap(), "{health}");
    // Every transaction pays at least 21,000, except a vote's share of a batch of votes.
    let shared = |r: &serde_json::Value| r["function"].as_str().unwrap().ends_with("(per vote)");
    assert!(rows.iter().all(|r| r["hrm"].as_u64().is_some_and(|g| g > 21_000) || r["estimated"] == true || shared(r)));
    let batch_of_10 = rows.iter().find(|r| r["function"] == "setHealthDetails, batch of 10 (per record)").unwrap();
    let (per_record, floor) = (batch_of_10["hrm"].as_u64().unwrap(), batch_of_10["floor"].as_u64().unwrap());
    assert!(floor < per_record && per_record <= 35_000, "{batch_of_10}");
    let batch_vote = rows.iter().find(|r| r["function"] == "approvePendingEntries, batch of 10 (per vote)").unwrap();
    assert!(batch_vote["hrm"].as_u64().unwrap() < 15_000, "a vote in a batch shares the transaction: {batch_vote}");
    for function in ["setEndpoint", "requestErasure (one entry)", "deferErasure", "confirmErasure"] {
        assert!(rows.iter().any(|r| r["function"] == function && r["hrm"].as_u64().is_some()), "{function} missing");
    }
    assert!(gas["batch_reduction"].as_f64().unwrap() >= 5.0, "{gas}");
    // An approved record, traced: the parts add up to the receipts, and the whole is ≥ 5× under
    // the paper's way.
    let approved = &gas["approved_record"];
    let part = |name: &str, field: &str| approved[name][field].as_u64().unwrap();
    let alone = |field: &str| part("patient_vote", field);
    assert_eq!(alone("intrinsic"), 21_000, "{approved}");
    assert_eq!(
        alone("intrinsic") + alone("calldata") + alone("storage") + alone("events") + alone("computation")
            - alone("refund"),
        alone("total"),
        "the traced parts of the patient's vote add up to its receipt: {approved}"
    );
    assert!(alone("storage") >= 2_100 + 2_900 && alone("events") > 0, "{approved}");
    assert_eq!(
        part("total", "total"),
        part("submission", "total") + part("panel_votes", "total") + part("patient_vote", "total"),
        "{approved}"
    );
    assert!(approved["reduction"].as_f64().unwrap() >= 5.0, "{approved}");

    let latency_chart = hrm.home().join("latency.png");
    let latency = hrm.json(&["bench", "latency", "--iterations", "3", "--chart", latency_chart.to_str().unwrap()]);
    assert!(is_png(&latency_chart), "no latency chart");
    let functions: Vec<&str> =
        latency["rows"].as_array().unwrap().iter().map(|r| r["function"].as_str().unwrap()).collect();
    for function in ["submitHealthDetails", "approvePendingEntry", "getVoteCount", "dataMigrationAllow"] {
        assert!(functions.contains(&function), "{function} missing from {functions:?}");
    }
    assert!(
        latency["rows"].as_array().unwrap().iter().all(|r| r["samples"] == 3 && r["p50_ms"].as_f64().unwrap() > 0.0)
    );
    assert_eq!(latency["cast"].as_array().unwrap().len(), 2, "cast was not compared: {latency}");

    let throughput = hrm.json(&["bench", "throughput", "--submissions", "10", "--records", "20"]);
    assert_eq!(throughput["submissions"], 10);
    assert!(
        throughput["sequential_per_second"].as_f64().unwrap() > 0.0
            && throughput["pipelined_per_second"].as_f64().unwrap() > 0.0
            && throughput["import_per_second"].as_f64().unwrap() > 0.0
    );
    assert!(throughput["import_gas_per_record"].as_u64().unwrap() < 100_000, "{throughput}");
    let end_to_end = &throughput["end_to_end"];
    assert_eq!(end_to_end["records"], 20, "{throughput}");
    assert!(end_to_end["block_gas_limit"].as_u64().unwrap() > 0, "{throughput}");
    // The panel's hospital and the patient, each in one batch.
    assert_eq!(end_to_end["vote_transactions"], 2, "{throughput}");
    assert!(end_to_end["approved_records_per_second"].as_f64().unwrap() > 0.0, "{throughput}");

    let model = hrm.json(&["bench", "model", "--runs", "3", "--predictions", "1000"]);
    assert_eq!((model["rows"].as_u64(), model["training_runs"].as_u64()), (Some(768), Some(3)));
    assert!(model["prediction_mean"].as_f64().unwrap() > 0.0);

    let serve = hrm.json(&[
        "bench",
        "serve",
        "--records",
        "120",
        "--patients",
        "12",
        "--pending",
        "4",
        "--sessions",
        "6",
        "--requests",
        "30",
        "--signed-out-requests",
        "100",
    ]);
    let pages = serve["pages"].as_array().unwrap();
    let loads: Vec<(&str, u64, u64)> = pages
        .iter()
        .map(|p| (p["function"].as_str().unwrap(), p["samples"].as_u64().unwrap(), p["errors"].as_u64().unwrap()))
        .collect();
    let signed_out = "/patient → /sign-in";
    assert_eq!(
        loads,
        [("/patient", 6, 0), ("/patient", 30, 0), ("/reviewer", 30, 0), (signed_out, 10, 0), (signed_out, 10, 0)],
        "{serve}"
    );
    assert!(pages.iter().all(|p| p["p95_ms"].as_f64().unwrap() > 0.0), "{serve}");
    assert!(pages[1..3].iter().all(|p| p["page_bytes"].as_u64().unwrap() > 1000), "{serve}");
    // The server runs in its own process, so its memory is told apart from the client's.
    let (server, bench) =
        (serve["server_peak_rss_bytes"].as_u64().unwrap(), serve["bench_peak_rss_bytes"].as_u64().unwrap());
    assert!(server > 4 << 20 && server < 1 << 30, "{serve}");
    assert!(bench > 4 << 20 && server != bench, "{serve}");
}
