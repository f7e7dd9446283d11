//! The harness itself: services answer, each test gets its own database, and processes stop.

use crate::common::TestEnv;
use mongodb::bson::{Document, doc};

fn is_alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; it counts as stopped.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
}

#[tokio::test]
async fn inserts_and_reads_back_a_document() {
    let env = TestEnv::start("harness_roundtrip").await;
    let collection = env.database().await.collection::<Document>("harness_check");
    collection.insert_one(doc! { "_id": "probe", "readings": { "glucose": 148 } }).await.unwrap();
    let found = collection.find_one(doc! { "_id": "probe" }).await.unwrap().expect("the document is there");
    assert_eq!(found.get_document("readings").unwrap().get_i32("glucose").unwrap(), 148);
}

#[tokio::test]
async fn each_test_env_has_its_own_database() {
    let first = TestEnv::start("harness_db_a").await;
    let second = TestEnv::start("harness_db_b").await;
    assert_ne!(first.database_name, second.database_name);
}

#[test]
fn services_stop_when_the_env_is_dropped_even_after_a_panic() {
    let (sender, receiver) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let env = TestEnv::start("harness_panic").await;
            sender.send(env.started_pids()).unwrap();
            panic!("a failing test");
        })
    })
    .join();
    assert!(outcome.is_err(), "the thread panicked as intended");
    let pids = receiver.recv().unwrap();
    if std::env::var_os(crate::common::RPC_URL_ENV).is_none()
        && std::env::var_os(crate::common::MONGODB_URI_ENV).is_none()
    {
        assert_eq!(pids.len(), 2, "anvil and the database server were started");
    }
    for pid in pids {
        assert!(!is_alive(pid), "process {pid} still runs after the failing test");
    }
}
