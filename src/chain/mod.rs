//! Everything that talks to the chain: contract bindings, the consortium client, providers,
//! deployments and revert decoding.

mod blocks;
pub mod consortium;
pub mod contract;
pub mod deployment;
pub mod dev_keys;
pub mod erasure;
mod error;
pub mod events;
pub mod failover;
pub mod ledger;
mod logs;
pub mod membership;
pub mod outbox;
pub mod provider;
pub mod recovery;
pub mod revert;
pub mod sharing;

pub use blocks::{ConfirmationRule, Confirmations, ConfirmedHead, DEFAULT_CONFIRMATION_DEPTH};
pub use consortium::{
    BatchOutcome, Connection, Consortium, EntryInfo, SealedSubmission, Submission, TxOutcome, submitted_entry_ids,
};
pub use contract::{EntryKind, EntryStatus, HealthRecords};
pub use deployment::{DeploymentRecord, DeploymentStore};
pub use erasure::{DeferralReason, EntryErasure, ErasureAnswer, ErasureLedger, ErasureRequest, HolderAnswer};
pub use error::ChainError;
pub(crate) use error::root_cause;
pub use events::Approval;
pub use membership::{
    MembershipChange, MembershipRule, Proposal, ProposalOutcome, ProposalStatus, ReleaseOutcome, parse_lifetime,
};
