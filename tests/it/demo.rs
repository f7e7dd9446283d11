//! `hrm demo` tells the whole story and leaves nothing running.

use crate::common::TestEnv;
use crate::common::cli::Hrm;

#[tokio::test]
async fn the_demo_runs_start_to_finish_and_cleans_up() {
    let env = TestEnv::start("demo").await;
    let hrm = Hrm::new(&env);
    let out = hrm.ok(&["demo"]);
    for expected in [
        "Five hospitals",
        "approved",
        "rejected",
        "migrated 5 (0 failed)",
        "clean",
        "P(diabetes)",
        "Chidi",
        "were stopped",
    ] {
        assert!(out.contains(expected), "the demo did not show '{expected}':\n{out}");
    }
    assert!(out.contains("An outsider gets nothing"), "{out}");
    // The services it started are gone.
    let line = out.lines().find(|l| l.starts_with("chain http://127.0.0.1:")).expect("the demo names its services");
    let ports: Vec<u16> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|part| part.parse().ok())
        .filter(|port| *port > 1024)
        .collect();
    assert_eq!(ports.len(), 2, "{line}");
    for port in ports {
        assert!(!hrm::devnet::accepts_connections(port), "something still listens on {port}");
    }
}

#[tokio::test]
async fn the_demo_runs_on_a_five_node_geth_network() {
    let env = TestEnv::start("demo_geth").await;
    let hrm = Hrm::new(&env);
    let out = hrm.ok(&["demo", "--engine", "geth"]);
    for expected in ["five-node Geth network", "rejected", "migrated 5 (0 failed)", "clean", "were stopped"] {
        assert!(out.contains(expected), "the Geth demo did not show '{expected}':\n{out}");
    }
}
