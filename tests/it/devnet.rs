//! `hrm devnet up|status|down`: services outlive the command, other commands find them, and
//! `down` stops every process by PID.

use crate::common::TestEnv;
use crate::common::cli::Hrm;
use hrm::devnet::is_running;

fn devnet(hrm: &Hrm<'_>, args: &[&str]) -> std::process::Output {
    // No RPC URL from the harness: the devnet's own endpoints must be used.
    hrm.command(args).env_remove("HRM_RPC_URL").output().unwrap()
}

fn json(output: &std::process::Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn pids(status: &serde_json::Value) -> Vec<u32> {
    status["services"].as_array().unwrap().iter().map(|s| s["pid"].as_u64().unwrap() as u32).collect()
}

#[tokio::test]
async fn anvil_devnet_up_use_and_down() {
    let env = TestEnv::start("devnet_anvil").await;
    let hrm = Hrm::new(&env);
    let up = json(&devnet(&hrm, &["--json", "devnet", "up"]));
    assert_eq!((up["engine"].as_str(), up["chain_id"].as_u64()), (Some("anvil"), Some(31337)));

    // Later commands use the devnet without flags: the chain and the database.
    let deployed = json(&devnet(&hrm, &["--json", "--from", "dev:0", "deploy"]));
    assert_eq!(deployed["chain_id"], 31337);
    let output = hrm.command(&["--json", "--from", "dev:0", "migrate"]).env_remove("HRM_RPC_URL").output().unwrap();
    assert_eq!(json(&output)["migrated"], 0);

    let status = json(&devnet(&hrm, &["--json", "devnet", "status"]));
    let services = status["services"].as_array().unwrap();
    assert_eq!(services.len(), 2);
    assert!(services.iter().all(|s| s["running"] == true), "{status}");
    assert!(services[0]["head_block"].as_u64().unwrap() >= 1);

    let again = devnet(&hrm, &["devnet", "up"]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already up"));

    let data = hrm.home().join("devnet/data");
    assert!(data.exists());
    let down = json(&devnet(&hrm, &["--json", "devnet", "down"]));
    assert_eq!(down["stopped"].as_array().unwrap().len(), 2);
    for pid in pids(&status) {
        assert!(!is_running(pid), "PID {pid} still runs after `devnet down`");
    }
    assert!(!data.exists(), "the data was not removed");
    let none = devnet(&hrm, &["devnet", "status"]);
    assert!(!none.status.success() && String::from_utf8_lossy(&none.stderr).contains("hrm devnet up"));
}

#[tokio::test]
async fn geth_devnet_peers_its_nodes_and_stops_them_all() {
    let env = TestEnv::start("devnet_geth").await;
    let hrm = Hrm::new(&env);
    let up = json(&devnet(&hrm, &["--json", "devnet", "up", "--engine", "geth", "--nodes", "3"]));
    assert_eq!(up["chain_id"], 1337);
    let status = json(&devnet(&hrm, &["--json", "devnet", "status"]));
    let nodes: Vec<_> =
        status["services"].as_array().unwrap().iter().filter(|s| s["program"] == "geth").cloned().collect();
    let roles: Vec<&str> = nodes.iter().map(|n| n["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["boot node", "sealer", "full node"]);
    assert!(nodes.iter().all(|n| n["running"] == true && n["peers"].as_u64().unwrap() >= 1), "{status}");

    let down = json(&devnet(&hrm, &["--json", "devnet", "down", "--keep"]));
    assert_eq!(down["data_kept"], true);
    for pid in pids(&status) {
        assert!(!is_running(pid), "PID {pid} still runs after `devnet down`");
    }
    assert!(hrm.home().join("devnet/data/geth/node1").exists(), "--keep removed the data");
}

/// SecantusDB deletes the oldest oplog entries inside every write once its oplog is at the cap,
/// which an archive of 100,000 records reaches at the default cap: the server hrm starts holds
/// far more.
#[tokio::test]
async fn the_document_server_oplog_holds_more_than_a_large_archive_writes() {
    let dir = tempfile::tempdir().unwrap();
    let server = hrm::devnet::DocumentDbServer::start(&dir.path().join("docdb"), 0, true).unwrap();
    let client = mongodb::Client::with_uri_str(server.uri()).await.unwrap();
    let mut collections =
        client.database("local").list_collections().filter(mongodb::bson::doc! { "name": "oplog.rs" }).await.unwrap();
    let oplog =
        futures_util::TryStreamExt::try_next(&mut collections).await.unwrap().expect("local.oplog.rs is listed");
    let max = oplog.options.max.expect("the oplog is capped by entries");
    assert!(max >= 1_000_000, "the oplog holds only {max} entries");
}

/// Anvil writes older blocks' states to disk once a chain outgrows memory and leaves them when it
/// stops: those of a node hrm starts are in the node's own directory, removed with it, rather
/// than piling up under ~/.foundry.
#[tokio::test]
async fn anvil_keeps_older_states_in_its_own_directory() {
    let dir = tempfile::tempdir().unwrap();
    let options = hrm::devnet::AnvilOptions { tie_to_parent: true, ..Default::default() };
    let anvil = hrm::devnet::AnvilNode::start(&options, &dir.path().join("anvil.log")).unwrap();
    let provider = alloy::providers::ProviderBuilder::new().connect_http(anvil.rpc_url().parse().unwrap());
    let _: serde_json::Value =
        alloy::providers::Provider::raw_request(&provider, "anvil_mine".into(), ["0x300"]).await.unwrap();
    let states = dir.path().join("anvil-states");
    let written = walk_files(&states);
    assert!(written > 0, "no state was written under {}", states.display());
}

fn walk_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().map(|entry| if entry.path().is_dir() { walk_files(&entry.path()) } else { 1 }).sum()
        })
        .unwrap_or(0)
}
