//! The voting rules of `HealthRecords`, its events, and the gas each function uses.

use crate::common::consortium::{Consortium, expect_contract_error, mined, test_envelope};
use crate::common::dev;
use alloy::primitives::{Address, U256, keccak256};
use alloy::rpc::types::TransactionReceipt;
use alloy::sol_types::SolEvent;
use hrm::chain::HealthRecords::{self, HealthRecordsErrors as E};
use hrm::chain::{EntryKind, EntryStatus};
use hrm::records::keys::public_key_bytes;

fn event<T: SolEvent>(receipt: &TransactionReceipt) -> T {
    receipt.decoded_log::<T>().unwrap_or_else(|| panic!("no {} event in the receipt", T::SIGNATURE)).data
}

async fn status(c: &Consortium, id: u64) -> EntryStatus {
    let entry = c.as_(&c.admin).getEntry(U256::from(id)).call().await.unwrap();
    EntryStatus::from_u8(entry.status).unwrap()
}

#[tokio::test]
async fn approval_needs_every_panel_member_and_the_patient() {
    let c = Consortium::deploy("rules_approval", 4).await;
    let (id, _) = c.submit_health().await;
    let id_word = U256::from(id);
    let voters: Vec<_> = c.panel.iter().chain([&c.patient]).collect();
    for (i, voter) in voters.iter().enumerate() {
        let allowed = c.as_(&c.admin).dataMigrationAllow(id_word).call().await.unwrap();
        assert!(!allowed, "approved after only {i} of {} votes", voters.len());
        mined(c.as_(voter).approvePendingEntry(id_word).send().await).await;
        let count = c.as_(&c.admin).getVoteCount(id_word).call().await.unwrap();
        assert_eq!((count.approvals, count.requiredVotes), (i as u8 + 1, 5));
    }
    assert!(c.as_(&c.admin).dataMigrationAllow(id_word).call().await.unwrap());
    assert_eq!(status(&c, id).await, EntryStatus::Approved);
}

#[tokio::test]
async fn one_rejection_rejects_and_closes_the_vote() {
    let c = Consortium::deploy("rules_rejection", 3).await;
    let (id, _) = c.submit_bill().await;
    let id_word = U256::from(id);
    mined(c.as_(&c.panel[0]).approvePendingEntry(id_word).send().await).await;
    mined(c.as_(&c.patient).approvePendingEntry(id_word).send().await).await;
    mined(c.as_(&c.panel[1]).rejectPendingEntry(id_word).send().await).await;
    assert_eq!(status(&c, id).await, EntryStatus::Rejected);
    assert!(!c.as_(&c.admin).dataMigrationAllow(id_word).call().await.unwrap());

    // The remaining voter can no longer vote either way.
    let rejected = EntryStatus::Rejected as u8;
    for result in [
        c.as_(&c.panel[2]).approvePendingEntry(id_word).call().await.map(|_| ()),
        c.as_(&c.panel[2]).rejectPendingEntry(id_word).call().await.map(|_| ()),
    ] {
        assert_eq!(
            expect_contract_error(result),
            E::EntryNotPending(HealthRecords::EntryNotPending { id: id_word, status: rejected })
        );
    }
}

#[tokio::test]
async fn a_voter_votes_once_and_not_after_the_decision() {
    let c = Consortium::deploy("rules_once", 1).await;
    let (id, _) = c.submit_health().await;
    let id_word = U256::from(id);
    mined(c.as_(&c.panel[0]).approvePendingEntry(id_word).send().await).await;
    for result in [
        c.as_(&c.panel[0]).approvePendingEntry(id_word).send().await.map(|_| ()),
        c.as_(&c.panel[0]).rejectPendingEntry(id_word).send().await.map(|_| ()),
    ] {
        assert_eq!(
            expect_contract_error(result),
            E::AlreadyVoted(HealthRecords::AlreadyVoted { id: id_word, voter: c.panel[0].address() })
        );
    }
    assert!(c.as_(&c.admin).hasVoted(id_word, c.panel[0].address()).call().await.unwrap());
    assert!(!c.as_(&c.admin).hasVoted(id_word, c.patient.address()).call().await.unwrap());

    mined(c.as_(&c.patient).approvePendingEntry(id_word).send().await).await;
    assert_eq!(status(&c, id).await, EntryStatus::Approved);
    let result = c.as_(&c.patient).rejectPendingEntry(id_word).call().await;
    assert_eq!(
        expect_contract_error(result),
        E::EntryNotPending(HealthRecords::EntryNotPending { id: id_word, status: EntryStatus::Approved as u8 })
    );
    let result = c.as_(&c.admin).getVoteCount(U256::from(99)).call().await;
    assert_eq!(expect_contract_error(result), E::UnknownEntry(HealthRecords::UnknownEntry { id: U256::from(99) }));
}

