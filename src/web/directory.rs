//! Staff's patient directory: the Patients page (search by name, MRN, birth date or account, fifty
//! a page), registering a patient, a patient's card, and the desk's side of enrollment (the link
//! and its QR code, unlinking). What is valid and who is enrolled is decided by `hrm::directory`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use hrm::directory::enrollment::{ENROLLMENT_LIFETIME, issue_challenge, unlink};
use hrm::directory::{DirectoryError, DirectoryPatient, KnownPatient, NewPatient, PatientSearch, Sex, directory_page};
use hrm::listing::parse_page;
use hrm::siwe::domain_of;
use hrm::store::StaffRole;
use maud::{Markup, PreEscaped, html};
use serde::{Deserialize, Serialize};

use super::layout::{csrf_field, form_field, page, short_address};
use super::listing::{ListPlace, capitalised, pager_linking};
use super::{PageError, Visit, WebApp};

/// Suggestions the clerk's form shows as a name is typed.
const SUGGESTIONS: i64 = 8;

const PATIENTS: ListPlace<'static> =
    ListPlace { path: "/patients", anchor: "", rows: "patients", by_patient: false, names_patients: false };

/// The Patients page's query: `?q=smith&page=2`; an address in `q` (or the older `?patient=`,
/// which also takes an address-book name) opens that account's records.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct PatientsQuery {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    q: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    page: String,
    #[serde(default, skip_serializing)]
    patient: String,
}

/// `GET /patients`: find a patient in this hospital's directory.
pub async fn index(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Query(query): Query<PatientsQuery>,
) -> Result<Response, PageError> {
    visit.clinical_staff()?;
    let wanted = query.patient.trim();
    if !wanted.is_empty() {
        let patient = app.identities.resolve_address(wanted).map_err(|_| {
            PageError::BadRequest(format!(
                "'{wanted}' is neither an address (0x…) nor a name in this hospital's address book."
            ))
        })?;
        return Ok(Redirect::to(&format!("/patients/{patient}")).into_response());
    }
    let page_number = parse_page(&query.page).map_err(|e| PageError::BadRequest(format!("{e}.")))?;
    let search = PatientSearch::parse(&query.q);
    // An account names one patient, enrolled here or not: their records page, which shows the
    // name and MRN when this hospital enrolled them.
    if let PatientSearch::Account(account) = search {
        return Ok(Redirect::to(&format!("/patients/{account}")).into_response());
    }
    let shown = directory_page(&app.archive, &search, page_number).await.map_err(PageError::failed)?;
    let is_clerk = visit.staff(StaffRole::Clerk).is_ok();
    let link = |page: usize| {
        let next = PatientsQuery { q: query.q.clone(), page: page.to_string(), patient: String::new() };
        format!("/patients?{}", serde_urlencoded::to_string(&next).unwrap_or_default())
    };
    Ok(page(
        &visit,
        "Patients",
        html! {
            h1 { "Patients" }
            @if is_clerk { div.actions { a.button.primary href="/patients/new" { "Register a patient" } } }
            section.card {
                form.filters method="get" action="/patients" role="search" aria-label="Find a patient" {
                    label.wide {
                        span.label { "Name, medical record number, date of birth or account" }
                        input name="q" value=(query.q) autocomplete="off" spellcheck="false" autofocus;
                    }
                    button type="submit" { "Find" }
                    @if !query.q.trim().is_empty() { " " a href="/patients" { "Show all" } }
                }
                (pager_linking(PATIENTS, &shown, link))
                @if shown.items.is_empty() {
                    @if search.names_too_short() {
                        p.empty { "No medical record number matches. Names match from two letters on." }
                    } @else if search == PatientSearch::All {
                        p.empty { "No patients registered yet." @if is_clerk { " Register one to enroll them and submit for them by name." } }
                    } @else {
                        p.empty { "No patient matches. Try part of a name, the whole medical record number, or a date of birth like 1980-02-29." }
                    }
                } @else {
                    (directory_table(&shown.items))
                }
                p.hint { "This directory is this hospital's own: it is kept in its database, never on chain, and other hospitals do not see it." }
            }
        },
    )
    .into_response())
}

