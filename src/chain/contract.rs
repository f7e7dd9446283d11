//! Bindings for the `HealthRecords` contract, generated from the committed artifact.
//!
//! `abi/HealthRecords.json` holds the ABI and bytecode built by `cargo run -p hrm-contract-build`;
//! the binary embeds it, so deploying needs no compiler.

// The generated constructors take one argument per event field (`MembershipProposed` has eight).
#![allow(clippy::too_many_arguments)]

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    HealthRecords,
    "abi/HealthRecords.json"
);

pub use crate::records::EntryKind;

/// Where an entry stands, as the contract's `EntryStatus` enum numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryStatus {
    /// No such entry.
    None = 0,
    Pending = 1,
    Approved = 2,
    Rejected = 3,
}

impl EntryStatus {
    /// Reads the contract's enum value.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::None),
            1 => Some(Self::Pending),
            2 => Some(Self::Approved),
            3 => Some(Self::Rejected),
            _ => None,
        }
    }

    /// The status in lower case, as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "unknown",
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }
}

impl std::fmt::Display for EntryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_numbering_matches_the_contract() {
        for status in [EntryStatus::None, EntryStatus::Pending, EntryStatus::Approved, EntryStatus::Rejected] {
            assert_eq!(EntryStatus::from_u8(status as u8), Some(status));
        }
        assert_eq!(EntryStatus::from_u8(4), None);
    }
}
