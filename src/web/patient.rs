//! The patient's pages: their archived records and bills, predictions, the entries about them that
//! wait for votes, and their own vote, which their wallet sends.

use std::sync::Arc;

use alloy::primitives::Address;
use alloy::sol_types::SolCall;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use hrm::chain::EntryStatus;
use hrm::chain::HealthRecords;
use hrm::chain::ledger::LedgerEntry;
use hrm::fhir::{PatientExport, patient_bundle};
use hrm::ml::dataset::FEATURES;
use hrm::prediction::{DEFAULT_THRESHOLD, PatientArchive};
use hrm::records::health::READING_RANGES;
use hrm::records::{EntryKind, Record};
use hrm::store::{ArchivedRecord, StoredPrediction};
use maud::{Markup, html};
use serde::Deserialize;

use super::chart::line_chart;
use super::entries::{reading_label, reading_text, readings_table, record_details, timeline, votes};
use super::layout::{hospital_label, kind_title, page, short_address, status_badge};
use super::{PageError, Visit, WebApp};

/// `GET /patient/fhir`: the patient's whole archive as one FHIR R4 Bundle (what `hrm export fhir`
/// writes), downloaded.
pub async fn fhir_bundle(State(app): State<Arc<WebApp>>, visit: Visit) -> Result<Response, PageError> {
    let patient = visit.patient()?;
    let names = app.ledger().await?.hospital_names().clone();
    let export = PatientExport::read(&app.archive, patient, names).await.map_err(PageError::failed)?;
    let bundle = patient_bundle(&export).map_err(PageError::failed)?;
    let headers = [
        (header::CONTENT_TYPE, "application/fhir+json"),
        (header::CONTENT_DISPOSITION, "attachment; filename=\"health-records.fhir.json\""),
    ];
    Ok((headers, bundle.to_string()).into_response())
}

/// `GET /patient`.
pub async fn overview(State(app): State<Arc<WebApp>>, visit: Visit) -> Result<Markup, PageError> {
    let patient = visit.patient()?;
    let ledger = app.ledger().await?;
    let names = ledger.hospital_names().clone();
    let open: Vec<LedgerEntry> = ledger
        .about_patient(patient)
        .into_iter()
        .filter(|entry| entry.status == EntryStatus::Pending)
        .cloned()
        .collect();
    drop(ledger);
    let model = app.model();
    let found = app
        .patient_archives
        .get(&app.archive, app.consortium.deployment(), model.as_deref(), patient, DEFAULT_THRESHOLD)
        .await
        .map_err(PageError::failed)?;
    let PatientArchive { records, predictions } = found.as_ref();
    let (health, bills): (Vec<&ArchivedRecord>, Vec<&ArchivedRecord>) =
        records.iter().partition(|record| record.kind == EntryKind::Health);

    Ok(page(
        &app,
        &visit,
        "My records",
        html! {
            h1 { "My health records" }
            p.hint { "Signed in as " code title=(patient) { (short_address(patient)) } ". Only you, the hospital that entered a record and its supporting hospitals can read it." }
            section.card #pending {
                h2 { "Waiting for votes" }
                @if open.is_empty() {
                    p.empty { "Nothing is waiting. When a hospital enters new details about you, they appear here for your vote." }
                } @else {
                    @for entry in &open { (pending_entry(entry, patient, &names)) }
                }
            }
            section.card #health {
                h2 { "Health records" }
                @if health.is_empty() {
                    p.empty { "No approved health records yet. Records appear here once everyone has approved them and the hospital has archived them." }
                } @else {
                    (charts(&health))
                    (readings_table(&health, Some(&names)))
                    p.actions {
                        a.button href="/patient/fhir" download="health-records.fhir.json" { "Download all my records (FHIR)" }
                        span.hint { " One FHIR R4 file with every record, bill and estimate, and the chain evidence of each, for another hospital or a health app." }
                    }
                }
            }
            section.card #predictions {
                h2 { "Diabetes risk" }
                (predictions_section(model.is_some(), predictions))
            }
            section.card #bills {
                h2 { "Bills" }
                @if bills.is_empty() {
                    p.empty { "No approved bills yet." }
                } @else {
                    (bills_table(&bills, &names))
                }
            }
        },
    ))
}

