//! Reading a lab system's export: every row parsed and validated before anything is sent, every
//! problem collected rather than the first one only.

use alloy::primitives::Address;
use serde::Serialize;

use crate::records::{EntryKind, HealthDetails, Readings, Record, RecordError};

/// The file formats an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// A header line, then one health record per line.
    Csv,
    /// One JSON object per line: the record's fields plus `patient`.
    Jsonl,
}

/// One record of the file, valid and ready to seal.
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// The line of the file the record is on (the CSV header is line 1).
    pub line: usize,
    pub patient: Address,
    pub record: Record,
}

/// What is wrong with one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowProblem {
    /// The line of the file (the CSV header is line 1).
    pub line: usize,
    /// The column or field at fault, or `-` for the row as a whole.
    pub column: String,
    /// What is wrong and, where it is not obvious, what to do.
    pub problem: String,
}

/// A file read whole: its valid rows and the problems of the others.
#[derive(Debug, Clone, Default)]
pub struct ParsedSource {
    pub rows: Vec<ImportRow>,
    pub problems: Vec<RowProblem>,
}

/// The CSV columns, as `(column, alternative spellings)`. Headers are matched ignoring case,
/// spaces and underscores, so both the Pima header (`BloodPressure`) and snake case work.
pub const CSV_COLUMNS: [(&str, &[&str]); 11] = [
    ("patient", &[]),
    ("recorded_at", &["date"]),
    ("Pregnancies", &[]),
    ("Glucose", &[]),
    ("BloodPressure", &[]),
    ("SkinThickness", &[]),
    ("Insulin", &[]),
    ("BMI", &[]),
    ("DiabetesPedigreeFunction", &["diabetes_pedigree"]),
    ("Age", &[]),
    ("notes", &[]),
];

/// The only column that may be left out.
const OPTIONAL_COLUMN: usize = 10;

fn normalise(header: &str) -> String {
    header.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

fn column_of(header: &str) -> Option<usize> {
    let wanted = normalise(header);
    CSV_COLUMNS
        .iter()
        .position(|(name, aliases)| normalise(name) == wanted || aliases.iter().any(|a| normalise(a) == wanted))
}

/// Reads `text` in `format` as records of `kind`; `resolve` turns a patient cell (a name, an
/// address or dev:N) into an address or says why it cannot.
pub fn read_source(
    text: &str,
    format: SourceFormat,
    kind: EntryKind,
    resolve: &dyn Fn(&str) -> Result<Address, String>,
) -> ParsedSource {
    match format {
        SourceFormat::Csv => read_csv(text, kind, resolve),
        SourceFormat::Jsonl => read_jsonl(text, kind, resolve),
    }
}

fn problem(line: usize, column: impl Into<String>, problem: impl Into<String>) -> RowProblem {
    RowProblem { line, column: column.into(), problem: problem.into() }
}

/// The column a record error is about.
fn record_problem(line: usize, error: &RecordError) -> RowProblem {
    let column = error.field().unwrap_or("-");
    problem(line, column, error.to_string())
}

fn read_csv(text: &str, kind: EntryKind, resolve: &dyn Fn(&str) -> Result<Address, String>) -> ParsedSource {
    let mut parsed = ParsedSource::default();
    if kind == EntryKind::Bill {
        parsed.problems.push(problem(
            1,
            "-",
            "bills have line items, which a CSV row cannot hold; import bills from JSONL (--jsonl FILE --kind bill)",
        ));
        return parsed;
    }
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(headers) => headers.clone(),
        Err(e) => {
            parsed.problems.push(problem(1, "-", format!("the header line cannot be read: {e}")));
            return parsed;
        }
    };
    // Where each of CSV_COLUMNS is in this file.
    let mut positions: [Option<usize>; CSV_COLUMNS.len()] = [None; CSV_COLUMNS.len()];
    for (position, header) in headers.iter().enumerate() {
        match column_of(header) {
            Some(column) if positions[column].is_some() => {
                parsed.problems.push(problem(1, header, "this column appears twice; keep one"));
            }
            Some(column) => positions[column] = Some(position),
            None => {
                parsed.problems.push(problem(1, header, format!("unknown column; the columns are {}", column_names())))
            }
        }
    }
    for (column, position) in positions.iter().enumerate() {
        if position.is_none() && column != OPTIONAL_COLUMN {
            parsed.problems.push(problem(1, CSV_COLUMNS[column].0, "this column is missing from the header"));
        }
    }
    if !parsed.problems.is_empty() {
        return parsed;
    }
    for result in reader.records() {
        let fields = match result {
            Ok(fields) => fields,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                parsed.problems.push(problem(line, "-", format!("the row cannot be read: {e}")));
                continue;
            }
        };
        let line = fields.position().map_or(0, |p| p.line() as usize);
        if fields.iter().all(str::is_empty) {
            continue;
        }
        if fields.len() != headers.len() {
            parsed.problems.push(problem(
                line,
                "-",
                format!("the row has {} fields but the header has {}", fields.len(), headers.len()),
            ));
            continue;
        }
        let cell = |column: usize| positions[column].and_then(|p| fields.get(p)).unwrap_or("");
        // Problems name the column as this file's header spells it.
        let header_of = |column: usize| positions[column].and_then(|p| headers.get(p)).unwrap_or("-").to_string();
        let problems_before = parsed.problems.len();
        let patient = resolve_patient(line, cell(0), resolve, &mut parsed.problems);
        let mut values = [0.0; 8];
        for (index, value) in values.iter_mut().enumerate() {
            let column = index + 2;
            let text = cell(column);
            match text.parse::<f64>() {
                Ok(number) if number.is_finite() => *value = number,
                _ => parsed.problems.push(problem(line, header_of(column), format!("'{text}' is not a number"))),
            }
        }
        for (index, column) in [(0, 2), (7, 9)] {
            if values[index].fract() != 0.0 || values[index] < 0.0 {
                let text = format!("{} is not a whole number of 0 or more", values[index]);
                parsed.problems.push(problem(line, header_of(column), text));
            }
        }
        if parsed.problems.len() > problems_before {
            continue;
        }
        let readings = Readings {
            pregnancies: values[0] as u32,
            glucose: values[1],
            blood_pressure: values[2],
            skin_thickness: values[3],
            insulin: values[4],
            bmi: values[5],
            diabetes_pedigree: values[6],
            age: values[7] as u32,
        };
        let notes = Some(cell(OPTIONAL_COLUMN).to_string()).filter(|n| !n.is_empty());
        let record = Record::Health(HealthDetails { recorded_at: cell(1).to_string(), readings, notes });
        match record.validate() {
            Ok(()) => parsed.rows.push(ImportRow { line, patient: patient.expect("resolved"), record }),
            Err(error) => {
                let mut found = record_problem(line, &error);
                if let Some(column) = column_of(&found.column) {
                    found.column = header_of(column);
                }
                parsed.problems.push(found);
            }
        }
    }
    parsed
}

