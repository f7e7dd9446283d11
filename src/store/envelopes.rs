//! The sealed envelopes this hospital holds, by digest: the ones it sealed, and the ones other
//! hospitals pushed to it or it pulled from them. The chain keeps only each envelope's digest
//! (keccak256), so an envelope is content-addressed: stored before its submission is sent, found
//! again from the digest in the submission's event, checked against that digest whenever read.

use std::collections::HashMap;

use alloy::primitives::{B256, keccak256};
use futures_util::TryStreamExt;
use mongodb::bson::{self, Binary, doc, spec::BinarySubtype};
use serde::{Deserialize, Serialize};

use super::{Archive, StoreError};

/// The collection of envelopes.
pub const ENVELOPES_COLLECTION: &str = "envelopes";

/// Envelopes looked up per query.
const LOOKUP_CHUNK: usize = 50;

/// Where a held envelope came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeSource {
    /// This hospital sealed it.
    SealedHere,
    /// The submitter's server pushed it.
    PushedBy(alloy::primitives::Address),
    /// This hospital pulled it from the submitter's server.
    PulledFrom(alloy::primitives::Address),
}

impl std::fmt::Display for EnvelopeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SealedHere => f.write_str("sealed here"),
            Self::PushedBy(a) => write!(f, "pushed by {a}"),
            Self::PulledFrom(a) => write!(f, "pulled from {a}"),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredEnvelope {
    /// The envelope's keccak256, 0x-hex.
    #[serde(rename = "_id")]
    digest: String,
    bytes: Binary,
    source: String,
    stored_at: bson::DateTime,
}

impl Archive {
    /// Stores an envelope unless it is held already; returns its digest. Acknowledged and
    /// journaled: the submitter stores before it sends the transaction naming the digest, so a
    /// crash in between leaves an envelope without an entry, never an entry without its envelope.
    pub async fn store_envelope(&self, envelope: &[u8], source: &EnvelopeSource) -> Result<B256, StoreError> {
        Ok(self.store_envelopes(&[envelope], source).await?[0])
    }

    /// Stores several envelopes (those not held already) in one journaled command; returns their
    /// digests, in order. An import stores a whole batch's this way before sending it.
    pub async fn store_envelopes(&self, envelopes: &[&[u8]], source: &EnvelopeSource) -> Result<Vec<B256>, StoreError> {
        let mut digests = Vec::with_capacity(envelopes.len());
        let mut documents = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let digest = keccak256(envelope);
            let document = StoredEnvelope {
                digest: digest.to_string(),
                bytes: Binary { subtype: BinarySubtype::Generic, bytes: envelope.to_vec() },
                source: source.to_string(),
                stored_at: bson::DateTime::now(),
            };
            documents.push(
                bson::to_document(&document)
                    .map_err(|e| StoreError::Damaged { id: digest.to_string(), message: e.to_string() })?,
            );
            digests.push(digest);
        }
        self.insert_new(ENVELOPES_COLLECTION, documents, true, "storing envelopes").await?;
        Ok(digests)
    }

    /// The envelope with this digest, if held. A stored envelope that no longer hashes to its
    /// digest is reported as damaged, never returned.
    pub async fn envelope(&self, digest: B256) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.envelopes(&[digest]).await?.remove(&digest))
    }

    /// The held envelopes among `digests`, by digest, in a few queries.
    pub async fn envelopes(&self, digests: &[B256]) -> Result<HashMap<B256, Vec<u8>>, StoreError> {
        let mut found: Vec<StoredEnvelope> = Vec::with_capacity(digests.len());
        // In queries of [`LOOKUP_CHUNK`] ids: SecantusDB answers an `$in` of n ids in time that
        // grows with n² (2,000 ids: 3.0 s; 40 queries of 50: 0.16 s); MongoDB is as quick either way.
        for chunk in digests.chunks(LOOKUP_CHUNK) {
            let ids: Vec<String> = chunk.iter().map(ToString::to_string).collect();
            let part: Vec<StoredEnvelope> = self
                .db
                .collection::<StoredEnvelope>(ENVELOPES_COLLECTION)
                .find(doc! { "_id": { "$in": ids } })
                .await
                .map_err(StoreError::operation("reading envelopes"))?
                .try_collect()
                .await
                .map_err(StoreError::operation("reading envelopes"))?;
            found.extend(part);
        }
        let mut held = HashMap::with_capacity(found.len());
        for stored in found {
            let digest = keccak256(&stored.bytes.bytes);
            if digest.to_string() != stored.digest {
                return Err(StoreError::Damaged {
                    id: format!("{ENVELOPES_COLLECTION}/{}", stored.digest),
                    message: "the envelope no longer hashes to its digest".into(),
                });
            }
            held.insert(digest, stored.bytes.bytes);
        }
        Ok(held)
    }

    /// Deletes the envelope with this digest; whether one was held.
    pub async fn delete_envelope(&self, digest: B256) -> Result<bool, StoreError> {
        let deleted = self
            .db
            .collection::<StoredEnvelope>(ENVELOPES_COLLECTION)
            .delete_one(doc! { "_id": digest.to_string() })
            .await
            .map_err(StoreError::operation("deleting an envelope"))?;
        Ok(deleted.deleted_count > 0)
    }
}

/// The collection of exchange requests already served, for refusing a replay.
pub const SEEN_REQUESTS_COLLECTION: &str = "exchange_requests_seen";

