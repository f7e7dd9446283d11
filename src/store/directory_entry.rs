//! A patient as a hospital's directory holds them, checked as staff register them, and what staff
//! type to find them: the values `store::directory` keeps and `hrm::directory` works with.

use std::fmt;
use std::str::FromStr;

use alloy::primitives::Address;
use mongodb::bson;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::records::{utc_date, validate_date_format};

/// Longest medical record number accepted.
pub const MAX_MRN_CHARS: usize = 32;
/// Longest name accepted.
pub const MAX_NAME_CHARS: usize = 200;
/// Shortest name fragment a search matches names by (one letter would match most of a directory).
pub const MIN_NAME_SEARCH_CHARS: usize = 2;

/// Why a directory operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("medical record number {mrn} is already in this hospital's directory; open it, or choose another number")]
    DuplicateMrn { mrn: String },
    #[error("no patient with medical record number {mrn} in this hospital's directory")]
    UnknownMrn { mrn: String },
    #[error(
        "account {account} is already enrolled at this hospital, as medical record number {mrn}; unlink it there first"
    )]
    AccountAlreadyEnrolled { account: Address, mrn: String },
    #[error("medical record number {mrn} is already linked to account {account}; unlink it first")]
    MrnAlreadyEnrolled { mrn: String, account: Address },
    #[error("medical record number {mrn} is not linked to an account")]
    NotEnrolled { mrn: String },
    #[error(
        "'{text}' is not an address (0x…), a medical record number in this hospital's directory, or a name in its address book"
    )]
    UnknownPatient { text: String },
    #[error(
        "this enrollment link is unknown, already used or expired (links work once, for 10 minutes); ask the hospital's desk for a new one"
    )]
    UnknownChallenge,
    #[error("the signature is not valid: {0}")]
    BadSignature(String),
    #[error("the enrollment message was signed by {signer}, not by {account}; sign it with the account you enroll")]
    ForeignSignature { account: Address, signer: Address },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DirectoryError {
    /// The form field the error is about, if one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            Self::DuplicateMrn { .. } => Some("mrn"),
            _ => None,
        }
    }
}

/// Administrative sex, as FHIR's `AdministrativeGender` codes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

impl Sex {
    pub const ALL: [Sex; 4] = [Sex::Female, Sex::Male, Sex::Other, Sex::Unknown];

    /// The FHIR code.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Sex {
    type Err = DirectoryError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().to_ascii_lowercase();
        let short = |sex: Sex| sex.as_str()[..1] == wanted;
        Sex::ALL.into_iter().find(|sex| sex.as_str() == wanted || short(*sex)).ok_or_else(|| DirectoryError::Invalid {
            field: "sex",
            reason: format!("'{text}' is not one of female, male, other, unknown"),
        })
    }
}

/// A patient as staff register them, checked: see [`NewPatient::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPatient {
    pub mrn: String,
    pub name: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    pub sex: Sex,
    pub phone: Option<String>,
    pub email: Option<String>,
}

impl NewPatient {
    /// Checks and tidies what staff typed (surrounding and repeated spaces go); the first problem
    /// found is returned, naming its field.
    pub fn check(
        mrn: &str,
        name: &str,
        birth_date: &str,
        sex: &str,
        phone: &str,
        email: &str,
    ) -> Result<Self, DirectoryError> {
        let invalid = |field: &'static str, reason: String| DirectoryError::Invalid { field, reason };
        let mrn = mrn.trim();
        check_mrn(mrn)?;
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            return Err(invalid("name", "enter the patient's name".into()));
        }
        if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(invalid(
                "name",
                format!("a name has at most {MAX_NAME_CHARS} characters and no control characters"),
            ));
        }
        let birth_date = birth_date.trim();
        validate_date_format("birth_date", birth_date).map_err(|e| invalid("birth_date", e.to_string()))?;
        if birth_date > today().as_str() {
            return Err(invalid("birth_date", format!("{birth_date} is in the future")));
        }
        let sex = sex.parse()?;
        let optional = |text: &str| Some(text.trim().to_string()).filter(|t| !t.is_empty());
        let phone = optional(phone);
        if let Some(phone) = &phone {
            let digits = phone.chars().filter(char::is_ascii_digit).count();
            if digits < 5 || phone.len() > 32 || !phone.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
                return Err(invalid("phone", format!("'{phone}' is not a phone number (digits, spaces, + - ( ) .)")));
            }
        }
        let email = optional(email);
        if let Some(email) = &email {
            let well_formed = email.len() <= 254
                && !email.contains(char::is_whitespace)
                && email.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
            if !well_formed {
                return Err(invalid("email", format!("'{email}' is not an e-mail address")));
            }
        }
        Ok(Self { mrn: mrn.to_string(), name, birth_date: birth_date.to_string(), sex, phone, email })
    }
}

/// Checks a medical record number's form: letters, digits, `-`, `_` and `.`, at most
/// [`MAX_MRN_CHARS`].
pub fn check_mrn(mrn: &str) -> Result<(), DirectoryError> {
    // Nothing a link must escape: an MRN is part of its page's address.
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if mrn.is_empty() || mrn.len() > MAX_MRN_CHARS || !mrn.chars().all(allowed) {
        return Err(DirectoryError::Invalid {
            field: "mrn",
            reason: format!(
                "'{mrn}' is not a medical record number: use 1 to {MAX_MRN_CHARS} letters, digits, '-', '_' or '.'"
            ),
        });
    }
    Ok(())
}

fn today() -> String {
    utc_date(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs())
}

