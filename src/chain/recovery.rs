//! Patient recovery: a patient names guardians and how many of them must agree; when the patient
//! loses their key, that many guardians approve moving them to a new account, and the contract
//! moves their pending votes, grants, guardians and erasure requests there. The old account can
//! do nothing afterwards.

use std::collections::HashMap;

use alloy::primitives::{Address, B256, Bytes, keccak256};
use alloy::rpc::types::{Filter, TransactionReceipt};
use alloy::sol_types::SolEvent;
use serde::Serialize;

use super::contract::HealthRecords;
use super::events::decode;
use super::{ChainError, Consortium, TxOutcome};

/// Most guardians a patient may name (the contract's `MAX_GUARDIANS`).
pub const MAX_GUARDIANS: usize = 10;

/// A patient's guardians and how many of them must agree to move the patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Guardians {
    pub guardians: Vec<Address>,
    /// 0 when the patient named none.
    pub threshold: u8,
}

/// One move of a patient to a new account, as the event log tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Recovery {
    pub old_account: Address,
    pub new_account: Address,
    pub block: u64,
    pub tx_hash: B256,
}

/// Every move of the consortium's patients, to follow an address to the account that speaks for
/// it now and back to the accounts it was.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryMap {
    moved_to: HashMap<Address, Address>,
    moved_from: HashMap<Address, Address>,
}

impl RecoveryMap {
    /// The map of `recoveries` (in any order).
    pub fn new(recoveries: &[Recovery]) -> Self {
        let mut map = Self::default();
        for recovery in recoveries {
            map.record(recovery.old_account, recovery.new_account);
        }
        map
    }

    /// Adds a move of `old` to `new`.
    pub fn record(&mut self, old: Address, new: Address) {
        self.moved_to.insert(old, new);
        self.moved_from.insert(new, old);
    }

    /// `account` and the accounts it was before its moves, the latest first.
    pub fn accounts_of(&self, account: Address) -> Vec<Address> {
        std::iter::once(account).chain(self.former_accounts_of(account)).collect()
    }

    /// The account that speaks for `account` now: itself, or where it moved, through every move.
    pub fn current_of(&self, account: Address) -> Address {
        let mut current = account;
        // A move is only ever to a fresh account, so the chain has no loop; the bound is a guard.
        for _ in 0..=self.moved_to.len() {
            match self.moved_to.get(&current) {
                Some(next) => current = *next,
                None => break,
            }
        }
        current
    }

    /// The accounts `account` was before its moves, the latest first.
    pub fn former_accounts_of(&self, account: Address) -> Vec<Address> {
        let mut former = Vec::new();
        let mut current = account;
        while let Some(previous) = self.moved_from.get(&current) {
            if former.contains(previous) {
                break;
            }
            former.push(*previous);
            current = *previous;
        }
        former
    }

    /// Whether nobody ever moved.
    pub fn is_empty(&self) -> bool {
        self.moved_to.is_empty()
    }
}

/// The account a 64-byte public key (x ‖ y) belongs to.
pub fn account_of_public_key(public_key: &[u8; 64]) -> Address {
    Address::from_slice(&keccak256(public_key)[12..])
}

/// Reads a new account's public key as a guardian is given it: 64 bytes in hex (x ‖ y), with or
/// without 0x, or 65 with the 0x04 prefix of an uncompressed key.
pub fn parse_public_key(text: &str) -> Result<[u8; 64], String> {
    let hex = text.trim().trim_start_matches("0x");
    let bytes = alloy::hex::decode(hex).map_err(|_| format!("'{text}' is not hexadecimal"))?;
    let bytes = match bytes.len() {
        65 if bytes[0] == 4 => bytes[1..].to_vec(),
        _ => bytes,
    };
    bytes.try_into().map_err(|bytes: Vec<u8>| {
        format!("a public key is 64 bytes (128 hex digits, as `hrm recovery key` prints it), not {}", bytes.len())
    })
}

