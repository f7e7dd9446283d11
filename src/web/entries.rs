//! What every role sees of an entry: its timeline, its votes, and a record's details.

use std::collections::HashMap;
use std::sync::Arc;

use alloy::primitives::Address;
use axum::extract::{Path, State};
use hrm::chain::EntryStatus;
use hrm::chain::ledger::LedgerEntry;
use hrm::records::health::READING_RANGES;
use hrm::records::{BillDetails, HealthDetails, Record, utc_date};
use hrm::store::{ArchivedRecord, StaffRole};
use maud::{Markup, html};

use super::layout::{PatientNames, hospital_label, kind_title, page, patient_label, status_badge, tx_link};
use super::{PageError, Visit, WebApp};

/// A reading's label for people.
pub fn reading_label(field: &str) -> &'static str {
    match field {
        "pregnancies" => "Pregnancies",
        "glucose" => "Glucose",
        "blood_pressure" => "Blood pressure (diastolic)",
        "skin_thickness" => "Skin-fold thickness",
        "insulin" => "Insulin (2-hour)",
        "bmi" => "BMI",
        "diabetes_pedigree" => "Diabetes pedigree",
        "age" => "Age",
        _ => "Reading",
    }
}

/// A reading with its unit; the Pima data's 0 shown as "not measured".
pub fn reading_text(field: &str, value: f64) -> String {
    let range = READING_RANGES.iter().find(|r| r.field == field);
    if range.is_some_and(|r| r.zero_means_missing) && value == 0.0 {
        return "not measured".to_string();
    }
    let unit = range.map(|r| r.unit).unwrap_or_default();
    let number = if value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value}") };
    if unit.is_empty() { number } else { format!("{number} {unit}") }
}

/// A record's contents as a table.
pub fn record_details(record: &Record) -> Markup {
    match record {
        Record::Health(health) => health_details(health),
        Record::Bill(bill) => bill_details(bill),
    }
}

fn health_details(health: &HealthDetails) -> Markup {
    let values = health.readings.values();
    html! {
        table.details {
            tr { th { "Date of readings" } td { (health.recorded_at) } }
            @for (range, value) in READING_RANGES.iter().zip(values) {
                tr { th { (reading_label(range.field)) } td { (reading_text(range.field, value)) } }
            }
            @if let Some(notes) = &health.notes { tr { th { "Notes" } td { (notes) } } }
        }
    }
}

fn bill_details(bill: &BillDetails) -> Markup {
    html! {
        table.details {
            tr { th { "Issued" } td { (bill.issued_at) } }
            @for item in &bill.line_items {
                tr { th { (item.description) } td.num { (item.amount) " " (bill.currency) } }
            }
            tr.total { th { "Total" } td.num { (bill.total) " " (bill.currency) } }
        }
    }
}

