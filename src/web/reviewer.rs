//! The reviewer's pages: the entries waiting for this hospital's vote, each opened with the
//! hospital's key beside the patient's earlier archived readings, and the vote after a confirmation.

use std::collections::HashMap;
use std::sync::Arc;

use alloy::primitives::Address;

use axum::extract::{Form, Path, Query, State};
use axum::response::Redirect;
use hrm::access::{RecordParties, log_entry_read, read_patient_records, read_rule};
use hrm::chain::ledger::LedgerEntry;
use hrm::records::{EntryKind, Record, utc_date};
use hrm::store::archive::archive_id;
use hrm::store::{ArchivedRecord, StaffRole};
use hrm::submission::open_submission_as;
use hrm::voting::vote_on_entries;
use maud::{Markup, html};
use serde::Deserialize;

use super::entries::{readings_table, record_details, timeline, votes};
use super::layout::{csrf_field, hospital_label, kind_title, page, patient_label};
use super::listing::{ListPlace, ListQuery, filter_form, pager};
use super::{PageError, Visit, WebApp};

/// Where the queue lives, for its filter and page links.
const QUEUE: ListPlace<'static> =
    ListPlace { path: "/reviewer", anchor: "", rows: "entries", by_patient: true, names_patients: true };

/// `GET /reviewer`: the queue, oldest first, fifty at a time.
pub async fn queue(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Query(query): Query<ListQuery>,
) -> Result<Markup, PageError> {
    visit.staff(StaffRole::Reviewer)?;
    let (filter, page_number) = query.read_for_clinical_staff(&app).await?;
    let ledger = app.ledger().await?;
    let names = ledger.hospital_names().clone();
    let waiting = ledger.awaiting_vote_of(app.hospital_address());
    let shown = filter.page_of(waiting, page_number);
    drop(ledger);
    let patients = app.patient_names(shown.items.iter().map(|e| e.patient)).await?;
    Ok(page(
        &visit,
        "Review",
        html! {
            h1 { "Waiting for our vote" }
            section.card {
                (filter_form(QUEUE, &query))
                (pager(QUEUE, &query, &shown))
                @if shown.items.is_empty() {
                    @if filter.is_empty() {
                        p.empty { "Nothing waits for this hospital's vote. Entries that a hospital you support submits appear here." }
                    } @else {
                        p.empty { "No waiting entry matches the filter." }
                    }
                } @else {
                    form method="post" action="/reviewer/approve-selected" {
                        (csrf_field(&visit))
                        table.sortable {
                            thead { tr { th { span.visually-hidden { "Select" } } th.num { "Entry" } th { "Kind" } th { "Patient" } th { "Submitted by" } th { "Submitted" } th.num { "Approvals" } th {} } }
                            tbody {
                                @for entry in &shown.items {
                                    @let (approvals, needed) = entry.approvals();
                                    tr {
                                        td { input type="checkbox" name="entry" value=(entry.id) aria-label=(format!("Select entry {}", entry.id)); }
                                        td.num data-sort=(entry.id) { (entry.id) }
                                        td { (entry.kind.describe()) }
                                        td { (patient_label(&patients, entry.patient)) }
                                        td { (hospital_label(&names, entry.submitter)) }
                                        td data-sort=(entry.submitted.block) { (utc_date(entry.submitted.time)) }
                                        td.num { (approvals) " / " (needed) }
                                        td { a.button href=(format!("/reviewer/entries/{}", entry.id)) { "Open" } }
                                    }
                                }
                            }
                        }
                        div.actions {
                            button.primary type="submit" { "Approve selected…" }
                            span.hint { " Approves every ticked entry in one transaction, after you confirm. Open an entry to read it first." }
                        }
                    }
                }
            }
        },
    ))
}

/// The entry if this hospital votes on it (any other entry is "not found" to its reviewers), and
/// the hospitals' names.
async fn entry_we_vote_on(app: &WebApp, id: u64) -> Result<(LedgerEntry, HashMap<Address, String>), PageError> {
    let ledger = app.ledger().await?;
    let entry = ledger.entry(id).filter(|entry| entry.panel.contains(&app.hospital_address()));
    Ok((entry.cloned().ok_or(PageError::NotFound)?, ledger.hospital_names().clone()))
}

