//! The consortium as a client sees it: a connection to a chain, the deployed contract, and one
//! method per thing a participant does.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::contract::SolCallBuilder;
use alloy::network::EthereumWallet;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent};
use alloy::transports::http::reqwest::Url;
use serde::Serialize;

use super::contract::HealthRecords::{self, HealthRecordsInstance};
use super::deployment::{DeploymentRecord, DeploymentStore};
use super::provider::{read_provider_over, signing_provider_over};
use super::{ChainError, EntryKind, EntryStatus};

/// How long to wait for the node's first answer before calling it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the event of a submission seen mined is looked for before it is called missing.
const SUBMISSION_SETTLE: Duration = Duration::from_secs(30);

/// A connection to a chain, optionally with a signing account.
#[derive(Clone)]
pub struct Connection {
    provider: DynProvider,
    /// The nodes, the first in use first; requests move to the next when one stops answering.
    rpc_urls: Vec<Url>,
    chain_id: u64,
    sender: Option<Address>,
    // Kept beside the provider so that transactions can also be signed here and sent as raw bytes
    // (see `outbox`).
    wallet: Option<EthereumWallet>,
    receipt_timeout: Duration,
}

/// What a mined transaction did.
#[derive(Debug, Clone, Serialize)]
pub struct TxOutcome {
    pub tx_hash: B256,
    pub block: u64,
    pub gas_used: u64,
    /// The entry a submission created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<u64>,
}

impl TxOutcome {
    pub(super) fn from_receipt(receipt: &TransactionReceipt) -> Self {
        Self {
            tx_hash: receipt.transaction_hash,
            block: receipt.block_number.unwrap_or_default(),
            gas_used: receipt.gas_used,
            entry_id: None,
        }
    }
}

/// The on-chain part of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryInfo {
    pub id: u64,
    pub kind: EntryKind,
    pub status: EntryStatus,
    pub patient: Address,
    pub submitter: Address,
    pub approvals: u8,
    pub required_votes: u8,
    /// The panel snapshot that votes on the entry (ids are global, from 1).
    pub panel_id: u32,
}

/// What a batch submission did: one transaction, one entry per record.
#[derive(Debug, Clone, Serialize)]
pub struct BatchOutcome {
    pub tx_hash: B256,
    pub block: u64,
    pub gas_used: u64,
    /// The entries created, in the batch's record order.
    pub entry_ids: Vec<u64>,
}

/// One record of a submission as the contract takes it: whose, its commitment and its envelope's
/// digest (the envelope itself stays off chain).
#[derive(Debug, Clone)]
pub struct SealedSubmission {
    pub patient: Address,
    pub commitment: B256,
    pub envelope_digest: B256,
}

/// The ids of the entries a mined submission created, in the order of its records.
pub fn submitted_entry_ids(receipt: &TransactionReceipt) -> Vec<u64> {
    receipt
        .logs()
        .iter()
        .filter_map(|log| HealthRecords::EntrySubmitted::decode_log(&log.inner).ok())
        .map(|event| event.data.id.saturating_to())
        .collect()
}

/// An entry's submission event: what the chain keeps of a record.
#[derive(Debug, Clone)]
pub struct Submission {
    pub id: u64,
    pub kind: EntryKind,
    pub patient: Address,
    pub submitter: Address,
    /// keccak256 of the sealed envelope, which the recipients hold off chain.
    pub envelope_digest: B256,
    pub commitment: B256,
    /// The panel snapshot that votes on the entry (global id).
    pub panel_id: u32,
    pub tx_hash: B256,
    pub block: u64,
}

impl Connection {
    /// Connects to `rpc_url` and reads its chain id.
    pub async fn open(rpc_url: Url, receipt_timeout: Duration) -> Result<Self, ChainError> {
        Self::open_any(vec![rpc_url], receipt_timeout).await
    }

