//! The filter form and the page links of every paged list; what a list holds and which rows a
//! page shows are decided by `hrm::listing`.

use hrm::listing::{EntryFilter, Paged, parse_page};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::{PageError, WebApp};
use hrm::directory::patient_filter;

/// A list's query string as typed: `?page=2&patient=0x…&kind=health&from=2026-03-01&to=…`.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct ListQuery {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    patient: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    from: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    to: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    page: String,
}

impl ListQuery {
    /// The filter and the page asked for; a bad one is refused with what was wrong.
    pub fn read(&self) -> Result<(EntryFilter, usize), PageError> {
        let refused = |e: hrm::listing::ListError| PageError::BadRequest(format!("{e}."));
        let filter = EntryFilter::parse(&self.patient, &self.kind, &self.from, &self.to).map_err(refused)?;
        Ok((filter, parse_page(&self.page).map_err(refused)?))
    }

    /// As [`ListQuery::read`], for clinical staff: the patient may also be named by an MRN of
    /// this hospital's directory.
    pub async fn read_for_clinical_staff(&self, app: &WebApp) -> Result<(EntryFilter, usize), PageError> {
        let patient = patient_filter(&app.archive, &self.patient).await.map_err(PageError::failed)?;
        ListQuery { patient, ..self.clone() }.read()
    }

    /// The link to page `page` of `path` with the same filter.
    fn link(&self, path: &str, page: usize, anchor: &str) -> String {
        let query = ListQuery { page: page.to_string(), ..self.clone() };
        let encoded = serde_urlencoded::to_string(&query).unwrap_or_default();
        format!("{path}?{encoded}{anchor}")
    }
}

/// Where a list lives, for its form and links: the page's path and the anchor of its section.
#[derive(Debug, Clone, Copy)]
pub struct ListPlace<'a> {
    pub path: &'a str,
    /// `#section` to land on, or empty.
    pub anchor: &'a str,
    /// What the list calls its rows ("entries", "submissions").
    pub rows: &'a str,
    /// Whether the list may be narrowed to one patient (not on a patient's own page).
    pub by_patient: bool,
    /// Whether the patient may be named by an MRN (lists for clinical staff).
    pub names_patients: bool,
}

/// The filter form: patient, kind and the submission dates. A GET form, so a filtered list has
/// a link like any other page.
pub fn filter_form(place: ListPlace<'_>, query: &ListQuery) -> Markup {
    let action = format!("{}{}", place.path, place.anchor);
    let kind = query.kind.to_ascii_lowercase();
    let narrowed = [&query.patient, &query.kind, &query.from, &query.to].iter().any(|f| !f.trim().is_empty());
    html! {
        form.filters method="get" action=(action) role="search" aria-label=(format!("Filter the {}", place.rows)) {
            @if place.by_patient {
                label.wide { span.label { "Patient" } input name="patient" value=(query.patient) placeholder=(if place.names_patients { "MRN or 0x… address" } else { "0x… address" }) autocomplete="off" spellcheck="false"; }
            }
            label { span.label { "Kind" }
                select name="kind" {
                    option value="" { "Any" }
                    option value="health" selected[kind == "health"] { "Health details" }
                    option value="bill" selected[kind == "bill"] { "Bill" }
                }
            }
            label { span.label { "Submitted from" } input type="date" name="from" value=(query.from); }
            label { span.label { "to" } input type="date" name="to" value=(query.to); }
            button type="submit" { "Filter" }
            @if narrowed { " " a href=(action) { "Show all" } }
        }
    }
}

/// "Entries 51–100 of 10,000, page 2 of 200" and the links to the first, previous, next and last
/// pages (only those that lead somewhere).
pub fn pager<T>(place: ListPlace<'_>, query: &ListQuery, paged: &Paged<T>) -> Markup {
    pager_linking(place, paged, |page| query.link(place.path, page, place.anchor))
}

/// [`pager`] for a list with a query of its own: `link(n)` is page `n`'s address.
pub fn pager_linking<T>(place: ListPlace<'_>, paged: &Paged<T>, link: impl Fn(usize) -> String) -> Markup {
    html! {
        nav.pager aria-label=(format!("Pages of the {}", place.rows)) {
            p.count {
                @if paged.total == 0 {
                    "No " (place.rows) "."
                } @else {
                    (capitalised(place.rows)) " " (paged.first_row()) "–" (paged.last_row()) " of " (paged.total)
                    @if paged.pages > 1 { ", page " (paged.page) " of " (paged.pages) }
                    "."
                }
            }
            @if paged.pages > 1 {
                p.links {
                    @if paged.page > 1 {
                        a href=(link(1)) { "First" } " "
                        a rel="prev" href=(link(paged.page - 1)) { "Previous" } " "
                    }
                    @if paged.page < paged.pages {
                        a rel="next" href=(link(paged.page + 1)) { "Next" } " "
                        a href=(link(paged.pages)) { "Last" }
                    }
                }
            }
        }
    }
}

/// `text` with its first letter in upper case.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
