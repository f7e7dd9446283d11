//! The patient's pages: their archived records and bills, predictions, the entries about them that
//! wait for votes, and their own vote, which their wallet sends.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use alloy::primitives::Address;
use alloy::sol_types::SolCall;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use hrm::access::{
    AccessLogEntry, AccessOutcome, ReadRule, Reader, RecordParties, RecordRead, decide_reads, history_page,
    log_entry_read, read_archived_record, read_patient_records,
};
use hrm::chain::HealthRecords;
use hrm::chain::ledger::LedgerEntry;
use hrm::chain::revert::describe_expiry;
use hrm::chain::sharing::{StandingGrant, UNTIL_REVOKED, end_of_day};
use hrm::chain::{EntryErasure, EntryStatus, ErasureAnswer, Submission};
use hrm::erasure::entries_to_erase;
use hrm::fhir::{PatientExport, patient_bundle};
use hrm::listing::parse_page;
use hrm::ml::dataset::FEATURES;
use hrm::prediction::{DEFAULT_THRESHOLD, PatientArchive};
use hrm::records::health::READING_RANGES;
use hrm::records::{EntryKind, Record};
use hrm::store::{ArchivedRecord, StoredPrediction};
use hrm::submission::open_submission_as;
use maud::{Markup, html};
use serde::Deserialize;

use super::chart::line_chart;
use super::entries::{reading_label, reading_text, readings_table, record_details, timeline, votes};
use super::history_cache::HISTORY_ROWS;
use super::layout::{hospital_label, kind_title, page, short_address, status_badge};
use super::listing::{ListPlace, ListQuery, filter_form, pager, pager_linking};
use super::{PageError, Visit, WebApp};

/// `GET /patient/fhir`: the patient's whole archive as one FHIR R4 Bundle (what `hrm export fhir`
/// writes), downloaded.
pub async fn fhir_bundle(State(app): State<Arc<WebApp>>, visit: Visit) -> Result<Response, PageError> {
    let patient = visit.patient()?;
    fhir_download(&app, &visit.reader(&app, "web: FHIR download"), patient).await
}

/// The FHIR Bundle of what `reader` may read of `patient`'s archive, as a download: the patient's
/// own and the staff's download share it.
pub async fn fhir_download(app: &WebApp, reader: &Reader, patient: Address) -> Result<Response, PageError> {
    let names = app.ledger().await?.hospital_names().clone();
    let screened = read_patient_records(&app.archive, &app.consortium, &app.access_log, reader, patient)
        .await
        .map_err(PageError::failed)?;
    if screened.allowed.is_empty() {
        return Err(PageError::NotFound);
    }
    let records = screened.allowed.into_iter().map(|(record, _)| record).collect();
    let export = PatientExport::read(&app.archive, patient, records, names).await.map_err(PageError::failed)?;
    let bundle = patient_bundle(&export).map_err(PageError::failed)?;
    let headers = [
        (header::CONTENT_TYPE, "application/fhir+json"),
        (header::CONTENT_DISPOSITION, "attachment; filename=\"health-records.fhir.json\""),
    ];
    Ok((headers, bundle.to_string()).into_response())
}

/// Where the patient's pending entries live, for their filter and page links.
const PENDING: ListPlace<'static> =
    ListPlace { path: "/patient", anchor: "#pending", rows: "entries", by_patient: false, names_patients: false };