    /// Connects to the first of `rpc_urls` (nodes of one network) that answers and reads the
    /// chain id; later requests move to the next node when the one in use stops answering.
    pub async fn open_any(rpc_urls: Vec<Url>, receipt_timeout: Duration) -> Result<Self, ChainError> {
        assert!(!rpc_urls.is_empty(), "a connection needs a node");
        let provider = read_provider_over(&rpc_urls);
        let described = rpc_urls.iter().map(Url::as_str).collect::<Vec<_>>().join(", ");
        let chain_id = match tokio::time::timeout(CONNECT_TIMEOUT, provider.get_chain_id()).await {
            Ok(result) => result.map_err(|e| ChainError::from_transport(e, &described, None))?,
            Err(_) => {
                return Err(ChainError::Unreachable {
                    url: described,
                    reason: format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                });
            }
        };
        Ok(Self { provider, rpc_urls, chain_id, sender: None, wallet: None, receipt_timeout })
    }

    /// The same connection, signing with `signer`.
    pub fn with_signer(self, signer: PrivateKeySigner) -> Self {
        let sender = Some(signer.address());
        let wallet = Some(EthereumWallet::from(signer.clone()));
        Self { provider: signing_provider_over(&self.rpc_urls, signer), sender, wallet, ..self }
    }

    /// The chain's id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The first node's JSON-RPC URL (where the follower subscribes to new blocks).
    pub fn rpc_url(&self) -> &Url {
        &self.rpc_urls[0]
    }

    /// Every node's JSON-RPC URL, in the order they are tried.
    pub fn rpc_urls(&self) -> &[Url] {
        &self.rpc_urls
    }

    /// The signing account, if any.
    pub fn sender(&self) -> Option<Address> {
        self.sender
    }

    /// The underlying provider.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Deploys a new `HealthRecords` (the signer becomes its admin) and saves it for this chain;
    /// refuses to replace a saved deployment unless `force`.
    pub async fn deploy(
        &self,
        store: &DeploymentStore,
        force: bool,
    ) -> Result<(DeploymentRecord, TxOutcome), ChainError> {
        if !force && let Some(existing) = store.load(self.chain_id)? {
            return Err(ChainError::AlreadyDeployed { chain_id: self.chain_id, address: existing.address });
        }
        let deployer = self.sender.expect("deploying needs a signer");
        let builder = HealthRecords::deploy_builder(self.provider.clone());
        let pending = builder.send().await.map_err(|e| self.classify(e))?;
        let receipt = self.wait(pending).await?;
        let address =
            receipt.contract_address.ok_or_else(|| ChainError::Rpc("the receipt names no contract address".into()))?;
        let record = DeploymentRecord {
            chain_id: self.chain_id,
            address,
            deploy_block: receipt.block_number.unwrap_or_default(),
            tx_hash: receipt.transaction_hash,
            deployer,
            deployed_at: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default(),
        };
        store.save(&record)?;
        Ok((record, TxOutcome::from_receipt(&receipt)))
    }

    /// Attaches to this chain's saved deployment, checking that the contract is still there.
    pub async fn attach(self, store: &DeploymentStore) -> Result<Consortium, ChainError> {
        let deployment = store.load(self.chain_id)?.ok_or(ChainError::NoDeployment { chain_id: self.chain_id })?;
        self.wait_for_block(deployment.deploy_block).await?;
        // On a multi-node network a node can have a block of that height from a short-lived fork
        // (Clique sealers race, with one-second blocks): give it a moment to settle on the block
        // with the contract.
        let deadline = tokio::time::Instant::now() + self.receipt_timeout.min(Duration::from_secs(3));
        loop {
            let code = self
                .provider
                .get_code_at(deployment.address)
                .await
                .map_err(|e| ChainError::from_transport(e, self.rpc_url().as_str(), None))?;
            if !code.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ChainError::NoCode { address: deployment.address, chain_id: self.chain_id });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let contract = HealthRecords::new(deployment.address, self.provider.clone());
        Ok(Consortium { connection: self, contract, deployment, log_cache: Default::default() })
    }

