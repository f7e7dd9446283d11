//! Pushing a new entry's envelope to the hospitals of its panel, and trying failed pushes again
//! with back-off.

use std::collections::HashMap;
use std::time::Duration;

use alloy::primitives::{Address, B256};
use alloy::signers::local::PrivateKeySigner;
use mongodb::bson;
use serde::Serialize;

use super::{ExchangeClient, ExchangeError};
use crate::chain::{Consortium, Submission};
use crate::store::Archive;
use crate::store::archive::hex_address;
use crate::store::envelopes::PendingDelivery;

/// The wait before the first retry of a failed push; it doubles with each failure.
const FIRST_RETRY: Duration = Duration::from_secs(15);
/// The longest wait between two tries.
const LONGEST_RETRY: Duration = Duration::from_secs(60 * 60);

/// One envelope's push to one hospital.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub entry_id: u64,
    pub hospital: Address,
    /// Why it failed, for a queued push.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What pushing envelopes did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeliveryReport {
    /// Pushes that reached their hospital.
    pub delivered: Vec<Delivery>,
    /// Pushes that failed and are queued to be tried again, with the reason.
    pub queued: Vec<Delivery>,
    /// Recipient hospitals that publish no endpoint: they pull when they need the envelope.
    pub without_endpoint: Vec<Delivery>,
}

fn delivery(entry_id: u64, hospital: Address, reason: Option<String>) -> Delivery {
    Delivery { entry_id, hospital, reason }
}

/// The wait after `attempts` failures.
pub fn retry_delay(attempts: u32) -> Duration {
    FIRST_RETRY.saturating_mul(1u32 << attempts.saturating_sub(1).min(16)).min(LONGEST_RETRY)
}

/// Pushes each new entry's envelope (held in `archive`) to every hospital of its panel with an
/// endpoint; a failed push is queued for [`retry_deliveries`]. Panels and endpoints are asked of
/// the chain once per call: a batch's entries share them.
pub async fn deliver(
    consortium: &Consortium,
    archive: &Archive,
    signer: &PrivateKeySigner,
    entries: &[Submission],
) -> Result<DeliveryReport, ExchangeError> {
    let client = ExchangeClient::new(consortium, signer.clone());
    let digests: Vec<B256> = entries.iter().map(|s| s.envelope_digest).collect();
    let envelopes = archive.envelopes(&digests).await?;
    let mut panels: HashMap<u32, Vec<Address>> = HashMap::new();
    let mut endpoints: HashMap<Address, Option<String>> = HashMap::new();
    let mut report = DeliveryReport::default();
    for submission in entries {
        let (entry_id, digest) = (&submission.id, &submission.envelope_digest);
        let Some(envelope) = envelopes.get(digest) else { continue };
        let panel = match panels.entry(submission.panel_id) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(new) => new.insert(consortium.entry_panel(*entry_id).await?),
        };
        for &hospital in panel.iter() {
            if hospital == signer.address() {
                continue;
            }
            let endpoint = match endpoints.entry(hospital) {
                std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
                std::collections::hash_map::Entry::Vacant(new) => new.insert(consortium.endpoint_of(hospital).await?),
            };
            let Some(endpoint) = endpoint.as_deref() else {
                report.without_endpoint.push(delivery(*entry_id, hospital, None));
                continue;
            };
            match client.push(endpoint, *entry_id, envelope).await {
                Ok(()) => report.delivered.push(delivery(*entry_id, hospital, None)),
                Err(e) => {
                    let reason = e.to_string();
                    archive.queue_delivery(&pending(*entry_id, hospital, *digest, 1, &reason)).await?;
                    report.queued.push(delivery(*entry_id, hospital, Some(reason)));
                }
            }
        }
    }
    Ok(report)
}

/// Tries again every queued push that is due; a success leaves the queue, a failure waits twice
/// as long as before (up to an hour). Entries whose erasure was requested, and hospitals removed
/// from the consortium, leave the queue unsent.
pub async fn retry_deliveries(
    consortium: &Consortium,
    archive: &Archive,
    signer: &PrivateKeySigner,
) -> Result<DeliveryReport, ExchangeError> {
    let client = ExchangeClient::new(consortium, signer.clone());
    let mut report = DeliveryReport::default();
    for queued in archive.due_deliveries().await? {
        let entry_id = queued.entry_id as u64;
        let (Ok(hospital), Ok(digest)) = (queued.hospital.parse::<Address>(), queued.digest.parse::<B256>()) else {
            archive.delivery_done(&queued.id).await?;
            continue;
        };
        // Gone when the entry was erased here meanwhile.
        let Some(envelope) = archive.envelope(digest).await? else {
            archive.delivery_done(&queued.id).await?;
            continue;
        };
        // Dropped when the entry was erased, or the hospital removed from the consortium.
        if consortium.erasure_requested(entry_id).await? || !consortium.is_recipient(entry_id, hospital).await? {
            archive.delivery_done(&queued.id).await?;
            continue;
        }
        let outcome = match consortium.endpoint_of(hospital).await? {
            Some(endpoint) => client.push(&endpoint, entry_id, &envelope).await,
            None => Err(ExchangeError::Unreachable {
                url: format!("hospital {hospital}"),
                message: "it no longer publishes an endpoint".into(),
            }),
        };
        match outcome {
            Ok(()) => {
                archive.delivery_done(&queued.id).await?;
                report.delivered.push(delivery(entry_id, hospital, None));
            }
            Err(e) => {
                let reason = e.to_string();
                let attempts = queued.attempts.saturating_add(1).max(1) as u32;
                archive.queue_delivery(&pending(entry_id, hospital, digest, attempts, &reason)).await?;
                report.queued.push(delivery(entry_id, hospital, Some(reason)));
            }
        }
    }
    Ok(report)
}

fn pending(entry_id: u64, hospital: Address, digest: B256, attempts: u32, reason: &str) -> PendingDelivery {
    let wait = retry_delay(attempts);
    PendingDelivery {
        id: format!("{entry_id}:{}", hex_address(hospital)),
        entry_id: entry_id as i64,
        hospital: hex_address(hospital),
        digest: digest.to_string(),
        attempts: attempts as i32,
        next_attempt_at: bson::DateTime::from_millis(
            bson::DateTime::now().timestamp_millis() + wait.as_millis() as i64,
        ),
        last_error: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(retry_delay(1), FIRST_RETRY);
        assert_eq!(retry_delay(2), FIRST_RETRY * 2);
        assert_eq!(retry_delay(4), FIRST_RETRY * 8);
        assert_eq!(retry_delay(40), LONGEST_RETRY);
    }
}
