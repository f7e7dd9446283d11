//! The clerk's pages: health and bill details entered in forms (the CLI's validation and messages,
//! shown next to the field), and the hospital's submissions with where their votes stand.

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy::primitives::Address;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use hrm::chain::EntryStatus;
use hrm::directory::{DirectoryError, resolve_patient};
use hrm::records::{Amount, BillDetails, HealthDetails, LineItem, Readings, Record};
use hrm::store::StaffRole;
use hrm::submission::{SubmissionError, submit_record};
use maud::{Markup, html};
use serde::Deserialize;

use super::entries::entries_table;
use super::entries::reading_label;
use super::layout::{csrf_field, form_field, page, short_address};
use super::listing::{ListPlace, ListQuery, filter_form, pager};
use super::{PageError, Visit, WebApp};

const PATIENT_HINT: &str = "Name or medical record number (pick from the suggestions), or an address (0x…)";

/// Errors by form field; `""` holds the one for the whole form.
type FieldErrors = BTreeMap<&'static str, String>;

/// Where the submissions list lives, for its filter and page links.
const SUBMISSIONS: ListPlace<'static> =
    ListPlace { path: "/clerk", anchor: "", rows: "submissions", by_patient: true, names_patients: true };

/// `GET /clerk`: what this hospital submitted, newest first, fifty at a time.
pub async fn submissions(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Query(query): Query<ListQuery>,
) -> Result<Markup, PageError> {
    visit.staff(StaffRole::Clerk)?;
    let (filter, page_number) = query.read_for_clinical_staff(&app).await?;
    let ledger = app.ledger().await?;
    let mine = ledger.submitted_by(app.hospital_address());
    let waiting = mine.iter().filter(|e| e.status == EntryStatus::Pending).count();
    let shown = filter.page_of(mine, page_number);
    drop(ledger);
    let patients = app.patient_names(shown.items.iter().map(|e| e.patient)).await?;
    Ok(page(
        &visit,
        "Submissions",
        html! {
            h1 { "Submissions" }
            div.actions {
                a.button.primary href="/clerk/health" { "Enter health details" }
                a.button href="/clerk/bill" { "Enter a bill" }
            }
            section.card {
                (filter_form(SUBMISSIONS, &query))
                (pager(SUBMISSIONS, &query, &shown))
                @if shown.items.is_empty() {
                    @if filter.is_empty() {
                        p.empty { "Nothing submitted yet. Enter a patient's health details or a bill to start; it then waits for the patient's and the supporting hospitals' votes." }
                    } @else {
                        p.empty { "No submission matches the filter." }
                    }
                } @else {
                    (entries_table(&shown.items, None, &patients))
                }
                @if waiting > 0 { p.hint { (waiting) " waiting for votes." } }
            }
        },
    ))
}

/// The health form's fields as typed.
#[derive(Debug, Default, Deserialize)]
pub struct HealthForm {
    #[serde(default)]
    patient: String,
    #[serde(default)]
    recorded_at: String,
    #[serde(default)]
    pregnancies: String,
    #[serde(default)]
    glucose: String,
    #[serde(default)]
    blood_pressure: String,
    #[serde(default)]
    skin_thickness: String,
    #[serde(default)]
    insulin: String,
    #[serde(default)]
    bmi: String,
    #[serde(default)]
    diabetes_pedigree: String,
    #[serde(default)]
    age: String,
    #[serde(default)]
    notes: String,
}

impl HealthForm {
    fn value(&self, field: &str) -> &str {
        match field {
            "pregnancies" => &self.pregnancies,
            "glucose" => &self.glucose,
            "blood_pressure" => &self.blood_pressure,
            "skin_thickness" => &self.skin_thickness,
            "insulin" => &self.insulin,
            "bmi" => &self.bmi,
            "diabetes_pedigree" => &self.diabetes_pedigree,
            "age" => &self.age,
            _ => "",
        }
    }

