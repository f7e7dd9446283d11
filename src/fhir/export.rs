//! Writing a patient's archive as one FHIR R4 Bundle.

use std::collections::HashMap;

use alloy::primitives::{Address, keccak256};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{
    ACCOUNT_SYSTEM, COMMITMENT_SYSTEM, ENTRY_SYSTEM, ENVELOPE_DIGEST_SYSTEM, LOCAL_CODES, PANEL_CODE, READING_CODES,
    SALT_SYSTEM, TRANSACTION_SYSTEM, UCUM, mrn_system,
};
use crate::directory::DirectoryPatient;
use crate::records::health::READING_RANGES;
use crate::records::{BillDetails, HealthDetails, Record};
use crate::store::{Archive, ArchivedRecord, StoreError, StoredPrediction};
use mongodb::bson;

/// What one patient's Bundle is made of.
#[derive(Debug, Clone)]
pub struct PatientExport {
    pub patient: Address,
    /// The patient's archived records (health and bills).
    pub records: Vec<ArchivedRecord>,
    /// The patient's stored predictions.
    pub predictions: Vec<StoredPrediction>,
    /// Hospital names by address (from the chain's registrations).
    pub hospital_names: HashMap<Address, String>,
    /// When the Bundle is written (RFC 3339), its `timestamp`.
    pub exported_at: String,
    /// The patient as the exporting hospital's directory knows them (with that hospital), when
    /// it enrolled them: their MRN, name, birth date and sex go into the `Patient`.
    pub known_as: Option<(Address, DirectoryPatient)>,
}

impl PatientExport {
    /// `records` of `patient` (those the reader may see, from `hrm::access`), with the stored
    /// predictions made for them, to be exported now. `hospital_names` come from the chain (the
    /// CLI asks the contract; the web app has them in its entry ledger).
    pub async fn read(
        archive: &Archive,
        patient: Address,
        records: Vec<ArchivedRecord>,
        hospital_names: HashMap<Address, String>,
    ) -> Result<Self, StoreError> {
        let shown: std::collections::HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let predictions = archive
            .predictions_of_patient(patient)
            .await?
            .into_iter()
            .filter(|p| shown.contains(p.record_id.as_str()))
            .collect();
        let exported_at = bson::DateTime::now().try_to_rfc3339_string().unwrap_or_default();
        let known_as = archive
            .directory_entry_of(patient)
            .await?
            .and_then(|(link, known)| Some((link.hospital.parse().ok()?, known)));
        Ok(Self { patient, records, predictions, hospital_names, exported_at, known_as })
    }
}

/// A stable `urn:uuid:` for a resource, derived from what it stands for, so that exporting the same
/// archive twice gives the same Bundle.
fn resource_url(name: &str) -> String {
    let hash = keccak256(name.as_bytes());
    let hex = alloy::primitives::hex::encode(&hash[..16]);
    // Version 4 and RFC 4122 variant bits, so that the value is a well-formed UUID.
    format!(
        "urn:uuid:{}-{}-4{}-{}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        ["8", "9", "a", "b"][usize::from(hash[8] & 3)],
        &hex[17..20],
        &hex[20..32]
    )
}

fn account_identifier(address: Address) -> Value {
    json!({ "system": ACCOUNT_SYSTEM, "value": address.to_checksum(None) })
}

fn patient_url(patient: Address) -> String {
    resource_url(&format!("patient {patient:#x}"))
}

fn organization_url(hospital: Address) -> String {
    resource_url(&format!("organization {hospital:#x}"))
}

/// The panel Observation of a health record: what a RiskAssessment's basis points at.
fn panel_url(record_id: &str) -> String {
    resource_url(&format!("panel {record_id}"))
}

fn entry(full_url: &str, resource: Value) -> Value {
    json!({ "fullUrl": full_url, "resource": resource })
}

fn reference(url: &str) -> Value {
    json!({ "reference": url })
}

fn category(code: &str) -> Value {
    json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": code }] }])
}

fn address_of(hex: &str, id: &str) -> Result<Address, StoreError> {
    hex.parse().map_err(|e| StoreError::Damaged { id: id.to_string(), message: format!("address '{hex}': {e}") })
}

/// The `Patient`: the account, and what the exporting hospital's directory holds (its MRN, typed
/// `MR` and assigned by that hospital, the name, birth date and sex) when it enrolled them.
fn patient_resource(export: &PatientExport) -> Value {
    let mut identifiers = vec![account_identifier(export.patient)];
    let mut patient = json!({ "resourceType": "Patient", "active": true });
    if let Some((hospital, known)) = &export.known_as {
        identifiers.push(json!({
            "use": "usual",
            "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR" }] },
            "system": mrn_system(*hospital),
            "value": known.mrn,
            "assigner": reference(&organization_url(*hospital)),
        }));
        patient["name"] = json!([{ "text": known.name }]);
        patient["birthDate"] = json!(known.birth_date);
        patient["gender"] = json!(known.sex.as_str());
    }
    patient["identifier"] = Value::Array(identifiers);
    patient
}

