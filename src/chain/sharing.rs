//! Patients' grants to other hospitals, and the access log's anchors: the contract calls and
//! the history read back from their events.

use std::collections::BTreeMap;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use serde::Serialize;

use super::contract::HealthRecords;
use super::events::decode;
use super::{ChainError, Consortium, TxOutcome};

/// A grant that lasts until the patient revokes it.
pub const UNTIL_REVOKED: u64 = u64::MAX;

const SECONDS_PER_DAY: u64 = 24 * 60 * 60;

/// The unix time at which `day` (YYYY-MM-DD, UTC) ends: a grant "until" a day covers all of it.
/// The error says what was wrong, for both edges to show.
pub fn end_of_day(day: &str) -> Result<u64, String> {
    let bad = || format!("'{day}' is not a date: write it as YYYY-MM-DD, e.g. 2027-01-31");
    let well_formed = day.len() == 10
        && day.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if !well_formed {
        return Err(bad());
    }
    let start = mongodb::bson::DateTime::parse_rfc3339_str(format!("{day}T00:00:00Z")).map_err(|_| bad())?;
    let seconds = u64::try_from(start.timestamp_millis() / 1000).map_err(|_| bad())?;
    Ok(seconds + SECONDS_PER_DAY)
}

/// One change to who may read a patient's records, from the contract's events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessChange {
    pub patient: Address,
    pub hospital: Address,
    /// The new expiry (unix seconds) for a grant; `None` for a revocation.
    pub expires_at: Option<u64>,
    pub block: u64,
    pub tx_hash: B256,
}

/// A hospital's standing grant from a patient, as of some chain time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StandingGrant {
    pub patient: Address,
    pub hospital: Address,
    /// Unix seconds; [`UNTIL_REVOKED`] for no end.
    pub expires_at: u64,
    /// Whether it still allows reading at the chain time it was computed for.
    pub active: bool,
    /// Where it was granted.
    pub block: u64,
}

/// The grants that stand after `history` (in chain order), judged at chain time `now`: the last
/// grant per patient and hospital that no later revocation withdrew. Expired ones are kept, marked
/// inactive, so that a list can say they ran out.
pub fn standing_grants(history: &[AccessChange], now: u64) -> Vec<StandingGrant> {
    let mut standing: BTreeMap<(Address, Address), StandingGrant> = BTreeMap::new();
    for change in history {
        let key = (change.patient, change.hospital);
        match change.expires_at {
            Some(expires_at) => {
                standing.insert(
                    key,
                    StandingGrant {
                        patient: change.patient,
                        hospital: change.hospital,
                        expires_at,
                        active: expires_at > now,
                        block: change.block,
                    },
                );
            }
            None => {
                standing.remove(&key);
            }
        }
    }
    standing.into_values().collect()
}

/// A published head of the access log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogAnchor {
    /// The hospital that published it.
    pub hospital: Address,
    /// Number of log entries it covers (entries are numbered from 1).
    pub length: u64,
    /// The hash of entry `length`.
    pub head: B256,
    pub block: u64,
    pub tx_hash: B256,
}

impl Consortium {
    /// The signer, a patient, lets `hospital` read their archived records until `expires_at`
    /// (unix seconds; [`UNTIL_REVOKED`] for no end).
    pub async fn grant_access(&self, hospital: Address, expires_at: u64) -> Result<TxOutcome, ChainError> {
        let call = self.contract().grantAccess(hospital, expires_at);
        self.send(call).await
    }

    /// The signer, a patient, withdraws `hospital`'s grant.
    pub async fn revoke_access(&self, hospital: Address) -> Result<TxOutcome, ChainError> {
        let call = self.contract().revokeAccess(hospital);
        self.send(call).await
    }

    /// Dry-runs `patient`'s grant to `hospital`, so that the contract's refusal (already granted,
    /// not a hospital, …) is told before a wallet is asked to send it.
    pub async fn check_grant_access(
        &self,
        patient: Address,
        hospital: Address,
        expires_at: u64,
    ) -> Result<(), ChainError> {
        let call = self.contract().grantAccess(hospital, expires_at).from(patient);
        call.call().await.map(|_| ()).map_err(|e| self.connection().classify(e))
    }

    /// Dry-runs `patient`'s revocation of `hospital`'s grant.
    pub async fn check_revoke_access(&self, patient: Address, hospital: Address) -> Result<(), ChainError> {
        let call = self.contract().revokeAccess(hospital).from(patient);
        call.call().await.map(|_| ()).map_err(|e| self.connection().classify(e))
    }

    /// Whether `hospital` holds an unexpired grant from `patient` at the latest block.
    pub async fn has_access(&self, patient: Address, hospital: Address) -> Result<bool, ChainError> {
        self.contract().hasAccess(patient, hospital).call().await.map_err(|e| self.connection().classify(e))
    }

