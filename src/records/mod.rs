//! Records, what hospitals submit: types, validation, canonical JSON, commitments and sealing.

pub mod bill;
pub mod canonical;
pub mod envelope;
pub mod health;
pub mod keys;

pub use bill::{Amount, BillDetails, LineItem};
pub use envelope::{EnvelopeError, OpenedPayload, RecipientKey, open_envelope, seal_record};
pub use health::{HealthDetails, Readings};

use alloy::primitives::{B256, keccak256};
use serde::{Deserialize, Serialize};

/// What an entry holds, numbered as the contract's `EntryKind` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Health = 0,
    Bill = 1,
}

impl EntryKind {
    /// Reads the contract's enum value.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::Health),
            1 => Some(Self::Bill),
            _ => None,
        }
    }

    /// How people call this kind of entry.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Health => "health details",
            Self::Bill => "bill details",
        }
    }

    /// One lower-case word: `health` or `bill`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Health => "health",
            Self::Bill => "bill",
        }
    }
}

/// Why a record was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RecordError {
    #[error("{field} {value} is outside the plausible range {range}")]
    OutOfRange { field: &'static str, value: String, range: String },
    #[error("{field} {value} is in the future (today is {today} in UTC): give the day it happened")]
    InFuture { field: &'static str, value: String, today: String },
    #[error("{field} is {chars} characters long; the most is {max}")]
    TooLong { field: &'static str, chars: usize, max: usize },
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("the total {total} does not equal the sum of the line items, {sum}")]
    TotalMismatch { total: String, sum: String },
    #[error("{source_name}: line {line}, column {column}: {message}")]
    Malformed { source_name: String, line: usize, column: usize, message: String },
}

impl RecordError {
    /// The record field the error is about, so a form can show it next to that field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            RecordError::OutOfRange { field, .. }
            | RecordError::InFuture { field, .. }
            | RecordError::TooLong { field, .. }
            | RecordError::Invalid { field, .. } => Some(field),
            RecordError::TotalMismatch { .. } => Some("total"),
            RecordError::Malformed { .. } => None,
        }
    }
}

/// A record of either kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Health(HealthDetails),
    Bill(BillDetails),
}