#[tokio::test]
async fn a_panel_change_after_submission_keeps_the_entrys_voters() {
    let c = Consortium::deploy("rules_snapshot", 2).await;
    let (id, _) = c.submit_health().await;
    let id_word = U256::from(id);
    let old_panel = c.panel_addresses();

    // The primary replaces its panel with the outsider alone.
    mined(c.as_(&c.primary).setSupportingHospitals(vec![c.outsider.address()]).send().await).await;
    let primary = c.primary.address();
    assert_eq!(c.as_(&c.admin).getSupportingHospitals(primary).call().await.unwrap(), vec![c.outsider.address()]);
    assert_eq!(c.as_(&c.admin).getEntryPanel(id_word).call().await.unwrap(), old_panel);
    assert_eq!(c.as_(&c.admin).getVoteCount(id_word).call().await.unwrap().requiredVotes, 3);

    // The new member cannot vote on the old entry; the old members still must.
    let result = c.as_(&c.outsider).approvePendingEntry(id_word).call().await;
    assert_eq!(
        expect_contract_error(result),
        E::NotEntryVoter(HealthRecords::NotEntryVoter { id: id_word, account: c.outsider.address() })
    );
    for voter in c.panel.iter().chain([&c.patient]) {
        mined(c.as_(voter).approvePendingEntry(id_word).send().await).await;
    }
    assert!(c.as_(&c.admin).dataMigrationAllow(id_word).call().await.unwrap());

    // A new entry is voted on by the new panel.
    let (next, _) = c.submit_health().await;
    assert_eq!(c.as_(&c.admin).getEntryPanel(U256::from(next)).call().await.unwrap(), vec![c.outsider.address()]);
    assert_eq!(c.as_(&c.admin).getVoteCount(U256::from(next)).call().await.unwrap().requiredVotes, 2);
}

#[tokio::test]
async fn keys_must_belong_to_their_publisher() {
    let c = Consortium::deploy("rules_keys", 1).await;
    let someone_else = public_key_bytes(&c.patient);
    let result = c.as_(&c.stranger).publishKey(someone_else.clone()).send().await;
    assert_eq!(
        expect_contract_error(result),
        E::KeyNotOwnedByCaller(HealthRecords::KeyNotOwnedByCaller {
            caller: c.stranger.address(),
            keyOwner: c.patient.address(),
        })
    );
    let result = c.as_(&c.stranger).publishKey(someone_else.slice(..33)).call().await;
    assert_eq!(
        expect_contract_error(result),
        E::InvalidPublicKeyLength(HealthRecords::InvalidPublicKeyLength { length: U256::from(33) })
    );
    assert!(c.as_(&c.admin).publicKeyOf(c.stranger.address()).call().await.unwrap().is_empty());
    assert_eq!(c.as_(&c.admin).publicKeyOf(c.patient.address()).call().await.unwrap(), someone_else);
}

