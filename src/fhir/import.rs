//! Reading FHIR R4 Observations in: a Bundle from a lab or another hospital becomes sets of
//! readings, one health record each, for `hrm import --fhir` to check and send like any import.
//!
//! A panel Observation (one with `hasMember`, as hrm exports) is one set; Observations outside a
//! panel are grouped by patient and day. Each Observation is matched by its code: hrm's own
//! ([`READING_CODES`]) and the common alternatives for glucose, blood pressure, insulin and age,
//! with UCUM units converted where they differ (glucose in mmol/L). A reading the Bundle leaves
//! out, or marks absent, is "not measured" (0), as in the Pima data; a count (pregnancies) or the
//! pedigree function left out is 0; an age left out is worked out from the Patient's birth date.
//! What cannot be read is reported by the Bundle entry it is in.

use std::collections::HashMap;

use serde_json::Value;

use super::{ACCOUNT_SYSTEM, LOCAL_CODES, LOINC, PANEL_CODE, READING_CODES};
use crate::records::health::READING_RANGES;
use crate::records::{HealthDetails, Readings};

/// Milligrams per decilitre in one millimole per litre of glucose (molar mass 180.16 g/mol).
const GLUCOSE_MG_DL_PER_MMOL_L: f64 = 18.016;
/// Picomoles per litre in one micro-unit per millilitre of insulin.
const INSULIN_PMOL_L_PER_UU_ML: f64 = 6.0;

/// Kilograms in one avoirdupois pound.
const KG_PER_POUND: f64 = 0.453_592_37;

/// Codes taken besides hrm's own, as `(LOINC code, reading)`. Body weight and height are not
/// readings of their own: a set without a BMI gets one from them.
const ALTERNATIVE_CODES: [(&str, &str); 12] = [
    ("2345-7", "glucose"),  // Glucose [Mass/volume] in Serum or Plasma
    ("2339-0", "glucose"),  // Glucose [Mass/volume] in Blood
    ("1558-6", "glucose"),  // Fasting glucose [Mass/volume] in Serum or Plasma
    ("14749-6", "glucose"), // Glucose [Moles/volume] in Serum or Plasma
    ("15074-8", "glucose"), // Glucose [Moles/volume] in Blood
    ("14771-0", "glucose"), // Fasting glucose [Moles/volume] in Serum or Plasma
    ("14995-5", "glucose"), // Glucose [Moles/volume] in Serum or Plasma --2 hours post 75 g glucose PO
    ("20448-7", "insulin"), // Insulin [Units/volume] in Serum or Plasma
    ("21612-7", "age"),     // Age - Reported
    ("29553-5", "age"),     // Age calculated
    ("29463-7", "weight"),  // Body weight
    ("8302-2", "height"),   // Body height
];

/// Blood-pressure panels: their diastolic component is the reading (the systolic is not kept).
const BLOOD_PRESSURE_PANELS: [&str; 2] = ["85354-9", "55284-4"];
const DIASTOLIC: &str = "8462-4";
const SYSTOLIC: &str = "8480-6";

/// How a set of readings names its patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FhirPatient {
    /// An account identifier (`urn:hrm:fhir:ethereum-account`), as written.
    Account(String),
    /// A medical record number in the importing hospital's system.
    Mrn(String),
}

/// One set of readings: a health record to be.
#[derive(Debug, Clone, PartialEq)]
pub struct FhirReadings {
    /// The Bundle entry (from 1) the set starts at: its panel, or its first Observation.
    pub entry: usize,
    pub patient: FhirPatient,
    pub details: HealthDetails,
}

/// What could not be read, by Bundle entry (0 for the Bundle as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirProblem {
    pub entry: usize,
    /// The reading or element at fault, or `-`.
    pub field: String,
    pub problem: String,
}

/// A Bundle read: its sets of readings and the problems of the rest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FhirObservations {
    pub sets: Vec<FhirReadings>,
    pub problems: Vec<FhirProblem>,
}

