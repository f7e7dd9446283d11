//! Accounts from keystores and imports, and settings precedence: flags > environment > file.

use std::io::Write;
use std::process::Stdio;

use crate::common::cli::Hrm;
use crate::common::{TestEnv, dev};

#[tokio::test]
async fn import_from_stdin_or_file_and_list() {
    let env = TestEnv::start("accounts_import").await;
    let hrm = Hrm::new(&env);
    let key = format!("0x{}", alloy::primitives::hex::encode(dev(5).to_bytes()));

    let mut child = hrm
        .command(&["--json", "account", "import", "ward5"])
        .env("HRM_PASSWORD", "pw")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{key}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let imported: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let address: alloy::primitives::Address = imported["address"].as_str().unwrap().parse().unwrap();
    assert_eq!(address, dev(5).address());

    let key_file = hrm.write_file("key.txt", &alloy::primitives::hex::encode(dev(4).to_bytes()));
    let output = hrm
        .command(&["account", "import", "ward4", "--key-file", key_file.to_str().unwrap()])
        .env("HRM_PASSWORD", "pw")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let bad = hrm.write_file("bad.txt", "not a key");
    let output = hrm
        .command(&["account", "import", "ward9", "--key-file", bad.to_str().unwrap()])
        .env("HRM_PASSWORD", "pw")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("private key is not valid"));
    assert!(!hrm.home().join("keystores/ward9.json").exists(), "a refused import left a keystore behind");

    hrm.ok(&["account", "label", "clinic", &dev(7).address().to_string()]);
    let listed = hrm.json(&["account", "list"]);
    let names: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["keystore"].as_bool().unwrap()))
        .collect();
    assert_eq!(names, [("clinic", false), ("ward4", true), ("ward5", true)]);
    let taken = hrm.command(&["account", "new", "ward5"]).env("HRM_PASSWORD", "pw").output().unwrap();
    assert!(!taken.status.success() && String::from_utf8_lossy(&taken.stderr).contains("already exists"));

    // The imported keystore signs, by name and by address.
    hrm.ok(&["--from", "dev:0", "deploy"]);
    let output = hrm.command(&["--from", "ward5", "key", "publish"]).env("HRM_PASSWORD", "pw").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let by_address = dev(4).address().to_string();
    let output = hrm.command(&["--from", &by_address, "key", "publish"]).env("HRM_PASSWORD", "pw").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn flags_beat_environment_beat_config_file() {
    let env = TestEnv::start("config_precedence").await;
    let hrm = Hrm::new(&env);
    hrm.ok(&["--from", "dev:0", "deploy"]);
    let real = env.rpc_url.as_str();
    let dead = "http://127.0.0.1:9";
    hrm.write_file("hrm.toml", &format!("rpc_url = \"{real}\"\n"));

    // File only.
    let output = hrm.command(&["status"]).env_remove("HRM_RPC_URL").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // Environment beats file.
    let output = hrm.command(&["status"]).env("HRM_RPC_URL", dead).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains(dead));
    // Flag beats environment.
    let output = hrm.command(&["--rpc-url", real, "status"]).env("HRM_RPC_URL", dead).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // A damaged config file is named.
    hrm.write_file("hrm.toml", "rpc_url = 42\n");
    let err = hrm.fails(&["status"]);
    assert!(err.contains("hrm.toml") && err.contains("not valid"), "{err}");
}

#[tokio::test]
async fn a_node_that_does_not_answer_is_passed_over_for_the_next() {
    let env = TestEnv::start("config_failover").await;
    let hrm = Hrm::new(&env);
    let real = env.rpc_url.as_str();
    let dead = "http://127.0.0.1:9";

    // Flags: the first node is down, so reads and transactions go to the second.
    hrm.ok(&["--rpc-url", dead, "--rpc-url", real, "--from", "dev:0", "deploy"]);
    hrm.ok(&["--rpc-url", dead, "--rpc-url", real, "--from", "dev:1", "key", "publish"]);
    // The environment, comma-separated.
    let output = hrm.command(&["status"]).env("HRM_RPC_URL", format!("{dead},{real}")).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // The config file's list.
    hrm.write_file("hrm.toml", &format!("rpc_urls = [\"{dead}\", \"{real}\"]\n"));
    let output = hrm.command(&["status"]).env_remove("HRM_RPC_URL").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // When none answers, the error names every node tried.
    let other_dead = "http://127.0.0.1:10";
    let err = hrm.fails(&["--rpc-url", dead, "--rpc-url", other_dead, "status"]);
    assert!(err.contains(dead) && err.contains(other_dead) && err.contains("Is the node running?"), "{err}");
}