    /// Publishes the access log's head: the hash of its entry number `length`. Hospitals only.
    pub async fn anchor_access_log(&self, length: u64, head: B256) -> Result<TxOutcome, ChainError> {
        let call = self.contract().anchorAccessLog(length, head);
        self.send(call).await
    }

    /// The latest block's timestamp: the time grants expire against.
    pub async fn chain_time(&self) -> Result<u64, ChainError> {
        let block = self
            .connection()
            .provider()
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(|e| ChainError::from_transport(e, self.connection().rpc_url().as_str(), None))?
            .ok_or_else(|| ChainError::Rpc("the node has no latest block".into()))?;
        Ok(block.header.timestamp)
    }

    /// Every grant and revocation, of one patient or of all, in chain order.
    pub async fn access_history(&self, patient: Option<Address>) -> Result<Vec<AccessChange>, ChainError> {
        let filter = Filter::new().event_signature(vec![
            HealthRecords::AccessGranted::SIGNATURE_HASH,
            HealthRecords::AccessRevoked::SIGNATURE_HASH,
        ]);
        let mut logs = match patient {
            Some(patient) => self.logs_since_deployment(filter.topic1(patient.into_word())).await?,
            None => self.chain_wide_logs(filter).await?,
        };
        // A hospital's removal ends its grants: read with them, in chain order.
        let removals = Filter::new().event_signature(HealthRecords::HospitalRemoved::SIGNATURE_HASH);
        logs.extend(self.chain_wide_logs(removals).await?);
        logs.sort_by_key(|log| (log.block_number, log.log_index));
        let mut changes: Vec<AccessChange> = Vec::new();
        for log in logs {
            let (block, tx_hash) = (log.block_number.unwrap_or_default(), log.transaction_hash.unwrap_or_default());
            let (patient, hospital, expires_at) = match log.topic0() {
                Some(&HealthRecords::AccessGranted::SIGNATURE_HASH) => {
                    let event = decode::<HealthRecords::AccessGranted>(&log)?;
                    (event.patient, event.hospital, Some(event.expiresAt))
                }
                Some(&HealthRecords::AccessRevoked::SIGNATURE_HASH) => {
                    let event = decode::<HealthRecords::AccessRevoked>(&log)?;
                    (event.patient, event.hospital, None)
                }
                _ => {
                    let removed = decode::<HealthRecords::HospitalRemoved>(&log)?.hospital;
                    let mut patients: Vec<Address> =
                        changes.iter().filter(|c| c.hospital == removed).map(|c| c.patient).collect();
                    patients.sort();
                    patients.dedup();
                    for patient in patients {
                        changes.push(AccessChange { patient, hospital: removed, expires_at: None, block, tx_hash });
                    }
                    continue;
                }
            };
            changes.push(AccessChange { patient, hospital, expires_at, block, tx_hash });
        }
        Ok(changes)
    }

    /// Every published access-log head, oldest first.
    pub async fn access_log_anchors(&self) -> Result<Vec<LogAnchor>, ChainError> {
        let filter = Filter::new().event_signature(HealthRecords::AccessLogAnchored::SIGNATURE_HASH);
        self.chain_wide_logs(filter)
            .await?
            .iter()
            .map(|log| {
                let event = decode::<HealthRecords::AccessLogAnchored>(log)?;
                Ok(LogAnchor {
                    hospital: event.hospital,
                    length: event.length,
                    head: event.head,
                    block: log.block_number.unwrap_or_default(),
                    tx_hash: log.transaction_hash.unwrap_or_default(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(hospital: u8, expires_at: Option<u64>, block: u64) -> AccessChange {
        AccessChange {
            patient: Address::repeat_byte(1),
            hospital: Address::repeat_byte(hospital),
            expires_at,
            block,
            tx_hash: B256::ZERO,
        }
    }

    #[test]
    fn a_revocation_ends_a_grant_and_a_later_grant_restores_it() {
        let history = [change(7, Some(UNTIL_REVOKED), 1), change(7, None, 2)];
        assert!(standing_grants(&history, 100).is_empty());
        let history = [change(7, Some(UNTIL_REVOKED), 1), change(7, None, 2), change(7, Some(500), 3)];
        let grants = standing_grants(&history, 100);
        assert_eq!(grants.len(), 1);
        assert_eq!((grants[0].expires_at, grants[0].active, grants[0].block), (500, true, 3));
    }

    #[test]
    fn a_grant_until_a_day_lasts_the_whole_day() {
        assert_eq!(end_of_day("1970-01-01").unwrap(), SECONDS_PER_DAY);
        assert_eq!(end_of_day("2027-01-31").unwrap(), 1_801_440_000);
        for bad in ["2027-1-31", "31/01/2027", "2027-02-30", "tomorrow", ""] {
            assert!(end_of_day(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_expired_grant_stands_but_is_inactive() {
        let grants = standing_grants(&[change(7, Some(100), 1), change(8, Some(101), 1)], 100);
        assert_eq!(grants.iter().map(|g| g.active).collect::<Vec<_>>(), [false, true]);
    }
}
