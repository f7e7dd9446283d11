//! Lists that page: the entries a list shows, narrowed by patient, kind and the date they were
//! submitted, fifty at a time with their count. Every edge that lists entries (the reviewer's
//! queue, the clerk's submissions, a patient's pending entries) reads its filter and its page here.

use alloy::primitives::Address;

use crate::chain::ledger::LedgerEntry;
use crate::records::{EntryKind, utc_date, validate_date_format};

/// Rows on one page of a list.
pub const PAGE_SIZE: usize = 50;

/// Why a list's filter or page number was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListError {
    #[error(
        "'{0}' is not an account address (or, for clinical staff, an enrolled patient's medical record number): give the patient's 0x address (42 characters) or MRN, or leave it empty"
    )]
    Patient(String),
    #[error("'{0}' is not a kind of entry: choose health or bill, or leave it empty")]
    Kind(String),
    #[error("the '{field}' date '{value}' is not a date like 2026-03-14 (YYYY-MM-DD)")]
    Date { field: &'static str, value: String },
    #[error("the dates are the wrong way round: 'from' ({from}) is after 'to' ({to})")]
    Range { from: String, to: String },
    #[error("'{0}' is not a page number: pages are numbered from 1")]
    Page(String),
}

/// What a list is narrowed to. Every part is optional; an empty filter lists everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryFilter {
    pub patient: Option<Address>,
    pub kind: Option<EntryKind>,
    /// Submitted on or after this UTC date (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Submitted on or before this UTC date (`YYYY-MM-DD`).
    pub to: Option<String>,
}

impl EntryFilter {
    /// Reads a filter form's fields as typed; blank fields narrow nothing.
    pub fn parse(patient: &str, kind: &str, from: &str, to: &str) -> Result<Self, ListError> {
        let given = |text: &str| Some(text.trim()).filter(|t| !t.is_empty()).map(str::to_string);
        let patient = match given(patient) {
            Some(text) => Some(text.parse::<Address>().map_err(|_| ListError::Patient(text))?),
            None => None,
        };
        let kind = match given(kind) {
            Some(text) => Some(match text.to_ascii_lowercase().as_str() {
                "health" => EntryKind::Health,
                "bill" => EntryKind::Bill,
                _ => return Err(ListError::Kind(text)),
            }),
            None => None,
        };
        let date = |field: &'static str, text: Option<String>| match text {
            Some(value) => match validate_date_format(field, &value) {
                Ok(()) => Ok(Some(value)),
                Err(_) => Err(ListError::Date { field, value }),
            },
            None => Ok(None),
        };
        let (from, to) = (date("from", given(from))?, date("to", given(to))?);
        if let (Some(from), Some(to)) = (&from, &to)
            && from > to
        {
            return Err(ListError::Range { from: from.clone(), to: to.clone() });
        }
        Ok(Self { patient, kind, from, to })
    }

    /// Whether the filter narrows anything.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Whether `entry` is on the narrowed list.
    pub fn admits(&self, entry: &LedgerEntry) -> bool {
        self.patient.is_none_or(|patient| entry.patient == patient)
            && self.kind.is_none_or(|kind| entry.kind == kind)
            && ((self.from.is_none() && self.to.is_none()) || self.admits_date(&utc_date(entry.submitted.time)))
    }

    /// Page `page` of the `entries` the filter admits, in their order; only the page's rows are
    /// copied out of the ledger.
    pub fn page_of<'a>(&self, entries: impl IntoIterator<Item = &'a LedgerEntry>, page: usize) -> Paged<LedgerEntry> {
        Paged::of(entries.into_iter().filter(|entry| self.admits(entry)), page).map(LedgerEntry::clone)
    }

    /// Whether a submission on `date` is within the dates. (Only a dated filter formats each
    /// entry's date: a queue of ten thousand is listed on every page load.)
    fn admits_date(&self, date: &str) -> bool {
        // Well-formed dates compare as text.
        self.from.as_deref().is_none_or(|from| date >= from) && self.to.as_deref().is_none_or(|to| date <= to)
    }
}

/// A page number as typed in a link or a form; blank is the first page.
pub fn parse_page(text: &str) -> Result<usize, ListError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(1);
    }
    text.parse::<usize>().ok().filter(|page| *page >= 1).ok_or_else(|| ListError::Page(text.to_string()))
}

/// Page `page` of a list of `total` rows kept elsewhere (a database): which page that is (past
/// the last is the last, as in [`Paged::of`]) and how many rows precede it.
pub fn page_window(total: usize, page: usize) -> (usize, usize) {
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    (page, (page - 1) * PAGE_SIZE)
}

/// One page of a list, and where it is in the whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// Rows on every page together.
    pub total: usize,
    /// This page's number, from 1.
    pub page: usize,
    /// How many pages there are (1 for an empty list).
    pub pages: usize,
}

impl<T> Paged<T> {
    /// Page `page` of `items`. A page past the last is the last: a list can shrink between a
    /// link's making and its use (a reviewer's queue as others vote), and the last page is what
    /// such a link meant.
    pub fn of(items: impl IntoIterator<Item = T>, page: usize) -> Self {
        let items: Vec<T> = items.into_iter().collect();
        let total = items.len();
        let (page, skip) = page_window(total, page);
        Self::fetched(items.into_iter().skip(skip).take(PAGE_SIZE).collect(), total, page)
    }

