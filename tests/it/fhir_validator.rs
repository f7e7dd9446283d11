//! The FHIR R4 reference validator that `tools/setup` builds (HAPI FHIR, offline), run the way the
//! FHIR export's tests are to run it: a valid resource passes with no error, an invalid one fails
//! with each error named by its location.

use std::process::Command;

use hrm::tools::{Tool, locate};

#[test]
fn the_reference_validator_passes_valid_r4_and_names_each_error() {
    let validator = locate(Tool::FhirValidate).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let valid = dir.path().join("valid.json");
    std::fs::write(
        &valid,
        r#"{"resourceType": "Patient",
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">A patient</div>"},
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:example:patient-1"}]}"#,
    )
    .unwrap();
    // An Observation needs a status and a code; a quantity's unit code must be UCUM.
    let invalid = dir.path().join("invalid.json");
    std::fs::write(
        &invalid,
        r#"{"resourceType": "Observation",
            "valueQuantity": {"value": 72, "system": "http://unitsofmeasure.org", "code": "mmHgg"}}"#,
    )
    .unwrap();

    let output = Command::new(&validator).arg(&valid).arg(&invalid).output().expect("running fhir-validate");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let issues: Vec<serde_json::Value> =
        stdout.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect();
    let errors_in = |file: &std::path::Path| -> Vec<String> {
        issues
            .iter()
            .filter(|i| {
                i["file"] == file.to_str().unwrap() && matches!(i["severity"].as_str(), Some("error" | "fatal"))
            })
            .map(|i| format!("{}: {}", i["location"], i["message"]))
            .collect()
    };
    assert_eq!(errors_in(&valid), Vec::<String>::new());
    let errors = errors_in(&invalid).join("\n");
    for expected in ["Observation.status", "Observation.code", "mmHgg"] {
        assert!(errors.contains(expected), "no error about {expected}:\n{errors}");
    }
}
