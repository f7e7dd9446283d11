//! Patients' erasure requests and the holding hospitals' answers, and where each hospital's
//! server answers: the contract calls and the history read back from their events.

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use serde::Serialize;

use super::contract::HealthRecords;
use super::events::decode;
use super::{ChainError, Consortium, TxOutcome};

/// Why a hospital keeps a record whose erasure was requested: the exceptions of GDPR art. 17(3),
/// numbered as the contract's `DeferralReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeferralReason {
    /// (b) a legal obligation to keep it, e.g. medical-records or tax retention laws.
    LegalObligation = 1,
    /// (c) public health.
    PublicHealth = 2,
    /// (d) archiving in the public interest, research or statistics.
    Research = 3,
    /// (e) establishing, exercising or defending legal claims.
    LegalClaims = 4,
}

impl DeferralReason {
    /// Every reason, in the contract's order.
    pub const ALL: [Self; 4] = [Self::LegalObligation, Self::PublicHealth, Self::Research, Self::LegalClaims];

    /// The reason's name on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LegalObligation => "legal-obligation",
            Self::PublicHealth => "public-health",
            Self::Research => "research",
            Self::LegalClaims => "legal-claims",
        }
    }

    /// The reason for people, with the article that allows it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::LegalObligation => "a legal obligation to keep it (GDPR art. 17(3)(b))",
            Self::PublicHealth => "public health (GDPR art. 17(3)(c))",
            Self::Research => "archiving, research or statistics (GDPR art. 17(3)(d))",
            Self::LegalClaims => "legal claims (GDPR art. 17(3)(e))",
        }
    }

    /// Reads the contract's enum value.
    pub fn from_u8(value: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| *r as u8 == value)
    }

    /// Reads a reason's name; the error lists the names.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|r| r.as_str() == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|r| r.as_str()).collect();
            format!("'{name}' is not a reason to keep a record; use one of {}", names.join(", "))
        })
    }
}

/// A patient's request to erase one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErasureRequest {
    pub entry_id: u64,
    pub patient: Address,
    pub block: u64,
    pub tx_hash: B256,
}

/// A holding hospital's answer to an erasure request, as the events tell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ErasureAnswer {
    /// The hospital erased the record.
    Erased { block: u64, tx_hash: B256 },
    /// The hospital keeps the record until `until` (unix seconds) for `reason`.
    Kept { until: u64, reason: DeferralReason, block: u64, tx_hash: B256 },
}

/// Every erasure request and the latest answer of each hospital to each, from the events.
#[derive(Debug, Clone, Default)]
pub struct ErasureLedger {
    /// Requests by entry.
    pub requests: BTreeMap<u64, ErasureRequest>,
    /// The latest answer per entry and hospital.
    pub answers: BTreeMap<(u64, Address), ErasureAnswer>,
}

/// One holding hospital's answer to one entry's erasure request.
#[derive(Debug, Clone, Serialize)]
pub struct HolderAnswer {
    pub hospital: Address,
    /// `None`: not answered yet.
    pub answer: Option<ErasureAnswer>,
}

/// Where one entry's erasure stands.
#[derive(Debug, Clone, Serialize)]
pub struct EntryErasure {
    pub entry_id: u64,
    pub requested_block: u64,
    pub requested_tx: B256,
    /// The submitter first, then the panel.
    pub holders: Vec<HolderAnswer>,
}

impl EntryErasure {
    /// Whether every holding hospital confirmed.
    pub fn complete(&self) -> bool {
        self.holders.iter().all(|h| matches!(h.answer, Some(ErasureAnswer::Erased { .. })))
    }
}

/// The erasure events, for one query.
pub(super) const ERASURE_EVENTS: [B256; 3] = [
    HealthRecords::ErasureRequested::SIGNATURE_HASH,
    HealthRecords::ErasureConfirmed::SIGNATURE_HASH,
    HealthRecords::ErasureDeferred::SIGNATURE_HASH,
];

impl ErasureLedger {
    /// Takes in one erasure event (others are passed over).
    pub(super) fn apply(&mut self, log: &alloy::rpc::types::Log) -> Result<(), ChainError> {
        let (block, tx_hash) = (log.block_number.unwrap_or_default(), log.transaction_hash.unwrap_or_default());
        match log.topic0() {
            Some(&HealthRecords::ErasureRequested::SIGNATURE_HASH) => {
                let event = decode::<HealthRecords::ErasureRequested>(log)?;
                let entry_id = event.id.saturating_to();
                self.requests.insert(entry_id, ErasureRequest { entry_id, patient: event.patient, block, tx_hash });
            }
            Some(&HealthRecords::ErasureConfirmed::SIGNATURE_HASH) => {
                let event = decode::<HealthRecords::ErasureConfirmed>(log)?;
                self.answers
                    .insert((event.id.saturating_to(), event.hospital), ErasureAnswer::Erased { block, tx_hash });
            }
            Some(&HealthRecords::ErasureDeferred::SIGNATURE_HASH) => {
                let event = decode::<HealthRecords::ErasureDeferred>(log)?;
                let reason = DeferralReason::from_u8(event.reason)
                    .ok_or_else(|| ChainError::Rpc(format!("unknown deferral reason {}", event.reason)))?;
                let answer = ErasureAnswer::Kept { until: event.until, reason, block, tx_hash };
                self.answers.insert((event.id.saturating_to(), event.hospital), answer);
            }
            _ => {}
        }
        Ok(())
    }

