//! Migration survives chain reorganisations: on Anvil, an approval is archived, then the chain is
//! reverted to before the votes (`evm_snapshot` / `evm_revert`) and continues differently.

use alloy::primitives::U256;
use alloy::providers::Provider;
use mongodb::bson::doc;
use serde_json::Value;

use crate::common::TestEnv;
use crate::common::cli::Hrm;
use crate::migration::{consortium, count, entry, health, run_json};

/// What happens after the revert.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Afterwards {
    /// Nothing: the approval is simply gone.
    Dropped,
    /// The panel member rejects the entry instead.
    Rejected,
    /// The same votes are cast again, so the approval lands in a different block.
    ApprovedAgain,
}

/// Calls one of Anvil's own JSON-RPC methods.
async fn rpc<T: serde::de::DeserializeOwned>(env: &TestEnv, method: &'static str, params: Value) -> T {
    let provider = alloy::providers::ProviderBuilder::new().connect_http(env.rpc_url.clone());
    let answer: Value = provider.raw_request(method.into(), params).await.unwrap_or_else(|e| panic!("{method}: {e}"));
    serde_json::from_value(answer).unwrap_or_else(|e| panic!("{method} answered unexpectedly: {e}"))
}

/// Archives one approval that stays and one that the reorganisation touches, lets the chain go
/// `afterwards`, and checks the audit before and after `hrm migrate` repairs the archive.
async fn reorganised(test_name: &str, afterwards: Afterwards) {
    let env = TestEnv::start(test_name).await;
    let hrm = Hrm::new(&env);
    let parties = consortium(&hrm).await;
    let kept = entry(&parties, &health(101.0), Some(true)).await;
    let migrate = ["--from", "dev:1", "migrate"];
    let (code, report, stderr) = run_json(&hrm, &[], &migrate);
    assert_eq!((code, report["migrated"].as_u64()), (0, Some(1)), "{stderr}");

    let touched = entry(&parties, &health(150.0), None).await;
    let snapshot: U256 = rpc(&env, "evm_snapshot", serde_json::json!([])).await;
    let [_, member, patient] = &parties.clients;
    member.vote(touched, true).await.unwrap();
    let first_approval = patient.vote(touched, true).await.unwrap();
    let (code, report, stderr) = run_json(&hrm, &[], &migrate);
    assert_eq!((code, report["migrated"].as_u64()), (0, Some(1)), "{stderr}");

    // The chain forgets the votes and grows past where it was, on a different branch. (Growing
    // past the old head also lets the clients' block watchers, which ignore block numbers they
    // have seen, notice the new blocks.)
    let old_head = parties[0].head_block().await.unwrap();
    assert!(rpc::<bool>(&env, "evm_revert", serde_json::json!([snapshot])).await);
    let reverted_to = parties[0].head_block().await.unwrap();
    rpc::<Value>(&env, "anvil_mine", serde_json::json!([format!("{:#x}", old_head - reverted_to + 1)])).await;
    // Votes on the new branch go through fresh `hrm` processes: the clients above cache their
    // nonces, which the revert made stale.
    let id = touched.to_string();
    match afterwards {
        Afterwards::Dropped => {}
        Afterwards::Rejected => {
            hrm.ok(&["--from", "dev:2", "vote", &id, "--reject"]);
        }
        Afterwards::ApprovedAgain => {
            hrm.ok(&["--from", "dev:2", "vote", &id, "--approve"]);
            let again = hrm.json(&["--from", "dev:3", "vote", &id, "--approve"]);
            assert_eq!(again["status"], "approved");
            assert_ne!(again["block"].as_u64(), Some(first_approval.block), "the approval must land in another block");
        }
    }

    // Before migration repairs it, the audit names the record as orphaned, with its block.
    let (code, audit, _) = run_json(&hrm, &[], &["audit"]);
    assert_eq!(code, 1, "{audit}");
    let orphaned = audit["orphaned"].as_array().unwrap();
    assert_eq!(orphaned.len(), 1, "{audit}");
    assert_eq!(orphaned[0]["entry_id"].as_u64(), Some(touched));
    let reason = orphaned[0]["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("block {}", first_approval.block)), "{reason}");
    assert!(audit["unexpected"].as_array().unwrap().is_empty(), "orphaned is not unexpected: {audit}");

    // Migration notices, rewinds to the block both chains share, and moves the record out.
    let (code, report, stderr) = run_json(&hrm, &[], &migrate);
    assert_eq!(code, 0, "{stderr}");
    let reorg = &report["reorganisation"];
    assert!(reorg.is_object(), "no reorganisation reported: {report}");
    assert!(reorg["common_ancestor"].as_u64().unwrap() < first_approval.block, "{reorg}");
    let moved: Vec<u64> =
        reorg["orphaned"].as_array().unwrap().iter().map(|o| o["entry_id"].as_u64().unwrap()).collect();
    assert_eq!(moved, [touched], "{report}");

    // The archive matches the chain again, and nothing was lost.
    let (code, audit, _) = run_json(&hrm, &[], &["audit"]);
    assert_eq!(code, 0, "{audit}");
    assert_eq!(audit["orphaned_records_kept"], 1, "{audit}");
    assert_eq!(count(&env, "orphaned_records", doc! { "entry_id": touched as i64 }).await, 1);
    assert_eq!(count(&env, "orphaned_records", doc! {}).await, 1, "only the dropped record is orphaned");
    let orphan = env.database().await.collection::<mongodb::bson::Document>("orphaned_records");
    let orphan = orphan.find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(
        orphan.get_document("record").unwrap().get_document("approval").unwrap().get_i64("block").unwrap(),
        first_approval.block as i64
    );
    assert_eq!(count(&env, "health_records", doc! { "entry_id": kept as i64 }).await, 1);
    let archived_again = count(&env, "health_records", doc! { "entry_id": touched as i64 }).await;
    match afterwards {
        Afterwards::Dropped | Afterwards::Rejected => assert_eq!(archived_again, 0),
        Afterwards::ApprovedAgain => {
            assert_eq!(archived_again, 1, "the approval came back, so the record is archived again");
            let records = env.database().await.collection::<mongodb::bson::Document>("health_records");
            let record = records.find_one(doc! { "entry_id": touched as i64 }).await.unwrap().unwrap();
            let block = record.get_document("approval").unwrap().get_i64("block").unwrap();
            assert_ne!(block, first_approval.block as i64, "the new provenance is recorded");
            assert_eq!(report["migrated"], 1, "{report}");
        }
    }

    // A rerun finds nothing more to do.
    let (code, report, _) = run_json(&hrm, &[], &migrate);
    assert_eq!((code, report["migrated"].as_u64()), (0, Some(0)));
    assert!(report["reorganisation"].is_null(), "{report}");
}

#[tokio::test]
async fn a_reorganisation_that_drops_an_approval_orphans_its_record() {
    reorganised("reorg_dropped", Afterwards::Dropped).await;
}

#[tokio::test]
async fn a_reorganisation_that_turns_an_approval_into_a_rejection_orphans_its_record() {
    reorganised("reorg_rejected", Afterwards::Rejected).await;
}

#[tokio::test]
async fn an_approval_reincluded_in_another_block_is_archived_again_with_its_new_provenance() {
    reorganised("reorg_again", Afterwards::ApprovedAgain).await;
}

/// Chain-wide events a follower reads on every pass are kept between reads, and only the blocks
/// since are read again; a reorganisation under what was kept is seen, and the events it dropped
/// are gone from the next read.
#[tokio::test]
async fn kept_chain_wide_events_follow_a_reorganisation() {
    let env = TestEnv::start("reorg_kept_events").await;
    let hrm = Hrm::new(&env);
    let parties = consortium(&hrm).await;
    let [primary, member, _] = &parties.clients;
    let anchors = || async { primary.access_log_anchors().await.unwrap().iter().map(|a| a.length).collect::<Vec<_>>() };
    assert_eq!(anchors().await, Vec::<u64>::new());

    let snapshot: U256 = rpc(&env, "evm_snapshot", serde_json::json!([])).await;
    primary.anchor_access_log(1, alloy::primitives::B256::repeat_byte(1)).await.unwrap();
    assert_eq!(anchors().await, [1], "the first read keeps the anchor");

    // The anchor's block is replaced by one with another hospital's anchor (sent by the member,
    // whose nonce the revert left as it was).
    assert!(rpc::<bool>(&env, "evm_revert", serde_json::json!([snapshot])).await);
    member.anchor_access_log(2, alloy::primitives::B256::repeat_byte(2)).await.unwrap();
    assert_eq!(anchors().await, [2], "the dropped anchor is still listed");

    member.anchor_access_log(3, alloy::primitives::B256::repeat_byte(3)).await.unwrap();
    assert_eq!(anchors().await, [2, 3], "a read after the kept one adds the new blocks' events");
    assert_eq!(anchors().await, [2, 3], "a read with no new block gives what was kept");
}
