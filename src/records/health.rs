//! Health details: one visit's readings, the features of the Pima diabetes data.

use serde::{Deserialize, Serialize};

use super::{RecordError, validate_date};

/// Longest free-text note, in characters.
pub const MAX_NOTES_CHARS: usize = 2_000;

/// A patient's health details as a primary hospital records them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthDetails {
    /// Date of the readings, `YYYY-MM-DD`.
    pub recorded_at: String,
    pub readings: Readings,
    /// Free text, at most 2,000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// The readings; where the Pima data uses 0 for "not measured", 0 is accepted as such.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readings {
    /// Number of pregnancies.
    pub pregnancies: u32,
    /// Plasma glucose, mg/dL (0: not measured).
    pub glucose: f64,
    /// Diastolic blood pressure, mmHg (0: not measured).
    pub blood_pressure: f64,
    /// Triceps skin-fold thickness, mm (0: not measured).
    pub skin_thickness: f64,
    /// Two-hour serum insulin, µU/mL (0: not measured).
    pub insulin: f64,
    /// Body-mass index, kg/m² (0: not measured).
    pub bmi: f64,
    /// Diabetes pedigree function.
    pub diabetes_pedigree: f64,
    /// Age in years.
    pub age: u32,
}

/// A reading's plausible clinical range.
#[derive(Debug, Clone, Copy)]
pub struct ReadingRange {
    pub field: &'static str,
    pub min: f64,
    pub max: f64,
    pub unit: &'static str,
    /// Whether 0 is accepted as "not measured".
    pub zero_means_missing: bool,
}

impl ReadingRange {
    fn check(&self, value: f64) -> Result<(), RecordError> {
        let missing = self.zero_means_missing && value == 0.0;
        if value.is_finite() && (missing || (self.min..=self.max).contains(&value)) {
            return Ok(());
        }
        Err(RecordError::OutOfRange { field: self.field, value: value.to_string(), range: self.describe() })
    }

    /// The range as told to a person, e.g. `40 to 600 mg/dL, or 0 for not measured`.
    pub fn describe(&self) -> String {
        let unit = if self.unit.is_empty() { String::new() } else { format!(" {}", self.unit) };
        let missing = if self.zero_means_missing { ", or 0 for not measured" } else { "" };
        format!("{} to {}{unit}{missing}", self.min, self.max)
    }
}

/// The plausible range of every reading, in the order of [`Readings`]' fields.
pub const READING_RANGES: [ReadingRange; 8] = [
    ReadingRange { field: "pregnancies", min: 0.0, max: 20.0, unit: "", zero_means_missing: false },
    ReadingRange { field: "glucose", min: 40.0, max: 600.0, unit: "mg/dL", zero_means_missing: true },
    ReadingRange { field: "blood_pressure", min: 20.0, max: 150.0, unit: "mmHg", zero_means_missing: true },
    ReadingRange { field: "skin_thickness", min: 3.0, max: 110.0, unit: "mm", zero_means_missing: true },
    ReadingRange { field: "insulin", min: 2.0, max: 1000.0, unit: "µU/mL", zero_means_missing: true },
    ReadingRange { field: "bmi", min: 10.0, max: 80.0, unit: "kg/m²", zero_means_missing: true },
    ReadingRange { field: "diabetes_pedigree", min: 0.0, max: 3.0, unit: "", zero_means_missing: false },
    ReadingRange { field: "age", min: 1.0, max: 120.0, unit: "years", zero_means_missing: false },
];

impl Readings {
    /// The readings in the order of [`READING_RANGES`] (the Pima data's column order).
    pub fn values(&self) -> [f64; 8] {
        [
            f64::from(self.pregnancies),
            self.glucose,
            self.blood_pressure,
            self.skin_thickness,
            self.insulin,
            self.bmi,
            self.diabetes_pedigree,
            f64::from(self.age),
        ]
    }

    /// Checks every reading against its plausible range.
    pub fn validate(&self) -> Result<(), RecordError> {
        READING_RANGES.iter().zip(self.values()).try_for_each(|(range, value)| range.check(value))
    }
}

impl HealthDetails {
    /// Checks the date, the readings and the notes' length.
    pub fn validate(&self) -> Result<(), RecordError> {
        validate_date("recorded_at", &self.recorded_at)?;
        self.readings.validate()?;
        if let Some(notes) = &self.notes {
            let chars = notes.chars().count();
            if chars > MAX_NOTES_CHARS {
                return Err(RecordError::TooLong { field: "notes", chars, max: MAX_NOTES_CHARS });
            }
        }
        Ok(())
    }

    /// A typical record: the first row of the Pima data, with a note. Used by examples,
    /// benchmarks and tests.
    pub fn example() -> Self {
        HealthDetails {
            recorded_at: "2026-11-02".into(),
            readings: Readings {
                pregnancies: 6,
                glucose: 148.0,
                blood_pressure: 72.0,
                skin_thickness: 35.0,
                insulin: 0.0,
                bmi: 33.6,
                diabetes_pedigree: 0.627,
                age: 50,
            },
            notes: Some("fasting sample".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typical_readings_pass() {
        HealthDetails::example().validate().unwrap();
    }

    #[test]
    fn zero_means_not_measured_only_where_pima_uses_it() {
        let mut record = HealthDetails::example();
        record.readings.glucose = 0.0;
        record.readings.bmi = 0.0;
        record.validate().unwrap();
        record.readings.age = 0;
        let err = record.validate().unwrap_err().to_string();
        assert!(err.contains("age") && err.contains("1 to 120"), "{err}");
    }

    #[test]
    fn out_of_range_names_the_field_and_range() {
        let mut record = HealthDetails::example();
        record.readings.glucose = 900.0;
        let err = record.validate().unwrap_err().to_string();
        assert!(err.contains("glucose") && err.contains("40 to 600 mg/dL"), "{err}");
        record.readings.glucose = f64::NAN;
        assert!(record.validate().is_err());
    }

    #[test]
    fn notes_are_limited() {
        let mut record = HealthDetails::example();
        record.notes = Some("x".repeat(MAX_NOTES_CHARS));
        record.validate().unwrap();
        record.notes = Some("é".repeat(MAX_NOTES_CHARS + 1));
        assert!(record.validate().unwrap_err().to_string().contains("notes"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = r#"{"recorded_at":"2026-01-01","readings":{"pregnancies":1,"glucose":90,"blood_pressure":70,
            "skin_thickness":20,"insulin":80,"bmi":25,"diabetes_pedigree":0.3,"age":30},"gluocse":3}"#;
        assert!(serde_json::from_str::<HealthDetails>(text).is_err());
    }
}
