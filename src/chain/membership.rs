//! Membership by majority: the hospitals' proposals to admit or remove a hospital or to change the
//! rule, their approvals, the admin's renunciation, and the release of removed hospitals' votes.

use alloy::primitives::{Address, U256};
use alloy::rpc::types::TransactionReceipt;
use alloy::sol_types::SolEvent;
use serde::Serialize;

use super::contract::HealthRecords;
use super::ledger::EntryLedger;
use super::{ChainError, Consortium, TxOutcome};

/// Entries released in one transaction: each costs a storage read per panel member.
const RELEASES_PER_TRANSACTION: usize = 50;

/// What a proposal changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MembershipChange {
    /// Admit `hospital` under `name`.
    Add { hospital: Address, name: String },
    /// Remove `hospital`.
    Remove { hospital: Address },
    /// Pass proposals with more than `percent` per cent of the hospitals, open `lifetime` seconds.
    Rule { percent: u8, lifetime: u32 },
}

impl MembershipChange {
    /// The hospital it admits or removes.
    pub fn hospital(&self) -> Option<Address> {
        match self {
            Self::Add { hospital, .. } | Self::Remove { hospital } => Some(*hospital),
            Self::Rule { .. } => None,
        }
    }

    /// The change in a few words, with `name_of` for hospitals' names (addresses left out).
    pub fn describe(&self, name_of: impl Fn(Address) -> String) -> String {
        match self {
            Self::Add { name, .. } => format!("admit {name}"),
            Self::Remove { hospital } => format!("remove {}", name_of(*hospital)),
            Self::Rule { percent, lifetime } => format!(
                "pass proposals with more than {percent}% of the hospitals, open {}",
                describe_lifetime(u64::from(*lifetime))
            ),
        }
    }
}

/// A lifetime in seconds for people: whole days or hours where it divides.
pub fn describe_lifetime(seconds: u64) -> String {
    const HOUR: u64 = 3600;
    const DAY: u64 = 24 * HOUR;
    match seconds {
        s if s % DAY == 0 => format!("{} day{}", s / DAY, if s == DAY { "" } else { "s" }),
        s if s % HOUR == 0 => format!("{} hour{}", s / HOUR, if s == HOUR { "" } else { "s" }),
        s => format!("{s} seconds"),
    }
}

/// Reads a proposal lifetime: `7d`, `12h`, or seconds. The error says what to write.
pub fn parse_lifetime(text: &str) -> Result<u32, String> {
    let bad = || format!("'{text}' is not a lifetime: write days or hours, e.g. 7d or 12h");
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((at, 'd')) => (&text[..at], 86_400),
        Some((at, 'h')) => (&text[..at], 3_600),
        _ => (text, 1),
    };
    let count: u32 = digits.parse().map_err(|_| bad())?;
    count.checked_mul(unit).ok_or_else(bad)
}

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProposalStatus {
    Open,
    Passed,
    /// Open past its expiry: it can no longer pass.
    Expired,
}

impl ProposalStatus {
    fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::Open),
            2 => Some(Self::Passed),
            3 => Some(Self::Expired),
            _ => None,
        }
    }

    /// The status in lower case, as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Passed => "passed",
            Self::Expired => "expired",
        }
    }
}

/// A membership proposal with its tally among the current hospitals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proposal {
    pub id: u64,
    pub change: MembershipChange,
    pub status: ProposalStatus,
    pub proposer: Address,
    /// Unix seconds.
    pub expires_at: u64,
    /// Approvals of current hospitals.
    pub approvals: u64,
    /// Approvals it needs to pass under today's rule and membership.
    pub approvals_needed: u64,
}

/// The rule proposals pass by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MembershipRule {
    /// A proposal passes with approvals from more than this percentage of the hospitals.
    pub percent: u8,
    /// Seconds a proposal stays open.
    pub lifetime: u32,
    /// Approvals a proposal needs now: more than `percent` of the current hospitals.
    pub approvals_needed: u64,
    /// Whether the deployer still registers hospitals itself.
    pub admin_active: bool,
}

/// What a proposal or an approval did.
#[derive(Debug, Clone, Serialize)]
pub struct ProposalOutcome {
    pub proposal_id: u64,
    /// Whether this transaction carried the proposal.
    pub passed: bool,
    /// A hospital this transaction removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<Address>,
    #[serde(flatten)]
    pub tx: TxOutcome,
}

impl ProposalOutcome {
    fn from_receipt(receipt: &TransactionReceipt, proposal_id: Option<u64>) -> Self {
        let mut outcome = Self {
            proposal_id: proposal_id.unwrap_or_default(),
            passed: false,
            removed: None,
            tx: TxOutcome::from_receipt(receipt),
        };
        for log in receipt.logs() {
            if let Ok(event) = HealthRecords::MembershipProposed::decode_log(&log.inner) {
                outcome.proposal_id = event.data.id.saturating_to();
            } else if HealthRecords::ProposalPassed::decode_log(&log.inner).is_ok() {
                outcome.passed = true;
            } else if let Ok(event) = HealthRecords::HospitalRemoved::decode_log(&log.inner) {
                outcome.removed = Some(event.data.hospital);
            }
        }
        outcome
    }
}

/// What a release of removed hospitals' votes did.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseOutcome {
    /// Entries that stopped waiting for a removed hospital.
    pub released: Vec<u64>,
    /// Those of them that were approved by it (every remaining vote had been cast).
    pub approved: Vec<u64>,
    #[serde(flatten)]
    pub tx: TxOutcome,
}

