//! The web app's sign-in state, kept in the archive database so that it survives a restart and
//! two servers on one database share it: sessions, one-time sign-in links, outstanding SIWE
//! nonces and failed sign-ins.
//!
//! Every document carries `expires_at`, which a TTL index lets the database delete; reads also
//! ignore expired documents, since a TTL sweep runs only about once a minute. Session ids and link
//! tokens are stored as their SHA-256, so that someone who can read the database cannot use them.

use std::time::{Duration, SystemTime};

use alloy::primitives::Address;
use mongodb::bson::{self, DateTime, doc};
use mongodb::options::{FindOneOptions, IndexOptions};
use mongodb::{Collection, IndexModel};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Archive, StaffRole, StoreError};

pub(super) const SESSIONS: &str = "web_sessions";
pub(super) const SIGN_IN_LINKS: &str = "sign_in_links";
pub(super) const SIGN_IN_NONCES: &str = "sign_in_nonces";
pub(super) const SIGN_IN_FAILURES: &str = "sign_in_failures";
/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Principal {
    Staff { username: String, roles: Vec<StaffRole> },
    Patient { address: Address },
}

impl Principal {
    /// A staff member, with the roles their account has now.
    pub fn staff(account: &super::StaffAccount) -> Self {
        Principal::Staff { username: account.username.clone(), roles: account.roles.clone() }
    }
}

/// A session as stored: its id's hash, its CSRF token, who is signed in, and a message for the
/// next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSession {
    #[serde(rename = "_id")]
    id_hash: String,
    pub csrf: String,
    pub principal: Option<Principal>,
    pub flash: Option<String>,
    /// When it was last used (written at most once a minute).
    pub last_seen: DateTime,
    pub expires_at: DateTime,
}

impl StoredSession {
    /// A session with id `id`, unused for at most `idle` before it expires.
    pub fn new(id: &str, csrf: String, principal: Option<Principal>, idle: Duration) -> Self {
        let now = SystemTime::now();
        Self {
            id_hash: hash_secret(id),
            csrf,
            principal,
            flash: None,
            last_seen: DateTime::from_system_time(now),
            expires_at: DateTime::from_system_time(now + idle),
        }
    }
}

/// A failed sign-in, counted against `key` (`ip:…` or `user:…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SignInFailure {
    key: String,
    at: DateTime,
    expires_at: DateTime,
}

/// The SHA-256 of a secret token, hex: what the database keeps instead of the token.
fn hash_secret(token: &str) -> String {
    alloy::hex::encode(Sha256::digest(token.as_bytes()))
}

fn now() -> DateTime {
    DateTime::now()
}

/// The index that counts sign-in failures, with its collection.
pub(super) fn sign_in_indexes() -> Vec<(&'static str, IndexModel)> {
    let by_key = IndexModel::builder()
        .keys(doc! { "key": 1, "at": 1 })
        .options(IndexOptions::builder().name("key_at".to_string()).build())
        .build();
    vec![(SIGN_IN_FAILURES, by_key)]
}

impl Archive {
    fn sessions(&self) -> Collection<StoredSession> {
        self.db.collection(SESSIONS)
    }

    /// Stores a new session.
    pub async fn save_session(&self, session: &StoredSession) -> Result<(), StoreError> {
        self.sessions().insert_one(session).await.map_err(StoreError::operation("saving a session"))?;
        Ok(())
    }

    /// The unexpired session with id `id`.
    pub async fn session(&self, id: &str) -> Result<Option<StoredSession>, StoreError> {
        self.sessions()
            .find_one(doc! { "_id": hash_secret(id), "expires_at": { "$gt": now() } })
            .await
            .map_err(StoreError::operation("reading a session"))
    }

    /// Marks session `id` used now; it expires `idle` from now.
    pub async fn touch_session(&self, id: &str, idle: Duration) -> Result<(), StoreError> {
        let now = SystemTime::now();
        let set = doc! { "$set": {
            "last_seen": DateTime::from_system_time(now),
            "expires_at": DateTime::from_system_time(now + idle),
        } };
        self.sessions()
            .update_one(doc! { "_id": hash_secret(id) }, set)
            .await
            .map_err(StoreError::operation("touching a session"))?;
        Ok(())
    }

