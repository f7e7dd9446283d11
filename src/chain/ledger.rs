//! The consortium's entries as the event log tells them: who submitted what about whom, each vote,
//! and how each entry ended, with the transaction of every step; and the hospitals' names.
//!
//! The web app asks "what waits for this hospital's vote?" and "what happened to entry 7?" on every
//! page; answering from contract views would cost one call per entry. An `EntryLedger` is built
//! once from the log and brought up to date by reading only the blocks mined since, so a page costs
//! one `eth_getLogs` over a few new blocks.

use std::collections::{BTreeMap, HashMap, HashSet};

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;

use super::contract::HealthRecords;
use super::erasure::{ERASURE_EVENTS, EntryErasure, ErasureLedger};
use super::events::decode;
use super::logs::BLOCKS_PER_QUERY;
use super::recovery::RecoveryMap;
use super::sharing::{AccessChange, StandingGrant, standing_grants};
use super::{ChainError, Consortium, EntryKind, EntryStatus};

/// Where on chain one step happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainStep {
    pub tx_hash: B256,
    pub block: u64,
    /// The block's timestamp (unix seconds).
    pub time: u64,
}

/// One vote on an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerVote {
    pub voter: Address,
    pub approve: bool,
    pub at: ChainStep,
}

/// An entry as the log tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: u64,
    pub kind: EntryKind,
    /// The account that speaks for the patient now: the one the entry was submitted about, or
    /// where the patient's guardians moved them since.
    pub patient: Address,
    /// The accounts the patient had before, the one the entry was submitted about first.
    pub former_patients: Vec<Address>,
    pub submitter: Address,
    pub commitment: B256,
    /// The hospitals whose votes the entry needs besides the patient's (its panel snapshot).
    pub panel: Vec<Address>,
    pub submitted: ChainStep,
    /// Votes in the order they were mined.
    pub votes: Vec<LedgerVote>,
    /// Removed hospitals of the panel whose votes the entry no longer waits for.
    pub released: Vec<Address>,
    pub status: EntryStatus,
    /// The approving or rejecting step, once the entry is decided.
    pub decided: Option<ChainStep>,
}

impl LedgerEntry {
    /// Everyone whose vote the entry needs: the patient, then its panel.
    pub fn voters(&self) -> Vec<Address> {
        std::iter::once(self.patient).chain(self.panel.iter().copied()).collect()
    }

    /// Whether `account` must vote on the entry (a removed hospital whose vote was released no
    /// longer must).
    pub fn needs_vote_of(&self, account: Address) -> bool {
        account == self.patient || (self.panel.contains(&account) && !self.released.contains(&account))
    }

    /// `account`'s vote, if it has voted.
    pub fn vote_of(&self, account: Address) -> Option<&LedgerVote> {
        self.votes.iter().find(|vote| vote.voter == account)
    }

    /// Whether the entry is pending and `account` still has to vote on it.
    pub fn awaits_vote_of(&self, account: Address) -> bool {
        self.status == EntryStatus::Pending && self.needs_vote_of(account) && self.vote_of(account).is_none()
    }

    /// Approvals so far and approvals needed.
    pub fn approvals(&self) -> (usize, usize) {
        (self.votes.iter().filter(|vote| vote.approve).count(), self.panel.len() + 1 - self.released.len())
    }
}

/// Every entry of one deployment, read from its event log up to `synced_to`.
#[derive(Debug, Clone, Default)]
pub struct EntryLedger {
    entries: BTreeMap<u64, LedgerEntry>,
    panels: HashMap<u32, Vec<Address>>,
    hospitals: HashMap<Address, String>,
    /// Hospitals removed from the consortium (and not admitted again since).
    removed: HashSet<Address>,
    /// Patients' grants and revocations, in chain order.
    access_changes: Vec<AccessChange>,
    /// Erasure requests and the holders' answers.
    erasures: ErasureLedger,
    /// Patients' moves to new accounts.
    recoveries: RecoveryMap,
    /// The last block read and its hash, to notice when the chain reorganised under it.
    synced_to: Option<(u64, B256)>,
    /// That block's timestamp: the time grants are judged at.
    synced_time: u64,
}