    /// A page of rows fetched for [`page_window`]'s page of a `total`-row list.
    pub fn fetched(items: Vec<T>, total: usize, page: usize) -> Self {
        Self { items, total, page, pages: total.div_ceil(PAGE_SIZE).max(1) }
    }

    /// The same page with each row turned into another (cloning only fifty of ten thousand).
    pub fn map<U>(self, row: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(row).collect(),
            total: self.total,
            page: self.page,
            pages: self.pages,
        }
    }

    /// The position in the whole list of this page's first row, from 1 (0 for an empty list).
    pub fn first_row(&self) -> usize {
        if self.total == 0 { 0 } else { (self.page - 1) * PAGE_SIZE + 1 }
    }

    /// The position of this page's last row.
    pub fn last_row(&self) -> usize {
        (self.page - 1) * PAGE_SIZE + self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::EntryStatus;
    use crate::chain::ledger::ChainStep;
    use alloy::primitives::B256;

    fn entry(id: u64, patient: u8, kind: EntryKind, time: u64) -> LedgerEntry {
        LedgerEntry {
            id,
            kind,
            patient: Address::repeat_byte(patient),
            former_patients: Vec::new(),
            submitter: Address::repeat_byte(9),
            commitment: B256::ZERO,
            panel: Vec::new(),
            submitted: ChainStep { tx_hash: B256::ZERO, block: id, time },
            votes: Vec::new(),
            released: Vec::new(),
            status: EntryStatus::Pending,
            decided: None,
        }
    }

    // 2026-03-14T12:00:00Z and the days either side.
    const MARCH_14: u64 = 1_773_489_600;
    const DAY: u64 = 86_400;

    #[test]
    fn a_filter_narrows_by_patient_kind_and_submission_date() {
        let patient = format!("{:#x}", Address::repeat_byte(1));
        let filter = EntryFilter::parse(&patient, "Health", "2026-03-14", "2026-03-14").unwrap();
        assert!(filter.admits(&entry(1, 1, EntryKind::Health, MARCH_14)));
        assert!(!filter.admits(&entry(2, 2, EntryKind::Health, MARCH_14)), "another patient");
        assert!(!filter.admits(&entry(3, 1, EntryKind::Bill, MARCH_14)), "another kind");
        assert!(!filter.admits(&entry(4, 1, EntryKind::Health, MARCH_14 - DAY)), "the day before");
        assert!(!filter.admits(&entry(5, 1, EntryKind::Health, MARCH_14 + DAY)), "the day after");
        let open = EntryFilter::parse(" ", "", "", "").unwrap();
        assert!(open.is_empty() && open.admits(&entry(6, 7, EntryKind::Bill, 0)));
        let from_only = EntryFilter::parse("", "", "2026-03-14", "").unwrap();
        assert!(from_only.admits(&entry(7, 1, EntryKind::Bill, MARCH_14 + 30 * DAY)));
    }

    #[test]
    fn a_page_of_entries_holds_only_what_the_filter_admits() {
        let entries: Vec<LedgerEntry> =
            (1..=120).map(|id| entry(id, if id % 2 == 0 { 1 } else { 2 }, EntryKind::Health, MARCH_14)).collect();
        let patient = format!("{:#x}", Address::repeat_byte(1));
        let page = EntryFilter::parse(&patient, "", "", "").unwrap().page_of(&entries, 2);
        let ids: Vec<u64> = page.items.iter().map(|e| e.id).collect();
        assert_eq!((page.total, page.pages, ids.first(), ids.len()), (60, 2, Some(&102), 10));
        assert!(ids.iter().all(|id| id % 2 == 0));
    }

    #[test]
    fn a_bad_filter_says_what_was_wrong() {
        assert_eq!(EntryFilter::parse("0x12", "", "", ""), Err(ListError::Patient("0x12".into())));
        assert_eq!(EntryFilter::parse("", "lab", "", ""), Err(ListError::Kind("lab".into())));
        assert_eq!(
            EntryFilter::parse("", "", "14/03/2026", ""),
            Err(ListError::Date { field: "from", value: "14/03/2026".into() })
        );
        assert_eq!(
            EntryFilter::parse("", "", "2026-03-15", "2026-03-14"),
            Err(ListError::Range { from: "2026-03-15".into(), to: "2026-03-14".into() })
        );
        assert!(ListError::Range { from: "b".into(), to: "a".into() }.to_string().contains("wrong way round"));
        assert_eq!((parse_page(""), parse_page("3")), (Ok(1), Ok(3)));
        assert_eq!(parse_page("0"), Err(ListError::Page("0".into())));
        assert_eq!(parse_page("two"), Err(ListError::Page("two".into())));
    }

    #[test]
    fn pages_hold_fifty_and_a_page_past_the_end_is_the_last() {
        let first = Paged::of(1..=120, 1);
        assert_eq!(
            (first.items.len(), first.total, first.pages, first.first_row(), first.last_row()),
            (50, 120, 3, 1, 50)
        );
        let last = Paged::of(1..=120, 3);
        assert_eq!(
            (last.items.first(), last.items.len(), last.first_row(), last.last_row()),
            (Some(&101), 20, 101, 120)
        );
        assert_eq!(Paged::of(1..=120, 99).page, 3);
        let empty = Paged::of(Vec::<u8>::new(), 2);
        assert_eq!((empty.page, empty.pages, empty.first_row(), empty.last_row()), (1, 1, 0, 0));
        assert_eq!(Paged::of(1..=100, 2).pages, 2, "exactly two pages");
    }
}
