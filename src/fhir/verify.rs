//! Checking a Bundle against the chain: each record is rebuilt from the exported values, its
//! commitment recomputed with the salt the Provenance carries, and compared with the commitment
//! the chain holds for the entry. When they differ, the committed copy (the Binary the Provenance
//! quotes, itself checked against the chain) names the fields that were changed.

use std::collections::HashMap;

use alloy::primitives::{Address, B256};
use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use super::{
    COMMITMENT_SYSTEM, ENTRY_SYSTEM, ENVELOPE_DIGEST_SYSTEM, FhirError, PANEL_CODE, READING_CODES, SALT_SYSTEM,
};
use crate::chain::{Consortium, EntryStatus};
use crate::records::{Amount, BillDetails, EntryKind, HealthDetails, LineItem, Readings, Record, commitment};

/// The check of one record (one Provenance).
#[derive(Debug, Clone, Serialize)]
pub struct RecordCheck {
    /// `<chain id>:<contract>:<entry id>`.
    pub entry: String,
    pub entry_id: u64,
    /// What does not match; empty when the record is exactly what the chain committed to.
    pub problems: Vec<String>,
}

/// The check of a whole Bundle.
#[derive(Debug, Clone, Serialize)]
pub struct BundleCheck {
    pub records: Vec<RecordCheck>,
}

impl BundleCheck {
    /// Whether every record matches the chain.
    pub fn is_clean(&self) -> bool {
        self.records.iter().all(|r| r.problems.is_empty())
    }
}

/// Checks every Provenance of `bundle` against the chain `consortium` is connected to.
pub async fn check_bundle(bundle: &Value, consortium: &Consortium) -> Result<BundleCheck, FhirError> {
    if bundle["resourceType"] != "Bundle" {
        return Err(FhirError::NotAnExport("its resourceType is not Bundle".into()));
    }
    let resources: HashMap<&str, &Value> = bundle["entry"]
        .as_array()
        .ok_or_else(|| FhirError::NotAnExport("it has no entries".into()))?
        .iter()
        .filter_map(|e| Some((e["fullUrl"].as_str()?, &e["resource"])))
        .collect();
    let provenances: Vec<&Value> = resources.values().copied().filter(|r| r["resourceType"] == "Provenance").collect();
    if provenances.is_empty() {
        return Err(FhirError::NotAnExport("it holds no Provenance (was it written by `hrm export fhir`?)".into()));
    }
    let mut records = Vec::new();
    for provenance in provenances {
        records.push(check_record(provenance, &resources, consortium).await?);
    }
    records.sort_by_key(|r| r.entry_id);
    Ok(BundleCheck { records })
}

/// The identifier value of the Provenance entity with `system`.
fn entity<'a>(provenance: &'a Value, system: &str) -> Option<&'a str> {
    provenance["entity"].as_array()?.iter().find_map(|e| {
        let identifier = &e["what"]["identifier"];
        (identifier["system"] == system).then(|| identifier["value"].as_str()).flatten()
    })
}

async fn check_record(
    provenance: &Value,
    resources: &HashMap<&str, &Value>,
    consortium: &Consortium,
) -> Result<RecordCheck, FhirError> {
    let missing = |what: &str| FhirError::NotAnExport(format!("a Provenance has no {what}"));
    let entry = entity(provenance, ENTRY_SYSTEM).ok_or_else(|| missing("entry identifier"))?.to_string();
    let (chain_id, contract, entry_id) = parse_entry(&entry).ok_or_else(|| missing("well-formed entry identifier"))?;
    let mut check = RecordCheck { entry: entry.clone(), entry_id, problems: Vec::new() };
    let deployment = consortium.deployment();
    if chain_id != deployment.chain_id || contract != deployment.address {
        check.problems.push(format!(
            "entry {entry} is on chain {chain_id}, contract {contract}; hrm is connected to chain {}, contract {}: point --rpc-url at that chain",
            deployment.chain_id, deployment.address
        ));
        return Ok(check);
    }
    let salt = entity(provenance, SALT_SYSTEM)
        .and_then(|s| alloy::primitives::hex::decode(s).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| missing("32-byte salt"))?;
    let info = consortium.entry(entry_id).await?;
    if info.status != EntryStatus::Approved {
        check.problems.push(format!("entry {entry_id} is {} on chain, not approved", info.status));
    }
    let submission = consortium.submission(entry_id).await?;
    let on_chain = submission.commitment;
    if entity(provenance, COMMITMENT_SYSTEM).and_then(|c| c.parse::<B256>().ok()) != Some(on_chain) {
        check
            .problems
            .push(format!("the Provenance's commitment is not entry {entry_id}'s commitment on chain ({on_chain})"));
    }
    if let Some(digest) = entity(provenance, ENVELOPE_DIGEST_SYSTEM)
        && digest.parse::<B256>().ok() != Some(submission.envelope_digest)
    {
        check.problems.push(format!(
            "the Provenance's envelope digest is not entry {entry_id}'s digest on chain ({})",
            submission.envelope_digest
        ));
    }

    let rebuilt = match rebuild_record(provenance, resources) {
        Ok(record) => record,
        Err(reason) => {
            check.problems.push(format!("entry {entry_id}: {reason}"));
            return Ok(check);
        }
    };
    if commitment(&salt, &rebuilt.canonical_json()) == on_chain {
        return Ok(check);
    }
    // The values differ from what was committed: name them from the committed copy, if that copy
    // is itself what the chain committed to.
    match committed_copy(provenance, resources, rebuilt.kind()) {
        Some((bytes, committed)) if commitment(&salt, &bytes) == on_chain => {
            let changed = changed_fields(&committed.to_json_value(), &rebuilt.to_json_value(), "");
            for (field, committed, exported) in changed {
                check.problems.push(format!(
                    "entry {entry_id}: {field} is {exported} in the Bundle but {committed} in the record committed on chain"
                ));
            }
            if check.problems.is_empty() {
                check.problems.push(format!("entry {entry_id}: the exported values do not match the chain's commitment"));
            }
        }
        _ => check.problems.push(format!(
            "entry {entry_id}: the exported values do not match the chain's commitment, and neither does the committed copy in the Bundle (both were changed)"
        )),
    }
    Ok(check)
}