impl EntryLedger {
    /// An entry by id.
    pub fn entry(&self, id: u64) -> Option<&LedgerEntry> {
        self.entries.get(&id)
    }

    /// Every entry, newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &LedgerEntry> {
        self.entries.values().rev()
    }

    /// The entries waiting for `account`'s vote, oldest first (the order to work through them).
    /// None for a removed hospital, which no longer votes.
    pub fn awaiting_vote_of(&self, account: Address) -> Vec<&LedgerEntry> {
        if self.removed.contains(&account) {
            return Vec::new();
        }
        self.entries.values().filter(|entry| entry.awaits_vote_of(account)).collect()
    }

    /// Pending entries that still wait for the vote of a removed hospital: the ones
    /// `Consortium::release_removed_voters` moves on.
    pub fn waiting_on_removed(&self) -> Vec<u64> {
        self.entries
            .values()
            .filter(|entry| self.removed.iter().any(|hospital| entry.awaits_vote_of(*hospital)))
            .map(|entry| entry.id)
            .collect()
    }

    /// Whether `hospital` was removed from the consortium (and not admitted again).
    pub fn is_removed(&self, hospital: Address) -> bool {
        self.removed.contains(&hospital)
    }

    /// `patient` and the accounts their guardians moved them from, the latest first.
    pub fn accounts_of(&self, patient: Address) -> Vec<Address> {
        self.recoveries.accounts_of(patient)
    }

    /// The entries about `patient`, newest first.
    pub fn about_patient(&self, patient: Address) -> Vec<&LedgerEntry> {
        self.newest_first().filter(|entry| entry.patient == patient).collect()
    }

    /// The entries `submitter` submitted, newest first.
    pub fn submitted_by(&self, submitter: Address) -> Vec<&LedgerEntry> {
        self.newest_first().filter(|entry| entry.submitter == submitter).collect()
    }

    /// How many entries have each status.
    pub fn count_by_status(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for entry in self.entries.values() {
            *counts.entry(entry.status.as_str()).or_default() += 1;
        }
        counts
    }

    /// Every panel, by id.
    pub fn panels(&self) -> &HashMap<u32, Vec<Address>> {
        &self.panels
    }

    /// Registered hospitals' names, by address.
    pub fn hospital_names(&self) -> &HashMap<Address, String> {
        &self.hospitals
    }

    /// `patient`'s grants to hospitals as of the last block read (expired ones marked inactive).
    pub fn grants_of(&self, patient: Address) -> Vec<StandingGrant> {
        let changes: Vec<AccessChange> =
            self.access_changes.iter().filter(|change| change.patient == patient).cloned().collect();
        standing_grants(&changes, self.synced_time)
    }

    /// Where each of `patient`'s erasure requests stands, hospital by hospital (the submitter,
    /// then the panel), oldest entry first.
    pub fn erasures_of(&self, patient: Address) -> Vec<EntryErasure> {
        self.erasures
            .requests
            .values()
            .filter(|request| request.patient == patient)
            .filter_map(|request| {
                let entry = self.entries.get(&request.entry_id)?;
                let holders = std::iter::once(entry.submitter).chain(entry.panel.iter().copied());
                self.erasures.status_of(request.entry_id, holders)
            })
            .collect()
    }

    /// The last block read.
    pub fn synced_to(&self) -> Option<u64> {
        self.synced_to.map(|(number, _)| number)
    }

    /// Applies one event, mined in a block with timestamp `time`.
    fn apply(&mut self, log: &Log, time: u64) -> Result<(), ChainError> {
        let at = ChainStep {
            tx_hash: log.transaction_hash.unwrap_or_default(),
            block: log.block_number.unwrap_or_default(),
            time,
        };
        let Some(signature) = log.topic0().copied() else { return Ok(()) };
        if signature == HealthRecords::HospitalRegistered::SIGNATURE_HASH {
            let event = decode::<HealthRecords::HospitalRegistered>(log)?;
            self.removed.remove(&event.hospital);
            self.hospitals.insert(event.hospital, event.name);
        } else if signature == HealthRecords::HospitalRemoved::SIGNATURE_HASH {
            let event = decode::<HealthRecords::HospitalRemoved>(log)?;
            self.remove_hospital(event.hospital, at);
        } else if signature == HealthRecords::RemovedVoterReleased::SIGNATURE_HASH {
            let event = decode::<HealthRecords::RemovedVoterReleased>(log)?;
            if let Some(entry) = self.entries.get_mut(&event.id.saturating_to()) {
                entry.released.push(event.hospital);
            }
        } else if signature == HealthRecords::SupportingHospitalsSet::SIGNATURE_HASH {
            let event = decode::<HealthRecords::SupportingHospitalsSet>(log)?;
            self.panels.insert(event.panelId, event.hospitals);
        } else if signature == HealthRecords::EntrySubmitted::SIGNATURE_HASH {
            let event = decode::<HealthRecords::EntrySubmitted>(log)?;
            let id = event.id.saturating_to();
            let kind = EntryKind::from_u8(event.kind)
                .ok_or_else(|| ChainError::Rpc(format!("entry {id} has an unknown kind {}", event.kind)))?;
            self.entries.insert(
                id,
                LedgerEntry {
                    id,
                    kind,
                    patient: event.patient,
                    former_patients: Vec::new(),
                    submitter: event.submitter,
                    commitment: event.commitment,
                    panel: self.panels.get(&event.panelId).cloned().unwrap_or_default(),
                    submitted: at,
                    votes: Vec::new(),
                    released: Vec::new(),
                    status: EntryStatus::Pending,
                    decided: None,
                },
            );
        } else if signature == HealthRecords::VoteCast::SIGNATURE_HASH {
            let event = decode::<HealthRecords::VoteCast>(log)?;
            self.vote(event.id.saturating_to(), event.voter, true, at);
        } else if signature == HealthRecords::EntryApproved::SIGNATURE_HASH {
            // The last approving vote: a vote, and the decision. Voter 0: no vote, the release of
            // a removed hospital's vote completed it.
            let event = decode::<HealthRecords::EntryApproved>(log)?;
            if event.voter != Address::ZERO {
                self.vote(event.id.saturating_to(), event.voter, true, at);
            }
            self.decide(event.id.saturating_to(), EntryStatus::Approved, at);
        } else if signature == HealthRecords::EntryRejected::SIGNATURE_HASH {
            let event = decode::<HealthRecords::EntryRejected>(log)?;
            self.vote(event.id.saturating_to(), event.rejectedBy, false, at);
            self.decide(event.id.saturating_to(), EntryStatus::Rejected, at);
        } else if signature == HealthRecords::AccessGranted::SIGNATURE_HASH {
            let event = decode::<HealthRecords::AccessGranted>(log)?;
            self.access_changes.push(AccessChange {
                patient: event.patient,
                hospital: event.hospital,
                expires_at: Some(event.expiresAt),
                block: at.block,
                tx_hash: at.tx_hash,
            });
        } else if ERASURE_EVENTS.contains(&signature) {
            self.erasures.apply(log)?;
        } else if signature == HealthRecords::PatientRecovered::SIGNATURE_HASH {
            let event = decode::<HealthRecords::PatientRecovered>(log)?;
            self.move_patient(event.oldAccount, event.newAccount);
        } else if signature == HealthRecords::AccessRevoked::SIGNATURE_HASH {
            let event = decode::<HealthRecords::AccessRevoked>(log)?;
            self.access_changes.push(AccessChange {
                patient: event.patient,
                hospital: event.hospital,
                expires_at: None,
                block: at.block,
                tx_hash: at.tx_hash,
            });
        }
        Ok(())
    }

    /// A removed hospital votes no more, and every grant to it ends (the contract ties a grant to
    /// the membership it was given in, so a later readmission does not revive it).
    fn remove_hospital(&mut self, hospital: Address, at: ChainStep) {
        self.removed.insert(hospital);
        let patients: HashSet<Address> = self
            .access_changes
            .iter()
            .filter(|change| change.hospital == hospital)
            .map(|change| change.patient)
            .collect();
        for patient in patients {
            self.access_changes.push(AccessChange {
                patient,
                hospital,
                expires_at: None,
                block: at.block,
                tx_hash: at.tx_hash,
            });
        }
    }

    /// A recovered patient's entries, votes and erasure requests follow them to their new account
    /// (their grants follow through the contract's own revocations and grants).
    fn move_patient(&mut self, old: Address, new: Address) {
        self.recoveries.record(old, new);
        for entry in self.entries.values_mut().filter(|entry| entry.patient == old) {
            entry.patient = new;
            entry.former_patients.push(old);
            for vote in entry.votes.iter_mut().filter(|vote| vote.voter == old) {
                vote.voter = new;
            }
        }
        for request in self.erasures.requests.values_mut().filter(|request| request.patient == old) {
            request.patient = new;
        }
    }

    fn vote(&mut self, id: u64, voter: Address, approve: bool, at: ChainStep) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.votes.push(LedgerVote { voter, approve, at });
        }
    }

    fn decide(&mut self, id: u64, status: EntryStatus, at: ChainStep) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.status = status;
            entry.decided = Some(at);
        }
    }
}