fn column_names() -> String {
    let names: Vec<&str> = CSV_COLUMNS.iter().map(|(name, _)| *name).collect();
    format!("{} (notes is optional)", names.join(", "))
}

fn resolve_patient(
    line: usize,
    cell: &str,
    resolve: &dyn Fn(&str) -> Result<Address, String>,
    problems: &mut Vec<RowProblem>,
) -> Option<Address> {
    if cell.is_empty() {
        problems.push(problem(line, "patient", "no patient given: name the patient's account, address or dev:N"));
        return None;
    }
    match resolve(cell) {
        Ok(address) => Some(address),
        Err(reason) => {
            problems.push(problem(line, "patient", reason));
            None
        }
    }
}

/// Validates a parsed record and keeps it, or records why not.
fn accept(line: usize, patient: Option<Address>, record: Record, parsed: &mut ParsedSource) {
    match (patient, record.validate()) {
        (Some(patient), Ok(())) => parsed.rows.push(ImportRow { line, patient, record }),
        (_, Err(error)) => parsed.problems.push(record_problem(line, &error)),
        (None, Ok(())) => {}
    }
}

fn read_jsonl(text: &str, kind: EntryKind, resolve: &dyn Fn(&str) -> Result<Address, String>) -> ParsedSource {
    let mut parsed = ParsedSource::default();
    for (index, text) in text.lines().enumerate() {
        let line = index + 1;
        if text.trim().is_empty() {
            continue;
        }
        let mut object = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(object)) => object,
            Ok(_) => {
                parsed.problems.push(problem(line, "-", "the line is not a JSON object"));
                continue;
            }
            Err(e) => {
                parsed.problems.push(problem(line, "-", format!("the line is not valid JSON: {e}")));
                continue;
            }
        };
        let patient = match object.remove("patient") {
            Some(serde_json::Value::String(cell)) => resolve_patient(line, &cell, resolve, &mut parsed.problems),
            Some(_) => {
                parsed.problems.push(problem(
                    line,
                    "patient",
                    "the patient must be a string: a name, address or dev:N",
                ));
                None
            }
            None => resolve_patient(line, "", resolve, &mut parsed.problems),
        };
        let record = match Record::from_json(kind, &serde_json::Value::Object(object).to_string(), "line") {
            Ok(record) => record,
            Err(RecordError::Malformed { message, .. }) => {
                parsed.problems.push(problem(line, "-", format!("not {}: {message}", kind_shape(kind))));
                continue;
            }
            Err(error) => {
                parsed.problems.push(record_problem(line, &error));
                continue;
            }
        };
        accept(line, patient, record, &mut parsed);
    }
    parsed
}

