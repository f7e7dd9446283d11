//! The paper's private network: five Geth nodes sealing Clique blocks, each hospital talking to
//! its own node and keeping its own database, envelopes travelling between the hospitals' servers,
//! one node stopped halfway and caught up again.

use std::time::Duration;

use crate::common::TestEnv;
use crate::common::cli::{Hrm, health_json};
use crate::common::web::Server;
use crate::follow::{Follower, migrated_one};
use hrm::chain::DEFAULT_CONFIRMATION_DEPTH;
use hrm::devnet::geth::{node_status, wait_for_network};
use hrm::devnet::{Engine, LocalNetwork, NetworkSpec, NodeRole};

#[tokio::test]
async fn five_geth_nodes_carry_the_workflow_through_a_node_outage() {
    // The harness's database; the chain is five Geth nodes from the same launcher.
    let env = TestEnv::start("geth_network").await;
    let spec = NetworkSpec::of(Engine::Geth).without_database();
    let mut network = LocalNetwork::start(&spec, &env.temp_dir().join("geth"))
        .await
        .unwrap_or_else(|e| panic!("starting the Geth network: {e}"));
    let geth = network.geth_mut().expect("a Geth network");
    let roles: Vec<NodeRole> = geth.specs().iter().map(|s| s.role).collect();
    assert_eq!(roles, [NodeRole::Boot, NodeRole::Sealer, NodeRole::Sealer, NodeRole::Sealer, NodeRole::Full]);
    let urls = network.rpc_urls();
    wait_for_network(&urls, 1, 2, Duration::from_secs(90)).await.unwrap();

    let hrm = Hrm::new(&env);
    let node = |i: usize| urls[i - 1].as_str();
    let on = |i: usize, args: &[&str]| {
        let mut all = vec!["--rpc-url", node(i), "--receipt-timeout", "60"];
        all.extend_from_slice(args);
        hrm.ok(&all)
    };
    let db = ["--mongodb-uri", env.mongodb_uri.as_str(), "--database", env.database_name.as_str()];

    // Node 1 (the boot node) serves the admin and the primary hospital.
    on(1, &["--from", "dev:0", "deploy"]);
    for i in 1..=5 {
        let hospital = format!("dev:{i}");
        on(1, &["--from", "dev:0", "hospital", "register", &hospital, "--name", &format!("Hospital {i}")]);
        // Each hospital publishes its key through its own node.
        on(i, &["--from", &hospital, "key", "publish"]);
    }
    on(1, &["--from", "dev:6", "key", "publish"]);
    on(1, &["--from", "dev:1", "hospital", "supporting", "set", "dev:2", "dev:3", "dev:4", "dev:5"]);
    // St Mary (dev:1, the harness's database), Hope (dev:2) and Lakeside (dev:3) each serve from
    // their own node and database, and publish where they answer.
    let own_db = |name: &str| format!("{}_{name}", env.database_name);
    let servers =
        [("dev:1", 1, env.database_name.clone()), ("dev:2", 2, own_db("hope")), ("dev:3", 3, own_db("lakeside"))].map(
            |(hospital, node_index, database)| {
                let server = Server::start(&hrm, hospital, &database, &[], &["--rpc-url", node(node_index)]);
                on(node_index, &["--from", hospital, "hospital", "endpoint", "set", &server.url]);
                (server, database)
            },
        );
    let record = hrm.write_file("visit.json", &health_json("148", "five nodes"));
    let submitted = on(
        1,
        &["--json", "--from", "dev:1", "submit-health", "--patient", "dev:6", "--file", record.to_str().unwrap()],
    );
    let submitted: serde_json::Value = serde_json::from_str(&submitted).unwrap();
    let id = submitted["entry_id"].as_u64().unwrap().to_string();
    assert_eq!(
        submitted["deliveries"]["delivered"].as_array().unwrap().len(),
        2,
        "pushed to Hope and Lakeside: {submitted}"
    );
    // Each voter's node must have the submission's block before the vote is estimated there.
    let block = submitted["block"].as_u64().unwrap();
    wait_for_network(&urls, 1, block, Duration::from_secs(30)).await.unwrap();

    // Hope and Lakeside open their pushed copies, each from its own database through its own
    // node; the patient, with a database of their own, pulls from St Mary's server.
    for (hospital, via, database) in
        [("dev:2", 2, &servers[1].1), ("dev:3", 3, &servers[2].1), ("dev:6", 1, &own_db("patient"))]
    {
        let shown = on(via, &["--json", "--database", database, "--from", hospital, "show", &id]);
        let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(shown["record"]["notes"], "five nodes", "{hospital}: {shown}");
    }

    // Halfway: node 5, a full node, goes down. Its hospital votes through node 1 instead.
    let geth = network.geth_mut().expect("a Geth network");
    geth.stop_node(5);
    for (hospital, via) in [("dev:2", 2), ("dev:3", 3), ("dev:4", 4), ("dev:5", 1)] {
        on(via, &["--from", hospital, "vote", &id, "--approve"]);
    }
    let last: serde_json::Value =
        serde_json::from_str(&on(2, &["--json", "--from", "dev:6", "vote", &id, "--approve"])).unwrap();
    assert_eq!(last["status"], "approved");
    let approval_block = last["block"].as_u64().unwrap();

    // Node 5 comes back and catches up to the same head.
    geth.restart_node(5).unwrap();
    let head = node_status(node(2)).await.unwrap().1;
    wait_for_network(&urls[4..], 1, head, Duration::from_secs(60)).await.unwrap();
    let (_, head5) = node_status(node(5)).await.unwrap();
    assert!(head5 >= head, "node 5 is at {head5}, the network at {head}");

    // Migration reads from node 5, by default 12 blocks behind the head on a Clique network
    // (Geth reports no finalized block there): the approval must be that deep first.
    wait_for_network(&urls[4..], 1, approval_block + DEFAULT_CONFIRMATION_DEPTH, Duration::from_secs(60))
        .await
        .unwrap();
    let mut args = vec!["--rpc-url", node(5), "--json"];
    args.extend_from_slice(&db);
    args.extend_from_slice(&["--from", "dev:1", "migrate"]);
    let report: serde_json::Value = serde_json::from_str(&hrm.ok(&args)).unwrap();
    assert_eq!(report["migrated"], 1, "{report}");
    assert_eq!(
        (report["confirmed"]["rule"].as_str(), report["confirmed"]["blocks"].as_u64()),
        (Some("depth"), Some(12))
    );
    let mut audit = vec!["--rpc-url", node(5), "--json"];
    audit.extend_from_slice(&db);
    audit.push("audit");
    let audit: serde_json::Value = serde_json::from_str(&hrm.ok(&audit)).unwrap();
    assert_eq!((audit["approved_on_chain"].as_u64(), audit["archived"].as_u64()), (Some(1), Some(1)));

    // A lab system's day: 1,000 rows imported in batches that fit the blocks, through node 5 with
    // node 1 to fall back on; a follower reads through the same two. Node 5 stops mid-import.
    let failover = ["--rpc-url", node(5), "--rpc-url", node(1), "--receipt-timeout", "60"];
    let mut follower = Follower::spawn_with(&hrm, &failover, &["--poll-interval", "0.5", "--confirmations", "2"]);
    follower.wait_for("that it watches the chain", |event| event["event"] == "watching");
    let mut csv = String::from(
        "patient,recorded_at,Pregnancies,Glucose,BloodPressure,SkinThickness,Insulin,BMI,DiabetesPedigreeFunction,Age",
    );
    for i in 0..1000 {
        csv.push_str(&format!("\ndev:6,2026-11-02,1,{},70,30,0,31.5,0.4,41", 60 + i % 500));
    }
    let file = hrm.write_file("lab-day.csv", &csv);
    let mut import_args = failover.to_vec();
    let csv_path = file.to_str().unwrap();
    import_args.extend_from_slice(&["--json", "--from", "dev:1", "import", "--batch-size", "25", "--csv", csv_path]);
    let mut import = hrm
        .command(&import_args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let pending: serde_json::Value = serde_json::from_str(&on(1, &["--json", "status", "--pending"])).unwrap();
        if !pending.as_array().unwrap().is_empty() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the import never reached the chain");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(import.try_wait().unwrap().is_none(), "the import is still sending when node 5 stops");
    network.geth_mut().expect("a Geth network").stop_node(5);
    let output = import.wait_with_output().unwrap();
    assert!(output.status.success(), "the import failed over: {}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    let ids: std::collections::BTreeSet<u64> = rows.iter().map(|r| r["entry_id"].as_u64().unwrap()).collect();
    assert_eq!((rows.len(), ids.len()), (1000, 1000), "{}", report["batches"]);
    assert_eq!(ids.first().zip(ids.last()), Some((&2, &1001)), "nothing lost, nothing sent twice");
    assert!(report["gas_per_row"].as_u64().unwrap() <= 35_000, "{}", report["gas_per_row"]);
    let status: serde_json::Value = serde_json::from_str(&on(1, &["--json", "status", "--pending"])).unwrap();
    assert_eq!(status.as_array().unwrap().len(), 1000);

    // With node 5 down, the follower archives the next approval through node 1.
    for (hospital, via) in [("dev:2", 2), ("dev:3", 3), ("dev:4", 4), ("dev:5", 1), ("dev:6", 1)] {
        on(via, &["--from", hospital, "vote", "2", "--approve"]);
    }
    follower.wait_for("the approval archived after node 5 stopped", migrated_one);
}