fn pending_entry(entry: &LedgerEntry, patient: Address, names: &std::collections::HashMap<Address, String>) -> Markup {
    let mine = entry.vote_of(patient);
    html! {
        article.entry data-entry=(entry.id) {
            h3 { (kind_title(entry.kind)) " from " (hospital_label(names, entry.submitter)) " " span.muted { "entry " (entry.id) } }
            (votes(entry, names))
            @match mine {
                Some(vote) => p { "You " (if vote.approve { "approved" } else { "rejected" }) " this entry." },
                None => {
                    p { "Do you agree that these details about you are correct? Your wallet will ask you to confirm the vote." }
                    div.actions {
                        button.primary.wallet-vote type="button" data-entry=(entry.id) data-decision="approve" { "Approve" }
                        button.danger.wallet-vote type="button" data-entry=(entry.id) data-decision="reject" { "Reject" }
                    }
                    p.hint.vote-status role="status" {}
                }
            }
        }
    }
}

fn charts(health: &[&ArchivedRecord]) -> Markup {
    let mut points: Vec<(String, f64, f64)> = health
        .iter()
        .filter_map(|record| record.health_details().ok())
        .map(|details| (details.recorded_at.clone(), details.readings.glucose, details.readings.bmi))
        .collect();
    points.sort_by(|a, b| a.0.cmp(&b.0));
    let glucose: Vec<(String, f64)> = points.iter().map(|(date, g, _)| (date.clone(), *g)).collect();
    let bmi: Vec<(String, f64)> = points.iter().map(|(date, _, b)| (date.clone(), *b)).collect();
    html! {
        div.charts {
            (line_chart("Glucose", "mg/dL", "#c2410c", &glucose))
            (line_chart("BMI", "kg/m²", "#1d4ed8", &bmi))
        }
    }
}

fn bills_table(bills: &[&ArchivedRecord], names: &std::collections::HashMap<Address, String>) -> Markup {
    html! {
        table.sortable {
            thead { tr { th { "Issued" } th.num { "Total" } th.num { "Items" } th { "Hospital" } th {} } }
            tbody {
                @for record in bills {
                    @if let Ok(bill) = record.bill_details() {
                        tr {
                            td { (bill.issued_at) }
                            td.num data-sort=(bill.total.to_string()) { (bill.total) " " (bill.currency) }
                            td.num { (bill.line_items.len()) }
                            td { (hospital_label(names, record.submitter.parse().unwrap_or_default())) }
                            td { a href=(format!("/patient/records/{}", record.entry_id)) { "Details" } }
                        }
                    }
                }
            }
        }
    }
}

fn predictions_section(has_model: bool, predictions: &[StoredPrediction]) -> Markup {
    let Some(latest) = predictions.first() else {
        return html! {
            @if has_model {
                p.empty { "No prediction yet: one is made from your newest approved health record." }
            } @else {
                p.empty { "The hospital has not set up the diabetes model yet." }
            }
        };
    };
    html! {
        p.prediction {
            "Estimated probability of diabetes: " strong { (format!("{:.0}%", latest.probability * 100.0)) }
            " — " @if latest.diabetic { span.badge.badge-rejected { "higher risk" } } @else { span.badge.badge-approved { "lower risk" } }
        }
        p.hint { "From your record of entry " (latest.entry_id) ". This is a statistical estimate, not a diagnosis: talk to your doctor about it." }
        @if !latest.contributions.is_empty() {
            h3 { "What moved the estimate" }
            table {
                thead { tr { th { "Reading" } th.num { "Your value" } th.num { "Effect" } } }
                tbody {
                    @for part in &latest.contributions {
                        @let field = part.feature.as_str();
                        tr {
                            td { (reading_label(&record_field_of(field))) }
                            td.num { (reading_text(&record_field_of(field), part.value)) }
                            td class=(if part.contribution > 0.0 { "num up" } else { "num down" }) {
                                (if part.contribution > 0.0 { "raises " } else { "lowers " }) (format!("{:.2}", part.contribution.abs()))
                            }
                        }
                    }
                }
            }
        }
        @if predictions.len() > 1 {
            h3 { "Earlier estimates" }
            ul { @for earlier in &predictions[1..] { li { "Entry " (earlier.entry_id) ": " (format!("{:.0}%", earlier.probability * 100.0)) } } }
        }
    }
}