/// `GET /patient`: the patient's pending entries (fifty at a time), records, predictions, bills,
/// sharing and access history.
pub async fn overview(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Query(query): Query<ListQuery>,
) -> Result<Markup, PageError> {
    let patient = visit.patient()?;
    let (mut filter, page_number) = query.read()?;
    // A patient's page lists only their own entries.
    filter.patient = None;
    let ledger = app.ledger().await?;
    let names = ledger.hospital_names().clone();
    let open: Vec<&LedgerEntry> =
        ledger.about_patient(patient).into_iter().filter(|entry| entry.status == EntryStatus::Pending).collect();
    let any_open = !open.is_empty();
    let awaiting = open.iter().filter(|e| e.awaits_vote_of(patient)).count();
    let pending_page = filter.page_of(open, page_number);
    let grants = ledger.grants_of(patient);
    let erasures = ledger.erasures_of(patient);
    let accounts = ledger.accounts_of(patient);
    drop(ledger);
    let model = app.model();
    let found = app
        .patient_archives
        .get(&app.archive, app.consortium.deployment(), model.as_deref(), patient, DEFAULT_THRESHOLD)
        .await
        .map_err(PageError::failed)?;
    let PatientArchive { records, predictions } = found.as_ref();
    let reader = visit.reader(&app, "web: patient page");
    let rules =
        decide_reads(&app.consortium, &app.access_log, &reader, patient, records).await.map_err(PageError::failed)?;
    let shown: Vec<&ArchivedRecord> =
        records.iter().zip(&rules).filter_map(|(record, rule)| rule.map(|_| record)).collect();
    let (health, bills): (Vec<&ArchivedRecord>, Vec<&ArchivedRecord>) =
        shown.iter().partition(|record| record.kind == EntryKind::Health);
    let handled_by = hospitals_handling(shown.iter().copied());
    let reads = app.access_histories.get(&app.access_log, &accounts).await.map_err(PageError::failed)?;
    let known = app.patient_names([patient]).await?.remove(&patient);

    Ok(page(
        &visit,
        "My records",
        html! {
            h1 { "My health records" }
            @if let Some(known) = &known { p.greeting { "Welcome, " (known.name) "." } }
            p.hint { "Signed in as " code title=(patient) { (short_address(patient)) } ". Only you, the hospital that entered a record, its supporting hospitals and the hospitals you let in can read it; every look is listed below." }
            section.card #pending {
                h2 { "Waiting for votes" }
                @if !any_open {
                    p.empty { "Nothing is waiting. When a hospital enters new details about you, they appear here for your vote." }
                } @else {
                    @if pending_page.pages > 1 || !filter.is_empty() {
                        (filter_form(PENDING, &query))
                        (pager(PENDING, &query, &pending_page))
                    }
                    @if awaiting > 1 {
                        div.actions.approve-all {
                            button.primary.wallet-approve-all type="button" { "Approve all " (awaiting) }
                            span.hint {
                                @if pending_page.pages > 1 {
                                    " One confirmation in your wallet approves every entry that waits for your vote, on every page. Read each first."
                                } @else {
                                    " One confirmation in your wallet approves every entry below that waits for your vote. Read each first."
                                }
                            }
                        }
                        p.hint.approve-all-status role="status" {}
                    }
                    @if pending_page.items.is_empty() { p.empty { "No waiting entry matches the filter." } }
                    @for entry in &pending_page.items { (pending_entry(entry, patient, &names)) }
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
            section.card #sharing {
                h2 { "Who can see my records" }
                (sharing_section(&grants, &handled_by, &names))
            }
            section.card #access-history {
                h2 { "Who looked at my records" }
                (access_history(&reads, &names))
                @if reads.len() >= HISTORY_ROWS as usize {
                    p { a href="/patient/history" { "See the whole history" } " (the newest " (HISTORY_ROWS) " are above)." }
                }
            }
            section.card #erasure {
                h2 { "Erasing my records" }
                (erasure_section(&erasures, &names))
            }
            section.card #recovery {
                h2 { "If I lose my key" }
                p { "Guardians you choose (relatives, hospitals) can move your records and your say over them to a new account if you lose your key. The same page is where you approve such a move for someone who chose you." }
                p { a.button href="/patient/recovery" { "Guardians and a lost key" } }
            }
        },
    ))
}

/// A transaction hash as people glance at it: `0x3e3c…e566`.
fn short_hash(hash: alloy::primitives::B256) -> String {
    let text = hash.to_string();
    format!("{}…{}", &text[..6], &text[text.len() - 4..])
}