/// What a guardian's approval did.
#[derive(Debug, Clone, Serialize)]
pub struct RecoveryApprovalOutcome {
    pub patient: Address,
    pub new_account: Address,
    /// Approvals for this move so far, this one included.
    pub approvals: u8,
    pub threshold: u8,
    /// Whether this approval moved the patient.
    pub recovered: bool,
    #[serde(flatten)]
    pub tx: TxOutcome,
}

impl RecoveryApprovalOutcome {
    fn from_receipt(receipt: &TransactionReceipt, patient: Address, new_account: Address) -> Self {
        let mut outcome = Self {
            patient,
            new_account,
            approvals: 0,
            threshold: 0,
            recovered: false,
            tx: TxOutcome::from_receipt(receipt),
        };
        for log in receipt.logs() {
            if let Ok(event) = HealthRecords::RecoveryApproved::decode_log(&log.inner) {
                outcome.approvals = event.data.approvals;
                outcome.threshold = event.data.threshold;
            } else if HealthRecords::PatientRecovered::decode_log(&log.inner).is_ok() {
                outcome.recovered = true;
            }
        }
        outcome
    }
}

impl Consortium {
    /// The signer, a patient, names their guardians and how many must agree.
    pub async fn set_guardians(&self, guardians: Vec<Address>, threshold: u8) -> Result<TxOutcome, ChainError> {
        self.send(self.contract().setGuardians(guardians, threshold)).await
    }

    /// Dry-runs `patient`'s naming of guardians, so that a refusal is told before a wallet is
    /// asked to send it.
    pub async fn check_set_guardians(
        &self,
        patient: Address,
        guardians: Vec<Address>,
        threshold: u8,
    ) -> Result<(), ChainError> {
        let call = self.contract().setGuardians(guardians, threshold).from(patient);
        call.call().await.map(|_| ()).map_err(|e| self.connection().classify(e))
    }

    /// `patient`'s guardians and threshold.
    pub async fn guardians_of(&self, patient: Address) -> Result<Guardians, ChainError> {
        let answer = self.view(self.contract().guardiansOf(patient)).await?;
        Ok(Guardians { guardians: answer.guardians, threshold: answer.threshold })
    }

    /// The signer, a guardian of `patient`, approves moving them to the account of `public_key`.
    pub async fn approve_recovery(
        &self,
        patient: Address,
        public_key: &[u8; 64],
    ) -> Result<RecoveryApprovalOutcome, ChainError> {
        let call = self.contract().approveRecovery(patient, Bytes::copy_from_slice(public_key));
        let receipt = self.transact(call).await?;
        Ok(RecoveryApprovalOutcome::from_receipt(&receipt, patient, account_of_public_key(public_key)))
    }

    /// Dry-runs `guardian`'s approval of moving `patient` to the account of `public_key`.
    pub async fn check_approve_recovery(
        &self,
        guardian: Address,
        patient: Address,
        public_key: &[u8; 64],
    ) -> Result<(), ChainError> {
        let call = self.contract().approveRecovery(patient, Bytes::copy_from_slice(public_key)).from(guardian);
        call.call().await.map(|_| ()).map_err(|e| self.connection().classify(e))
    }

    /// How many of `patient`'s current guardians approved moving them to `new_account`.
    pub async fn recovery_approvals(&self, patient: Address, new_account: Address) -> Result<u8, ChainError> {
        self.view(self.contract().recoveryApprovals(patient, new_account)).await
    }

    /// Where `account` moved to (`None`: it did not move).
    pub async fn recovered_to(&self, account: Address) -> Result<Option<Address>, ChainError> {
        let moved = self.view(self.contract().recoveredTo(account)).await?;
        Ok((moved != Address::ZERO).then_some(moved))
    }

    /// The account that speaks for `account` now, through every move.
    pub async fn current_account_of(&self, account: Address) -> Result<Address, ChainError> {
        self.view(self.contract().currentAccountOf(account)).await
    }

    /// `patient` and every account it was before its guardians moved it, the latest first: the
    /// accounts its entries may name.
    pub async fn accounts_of_patient(&self, patient: Address) -> Result<Vec<Address>, ChainError> {
        Ok(RecoveryMap::new(&self.recoveries().await?).accounts_of(patient))
    }

