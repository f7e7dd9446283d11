//! The MongoDB archive of approved records: documents, indexes, checkpoints, queries.
//!
//! Only the official driver and standard MongoDB features are used (CRUD, unique indexes, the
//! `update` command with upserts), so the archive runs unchanged against a real mongod.

pub mod archive;
pub mod checkpoint;
pub mod directory;
pub mod directory_entry;
pub mod envelopes;
pub mod erasure;
pub mod orphans;
pub mod predictions;
pub mod recovery;
pub mod sign_ins;
pub mod staff;

pub use archive::{ArchivedRecord, Provenance, RecordCollection, canonical_record_json};
pub use checkpoint::{BlockMark, MigrationCheckpoint};
pub use envelopes::{ENVELOPES_COLLECTION, EnvelopeSource};
pub use orphans::OrphanedRecord;
pub use predictions::StoredPrediction;
pub use sign_ins::{Principal, StoredSession};
pub use staff::{StaffAccount, StaffError, StaffRole};

use std::time::Duration;

use mongodb::bson::doc;
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Database, IndexModel};

/// The collection of the access log (`hrm::access::AccessLog`): one document per read of
/// patients' records.
pub const ACCESS_LOG_COLLECTION: &str = "access_log";

/// How long to look for a reachable server before calling the database unreachable.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the archive could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("'{uri}' is not a valid MongoDB URI: {message}")]
    InvalidUri { uri: String, message: String },
    #[error("cannot reach the database at {hosts}: {message}. Is it running? Set --mongodb-uri or HRM_MONGODB_URI")]
    Unreachable { hosts: String, message: String },
    #[error("database operation '{operation}' failed: {message}")]
    Operation { operation: &'static str, message: String },
    #[error("stored document {id} is damaged: {message}")]
    Damaged { id: String, message: String },
}

impl StoreError {
    pub(crate) fn operation(operation: &'static str) -> impl FnOnce(mongodb::error::Error) -> Self {
        move |e| {
            crate::metrics::metrics().database_error();
            Self::Operation { operation, message: e.to_string() }
        }
    }
}

/// A connected archive database.
#[derive(Clone, Debug)]
pub struct Archive {
    db: Database,
    hosts: String,
}

