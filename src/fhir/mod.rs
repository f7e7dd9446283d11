//! HL7 FHIR R4 export of a patient's archive, with each record's chain evidence, and the check of
//! such a Bundle against the chain.
//!
//! One `Bundle` of type `collection` per patient: the `Patient`, an `Organization` per hospital, per
//! health record a panel `Observation` with one member `Observation` per reading, per bill an
//! `Invoice`, per stored prediction a `RiskAssessment`, and per record a `Provenance` that names
//! the chain, contract, entry, transactions and commitment, carries the commitment's salt, and
//! points at a `Binary` holding the committed record byte for byte. [`verify`] rebuilds each record
//! from the exported values and checks its commitment against the chain.

mod export;
mod import;
mod verify;

pub use export::{PatientExport, patient_bundle};
pub use import::{FhirObservations, FhirPatient, FhirProblem, FhirReadings, read_observations};
pub use verify::{BundleCheck, RecordCheck, check_bundle};

/// The identifier system of an Ethereum account (patients and hospitals): the value is the
/// EIP-55 checksummed address.
pub const ACCOUNT_SYSTEM: &str = "urn:hrm:fhir:ethereum-account";
/// The start of the identifier system of a hospital's medical record numbers: the hospital's
/// account (lower-case hex) follows, so that each hospital's numbers are a system of their own.
pub const MRN_SYSTEM_PREFIX: &str = "urn:hrm:fhir:mrn:";
/// The identifier system of `hospital`'s medical record numbers.
pub fn mrn_system(hospital: alloy::primitives::Address) -> String {
    format!("{MRN_SYSTEM_PREFIX}{hospital:#x}")
}

/// The identifier system of a `HealthRecords` entry: `<chain id>:<contract>:<entry id>`.
pub const ENTRY_SYSTEM: &str = "urn:hrm:fhir:entry";
/// The identifier system of a transaction hash (0x-hex).
pub const TRANSACTION_SYSTEM: &str = "urn:hrm:fhir:transaction";
/// The identifier system of a commitment, keccak256(salt ‖ canonical record JSON) (0x-hex).
pub const COMMITMENT_SYSTEM: &str = "urn:hrm:fhir:commitment";
/// The identifier system of a sealed envelope's digest, keccak256 of its bytes (0x-hex): what the
/// chain keeps of the envelope, which itself stays with the hospitals that may read it.
pub const ENVELOPE_DIGEST_SYSTEM: &str = "urn:hrm:fhir:envelope-digest";
/// The identifier system of a commitment's salt (0x-hex).
pub const SALT_SYSTEM: &str = "urn:hrm:fhir:commitment-salt";
/// hrm's own codes, where no standard code fits (see [`READING_CODES`]).
pub const LOCAL_CODES: &str = "urn:hrm:fhir:codes";
/// The FHIR system of LOINC.
pub const LOINC: &str = "http://loinc.org";
/// The FHIR system of UCUM units.
pub const UCUM: &str = "http://unitsofmeasure.org";
/// The local code of a health record's panel Observation (its readings are its members).
pub const PANEL_CODE: &str = "pima-readings";

/// How one reading is coded: `field` is the name in hrm's records.
#[derive(Debug, Clone, Copy)]
pub struct ReadingCode {
    pub field: &'static str,
    /// [`LOINC`] or [`LOCAL_CODES`].
    pub system: &'static str,
    pub code: &'static str,
    pub display: &'static str,
    /// UCUM code of the value; `None` for a count (an integer value).
    pub ucum: Option<&'static str>,
    /// The Observation category (`laboratory`, `vital-signs`, `exam`, `social-history`).
    pub category: &'static str,
}

/// The code of each reading, in the order of `Readings`. LOINC codes were looked up in published
/// code tables and FHIR guides (see the README); the triceps skin-fold and the diabetes pedigree
/// function have no code there, so they use [`LOCAL_CODES`].
pub const READING_CODES: [ReadingCode; 8] = [
    ReadingCode {
        field: "pregnancies",
        system: LOINC,
        code: "11996-6",
        display: "[#] Pregnancies",
        ucum: None,
        category: "exam",
    },
    ReadingCode {
        field: "glucose",
        system: LOINC,
        code: "1518-0",
        display: "Glucose [Mass/volume] in Serum or Plasma --2 hours post 75 g glucose PO",
        ucum: Some("mg/dL"),
        category: "laboratory",
    },
    ReadingCode {
        field: "blood_pressure",
        system: LOINC,
        code: "8462-4",
        display: "Diastolic blood pressure",
        ucum: Some("mm[Hg]"),
        category: "vital-signs",
    },
    ReadingCode {
        field: "skin_thickness",
        system: LOCAL_CODES,
        code: "triceps-skinfold-thickness",
        display: "Triceps skin-fold thickness",
        ucum: Some("mm"),
        category: "exam",
    },
    ReadingCode {
        field: "insulin",
        system: LOINC,
        code: "27826-7",
        display: "Insulin [Units/volume] in Serum or Plasma --2 hours post XXX challenge",
        ucum: Some("u[IU]/mL"),
        category: "laboratory",
    },
    ReadingCode {
        field: "bmi",
        system: LOINC,
        code: "39156-5",
        display: "Body mass index (BMI) [Ratio]",
        ucum: Some("kg/m2"),
        category: "vital-signs",
    },
    ReadingCode {
        field: "diabetes_pedigree",
        system: LOCAL_CODES,
        code: "diabetes-pedigree-function",
        display: "Diabetes pedigree function (Pima Indians Diabetes data)",
        ucum: Some("1"),
        category: "exam",
    },
    ReadingCode { field: "age", system: LOINC, code: "30525-0", display: "Age", ucum: Some("a"), category: "exam" },
];

/// Why a Bundle could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    #[error("the Bundle is not FHIR JSON: {0}")]
    NotJson(String),
    #[error("the Bundle is not an hrm export: {0}")]
    NotAnExport(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Chain(#[from] crate::chain::ChainError),
}