    /// Every patient's move, in chain order.
    pub async fn recoveries(&self) -> Result<Vec<Recovery>, ChainError> {
        let filter = Filter::new().event_signature(HealthRecords::PatientRecovered::SIGNATURE_HASH);
        self.chain_wide_logs(filter)
            .await?
            .iter()
            .map(|log| {
                let event = decode::<HealthRecords::PatientRecovered>(log)?;
                Ok(Recovery {
                    old_account: event.oldAccount,
                    new_account: event.newAccount,
                    block: log.block_number.unwrap_or_default(),
                    tx_hash: log.transaction_hash.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// The new accounts `patient`'s guardians have approved moving them to, each with its approvals
    /// under the current guardians (moves whose approvals lapsed with an earlier set are left out),
    /// in the order they were first approved.
    pub async fn proposed_moves(&self, patient: Address) -> Result<Vec<(Address, u8)>, ChainError> {
        let filter =
            Filter::new().event_signature(HealthRecords::RecoveryApproved::SIGNATURE_HASH).topic1(patient.into_word());
        let mut accounts: Vec<Address> = Vec::new();
        for log in self.logs_since_deployment(filter).await? {
            let event = decode::<HealthRecords::RecoveryApproved>(&log)?;
            if !accounts.contains(&event.newAccount) {
                accounts.push(event.newAccount);
            }
        }
        let mut moves = Vec::new();
        for account in accounts {
            let approvals = self.recovery_approvals(patient, account).await?;
            if approvals > 0 {
                moves.push((account, approvals));
            }
        }
        Ok(moves)
    }

    /// The patients who name `guardian` among their guardians now, with their guardians.
    pub async fn guarded_by(&self, guardian: Address) -> Result<Vec<(Address, Guardians)>, ChainError> {
        let filter = Filter::new().event_signature(HealthRecords::GuardiansSet::SIGNATURE_HASH);
        let mut latest: HashMap<Address, Guardians> = HashMap::new();
        let mut order = Vec::new();
        for log in self.chain_wide_logs(filter).await? {
            let event = decode::<HealthRecords::GuardiansSet>(&log)?;
            if !latest.contains_key(&event.patient) {
                order.push(event.patient);
            }
            latest.insert(event.patient, Guardians { guardians: event.guardians, threshold: event.threshold });
        }
        let mut guarded = Vec::new();
        for patient in order {
            let guardians = latest.remove(&patient).expect("each patient in the order was seen");
            if guardians.guardians.contains(&guardian) && self.recovered_to(patient).await?.is_none() {
                guarded.push((patient, guardians));
            }
        }
        Ok(guarded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(old: u8, new: u8) -> Recovery {
        Recovery {
            old_account: Address::repeat_byte(old),
            new_account: Address::repeat_byte(new),
            block: 1,
            tx_hash: B256::ZERO,
        }
    }

    #[test]
    fn a_patient_is_followed_through_every_move() {
        let map = RecoveryMap::new(&[moved(2, 3), moved(1, 2)]);
        assert_eq!(map.current_of(Address::repeat_byte(1)), Address::repeat_byte(3));
        assert_eq!(map.current_of(Address::repeat_byte(3)), Address::repeat_byte(3));
        assert_eq!(map.current_of(Address::repeat_byte(9)), Address::repeat_byte(9));
        assert_eq!(
            map.former_accounts_of(Address::repeat_byte(3)),
            vec![Address::repeat_byte(2), Address::repeat_byte(1)]
        );
        assert!(map.former_accounts_of(Address::repeat_byte(1)).is_empty());
        assert!(RecoveryMap::default().is_empty());
    }

    #[test]
    fn public_keys_are_read_with_or_without_prefixes() {
        let key = [7u8; 64];
        let hex = alloy::hex::encode(key);
        assert_eq!(parse_public_key(&hex), Ok(key));
        assert_eq!(parse_public_key(&format!("0x{hex}")), Ok(key));
        assert_eq!(parse_public_key(&format!("0x04{hex}")), Ok(key));
        assert!(parse_public_key("0x1234").unwrap_err().contains("64 bytes"));
        assert!(parse_public_key("zz").unwrap_err().contains("not hexadecimal"));
    }
}