fn parse_entry(entry: &str) -> Option<(u64, Address, u64)> {
    let mut parts = entry.split(':');
    let chain_id = parts.next()?.parse().ok()?;
    let contract = parts.next()?.parse().ok()?;
    let entry_id = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((chain_id, contract, entry_id))
}

/// The resources a Provenance targets.
fn targets<'a>(provenance: &Value, resources: &HashMap<&str, &'a Value>) -> Vec<&'a Value> {
    provenance["target"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| resources.get(t["reference"].as_str()?).copied())
        .collect()
}

/// The committed record the Provenance quotes (a Binary), as bytes and typed.
fn committed_copy(provenance: &Value, resources: &HashMap<&str, &Value>, kind: EntryKind) -> Option<(Vec<u8>, Record)> {
    let quoted = provenance["entity"].as_array()?.iter().find(|e| e["role"] == "quotation")?;
    let binary = resources.get(quoted["what"]["reference"].as_str()?)?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(binary["data"].as_str()?).ok()?;
    let record = Record::from_json(kind, std::str::from_utf8(&bytes).ok()?, "the committed copy").ok()?;
    Some((bytes, record))
}

/// The record as the Bundle's values tell it.
fn rebuild_record(provenance: &Value, resources: &HashMap<&str, &Value>) -> Result<Record, String> {
    let targets = targets(provenance, resources);
    if let Some(panel) = targets.iter().find(|r| r["code"]["coding"][0]["code"] == PANEL_CODE) {
        return rebuild_health(panel, resources).map(Record::Health);
    }
    if let Some(invoice) = targets.iter().find(|r| r["resourceType"] == "Invoice") {
        return rebuild_bill(invoice).map(Record::Bill);
    }
    Err("its Provenance targets neither a readings panel nor an Invoice".into())
}

fn rebuild_health(panel: &Value, resources: &HashMap<&str, &Value>) -> Result<HealthDetails, String> {
    let recorded_at = panel["effectiveDateTime"].as_str().ok_or("the readings panel has no effectiveDateTime")?;
    let mut values: HashMap<&str, f64> = HashMap::new();
    for member in panel["hasMember"].as_array().into_iter().flatten() {
        let url = member["reference"].as_str().unwrap_or_default();
        let observation = resources.get(url).ok_or_else(|| format!("the panel's member {url} is not in the Bundle"))?;
        let code = observation["code"]["coding"][0]["code"].as_str().unwrap_or_default();
        let reading =
            READING_CODES.iter().find(|c| c.code == code).ok_or_else(|| format!("unknown reading code {code}"))?;
        let value = if observation.get("dataAbsentReason").is_some() {
            0.0
        } else {
            observation["valueQuantity"]["value"]
                .as_f64()
                .or_else(|| observation["valueInteger"].as_f64())
                .ok_or_else(|| format!("the {} Observation has no value", reading.field))?
        };
        values.insert(reading.field, value);
    }
    let get = |field: &str| values.get(field).copied().ok_or_else(|| format!("the readings panel has no {field}"));
    // A count or an age edited to a fraction must not be rounded back to what was committed.
    let whole = |field: &str| {
        get(field).and_then(|v| {
            (v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v))
                .then_some(v as u32)
                .ok_or_else(|| format!("{field} is {v}, not a whole number"))
        })
    };
    Ok(HealthDetails {
        recorded_at: recorded_at.to_string(),
        readings: Readings {
            pregnancies: whole("pregnancies")?,
            glucose: get("glucose")?,
            blood_pressure: get("blood_pressure")?,
            skin_thickness: get("skin_thickness")?,
            insulin: get("insulin")?,
            bmi: get("bmi")?,
            diabetes_pedigree: get("diabetes_pedigree")?,
            age: whole("age")?,
        },
        notes: panel["note"][0]["text"].as_str().map(str::to_string),
    })
}