/// The Bundle (type `collection`) of everything archived about one patient.
pub fn patient_bundle(export: &PatientExport) -> Result<Value, StoreError> {
    let patient_ref = patient_url(export.patient);
    let mut entries = vec![entry(&patient_ref, patient_resource(export))];
    let mut hospitals: Vec<Address> = Vec::new();
    if let Some((hospital, _)) = &export.known_as {
        hospitals.push(*hospital);
    }
    for record in &export.records {
        let submitter = address_of(&record.submitter, &record.id)?;
        for hospital in std::iter::once(submitter).chain(voting_hospitals(record, export.patient)?) {
            if !hospitals.contains(&hospital) {
                hospitals.push(hospital);
            }
        }
    }
    for hospital in &hospitals {
        let name = export.hospital_names.get(hospital).cloned().unwrap_or_else(|| format!("Hospital {hospital}"));
        entries.push(entry(
            &organization_url(*hospital),
            json!({ "resourceType": "Organization", "identifier": [account_identifier(*hospital)], "active": true, "name": name }),
        ));
    }
    for record in &export.records {
        entries.extend(record_entries(record, export.patient, &patient_ref)?);
    }
    for prediction in &export.predictions {
        entries.push(risk_assessment(prediction, &patient_ref));
    }
    Ok(json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": export.exported_at,
        "identifier": { "system": ACCOUNT_SYSTEM, "value": format!("{} {}", export.patient.to_checksum(None), export.exported_at) },
        "entry": entries,
    }))
}

/// The hospitals among a record's approvers (the patient approves too, as the Patient).
fn voting_hospitals(record: &ArchivedRecord, patient: Address) -> Result<Vec<Address>, StoreError> {
    let mut hospitals = Vec::new();
    for voter in &record.voters {
        let voter = address_of(voter, &record.id)?;
        if voter != patient {
            hospitals.push(voter);
        }
    }
    Ok(hospitals)
}

/// A record's resources, its committed copy and its Provenance.
fn record_entries(record: &ArchivedRecord, patient: Address, patient_ref: &str) -> Result<Vec<Value>, StoreError> {
    let submitter = organization_url(address_of(&record.submitter, &record.id)?);
    let entry_identifier = json!([{ "system": ENTRY_SYSTEM, "value": record.id }]);
    let details = record.details()?;
    let mut entries = match &details {
        Record::Health(health) => health_entries(record, health, patient_ref, &submitter, &entry_identifier),
        Record::Bill(bill) => vec![invoice(record, bill, patient_ref, &submitter, &entry_identifier)],
    };
    let targets: Vec<Value> =
        entries.iter().map(|e| reference(e["fullUrl"].as_str().expect("every entry has a URL"))).collect();
    let committed = resource_url(&format!("committed {}", record.id));
    let canonical = details.canonical_json();
    entries.push(entry(
        &committed,
        json!({
            "resourceType": "Binary",
            "contentType": "application/json",
            "data": base64::engine::general_purpose::STANDARD.encode(canonical),
        }),
    ));
    let agent_type = |code: &str| json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": code }] });
    let mut agents = vec![json!({ "type": agent_type("author"), "who": reference(&submitter) })];
    for voter in &record.voters {
        let voter = address_of(voter, &record.id)?;
        let who = if voter == patient { patient_ref.to_string() } else { organization_url(voter) };
        agents.push(json!({ "type": agent_type("verifier"), "who": reference(&who) }));
    }
    let source = |system: &str, value: &str, display: String| json!({ "role": "source", "what": { "identifier": { "system": system, "value": value }, "display": display } });
    let recorded = record.migrated_at.try_to_rfc3339_string().unwrap_or_else(|_| "1970-01-01T00:00:00Z".into());
    let mut entities = vec![
        source(
            ENTRY_SYSTEM,
            &record.id,
            format!(
                "HealthRecords entry {} on chain {}, contract {}",
                record.entry_id, record.chain_id, record.contract
            ),
        ),
        source(
            TRANSACTION_SYSTEM,
            &record.submission.tx_hash,
            format!("submission, block {}", record.submission.block),
        ),
        source(TRANSACTION_SYSTEM, &record.approval.tx_hash, format!("approval, block {}", record.approval.block)),
        source(COMMITMENT_SYSTEM, &record.commitment, "keccak256(salt ‖ canonical record JSON), as on chain".into()),
        source(SALT_SYSTEM, &record.salt, "the commitment's salt".into()),
    ];
    // The chain keeps the envelope's digest, never the envelope.
    if let Some(digest) = &record.envelope_digest {
        entities.push(source(ENVELOPE_DIGEST_SYSTEM, digest, "keccak256 of the sealed envelope, as on chain".into()));
    }
    entities.push(json!({ "role": "quotation", "what": { "reference": committed, "display": "the committed record, byte for byte" } }));
    entries.push(entry(
        &resource_url(&format!("provenance {}", record.id)),
        json!({
            "resourceType": "Provenance",
            "target": targets,
            "recorded": recorded,
            "agent": agents,
            "entity": entities,
        }),
    ));
    Ok(entries)
}