    /// The record, or every field's problem.
    fn record(&self, errors: &mut FieldErrors) -> Option<Record> {
        let mut number = |field: &'static str| -> f64 {
            match self.value(field).trim().parse::<f64>() {
                Ok(value) => value,
                Err(_) => {
                    errors.insert(field, format!("{field}: enter a number"));
                    0.0
                }
            }
        };
        let readings = Readings {
            pregnancies: number("pregnancies") as u32,
            glucose: number("glucose"),
            blood_pressure: number("blood_pressure"),
            skin_thickness: number("skin_thickness"),
            insulin: number("insulin"),
            bmi: number("bmi"),
            diabetes_pedigree: number("diabetes_pedigree"),
            age: number("age") as u32,
        };
        for field in ["pregnancies", "age"] {
            let text = self.value(field).trim();
            if !errors.contains_key(field) && text.parse::<u32>().is_err() {
                errors.insert(field, format!("{field}: enter a whole number"));
            }
        }
        let notes = self.notes.trim();
        let record = Record::Health(HealthDetails {
            recorded_at: self.recorded_at.trim().to_string(),
            readings,
            notes: (!notes.is_empty()).then(|| notes.to_string()),
        });
        check(record, errors)
    }
}

/// The bill form's fields as typed.
#[derive(Debug, Default, Deserialize)]
pub struct BillForm {
    #[serde(default)]
    patient: String,
    #[serde(default)]
    issued_at: String,
    #[serde(default)]
    currency: String,
    /// One `Description = amount` per line.
    #[serde(default)]
    line_items: String,
    #[serde(default)]
    total: String,
}

impl BillForm {
    fn record(&self, errors: &mut FieldErrors) -> Option<Record> {
        let mut line_items = Vec::new();
        for line in self.line_items.lines().map(str::trim).filter(|line| !line.is_empty()) {
            match LineItem::parse(line) {
                Ok(item) => line_items.push(item),
                Err(e) => {
                    errors.entry("line_items").or_insert(format!("line_items: {e}"));
                }
            }
        }
        let total = Amount::parse(self.total.trim()).unwrap_or_else(|e| {
            errors.insert("total", format!("total: {e}"));
            Amount { hundredths: 0 }
        });
        let record = Record::Bill(BillDetails {
            issued_at: self.issued_at.trim().to_string(),
            currency: self.currency.trim().to_ascii_uppercase(),
            line_items,
            total,
        });
        check(record, errors)
    }
}

/// The record if it parsed and passes the same validation as the CLI; its problem goes next to
/// the field it is about.
fn check(record: Record, errors: &mut FieldErrors) -> Option<Record> {
    if !errors.is_empty() {
        return None;
    }
    match record.validate() {
        Ok(()) => Some(record),
        Err(e) => {
            errors.insert(e.field().unwrap_or(""), e.to_string());
            None
        }
    }
}

/// `GET /clerk/health`.
pub async fn health_form(visit: Visit) -> Result<Markup, PageError> {
    visit.staff(StaffRole::Clerk)?;
    Ok(health_page(&visit, &HealthForm::default(), &FieldErrors::new()))
}

/// `POST /clerk/health`.
pub async fn submit_health(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Form(form): Form<HealthForm>,
) -> Result<Response, PageError> {
    visit.staff(StaffRole::Clerk)?;
    let mut errors = FieldErrors::new();
    let patient = patient_named(&app, &form.patient, &mut errors).await;
    let record = form.record(&mut errors);
    submit(&app, &visit, patient, record, errors, |errors| health_page(&visit, &form, errors)).await
}

/// `GET /clerk/bill`.
pub async fn bill_form(visit: Visit) -> Result<Markup, PageError> {
    visit.staff(StaffRole::Clerk)?;
    let form = BillForm { currency: "USD".into(), ..BillForm::default() };
    Ok(bill_page(&visit, &form, &FieldErrors::new()))
}

/// `POST /clerk/bill`.
pub async fn submit_bill(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Form(form): Form<BillForm>,
) -> Result<Response, PageError> {
    visit.staff(StaffRole::Clerk)?;
    let mut errors = FieldErrors::new();
    let patient = patient_named(&app, &form.patient, &mut errors).await;
    let record = form.record(&mut errors);
    submit(&app, &visit, patient, record, errors, |errors| bill_page(&visit, &form, errors)).await
}

async fn patient_named(app: &WebApp, spec: &str, errors: &mut FieldErrors) -> Option<Address> {
    if spec.trim().is_empty() {
        errors.insert(
            "patient",
            "patient: enter the patient's medical record number, name in the address book, or address (0x…)".into(),
        );
        return None;
    }
    match resolve_patient(&app.archive, spec, |name| app.identities.resolve_address(name).ok()).await {
        Ok(address) => Some(address),
        Err(e @ DirectoryError::NotEnrolled { .. }) => {
            errors.insert("patient", format!("patient: {e}: start enrollment on the patient's page first"));
            None
        }
        Err(e) => {
            errors.insert("patient", format!("patient: {e}"));
            None
        }
    }
}

