//! The patient directory: the patients a hospital knows by name, date of birth and its own medical
//! record number (MRN), kept in that hospital's database and never on chain.
//!
//! A directory entry is linked to the patient's Ethereum account by enrollment
//! ([`enrollment`]): the patient signs a one-time challenge, proving they hold the account, and the
//! hospital stores MRN ↔ account. Staff then find a patient by name, MRN or birth date and submit
//! for them without typing an address.

pub mod enrollment;

use alloy::primitives::Address;

use crate::listing::{PAGE_SIZE, Paged, page_window};
pub use crate::store::directory_entry::{
    DirectoryError, DirectoryPatient, KnownPatient, MAX_MRN_CHARS, MAX_NAME_CHARS, MIN_NAME_SEARCH_CHARS, NewPatient,
    PatientSearch, Sex, check_mrn, name_words,
};
use crate::store::{Archive, StoreError};

/// The account a patient is named by where staff submit for them: an address; else a medical
/// record number in this hospital's directory, whose patient must be enrolled; else whatever
/// `elsewhere` finds (the server's address book).
pub async fn resolve_patient(
    archive: &Archive,
    text: &str,
    elsewhere: impl FnOnce(&str) -> Option<Address>,
) -> Result<Address, DirectoryError> {
    let text = text.trim();
    if let Ok(address) = text.parse::<Address>() {
        return Ok(address);
    }
    if check_mrn(text).is_ok()
        && let Some(known) = archive.directory_patient(text).await?
    {
        return known.account.ok_or(DirectoryError::NotEnrolled { mrn: known.patient.mrn });
    }
    elsewhere(text).ok_or_else(|| DirectoryError::UnknownPatient { text: text.to_string() })
}

/// What a list's patient filter typed by clinical staff stands for: an address as typed, else the
/// account enrolled here with that MRN, else the text unchanged (for the filter to refuse).
pub async fn patient_filter(archive: &Archive, text: &str) -> Result<String, StoreError> {
    let text = text.trim();
    if text.is_empty() || text.parse::<Address>().is_ok() || check_mrn(text).is_err() {
        return Ok(text.to_string());
    }
    Ok(archive.account_of_mrn(text).await?.map_or_else(|| text.to_string(), |account| account.to_string()))
}

/// Page `page` of the patients `search` finds, fifty a page, by name.
pub async fn directory_page(
    archive: &Archive,
    search: &PatientSearch,
    page: usize,
) -> Result<Paged<KnownPatient>, StoreError> {
    let total = archive.count_directory_patients(search).await? as usize;
    let (page, skip) = page_window(total, page);
    let items = archive.find_directory_patients(search, skip as u64, PAGE_SIZE as i64).await?;
    Ok(Paged::fetched(items, total, page))
}