/// A Patient of the Bundle, as far as matching needs it.
#[derive(Debug, Clone, Default)]
struct BundlePatient {
    account: Option<String>,
    mrn: Option<String>,
    birth_date: Option<String>,
}

/// Reads the Observations of `text`, a FHIR R4 Bundle. `mrn_system` is the importing hospital's
/// MRN identifier system: only its MRNs match its directory.
pub fn read_observations(text: &str, mrn_system: &str) -> FhirObservations {
    let mut read = FhirObservations::default();
    let bundle: Value = match serde_json::from_str(text) {
        Ok(bundle) => bundle,
        Err(e) => {
            read.problems.push(problem(0, "-", format!("the file is not JSON: {e}")));
            return read;
        }
    };
    let Some(entries) = bundle["entry"].as_array().filter(|_| bundle["resourceType"] == "Bundle") else {
        read.problems.push(problem(
            0,
            "-",
            "the file is not a FHIR Bundle with entries (resourceType \"Bundle\", \"entry\": [...])",
        ));
        return read;
    };
    let resources: Vec<&Value> = entries.iter().map(|e| &e["resource"]).collect();
    // Where each resource is, by every way a reference may name it.
    let mut position: HashMap<String, usize> = HashMap::new();
    for (index, entry) in entries.iter().enumerate() {
        if let Some(url) = entry["fullUrl"].as_str() {
            position.insert(url.to_string(), index);
        }
        if let (Some(kind), Some(id)) = (entry["resource"]["resourceType"].as_str(), entry["resource"]["id"].as_str()) {
            position.insert(format!("{kind}/{id}"), index);
        }
    }
    let patients: HashMap<usize, BundlePatient> = resources
        .iter()
        .enumerate()
        .filter(|(_, r)| r["resourceType"] == "Patient")
        .map(|(index, resource)| (index, bundle_patient(resource, mrn_system)))
        .collect();
    let observations: Vec<usize> =
        (0..resources.len()).filter(|&i| resources[i]["resourceType"] == "Observation").collect();
    let member_of_panel = |index: usize| {
        observations.iter().any(|&panel| {
            members(resources[panel]).iter().any(|reference| position.get(reference.as_str()) == Some(&index))
        })
    };
    // Panels first, then loose Observations grouped by patient and day, in Bundle order.
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut loose: HashMap<(String, String), usize> = HashMap::new();
    for &index in &observations {
        let resource = resources[index];
        if !members(resource).is_empty() {
            let mut set = Vec::new();
            for reference in members(resource) {
                match position.get(reference.as_str()) {
                    Some(&member) if resources[member]["resourceType"] == "Observation" => set.push(member),
                    _ => read.problems.push(problem(
                        index + 1,
                        "hasMember",
                        format!("'{reference}' is not an Observation of this Bundle"),
                    )),
                }
            }
            groups.push((index, set));
        } else if !member_of_panel(index) {
            let key = (subject_reference(resource).unwrap_or_default(), effective_date(resource).unwrap_or_default());
            match loose.get(&key) {
                Some(&group) => groups[group].1.push(index),
                None => {
                    loose.insert(key, groups.len());
                    groups.push((index, vec![index]));
                }
            }
        }
    }
    for (first, members) in groups {
        let head = resources[first];
        let entry = first + 1;
        let patient_entry = subject_reference(head).and_then(|r| position.get(&r).copied());
        let patient = patient_entry.and_then(|i| patients.get(&i));
        let before = read.problems.len();
        let matched = match patient {
            Some(BundlePatient { account: Some(account), .. }) => Some(FhirPatient::Account(account.clone())),
            Some(BundlePatient { mrn: Some(mrn), .. }) => Some(FhirPatient::Mrn(mrn.clone())),
            Some(_) => {
                let why = format!(
                    "the Patient has neither an account identifier ({ACCOUNT_SYSTEM}) nor a medical record number of this hospital ({mrn_system})"
                );
                read.problems.push(problem(entry, "patient", why));
                None
            }
            None => {
                read.problems.push(problem(entry, "patient", "the subject is not a Patient of this Bundle"));
                None
            }
        };
        let Some(recorded_at) = effective_date(head) else {
            read.problems.push(problem(entry, "effectiveDateTime", "the Observation has no effective date"));
            continue;
        };
        let mut values: HashMap<&'static str, f64> = HashMap::new();
        for member in &members {
            read_observation(resources[*member], member + 1, &mut values, &mut read.problems);
        }
        if let (None, Some(kg), Some(m)) = (values.get("bmi"), values.get("weight"), values.get("height"))
            && *kg > 0.0
            && *m > 0.0
        {
            values.insert("bmi", (kg / (m * m) * 10.0).round() / 10.0);
        }
        if !values.contains_key("age") {
            match patient.and_then(|p| p.birth_date.as_deref()).and_then(|born| age_on(born, &recorded_at)) {
                Some(age) => {
                    values.insert("age", f64::from(age));
                }
                None => read.problems.push(problem(
                    entry,
                    "age",
                    "no Age observation (LOINC 30525-0) and no birth date on the Patient to work it out from",
                )),
            }
        }
        let Some(matched) = matched.filter(|_| read.problems.len() == before) else { continue };
        let value = |field: &str| values.get(field).copied().unwrap_or(0.0);
        let notes = head["note"][0]["text"].as_str().map(str::to_string);
        let details = HealthDetails {
            recorded_at,
            readings: Readings {
                pregnancies: value("pregnancies") as u32,
                glucose: value("glucose"),
                blood_pressure: value("blood_pressure"),
                skin_thickness: value("skin_thickness"),
                insulin: value("insulin"),
                bmi: value("bmi"),
                diabetes_pedigree: value("diabetes_pedigree"),
                age: value("age") as u32,
            },
            notes,
        };
        read.sets.push(FhirReadings { entry, patient: matched, details });
    }
    if read.sets.is_empty() && read.problems.is_empty() {
        read.problems.push(problem(0, "-", "the Bundle holds no Observations"));
    }
    read
}

