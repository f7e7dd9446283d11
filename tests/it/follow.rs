//! `hrm migrate --follow`: a follower keeps the archive current while entries are approved, rides
//! out the node and the database going away and coming back, and stops cleanly on SIGTERM.

use std::io::BufRead;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use hrm::devnet::{AnvilNode, AnvilOptions, DocumentDbServer, free_port};
use mongodb::bson::doc;
use serde_json::Value;

use crate::common::TestEnv;
use crate::common::cli::Hrm;
use crate::migration::{consortium, count, entry, health, mongo_args, run_json};

/// A running `hrm --json migrate --follow` and the events it printed; killed if the test fails.
pub(crate) struct Follower {
    child: Child,
    lines: Receiver<Value>,
    seen: Vec<Value>,
}

impl Follower {
    fn spawn(hrm: &Hrm<'_>) -> Self {
        Self::spawn_polling_every(hrm, "0.2")
    }

    fn spawn_polling_every(hrm: &Hrm<'_>, seconds: &str) -> Self {
        Self::spawn_with(hrm, &[], &["--poll-interval", seconds])
    }

    /// `hrm --json GLOBAL… migrate --follow MIGRATE…` as St Mary (dev:1) on the harness's database.
    pub(crate) fn spawn_with(hrm: &Hrm<'_>, global: &[&str], migrate: &[&str]) -> Self {
        let mut args = vec!["--json"];
        args.extend_from_slice(&mongo_args(hrm.env));
        args.extend_from_slice(global);
        args.extend_from_slice(&["--from", "dev:1", "migrate", "--follow"]);
        args.extend_from_slice(migrate);
        let mut child = hrm.command(&args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let event = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON event ({e}): {line}"));
                if sender.send(event).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, seen: Vec::new() }
    }

    /// Waits for an event that `wanted` accepts; fails naming what was seen.
    pub(crate) fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(event) => {
                    self.seen.push(event.clone());
                    if wanted(&event) {
                        return event;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    panic!("the follower never reported {what}; it reported {:#?}", self.seen)
                }
            }
        }
    }

    fn events(&self, kind: &str) -> usize {
        self.seen.iter().filter(|e| e["event"] == kind).count()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn migrated_one(event: &Value) -> bool {
    event["event"] == "pass" && event["report"]["migrated"] == 1
}

fn is(kind: &'static str, service: &'static str) -> impl Fn(&Value) -> bool {
    move |event| event["event"] == kind && event["service"] == service
}

#[tokio::test]
async fn the_follower_migrates_each_approval_through_outages_and_stops_on_sigterm() {
    // Services this test stops and restarts on the same ports, with the same data.
    let dir = tempfile::tempdir().unwrap();
    let anvil_options = AnvilOptions {
        port: free_port().unwrap(),
        state: Some(dir.path().join("chain-state.json")),
        tie_to_parent: true,
        ..Default::default()
    };
    let start_anvil = || AnvilNode::start(&anvil_options, &dir.path().join("anvil.log")).unwrap();
    let db_port = free_port().unwrap();
    let start_database = || DocumentDbServer::start(&dir.path().join("docdb"), db_port, true).unwrap();
    let mut anvil = start_anvil();
    let mut database = start_database();
    let env = TestEnv::attach("follow", &anvil.rpc_url(), database.uri()).await;
    let hrm = Hrm::new(&env);
    let parties = consortium(&hrm).await;

    let mut follower = Follower::spawn(&hrm);
    let first = entry(&parties, &health(100.0), Some(true)).await;
    follower.wait_for("the first approval", migrated_one);

    // The node goes away; the follower says so once, however often it retries.
    anvil.stop();
    follower.wait_for("the node's outage", is("outage", "node"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    anvil = start_anvil();
    follower.wait_for("the node's return", is("recovered", "node"));
    let second = entry(&parties, &health(110.0), Some(true)).await;
    follower.wait_for("the approval after the node's return", migrated_one);

    // The database goes away.
    database.stop();
    follower.wait_for("the database's outage", is("outage", "database"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    database = start_database();
    follower.wait_for("the database's return", is("recovered", "database"));
    let third = entry(&parties, &health(120.0), Some(true)).await;
    follower.wait_for("the approval after the database's return", migrated_one);
    assert_eq!(follower.events("outage"), 2, "each outage is told once: {:#?}", follower.seen);

    // SIGTERM: the follower stops cleanly and says where the checkpoint resumes.
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(follower.child.id() as i32, libc::SIGTERM) };
    let stopped = follower.wait_for("its stop", |e| e["event"] == "stopped");
    assert!(follower.child.wait().unwrap().success());
    let head = parties[0].head_block().await.unwrap();
    assert_eq!(stopped["next_block"].as_u64(), Some(head + 1), "{stopped}");

    // Every approval archived exactly once, and the checkpoint is consistent: nothing is left.
    for id in [first, second, third] {
        assert_eq!(count(&env, "health_records", doc! { "entry_id": id as i64 }).await, 1, "entry {id}");
    }
    let (code, report, stderr) = run_json(&hrm, &[], &["--from", "dev:1", "migrate"]);
    assert_eq!(
        (code, report["migrated"].as_u64(), report["already_present"].as_u64()),
        (0, Some(0), Some(0)),
        "{stderr}"
    );
    let (code, audit, _) = run_json(&hrm, &[], &["audit"]);
    assert_eq!(code, 0, "{audit}");
    drop((anvil, database));
}

/// On a node that offers WebSocket (Anvil does, on its HTTP port), each new block starts a pass:
/// with polling ten minutes apart, an approval is still archived at once.
#[tokio::test]
async fn a_subscribed_follower_archives_without_waiting_for_its_poll() {
    let env = TestEnv::start("follow_subscribed").await;
    let hrm = Hrm::new(&env);
    let parties = consortium(&hrm).await;
    let mut follower = Follower::spawn_polling_every(&hrm, "600");
    let watching = follower.wait_for("how it watches", |e| e["event"] == "watching");
    assert_eq!(watching["subscribed"], true, "{watching}");
    assert!(watching["url"].as_str().unwrap().starts_with("ws://"), "{watching}");
    let started = Instant::now();
    let id = entry(&parties, &health(100.0), Some(true)).await;
    follower.wait_for("the approval", migrated_one);
    assert!(started.elapsed() < Duration::from_secs(60), "archived long before the next poll");
    assert_eq!(count(&env, "health_records", doc! { "entry_id": id as i64 }).await, 1);
}