/// `GET /reviewer/entries/{id}`: the entry opened with the hospital's key.
pub async fn open(State(app): State<Arc<WebApp>>, visit: Visit, Path(id): Path<u64>) -> Result<Markup, PageError> {
    visit.staff(StaffRole::Reviewer)?;
    let (entry, names) = entry_we_vote_on(&app, id).await?;
    let submission = app.consortium.submission(id).await.map_err(PageError::failed)?;
    let envelope = app.envelope_finder().envelope_of(&submission).await.map_err(PageError::failed)?;
    let opened =
        open_submission_as(&submission, &envelope, &app.hospital_key).map_err(PageError::failed)?.ok_or_else(|| {
            PageError::Failed(format!("entry {id} is not sealed to this hospital's key, so it cannot be opened here"))
        })?;
    let text = String::from_utf8_lossy(&opened.record_json);
    let record = Record::from_json(entry.kind, &text, &format!("entry {id}")).map_err(PageError::failed)?;
    // Opening the sealed entry is a read of the record (allowed: this hospital is on its panel),
    // and the patient's earlier records are shown only as far as the read rule allows.
    let reader = visit.reader(&app, "web: review entry");
    let parties = RecordParties { patient: entry.patient, submitter: entry.submitter, panel: entry.panel.clone() };
    let deployment = app.consortium.deployment();
    let record_id = archive_id(deployment.chain_id, deployment.address, id);
    let rule = read_rule(reader.account, &parties, false);
    log_entry_read(&app.access_log, &reader, &parties, record_id, id, rule).await.map_err(PageError::failed)?;
    let earlier: Vec<ArchivedRecord> =
        read_patient_records(&app.archive, &app.consortium, &app.access_log, &reader, entry.patient)
            .await
            .map_err(PageError::failed)?
            .allowed
            .into_iter()
            .map(|(record, _)| record)
            .filter(|r| r.kind == EntryKind::Health)
            .collect();
    let awaits_us = entry.awaits_vote_of(app.hospital_address());
    let patients = app.patient_names([entry.patient]).await?;
    Ok(page(
        &visit,
        &format!("Entry {id}"),
        html! {
            h1 { "Entry " (id) ": " (entry.kind.describe()) }
            p.hint { "For patient " (patient_label(&patients, entry.patient)) ", submitted by " (hospital_label(&names, entry.submitter)) "." }
            div.columns {
                section.card {
                    h2 { "The record" }
                    (record_details(&record))
                    @if awaits_us {
                        div.actions {
                            (decision_form(&visit, id, "approve", "Approve", "primary"))
                            (decision_form(&visit, id, "reject", "Reject", "danger"))
                        }
                    } @else {
                        p.hint { "This hospital has voted on this entry, or it is no longer pending." }
                    }
                }
                section.card {
                    h2 { "Earlier readings of this patient" }
                    (earlier_readings(&earlier))
                }
            }
            div.columns {
                section.card { h2 { "Votes" } (votes(&entry, &names)) }
                section.card { h2 { "Timeline" } (timeline(&app, &entry, &names, None)) }
            }
        },
    ))
}

fn decision_form(visit: &Visit, id: u64, decision: &str, label: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action=(format!("/reviewer/entries/{id}/confirm")) {
            (csrf_field(visit))
            input type="hidden" name="decision" value=(decision);
            button class=(class) type="submit" { (label) "…" }
        }
    }
}

fn earlier_readings(records: &[ArchivedRecord]) -> Markup {
    if records.is_empty() {
        return html! { p.empty { "No archived health records of this patient that this hospital may see." } };
    }
    readings_table(&records.iter().collect::<Vec<_>>(), None)
}

#[derive(Deserialize)]
pub struct Decision {
    decision: String,
}

fn approve_of(decision: &str) -> Result<bool, PageError> {
    match decision {
        "approve" => Ok(true),
        "reject" => Ok(false),
        other => Err(PageError::BadRequest(format!("'{other}' is not a decision: approve or reject"))),
    }
}

