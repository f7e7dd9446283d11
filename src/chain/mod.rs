//! Everything that talks to the chain: contract bindings, providers, keys, revert decoding.

pub mod contract;
pub mod dev_keys;
pub mod keys;
pub mod provider;
pub mod revert;

pub use contract::{EntryKind, EntryStatus, HealthRecords};