fn health_entries(
    record: &ArchivedRecord,
    details: &HealthDetails,
    patient_ref: &str,
    submitter: &str,
    identifier: &Value,
) -> Vec<Value> {
    let values = details.readings.values();
    let mut members = Vec::new();
    let mut entries = Vec::new();
    for ((code, range), value) in READING_CODES.iter().zip(READING_RANGES.iter()).zip(values) {
        let url = resource_url(&format!("reading {} {}", record.id, code.field));
        let mut observation = json!({
            "resourceType": "Observation",
            "status": "final",
            "category": category(code.category),
            "code": { "coding": [{ "system": code.system, "code": code.code, "display": code.display }], "text": code.display },
            "subject": reference(patient_ref),
            "effectiveDateTime": details.recorded_at,
            "performer": [reference(submitter)],
        });
        if range.zero_means_missing && value == 0.0 {
            observation["dataAbsentReason"] = json!({
                "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "not-performed", "display": "Not Performed" }],
                "text": "not measured (0 in the record)",
            });
        } else if let Some(unit) = code.ucum {
            observation["valueQuantity"] = json!({ "value": value, "unit": unit, "system": UCUM, "code": unit });
        } else {
            observation["valueInteger"] = json!(value as i64);
        }
        members.push(reference(&url));
        entries.push(entry(&url, observation));
    }
    let mut panel = json!({
        "resourceType": "Observation",
        "identifier": identifier,
        "status": "final",
        "category": category("laboratory"),
        "code": { "coding": [{ "system": LOCAL_CODES, "code": PANEL_CODE, "display": "Diabetes screening readings (the Pima data's eight)" }] },
        "subject": reference(patient_ref),
        "effectiveDateTime": details.recorded_at,
        "performer": [reference(submitter)],
        "hasMember": members,
    });
    if let Some(notes) = &details.notes {
        panel["note"] = json!([{ "text": notes }]);
    }
    entries.insert(0, entry(&panel_url(&record.id), panel));
    entries
}

fn invoice(
    record: &ArchivedRecord,
    bill: &BillDetails,
    patient_ref: &str,
    submitter: &str,
    identifier: &Value,
) -> Value {
    let money = |hundredths: i64| json!({ "value": hundredths as f64 / 100.0, "currency": bill.currency });
    let items: Vec<Value> = bill
        .line_items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            json!({
                "sequence": i + 1,
                "chargeItemCodeableConcept": { "text": item.description },
                "priceComponent": [{ "type": "base", "amount": money(item.amount.hundredths) }],
            })
        })
        .collect();
    entry(
        &resource_url(&format!("invoice {}", record.id)),
        json!({
            "resourceType": "Invoice",
            "identifier": identifier,
            "status": "issued",
            "subject": reference(patient_ref),
            "issuer": reference(submitter),
            "date": bill.issued_at,
            "lineItem": items,
            "totalGross": money(bill.total.hundredths),
        }),
    )
}

fn risk_assessment(prediction: &StoredPrediction, patient_ref: &str) -> Value {
    let notes: Vec<Value> = prediction
        .contributions
        .iter()
        .map(|c| json!({ "text": format!("{} = {}: contribution {:+.4} to the log-odds", c.feature, c.value, c.contribution) }))
        .collect();
    let occurrence = prediction.predicted_at.try_to_rfc3339_string().unwrap_or_default();
    entry(
        &resource_url(&format!("prediction {} {} {occurrence}", prediction.record_id, prediction.model_id)),
        json!({
            "resourceType": "RiskAssessment",
            "status": "final",
            "subject": reference(patient_ref),
            "occurrenceDateTime": occurrence,
            "basis": [reference(&panel_url(&prediction.record_id))],
            "method": {
                "coding": [{ "system": LOCAL_CODES, "code": "pima-logistic-regression", "display": "Logistic regression trained on the Pima Indians Diabetes data" }],
                "text": format!("hrm model {} (format version {}), threshold {}", prediction.model_id, prediction.model_format_version, prediction.threshold),
            },
            "prediction": [{
                "outcome": { "text": "Diabetes mellitus" },
                "probabilityDecimal": prediction.probability,
                "qualitativeRisk": { "text": if prediction.diabetic { "higher risk" } else { "lower risk" } },
            }],
            "note": notes,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_urls_are_stable_well_formed_uuids() {
        let url = resource_url("patient 0xabc");
        assert_eq!(url, resource_url("patient 0xabc"));
        assert_ne!(url, resource_url("patient 0xabd"));
        let uuid = url.strip_prefix("urn:uuid:").unwrap();
        let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(uuid.as_bytes()[14] == b'4' && "89ab".contains(uuid.as_bytes()[19] as char), "{uuid}");
    }
}