fn rebuild_bill(invoice: &Value) -> Result<BillDetails, String> {
    // An amount edited to a third decimal must not be rounded back to what was committed.
    let amount = |money: &Value| -> Result<Amount, String> {
        let value = money["value"].as_f64().ok_or("a price has no value")?;
        let hundredths = (value * 100.0).round();
        if (value * 100.0 - hundredths).abs() > 1e-6 {
            return Err(format!("the amount {value} has more than two decimals"));
        }
        Ok(Amount { hundredths: hundredths as i64 })
    };
    let mut items: Vec<(u64, LineItem)> = Vec::new();
    for item in invoice["lineItem"].as_array().into_iter().flatten() {
        items.push((
            item["sequence"].as_u64().unwrap_or(0),
            LineItem {
                description: item["chargeItemCodeableConcept"]["text"].as_str().unwrap_or_default().to_string(),
                amount: amount(&item["priceComponent"][0]["amount"])?,
            },
        ));
    }
    items.sort_by_key(|(sequence, _)| *sequence);
    Ok(BillDetails {
        issued_at: invoice["date"].as_str().ok_or("the Invoice has no date")?.to_string(),
        currency: invoice["totalGross"]["currency"].as_str().ok_or("the Invoice total has no currency")?.to_string(),
        line_items: items.into_iter().map(|(_, item)| item).collect(),
        total: amount(&invoice["totalGross"])?,
    })
}

/// The fields (dotted paths) whose values differ: `(path, committed, exported)`.
fn changed_fields(committed: &Value, exported: &Value, path: &str) -> Vec<(String, String, String)> {
    let child = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match (committed, exported) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|k| {
                    changed_fields(a.get(k).unwrap_or(&Value::Null), b.get(k).unwrap_or(&Value::Null), &child(k))
                })
                .collect()
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            a.iter().zip(b).enumerate().flat_map(|(i, (x, y))| changed_fields(x, y, &format!("{path}[{i}]"))).collect()
        }
        (a, b) if a == b => Vec::new(),
        (a, b) => vec![(path.to_string(), a.to_string(), b.to_string())],
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn changed_fields_are_named_by_path() {
        let committed = json!({ "readings": { "glucose": 148.0, "bmi": 33.6 }, "items": [{ "amount": "1.00" }] });
        let exported = json!({ "readings": { "glucose": 150.0, "bmi": 33.6 }, "items": [{ "amount": "2.00" }] });
        let changed = changed_fields(&committed, &exported, "");
        let paths: Vec<&str> = changed.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(paths, ["items[0].amount", "readings.glucose"]);
        assert_eq!((changed[1].1.as_str(), changed[1].2.as_str()), ("148.0", "150.0"));
    }

    #[test]
    fn fractions_are_not_rounded_back_to_the_committed_values() {
        let invoice = serde_json::json!({
            "date": "2026-11-02",
            "lineItem": [{ "sequence": 1, "chargeItemCodeableConcept": { "text": "Consultation" },
                           "priceComponent": [{ "type": "base", "amount": { "value": 120.004, "currency": "USD" } }] }],
            "totalGross": { "value": 120.0, "currency": "USD" },
        });
        assert!(rebuild_bill(&invoice).unwrap_err().contains("more than two decimals"));
        let mut fine = invoice.clone();
        fine["lineItem"][0]["priceComponent"][0]["amount"]["value"] = serde_json::json!(45.5);
        assert_eq!(rebuild_bill(&fine).unwrap().line_items[0].amount, Amount { hundredths: 4550 });
    }

    #[test]
    fn entry_identifiers_parse() {
        let (chain, contract, id) = parse_entry("31337:0x5fbdb2315678afecb367f032d93f642f64180aa3:7").unwrap();
        assert_eq!((chain, id), (31337, 7));
        assert_eq!(format!("{contract:#x}"), "0x5fbdb2315678afecb367f032d93f642f64180aa3");
        assert!(parse_entry("31337:0x5f:7:8").is_none());
    }
}