fn erasure_section(erasures: &[EntryErasure], names: &HashMap<Address, String>) -> Markup {
    html! {
        p { "You may ask every hospital that holds your records to erase them. Each hospital answers on the chain: erased, or kept until a date because the law obliges it to keep the record. The chain keeps only proof that the record existed and how it was voted on, never the record." }
        @if erasures.is_empty() {
            p.empty { "You have not asked for any erasure." }
        } @else {
            table #erasures {
                thead { tr { th { "Entry" } th { "Hospital" } th { "Answer" } } }
                tbody {
                    @for entry in erasures {
                        @for holder in &entry.holders {
                            tr {
                                td { (entry.entry_id) }
                                td { (hospital_label(names, holder.hospital)) }
                                td {
                                    @match &holder.answer {
                                        Some(ErasureAnswer::Erased { block, tx_hash }) => {
                                            span.vote-yes { "Erased" }
                                            span.muted { " (block " (block) ", transaction " code title=(tx_hash) { (short_hash(*tx_hash)) } ")" }
                                        },
                                        Some(ErasureAnswer::Kept { until, reason, .. }) => {
                                            span.vote-no { "Kept until " (describe_expiry(*until)) }
                                            span.muted { ": " (reason.describe()) }
                                        },
                                        None => span.muted { "Not yet answered" },
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        details.erase-form {
            summary { "Erase my records…" }
            p { "Every hospital holding a record of yours that you have not asked about yet will be asked to erase it. This cannot be undone: an erased record cannot be shown to you or anyone again." }
            button.danger.wallet-erase type="button" { "Yes, ask them to erase my records" }
        }
        p.hint.erase-status role="status" {}
    }
}

/// `GET /patient/erasure/transaction`: the transaction the patient's wallet sends to ask for the
/// erasure of every entry of theirs not yet asked about, after a dry run that tells any refusal.
pub async fn erasure_transaction(State(app): State<Arc<WebApp>>, visit: Visit) -> Result<Response, PageError> {
    let patient = visit.patient()?;
    let ids =
        entries_to_erase(&app.consortium, patient, &[]).await.map_err(|e| PageError::BadRequest(e.to_string()))?;
    app.consortium.check_request_erasure(patient, &ids).await.map_err(|e| PageError::BadRequest(e.to_string()))?;
    let data =
        HealthRecords::requestErasureCall { ids: ids.iter().map(|id| alloy::primitives::U256::from(*id)).collect() }
            .abi_encode();
    Ok(Json(wallet_transaction(&app, patient, data)).into_response())
}

/// `GET /patient/erasure/state`: how many of the patient's entries have an erasure request, for
/// the page to refresh itself once the request is mined.
pub async fn erasure_state(State(app): State<Arc<WebApp>>, visit: Visit) -> Result<Response, PageError> {
    let patient = visit.patient()?;
    let requested = app.ledger().await?.erasures_of(patient).len();
    Ok(Json(serde_json::json!({ "requested": requested })).into_response())
}

/// The hospitals that may read some of these records without a grant: their submitters and
/// approvers.
fn hospitals_handling<'a>(records: impl Iterator<Item = &'a ArchivedRecord>) -> BTreeSet<Address> {
    records
        .map(RecordParties::of_archived)
        .flat_map(|parties| std::iter::once(parties.submitter).chain(parties.panel))
        .collect()
}

fn sharing_section(
    grants: &[StandingGrant],
    handled_by: &BTreeSet<Address>,
    names: &HashMap<Address, String>,
) -> Markup {
    let active: Vec<&StandingGrant> = grants.iter().filter(|g| g.active).collect();
    let grantable: Vec<(&Address, &String)> = {
        let mut hospitals: Vec<(&Address, &String)> =
            names.iter().filter(|(address, _)| !active.iter().any(|g| g.hospital == **address)).collect();
        hospitals.sort_by(|a, b| a.1.cmp(b.1));
        hospitals
    };
    html! {
        p { "You can always see your records. Each record can also be read by the hospital that entered it and the hospitals that approved it:" }
        @if handled_by.is_empty() {
            p.empty { "None yet: you have no approved records." }
        } @else {
            ul.hospitals { @for hospital in handled_by { li { (hospital_label(names, *hospital)) } } }
        }
        h3 { "Other hospitals you let in" }
        @if active.is_empty() {
            p.empty { "None. No other hospital can see your records." }
        } @else {
            table #grants {
                thead { tr { th { "Hospital" } th { "Until" } th {} } }
                tbody {
                    @for grant in &active {
                        tr data-hospital=(grant.hospital) {
                            td { (hospital_label(names, grant.hospital)) }
                            td { @if grant.expires_at == UNTIL_REVOKED { "you revoke it" } @else { (describe_expiry(grant.expires_at)) } }
                            td { button.danger.wallet-share type="button" data-action="revoke" data-hospital=(grant.hospital) { "Revoke" } }
                        }
                    }
                }
            }
        }
        @if !grantable.is_empty() {
            div.grant-form {
                label { "Hospital " select #grant-hospital name="hospital" {
                    @for (address, name) in &grantable { option value=(address) { (name) } }
                } }
                label { " until " input #grant-until name="until" type="date"; }
                button.primary.wallet-share type="button" data-action="grant" { "Let them see my records" }
            }
            p.hint { "Leave the date empty for no end date. Your wallet sends the change; it takes effect once mined, and a revocation stops the next page they load." }
        }
        p.hint.share-status role="status" {}
    }
}

fn access_history(reads: &[AccessLogEntry], names: &HashMap<Address, String>) -> Markup {
    if reads.is_empty() {
        return html! { p.empty { "Nobody but you has looked at your records." } };
    }
    html! {
        table #access-log {
            thead { tr { th { "When (UTC)" } th { "Who" } th { "Records" } th { "Why" } } }
            tbody {
                @for read in reads {
                    @let hospital = read.reader.parse::<Address>().unwrap_or_default();
                    tr class=(if read.outcome == AccessOutcome::Denied { "denied" } else { "allowed" }) {
                        td { (read.at.try_to_rfc3339_string().unwrap_or_default().replace('T', " ").trim_end_matches('Z').get(..16).unwrap_or_default()) }
                        td { (hospital_label(names, hospital)) @if let Some(user) = &read.user { " · " (user) } span.muted { " (" (read.action) ")" } }
                        td { (read.records.iter().map(|r| r.entry_id.to_string()).collect::<Vec<_>>().join(", ")) }
                        td {
                            @match read.outcome {
                                AccessOutcome::Denied => span.vote-no { @if read.records.is_empty() { "refused" } @else { "refused: no permission" } },
                                AccessOutcome::Allowed => (read.records.first().and_then(|r| r.rule).map_or("", ReadRule::describe)),
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Where the patient's whole access history lives, for its page links.
const HISTORY: ListPlace<'static> =
    ListPlace { path: "/patient/history", anchor: "", rows: "looks", by_patient: false, names_patients: false };

#[derive(Deserialize)]
pub struct HistoryQuery {
    #[serde(default)]
    page: String,
}

/// `GET /patient/history?page=N`: every look at the patient's records, newest first, fifty a page.
pub async fn history(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Query(query): Query<HistoryQuery>,
) -> Result<Markup, PageError> {
    let patient = visit.patient()?;
    let page_number = parse_page(&query.page).map_err(|e| PageError::BadRequest(format!("{e}.")))?;
    let ledger = app.ledger().await?;
    let (accounts, names) = (ledger.accounts_of(patient), ledger.hospital_names().clone());
    drop(ledger);
    let shown = history_page(&app.access_log, &accounts, page_number).await.map_err(PageError::failed)?;
    Ok(page(
        &visit,
        "Who looked at my records",
        html! {
            h1 { "Who looked at my records" }
            section.card #access-history {
                (pager_linking(HISTORY, &shown, |page| format!("/patient/history?page={page}")))
                (access_history(&shown.items, &names))
                p { a href="/patient" { "Back to my records" } }
            }
        },
    ))
}

#[derive(Deserialize)]
pub struct SharingQuery {
    action: Option<String>,
    hospital: String,
    #[serde(default)]
    until: String,
}

/// `GET /patient/sharing/transaction?action=grant|revoke&hospital=0x…&until=YYYY-MM-DD`: the
/// transaction the patient's wallet sends to grant or revoke access, after a dry run that tells
/// any refusal first.
pub async fn sharing_transaction(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Query(query): Query<SharingQuery>,
) -> Result<Response, PageError> {
    let patient = visit.patient()?;
    let hospital: Address = query
        .hospital
        .parse()
        .map_err(|_| PageError::BadRequest(format!("'{}' is not a hospital's address", query.hospital)))?;
    let refused = |e: hrm::chain::ChainError| PageError::BadRequest(e.to_string());
    let data = match query.action.as_deref() {
        Some("grant") => {
            let expires_at = match query.until.trim() {
                "" => UNTIL_REVOKED,
                day => end_of_day(day).map_err(|e| PageError::BadRequest(format!("The end date {e}")))?,
            };
            app.consortium.check_grant_access(patient, hospital, expires_at).await.map_err(refused)?;
            HealthRecords::grantAccessCall { hospital, expiresAt: expires_at }.abi_encode()
        }
        Some("revoke") => {
            app.consortium.check_revoke_access(patient, hospital).await.map_err(refused)?;
            HealthRecords::revokeAccessCall { hospital }.abi_encode()
        }
        _ => return Err(PageError::BadRequest("action must be grant or revoke".into())),
    };
    Ok(Json(wallet_transaction(&app, patient, data)).into_response())
}

/// `GET /patient/sharing/state?hospital=0x…`: whether the hospital can read the patient's
/// records now, for the page to refresh itself once a change is mined.
pub async fn sharing_state(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Query(query): Query<SharingQuery>,
) -> Result<Response, PageError> {
    let patient = visit.patient()?;
    let hospital: Address = query.hospital.parse().map_err(|_| PageError::BadRequest("not an address".into()))?;
    let active = app.consortium.has_access(patient, hospital).await.map_err(PageError::failed)?;
    Ok(Json(serde_json::json!({ "active": active })).into_response())
}

/// A transaction for the patient's wallet to send to the contract.
pub(super) fn wallet_transaction(app: &WebApp, patient: Address, data: Vec<u8>) -> serde_json::Value {
    serde_json::json!({
        "from": patient.to_checksum(None),
        "to": app.consortium.deployment().address.to_checksum(None),
        "data": alloy::hex::encode_prefixed(data),
        "chainId": format!("0x{:x}", app.consortium.connection().chain_id()),
    })
}

fn pending_entry(entry: &LedgerEntry, patient: Address, names: &HashMap<Address, String>) -> Markup {
    let mine = entry.vote_of(patient);
    html! {
        article.entry data-entry=(entry.id) {
            h3 { (kind_title(entry.kind)) " from " (hospital_label(names, entry.submitter)) " " span.muted { "entry " (entry.id) } }
            p { a href=(format!("/patient/entries/{}", entry.id)) { "See what was entered" } }
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

fn bills_table(bills: &[&ArchivedRecord], names: &HashMap<Address, String>) -> Markup {
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
    let reader = visit.reader(&app, "web: patient record");
    // Another patient's record is "not found", as one that does not exist; the attempt is logged.
    let record = match read_archived_record(&app.archive, &app.consortium, &app.access_log, &reader, entry_id)
        .await
        .map_err(PageError::failed)?
    {
        RecordRead::Allowed(record, _) => *record,
        RecordRead::Denied | RecordRead::NotArchived => return Err(PageError::NotFound),
    };
    let details: Record = record.details().map_err(PageError::failed)?;
    let ledger = app.ledger().await?;
    let names = ledger.hospital_names().clone();
    let entry = ledger.entry(entry_id).filter(|e| e.patient == patient).cloned();
    drop(ledger);
    Ok(page(
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

/// The patient's own pending entry, after the read is logged: what it holds when this server's
/// hospital is one of its recipients (and so can open it), and its sealed envelope.
async fn own_pending_entry(
    app: &WebApp,
    visit: &Visit,
    entry_id: u64,
) -> Result<(LedgerEntry, Submission, Vec<u8>), PageError> {
    let patient = visit.patient()?;
    let entry = app.ledger().await?.entry(entry_id).filter(|e| e.patient == patient).cloned();
    // Another patient's entry is "not found", as one that does not exist.
    let entry = entry.ok_or(PageError::NotFound)?;
    let submission = app.consortium.submission(entry_id).await.map_err(PageError::failed)?;
    let envelope = app.envelope_finder().envelope_of(&submission).await.map_err(PageError::failed)?;
    let parties = RecordParties { patient, submitter: entry.submitter, panel: entry.panel.clone() };
    let deployment = app.consortium.deployment();
    let record = hrm::store::archive::archive_id(deployment.chain_id, deployment.address, entry_id);
    let reader = visit.reader(app, "web: patient's pending entry");
    log_entry_read(&app.access_log, &reader, &parties, record, entry_id, Some(ReadRule::Own))
        .await
        .map_err(PageError::failed)?;
    Ok((entry, submission, envelope))
}

/// `GET /patient/entries/{entry}`: an entry about the patient that waits for votes, opened by
/// this server's hospital when it is one of the entry's recipients.
pub async fn pending(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Path(entry_id): Path<u64>,
) -> Result<Markup, PageError> {
    let (entry, submission, envelope) = own_pending_entry(&app, &visit, entry_id).await?;
    let opened = open_submission_as(&submission, &envelope, &app.hospital_key).map_err(PageError::failed)?;
    let details = match &opened {
        Some(opened) => Some(
            Record::from_json(entry.kind, &String::from_utf8_lossy(&opened.record_json), &format!("entry {entry_id}"))
                .map_err(PageError::failed)?,
        ),
        None => None,
    };
    let names = app.ledger().await?.hospital_names().clone();
    Ok(page(
        &visit,
        &format!("Entry {entry_id}"),
        html! {
            h1 { (kind_title(entry.kind)) " " (status_badge(entry.status.as_str())) }
            p.hint { "Entered by " (hospital_label(&names, entry.submitter)) " · entry " (entry_id) }
            div.columns {
                section.card {
                    h2 { "Details" }
                    @match &details {
                        Some(details) => (record_details(details)),
                        None => p { "This hospital is not among the entry's recipients, so it cannot open it for you. Open it where it was entered, or with " code { "hrm show " (entry_id) } " and your key." },
                    }
                    p.actions {
                        a.button href=(format!("/patient/entries/{entry_id}/envelope")) download=(format!("entry-{entry_id}.hrme")) { "Download the sealed record" }
                        span.hint { " Sealed to you, the hospital that entered it and its supporting hospitals; only your key opens your copy." }
                    }
                }
                section.card { h2 { "Votes" } (votes(&entry, &names)) }
            }
            p { a href="/patient" { "Back to my records" } }
        },
    ))
}

/// `GET /patient/entries/{entry}/envelope`: the patient's own entry's sealed envelope, as the
/// hospitals hold it (checked against its digest on chain), or the copy re-sealed to them after
/// a move, to open with their own key.
pub async fn pending_envelope(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Path(entry_id): Path<u64>,
) -> Result<Response, PageError> {
    let (entry, _, envelope) = own_pending_entry(&app, &visit, entry_id).await?;
    // A patient their guardians moved since the entry was submitted opens the copy re-sealed to
    // their new key, once this hospital made it.
    let envelope = match entry.former_patients.is_empty() {
        true => envelope,
        false => {
            app.archive.resealed_envelope(entry_id, entry.patient).await.map_err(PageError::failed)?.unwrap_or(envelope)
        }
    };
    let disposition = format!("attachment; filename=\"entry-{entry_id}.hrme\"");
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream".to_string()), (header::CONTENT_DISPOSITION, disposition)],
        envelope,
    )
        .into_response())
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
    Ok(Json(wallet_transaction(&app, patient, data)).into_response())
}

/// `GET /patient/approve-all/transaction`: one transaction for the patient's wallet that approves
/// every entry waiting for their vote, after a dry run that tells any refusal first.
pub async fn approve_all_transaction(State(app): State<Arc<WebApp>>, visit: Visit) -> Result<Response, PageError> {
    let patient = visit.patient()?;
    let ids = waiting_for(&app, patient).await?;
    if ids.is_empty() {
        return Err(PageError::BadRequest("Nothing waits for your vote.".into()));
    }
    app.consortium.check_vote_batch(patient, &ids, true).await.map_err(|e| PageError::BadRequest(e.to_string()))?;
    let ids = ids.into_iter().map(alloy::primitives::U256::from).collect();
    let data = HealthRecords::approvePendingEntriesCall { ids }.abi_encode();
    Ok(Json(wallet_transaction(&app, patient, data)).into_response())
}

/// `GET /patient/approve-all/state`: how many entries still wait for the patient's vote, for the
/// page to refresh itself once the approvals are mined.
pub async fn approve_all_state(State(app): State<Arc<WebApp>>, visit: Visit) -> Result<Response, PageError> {
    let patient = visit.patient()?;
    let waiting = waiting_for(&app, patient).await?.len();
    Ok(Json(serde_json::json!({ "waiting": waiting })).into_response())
}

/// The entries about `patient` that wait for their vote, oldest first.
async fn waiting_for(app: &WebApp, patient: Address) -> Result<Vec<u64>, PageError> {
    let ledger = app.ledger().await?;
    let mut ids: Vec<u64> =
        ledger.about_patient(patient).into_iter().filter(|e| e.awaits_vote_of(patient)).map(|e| e.id).collect();
    ids.sort_unstable();
    Ok(ids)
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