fn problem(entry: usize, field: &str, problem: impl Into<String>) -> FhirProblem {
    FhirProblem { entry, field: field.to_string(), problem: problem.into() }
}

fn bundle_patient(resource: &Value, mrn_system: &str) -> BundlePatient {
    let identifiers = resource["identifier"].as_array().cloned().unwrap_or_default();
    let value_of = |system: &str| {
        identifiers.iter().find(|i| i["system"] == system).and_then(|i| i["value"].as_str()).map(str::to_string)
    };
    BundlePatient {
        account: value_of(ACCOUNT_SYSTEM),
        mrn: value_of(mrn_system),
        birth_date: resource["birthDate"].as_str().map(str::to_string),
    }
}

fn members(resource: &Value) -> Vec<String> {
    resource["hasMember"]
        .as_array()
        .map(|m| m.iter().filter_map(|r| r["reference"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn subject_reference(resource: &Value) -> Option<String> {
    resource["subject"]["reference"].as_str().map(str::to_string)
}

/// The day of an Observation (`YYYY-MM-DD` of `effectiveDateTime`, or of its period's start).
fn effective_date(resource: &Value) -> Option<String> {
    let time = resource["effectiveDateTime"].as_str().or_else(|| resource["effectivePeriod"]["start"].as_str())?;
    time.get(..10).map(str::to_string)
}

/// Age in whole years on `day`, both `YYYY-MM-DD`.
fn age_on(born: &str, day: &str) -> Option<u32> {
    let parts = |date: &str| -> Option<(u32, u32, u32)> {
        let mut fields = date.get(..10)?.split('-').map(|f| f.parse::<u32>().ok());
        Some((fields.next()??, fields.next()??, fields.next()??))
    };
    let (by, bm, bd) = parts(born)?;
    let (y, m, d) = parts(day)?;
    let years = y.checked_sub(by)?;
    Some(if (m, d) < (bm, bd) { years.checked_sub(1)? } else { years })
}

/// The reading an Observation's coding stands for, if any.
fn reading_of(coding: &Value) -> Option<&'static str> {
    let (system, code) = (coding["system"].as_str()?, coding["code"].as_str()?);
    READING_CODES.iter().find(|c| c.system == system && c.code == code).map(|c| c.field).or_else(|| {
        (system == LOINC).then(|| ALTERNATIVE_CODES.iter().find(|(c, _)| *c == code).map(|(_, f)| *f)).flatten()
    })
}

fn read_observation(
    resource: &Value,
    entry: usize,
    values: &mut HashMap<&'static str, f64>,
    problems: &mut Vec<FhirProblem>,
) {
    let codings = resource["code"]["coding"].as_array().cloned().unwrap_or_default();
    let is_code = |system: &str, codes: &[&str]| {
        codings.iter().any(|c| c["system"] == system && codes.iter().any(|code| c["code"] == *code))
    };
    if is_code(LOCAL_CODES, &[PANEL_CODE]) {
        return;
    }
    let mut put = |field: &'static str, observation: &Value, problems: &mut Vec<FhirProblem>| match reading_value(
        field,
        observation,
    ) {
        Ok(value) if values.insert(field, value).is_some() => {
            problems.push(problem(entry, field, format!("a second {field} reading in the same set")));
        }
        Ok(_) => {}
        Err(reason) => problems.push(problem(entry, field, reason)),
    };
    if is_code(LOINC, &BLOOD_PRESSURE_PANELS) {
        let components = resource["component"].as_array().cloned().unwrap_or_default();
        match components
            .iter()
            .find(|c| c["code"]["coding"].as_array().is_some_and(|cs| cs.iter().any(|c| c["code"] == DIASTOLIC)))
        {
            Some(diastolic) => put("blood_pressure", diastolic, problems),
            None => problems.push(problem(
                entry,
                "blood_pressure",
                "the blood-pressure panel has no diastolic component (LOINC 8462-4)",
            )),
        }
        return;
    }
    match codings.iter().find_map(reading_of) {
        Some(field) => put(field, resource, problems),
        None => {
            let named: Vec<String> = codings
                .iter()
                .map(|c| format!("{} {}", c["system"].as_str().unwrap_or("?"), c["code"].as_str().unwrap_or("?")))
                .collect();
            let hint =
                if is_code(LOINC, &[SYSTOLIC]) { " (hrm keeps the diastolic pressure, LOINC 8462-4)" } else { "" };
            problems.push(problem(
                entry,
                "code",
                format!(
                    "{} is not a reading hrm keeps{hint}",
                    if named.is_empty() { "an Observation without a code".into() } else { named.join(", ") }
                ),
            ));
        }
    }
}

/// The value of an Observation (or component) in hrm's unit for `field`; absent is 0.
fn reading_value(field: &'static str, observation: &Value) -> Result<f64, String> {
    if observation.get("dataAbsentReason").is_some() {
        let missing_allowed = READING_RANGES.iter().find(|r| r.field == field).is_none_or(|r| r.zero_means_missing);
        return if missing_allowed || field == "pregnancies" {
            Ok(0.0)
        } else {
            Err(format!("{field} is marked absent, but hrm needs it"))
        };
    }
    if let Some(count) = observation["valueInteger"].as_i64() {
        return Ok(count as f64);
    }
    let quantity = &observation["valueQuantity"];
    let value = quantity["value"].as_f64().ok_or_else(|| format!("{field} has no valueQuantity (or valueInteger)"))?;
    let unit = quantity["code"].as_str().or_else(|| quantity["unit"].as_str()).unwrap_or("");
    let converted = match (field, unit) {
        ("glucose", "mg/dL") => value,
        ("glucose", "mmol/L") => (value * GLUCOSE_MG_DL_PER_MMOL_L * 10.0).round() / 10.0,
        ("blood_pressure", "mm[Hg]" | "mmHg") => value,
        ("skin_thickness", "mm") => value,
        ("skin_thickness", "cm") => value * 10.0,
        ("insulin", "u[IU]/mL" | "[iU]/mL" | "uU/mL" | "m[IU]/L" | "m[iU]/L" | "mU/L") => value,
        ("insulin", "pmol/L") => (value / INSULIN_PMOL_L_PER_UU_ML * 10.0).round() / 10.0,
        ("bmi", "kg/m2" | "kg/m^2") => value,
        ("weight", "kg") => value,
        ("weight", "g") => value / 1000.0,
        ("weight", "[lb_av]" | "lb") => value * KG_PER_POUND,
        ("height", "m") => value,
        ("height", "cm") => value / 100.0,
        ("height", "[in_i]" | "in") => value * 0.0254,
        ("age", "a" | "yr" | "years") => value.floor(),
        ("pregnancies", "" | "{#}" | "1") => value,
        ("diabetes_pedigree", "" | "1") => value,
        (_, unit) => return Err(format!("{field} in '{unit}' cannot be converted; send {}", expected_unit(field))),
    };
    Ok(converted)
}

fn expected_unit(field: &str) -> &'static str {
    match field {
        "glucose" => "mg/dL or mmol/L",
        "blood_pressure" => "mm[Hg]",
        "skin_thickness" => "mm or cm",
        "insulin" => "u[IU]/mL or pmol/L",
        "bmi" => "kg/m2",
        "weight" => "kg, g or [lb_av]",
        "height" => "cm, m or [in_i]",
        "age" => "a (years)",
        _ => "a number without a unit",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MRN_SYSTEM: &str = "urn:hrm:fhir:mrn:0x0101010101010101010101010101010101010101";

    fn observation(url: &str, code: &str, value: Value) -> Value {
        let mut resource = json!({
            "resourceType": "Observation", "status": "final",
            "code": { "coding": [{ "system": LOINC, "code": code }] },
            "subject": { "reference": "Patient/p1" },
            "effectiveDateTime": "2026-11-02T08:30:00Z",
        });
        resource.as_object_mut().unwrap().extend(value.as_object().unwrap().clone());
        json!({ "fullUrl": url, "resource": resource })
    }

    fn bundle(patient_identifier: Value, observations: Vec<Value>) -> String {
        let mut entries = vec![json!({ "fullUrl": "urn:uuid:p", "resource": {
            "resourceType": "Patient", "id": "p1", "birthDate": "1980-02-29", "identifier": [patient_identifier] } })];
        entries.extend(observations);
        json!({ "resourceType": "Bundle", "type": "collection", "entry": entries }).to_string()
    }

    #[test]
    fn a_lab_bundle_in_other_codes_and_units_becomes_one_record() {
        let text = bundle(
            json!({ "system": MRN_SYSTEM, "value": "SM-7" }),
            vec![
                observation("urn:uuid:g", "14749-6", json!({ "valueQuantity": { "value": 7.8, "code": "mmol/L" } })),
                observation(
                    "urn:uuid:bp",
                    "85354-9",
                    json!({ "component": [
                    { "code": { "coding": [{ "system": LOINC, "code": "8480-6" }] }, "valueQuantity": { "value": 128, "code": "mm[Hg]" } },
                    { "code": { "coding": [{ "system": LOINC, "code": "8462-4" }] }, "valueQuantity": { "value": 82, "code": "mm[Hg]" } } ] }),
                ),
                observation("urn:uuid:b", "39156-5", json!({ "valueQuantity": { "value": 31.2, "code": "kg/m2" } })),
                observation("urn:uuid:i", "20448-7", json!({ "valueQuantity": { "value": 60, "code": "pmol/L" } })),
                observation("urn:uuid:w", "29463-7", json!({ "valueQuantity": { "value": 200, "code": "[lb_av]" } })),
                observation("urn:uuid:h", "8302-2", json!({ "valueQuantity": { "value": 170, "code": "cm" } })),
            ],
        );
        let read = read_observations(&text, MRN_SYSTEM);
        assert_eq!(read.problems, vec![]);
        assert_eq!(read.sets.len(), 1);
        let set = &read.sets[0];
        assert_eq!((set.entry, &set.patient), (2, &FhirPatient::Mrn("SM-7".into())));
        let r = &set.details.readings;
        assert_eq!((r.glucose, r.blood_pressure, r.bmi, r.insulin), (140.5, 82.0, 31.2, 10.0));
        assert_eq!(
            (r.age, r.pregnancies, r.skin_thickness),
            (46, 0, 0.0),
            "age from the birth date; the rest not measured"
        );
        assert_eq!(set.details.recorded_at, "2026-11-02");
        assert!(set.details.validate().is_ok());
    }

    #[test]
    fn unknown_codes_units_and_patients_are_named_by_entry() {
        let text = bundle(
            json!({ "system": "urn:other-hospital", "value": "X" }),
            vec![
                observation("urn:uuid:s", "8480-6", json!({ "valueQuantity": { "value": 128, "code": "mm[Hg]" } })),
                observation("urn:uuid:g", "2345-7", json!({ "valueQuantity": { "value": 7, "code": "g/L" } })),
            ],
        );
        let read = read_observations(&text, MRN_SYSTEM);
        assert!(read.sets.is_empty());
        let said: Vec<(usize, &str)> = read.problems.iter().map(|p| (p.entry, p.field.as_str())).collect();
        assert_eq!(said, [(2, "patient"), (2, "code"), (3, "glucose")]);
        assert!(read.problems[1].problem.contains("hrm keeps the diastolic pressure"));
        assert!(read.problems[2].problem.contains("'g/L' cannot be converted; send mg/dL or mmol/L"));
        let unmatched = read_observations(
            &bundle(
                json!({ "system": "urn:other", "value": "X" }),
                vec![observation("urn:uuid:g", "1518-0", json!({ "valueQuantity": { "value": 99, "code": "mg/dL" } }))],
            ),
            MRN_SYSTEM,
        );
        assert!(unmatched.sets.is_empty());
        assert!(unmatched.problems[0].field == "patient" && unmatched.problems[0].problem.contains(MRN_SYSTEM));
        assert_eq!(read_observations("{}", MRN_SYSTEM).problems[0].entry, 0);
    }

    #[test]
    fn a_bmi_is_worked_out_from_weight_and_height_when_not_given() {
        let text = bundle(
            json!({ "system": ACCOUNT_SYSTEM, "value": "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65" }),
            vec![
                observation("urn:uuid:w", "29463-7", json!({ "valueQuantity": { "value": 200, "code": "[lb_av]" } })),
                observation("urn:uuid:h", "8302-2", json!({ "valueQuantity": { "value": 170, "code": "cm" } })),
            ],
        );
        let read = read_observations(&text, MRN_SYSTEM);
        assert_eq!(read.problems, vec![]);
        assert_eq!(read.sets[0].details.readings.bmi, 31.4, "90.7 kg over 1.70 m squared");
        assert!(matches!(&read.sets[0].patient, FhirPatient::Account(a) if a.starts_with("0x15d3")));
    }

    #[test]
    fn ages_are_whole_years_on_the_day() {
        assert_eq!(age_on("1980-02-29", "2026-02-28"), Some(45));
        assert_eq!(age_on("1980-02-29", "2026-03-01"), Some(46));
        assert_eq!(age_on("2030-01-01", "2026-03-01"), None);
    }
}