impl Archive {
    /// Connects to `uri`, checks that the server answers, and uses database `name`.
    pub async fn connect(uri: &str, name: &str) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|e| StoreError::InvalidUri { uri: redact(uri), message: e.to_string() })?;
        options.server_selection_timeout = Some(SERVER_SELECTION_TIMEOUT);
        options.app_name = Some("hrm".into());
        let hosts = options.hosts.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let client = Client::with_options(options)
            .map_err(|e| StoreError::InvalidUri { uri: redact(uri), message: e.to_string() })?;
        let db = client.database(name);
        db.run_command(doc! { "ping": 1 }).await.map_err(|e| {
            crate::metrics::metrics().database_error();
            StoreError::Unreachable { hosts: hosts.clone(), message: first_line(&e.to_string()) }
        })?;
        Ok(Self { db, hosts })
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The servers connected to, for messages.
    pub fn hosts(&self) -> &str {
        &self.hosts
    }

    /// Creates, on collection `name`, the indexes the archive's `collection` relies on; harmless
    /// when they exist. A record's `_id` is its deployment and entry id (`archive::archive_id`),
    /// so `_id` alone keeps an entry from being archived twice: each further index slows every
    /// insert (on SecantusDB, by about a third), so only the one the pages read by is kept.
    /// Archives created before that also hold `chain_entry_unique` (and health records
    /// `patient_newest`), which are left in place and cost only speed.
    pub async fn create_record_indexes(&self, collection: RecordCollection, name: &str) -> Result<(), StoreError> {
        let records = self.db.collection::<mongodb::bson::Document>(name);
        records.create_index(record_index(collection)).await.map_err(StoreError::operation("creating indexes"))?;
        Ok(())
    }

    /// Inserts `documents` into `collection` in one unordered command, passing over those whose
    /// `_id` is there already; returns how many were new. `journaled` waits for the journal.
    ///
    /// This is an upsert that never updates, at the speed of a plain insert: the database
    /// reports each existing `_id` as a duplicate key, which is the answer "already there", and
    /// any other write error is an error. (An `update` with `$setOnInsert` and `upsert` does the
    /// same at a third of the speed on SecantusDB.)
    pub(crate) async fn insert_new(
        &self,
        collection: &str,
        documents: Vec<mongodb::bson::Document>,
        journaled: bool,
        operation: &'static str,
    ) -> Result<usize, StoreError> {
        if documents.is_empty() {
            return Ok(0);
        }
        let sent = documents.len();
        let mut command = doc! { "insert": collection, "documents": documents, "ordered": false };
        if journaled {
            command.insert("writeConcern", doc! { "w": 1, "j": true });
        }
        let reply = self.db.run_command(command).await.map_err(StoreError::operation(operation))?;
        let mut present = 0;
        if let Ok(errors) = reply.get_array("writeErrors") {
            for error in errors {
                let error = error.as_document();
                match error.and_then(|e| e.get("code")).and_then(mongodb::bson::Bson::as_i32) {
                    Some(DUPLICATE_KEY) => present += 1,
                    _ => {
                        let message =
                            error.map_or_else(|| "an unreadable write error".to_string(), ToString::to_string);
                        return Err(StoreError::Operation { operation, message });
                    }
                }
            }
        }
        Ok(sent - present)
    }

    /// Inserts `documents` into `collection` with the driver's plain `insert_many`, in commands of
    /// `chunk`, after dropping whatever the collection held: the database's own bulk-insert speed,
    /// which the migration benchmark measures itself against. `indexed_as` creates first the
    /// indexes of that archive collection.
    pub async fn bulk_insert_fresh(
        &self,
        collection: &str,
        indexed_as: Option<RecordCollection>,
        documents: &[mongodb::bson::Document],
        chunk: usize,
    ) -> Result<Duration, StoreError> {
        let target = self.db.collection::<mongodb::bson::Document>(collection);
        target.drop().await.map_err(StoreError::operation("dropping a scratch collection"))?;
        if let Some(like) = indexed_as {
            self.create_record_indexes(like, collection).await?;
        }
        let started = std::time::Instant::now();
        for part in documents.chunks(chunk.max(1)) {
            target.insert_many(part).await.map_err(StoreError::operation("inserting documents"))?;
        }
        let elapsed = started.elapsed();
        target.drop().await.map_err(StoreError::operation("dropping a scratch collection"))?;
        Ok(elapsed)
    }

    /// Creates the indexes the archive relies on, each in its own command (FerretDB closes the
    /// connection when one command lists several that all exist); harmless when they exist.
    ///
    /// A server without TTL indexes (FerretDB 1.x answers NotImplemented) gets the same index
    /// without the expiry: what has expired is ignored by every read and deleted by
    /// [`Archive::delete_expired`] instead.
    pub async fn ensure_indexes(&self) -> Result<(), StoreError> {
        for (collection, index) in archive_indexes() {
            let collection = self.db.collection::<mongodb::bson::Document>(collection);
            match collection.create_index(index.clone()).await {
                Ok(_) => {}
                Err(error)
                    if is_not_implemented(&error)
                        && index.options.as_ref().is_some_and(|o| o.expire_after.is_some()) =>
                {
                    let mut options = index.options.clone().unwrap_or_default();
                    options.expire_after = None;
                    let plain = IndexModel::builder().keys(index.keys.clone()).options(options).build();
                    collection.create_index(plain).await.map_err(StoreError::operation("creating indexes"))?;
                }
                Err(error) => return Err(StoreError::operation("creating indexes")(error)),
            }
        }
        Ok(())
    }

    /// Deletes what has expired from the collections a TTL index would empty (sign-in state and
    /// the exchange's replay guard), for servers without TTL indexes and between a server's TTL
    /// sweeps. Returns how many documents went.
    pub async fn delete_expired(&self) -> Result<u64, StoreError> {
        let now = mongodb::bson::DateTime::now();
        let mut deleted = 0;
        for collection in EXPIRING_COLLECTIONS {
            let result = self
                .db
                .collection::<mongodb::bson::Document>(collection)
                .delete_many(doc! { "expires_at": { "$lte": now } })
                .await
                .map_err(StoreError::operation("deleting expired sign-in state"))?;
            deleted += result.deleted_count;
        }
        let seen_before = mongodb::bson::DateTime::from_system_time(std::time::SystemTime::now() - SEEN_REQUESTS_KEPT);
        let result = self
            .db
            .collection::<mongodb::bson::Document>(envelopes::SEEN_REQUESTS_COLLECTION)
            .delete_many(doc! { "seen_at": { "$lte": seen_before } })
            .await
            .map_err(StoreError::operation("deleting expired exchange requests"))?;
        Ok(deleted + result.deleted_count)
    }

    /// The indexes the archive relies on that the database lacks, as `(collection, index name)`.
    pub async fn missing_indexes(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut missing = Vec::new();
        for (collection, index) in archive_indexes() {
            let name = index.options.and_then(|o| o.name).unwrap_or_default();
            let present = match self.db.collection::<mongodb::bson::Document>(collection).list_index_names().await {
                Ok(names) => names,
                // A collection not created yet has no indexes.
                Err(error) if matches!(*error.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == NAMESPACE_NOT_FOUND) => {
                    Vec::new()
                }
                Err(error) => return Err(StoreError::operation("listing indexes")(error)),
            };
            if !present.contains(&name) {
                missing.push((collection.to_string(), name));
            }
        }
        Ok(missing)
    }
}

