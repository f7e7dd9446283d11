//! The Pima Indians Diabetes data: reading and checking the CSV.

use sha2::{Digest, Sha256};

use super::MlError;

/// The feature columns, in the order the model uses them (the Pima CSV's order).
pub const FEATURES: [&str; 8] =
    ["Pregnancies", "Glucose", "BloodPressure", "SkinThickness", "Insulin", "BMI", "DiabetesPedigreeFunction", "Age"];
/// The label column: 1 diabetic, 0 not.
pub const OUTCOME: &str = "Outcome";
/// Features where the data uses 0 for "not measured" (indexes into [`FEATURES`]).
pub const ZERO_MEANS_MISSING: [usize; 5] = [1, 2, 3, 4, 5];

/// The Pima data that ships with hrm (a copy of fixtures/pima.csv).
pub const BUNDLED_PIMA_CSV: &str = include_str!("../../fixtures/pima.csv");

/// Rows of features with their outcomes.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// One row per person, columns in [`FEATURES`] order.
    pub rows: Vec<[f64; 8]>,
    /// 1 diabetic, 0 not.
    pub outcomes: Vec<u8>,
    /// sha256 of the CSV bytes, hex.
    pub sha256: String,
}

impl Dataset {
    /// Parses a Pima-format CSV; `source` names it in errors.
    pub fn from_csv(text: &str, source: &str) -> Result<Self, MlError> {
        let sha256 = Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let (_, header) =
            lines.next().ok_or_else(|| MlError::Csv { file: source.into(), message: "the file is empty".into() })?;
        let names: Vec<&str> = header.split(',').map(str::trim).collect();
        for name in &names {
            if !FEATURES.contains(name) && *name != OUTCOME {
                let hint = closest_column(name).map(|c| format!(" (did you mean '{c}'?)")).unwrap_or_default();
                return Err(MlError::Csv { file: source.into(), message: format!("unknown column '{name}'{hint}") });
            }
        }
        let position = |wanted: &str| {
            names.iter().position(|n| *n == wanted).ok_or_else(|| MlError::Csv {
                file: source.into(),
                message: format!(
                    "missing column '{wanted}'; the header must name {} and {OUTCOME}",
                    FEATURES.join(", ")
                ),
            })
        };
        let feature_columns: Vec<usize> = FEATURES.iter().map(|f| position(f)).collect::<Result<_, _>>()?;
        let outcome_column = position(OUTCOME)?;

        let mut rows = Vec::new();
        let mut outcomes = Vec::new();
        for (index, line) in lines {
            let line_number = index + 1;
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != names.len() {
                return Err(MlError::Csv {
                    file: source.into(),
                    message: format!("line {line_number}: {} cells, but the header has {}", cells.len(), names.len()),
                });
            }
            let number = |column: usize| -> Result<f64, MlError> {
                cells[column].parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| MlError::Csv {
                    file: source.into(),
                    message: format!(
                        "line {line_number}, column '{}': '{}' is not a number",
                        names[column], cells[column]
                    ),
                })
            };
            let mut row = [0.0; 8];
            for (slot, column) in row.iter_mut().zip(&feature_columns) {
                *slot = number(*column)?;
            }
            let outcome = match cells[outcome_column] {
                "0" => 0,
                "1" => 1,
                other => {
                    return Err(MlError::Csv {
                        file: source.into(),
                        message: format!("line {line_number}, column '{OUTCOME}': must be 0 or 1, not '{other}'"),
                    });
                }
            };
            rows.push(row);
            outcomes.push(outcome);
        }
        if !outcomes.contains(&0) || !outcomes.contains(&1) {
            return Err(MlError::Csv {
                file: source.into(),
                message: "the data needs rows of both outcomes, 0 and 1".into(),
            });
        }
        Ok(Self { rows, outcomes, sha256 })
    }

    /// The bundled Pima data.
    pub fn bundled() -> Self {
        Self::from_csv(BUNDLED_PIMA_CSV, "the bundled Pima data").expect("the bundled data is valid")
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows at `indexes`.
    pub fn subset(&self, indexes: &[usize]) -> Self {
        Self {
            rows: indexes.iter().map(|&i| self.rows[i]).collect(),
            outcomes: indexes.iter().map(|&i| self.outcomes[i]).collect(),
            sha256: self.sha256.clone(),
        }
    }
}

/// A known column within two edits of `name`, case-insensitively.
fn closest_column(name: &str) -> Option<&'static str> {
    FEATURES
        .iter()
        .chain([&OUTCOME])
        .map(|c| (*c, edit_distance(&name.to_lowercase(), &c.to_lowercase())))
        .filter(|(_, d)| *d <= 2)
        .min_by_key(|(_, d)| *d)
        .map(|(c, _)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            current.push((previous[j] + usize::from(ca != *cb)).min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "Pregnancies,Glucose,BloodPressure,SkinThickness,Insulin,BMI,DiabetesPedigreeFunction,Age,Outcome";

    #[test]
    fn the_bundled_data_is_the_published_one() {
        let data = Dataset::bundled();
        assert_eq!(data.len(), 768);
        assert_eq!(data.outcomes.iter().filter(|o| **o == 1).count(), 268);
        assert_eq!(data.sha256, "27939f6c904b6c58a3ae9fe48a50cefadd42b46ce92ebad9cb4114334b28ee66");
        let missing_glucose = data.rows.iter().filter(|r| r[1] == 0.0).count();
        assert_eq!(missing_glucose, 5);
    }

    #[test]
    fn names_a_missing_or_misspelled_column() {
        let err =
            Dataset::from_csv("Pregnancies,Glucose,BloodPressure,SkinThickness,Insulin,BMI,Age,Outcome\n", "x.csv")
                .unwrap_err();
        assert!(err.to_string().contains("missing column 'DiabetesPedigreeFunction'"), "{err}");
        let misspelled = HEADER.replace("Glucose", "Glucoze");
        let err = Dataset::from_csv(&format!("{misspelled}\n"), "x.csv").unwrap_err();
        assert!(err.to_string().contains("unknown column 'Glucoze' (did you mean 'Glucose'?)"), "{err}");
    }

    #[test]
    fn names_the_line_and_column_of_a_bad_cell() {
        let text = format!("{HEADER}\n6,148,72,35,0,33.6,0.627,50,1\n1,85,66,29,0,abc,0.351,31,0\n");
        let err = Dataset::from_csv(&text, "x.csv").unwrap_err();
        assert!(err.to_string().contains("line 3, column 'BMI': 'abc' is not a number"), "{err}");
        let text = format!("{HEADER}\n6,148,72,35,0,33.6,0.627,50,1\n1,85,66,29,0,26.6,0.351,31,2\n");
        let err = Dataset::from_csv(&text, "x.csv").unwrap_err();
        assert!(err.to_string().contains("line 3, column 'Outcome': must be 0 or 1, not '2'"), "{err}");
    }

    #[test]
    fn columns_may_come_in_any_order() {
        let text = "Outcome,Age,DiabetesPedigreeFunction,BMI,Insulin,SkinThickness,BloodPressure,Glucose,Pregnancies\n1,50,0.627,33.6,0,35,72,148,6\n0,31,0.351,26.6,0,29,66,85,1\n";
        let data = Dataset::from_csv(text, "x.csv").unwrap();
        assert_eq!(data.rows[0], [6.0, 148.0, 72.0, 35.0, 0.0, 33.6, 0.627, 50.0]);
        assert_eq!(data.outcomes, [1, 0]);
    }
}
