//! The read rule: who may read a patient's record, and why. The one place it is decided; the web
//! app, `hrm records`, `hrm show` and the exports all ask here.

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

use crate::store::ArchivedRecord;

/// Why a reader may read a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadRule {
    /// The record is about the reader.
    Own,
    /// The reader's hospital entered it.
    Submitter,
    /// The reader's hospital was on the panel that approved it.
    Panel,
    /// The patient granted the reader's hospital access, and the grant has not expired.
    Grant,
}

impl ReadRule {
    /// The rule's name, as logged and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Own => "own",
            Self::Submitter => "submitter",
            Self::Panel => "panel",
            Self::Grant => "grant",
        }
    }

    /// The rule for people: "you entered it", …
    pub fn describe(self) -> &'static str {
        match self {
            Self::Own => "the record is about them",
            Self::Submitter => "their hospital entered it",
            Self::Panel => "their hospital approved it on the panel",
            Self::Grant => "the patient granted their hospital access",
        }
    }
}

/// Who a record concerns and which hospitals handled it: what the rule looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordParties {
    pub patient: Address,
    pub submitter: Address,
    /// The supporting hospitals that had to approve it.
    pub panel: Vec<Address>,
}

impl RecordParties {
    /// The parties of an archived record: its patient, its submitter, and the hospitals among its
    /// approvers (every panel member approved, or it would not be archived).
    pub fn of_archived(record: &ArchivedRecord) -> Self {
        let parse = |text: &str| text.parse::<Address>().unwrap_or_default();
        let patient = parse(&record.patient);
        Self {
            patient,
            submitter: parse(&record.submitter),
            panel: record.voters.iter().map(|v| parse(v)).filter(|v| *v != patient).collect(),
        }
    }
}

/// Why `reader` may read a record with these `parties`, or `None` when it may not. `granted` says
/// whether the reader holds an unexpired grant from the record's patient (asked of the chain).
pub fn read_rule(reader: Address, parties: &RecordParties, granted: bool) -> Option<ReadRule> {
    if reader == parties.patient {
        Some(ReadRule::Own)
    } else if reader == parties.submitter {
        Some(ReadRule::Submitter)
    } else if parties.panel.contains(&reader) {
        Some(ReadRule::Panel)
    } else if granted {
        Some(ReadRule::Grant)
    } else {
        None
    }
}

/// Whether deciding for `reader` over records with these parties needs the chain's answer about
/// a grant: only when some record is readable by no other rule.
pub fn needs_grant_check<'a>(reader: Address, parties: impl IntoIterator<Item = &'a RecordParties>) -> bool {
    parties.into_iter().any(|p| read_rule(reader, p, false).is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parties() -> RecordParties {
        RecordParties {
            patient: Address::repeat_byte(1),
            submitter: Address::repeat_byte(2),
            panel: vec![Address::repeat_byte(3), Address::repeat_byte(4)],
        }
    }

    #[test]
    fn each_kind_of_reader_gets_its_rule() {
        let p = parties();
        assert_eq!(read_rule(Address::repeat_byte(1), &p, false), Some(ReadRule::Own));
        assert_eq!(read_rule(Address::repeat_byte(2), &p, false), Some(ReadRule::Submitter));
        assert_eq!(read_rule(Address::repeat_byte(4), &p, false), Some(ReadRule::Panel));
        assert_eq!(read_rule(Address::repeat_byte(9), &p, true), Some(ReadRule::Grant));
        assert_eq!(read_rule(Address::repeat_byte(9), &p, false), None);
    }

    #[test]
    fn the_chain_is_asked_only_when_no_other_rule_allows() {
        let p = parties();
        assert!(!needs_grant_check(Address::repeat_byte(3), [&p]));
        assert!(needs_grant_check(Address::repeat_byte(9), [&p]));
        assert!(!needs_grant_check(Address::repeat_byte(9), []));
    }

    #[test]
    fn archived_approvers_other_than_the_patient_are_the_panel() {
        let record = crate::store::ArchivedRecord {
            id: "1:0x0:1".into(),
            chain_id: 1,
            contract: "0x0".into(),
            entry_id: 1,
            kind: crate::records::EntryKind::Health,
            patient: format!("{:#x}", Address::repeat_byte(1)),
            submitter: format!("{:#x}", Address::repeat_byte(2)),
            record: Default::default(),
            commitment: String::new(),
            salt: String::new(),
            envelope_digest: None,
            submission: crate::store::Provenance { tx_hash: String::new(), block: 1 },
            approval: crate::store::Provenance { tx_hash: String::new(), block: 2 },
            voters: vec![format!("{:#x}", Address::repeat_byte(3)), format!("{:#x}", Address::repeat_byte(1))],
            migrated_at: mongodb::bson::DateTime::now(),
            parsed: Default::default(),
        };
        let p = RecordParties::of_archived(&record);
        assert_eq!(p.panel, vec![Address::repeat_byte(3)]);
        assert_eq!(p.patient, Address::repeat_byte(1));
    }
}
