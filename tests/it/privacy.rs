//! No plaintext record ever reaches the chain, and no byte of its sealed envelope either: not in
//! calldata, not in logs, not in storage. The chain holds the envelope's digest only.

use crate::common::cli::{Hrm, health_json};
use crate::common::{TestEnv, dev};
use alloy::eips::BlockNumberOrTag;
use alloy::primitives::B256;
use alloy::providers::Provider;

const MARKER: &str = "PRIVACY-MARKER-7f3a9c-unique-note";
const GLUCOSE: &str = "187.3";

#[tokio::test]
async fn no_plaintext_in_calldata_logs_or_storage() {
    let env = TestEnv::start("privacy").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2", "dev:3"], "dev:6");
    let notes = format!("{MARKER}: patient reports blurred vision");
    let record_text = health_json(GLUCOSE, &notes);
    let file = hrm.write_file("visit.json", &record_text);
    let id = hrm.json(&[
        "--from",
        "dev:1",
        "submit-health",
        "--patient",
        "dev:6",
        "--file",
        file.to_str().unwrap(),
    ])["entry_id"]
        .as_u64()
        .unwrap()
        .to_string();
    for voter in ["dev:2", "dev:3", "dev:6"] {
        hrm.ok(&["--from", voter, "vote", &id, "--approve"]);
    }
    // The record really is there for its recipients.
    assert_eq!(hrm.json(&hrm.with_archive(&["--from", "dev:6", "show", &id]))["record"]["notes"], notes.as_str());

    // Everything the chain holds: every transaction's calldata, every log, every storage slot
    // any transaction wrote.
    let provider = env.provider_for(&dev(0));
    let mut haystack: Vec<u8> = Vec::new();
    let head = provider.get_block_number().await.unwrap();
    let mut transactions = 0;
    for number in 0..=head {
        let block = provider.get_block_by_number(BlockNumberOrTag::Number(number)).full().await.unwrap().unwrap();
        for tx in block.transactions.into_transactions() {
            transactions += 1;
            haystack.extend_from_slice(alloy::consensus::Transaction::input(&tx));
            let hash = *tx.inner.tx_hash();
            let receipt = provider.get_transaction_receipt(hash).await.unwrap().unwrap();
            for log in receipt.inner.logs() {
                haystack.extend_from_slice(&log.inner.data.data);
                for topic in log.inner.data.topics() {
                    haystack.extend_from_slice(topic.as_slice());
                }
            }
            haystack.extend(storage_written_by(&provider, hash).await);
        }
    }
    assert!(transactions >= 12, "expected the whole story on chain, found {transactions} transactions");

    // The whole record in its canonical form, and every 8-byte window of it.
    let record = hrm::records::Record::from_json(hrm::records::EntryKind::Health, &record_text, "visit.json").unwrap();
    let canonical = record.canonical_json();
    let mut needles: Vec<Vec<u8>> = vec![MARKER.as_bytes().to_vec(), notes.as_bytes().to_vec(), canonical.clone()];
    needles.extend(canonical.windows(8).map(<[u8]>::to_vec));
    needles.push(format!("\"glucose\":{GLUCOSE}").into_bytes());
    for needle in &needles {
        assert!(!contains(&haystack, needle), "plaintext found on chain: {:?}", String::from_utf8_lossy(needle));
    }
    // The check can see what is there: hospital names are plaintext by design.
    assert!(contains(&haystack, b"Hospital"));

    // The sealed envelope stays in the hospitals' database: no 16-byte window of its own bytes
    // (ephemeral key, wrapped keys, ciphertext) is on chain, only its digest. Its header also
    // names the recipients, whose addresses are on chain anyway.
    let connection =
        hrm::chain::Connection::open(env.rpc_url.clone(), std::time::Duration::from_secs(30)).await.unwrap();
    let consortium =
        connection.attach(&hrm::chain::DeploymentStore::new(hrm.home().join("deployments"))).await.unwrap();
    let submission = consortium.submission(id.parse().unwrap()).await.unwrap();
    let archive = hrm::store::Archive::connect(&env.mongodb_uri, &env.database_name).await.unwrap();
    let envelope =
        archive.envelope(submission.envelope_digest).await.unwrap().expect("the submitter keeps the envelope");
    assert!(envelope.len() > 400, "a real envelope for four recipients, not {} bytes", envelope.len());
    for window in crate::common::envelope_secret_parts(&envelope).iter().flat_map(|part| part.windows(16)) {
        assert!(!contains(&haystack, window), "a piece of the sealed envelope is on chain");
    }
    assert!(contains(&haystack, submission.envelope_digest.as_slice()), "the envelope's digest is on chain");
}

/// Post-transaction values of every storage slot a transaction changed (`prestateTracer` in
/// diff mode), keys and values both.
async fn storage_written_by(provider: &impl Provider, hash: B256) -> Vec<u8> {
    let options = serde_json::json!({ "tracer": "prestateTracer", "tracerConfig": { "diffMode": true } });
    let trace: serde_json::Value =
        provider.raw_request("debug_traceTransaction".into(), (hash, options)).await.unwrap();
    let mut bytes = Vec::new();
    for account in trace["post"].as_object().into_iter().flat_map(|m| m.values()) {
        for (slot, value) in account["storage"].as_object().into_iter().flatten() {
            for word in [slot.as_str(), value.as_str().unwrap_or_default()] {
                let word: B256 = word.parse().unwrap_or_default();
                bytes.extend_from_slice(word.as_slice());
            }
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