/// The record field of one of the model's features (the Pima columns, e.g. `BloodPressure`): both
/// lists are in the Pima data's column order.
fn record_field_of(feature: &str) -> String {
    FEATURES
        .iter()
        .position(|f| *f == feature)
        .map_or_else(|| feature.to_string(), |i| READING_RANGES[i].field.to_string())
}

/// `GET /patient/records/{entry}`: one of the patient's archived records; another patient's is
/// "not found".
pub async fn record(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Path(entry_id): Path<u64>,
) -> Result<Markup, PageError> {
    let patient = visit.patient()?;
    let record = app
        .archive
        .record_of_patient(patient, entry_id)
        .await
        .map_err(PageError::failed)?
        .ok_or(PageError::NotFound)?;
    let details: Record = record.details().map_err(PageError::failed)?;
    let ledger = app.ledger().await?;
    let names = ledger.hospital_names().clone();
    let entry = ledger.entry(entry_id).filter(|e| e.patient == patient).cloned();
    drop(ledger);
    Ok(page(
        &app,
        &visit,
        &format!("Record {entry_id}"),
        html! {
            h1 { (kind_title(record.kind)) " " (status_badge("approved")) }
            p.hint { "Entered by " (hospital_label(&names, record.submitter.parse().unwrap_or_default())) " · entry " (entry_id) }
            div.columns {
                section.card { h2 { "Details" } (record_details(&details)) }
                @if let Some(entry) = &entry {
                    section.card { h2 { "Timeline" } (timeline(&app, entry, &names, Some(&record))) }
                }
            }
            p { a href="/patient" { "Back to my records" } }
        },
    ))
}

#[derive(Deserialize)]
pub struct VoteQuery {
    decision: String,
}

/// `GET /patient/entries/{entry}/vote-transaction?decision=approve|reject`: the transaction the
/// patient's wallet sends to vote. The server never holds the patient's key.
pub async fn vote_transaction(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Path(entry_id): Path<u64>,
    Query(query): Query<VoteQuery>,
) -> Result<Response, PageError> {
    let patient = visit.patient()?;
    let awaits = app
        .ledger()
        .await?
        .entry(entry_id)
        .is_some_and(|entry| entry.patient == patient && entry.awaits_vote_of(patient));
    if !awaits {
        return Err(PageError::NotFound);
    }
    let data = match query.decision.as_str() {
        "approve" => {
            HealthRecords::approvePendingEntryCall { id: alloy::primitives::U256::from(entry_id) }.abi_encode()
        }
        "reject" => HealthRecords::rejectPendingEntryCall { id: alloy::primitives::U256::from(entry_id) }.abi_encode(),
        _ => return Err(PageError::BadRequest("decision must be approve or reject".into())),
    };
    Ok(Json(serde_json::json!({
        "from": patient.to_checksum(None),
        "to": app.consortium.deployment().address.to_checksum(None),
        "data": alloy::hex::encode_prefixed(data),
        "chainId": format!("0x{:x}", app.consortium.connection().chain_id()),
    }))
    .into_response())
}

/// `GET /patient/entries/{entry}/state`: whether the patient's vote has been mined, for the page
/// to refresh itself once it has.
pub async fn entry_state(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Path(entry_id): Path<u64>,
) -> Result<Response, PageError> {
    let patient = visit.patient()?;
    let ledger = app.ledger().await?;
    let entry = ledger.entry(entry_id).filter(|entry| entry.patient == patient).ok_or(PageError::NotFound)?;
    Ok(Json(serde_json::json!({ "status": entry.status.as_str(), "voted": entry.vote_of(patient).is_some() }))
        .into_response())
}