    /// Waits (up to the receipt timeout) until this node has block `number`: on a multi-node
    /// network a node may be a block or two behind the one a transaction was sent through.
    pub async fn wait_for_block(&self, number: u64) -> Result<(), ChainError> {
        let deadline = tokio::time::Instant::now() + self.receipt_timeout;
        loop {
            let head = self
                .provider
                .get_block_number()
                .await
                .map_err(|e| ChainError::from_transport(e, self.rpc_url().as_str(), None))?;
            if head >= number || tokio::time::Instant::now() >= deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// How long to wait for a receipt.
    pub fn receipt_timeout(&self) -> Duration {
        self.receipt_timeout
    }

    /// The signing wallet; panics when the connection has none (a programming error).
    pub(super) fn wallet(&self) -> &EthereumWallet {
        self.wallet.as_ref().expect("this operation needs a signing account")
    }

    pub(super) fn transport_error(&self, error: alloy::transports::TransportError) -> ChainError {
        ChainError::from_transport(error, self.rpc_url().as_str(), self.sender)
    }

    pub(super) fn classify(&self, error: alloy::contract::Error) -> ChainError {
        ChainError::from_contract_error(error, self.rpc_url().as_str(), self.sender)
    }

    async fn wait(
        &self,
        pending: alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
    ) -> Result<TransactionReceipt, ChainError> {
        let tx_hash = *pending.tx_hash();
        let started = tokio::time::Instant::now();
        let receipt = match pending.with_timeout(Some(self.receipt_timeout)).get_receipt().await {
            Ok(receipt) => receipt,
            // The block was seen mined, but the node asked for the receipt (on a network of
            // several nodes, maybe another one) has not imported it yet and answers null: ask
            // again until one has it.
            Err(alloy::providers::PendingTransactionError::TransportError(e)) if e.is_null_resp() => {
                self.receipt_once_imported(tx_hash, started).await?
            }
            Err(e) => {
                return Err(match e {
                    alloy::providers::PendingTransactionError::TxWatcher(_) => {
                        ChainError::ReceiptTimeout { tx_hash, seconds: self.receipt_timeout.as_secs() }
                    }
                    alloy::providers::PendingTransactionError::TransportError(e) => {
                        ChainError::from_transport(e, self.rpc_url().as_str(), self.sender)
                    }
                    other => ChainError::Rpc(other.to_string()),
                });
            }
        };
        if !receipt.status() {
            return Err(ChainError::Failed { tx_hash });
        }
        Ok(receipt)
    }
}

impl Connection {
    /// Polls for `tx_hash`'s receipt until a node has it, up to the receipt timeout from `started`.
    async fn receipt_once_imported(
        &self,
        tx_hash: B256,
        started: tokio::time::Instant,
    ) -> Result<TransactionReceipt, ChainError> {
        loop {
            let receipt = self.provider.get_transaction_receipt(tx_hash).await.map_err(|e| self.transport_error(e))?;
            if let Some(receipt) = receipt {
                return Ok(receipt);
            }
            if started.elapsed() >= self.receipt_timeout {
                return Err(ChainError::ReceiptTimeout { tx_hash, seconds: self.receipt_timeout.as_secs() });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A connection attached to the deployed contract.
#[derive(Clone)]
pub struct Consortium {
    connection: Connection,
    contract: HealthRecordsInstance<DynProvider>,
    deployment: DeploymentRecord,
    log_cache: std::sync::Arc<super::logs::LogCache>,
}

impl Consortium {
    /// The deployment this client talks to.
    pub fn deployment(&self) -> &DeploymentRecord {
        &self.deployment
    }

    /// The connection underneath.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The chain-wide event logs read before (see `chain_wide_logs`).
    pub(super) fn log_cache(&self) -> &super::logs::LogCache {
        &self.log_cache
    }

    /// The contract binding.
    pub fn contract(&self) -> &HealthRecordsInstance<DynProvider> {
        &self.contract
    }

    /// The signing account; panics when the connection has none (a programming error).
    pub fn sender(&self) -> Address {
        self.connection.sender.expect("this operation needs a signing account")
    }

    pub(super) async fn transact<C: SolCall>(
        &self,
        call: SolCallBuilder<&DynProvider, C>,
    ) -> Result<TransactionReceipt, ChainError> {
        // A quarter more than the estimate: on a multi-node network the estimate may come from a
        // node a block behind, where e.g. the last approving vote (which also settles the entry)
        // looks like an ordinary one and would run out of gas.
        let estimate = call.estimate_gas().await.map_err(|e| self.connection.classify(e))?;
        let pending = call.gas(estimate + estimate / 4).send().await.map_err(|e| self.connection.classify(e))?;
        self.connection.wait(pending).await
    }

    /// Sends a transaction and says what it did.
    pub(super) async fn send<C: SolCall>(
        &self,
        call: SolCallBuilder<&DynProvider, C>,
    ) -> Result<TxOutcome, ChainError> {
        Ok(TxOutcome::from_receipt(&self.transact(call).await?))
    }

    pub(super) async fn view<C: SolCall>(
        &self,
        call: SolCallBuilder<&DynProvider, C>,
    ) -> Result<C::Return, ChainError> {
        call.call().await.map_err(|e| self.connection.classify(e))
    }

    /// Admits a hospital (admin only).
    pub async fn register_hospital(&self, hospital: Address, name: &str) -> Result<TxOutcome, ChainError> {
        let receipt = self.transact(self.contract.registerHospital(hospital, name.to_string())).await?;
        Ok(TxOutcome::from_receipt(&receipt))
    }

    /// Every current hospital with its name (in registration order until a removal moves the
    /// last one into its place).
    pub async fn hospitals(&self) -> Result<Vec<(Address, String)>, ChainError> {
        let addresses = self.view(self.contract.getHospitals()).await?;
        let mut hospitals = Vec::with_capacity(addresses.len());
        for address in addresses {
            let name = self.view(self.contract.hospitalName(address)).await?;
            hospitals.push((address, name));
        }
        Ok(hospitals)
    }

    /// The name `hospital` was registered under, kept after its removal ("" when never).
    pub async fn hospital_name(&self, hospital: Address) -> Result<String, ChainError> {
        self.view(self.contract.hospitalName(hospital)).await
    }

    /// Whether `account` is a registered hospital.
    pub async fn is_hospital(&self, account: Address) -> Result<bool, ChainError> {
        self.view(self.contract.isHospital(account)).await
    }

    /// The consortium admin.
    pub async fn admin(&self) -> Result<Address, ChainError> {
        self.view(self.contract.admin()).await
    }

    /// Publishes the signer's public key.
    pub async fn publish_key(&self, public_key: Bytes) -> Result<TxOutcome, ChainError> {
        let receipt = self.transact(self.contract.publishKey(public_key)).await?;
        Ok(TxOutcome::from_receipt(&receipt))
    }

    /// An account's sealing key (empty when none) and its version (0: the account's own key).
    pub async fn sealing_key_of(&self, account: Address) -> Result<(Bytes, u32), ChainError> {
        let key = self.view(self.contract.sealingKeyOf(account)).await?;
        Ok((key.publicKey, key.version))
    }

    /// Publishes a new sealing key for the signing hospital; returns the transaction and the new
    /// key's version.
    pub async fn rotate_key(&self, public_key: Bytes) -> Result<(TxOutcome, u32), ChainError> {
        let receipt = self.transact(self.contract.rotateKey(public_key)).await?;
        let version = receipt
            .logs()
            .iter()
            .find_map(|log| HealthRecords::KeyRotated::decode_log(&log.inner).ok())
            .map(|event| event.data.version)
            .ok_or_else(|| ChainError::Rpc("the rotation's receipt holds no KeyRotated event".into()))?;
        Ok((TxOutcome::from_receipt(&receipt), version))
    }

    /// An account's published public key (empty when none).
    pub async fn public_key_of(&self, account: Address) -> Result<Bytes, ChainError> {
        self.view(self.contract.publicKeyOf(account)).await
    }

    /// Names the signer's supporting hospitals.
    pub async fn set_supporting_hospitals(&self, hospitals: Vec<Address>) -> Result<TxOutcome, ChainError> {
        let receipt = self.transact(self.contract.setSupportingHospitals(hospitals)).await?;
        Ok(TxOutcome::from_receipt(&receipt))
    }

    /// A primary hospital's current supporting hospitals.
    pub async fn supporting_hospitals(&self, primary: Address) -> Result<Vec<Address>, ChainError> {
        self.view(self.contract.getSupportingHospitals(primary)).await
    }

    /// Dry-runs a submission by the signer (with a placeholder commitment and digest), so the
    /// contract's own checks (registered hospital, panel, patient's key) speak before any sealing.
    pub async fn check_submission(&self, kind: EntryKind, patient: Address) -> Result<(), ChainError> {
        let (commitment, digest) = (B256::repeat_byte(1), B256::repeat_byte(1));
        match kind {
            EntryKind::Health => self.view(self.contract.submitHealthDetails(patient, commitment, digest)).await?,
            EntryKind::Bill => self.view(self.contract.submitBillDetails(patient, commitment, digest)).await?,
        };
        Ok(())
    }

    /// Submits a sealed record's commitment and envelope digest; returns the outcome with the new
    /// entry's id.
    pub async fn submit(
        &self,
        kind: EntryKind,
        patient: Address,
        commitment: B256,
        envelope_digest: B256,
    ) -> Result<TxOutcome, ChainError> {
        let receipt = match kind {
            EntryKind::Health => {
                self.transact(self.contract.submitHealthDetails(patient, commitment, envelope_digest)).await?
            }
            EntryKind::Bill => {
                self.transact(self.contract.submitBillDetails(patient, commitment, envelope_digest)).await?
            }
        };
        let event = receipt
            .decoded_log::<HealthRecords::EntrySubmitted>()
            .ok_or_else(|| ChainError::Rpc("the submission's receipt holds no EntrySubmitted event".into()))?;
        let mut outcome = TxOutcome::from_receipt(&receipt);
        outcome.entry_id = Some(event.data.id.saturating_to());
        Ok(outcome)
    }

    /// Submits several sealed records of one kind in one transaction; each becomes its own entry.
    pub async fn submit_batch(
        &self,
        kind: EntryKind,
        records: &[SealedSubmission],
    ) -> Result<BatchOutcome, ChainError> {
        let patients = records.iter().map(|r| r.patient).collect();
        let commitments = records.iter().map(|r| r.commitment).collect();
        let digests = records.iter().map(|r| r.envelope_digest).collect();
        let receipt = match kind {
            EntryKind::Health => {
                self.transact(self.contract.submitHealthDetailsBatch(patients, commitments, digests)).await?
            }
            EntryKind::Bill => {
                self.transact(self.contract.submitBillDetailsBatch(patients, commitments, digests)).await?
            }
        };
        Ok(BatchOutcome {
            tx_hash: receipt.transaction_hash,
            block: receipt.block_number.unwrap_or_default(),
            gas_used: receipt.gas_used,
            entry_ids: submitted_entry_ids(&receipt),
        })
    }

    /// Approves or rejects an entry as the signer.
    pub async fn vote(&self, id: u64, approve: bool) -> Result<TxOutcome, ChainError> {
        let id = U256::from(id);
        let receipt = if approve {
            self.transact(self.contract.approvePendingEntry(id)).await?
        } else {
            self.transact(self.contract.rejectPendingEntry(id)).await?
        };
        let mut outcome = TxOutcome::from_receipt(&receipt);
        outcome.entry_id = Some(id.saturating_to());
        Ok(outcome)
    }

    /// Approves or rejects several entries in one transaction as the signer.
    pub async fn vote_batch(&self, ids: &[u64], approve: bool) -> Result<TxOutcome, ChainError> {
        let ids: Vec<U256> = ids.iter().map(|id| U256::from(*id)).collect();
        let receipt = if approve {
            self.transact(self.contract.approvePendingEntries(ids)).await?
        } else {
            self.transact(self.contract.rejectPendingEntries(ids)).await?
        };
        Ok(TxOutcome::from_receipt(&receipt))
    }

    /// Dry-runs `voter`'s batch of votes, so that a refusal (naming the entry) is told before a
    /// wallet is asked to send it.
    pub async fn check_vote_batch(&self, voter: Address, ids: &[u64], approve: bool) -> Result<(), ChainError> {
        let ids: Vec<U256> = ids.iter().map(|id| U256::from(*id)).collect();
        let result = if approve {
            self.contract.approvePendingEntries(ids).from(voter).call().await.map(|_| ())
        } else {
            self.contract.rejectPendingEntries(ids).from(voter).call().await.map(|_| ())
        };
        result.map_err(|e| self.connection.classify(e))
    }

    /// Gas a batch of votes by the signer would use now; the contract's refusal (naming the
    /// entry) when it would revert.
    pub async fn estimate_vote_batch(&self, ids: &[u64], approve: bool) -> Result<u64, ChainError> {
        let ids: Vec<U256> = ids.iter().map(|id| U256::from(*id)).collect();
        let estimate = if approve {
            self.contract.approvePendingEntries(ids).estimate_gas().await
        } else {
            self.contract.rejectPendingEntries(ids).estimate_gas().await
        };
        estimate.map_err(|e| self.connection.classify(e))
    }

    /// Number of entries so far (ids run from 1).
    pub async fn entry_count(&self) -> Result<u64, ChainError> {
        Ok(self.view(self.contract.entryCount()).await?.saturating_to())
    }

    /// One entry's on-chain state.
    pub async fn entry(&self, id: u64) -> Result<EntryInfo, ChainError> {
        let entry = self.view(self.contract.getEntry(U256::from(id))).await?;
        Ok(EntryInfo {
            id,
            kind: EntryKind::from_u8(entry.kind)
                .ok_or_else(|| ChainError::Rpc(format!("entry {id} has unknown kind {}", entry.kind)))?,
            status: EntryStatus::from_u8(entry.status)
                .ok_or_else(|| ChainError::Rpc(format!("entry {id} has unknown status {}", entry.status)))?,
            patient: entry.patient,
            submitter: entry.submitter,
            approvals: entry.approvals,
            required_votes: entry.requiredVotes,
            panel_id: entry.panelId,
        })
    }

    /// Every entry, oldest first.
    pub async fn entries(&self) -> Result<Vec<EntryInfo>, ChainError> {
        let count = self.entry_count().await?;
        let mut entries = Vec::with_capacity(count as usize);
        for id in 1..=count {
            entries.push(self.entry(id).await?);
        }
        Ok(entries)
    }

    /// The supporting hospitals whose votes an entry needs.
    pub async fn entry_panel(&self, id: u64) -> Result<Vec<Address>, ChainError> {
        self.view(self.contract.getEntryPanel(U256::from(id))).await
    }

    /// Whether `voter` has voted on an entry.
    pub async fn has_voted(&self, id: u64, voter: Address) -> Result<bool, ChainError> {
        self.view(self.contract.hasVoted(U256::from(id), voter)).await
    }

    /// Whether `account` is a recipient of an entry: its patient, its submitter or a member of
    /// its panel.
    pub async fn is_recipient(&self, id: u64, account: Address) -> Result<bool, ChainError> {
        self.view(self.contract.isRecipient(U256::from(id), account)).await
    }

    /// An entry's submission event: its commitment and envelope digest.
    pub async fn submission(&self, id: u64) -> Result<Submission, ChainError> {
        let head = self.head_block().await?;
        self.submissions_of(&[id], head).await?.remove(&id).ok_or(ChainError::MissingSubmission { id })
    }

    /// The submission event of an entry whose transaction this process has just seen mined. On a
    /// network whose sealers briefly disagree (Clique), the block that held it can be replaced
    /// and the transaction mined again a block or two later, and a node can name a new head a
    /// moment before its logs are readable; so a missing event is looked for again, every half
    /// second for up to [`SUBMISSION_SETTLE`], before it is reported missing.
    pub async fn mined_submission(&self, id: u64) -> Result<Submission, ChainError> {
        let deadline = tokio::time::Instant::now() + SUBMISSION_SETTLE;
        loop {
            match self.submission(id).await {
                Err(ChainError::MissingSubmission { .. }) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                found => return found,
            }
        }
    }

    /// The signer's balance, in wei.
    pub async fn balance_of(&self, account: Address) -> Result<U256, ChainError> {
        self.connection
            .provider
            .get_balance(account)
            .await
            .map_err(|e| ChainError::from_transport(e, self.connection.rpc_url().as_str(), None))
    }
}