impl Consortium {
    /// Proposes `change` as the signing hospital; its own approval counts, and may carry it.
    pub async fn propose(&self, change: &MembershipChange) -> Result<ProposalOutcome, ChainError> {
        let receipt = match change {
            MembershipChange::Add { hospital, name } => {
                self.transact(self.contract().proposeAddHospital(*hospital, name.clone())).await?
            }
            MembershipChange::Remove { hospital } => {
                self.transact(self.contract().proposeRemoveHospital(*hospital)).await?
            }
            MembershipChange::Rule { percent, lifetime } => {
                self.transact(self.contract().proposeRule(*percent, *lifetime)).await?
            }
        };
        Ok(ProposalOutcome::from_receipt(&receipt, None))
    }

    /// Approves proposal `id` as the signing hospital.
    pub async fn approve_proposal(&self, id: u64) -> Result<ProposalOutcome, ChainError> {
        let receipt = self.transact(self.contract().approveProposal(U256::from(id))).await?;
        Ok(ProposalOutcome::from_receipt(&receipt, Some(id)))
    }

    /// Every proposal, oldest first.
    pub async fn proposals(&self) -> Result<Vec<Proposal>, ChainError> {
        let count: u64 = self.view(self.contract().proposalCountOf()).await?.saturating_to();
        let mut proposals = Vec::with_capacity(count as usize);
        for id in 1..=count {
            proposals.push(self.proposal(id).await?);
        }
        Ok(proposals)
    }

    /// Proposal `id`.
    pub async fn proposal(&self, id: u64) -> Result<Proposal, ChainError> {
        let view = self.view(self.contract().getProposal(U256::from(id))).await?;
        let change = match view.kind {
            1 => MembershipChange::Add { hospital: view.hospital, name: view.name },
            2 => MembershipChange::Remove { hospital: view.hospital },
            3 => MembershipChange::Rule { percent: view.percent, lifetime: view.lifetime },
            other => return Err(ChainError::Rpc(format!("proposal {id} has an unknown kind {other}"))),
        };
        let status = ProposalStatus::from_u8(view.status)
            .ok_or_else(|| ChainError::Rpc(format!("proposal {id} has an unknown status {}", view.status)))?;
        Ok(Proposal {
            id,
            change,
            status,
            proposer: view.proposer,
            expires_at: view.expiresAt,
            approvals: view.approvals.saturating_to(),
            approvals_needed: view.approvalsNeeded.saturating_to(),
        })
    }

    /// Whether `hospital` approved proposal `id`.
    pub async fn has_approved_proposal(&self, id: u64, hospital: Address) -> Result<bool, ChainError> {
        self.view(self.contract().hasApprovedProposal(U256::from(id), hospital)).await
    }

    /// The rule proposals pass by, and whether the admin still registers hospitals.
    pub async fn membership_rule(&self) -> Result<MembershipRule, ChainError> {
        let contract = self.contract();
        let (percent, lifetime, needed, renounced) = tokio::try_join!(
            self.view(contract.approvalPercent()),
            self.view(contract.proposalLifetime()),
            self.view(contract.approvalsNeeded()),
            self.view(contract.adminRenounced()),
        )?;
        Ok(MembershipRule { percent, lifetime, approvals_needed: needed.saturating_to(), admin_active: !renounced })
    }

    /// The admin gives up registering hospitals for good.
    pub async fn renounce_admin(&self) -> Result<TxOutcome, ChainError> {
        self.send(self.contract().renounceAdmin()).await
    }

    /// Releases removed hospitals' votes on every pending entry that still waits for one, read
    /// from the event log, in as many transactions as it takes; none when nothing waits.
    pub async fn release_all_removed_voters(&self) -> Result<Vec<ReleaseOutcome>, ChainError> {
        let mut ledger = EntryLedger::default();
        self.sync_ledger(&mut ledger).await?;
        let mut outcomes = Vec::new();
        for ids in ledger.waiting_on_removed().chunks(RELEASES_PER_TRANSACTION) {
            outcomes.push(self.release_removed_voters(ids).await?);
        }
        Ok(outcomes)
    }

    /// Releases removed hospitals' votes on `ids` (entries that are no longer pending are left).
    pub async fn release_removed_voters(&self, ids: &[u64]) -> Result<ReleaseOutcome, ChainError> {
        let ids: Vec<U256> = ids.iter().map(|id| U256::from(*id)).collect();
        let receipt = self.transact(self.contract().releaseRemovedVoters(ids)).await?;
        let (mut released, mut approved) = (Vec::new(), Vec::new());
        for log in receipt.logs() {
            if let Ok(event) = HealthRecords::RemovedVoterReleased::decode_log(&log.inner) {
                let id: u64 = event.data.id.saturating_to();
                if !released.contains(&id) {
                    released.push(id);
                }
            } else if let Ok(event) = HealthRecords::EntryApproved::decode_log(&log.inner) {
                approved.push(event.data.id.saturating_to());
            }
        }
        Ok(ReleaseOutcome { released, approved, tx: TxOutcome::from_receipt(&receipt) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_read_in_days_hours_or_seconds() {
        assert_eq!(parse_lifetime("7d"), Ok(7 * 86_400));
        assert_eq!(parse_lifetime("12h"), Ok(12 * 3_600));
        assert_eq!(parse_lifetime("3600"), Ok(3_600));
        for bad in ["", "d", "7 weeks", "-1d", "99999999d"] {
            let error = parse_lifetime(bad).unwrap_err();
            assert!(error.contains("e.g. 7d or 12h"), "{bad}: {error}");
        }
    }

    #[test]
    fn lifetimes_read_in_days_or_hours() {
        assert_eq!(describe_lifetime(7 * 86_400), "7 days");
        assert_eq!(describe_lifetime(86_400), "1 day");
        assert_eq!(describe_lifetime(3 * 3600), "3 hours");
        assert_eq!(describe_lifetime(90), "90 seconds");
    }
}