#[tokio::test]
async fn submissions_check_patient_panel_and_payload() {
    let c = Consortium::deploy("rules_submit", 2).await;
    let primary = c.as_(&c.primary);
    let commitment = keccak256(b"record");
    let cases = [
        (
            c.stranger.address(),
            commitment,
            test_envelope(),
            E::PatientKeyNotPublished(HealthRecords::PatientKeyNotPublished { patient: c.stranger.address() }),
        ),
        (
            c.panel[0].address(),
            commitment,
            test_envelope(),
            E::PatientIsParticipant(HealthRecords::PatientIsParticipant { patient: c.panel[0].address() }),
        ),
        (c.patient.address(), Default::default(), test_envelope(), E::ZeroCommitment(HealthRecords::ZeroCommitment {})),
        (c.patient.address(), commitment, Default::default(), E::EmptyEnvelope(HealthRecords::EmptyEnvelope {})),
    ];
    for (patient, commitment, envelope, want) in cases {
        let result = primary.submitHealthDetails(patient, commitment, envelope).call().await;
        assert_eq!(expect_contract_error(result), want);
    }

    // Panels name registered hospitals, once each, never the primary itself, at most 31.
    let stranger = c.stranger.address();
    let member = c.panel[0].address();
    let bad_panels = [
        (vec![], E::NoSupportingHospitals(HealthRecords::NoSupportingHospitals { primary: c.primary.address() })),
        (
            vec![stranger],
            E::SupportingHospitalNotRegistered(HealthRecords::SupportingHospitalNotRegistered { hospital: stranger }),
        ),
        (
            vec![member, member],
            E::DuplicateSupportingHospital(HealthRecords::DuplicateSupportingHospital { hospital: member }),
        ),
        (
            vec![c.primary.address()],
            E::CannotSupportSelf(HealthRecords::CannotSupportSelf { primary: c.primary.address() }),
        ),
        (
            vec![member; 32],
            E::TooManySupportingHospitals(HealthRecords::TooManySupportingHospitals {
                count: U256::from(32),
                max: U256::from(31),
            }),
        ),
    ];
    for (panel, want) in bad_panels {
        let result = primary.setSupportingHospitals(panel).call().await;
        assert_eq!(expect_contract_error(result), want);
    }

    // Health and bill entries are read through their own getters only.
    let (health, _) = c.submit_health().await;
    let (bill, _) = c.submit_bill().await;
    let entry = primary.getHealthDetails(U256::from(health)).call().await.unwrap();
    assert_eq!(
        (entry.kind, entry.patient, entry.submitter),
        (EntryKind::Health as u8, c.patient.address(), c.primary.address())
    );
    assert_eq!(primary.getBillDetails(U256::from(bill)).call().await.unwrap().kind, EntryKind::Bill as u8);
    let result = primary.getBillDetails(U256::from(health)).call().await;
    assert_eq!(
        expect_contract_error(result),
        E::WrongEntryKind(HealthRecords::WrongEntryKind { id: U256::from(health), actual: EntryKind::Health as u8 })
    );

    // Registration rules.
    let admin = c.as_(&c.admin);
    let result = admin.registerHospital(Address::ZERO, "Nowhere".into()).call().await;
    assert_eq!(expect_contract_error(result), E::ZeroAddress(HealthRecords::ZeroAddress {}));
    let result = admin.registerHospital(stranger, String::new()).call().await;
    assert_eq!(expect_contract_error(result), E::EmptyHospitalName(HealthRecords::EmptyHospitalName {}));
    let result = admin.registerHospital(member, "Again".into()).call().await;
    assert_eq!(
        expect_contract_error(result),
        E::HospitalAlreadyRegistered(HealthRecords::HospitalAlreadyRegistered { hospital: member })
    );
}

#[tokio::test]
async fn every_state_change_emits_its_event_with_the_right_arguments() {
    let c = Consortium::deploy("rules_events", 2).await;
    let admin = c.as_(&c.admin);
    let newcomer = dev(9);

    let receipt = mined(admin.registerHospital(newcomer.address(), "Newcomer Clinic".into()).send().await).await;
    let registered: HealthRecords::HospitalRegistered = event(&receipt);
    assert_eq!((registered.hospital, registered.name.as_str()), (newcomer.address(), "Newcomer Clinic"));
    assert_eq!(admin.hospitalName(newcomer.address()).call().await.unwrap(), "Newcomer Clinic");
    assert!(admin.getHospitals().call().await.unwrap().contains(&newcomer.address()));

    let receipt = mined(c.as_(&newcomer).publishKey(public_key_bytes(&newcomer)).send().await).await;
    let published: HealthRecords::KeyPublished = event(&receipt);
    assert_eq!((published.account, published.publicKey), (newcomer.address(), public_key_bytes(&newcomer)));

    let receipt = mined(c.as_(&newcomer).setSupportingHospitals(vec![c.primary.address()]).send().await).await;
    let panel: HealthRecords::SupportingHospitalsSet = event(&receipt);
    assert_eq!(
        (panel.primary, panel.panelVersion, panel.hospitals),
        (newcomer.address(), 1, vec![c.primary.address()])
    );

    let commitment = keccak256(b"events record");
    let envelope = test_envelope();
    let receipt =
        mined(c.as_(&c.primary).submitHealthDetails(c.patient.address(), commitment, envelope.clone()).send().await)
            .await;
    let submitted: HealthRecords::EntrySubmitted = event(&receipt);
    assert_eq!(submitted.id, U256::from(1));
    assert_eq!((submitted.patient, submitted.submitter), (c.patient.address(), c.primary.address()));
    assert_eq!((submitted.kind, submitted.commitment), (EntryKind::Health as u8, commitment));
    assert_eq!((submitted.panelVersion, submitted.envelope), (1, envelope));
    let stored = admin.getEntry(U256::from(1)).call().await.unwrap();
    assert_eq!(stored.submittedBlock, receipt.block_number.unwrap());
    assert_eq!(stored.commitment, commitment);

    let id = U256::from(1);
    let receipt = mined(c.as_(&c.panel[0]).approvePendingEntry(id).send().await).await;
    let vote: HealthRecords::VoteCast = event(&receipt);
    assert_eq!(
        (vote.id, vote.voter, vote.approve, vote.approvals, vote.requiredVotes),
        (id, c.panel[0].address(), true, 1, 3)
    );
    assert!(receipt.decoded_log::<HealthRecords::EntryApproved>().is_none(), "approved too early");
    mined(c.as_(&c.panel[1]).approvePendingEntry(id).send().await).await;
    let receipt = mined(c.as_(&c.patient).approvePendingEntry(id).send().await).await;
    let approved: HealthRecords::EntryApproved = event(&receipt);
    assert_eq!((approved.id, approved.patient, approved.kind), (id, c.patient.address(), EntryKind::Health as u8));

    let (bill, _) = c.submit_bill().await;
    let bill = U256::from(bill);
    let receipt = mined(c.as_(&c.panel[1]).rejectPendingEntry(bill).send().await).await;
    let vote: HealthRecords::VoteCast = event(&receipt);
    assert_eq!((vote.id, vote.voter, vote.approve, vote.approvals), (bill, c.panel[1].address(), false, 0));
    let rejected: HealthRecords::EntryRejected = event(&receipt);
    assert_eq!((rejected.id, rejected.patient, rejected.rejectedBy), (bill, c.patient.address(), c.panel[1].address()));
}

