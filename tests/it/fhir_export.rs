//! `hrm export fhir`: a patient's archive as a FHIR R4 Bundle that the reference validator passes
//! with no error, and `--verify`, which finds it matching the chain and names a value edited by
//! hand.

use std::process::Command;

use hrm::access::AccessLog;
use hrm::chain::dev_keys::dev_account;
use hrm::directory::enrollment::{enroll, issue_challenge};
use hrm::tools::{Tool, locate};
use serde_json::Value;

use crate::common::TestEnv;
use crate::common::cli::{Hrm, health_json};
use crate::common::web::sign_hex;

#[tokio::test]
async fn a_patients_archive_exports_as_valid_fhir_and_verifies_against_the_chain() {
    let env = TestEnv::start("fhir_export").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    // Insulin 0 is "not measured": it must become a dataAbsentReason, not a value of 0.
    let record = hrm.write_file("visit.json", &health_json("148", "fasting sample"));
    hrm.ok(&["--from", "dev:1", "submit-health", "--patient", "dev:4", "--file", record.to_str().unwrap()]);
    hrm.ok(&[
        "--from",
        "dev:1",
        "submit-bill",
        "--patient",
        "dev:4",
        "--issued-at",
        "2026-11-02",
        "--currency",
        "USD",
        "--item",
        "Consultation=120.00",
        "--item",
        "HbA1c test=45.50",
        "--total",
        "165.50",
    ]);
    for voter in ["dev:2", "dev:4"] {
        hrm.ok(&["--from", voter, "vote", "1", "--approve"]);
        hrm.ok(&["--from", voter, "vote", "2", "--approve"]);
    }
    let archive_env = [("HRM_MONGODB_URI", env.mongodb_uri.as_str())];
    let run = |args: &[&str]| {
        let mut command = hrm.command(args);
        command.envs(archive_env);
        command.output().expect("running hrm")
    };
    assert!(run(&["--from", "dev:1", "migrate"]).status.success());
    hrm.ok(&["model", "train"]);
    assert!(run(&["predict", "--patient", "dev:4"]).status.success());
    // St Mary (dev:1) knows the patient by its medical record number: registered and enrolled.
    hrm.ok(&[
        "patient",
        "add",
        "--mrn",
        "SM-0042",
        "--name",
        "Ada Byron",
        "--birth-date",
        "1980-02-29",
        "--sex",
        "female",
    ]);
    let archive = hrm::store::Archive::connect(&env.mongodb_uri, &env.database_name).await.unwrap();
    let hospital = dev_account(1).address();
    let challenge = issue_challenge(&archive, "SM-0042", "nina", "records.stmary.test", hospital).await.unwrap();
    let signature = sign_hex(&dev_account(4), &challenge.message());
    enroll(&archive, &AccessLog::new(&archive), &challenge.code, dev_account(4).address(), &signature).await.unwrap();

    let bundle_path = hrm.home().join("bundle.json");
    let exported =
        run(&["--from", "dev:4", "export", "fhir", "--patient", "dev:4", "--out", bundle_path.to_str().unwrap()]);
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    let bundle: Value = serde_json::from_str(&std::fs::read_to_string(&bundle_path).unwrap()).unwrap();
    let resources: Vec<&Value> = bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).collect();
    let of_kind = |kind: &str| resources.iter().filter(|r| r["resourceType"] == kind).count();
    assert_eq!(
        [of_kind("Patient"), of_kind("Organization"), of_kind("Observation"), of_kind("Invoice")],
        [1, 2, 9, 1],
        "{bundle:#}"
    );
    assert_eq!([of_kind("RiskAssessment"), of_kind("Provenance"), of_kind("Binary")], [1, 2, 2]);
    let patient = resources.iter().find(|r| r["resourceType"] == "Patient").unwrap();
    assert_eq!(patient["identifier"][0]["value"], dev_account(4).address().to_checksum(None), "the account stays");
    let mrn = &patient["identifier"][1];
    assert_eq!(mrn["system"], format!("urn:hrm:fhir:mrn:{hospital:#x}"), "{patient:#}");
    assert_eq!((mrn["value"].as_str(), mrn["type"]["coding"][0]["code"].as_str()), (Some("SM-0042"), Some("MR")));
    assert_eq!(patient["name"][0]["text"], "Ada Byron");
    assert_eq!((patient["birthDate"].as_str(), patient["gender"].as_str()), (Some("1980-02-29"), Some("female")));
    let coded = |code: &str| *resources.iter().find(|r| r["code"]["coding"][0]["code"] == code).expect(code);
    assert_eq!(coded("1518-0")["valueQuantity"]["value"], 148.0);
    assert_eq!(coded("1518-0")["valueQuantity"]["code"], "mg/dL");
    assert_eq!(coded("27826-7")["dataAbsentReason"]["coding"][0]["code"], "not-performed");
    assert!(coded("27826-7").get("valueQuantity").is_none());
    let provenance = resources.iter().find(|r| r["resourceType"] == "Provenance").unwrap();
    let systems: Vec<&str> = provenance["entity"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["what"]["identifier"]["system"].as_str())
        .collect();
    assert_eq!(
        systems,
        [
            "urn:hrm:fhir:entry",
            "urn:hrm:fhir:transaction",
            "urn:hrm:fhir:transaction",
            "urn:hrm:fhir:commitment",
            "urn:hrm:fhir:commitment-salt",
            "urn:hrm:fhir:envelope-digest"
        ]
    );

    // The reference validator: no error.
    let validator = locate(Tool::FhirValidate).unwrap_or_else(|e| panic!("{e}"));
    let validated = Command::new(&validator).arg(&bundle_path).output().expect("running fhir-validate");
    let report = String::from_utf8_lossy(&validated.stdout);
    let errors: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("\"severity\":\"error\"") || l.contains("\"severity\":\"fatal\""))
        .collect();
    assert!(errors.is_empty() && validated.status.success(), "the validator found errors:\n{}", errors.join("\n"));

    // FHIR in: Hope (dev:2), with its own database, imports the Bundle St Mary exported. The
    // patient is matched by account; the health record goes through Hope's import, votes and
    // archive, and comes out with the readings St Mary archived.
    hrm.ok(&["--from", "dev:2", "hospital", "supporting", "set", "dev:1"]);
    let imported = hrm.json(&on("hope", &["--from", "dev:2", "import", "--fhir", bundle_path.to_str().unwrap()]));
    assert_eq!(
        imported["rows"].as_array().unwrap().len(),
        1,
        "one health record; the Invoice is not an Observation: {imported:#}"
    );
    let entry = imported["rows"][0]["entry_id"].as_u64().unwrap().to_string();
    for voter in ["dev:1", "dev:4"] {
        hrm.ok(&["--from", voter, "vote", &entry, "--approve"]);
    }
    // Entries 1 and 2 are St Mary's, whose envelopes Hope cannot fetch here (no endpoints): exit 3.
    let migrated = hrm.run(&on("hope", &["--from", "dev:2", "migrate"]));
    assert!(matches!(migrated.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&migrated.stderr));
    let readings_of = |database: &str, entry: u64| {
        let found = hrm.json(&["--database", database, "--from", "dev:4", "records", "--patient", "dev:4"]);
        let record =
            found["records"].as_array().unwrap().iter().find(|r| r["entry_id"].as_u64() == Some(entry)).cloned();
        let record =
            record.unwrap_or_else(|| panic!("entry {entry} is archived at {database}: {found:#}"))["record"].clone();
        (record["recorded_at"].clone(), record["readings"].clone(), record["notes"].clone())
    };
    assert_eq!(
        readings_of("hope", entry.parse().unwrap()),
        readings_of(&env.database_name, 1),
        "the readings survive the round trip"
    );

    // A lab's Bundle in other codes, naming the patient by Hope's MRN: matched in Hope's directory.
    hrm.ok(&on(
        "hope",
        &["patient", "add", "--mrn", "H-77", "--name", "Ada Byron", "--birth-date", "1980-02-29", "--sex", "female"],
    ));
    let hope_archive = hrm::store::Archive::connect(&env.mongodb_uri, "hope").await.unwrap();
    let challenge =
        issue_challenge(&hope_archive, "H-77", "hugo", "records.hope.test", dev_account(2).address()).await.unwrap();
    let signature = sign_hex(&dev_account(4), &challenge.message());
    enroll(&hope_archive, &AccessLog::new(&hope_archive), &challenge.code, dev_account(4).address(), &signature)
        .await
        .unwrap();
    let lab = |code: &str, value: f64, unit: &str| {
        serde_json::json!({ "resource": {
        "resourceType": "Observation", "status": "final", "subject": { "reference": "Patient/ada" },
        "code": { "coding": [{ "system": "http://loinc.org", "code": code }] }, "effectiveDateTime": "2026-11-20",
        "valueQuantity": { "value": value, "code": unit } } })
    };
    let lab_bundle = |observations: Vec<Value>, mrn_system: String| {
        let mut entries =
            vec![serde_json::json!({ "resource": { "resourceType": "Patient", "id": "ada", "birthDate": "1980-02-29",
            "identifier": [{ "system": mrn_system, "value": "H-77" }] } })];
        entries.extend(observations);
        serde_json::json!({ "resourceType": "Bundle", "type": "collection", "entry": entries }).to_string()
    };
    let hope_mrns = format!("urn:hrm:fhir:mrn:{:#x}", dev_account(2).address());
    let good = hrm.write_file(
        "lab.json",
        &lab_bundle(vec![lab("14749-6", 6.1, "mmol/L"), lab("39156-5", 29.4, "kg/m2")], hope_mrns.clone()),
    );
    let imported = hrm.json(&on("hope", &["--from", "dev:2", "import", "--fhir", good.to_str().unwrap()]));
    assert_eq!(
        imported["rows"][0]["patient"].as_str().unwrap().to_lowercase(),
        format!("{:#x}", dev_account(4).address())
    );
    let lab_entry = imported["rows"][0]["entry_id"].to_string();
    let shown = hrm.json(&on("hope", &["--from", "dev:4", "show", &lab_entry]));
    assert_eq!(shown["record"]["readings"]["glucose"], 109.9, "6.1 mmol/L in mg/dL: {shown:#}");
    assert_eq!(shown["record"]["readings"]["age"], 46, "from the birth date");
    // Unknown codes and unmatched patients are listed by entry, and nothing is sent.
    let entries_before = hrm.json(&["status"]).as_array().unwrap().len();
    let bad = hrm.write_file(
        "bad.json",
        &lab_bundle(vec![lab("8480-6", 128.0, "mm[Hg]"), lab("2345-7", 99.0, "mg/dL")], "urn:other".into()),
    );
    let refused = hrm.run(&on("hope", &["--from", "dev:2", "import", "--fhir", bad.to_str().unwrap()]));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("entry") && stderr.contains("8480-6") && stderr.contains("is not a reading hrm keeps"),
        "{stderr}"
    );
    assert!(stderr.contains("nor a medical record number of this hospital"), "{stderr}");
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert_eq!(hrm.json(&["status"]).as_array().unwrap().len(), entries_before);

    // --verify: the Bundle matches the chain.
    let verified = run(&["export", "fhir", "--verify", bundle_path.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success() && out.contains("All 2 records match"), "{out}");

    // A glucose edited by hand is named, with both values; the exit status is 1.
    let edited_path = hrm.home().join("edited.json");
    std::fs::write(&edited_path, edit_glucose(&bundle, 150.0, false).to_string()).unwrap();
    let verified = run(&["--json", "export", "fhir", "--verify", edited_path.to_str().unwrap()]);
    assert_eq!(verified.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&verified.stdout).unwrap();
    let problems = report["records"][0]["problems"].to_string();
    assert!(problems.contains("readings.glucose is 150.0 in the Bundle but 148.0"), "{report:#}");
    assert_eq!(report["records"][1]["problems"], serde_json::json!([]), "the bill is untouched");
    // Editing the committed copy as well cannot hide it.
    std::fs::write(&edited_path, edit_glucose(&bundle, 150.0, true).to_string()).unwrap();
    let verified = run(&["export", "fhir", "--verify", edited_path.to_str().unwrap()]);
    assert_eq!(verified.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&verified.stdout).contains("both were changed"));
}

/// The Bundle with the glucose Observation's value set to `glucose`, and with the committed copy
/// (the Binary) changed to match when `and_committed_copy`.
fn edit_glucose(bundle: &Value, glucose: f64, and_committed_copy: bool) -> Value {
    use base64::Engine as _;
    let mut edited = bundle.clone();
    for entry in edited["entry"].as_array_mut().unwrap() {
        let resource = &mut entry["resource"];
        if resource["code"]["coding"][0]["code"] == "1518-0" {
            resource["valueQuantity"]["value"] = glucose.into();
        }
        if and_committed_copy && resource["resourceType"] == "Binary" {
            let engine = base64::engine::general_purpose::STANDARD;
            let text = String::from_utf8(engine.decode(resource["data"].as_str().unwrap()).unwrap()).unwrap();
            if text.contains("\"glucose\":148") {
                resource["data"] =
                    engine.encode(text.replace("\"glucose\":148", &format!("\"glucose\":{glucose}"))).into();
            }
        }
    }
    edited
}

/// `args` against the database `database` (a hospital's own).
fn on<'a>(database: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    [&["--database", database][..], args].concat()
}
