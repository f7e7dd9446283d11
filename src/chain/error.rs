//! What can go wrong talking to the chain, told so a person knows what to do.

use alloy::primitives::{Address, B256};
use alloy::providers::PendingTransactionError;
use alloy::transports::TransportError;

use super::revert::{contract_error_name, decode_contract_error, describe_contract_error};

/// A failure talking to the chain or the contract.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("cannot reach the JSON-RPC endpoint {url}: {reason}. Is the node running? Set --rpc-url or HRM_RPC_URL")]
    Unreachable { url: String, reason: String },
    #[error("the contract refused: {message} ({name})")]
    Reverted { name: &'static str, message: String },
    #[error("{account} cannot pay for this transaction's gas: fund it with the chain's native currency first")]
    InsufficientFunds { account: String },
    #[error(
        "no HealthRecords contract is saved for chain {chain_id}: run `hrm deploy` first, or point --rpc-url at the chain it was deployed on"
    )]
    NoDeployment { chain_id: u64 },
    #[error(
        "there is no contract code at the saved address {address} on chain {chain_id} (was the chain reset?); run `hrm deploy --force` to deploy anew"
    )]
    NoCode { address: Address, chain_id: u64 },
    #[error(
        "a HealthRecords contract is already saved for chain {chain_id} at {address}; pass --force to deploy a new one and replace it"
    )]
    AlreadyDeployed { chain_id: u64, address: Address },
    #[error(
        "transaction {tx_hash} was sent but no receipt arrived within {seconds} s; check it later with `cast receipt {tx_hash}` or raise --receipt-timeout"
    )]
    ReceiptTimeout { tx_hash: B256, seconds: u64 },
    #[error("transaction {tx_hash} was mined but reverted")]
    Failed { tx_hash: B256 },
    #[error("no submission event found for entry {id}")]
    MissingSubmission { id: u64 },
    #[error("the node answered with an error: {0}")]
    Rpc(String),
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: std::path::PathBuf, source: std::io::Error },
    #[error("the deployment record {path} is damaged: {message}")]
    DamagedDeployment { path: std::path::PathBuf, message: String },
}

impl ChainError {
    /// Classifies a failed contract call or transaction sent from `sender`.
    pub fn from_contract_error(error: alloy::contract::Error, url: &str, sender: Option<Address>) -> Self {
        if let Some(decoded) = decode_contract_error(&error) {
            return Self::Reverted { name: contract_error_name(&decoded), message: describe_contract_error(&decoded) };
        }
        match error {
            alloy::contract::Error::TransportError(e) => Self::from_transport(e, url, sender),
            alloy::contract::Error::PendingTransactionError(PendingTransactionError::TransportError(e)) => {
                Self::from_transport(e, url, sender)
            }
            other => Self::Rpc(other.to_string()),
        }
    }

    /// Classifies a failed JSON-RPC request.
    pub fn from_transport(error: TransportError, url: &str, sender: Option<Address>) -> Self {
        if error.is_transport_error() {
            crate::metrics::metrics().node_error();
            return Self::Unreachable { url: url.to_string(), reason: root_cause(&error) };
        }
        let text = error.to_string();
        if text.to_ascii_lowercase().contains("insufficient funds") {
            let account = sender.map_or_else(|| "the sender".to_string(), |a| a.to_string());
            return Self::InsufficientFunds { account };
        }
        crate::metrics::metrics().node_error();
        Self::Rpc(text)
    }
}

/// The innermost cause of an error, which says what actually went wrong ("connection refused").
pub(crate) fn root_cause(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