fn directory_table(patients: &[KnownPatient]) -> Markup {
    html! {
        table.sortable.directory {
            thead { tr { th { "Name" } th { "MRN" } th { "Born" } th { "Sex" } th { "Account" } } }
            tbody {
                @for known in patients {
                    tr {
                        td { a href=(format!("/patients/mrn/{}", known.patient.mrn)) { (known.patient.name) } }
                        td { (known.patient.mrn) }
                        td { (known.patient.birth_date) }
                        td { (known.patient.sex) }
                        td {
                            @match known.account {
                                Some(account) => a href=(format!("/patients/{account}")) title=(account) { (short_address(account)) },
                                None => span.muted { "Not enrolled" },
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The registration form's fields as typed.
#[derive(Debug, Default, Deserialize)]
pub struct PatientForm {
    #[serde(default)]
    mrn: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    sex: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
}

/// `GET /patients/new`.
pub async fn new_form(visit: Visit) -> Result<Markup, PageError> {
    visit.staff(StaffRole::Clerk)?;
    Ok(register_page(&visit, &PatientForm::default(), None))
}

/// `POST /patients/new`: registers the patient, or shows the form again with the problem next to
/// its field and nothing stored.
pub async fn register(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Form(form): Form<PatientForm>,
) -> Result<Response, PageError> {
    let staff = visit.staff(StaffRole::Clerk)?.to_string();
    let checked = NewPatient::check(&form.mrn, &form.name, &form.birth_date, &form.sex, &form.phone, &form.email);
    let added = match checked {
        Ok(new) => {
            let patient = DirectoryPatient::new(new, &staff);
            app.archive.add_directory_patient(&patient).await.map(|()| patient)
        }
        Err(error) => Err(error),
    };
    match added {
        Ok(patient) => {
            let message = format!("Registered {} as medical record number {}.", patient.name, patient.mrn);
            app.sessions.set_flash(&visit.session.id, message).await.map_err(PageError::failed)?;
            Ok(Redirect::to(&format!("/patients/mrn/{}", patient.mrn)).into_response())
        }
        Err(DirectoryError::Store(error)) => Err(PageError::failed(error)),
        Err(error) => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, register_page(&visit, &form, Some(&error))).into_response())
        }
    }
}

fn register_page(visit: &Visit, form: &PatientForm, error: Option<&DirectoryError>) -> Markup {
    // Next to its field, a problem needs no field name.
    let field_error = |name: &str| {
        error.filter(|e| e.field() == Some(name)).map(|e| match e {
            DirectoryError::Invalid { reason, .. } => capitalised(reason),
            other => capitalised(&other.to_string()),
        })
    };
    let field = |label: &str, name: &'static str, value: &str, kind: &str, hint: &str| {
        let error = field_error(name);
        let input =
            html! { input name=(name) type=(kind) value=(value) aria-invalid=[error.as_ref().map(|_| "true")]; };
        form_field(label, input, hint, error.as_deref())
    };
    let sex = form.sex.to_ascii_lowercase();
    let sex_error = field_error("sex");
    page(
        visit,
        "Register a patient",
        html! {
            h1 { "Register a patient" }
            @if let Some(error) = error {
                @if error.field().is_none() { p.error role="alert" { (error) } }
                p.error { "Nothing was stored. Correct the field marked below and register again." }
            }
            form.card.record-form method="post" action="/patients/new" {
                (csrf_field(visit))
                (field("Medical record number", "mrn", &form.mrn, "text", "This hospital's number for the patient: letters, digits, - _ ."))
                (field("Full name", "name", &form.name, "text", ""))
                (field("Date of birth", "birth_date", &form.birth_date, "date", ""))
                (form_field("Sex", html! {
                    select name="sex" aria-invalid=[sex_error.as_ref().map(|_| "true")] {
                        @for option in Sex::ALL { option value=(option) selected[sex == option.as_str()] { (option) } }
                    }
                }, "", sex_error.as_deref()))
                (field("Phone", "phone", &form.phone, "tel", "Optional"))
                (field("E-mail", "email", &form.email, "email", "Optional"))
                button.primary type="submit" { "Register" }
            }
        },
    )
}

async fn known_patient(app: &WebApp, mrn: &str) -> Result<KnownPatient, PageError> {
    app.archive.directory_patient(mrn).await.map_err(PageError::failed)?.ok_or(PageError::NotFound)
}

/// `GET /patients/mrn/{mrn}`: a patient's card, and enrollment.
pub async fn show(State(app): State<Arc<WebApp>>, visit: Visit, Path(mrn): Path<String>) -> Result<Markup, PageError> {
    visit.clinical_staff()?;
    let known = known_patient(&app, &mrn).await?;
    let is_clerk = visit.staff(StaffRole::Clerk).is_ok();
    let patient = &known.patient;
    Ok(page(
        &visit,
        &patient.name,
        html! {
            h1 { (patient.name) }
            section.card {
                dl.details {
                    dt { "Medical record number" } dd { (patient.mrn) }
                    dt { "Date of birth" } dd { (patient.birth_date) }
                    dt { "Sex" } dd { (patient.sex) }
                    @if let Some(phone) = &patient.phone { dt { "Phone" } dd { (phone) } }
                    @if let Some(email) = &patient.email { dt { "E-mail" } dd { (email) } }
                    dt { "Registered by" } dd { (patient.registered_by) }
                }
            }
            section.card #enrollment {
                h2 { "Account" }
                @match known.account {
                    Some(account) => {
                        p { "Enrolled with account " code title=(account) { (account) } "." }
                        p.actions { a.button.primary href=(format!("/patients/{account}")) { "Records this hospital may see" } }
                        @if is_clerk {
                            form.inline method="post" action=(format!("/patients/mrn/{}/unlink", patient.mrn)) {
                                (csrf_field(&visit))
                                label { input type="checkbox" name="confirm" value="yes" required; " The patient asked to unlink this account" }
                                " " button type="submit" { "Unlink" }
                            }
                        }
                    }
                    None => {
                        p { "Not enrolled: the patient has not yet linked an account, so nobody can submit for them or show them their records here." }
                        @if is_clerk {
                            form.inline method="post" action=(format!("/patients/mrn/{}/enrollment", patient.mrn)) {
                                (csrf_field(&visit))
                                button.primary type="submit" { "Start enrollment" }
                            }
                            p.hint { "Shows a link and its QR code for the patient to open with their wallet, or to use with " code { "hrm enroll" } ". It works once, for 10 minutes." }
                        }
                    }
                }
            }
        },
    ))
}

/// `POST /patients/mrn/{mrn}/enrollment`: a one-time enrollment link, shown with its QR code.
pub async fn start_enrollment(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Path(mrn): Path<String>,
) -> Result<Response, PageError> {
    let staff = visit.staff(StaffRole::Clerk)?.to_string();
    let known = known_patient(&app, &mrn).await?;
    let domain = domain_of(&app.settings.public_url);
    let challenge = match issue_challenge(&app.archive, &mrn, &staff, &domain, app.hospital_address()).await {
        Ok(challenge) => challenge,
        Err(error @ DirectoryError::MrnAlreadyEnrolled { .. }) => {
            return Err(PageError::BadRequest(format!("{error}.")));
        }
        Err(error) => return Err(PageError::failed(error)),
    };
    let link = format!("{}{}", app.settings.public_url.as_str().trim_end_matches('/'), challenge.path());
    let expires = challenge.expires_at.try_to_rfc3339_string().unwrap_or_default();
    Ok(page(
        &visit,
        "Enrollment link",
        html! {
            h1 { "Enroll " (known.patient.name) }
            section.card.enrollment-link {
                p { "Ask the patient to scan this code with their phone's wallet, or to open the link in a browser with their wallet. They sign a message that costs nothing; their account is then linked to medical record number " strong { (mrn) } "." }
                figure.qr {
                    (PreEscaped(qr_svg(&link)))
                    figcaption { "QR code of the enrollment link" }
                }
                p { "Link: " a #enrollment-link href=(link) { (link) } }
                p.hint { "Works once, for " (ENROLLMENT_LIFETIME.as_secs() / 60) " minutes (until " (expires) "). Without a browser wallet: " code { "hrm enroll " (link) " --from ACCOUNT" } "." }
                p { a href=(format!("/patients/mrn/{mrn}")) { "Back to the patient" } }
            }
        },
    )
    .into_response())
}

/// The QR code of `text`, as an SVG image with its accessible name.
fn qr_svg(text: &str) -> String {
    let code = qrcode::QrCode::new(text.as_bytes()).expect("a link fits a QR code");
    let svg = code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(240, 240).quiet_zone(true).build();
    // Drop the XML prolog (invalid inside HTML) and name the image for screen readers.
    let start = svg.find("<svg").unwrap_or(0);
    svg[start..].replacen("<svg", r#"<svg role="img" aria-label="QR code of the enrollment link""#, 1)
}

#[derive(Debug, Default, Deserialize)]
pub struct UnlinkForm {
    #[serde(default)]
    confirm: String,
}

/// `POST /patients/mrn/{mrn}/unlink`: at the patient's request (the form asks staff to confirm).
pub async fn unlink_account(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Path(mrn): Path<String>,
    Form(form): Form<UnlinkForm>,
) -> Result<Response, PageError> {
    let staff = visit.staff(StaffRole::Clerk)?.to_string();
    if form.confirm != "yes" {
        return Err(PageError::BadRequest(
            "Tick 'The patient asked to unlink this account' to unlink it; nothing was changed.".into(),
        ));
    }
    match unlink(&app.archive, &app.access_log, app.hospital_address(), &mrn, &staff).await {
        Ok(account) => {
            app.patient_names_cache.forget(account);
            let message = format!("Unlinked {} from medical record number {mrn}.", short_address(account));
            app.sessions.set_flash(&visit.session.id, message).await.map_err(PageError::failed)?;
            Ok(Redirect::to(&format!("/patients/mrn/{mrn}")).into_response())
        }
        Err(DirectoryError::UnknownMrn { .. }) => Err(PageError::NotFound),
        Err(error @ DirectoryError::NotEnrolled { .. }) => Err(PageError::BadRequest(format!("{error}."))),
        Err(error) => Err(PageError::failed(error)),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct SuggestQuery {
    #[serde(default)]
    q: String,
}

/// `GET /patients/suggest?q=jan`: the clerk's form's suggestions, as JSON.
pub async fn suggest(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Query(query): Query<SuggestQuery>,
) -> Result<Response, PageError> {
    visit.staff(StaffRole::Clerk)?;
    let search = PatientSearch::parse(&query.q);
    if search == PatientSearch::All {
        return Ok(Json(serde_json::json!({ "patients": [] })).into_response());
    }
    let found = app.archive.find_directory_patients(&search, 0, SUGGESTIONS).await.map_err(PageError::failed)?;
    let patients: Vec<_> = found
        .iter()
        .map(|known| {
            serde_json::json!({
                "mrn": known.patient.mrn,
                "label": format!("{} · born {} · MRN {}{}", known.patient.name, known.patient.birth_date, known.patient.mrn,
                    if known.account.is_some() { "" } else { " · not enrolled" }),
                "enrolled": known.account.is_some(),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "patients": patients })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_an_svg_image_with_a_name_and_no_xml_prolog() {
        let svg = qr_svg("https://records.example.org/enroll/0123456789abcdef");
        assert!(svg.starts_with(r#"<svg role="img" aria-label="QR code of the enrollment link""#), "{svg}");
        assert!(!svg.contains("<?xml"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