/// The server's code for a command on a collection that does not exist.
const NAMESPACE_NOT_FOUND: i32 = 26;
/// The server's code for a command or option it does not implement.
const NOT_IMPLEMENTED: i32 = 238;
/// How long the exchange's replay guard remembers a request: twice the longest a request lives.
const SEEN_REQUESTS_KEPT: Duration = Duration::from_secs(600);

fn is_not_implemented(error: &mongodb::error::Error) -> bool {
    matches!(error.kind.as_ref(), mongodb::error::ErrorKind::Command(c) if c.code == NOT_IMPLEMENTED)
}

/// Every index the archive relies on besides `_id`, with its collection.
fn archive_indexes() -> Vec<(&'static str, IndexModel)> {
    // A patient's access history, newest first.
    let by_patient = IndexModel::builder()
        .keys(doc! { "patient": 1, "_id": -1 })
        .options(IndexOptions::builder().name("patient_newest".to_string()).build())
        .build();
    // The replay guard need remember a request only as long as it could be accepted: the
    // database drops each after ten minutes (twice the longest a request lives).
    let expiring = IndexModel::builder()
        .keys(doc! { "seen_at": 1 })
        .options(IndexOptions::builder().name("seen_at_expiry".to_string()).expire_after(SEEN_REQUESTS_KEPT).build())
        .build();
    let mut indexes = vec![
        (RecordCollection::Health.name(), record_index(RecordCollection::Health)),
        (RecordCollection::Bills.name(), record_index(RecordCollection::Bills)),
        (ACCESS_LOG_COLLECTION, by_patient),
        (envelopes::SEEN_REQUESTS_COLLECTION, expiring),
    ];
    indexes.extend(EXPIRING_COLLECTIONS.into_iter().map(|collection| {
        let expiry = IndexModel::builder()
            .keys(doc! { "expires_at": 1 })
            .options(IndexOptions::builder().name("expiry".to_string()).expire_after(Duration::ZERO).build())
            .build();
        (collection, expiry)
    }));
    indexes.extend(sign_ins::sign_in_indexes());
    indexes.extend(directory::directory_indexes());
    indexes
}

/// The collections whose documents carry `expires_at` and go once it passes: sign-in state and
/// enrollment challenges.
const EXPIRING_COLLECTIONS: [&str; 5] = [
    sign_ins::SESSIONS,
    sign_ins::SIGN_IN_LINKS,
    sign_ins::SIGN_IN_NONCES,
    sign_ins::SIGN_IN_FAILURES,
    directory::ENROLLMENT_CHALLENGES,
];

/// The one index of a record collection. A record's `_id` is its deployment and entry id
/// (`archive::archive_id`), so `_id` alone keeps an entry from being archived twice: each further
/// index slows every insert (on SecantusDB, by about a third), so only the one the pages read by is
/// kept. Archives created before that also hold `chain_entry_unique` (and health records
/// `patient_newest`), which are left in place and cost only speed.
fn record_index(collection: RecordCollection) -> IndexModel {
    // Every read of records is by patient: health records also newest reading first (one index
    // serves both), bills by submission.
    match collection {
        RecordCollection::Health => {
            let mut keys = doc! { "patient": 1 };
            keys.extend(archive::LATEST_FIRST.clone());
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().name("patient_latest".to_string()).build())
                .build()
        }
        RecordCollection::Bills => IndexModel::builder()
            .keys(doc! { "patient": 1, "submission.block": -1 })
            .options(IndexOptions::builder().name("patient_newest".to_string()).build())
            .build(),
    }
}

/// The server's code for a write refused by a unique index.
const DUPLICATE_KEY: i32 = 11000;

/// Whether a write failed on a unique index: the database's answer to "already there".
pub(crate) fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(e) => {
            e.write_errors.as_ref().is_some_and(|errors| errors.iter().any(|w| w.code == DUPLICATE_KEY))
        }
        _ => error.to_string().contains("E11000") || error.to_string().contains("duplicate key"),
    }
}

/// The URI without its user name and password, for messages.
pub fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &uri[..scheme], &uri[at + 1..])
        }
        _ => uri.to_string(),
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(redact("mongodb://user:secret@db:27017/x"), "mongodb://…@db:27017/x");
        assert_eq!(redact("mongodb://db:27017"), "mongodb://db:27017");
    }
}