impl Archive {
    /// Remembers a signed request by its hash; `false` when it was seen before (a replay). The
    /// unique `_id` decides, so two servers on one database agree, and a restart forgets nothing.
    pub async fn remember_request(&self, request_hash: B256) -> Result<bool, StoreError> {
        let seen = doc! { "_id": request_hash.to_string(), "seen_at": bson::DateTime::now() };
        match self.db.collection::<bson::Document>(SEEN_REQUESTS_COLLECTION).insert_one(seen).await {
            Ok(_) => Ok(true),
            Err(e) if super::is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(StoreError::operation("remembering an exchange request")(e)),
        }
    }
}

/// The collection of pushes that failed and wait to be tried again.
pub const PENDING_DELIVERIES_COLLECTION: &str = "envelope_deliveries";

/// A push of an envelope to a recipient hospital that failed, to be tried again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingDelivery {
    /// `<entry id>:<hospital>`.
    #[serde(rename = "_id")]
    pub id: String,
    pub entry_id: i64,
    /// The recipient hospital, lower-case hex.
    pub hospital: String,
    /// The envelope's digest, 0x-hex.
    pub digest: String,
    pub attempts: i32,
    pub next_attempt_at: bson::DateTime,
    /// Why the last attempt failed (the receiver's words; never the envelope).
    pub last_error: String,
}

impl Archive {
    /// Records a failed push, or another failure of a queued one, with the time of the next try.
    pub async fn queue_delivery(&self, delivery: &PendingDelivery) -> Result<(), StoreError> {
        let document = bson::to_document(delivery)
            .map_err(|e| StoreError::Damaged { id: delivery.id.clone(), message: e.to_string() })?;
        self.db
            .collection::<bson::Document>(PENDING_DELIVERIES_COLLECTION)
            .replace_one(doc! { "_id": &delivery.id }, document)
            .upsert(true)
            .await
            .map_err(StoreError::operation("queueing an envelope push"))?;
        Ok(())
    }

    /// Queued pushes due by now, oldest first.
    pub async fn due_deliveries(&self) -> Result<Vec<PendingDelivery>, StoreError> {
        self.deliveries_matching(doc! { "next_attempt_at": { "$lte": bson::DateTime::now() } }).await
    }

    /// Every queued push, oldest first, for status pages and tests.
    pub async fn pending_deliveries(&self) -> Result<Vec<PendingDelivery>, StoreError> {
        self.deliveries_matching(doc! {}).await
    }

    async fn deliveries_matching(&self, filter: bson::Document) -> Result<Vec<PendingDelivery>, StoreError> {
        self.db
            .collection::<PendingDelivery>(PENDING_DELIVERIES_COLLECTION)
            .find(filter)
            .sort(doc! { "next_attempt_at": 1 })
            .await
            .map_err(StoreError::operation("reading queued envelope pushes"))?
            .try_collect()
            .await
            .map_err(StoreError::operation("reading queued envelope pushes"))
    }

    /// Removes a queued push (delivered, or its entry erased).
    pub async fn delivery_done(&self, id: &str) -> Result<(), StoreError> {
        self.db
            .collection::<bson::Document>(PENDING_DELIVERIES_COLLECTION)
            .delete_one(doc! { "_id": id })
            .await
            .map_err(StoreError::operation("removing a queued envelope push"))?;
        Ok(())
    }
}

/// The collection of pulls that failed and wait before they are tried again.
pub const PENDING_PULLS_COLLECTION: &str = "envelope_pulls";

/// A pull of an entry's envelope from its submitter that failed, and when it may be tried again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingPull {
    /// The entry id.
    #[serde(rename = "_id")]
    pub entry_id: i64,
    pub attempts: i32,
    pub next_attempt_at: bson::DateTime,
    /// Why the last attempt failed (the submitter's words or the network's; never the envelope).
    pub last_error: String,
}

impl Archive {
    /// The failed pull of `entry_id`'s envelope, if one waits.
    pub async fn pending_pull(&self, entry_id: u64) -> Result<Option<PendingPull>, StoreError> {
        self.db
            .collection::<PendingPull>(PENDING_PULLS_COLLECTION)
            .find_one(doc! { "_id": entry_id as i64 })
            .await
            .map_err(StoreError::operation("reading a queued envelope pull"))
    }

    /// Records a failed pull with the time of the next try.
    pub async fn queue_pull(&self, pull: &PendingPull) -> Result<(), StoreError> {
        let document = bson::to_document(pull)
            .map_err(|e| StoreError::Damaged { id: pull.entry_id.to_string(), message: e.to_string() })?;
        self.db
            .collection::<bson::Document>(PENDING_PULLS_COLLECTION)
            .replace_one(doc! { "_id": pull.entry_id }, document)
            .upsert(true)
            .await
            .map_err(StoreError::operation("queueing an envelope pull"))?;
        Ok(())
    }

    /// Forgets a failed pull (it succeeded, or its entry was erased).
    pub async fn pull_done(&self, entry_id: u64) -> Result<(), StoreError> {
        self.db
            .collection::<bson::Document>(PENDING_PULLS_COLLECTION)
            .delete_one(doc! { "_id": entry_id as i64 })
            .await
            .map_err(StoreError::operation("removing a queued envelope pull"))?;
        Ok(())
    }
}
