//! The frame around every page and the small pieces pages share.

use alloy::primitives::{Address, B256};
use maud::{DOCTYPE, Markup, html};

use super::{Principal, Visit, WebApp};
use hrm::records::EntryKind;
use hrm::store::StaffRole;

/// A whole page: header, navigation for the visitor's role, the session's message, `body`.
pub fn page(visit: &Visit, title: &str, body: Markup) -> Markup {
    frame(visit, title, visit.session.flash.as_deref(), body)
}

/// The page shown for an error.
pub fn error_page(visit: &Visit, title: &str, message: &str) -> Markup {
    frame(
        visit,
        title,
        None,
        html! {
            section.card.error-page {
                h1 { (title) }
                p.error { (message) }
                p { a href="/" { "Back to your start page" } }
            }
        },
    )
}

fn frame(visit: &Visit, title: &str, flash: Option<&str>, body: Markup) -> Markup {
    let csrf = visit.session.csrf.as_str();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf-token" content=(csrf);
                title { (title) " · hrm" }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "hrm" span.brand-sub { "health records" } }
                    (navigation(visit))
                }
                main {
                    @if let Some(flash) = flash { p.flash role="status" { (flash) } }
                    (body)
                }
            }
        }
    }
}

fn navigation(visit: &Visit) -> Markup {
    let Some(principal) = &visit.session.principal else { return html! {} };
    html! {
        nav {
            @match principal {
                Principal::Patient { address } => {
                    a href="/patient" { "My records" }
                    span.who title=(address) { "Patient " (short_address(*address)) }
                }
                Principal::Staff { username, roles } => {
                    @if roles.contains(&StaffRole::Clerk) { a href="/clerk" { "Submissions" } }
                    @if roles.contains(&StaffRole::Reviewer) { a href="/reviewer" { "Review" } }
                    @if roles.contains(&StaffRole::Clerk) || roles.contains(&StaffRole::Reviewer) { a href="/patients" { "Patients" } }
                    @if roles.contains(&StaffRole::Admin) {
                        a href="/admin" { "Consortium" }
                        a href="/admin/entries" { "Entries" }
                        a href="/admin/staff" { "Staff" }
                    }
                    span.who { (username) }
                }
            }
            form.inline method="post" action="/sign-out" {
                input type="hidden" name="_csrf" value=(visit.session.csrf);
                button.link type="submit" { "Sign out" }
            }
        }
    }
}

/// A form field: its label, `input` (marked invalid by the caller when `error`), its hint and its
/// problem, announced to screen readers.
pub fn form_field(label: &str, input: Markup, hint: &str, error: Option<&str>) -> Markup {
    html! {
        label class=(if error.is_some() { "field invalid" } else { "field" }) {
            span.label { (label) }
            (input)
            @if !hint.is_empty() { span.hint { (hint) } }
            @if let Some(error) = error { span.field-error role="alert" { (error) } }
        }
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(visit: &Visit) -> Markup {
    html! { input type="hidden" name="_csrf" value=(visit.session.csrf); }
}

/// `0x1234…abcd`.
pub fn short_address(address: Address) -> String {
    let full = address.to_checksum(None);
    format!("{}…{}", &full[..6], &full[full.len() - 4..])
}

/// The directory entries of the patients on a page whom this hospital enrolled, by account.
pub type PatientNames = std::collections::HashMap<Address, hrm::directory::DirectoryPatient>;

/// A patient as staff see them: the name and MRN where this hospital enrolled them, else the
/// short address.
pub fn patient_label(names: &PatientNames, address: Address) -> Markup {
    match names.get(&address) {
        Some(known) => html! { span.patient title=(address) { (known.name) " " span.mrn { "MRN " (known.mrn) } } },
        None => html! { code title=(address) { (short_address(address)) } },
    }
}

/// A hospital's name, or its short address when it has none.
pub fn hospital_label(names: &std::collections::HashMap<Address, String>, address: Address) -> String {
    names.get(&address).cloned().unwrap_or_else(|| short_address(address))
}

/// A transaction hash, shortened, with the full hash on hover; a link into the block explorer
/// when the server was given one.
pub fn tx_link(app: &WebApp, hash: B256) -> Markup {
    let full = hash.to_string();
    let short = format!("{}…{}", &full[..10], &full[full.len() - 6..]);
    match &app.settings.explorer_url {
        Some(explorer) => {
            let href = format!("{}/tx/{full}", explorer.as_str().trim_end_matches('/'));
            html! { a.tx href=(href) title=(full) rel="noreferrer" { code { (short) } } }
        }
        None => html! { code.tx title=(full) { (short) } },
    }
}

/// A status badge.
pub fn status_badge(status: &str) -> Markup {
    html! { span class=(format!("badge badge-{status}")) { (status) } }
}

/// An entry kind at the start of a heading or sentence.
pub fn kind_title(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Health => "Health details",
        EntryKind::Bill => "Bill details",
    }
}