impl Consortium {
    /// Brings `ledger` up to the head: reads the blocks mined since it was last brought up to
    /// date, or everything again when the block it last read is no longer on the chain.
    pub async fn sync_ledger(&self, ledger: &mut EntryLedger) -> Result<(), ChainError> {
        let provider = self.connection().provider();
        let rpc_error = |e| ChainError::from_transport(e, self.connection().rpc_url().as_str(), None);
        if let Some((number, hash)) = ledger.synced_to {
            let still_there = provider
                .get_block_by_number(number.into())
                .await
                .map_err(rpc_error)?
                .is_some_and(|block| block.header.hash == hash);
            if !still_there {
                *ledger = EntryLedger::default();
            }
        }
        let head = provider.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest).await.map_err(rpc_error)?;
        let Some(head) = head else { return Ok(()) };
        let (head_number, head_hash) = (head.header.number, head.header.hash);
        let mut start = ledger.synced_to.map_or(self.deployment().deploy_block, |(number, _)| number + 1);
        let signatures = vec![
            HealthRecords::HospitalRegistered::SIGNATURE_HASH,
            HealthRecords::HospitalRemoved::SIGNATURE_HASH,
            HealthRecords::RemovedVoterReleased::SIGNATURE_HASH,
            HealthRecords::SupportingHospitalsSet::SIGNATURE_HASH,
            HealthRecords::EntrySubmitted::SIGNATURE_HASH,
            HealthRecords::VoteCast::SIGNATURE_HASH,
            HealthRecords::EntryApproved::SIGNATURE_HASH,
            HealthRecords::EntryRejected::SIGNATURE_HASH,
            HealthRecords::AccessGranted::SIGNATURE_HASH,
            HealthRecords::AccessRevoked::SIGNATURE_HASH,
            HealthRecords::PatientRecovered::SIGNATURE_HASH,
        ];
        let signatures = [signatures, ERASURE_EVENTS.to_vec()].concat();
        while start <= head_number {
            let end = head_number.min(start + BLOCKS_PER_QUERY - 1);
            let filter = Filter::new()
                .address(self.deployment().address)
                .event_signature(signatures.clone())
                .from_block(start)
                .to_block(end);
            // Nodes that give a log's block time with it (Anvil) spare a read of its block;
            // others (Geth 1.13) are asked once per block.
            let mut times: HashMap<u64, u64> = HashMap::new();
            for log in provider.get_logs(&filter).await.map_err(rpc_error)? {
                let block = log.block_number.unwrap_or_default();
                let time = match (log.block_timestamp, times.get(&block)) {
                    (Some(time), _) | (None, Some(&time)) => time,
                    (None, None) => {
                        let header = provider.get_block_by_number(block.into()).await.map_err(rpc_error)?;
                        let time = header.map_or(0, |b| b.header.timestamp);
                        times.insert(block, time);
                        time
                    }
                };
                ledger.apply(&log, time)?;
            }
            start = end + 1;
        }
        ledger.synced_to = Some((head_number, head_hash));
        ledger.synced_time = head.header.timestamp;
        Ok(())
    }
}
