//! The patient directory's collections: `patient_directory` (one document per MRN),
//! `patient_accounts` (one per enrolled account, naming its MRN) and `enrollment_challenges`
//! (outstanding one-time challenges, by the hash of their code).
//!
//! An enrollment is one insert into `patient_accounts`, whose `_id` is the account and whose MRN
//! is uniquely indexed: so an account enrolls once, an MRN is linked once, and a crash leaves
//! either the whole link or none.

use std::collections::HashMap;

use alloy::primitives::Address;
use futures_util::TryStreamExt;
use mongodb::bson::{self, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use serde::{Deserialize, Serialize};

use super::archive::hex_address;
use super::directory_entry::{DirectoryError, DirectoryPatient, KnownPatient, PatientSearch};
use super::{Archive, StoreError, is_duplicate_key};

pub(super) const DIRECTORY: &str = "patient_directory";
pub(super) const ACCOUNTS: &str = "patient_accounts";
pub(super) const ENROLLMENT_CHALLENGES: &str = "enrollment_challenges";

/// The link enrollment stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrolledAccount {
    /// The account, lower-case hex.
    #[serde(rename = "_id")]
    pub account: String,
    pub mrn: String,
    /// The hospital whose directory this is, lower-case hex: its MRNs are its own.
    pub hospital: String,
    pub enrolled_at: bson::DateTime,
    /// The staff member who issued the challenge the patient signed.
    pub enrolled_by: String,
}

/// An outstanding enrollment challenge as stored (the code's hash, never the code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEnrollmentChallenge {
    /// SHA-256 of the one-time code, hex.
    #[serde(rename = "_id")]
    pub code_hash: String,
    pub mrn: String,
    pub issued_by: String,
    /// The server's host, which the message names.
    pub domain: String,
    /// The hospital's account, lower-case hex.
    pub hospital: String,
    pub expires_at: bson::DateTime,
}

/// The directory's indexes besides `_id`: names and birth dates for search, and MRNs unique among
/// links (the challenges' expiry is with the other expiring collections').
pub(super) fn directory_indexes() -> Vec<(&'static str, IndexModel)> {
    let index = |keys: Document, name: &str, unique: bool| {
        IndexModel::builder()
            .keys(keys)
            .options(IndexOptions::builder().name(name.to_string()).unique(unique).build())
            .build()
    };
    vec![
        (DIRECTORY, index(doc! { "name_words": 1 }, "name_words", false)),
        (DIRECTORY, index(doc! { "birth_date": 1 }, "birth_date", false)),
        (ACCOUNTS, index(doc! { "mrn": 1 }, "mrn_unique", true)),
    ]
}

/// Matches of a search, as a filter on `patient_directory` (an account is looked up through its
/// link first, by the caller).
fn search_filter(search: &PatientSearch) -> Document {
    match search {
        PatientSearch::All | PatientSearch::Account(_) => doc! {},
        PatientSearch::BirthDate(date) => doc! { "birth_date": date },
        PatientSearch::MrnOrName { mrn, words } => {
            let by_mrn = doc! { "_id": mrn };
            if search.names_too_short() {
                return by_mrn;
            }
            let by_name: Vec<Document> =
                words.iter().map(|w| doc! { "name_words": { "$regex": format!("^{}", escape_regex(w)) } }).collect();
            doc! { "$or": [by_mrn, { "$and": by_name }] }
        }
    }
}