impl Record {
    /// Which kind of entry the record makes.
    pub fn kind(&self) -> EntryKind {
        match self {
            Record::Health(_) => EntryKind::Health,
            Record::Bill(_) => EntryKind::Bill,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), RecordError> {
        match self {
            Record::Health(h) => h.validate(),
            Record::Bill(b) => b.validate(),
        }
    }

    /// The record's canonical JSON bytes (what its commitment covers).
    pub fn canonical_json(&self) -> Vec<u8> {
        let result = match self {
            Record::Health(h) => canonical::to_canonical_json(h),
            Record::Bill(b) => canonical::to_canonical_json(b),
        };
        result.expect("records serialize to JSON")
    }

    /// Parses and validates a record of `kind` from JSON text; `source_name` (a file name) is
    /// used in errors, which give the line and column of malformed input.
    pub fn from_json(kind: EntryKind, text: &str, source_name: &str) -> Result<Self, RecordError> {
        let malformed = |e: serde_json::Error| RecordError::Malformed {
            source_name: source_name.to_string(),
            line: e.line(),
            column: e.column(),
            message: strip_position(&e.to_string()),
        };
        let record = match kind {
            EntryKind::Health => Record::Health(serde_json::from_str(text).map_err(malformed)?),
            EntryKind::Bill => Record::Bill(serde_json::from_str(text).map_err(malformed)?),
        };
        record.validate()?;
        Ok(record)
    }

    /// The day the record is about: when the readings were taken, or the bill issued.
    pub fn date(&self) -> &str {
        match self {
            Record::Health(h) => &h.recorded_at,
            Record::Bill(b) => &b.issued_at,
        }
    }

    /// One line for a listing, without notes or line items.
    pub fn summary(&self) -> String {
        match self {
            Record::Health(h) => {
                let r = &h.readings;
                format!("glucose {}, BP {}, BMI {}, age {}", r.glucose, r.blood_pressure, r.bmi, r.age)
            }
            Record::Bill(b) => format!("{} {}", b.total, b.currency),
        }
    }

    /// The record as a JSON value (for display and storage).
    pub fn to_json_value(&self) -> serde_json::Value {
        let result = match self {
            Record::Health(h) => serde_json::to_value(h),
            Record::Bill(b) => serde_json::to_value(b),
        };
        result.expect("records serialize to JSON")
    }
}

/// serde_json appends " at line L column C"; the error already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// The commitment stored on chain: keccak256(salt ‖ canonical JSON of the record).
pub fn commitment(salt: &[u8; 32], canonical_json: &[u8]) -> B256 {
    let mut preimage = Vec::with_capacity(32 + canonical_json.len());
    preimage.extend_from_slice(salt);
    preimage.extend_from_slice(canonical_json);
    keccak256(preimage)
}

/// Checks a `YYYY-MM-DD` date from 1900 on and not in the future.
pub fn validate_date(field: &'static str, text: &str) -> Result<(), RecordError> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    validate_date_at(field, text, now)
}

/// The east-most time zone's lead on UTC: a date is in the future only once it is so everywhere,
/// so a hospital ahead of UTC can enter its own today.
const LATEST_UTC_OFFSET_SECS: u64 = 14 * 60 * 60;

/// [`validate_date`] as of the unix time `now`.
fn validate_date_at(field: &'static str, text: &str, now: u64) -> Result<(), RecordError> {
    validate_date_format(field, text)?;
    // Well-formed dates compare as text.
    if text > utc_date(now + LATEST_UTC_OFFSET_SECS).as_str() {
        return Err(RecordError::InFuture { field, value: text.to_string(), today: utc_date(now) });
    }
    Ok(())
}

/// The `YYYY-MM-DD` date in UTC at unix time `seconds` (the proleptic Gregorian calendar).
pub fn utc_date(seconds: u64) -> String {
    // Howard Hinnant's civil_from_days, on days since 1970-01-01 counted from 0000-03-01.
    let days = seconds / 86_400 + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Checks that `text` is a real `YYYY-MM-DD` date between 1900 and 2100.
pub fn validate_date_format(field: &'static str, text: &str) -> Result<(), RecordError> {
    let invalid =
        || RecordError::Invalid { field, reason: format!("'{text}' is not a date like 2026-03-14 (YYYY-MM-DD)") };
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return Err(invalid());
    };
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return Err(invalid());
    }
    let number = |s: &str| s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse::<u32>().ok()).flatten();
    let (Some(year), Some(month), Some(day)) = (number(year), number(month), number(day)) else {
        return Err(invalid());
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(invalid()),
    };
    if !(1900..=2100).contains(&year) || day == 0 || day > days_in_month {
        return Err(invalid());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_summaries_of_both_kinds() {
        let health = Record::Health(HealthDetails::example());
        assert_eq!(health.date(), "2026-11-02");
        assert_eq!(health.summary(), "glucose 148, BP 72, BMI 33.6, age 50");
        let bill = Record::Bill(BillDetails::example());
        assert_eq!(bill.date(), "2026-11-02");
        assert!(bill.summary().ends_with(" USD"), "{}", bill.summary());
    }

    #[test]
    fn dates() {
        for good in ["2026-03-14", "2024-02-29", "1900-01-01"] {
            validate_date("d", good).unwrap();
        }
        for bad in ["2026-3-14", "2025-02-29", "2026-13-01", "2026-00-10", "26-03-14", "2026-03-14T00", "+026-03-14"] {
            assert!(validate_date("d", bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn utc_dates_of_unix_times() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_801_439_999), "2027-01-31");
        assert_eq!(utc_date(1_801_440_000), "2027-02-01");
        assert_eq!(utc_date(4_107_542_400), "2100-03-01");
    }

    #[test]
    fn a_date_in_the_future_is_refused_once_it_is_tomorrow_everywhere() {
        // 2026-11-25 10:00 UTC: the 26th has just begun in UTC+14; the 27th nowhere yet.
        let now = 1_795_600_800;
        assert_eq!(utc_date(now), "2026-11-25");
        validate_date_at("recorded_at", "2026-11-25", now).unwrap();
        validate_date_at("recorded_at", "2026-11-26", now).unwrap();
        let refused = validate_date_at("recorded_at", "2026-11-27", now).unwrap_err();
        assert_eq!(
            refused,
            RecordError::InFuture { field: "recorded_at", value: "2026-11-27".into(), today: "2026-11-25".into() }
        );
        assert_eq!(refused.field(), Some("recorded_at"));
        assert_eq!(
            refused.to_string(),
            "recorded_at 2026-11-27 is in the future (today is 2026-11-25 in UTC): give the day it happened"
        );
        assert!(validate_date("issued_at", "2099-01-01").is_err(), "the clock of this machine is used");
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let text = "{\n  \"recorded_at\": \"2026-01-01\",\n  \"readings\": { oops }\n}";
        let err = Record::from_json(EntryKind::Health, text, "visit.json").unwrap_err();
        match err {
            RecordError::Malformed { line, column, ref source_name, .. } => {
                assert_eq!((line, source_name.as_str()), (3, "visit.json"));
                assert!(column > 0);
            }
            other => panic!("expected a malformed-input error, got {other:?}"),
        }
    }

    #[test]
    fn commitment_depends_on_salt_and_every_byte() {
        let record = b"{\"a\":1}";
        let c = commitment(&[1; 32], record);
        assert_ne!(c, commitment(&[2; 32], record));
        assert_ne!(c, commitment(&[1; 32], b"{\"a\":2}"));
        assert_eq!(c, commitment(&[1; 32], record));
    }
}