    /// Ends session `id`.
    pub async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        self.sessions()
            .delete_one(doc! { "_id": hash_secret(id) })
            .await
            .map_err(StoreError::operation("ending a session"))?;
        Ok(())
    }

    /// Ends every session of staff member `username`.
    pub async fn delete_sessions_of(&self, username: &str) -> Result<(), StoreError> {
        self.sessions()
            .delete_many(doc! { "principal.kind": "staff", "principal.username": username })
            .await
            .map_err(StoreError::operation("ending a staff member's sessions"))?;
        Ok(())
    }

    /// Leaves `message` for session `id`'s next page.
    pub async fn set_session_flash(&self, id: &str, message: &str) -> Result<(), StoreError> {
        self.sessions()
            .update_one(doc! { "_id": hash_secret(id) }, doc! { "$set": { "flash": message } })
            .await
            .map_err(StoreError::operation("saving a session's message"))?;
        Ok(())
    }

    /// Removes session `id`'s message once shown, if it is still `message` (a newer one stays).
    pub async fn clear_session_flash(&self, id: &str, message: &str) -> Result<(), StoreError> {
        self.sessions()
            .update_one(doc! { "_id": hash_secret(id), "flash": message }, doc! { "$set": { "flash": null } })
            .await
            .map_err(StoreError::operation("clearing a session's message"))?;
        Ok(())
    }

    /// Sessions not yet expired, signed in or not.
    pub async fn count_sessions(&self) -> Result<u64, StoreError> {
        self.sessions()
            .count_documents(doc! { "expires_at": { "$gt": now() } })
            .await
            .map_err(StoreError::operation("counting sessions"))
    }

    /// Keeps at most `keep` signed-out sessions, deleting the least recently used beyond them.
    /// Returns how many were deleted.
    pub async fn prune_signed_out_sessions(&self, keep: u64) -> Result<u64, StoreError> {
        let signed_out = doc! { "principal": null };
        let options = FindOneOptions::builder().sort(doc! { "last_seen": -1 }).skip(keep).build();
        let Some(newest_dropped) = self
            .sessions()
            .find_one(signed_out.clone())
            .with_options(options)
            .await
            .map_err(StoreError::operation("pruning sessions"))?
        else {
            return Ok(0);
        };
        let mut older = signed_out;
        older.insert("last_seen", doc! { "$lte": newest_dropped.last_seen });
        let deleted = self.sessions().delete_many(older).await.map_err(StoreError::operation("pruning sessions"))?;
        Ok(deleted.deleted_count)
    }

    /// Stores a one-time sign-in link for `patient`, valid for `lifetime`.
    pub async fn save_sign_in_link(&self, token: &str, patient: Address, lifetime: Duration) -> Result<(), StoreError> {
        let link = doc! {
            "_id": hash_secret(token),
            "patient": patient.to_string(),
            "expires_at": DateTime::from_system_time(SystemTime::now() + lifetime),
        };
        self.db
            .collection::<bson::Document>(SIGN_IN_LINKS)
            .insert_one(link)
            .await
            .map_err(StoreError::operation("saving a sign-in link"))?;
        Ok(())
    }

    /// The patient a link signs in, using it up; `None` when unknown, used or expired.
    pub async fn redeem_sign_in_link(&self, token: &str) -> Result<Option<Address>, StoreError> {
        let link = self
            .db
            .collection::<bson::Document>(SIGN_IN_LINKS)
            .find_one_and_delete(doc! { "_id": hash_secret(token), "expires_at": { "$gt": now() } })
            .await
            .map_err(StoreError::operation("redeeming a sign-in link"))?;
        Ok(link.and_then(|link| link.get_str("patient").ok()?.parse().ok()))
    }

    /// Stores an outstanding SIWE nonce issued to `address`, until `expires`.
    pub async fn save_sign_in_nonce(
        &self,
        nonce: &str,
        address: Address,
        expires: SystemTime,
    ) -> Result<(), StoreError> {
        let outstanding = doc! {
            "_id": nonce,
            "address": address.to_string(),
            "expires_at": DateTime::from_system_time(expires),
        };
        self.db
            .collection::<bson::Document>(SIGN_IN_NONCES)
            .insert_one(outstanding)
            .await
            .map_err(StoreError::operation("saving a sign-in challenge"))?;
        Ok(())
    }

    /// Uses an outstanding nonce up: the address it was issued to and when it expires; `None`
    /// when it was never issued, is used, or the database has already expired it.
    pub async fn take_sign_in_nonce(&self, nonce: &str) -> Result<Option<(Address, SystemTime)>, StoreError> {
        let outstanding = self
            .db
            .collection::<bson::Document>(SIGN_IN_NONCES)
            .find_one_and_delete(doc! { "_id": nonce })
            .await
            .map_err(StoreError::operation("using a sign-in challenge"))?;
        Ok(outstanding.and_then(|doc| {
            let address = doc.get_str("address").ok()?.parse().ok()?;
            Some((address, doc.get_datetime("expires_at").ok()?.to_system_time()))
        }))
    }

    /// Records one failed sign-in against each of `keys`, remembered for `window`.
    pub async fn record_sign_in_failure(&self, keys: &[String], window: Duration) -> Result<(), StoreError> {
        let at = SystemTime::now();
        let failures: Vec<SignInFailure> = keys
            .iter()
            .map(|key| SignInFailure {
                key: key.clone(),
                at: DateTime::from_system_time(at),
                expires_at: DateTime::from_system_time(at + window),
            })
            .collect();
        self.db
            .collection::<SignInFailure>(SIGN_IN_FAILURES)
            .insert_many(failures)
            .await
            .map_err(StoreError::operation("recording a failed sign-in"))?;
        Ok(())
    }

    /// The failed sign-ins counted against `key` within the last `window`: how many, and when
    /// the `nth` newest (1 = the newest) happened, if there are that many.
    pub async fn sign_in_failures(
        &self,
        key: &str,
        window: Duration,
        nth: u64,
    ) -> Result<(u64, Option<SystemTime>), StoreError> {
        let since = DateTime::from_system_time(SystemTime::now() - window);
        let filter = doc! { "key": key, "at": { "$gt": since } };
        let failures = self.db.collection::<SignInFailure>(SIGN_IN_FAILURES);
        let count = failures
            .count_documents(filter.clone())
            .await
            .map_err(StoreError::operation("counting failed sign-ins"))?;
        if count < nth || nth == 0 {
            return Ok((count, None));
        }
        let options = FindOneOptions::builder().sort(doc! { "at": -1 }).skip(nth - 1).build();
        let nth_newest = failures
            .find_one(filter)
            .with_options(options)
            .await
            .map_err(StoreError::operation("counting failed sign-ins"))?;
        Ok((count, nth_newest.map(|f| f.at.to_system_time())))
    }
}