    /// Where the erasure of `entry_id` stands with each of `holders`; `None` when nobody asked.
    pub fn status_of(&self, entry_id: u64, holders: impl IntoIterator<Item = Address>) -> Option<EntryErasure> {
        let request = self.requests.get(&entry_id)?;
        Some(EntryErasure {
            entry_id,
            requested_block: request.block,
            requested_tx: request.tx_hash,
            holders: holders
                .into_iter()
                .map(|hospital| HolderAnswer { hospital, answer: self.answer(entry_id, hospital).cloned() })
                .collect(),
        })
    }

    /// Whether the entry's erasure was requested.
    pub fn requested(&self, entry_id: u64) -> bool {
        self.requests.contains_key(&entry_id)
    }

    /// `hospital`'s latest answer about `entry_id`, if it gave one.
    pub fn answer(&self, entry_id: u64, hospital: Address) -> Option<&ErasureAnswer> {
        self.answers.get(&(entry_id, hospital))
    }
}

impl Consortium {
    /// The signer, a patient, asks every hospital holding `ids` to erase them.
    pub async fn request_erasure(&self, ids: &[u64]) -> Result<TxOutcome, ChainError> {
        let ids = ids.iter().map(|id| U256::from(*id)).collect();
        self.send(self.contract().requestErasure(ids)).await
    }

    /// Dry-runs `patient`'s erasure request, so that a refusal is told before a wallet sends it.
    pub async fn check_request_erasure(&self, patient: Address, ids: &[u64]) -> Result<(), ChainError> {
        let ids = ids.iter().map(|id| U256::from(*id)).collect();
        let call = self.contract().requestErasure(ids).from(patient);
        call.call().await.map(|_| ()).map_err(|e| self.connection().classify(e))
    }

    /// The signer, a hospital holding the entry, says it erased the record.
    pub async fn confirm_erasure(&self, id: u64) -> Result<TxOutcome, ChainError> {
        self.send(self.contract().confirmErasure(U256::from(id))).await
    }

    /// The signer, a hospital holding the entry, keeps the record until `until` (unix seconds).
    pub async fn defer_erasure(&self, id: u64, until: u64, reason: DeferralReason) -> Result<TxOutcome, ChainError> {
        self.send(self.contract().deferErasure(U256::from(id), until, reason as u8)).await
    }

    /// Whether the entry's patient asked for its erasure.
    pub async fn erasure_requested(&self, id: u64) -> Result<bool, ChainError> {
        let call = self.contract().erasureRequestedAt(U256::from(id));
        Ok(call.call().await.map_err(|e| self.connection().classify(e))? != 0)
    }

    /// Every erasure request (of one patient, or of all) and every answer, from the events.
    pub async fn erasure_ledger(&self, patient: Option<Address>) -> Result<ErasureLedger, ChainError> {
        let requested = Filter::new().event_signature(HealthRecords::ErasureRequested::SIGNATURE_HASH);
        let requests = match patient {
            Some(patient) => self.logs_since_deployment(requested.topic2(patient.into_word())).await?,
            None => self.chain_wide_logs(requested).await?,
        };
        let mut ledger = ErasureLedger::default();
        for log in requests {
            ledger.apply(&log)?;
        }
        if ledger.requests.is_empty() {
            return Ok(ledger);
        }
        let answered = Filter::new().event_signature(ERASURE_EVENTS[1..].to_vec());
        for log in self.chain_wide_logs(answered).await? {
            ledger.apply(&log)?;
        }
        // Answers about other patients' entries (when reading one patient's) are not kept.
        let requests = &ledger.requests;
        ledger.answers.retain(|(entry_id, _), _| requests.contains_key(entry_id));
        Ok(ledger)
    }

    /// Publishes the signer's server base URL, where other hospitals push and pull envelopes.
    pub async fn set_endpoint(&self, url: &str) -> Result<TxOutcome, ChainError> {
        self.send(self.contract().setEndpoint(url.to_string())).await
    }

    /// A hospital's published endpoint, if it has one.
    pub async fn endpoint_of(&self, hospital: Address) -> Result<Option<String>, ChainError> {
        let url = self.contract().endpointOf(hospital).call().await.map_err(|e| self.connection().classify(e))?;
        Ok((!url.is_empty()).then_some(url))
    }
}

#[cfg(test)]
mod tests {
    use super::DeferralReason;

    #[test]
    fn reasons_read_back_by_name_and_number() {
        for reason in DeferralReason::ALL {
            assert_eq!(DeferralReason::parse(reason.as_str()), Ok(reason));
            assert_eq!(DeferralReason::from_u8(reason as u8), Some(reason));
        }
        assert_eq!(DeferralReason::from_u8(0), None);
        let err = DeferralReason::parse("because").unwrap_err();
        assert!(err.contains("legal-obligation") && err.contains("because"), "{err}");
    }
}
