//! A deployed `HealthRecords` contract with every role the access rules distinguish.

use alloy::primitives::{Address, B256, Bytes, keccak256};
use alloy::providers::DynProvider;
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::local::PrivateKeySigner;
use hrm::chain::HealthRecords::{self, HealthRecordsErrors, HealthRecordsInstance};
use hrm::chain::keys::public_key_bytes;
use hrm::chain::revert::{contract_error_name, decode_contract_error};

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
    /// Gas used by each transaction sent while setting up, by function name.
    pub setup_gas: Vec<(&'static str, u64)>,
}

impl Consortium {
    /// Deploys, registers the primary, `panel_size` supporting hospitals and the outsider, sets the
    /// primary's panel and publishes the patient's key. Accounts: admin 0, primary 1, panel 2..,
    /// then outsider, patient, stranger.
    pub async fn deploy(test_name: &str, panel_size: usize) -> Self {
        assert!(panel_size + 5 <= 10, "only ten development accounts");
        let env = TestEnv::start(test_name).await;
        let admin = dev(0);
        let primary = dev(1);
        let panel: Vec<_> = (2..2 + panel_size).map(dev).collect();
        let outsider = dev(2 + panel_size);
        let patient = dev(3 + panel_size);
        let stranger = dev(4 + panel_size);

        let deployed = HealthRecords::deploy(env.provider_for(&admin)).await.expect("deploying HealthRecords");
        let address = *deployed.address();
        let mut consortium =
            Self { env, address, admin, primary, panel, outsider, patient, stranger, setup_gas: Vec::new() };

        let admin = consortium.admin.clone();
        let mut hospitals = vec![("Primary", consortium.primary.address())];
        hospitals.extend(consortium.panel.iter().enumerate().map(|(i, s)| (SUPPORTING_NAMES[i], s.address())));
        hospitals.push(("Outsider", consortium.outsider.address()));
        for (name, hospital) in hospitals {
            let receipt = mined(consortium.as_(&admin).registerHospital(hospital, name.to_string()).send().await).await;
            consortium.setup_gas.push(("registerHospital", receipt.gas_used));
        }
        let members = consortium.panel_addresses();
        let primary = consortium.primary.clone();
        let receipt = mined(consortium.as_(&primary).setSupportingHospitals(members).send().await).await;
        consortium.setup_gas.push(("setSupportingHospitals", receipt.gas_used));
        let patient = consortium.patient.clone();
        let receipt = mined(consortium.as_(&patient).publishKey(public_key_bytes(&patient)).send().await).await;
        consortium.setup_gas.push(("publishKey", receipt.gas_used));
        consortium
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
pub fn test_envelope() -> Bytes {
    Bytes::from(vec![0xab; 700])
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
