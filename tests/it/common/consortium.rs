//! A deployed `HealthRecords` contract with every role the access rules distinguish.

use alloy::primitives::{Address, B256, keccak256};
use alloy::providers::DynProvider;
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::local::PrivateKeySigner;
use hrm::chain::DeploymentStore;
use hrm::chain::HealthRecords::{self, HealthRecordsErrors, HealthRecordsInstance};
use hrm::chain::revert::{contract_error_name, decode_contract_error};
use hrm::scenario::{Participant, ScenarioPlan, set_up_consortium};

use super::{TestEnv, dev};

/// The roles of the access matrix, each a different development account.
pub struct Consortium {
    pub env: TestEnv,
    pub address: Address,
    /// Deployed the contract; registers hospitals.
    pub admin: PrivateKeySigner,
    /// Submits entries; its panel is `panel`.
    pub primary: PrivateKeySigner,
    /// The primary's supporting hospitals.
    pub panel: Vec<PrivateKeySigner>,
    /// A registered hospital on no panel of the primary.
    pub outsider: PrivateKeySigner,
    /// Has published a key; the entries are about them.
    pub patient: PrivateKeySigner,
    /// Holds no role at all.
    pub stranger: PrivateKeySigner,
    /// Gas used by each transaction sent while setting up (deployment first), by function name.
    pub setup_gas: Vec<(&'static str, u64)>,
}

impl Consortium {
    /// Deploys (through the library's scenario), registers the primary, `panel_size` supporting
    /// hospitals and the outsider, sets the primary's panel and publishes the patient's key (the
    /// hospitals publish none). Accounts: admin 0, primary 1, panel 2.., then outsider, patient,
    /// stranger.
    pub async fn deploy(test_name: &str, panel_size: usize) -> Self {
        assert!(panel_size + 5 <= 10, "only ten development accounts");
        let env = TestEnv::start(test_name).await;
        let mut hospitals = vec!["Primary".to_string()];
        hospitals.extend(SUPPORTING_NAMES[..panel_size].iter().map(|n| n.to_string()));
        hospitals.push("Outsider".into());
        let plan = ScenarioPlan {
            hospitals,
            panel_size,
            patients: vec!["Patient".into()],
            hospitals_publish_keys: false,
            ..ScenarioPlan::minimal()
        };
        let store = DeploymentStore::new(env.temp_dir().join("deployments"));
        let scenario = set_up_consortium(&env.rpc_urls(), &store, &plan).await.expect("setting up the consortium");
        let signers = |people: &[Participant]| people.iter().map(|p| p.signer.clone()).collect::<Vec<_>>();
        Self {
            address: scenario.deployment.address,
            admin: scenario.admin.signer.clone(),
            primary: scenario.primary().signer.clone(),
            panel: signers(scenario.panel()),
            outsider: scenario.outsiders()[0].signer.clone(),
            patient: scenario.patients[0].signer.clone(),
            stranger: dev(plan.patient_account(1)),
            setup_gas: scenario.setup_gas,
            env,
        }
    }

    /// The contract as seen by `who`: calls and transactions are from that account.
    pub fn as_(&self, who: &PrivateKeySigner) -> HealthRecordsInstance<DynProvider> {
        HealthRecords::new(self.address, self.env.provider_for(who))
    }

    pub fn panel_addresses(&self) -> Vec<Address> {
        self.panel.iter().map(PrivateKeySigner::address).collect()
    }

    /// Submits health details (a dummy commitment and envelope) as the primary; returns the id.
    pub async fn submit_health(&self) -> (u64, TransactionReceipt) {
        let commitment = keccak256(b"test record");
        let receipt = mined(
            self.as_(&self.primary)
                .submitHealthDetails(self.patient.address(), commitment, test_envelope())
                .send()
                .await,
        )
        .await;
        (submitted_id(&receipt), receipt)
    }

    /// Moves the chain's clock forward and mines a block at the new time.
    pub async fn advance_clock(&self, seconds: u64) {
        use alloy::providers::Provider;
        let provider = self.env.provider_for(&self.admin);
        let _: serde_json::Value = provider.raw_request("evm_increaseTime".into(), (seconds,)).await.unwrap();
        let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
    }

    /// Submits bill details (a dummy commitment and envelope) as the primary; returns the id.
    pub async fn submit_bill(&self) -> (u64, TransactionReceipt) {
        let receipt = mined(
            self.as_(&self.primary)
                .submitBillDetails(self.patient.address(), keccak256(b"test bill"), test_envelope())
                .send()
                .await,
        )
        .await;
        (submitted_id(&receipt), receipt)
    }
}

const SUPPORTING_NAMES: [&str; 5] = ["Supporting A", "Supporting B", "Supporting C", "Supporting D", "Supporting E"];

/// An opaque stand-in for a sealed envelope; the contract never looks inside.
/// The digest of a stand-in envelope: the contract keeps only digests.
pub fn test_envelope() -> B256 {
    keccak256(vec![0xab; 700])
}

/// Waits for a sent transaction's receipt and checks it succeeded.
pub async fn mined(
    sent: Result<alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>, alloy::contract::Error>,
) -> TransactionReceipt {
    let pending = sent.unwrap_or_else(|e| panic!("sending failed: {}", describe(&e)));
    let receipt = pending.get_receipt().await.expect("waiting for the receipt");
    assert!(receipt.status(), "transaction {} reverted", receipt.transaction_hash);
    receipt
}

/// The id from the receipt's `EntrySubmitted` event.
pub fn submitted_id(receipt: &TransactionReceipt) -> u64 {
    let log =
        receipt.decoded_log::<HealthRecords::EntrySubmitted>().expect("the receipt holds an EntrySubmitted event");
    log.data.id.try_into().expect("ids fit in u64")
}

/// The contract's custom error behind a failed call, or a panic naming what happened instead.
pub fn expect_contract_error(result: Result<impl std::fmt::Debug, alloy::contract::Error>) -> HealthRecordsErrors {
    match result {
        Ok(value) => panic!("expected a revert, but the call succeeded with {value:?}"),
        Err(error) => decode_contract_error(&error).unwrap_or_else(|| panic!("expected a custom error, got: {error}")),
    }
}

fn describe(error: &alloy::contract::Error) -> String {
    match decode_contract_error(error) {
        Some(e) => format!("{} ({error})", contract_error_name(&e)),
        None => error.to_string(),
    }
}

/// A commitment that is not the zero hash.
pub fn some_commitment() -> B256 {
    keccak256(b"commitment")
}
