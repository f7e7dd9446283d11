//! Clinical staff look a patient up: the patient's archived records that this hospital may read
//! under the read rule (it entered or approved them, or holds the patient's grant), each read
//! logged with the staff member's name.

use std::sync::Arc;

use alloy::primitives::Address;
use axum::extract::{Path, State};
use axum::response::Response;
use hrm::access::read_patient_records;
use maud::{Markup, html};

use super::layout::{hospital_label, page, short_address};
use super::patient::fhir_download;
use super::{PageError, Visit, WebApp};

fn patient_of(text: &str) -> Result<Address, PageError> {
    text.parse().map_err(|_| PageError::NotFound)
}

/// `GET /patients/{address}`: the records this hospital may read.
pub async fn records(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Path(patient): Path<String>,
) -> Result<Markup, PageError> {
    visit.clinical_staff()?;
    let patient = patient_of(&patient)?;
    let reader = visit.reader(&app, "web: staff patient page");
    let screened = read_patient_records(&app.archive, &app.consortium, &app.access_log, &reader, patient)
        .await
        .map_err(PageError::failed)?;
    let names = app.ledger().await?.hospital_names().clone();
    let known = app.patient_names([patient]).await?.remove(&patient);
    let title =
        known.as_ref().map_or_else(|| format!("Patient {}", short_address(patient)), |known| known.name.clone());
    Ok(page(
        &visit,
        &title,
        html! {
            @match &known {
                Some(known) => {
                    h1 { (known.name) }
                    p.hint { "Medical record number " a href=(format!("/patients/mrn/{}", known.mrn)) { (known.mrn) } ", born " (known.birth_date) ", account " code title=(patient) { (short_address(patient)) } "." }
                }
                None => h1 { "Patient " code title=(patient) { (short_address(patient)) } },
            }
            section.card #patient-records {
                h2 { "Records this hospital may see" }
                @if screened.allowed.is_empty() {
                    p.empty #no-access { "None. This hospital did not enter or approve any of this patient's records, and holds no grant from the patient. Only the patient can let it in." }
                } @else {
                    table.sortable {
                        thead { tr { th.num { "Entry" } th { "Kind" } th { "Date" } th { "Summary" } th { "Entered by" } th { "Why you may see it" } } }
                        tbody {
                            @for (record, rule) in &screened.allowed {
                                @if let Ok(details) = record.details() {
                                    tr {
                                        td.num data-sort=(record.entry_id) { (record.entry_id) }
                                        td { (record.kind.describe()) }
                                        td { (details.date()) }
                                        td { (details.summary()) }
                                        td { (hospital_label(&names, record.submitter.parse().unwrap_or_default())) }
                                        td.rule { (rule.describe().replace("their hospital", "this hospital")) }
                                    }
                                }
                            }
                        }
                    }
                    p.actions { a.button href=(format!("/patients/{patient}/fhir")) download="patient-records.fhir.json" { "Download these records (FHIR)" } }
                    @if !screened.withheld.is_empty() {
                        p.hint { "The patient has other records this hospital may not see." }
                    }
                }
            }
        },
    ))
}

/// `GET /patients/{address}/fhir`: what this hospital may read of the patient, as FHIR R4.
pub async fn fhir_bundle(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Path(patient): Path<String>,
) -> Result<Response, PageError> {
    visit.clinical_staff()?;
    let patient = patient_of(&patient)?;
    fhir_download(&app, &visit.reader(&app, "web: staff FHIR download"), patient).await
}