async fn submit(
    app: &WebApp,
    visit: &Visit,
    patient: Option<Address>,
    record: Option<Record>,
    mut errors: FieldErrors,
    form_page: impl FnOnce(&FieldErrors) -> Markup,
) -> Result<Response, PageError> {
    if let (Some(patient), Some(record), true) = (patient, &record, errors.is_empty()) {
        match submit_record(&app.consortium, &app.archive, &app.hospital, patient, record).await {
            Ok(done) => {
                let id = done.outcome.entry_id.unwrap_or_default();
                let who = match app.patient_names([patient]).await?.remove(&patient) {
                    Some(known) => format!("{} (MRN {})", known.name, known.mrn),
                    None => short_address(patient),
                };
                let message = format!(
                    "Submitted entry {id}: {} for patient {who}. It now waits for the patient's and the supporting hospitals' votes.",
                    record.kind().describe(),
                );
                app.sessions.set_flash(&visit.session.id, message).await.map_err(PageError::failed)?;
                return Ok(Redirect::to(&format!("/entries/{id}")).into_response());
            }
            Err(error) => {
                let about_patient = matches!(error, SubmissionError::KeyNotPublished { role: "patient", .. });
                errors.insert(if about_patient { "patient" } else { "" }, error.to_string());
            }
        }
    }
    Ok((StatusCode::UNPROCESSABLE_ENTITY, form_page(&errors)).into_response())
}

fn field(label: &str, name: &'static str, value: &str, kind: &str, hint: &str, errors: &FieldErrors) -> Markup {
    let error = errors.get(name);
    let input = html! {
        @if kind == "textarea" {
            textarea name=(name) rows="4" aria-invalid=[error.map(|_| "true")] { (value) }
        } @else if name == "patient" {
            // Suggestions from the directory as staff type a name (app.js fills the list).
            input name=(name) type=(kind) value=(value) list="patient-suggestions" data-suggest autocomplete="off" aria-invalid=[error.map(|_| "true")];
            datalist #patient-suggestions {}
        } @else {
            input name=(name) type=(kind) value=(value) step=[(kind == "number").then_some("any")] aria-invalid=[error.map(|_| "true")];
        }
    };
    form_field(label, input, hint, error.map(String::as_str))
}

fn form_error(errors: &FieldErrors) -> Markup {
    html! {
        @if let Some(error) = errors.get("") { p.error role="alert" { (error) } }
        @if !errors.is_empty() { p.error { "Nothing was submitted. Correct the fields marked below and submit again." } }
    }
}

fn health_page(visit: &Visit, form: &HealthForm, errors: &FieldErrors) -> Markup {
    let ranges = hrm::records::health::READING_RANGES;
    page(
        visit,
        "Enter health details",
        html! {
            h1 { "Enter health details" }
            (form_error(errors))
            form.card.record-form method="post" action="/clerk/health" {
                (csrf_field(visit))
                (field("Patient", "patient", &form.patient, "text", PATIENT_HINT, errors))
                (field("Date of readings", "recorded_at", &form.recorded_at, "date", "", errors))
                div.grid {
                    @for range in ranges {
                        (field(reading_label(range.field), range.field, form.value(range.field), "number", &range.describe(), errors))
                    }
                }
                (field("Notes", "notes", &form.notes, "textarea", "Optional, at most 2,000 characters", errors))
                button.primary type="submit" { "Submit for approval" }
            }
        },
    )
}

fn bill_page(visit: &Visit, form: &BillForm, errors: &FieldErrors) -> Markup {
    page(
        visit,
        "Enter a bill",
        html! {
            h1 { "Enter a bill" }
            (form_error(errors))
            form.card.record-form method="post" action="/clerk/bill" {
                (csrf_field(visit))
                (field("Patient", "patient", &form.patient, "text", PATIENT_HINT, errors))
                (field("Date of issue", "issued_at", &form.issued_at, "date", "", errors))
                (field("Currency", "currency", &form.currency, "text", "ISO 4217 code, e.g. USD", errors))
                (field("Line items", "line_items", &form.line_items, "textarea", "One per line: Description = amount, e.g. Consultation = 120.00", errors))
                (field("Total", "total", &form.total, "text", "Must equal the sum of the line items", errors))
                button.primary type="submit" { "Submit for approval" }
            }
        },
    )
}