/// Archived health records as a sortable table. With `hospitals` (the patient's view) each row
/// also names the hospital that entered it and links to the record.
pub fn readings_table(records: &[&ArchivedRecord], hospitals: Option<&HashMap<Address, String>>) -> Markup {
    html! {
        table.sortable {
            thead { tr {
                th { "Date" } th.num { "Glucose" } th.num { "Blood pressure" } th.num { "BMI" } th.num { "Insulin" }
                @if hospitals.is_some() { th { "Hospital" } th {} }
            } }
            tbody {
                @for record in records {
                    @if let Ok(details) = record.health_details() {
                        @let r = &details.readings;
                        tr {
                            td { (details.recorded_at) }
                            td.num data-sort=(r.glucose) { (reading_text("glucose", r.glucose)) }
                            td.num data-sort=(r.blood_pressure) { (reading_text("blood_pressure", r.blood_pressure)) }
                            td.num data-sort=(r.bmi) { (reading_text("bmi", r.bmi)) }
                            td.num data-sort=(r.insulin) { (reading_text("insulin", r.insulin)) }
                            @if let Some(names) = hospitals {
                                td { (hospital_label(names, record.submitter.parse().unwrap_or_default())) }
                                td { a href=(format!("/patient/records/{}", record.entry_id)) { "Details" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Entries as staff lists them, each linking to its page: its kind, patient, the day it was
/// submitted, its status and approvals, and with `hospitals` the hospital that submitted it.
pub fn entries_table(
    entries: &[LedgerEntry],
    hospitals: Option<&HashMap<Address, String>>,
    patients: &PatientNames,
) -> Markup {
    html! {
        table.sortable {
            thead { tr {
                th.num { "Entry" } th { "Kind" } th { "Patient" }
                @if hospitals.is_some() { th { "Submitted by" } }
                th { "Submitted" } th { "Status" } th.num { "Approvals" }
            } }
            tbody {
                @for entry in entries {
                    @let (approvals, needed) = entry.approvals();
                    tr {
                        td.num data-sort=(entry.id) { a href=(format!("/entries/{}", entry.id)) { (entry.id) } }
                        td { (entry.kind.describe()) }
                        td { (patient_label(patients, entry.patient)) }
                        @if let Some(names) = hospitals { td { (hospital_label(names, entry.submitter)) } }
                        td data-sort=(entry.submitted.block) { (utc_date(entry.submitted.time)) }
                        td { (status_badge(entry.status.as_str())) }
                        td.num { (approvals) " / " (needed) }
                    }
                }
            }
        }
    }
}

/// Who must vote and who has.
pub fn votes(entry: &LedgerEntry, names: &HashMap<Address, String>) -> Markup {
    let (approvals, needed) = entry.approvals();
    html! {
        p { (approvals) " of " (needed) " approvals" }
        ul.votes {
            @for voter in entry.voters() {
                @let who = if voter == entry.patient { "The patient".to_string() } else { hospital_label(names, voter) };
                li {
                    (who) ": "
                    @match entry.vote_of(voter) {
                        Some(vote) if vote.approve => span.vote-yes { "approved" },
                        Some(_) => span.vote-no { "rejected" },
                        None if entry.status == EntryStatus::Pending => span.vote-wait { "not voted yet" },
                        None => span.vote-none { "did not vote" },
                    }
                }
            }
        }
    }
}

/// Submitted, each vote, approved or rejected, migrated: with the transactions.
pub fn timeline(
    app: &WebApp,
    entry: &LedgerEntry,
    names: &HashMap<Address, String>,
    archived: Option<&ArchivedRecord>,
) -> Markup {
    html! {
        ol.timeline {
            li {
                strong { "Submitted" } " by " (hospital_label(names, entry.submitter))
                " · block " (entry.submitted.block) " · " (tx_link(app, entry.submitted.tx_hash))
            }
            @for vote in &entry.votes {
                @let who = if vote.voter == entry.patient { "the patient".to_string() } else { hospital_label(names, vote.voter) };
                li {
                    strong { @if vote.approve { "Approved" } @else { "Rejected" } } " by " (who)
                    " · block " (vote.at.block) " · " (tx_link(app, vote.at.tx_hash))
                }
            }
            @match (entry.status, entry.decided) {
                (EntryStatus::Approved, Some(step)) => li.done { strong { "Entry approved" } " · block " (step.block) " · " (tx_link(app, step.tx_hash)) },
                (EntryStatus::Rejected, Some(step)) => li.rejected { strong { "Entry rejected" } " · block " (step.block) " · " (tx_link(app, step.tx_hash)) },
                _ => li.waiting { "Waiting for " (entry.voters().iter().filter(|v| entry.vote_of(**v).is_none()).count()) " more vote(s)" },
            }
            @if let Some(record) = archived {
                li.done { strong { "Archived" } " on " (record.migrated_at.try_to_rfc3339_string().unwrap_or_default()) }
            } @else if entry.status == EntryStatus::Approved {
                li.waiting { "Not archived yet: the hospital's next migration copies it to the archive" }
            }
        }
    }
}

/// `GET /entries/{id}`: an entry for staff: its status, votes and timeline; reviewers awaiting it
/// are pointed to the review page.
pub async fn entry(State(app): State<Arc<WebApp>>, visit: Visit, Path(id): Path<u64>) -> Result<Markup, PageError> {
    visit.any_staff()?;
    let ledger = app.ledger().await?;
    let (entry, names) = (ledger.entry(id).cloned().ok_or(PageError::NotFound)?, ledger.hospital_names().clone());
    drop(ledger);
    let deployment = app.consortium.deployment();
    let archived =
        app.archive.archived_entry(deployment.chain_id, deployment.address, id).await.map_err(PageError::failed)?;
    let awaits_us = entry.awaits_vote_of(app.hospital_address()) && visit.has_role(StaffRole::Reviewer);
    let patients = app.patient_names([entry.patient]).await?;
    Ok(page(
        &visit,
        &format!("Entry {id}"),
        html! {
            h1 { "Entry " (id) " " (status_badge(entry.status.as_str())) }
            p { (kind_title(entry.kind)) " for patient " (patient_label(&patients, entry.patient)) }
            @if awaits_us { p { a.button.primary href=(format!("/reviewer/entries/{id}")) { "Open and vote" } } }
            div.columns {
                section.card { h2 { "Votes" } (votes(&entry, &names)) }
                section.card { h2 { "Timeline" } (timeline(&app, &entry, &names, archived.as_ref())) }
            }
        },
    ))
}