fn escape_regex(text: &str) -> String {
    text.chars().fold(String::new(), |mut out, c| {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

impl Archive {
    fn directory(&self) -> Collection<DirectoryPatient> {
        self.db.collection(DIRECTORY)
    }

    fn accounts(&self) -> Collection<EnrolledAccount> {
        self.db.collection(ACCOUNTS)
    }

    fn enrollment_challenges(&self) -> Collection<StoredEnrollmentChallenge> {
        self.db.collection(ENROLLMENT_CHALLENGES)
    }

    /// Adds a patient; refused when the MRN is taken.
    pub async fn add_directory_patient(&self, patient: &DirectoryPatient) -> Result<(), DirectoryError> {
        match self.directory().insert_one(patient).await {
            Ok(_) => Ok(()),
            Err(error) if is_duplicate_key(&error) => Err(DirectoryError::DuplicateMrn { mrn: patient.mrn.clone() }),
            Err(error) => Err(StoreError::operation("adding a patient to the directory")(error).into()),
        }
    }

    /// The patient with `mrn` and their linked account.
    pub async fn directory_patient(&self, mrn: &str) -> Result<Option<KnownPatient>, StoreError> {
        let Some(patient) = self
            .directory()
            .find_one(doc! { "_id": mrn })
            .await
            .map_err(StoreError::operation("reading the patient directory"))?
        else {
            return Ok(None);
        };
        let account = self.account_of_mrn(mrn).await?;
        Ok(Some(KnownPatient { patient, account }))
    }

    /// The account linked to `mrn`, if any.
    pub async fn account_of_mrn(&self, mrn: &str) -> Result<Option<Address>, StoreError> {
        let link = self
            .accounts()
            .find_one(doc! { "mrn": mrn })
            .await
            .map_err(StoreError::operation("reading enrollments"))?;
        Ok(link.and_then(|link| link.account.parse().ok()))
    }

    /// The enrollment of `account`, if it is enrolled here.
    pub async fn enrollment_of(&self, account: Address) -> Result<Option<EnrolledAccount>, StoreError> {
        self.accounts()
            .find_one(doc! { "_id": hex_address(account) })
            .await
            .map_err(StoreError::operation("reading enrollments"))
    }

    /// The enrollment of `account` here and its directory entry.
    pub async fn directory_entry_of(
        &self,
        account: Address,
    ) -> Result<Option<(EnrolledAccount, DirectoryPatient)>, StoreError> {
        let Some(link) = self.enrollment_of(account).await? else { return Ok(None) };
        let patient = self
            .directory()
            .find_one(doc! { "_id": &link.mrn })
            .await
            .map_err(StoreError::operation("reading the patient directory"))?;
        Ok(patient.map(|patient| (link, patient)))
    }

    /// The directory entries of those `accounts` that are enrolled here, by account: two queries
    /// (the links, then their entries) for the names on a page of fifty entries.
    pub async fn directory_entries_of(
        &self,
        accounts: impl IntoIterator<Item = Address>,
    ) -> Result<HashMap<Address, DirectoryPatient>, StoreError> {
        let wanted: Vec<String> = accounts.into_iter().map(hex_address).collect();
        if wanted.is_empty() {
            return Ok(HashMap::new());
        }
        let links: Vec<EnrolledAccount> = collect(self.accounts().find(doc! { "_id": { "$in": &wanted } }).await)
            .await
            .map_err(StoreError::operation("reading enrollments"))?;
        if links.is_empty() {
            return Ok(HashMap::new());
        }
        let mrns: Vec<String> = links.iter().map(|link| link.mrn.clone()).collect();
        let patients: Vec<DirectoryPatient> = collect(self.directory().find(doc! { "_id": { "$in": &mrns } }).await)
            .await
            .map_err(StoreError::operation("reading the patient directory"))?;
        let by_mrn: HashMap<&str, &DirectoryPatient> = patients.iter().map(|p| (p.mrn.as_str(), p)).collect();
        Ok(links
            .iter()
            .filter_map(|link| Some((link.account.parse().ok()?, (*by_mrn.get(link.mrn.as_str())?).clone())))
            .collect())
    }

    /// The filter a search stands for; `None` when it can match nothing (an account not
    /// enrolled here).
    async fn directory_filter(&self, search: &PatientSearch) -> Result<Option<Document>, StoreError> {
        Ok(match search {
            PatientSearch::Account(account) => self.enrollment_of(*account).await?.map(|link| doc! { "_id": link.mrn }),
            other => Some(search_filter(other)),
        })
    }

    /// How many patients a search finds.
    pub async fn count_directory_patients(&self, search: &PatientSearch) -> Result<u64, StoreError> {
        let Some(filter) = self.directory_filter(search).await? else { return Ok(0) };
        self.directory().count_documents(filter).await.map_err(StoreError::operation("counting the patient directory"))
    }

    /// The patients a search finds, by name then MRN, from the `skip`-th, at most `limit`, each
    /// with the account enrolled with them.
    pub async fn find_directory_patients(
        &self,
        search: &PatientSearch,
        skip: u64,
        limit: i64,
    ) -> Result<Vec<KnownPatient>, StoreError> {
        let Some(filter) = self.directory_filter(search).await? else { return Ok(Vec::new()) };
        let patients: Vec<DirectoryPatient> =
            collect(self.directory().find(filter).sort(doc! { "name": 1, "_id": 1 }).skip(skip).limit(limit).await)
                .await
                .map_err(StoreError::operation("searching the patient directory"))?;
        let mrns: Vec<&str> = patients.iter().map(|p| p.mrn.as_str()).collect();
        let links: Vec<EnrolledAccount> = if mrns.is_empty() {
            Vec::new()
        } else {
            collect(self.accounts().find(doc! { "mrn": { "$in": mrns } }).await)
                .await
                .map_err(StoreError::operation("reading enrollments"))?
        };
        let account_of: HashMap<&str, Address> =
            links.iter().filter_map(|link| Some((link.mrn.as_str(), link.account.parse().ok()?))).collect();
        let found = patients
            .into_iter()
            .map(|patient| {
                let account = account_of.get(patient.mrn.as_str()).copied();
                KnownPatient { patient, account }
            })
            .collect();
        Ok(found)
    }

    /// Links `account` to `mrn`; refused when either is linked already.
    pub async fn link_account(&self, link: &EnrolledAccount) -> Result<(), DirectoryError> {
        let account: Address = link.account.parse().unwrap_or_default();
        match self.accounts().insert_one(link).await {
            Ok(_) => Ok(()),
            Err(error) if is_duplicate_key(&error) => {
                if let Some(existing) = self.enrollment_of(account).await? {
                    return Err(DirectoryError::AccountAlreadyEnrolled { account, mrn: existing.mrn });
                }
                let linked = self.account_of_mrn(&link.mrn).await?.unwrap_or_default();
                Err(DirectoryError::MrnAlreadyEnrolled { mrn: link.mrn.clone(), account: linked })
            }
            Err(error) => Err(StoreError::operation("storing an enrollment")(error).into()),
        }
    }

    /// Removes the link of `mrn`, returning the account it linked; `None` when there was none.
    pub async fn unlink_mrn(&self, mrn: &str) -> Result<Option<Address>, StoreError> {
        let removed = self
            .accounts()
            .find_one_and_delete(doc! { "mrn": mrn })
            .await
            .map_err(StoreError::operation("removing an enrollment"))?;
        Ok(removed.and_then(|link| link.account.parse().ok()))
    }

    /// Stores an outstanding enrollment challenge.
    pub async fn save_enrollment_challenge(&self, challenge: &StoredEnrollmentChallenge) -> Result<(), StoreError> {
        self.enrollment_challenges()
            .insert_one(challenge)
            .await
            .map_err(StoreError::operation("saving an enrollment challenge"))?;
        Ok(())
    }

    /// The outstanding, unexpired challenge with this code hash.
    pub async fn enrollment_challenge(&self, code_hash: &str) -> Result<Option<StoredEnrollmentChallenge>, StoreError> {
        self.enrollment_challenges()
            .find_one(doc! { "_id": code_hash, "expires_at": { "$gt": bson::DateTime::now() } })
            .await
            .map_err(StoreError::operation("reading an enrollment challenge"))
    }

    /// Uses a challenge up; `false` when another request used it first (or it expired).
    pub async fn take_enrollment_challenge(&self, code_hash: &str) -> Result<bool, StoreError> {
        let taken = self
            .enrollment_challenges()
            .find_one_and_delete(doc! { "_id": code_hash, "expires_at": { "$gt": bson::DateTime::now() } })
            .await
            .map_err(StoreError::operation("using an enrollment challenge"))?;
        Ok(taken.is_some())
    }
}

/// Every document of a query, keeping the driver's error for the caller to name.
async fn collect<T>(cursor: Result<mongodb::Cursor<T>, mongodb::error::Error>) -> Result<Vec<T>, mongodb::error::Error>
where
    T: serde::de::DeserializeOwned + Unpin + Send + Sync,
{
    cursor?.try_collect().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_matched_by_each_words_start_and_typed_symbols_stay_literal() {
        let search = PatientSearch::parse("jan smi");
        let filter = search_filter(&search);
        let or = filter.get_array("$or").unwrap();
        assert_eq!(or[0].as_document().unwrap(), &doc! { "_id": "jan smi" });
        let and = or[1].as_document().unwrap().get_array("$and").unwrap();
        assert_eq!(and.len(), 2);
        assert_eq!(escape_regex("o.b+(x)"), "o\\.b\\+\\(x\\)");
        assert_eq!(search_filter(&PatientSearch::parse("x")), doc! { "_id": "x" });
    }
}