/// `POST /reviewer/entries/{id}/confirm`: asks once more before the transaction is sent.
pub async fn confirm(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Path(id): Path<u64>,
    Form(form): Form<Decision>,
) -> Result<Markup, PageError> {
    visit.staff(StaffRole::Reviewer)?;
    let approve = approve_of(&form.decision)?;
    let (entry, _) = entry_we_vote_on(&app, id).await?;
    let patients = app.patient_names([entry.patient]).await?;
    let verb = if approve { "Approve" } else { "Reject" };
    Ok(page(
        &visit,
        &format!("{verb} entry {id}?"),
        html! {
            section.card.confirm {
                h1 { (verb) " entry " (id) "?" }
                p { (kind_title(entry.kind)) " for patient " (patient_label(&patients, entry.patient)) "." }
                p {
                    @if approve { "This hospital's approval is sent to the chain and cannot be taken back." }
                    @else { "One rejection rejects the entry for good; the hospital must submit corrected details as a new entry." }
                }
                form method="post" action=(format!("/reviewer/entries/{id}/vote")) {
                    (csrf_field(&visit))
                    input type="hidden" name="decision" value=(form.decision);
                    div.actions {
                        button class=(if approve { "primary" } else { "danger" }) type="submit" { "Yes, " (verb.to_lowercase()) }
                        a.button href=(format!("/reviewer/entries/{id}")) { "Back" }
                    }
                }
            }
        },
    ))
}

/// The entries a form names (`entry=3&entry=4`), each one waiting for this hospital's vote.
async fn selected_entries(app: &WebApp, fields: &[(String, String)]) -> Result<Vec<LedgerEntry>, PageError> {
    let mut ids = Vec::new();
    for (name, value) in fields.iter().filter(|(name, _)| name == "entry") {
        let id: u64 =
            value.parse().map_err(|_| PageError::BadRequest(format!("'{value}' in {name} is not an entry id")))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(PageError::BadRequest("Tick the entries to approve first.".into()));
    }
    let ledger = app.ledger().await?;
    ids.iter()
        .map(|id| match ledger.entry(*id) {
            Some(entry) if entry.awaits_vote_of(app.hospital_address()) => Ok(entry.clone()),
            _ => Err(PageError::BadRequest(format!("Entry {id} does not wait for this hospital's vote."))),
        })
        .collect()
}

/// `POST /reviewer/approve-selected`: asks once more before the ticked entries are approved.
pub async fn confirm_selected(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Markup, PageError> {
    visit.staff(StaffRole::Reviewer)?;
    let entries = selected_entries(&app, &fields).await?;
    let patients = app.patient_names(entries.iter().map(|e| e.patient)).await?;
    let title = format!("Approve {} entries?", entries.len());
    Ok(page(
        &visit,
        &title,
        html! {
            section.card.confirm {
                h1 { (title) }
                ul {
                    @for entry in &entries {
                        li { "Entry " (entry.id) ": " (kind_title(entry.kind)) " for patient " (patient_label(&patients, entry.patient)) }
                    }
                }
                p { "This hospital's approvals are sent to the chain in one transaction and cannot be taken back." }
                form method="post" action="/reviewer/approve-selected/vote" {
                    (csrf_field(&visit))
                    @for entry in &entries { input type="hidden" name="entry" value=(entry.id); }
                    div.actions {
                        button.primary type="submit" { "Yes, approve " (entries.len()) " entries" }
                        a.button href="/reviewer" { "Back" }
                    }
                }
            }
        },
    ))
}

/// `POST /reviewer/approve-selected/vote`: the hospital approves the ticked entries together.
pub async fn approve_selected(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Redirect, PageError> {
    visit.staff(StaffRole::Reviewer)?;
    let ids: Vec<u64> = selected_entries(&app, &fields).await?.iter().map(|e| e.id).collect();
    let batches =
        vote_on_entries(&app.consortium, &ids, true).await.map_err(|e| PageError::BadRequest(e.to_string()))?;
    let listed: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let message = format!("You approved entries {} in {} transaction(s).", listed.join(", "), batches.len());
    app.sessions.set_flash(&visit.session.id, message).await.map_err(PageError::failed)?;
    Ok(Redirect::to("/reviewer"))
}

/// `POST /reviewer/entries/{id}/vote`: the hospital's vote.
pub async fn vote(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Path(id): Path<u64>,
    Form(form): Form<Decision>,
) -> Result<Redirect, PageError> {
    visit.staff(StaffRole::Reviewer)?;
    let approve = approve_of(&form.decision)?;
    let (entry, _) = entry_we_vote_on(&app, id).await?;
    if !entry.awaits_vote_of(app.hospital_address()) {
        return Err(PageError::BadRequest(format!("Entry {id} does not wait for this hospital's vote any more.")));
    }
    let outcome = app.consortium.vote(id, approve).await.map_err(|e| PageError::BadRequest(e.to_string()))?;
    let message =
        format!("You {} entry {id} (block {}).", if approve { "approved" } else { "rejected" }, outcome.block);
    app.sessions.set_flash(&visit.session.id, message).await.map_err(PageError::failed)?;
    Ok(Redirect::to("/reviewer"))
}