/// The words of a name as searches match them: lower case, split on spaces, hyphens and
/// apostrophes (so "Smith-Jones" is found by "jones").
pub fn name_words(name: &str) -> Vec<String> {
    name.split(|c: char| c.is_whitespace() || c == '-' || c == '\'' || c == ',')
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A directory entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryPatient {
    /// The hospital's medical record number: unique in its directory.
    #[serde(rename = "_id")]
    pub mrn: String,
    pub name: String,
    /// [`name_words`] of the name, which the search index holds.
    pub name_words: Vec<String>,
    pub birth_date: String,
    pub sex: Sex,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub registered_at: bson::DateTime,
    /// The staff member (or `cli`) who registered the patient.
    pub registered_by: String,
}

impl DirectoryPatient {
    pub fn new(patient: NewPatient, registered_by: &str) -> Self {
        Self {
            name_words: name_words(&patient.name),
            mrn: patient.mrn,
            name: patient.name,
            birth_date: patient.birth_date,
            sex: patient.sex,
            phone: patient.phone,
            email: patient.email,
            registered_at: bson::DateTime::now(),
            registered_by: registered_by.to_string(),
        }
    }
}

/// A directory entry with the account enrollment linked to it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownPatient {
    pub patient: DirectoryPatient,
    pub account: Option<Address>,
}

impl KnownPatient {
    /// For scripts (`--json`) and the suggestions the clerk's form shows.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "mrn": self.patient.mrn,
            "name": self.patient.name,
            "birth_date": self.patient.birth_date,
            "sex": self.patient.sex,
            "phone": self.patient.phone,
            "email": self.patient.email,
            "account": self.account,
            "registered_by": self.patient.registered_by,
        })
    }
}

/// What staff typed to find a patient, read as the one thing it can be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientSearch {
    /// Nothing: every patient.
    All,
    /// A date (`YYYY-MM-DD`): patients born that day.
    BirthDate(String),
    /// An address: the patient enrolled with it.
    Account(Address),
    /// Anything else: the patient with that MRN, and patients whose name has a word starting with
    /// each word typed (`jan smi` finds Jane Smith).
    MrnOrName { mrn: String, words: Vec<String> },
}

impl PatientSearch {
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        if text.is_empty() {
            return Self::All;
        }
        if validate_date_format("birth_date", text).is_ok() {
            return Self::BirthDate(text.to_string());
        }
        if let Ok(address) = text.parse::<Address>() {
            return Self::Account(address);
        }
        let words = name_words(text);
        Self::MrnOrName { mrn: text.to_string(), words }
    }

    /// Whether the search is too short to match names by (an MRN still matches exactly).
    pub fn names_too_short(&self) -> bool {
        matches!(self, Self::MrnOrName { words, .. } if words.iter().map(|w| w.chars().count()).sum::<usize>() < MIN_NAME_SEARCH_CHARS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> NewPatient {
        NewPatient::check(
            " MRN-001 ",
            "  Jane   Smith-Jones ",
            "1980-02-29",
            "F",
            "+1 (555) 010-2000",
            "jane@example.org",
        )
        .unwrap()
    }

    #[test]
    fn a_patient_is_tidied_and_checked() {
        let patient = ok();
        assert_eq!(patient.mrn, "MRN-001");
        assert_eq!(patient.name, "Jane Smith-Jones");
        assert_eq!(patient.sex, Sex::Female);
        assert_eq!(name_words(&patient.name), ["jane", "smith", "jones"]);
        let none = NewPatient::check("7", "Al", "2001-01-01", "unknown", " ", "").unwrap();
        assert_eq!((none.phone, none.email), (None, None));
    }

    #[test]
    fn each_bad_field_is_named() {
        let field = |r: Result<NewPatient, DirectoryError>| r.unwrap_err().field().unwrap();
        assert_eq!(field(NewPatient::check("", "A B", "1980-01-01", "f", "", "")), "mrn");
        assert_eq!(field(NewPatient::check("a b", "A B", "1980-01-01", "f", "", "")), "mrn");
        assert_eq!(field(NewPatient::check(&"9".repeat(33), "A B", "1980-01-01", "f", "", "")), "mrn");
        assert_eq!(field(NewPatient::check("1", " ", "1980-01-01", "f", "", "")), "name");
        assert_eq!(field(NewPatient::check("1", "A\u{7}B", "1980-01-01", "f", "", "")), "name");
        assert_eq!(field(NewPatient::check("1", "A B", "01/02/1980", "f", "", "")), "birth_date");
        assert_eq!(field(NewPatient::check("1", "A B", "2099-01-01", "f", "", "")), "birth_date");
        assert_eq!(field(NewPatient::check("1", "A B", "1980-01-01", "woman", "", "")), "sex");
        assert_eq!(field(NewPatient::check("1", "A B", "1980-01-01", "f", "call me", "")), "phone");
        assert_eq!(field(NewPatient::check("1", "A B", "1980-01-01", "f", "", "jane.example.org")), "email");
    }

    #[test]
    fn a_search_is_read_as_a_date_an_address_or_an_mrn_and_name() {
        assert_eq!(PatientSearch::parse("  "), PatientSearch::All);
        assert_eq!(PatientSearch::parse("1980-02-29"), PatientSearch::BirthDate("1980-02-29".into()));
        let address = Address::repeat_byte(7);
        assert_eq!(PatientSearch::parse(&address.to_string()), PatientSearch::Account(address));
        assert_eq!(
            PatientSearch::parse("Jan SMI"),
            PatientSearch::MrnOrName { mrn: "Jan SMI".into(), words: vec!["jan".into(), "smi".into()] }
        );
        assert!(PatientSearch::parse("j").names_too_short());
        assert!(!PatientSearch::parse("jo").names_too_short());
    }
}