/// Gas per function, from receipts (and views by estimate), as the paper's figures 15 and 16 list
/// it. Printed for the record (`cargo test --test contract_rules gas -- --nocapture`); the
/// targets are gas counts, which are deterministic, not timings.
#[tokio::test]
async fn gas_per_function_stays_within_targets() {
    let c = Consortium::deploy("rules_gas", 4).await;
    let mut rows: Vec<(String, u64)> = c.setup_gas.iter().map(|(name, gas)| (name.to_string(), *gas)).collect();

    // An envelope the size a real one has for six recipients (patient, primary, four supporting):
    // ~300 bytes of sealed record plus ~110 bytes per recipient.
    let envelope = alloy::primitives::Bytes::from(vec![0x5a; 300 + 6 * 110]);
    let receipt = mined(
        c.as_(&c.primary).submitHealthDetails(c.patient.address(), keccak256(b"h"), envelope.clone()).send().await,
    )
    .await;
    let health = U256::from(1);
    rows.push(("submitHealthDetails".into(), receipt.gas_used));
    let receipt =
        mined(c.as_(&c.primary).submitBillDetails(c.patient.address(), keccak256(b"b"), envelope).send().await).await;
    rows.push(("submitBillDetails".into(), receipt.gas_used));
    let bill = U256::from(2);
    for (i, voter) in c.panel.iter().chain([&c.patient]).enumerate() {
        let receipt = mined(c.as_(voter).approvePendingEntry(health).send().await).await;
        let last = i == c.panel.len();
        rows.push((format!("approvePendingEntry{}", if last { " (approves)" } else { "" }), receipt.gas_used));
    }
    let receipt = mined(c.as_(&c.panel[0]).rejectPendingEntry(bill).send().await).await;
    rows.push(("rejectPendingEntry".into(), receipt.gas_used));

    let admin = c.as_(&c.admin);
    let views = [
        ("getHealthDetails (estimate)", admin.getHealthDetails(health).estimate_gas().await.unwrap()),
        ("getBillDetails (estimate)", admin.getBillDetails(bill).estimate_gas().await.unwrap()),
        (
            "getSupportingHospitals (estimate)",
            admin.getSupportingHospitals(c.primary.address()).estimate_gas().await.unwrap(),
        ),
        ("dataMigrationAllow (estimate)", admin.dataMigrationAllow(health).estimate_gas().await.unwrap()),
        ("getVoteCount (estimate)", admin.getVoteCount(health).estimate_gas().await.unwrap()),
    ];
    rows.extend(views.iter().map(|(name, gas)| (name.to_string(), *gas)));

    println!("{:<40} {:>10}", "function", "gas");
    for (name, gas) in &rows {
        println!("{name:<40} {gas:>10}");
    }
    let gas_of = |name: &str| rows.iter().filter(|(n, _)| n.starts_with(name)).map(|(_, g)| *g).max().unwrap();
    assert!(gas_of("submitHealthDetails") <= 150_000, "health submission over 150k gas");
    assert!(gas_of("submitBillDetails") <= 150_000, "bill submission over 150k gas");
    assert!(gas_of("approvePendingEntry") <= 60_000, "a vote over 60k gas");
    assert!(gas_of("rejectPendingEntry") <= 60_000, "a vote over 60k gas");
}