fn kind_shape(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Health => "health details ({\"patient\", \"recorded_at\", \"readings\": {...}, \"notes\"})",
        EntryKind::Bill => {
            "bill details ({\"patient\", \"issued_at\", \"currency\", \"line_items\": [...], \"total\"})"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(cell: &str) -> Result<Address, String> {
        match cell {
            "alice" => Ok(Address::repeat_byte(0xa1)),
            "bob" => Ok(Address::repeat_byte(0xb0)),
            other => Err(format!("no account named '{other}'")),
        }
    }

    const HEADER: &str = "patient,recorded_at,Pregnancies,Glucose,BloodPressure,SkinThickness,Insulin,BMI,DiabetesPedigreeFunction,Age,notes";

    #[test]
    fn reads_a_csv_in_any_column_order_with_quoted_notes() {
        let text = "Age,patient,glucose,blood_pressure,SkinThickness,Insulin,BMI,diabetes_pedigree,Pregnancies,date,Notes\n\
                    50,alice,148,72,35,0,33.6,0.627,6,2026-03-14,\"fasting, morning\"\n\
                    31,bob,85,66,29,0,26.6,0.351,1,2026-03-15,\n";
        let parsed = read_source(text, SourceFormat::Csv, EntryKind::Health, &resolve);
        assert_eq!(parsed.problems, vec![]);
        assert_eq!(parsed.rows.len(), 2);
        let Record::Health(first) = &parsed.rows[0].record else { panic!("a health record") };
        assert_eq!((parsed.rows[0].line, first.readings.glucose, first.readings.age), (2, 148.0, 50));
        assert_eq!(first.notes.as_deref(), Some("fasting, morning"));
        assert_eq!((parsed.rows[1].line, parsed.rows[1].patient), (3, Address::repeat_byte(0xb0)));
        let Record::Health(second) = &parsed.rows[1].record else { panic!("a health record") };
        assert_eq!(second.notes, None);
    }

    #[test]
    fn reports_every_bad_row_with_line_and_column() {
        let text = format!(
            "{HEADER}\n\
             alice,2026-03-14,6,148,72,35,0,33.6,0.627,50,\n\
             carol,2026-03-14,6,148,72,35,0,33.6,0.627,50,\n\
             alice,14/03/2026,6,148,72,35,0,33.6,0.627,50,\n\
             alice,2026-03-14,6,abc,72,35,0,33.6,0.627,50,\n\
             alice,2026-03-14,6,900,72,35,0,33.6,0.627,50,\n\
             alice,2026-03-14,6,148\n\
             bob,2026-03-14,1.5,85,66,29,0,26.6,0.351,31,\n"
        );
        let parsed = read_source(&text, SourceFormat::Csv, EntryKind::Health, &resolve);
        assert_eq!(parsed.rows.len(), 1);
        let found: Vec<(usize, &str)> = parsed.problems.iter().map(|p| (p.line, p.column.as_str())).collect();
        assert_eq!(
            found,
            [(3, "patient"), (4, "recorded_at"), (5, "Glucose"), (6, "Glucose"), (7, "-"), (8, "Pregnancies")]
        );
        assert!(parsed.problems[0].problem.contains("no account named 'carol'"));
        assert!(parsed.problems[3].problem.contains("40 to 600"), "{}", parsed.problems[3].problem);
    }

    #[test]
    fn a_bad_header_names_the_columns() {
        let text =
            "patient,recorded_at,Pregnancies,Glucose,BloodPressure,Insulin,BMI,DiabetesPedigreeFunction,Age,Outcome\n";
        let parsed = read_source(text, SourceFormat::Csv, EntryKind::Health, &resolve);
        let found: Vec<(usize, &str)> = parsed.problems.iter().map(|p| (p.line, p.column.as_str())).collect();
        assert_eq!(found, [(1, "Outcome"), (1, "SkinThickness")]);
        assert!(parsed.problems[0].problem.contains("the columns are patient, recorded_at"));
    }

    #[test]
    fn reads_jsonl_health_and_bills() {
        let health = r#"{"patient":"alice","recorded_at":"2026-03-14","readings":{"pregnancies":6,"glucose":148,"blood_pressure":72,"skin_thickness":35,"insulin":0,"bmi":33.6,"diabetes_pedigree":0.627,"age":50}}

{"patient":"alice","recorded_at":"2026-03-14","readings":{"glucose":148}}
[1,2]
{"recorded_at":"2026-03-14"}"#;
        let parsed = read_source(health, SourceFormat::Jsonl, EntryKind::Health, &resolve);
        assert_eq!(parsed.rows.len(), 1);
        let found: Vec<(usize, &str)> = parsed.problems.iter().map(|p| (p.line, p.column.as_str())).collect();
        assert_eq!(found, [(3, "-"), (4, "-"), (5, "patient"), (5, "-")]);

        let bills = r#"{"patient":"bob","issued_at":"2026-03-14","currency":"USD","line_items":[{"description":"Consultation","amount":"120.00"}],"total":"120.00"}
{"patient":"bob","issued_at":"2026-03-14","currency":"USD","line_items":[{"description":"Consultation","amount":"120.00"}],"total":"99.00"}"#;
        let parsed = read_source(bills, SourceFormat::Jsonl, EntryKind::Bill, &resolve);
        assert_eq!(parsed.rows.len(), 1);
        assert_eq!(parsed.rows[0].record.kind(), EntryKind::Bill);
        assert_eq!((parsed.problems[0].line, parsed.problems[0].column.as_str()), (2, "total"));
        let parsed = read_source(bills, SourceFormat::Csv, EntryKind::Bill, &resolve);
        assert!(parsed.problems[0].problem.contains("import bills from JSONL"));
    }
}
