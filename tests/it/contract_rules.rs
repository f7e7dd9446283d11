//! The voting rules of `HealthRecords`, its events, and the gas each function uses.

use crate::common::consortium::{Consortium, expect_contract_error, mined, test_envelope};
use crate::common::dev;
use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::rpc::types::TransactionReceipt;
use alloy::sol_types::{SolError, SolEvent};
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
        (
            c.patient.address(),
            commitment,
            Default::default(),
            E::ZeroEnvelopeDigest(HealthRecords::ZeroEnvelopeDigest {}),
        ),
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
    // Panel ids are global: the primary's panel, set up first, is 1.
    assert_eq!((panel.primary, panel.panelId, panel.hospitals), (newcomer.address(), 2, vec![c.primary.address()]));
    assert_eq!(admin.currentPanelOf(newcomer.address()).call().await.unwrap(), 2);

    let commitment = keccak256(b"events record");
    let envelope = test_envelope();
    let receipt =
        mined(c.as_(&c.primary).submitHealthDetails(c.patient.address(), commitment, envelope).send().await).await;
    let submitted: HealthRecords::EntrySubmitted = event(&receipt);
    assert_eq!(submitted.id, U256::from(1));
    assert_eq!((submitted.patient, submitted.submitter), (c.patient.address(), c.primary.address()));
    assert_eq!((submitted.kind, submitted.commitment), (EntryKind::Health as u8, commitment));
    assert_eq!((submitted.panelId, submitted.envelopeDigest), (1, envelope));
    let stored = admin.getEntry(U256::from(1)).call().await.unwrap();
    assert_eq!((stored.patient, stored.submitter, stored.panelId), (c.patient.address(), c.primary.address(), 1));
    assert_eq!((stored.approvals, stored.requiredVotes, stored.votedMask), (0, 3, 0));

    let id = U256::from(1);
    let receipt = mined(c.as_(&c.panel[0]).approvePendingEntry(id).send().await).await;
    // Each vote emits one event naming its voter: VoteCast while the entry stays pending,
    // EntryApproved for the vote that completes it, EntryRejected for a rejection.
    let vote: HealthRecords::VoteCast = event(&receipt);
    assert_eq!((vote.id, vote.voter), (id, c.panel[0].address()));
    assert!(receipt.decoded_log::<HealthRecords::EntryApproved>().is_none(), "approved too early");
    let stored = admin.getEntry(id).call().await.unwrap();
    assert_eq!((stored.approvals, stored.votedMask, stored.status), (1, 0b10, EntryStatus::Pending as u8));
    mined(c.as_(&c.panel[1]).approvePendingEntry(id).send().await).await;
    let receipt = mined(c.as_(&c.patient).approvePendingEntry(id).send().await).await;
    let approved: HealthRecords::EntryApproved = event(&receipt);
    assert_eq!((approved.id, approved.voter), (id, c.patient.address()));
    assert!(
        receipt.decoded_log::<HealthRecords::VoteCast>().is_none(),
        "the completing vote emits EntryApproved alone"
    );
    // The entry's word keeps every field in place through the votes.
    let stored = admin.getEntry(id).call().await.unwrap();
    assert_eq!((stored.patient, stored.submitter, stored.panelId), (c.patient.address(), c.primary.address(), 1));
    assert_eq!((stored.kind, stored.status), (EntryKind::Health as u8, EntryStatus::Approved as u8));
    assert_eq!((stored.approvals, stored.requiredVotes, stored.votedMask), (3, 3, 0b111));

    let (bill, _) = c.submit_bill().await;
    let bill = U256::from(bill);
    let receipt = mined(c.as_(&c.panel[1]).rejectPendingEntry(bill).send().await).await;
    assert!(receipt.decoded_log::<HealthRecords::VoteCast>().is_none(), "a rejection emits EntryRejected alone");
    let stored = admin.getEntry(bill).call().await.unwrap();
    assert_eq!(
        (stored.kind, stored.status, stored.votedMask),
        (EntryKind::Bill as u8, EntryStatus::Rejected as u8, 0b100)
    );
    let rejected: HealthRecords::EntryRejected = event(&receipt);
    assert_eq!((rejected.id, rejected.patient, rejected.rejectedBy), (bill, c.patient.address(), c.panel[1].address()));
}

#[tokio::test]
async fn a_batch_makes_one_entry_per_record_and_is_refused_whole() {
    let c = Consortium::deploy("rules_batch", 2).await;
    let primary = c.as_(&c.primary);
    let patient = c.patient.address();
    let commitments: Vec<B256> = (0..3u8).map(|i| keccak256([i])).collect();
    let envelopes: Vec<B256> = (1..=3u8).map(|i| keccak256(vec![i; 100])).collect();
    let receipt =
        mined(primary.submitHealthDetailsBatch(vec![patient; 3], commitments.clone(), envelopes.clone()).send().await)
            .await;
    let submitted: Vec<HealthRecords::EntrySubmitted> = receipt
        .logs()
        .iter()
        .filter_map(|log| HealthRecords::EntrySubmitted::decode_log(&log.inner).ok())
        .map(|log| log.data)
        .collect();
    assert_eq!(submitted.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2, 3].map(U256::from));
    assert_eq!(submitted.iter().map(|e| e.commitment).collect::<Vec<_>>(), commitments);
    assert_eq!(submitted.iter().map(|e| e.envelopeDigest).collect::<Vec<_>>(), envelopes);
    assert!(submitted.iter().all(|e| e.panelId == 1 && e.submitter == c.primary.address()));
    assert_eq!(primary.entryCount().call().await.unwrap(), U256::from(3));

    // Each entry is voted on by itself.
    for voter in c.panel.iter().chain([&c.patient]) {
        mined(c.as_(voter).approvePendingEntry(U256::from(2)).send().await).await;
    }
    assert_eq!(
        [status(&c, 1).await, status(&c, 2).await, status(&c, 3).await],
        [EntryStatus::Pending, EntryStatus::Approved, EntryStatus::Pending]
    );

    // A bad record anywhere refuses the whole batch and names its index and reason.
    let participant = c.panel[0].address();
    // Sent through a provider of its own: a refused send still takes a nonce from its cache.
    let result = c
        .as_(&c.primary)
        .submitBillDetailsBatch(vec![patient, participant, patient], commitments.clone(), envelopes.clone())
        .send()
        .await;
    assert_eq!(
        expect_contract_error(result),
        E::BatchRecordInvalid(HealthRecords::BatchRecordInvalid {
            index: U256::from(1),
            reason: HealthRecords::PatientIsParticipant { patient: participant }.abi_encode().into(),
        })
    );
    let zero_last = vec![commitments[0], commitments[1], B256::ZERO];
    let result = primary.submitHealthDetailsBatch(vec![patient; 3], zero_last, envelopes.clone()).call().await;
    assert_eq!(
        expect_contract_error(result),
        E::BatchRecordInvalid(HealthRecords::BatchRecordInvalid {
            index: U256::from(2),
            reason: HealthRecords::ZeroCommitment {}.abi_encode().into(),
        })
    );
    let result = primary.submitHealthDetailsBatch(vec![], vec![], vec![]).call().await;
    assert_eq!(expect_contract_error(result), E::EmptyBatch(HealthRecords::EmptyBatch {}));
    let result =
        primary.submitHealthDetailsBatch(vec![patient; 2], vec![commitments[0]], envelopes[..2].to_vec()).call().await;
    assert_eq!(
        expect_contract_error(result),
        E::BatchLengthMismatch(HealthRecords::BatchLengthMismatch {
            patients: U256::from(2),
            commitments: U256::from(1),
            envelopeDigests: U256::from(2),
        })
    );
    assert_eq!(primary.entryCount().call().await.unwrap(), U256::from(3), "a refused batch left entries");

    // Records submitted after a panel change are voted on by the new panel.
    mined(primary.setSupportingHospitals(vec![c.outsider.address()]).send().await).await;
    mined(
        primary
            .submitBillDetailsBatch(vec![patient; 2], commitments[..2].to_vec(), envelopes[..2].to_vec())
            .send()
            .await,
    )
    .await;
    assert_eq!(primary.getEntryPanel(U256::from(4)).call().await.unwrap(), vec![c.outsider.address()]);
    assert_eq!(primary.getEntryPanel(U256::from(1)).call().await.unwrap(), c.panel_addresses());
    assert_eq!(primary.getBillDetails(U256::from(5)).call().await.unwrap().requiredVotes, 2);
}

/// Gas per function, from receipts (and views by estimate), as the paper's figures 15 and 16 list
/// it. Printed for the record (`cargo test --test contract_rules gas -- --nocapture`); the
/// targets are gas counts, which are deterministic, not timings.
#[tokio::test]
async fn gas_per_function_stays_within_targets() {
    let c = Consortium::deploy("rules_gas", 4).await;
    let mut rows: Vec<(String, u64)> = c.setup_gas.iter().map(|(name, gas)| (name.to_string(), *gas)).collect();

    // Only the envelope's digest reaches the chain, whatever the envelope's size.
    let envelope = keccak256(vec![0x5a; 720]);
    let receipt =
        mined(c.as_(&c.primary).submitHealthDetails(c.patient.address(), keccak256(b"h"), envelope).send().await).await;
    let health = U256::from(1);
    rows.push(("submitHealthDetails (one record)".into(), receipt.gas_used));
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
    let batch_size = 10;
    let commitments: Vec<B256> = (0..batch_size).map(|i| keccak256([i as u8])).collect();
    let receipt = mined(
        c.as_(&c.primary)
            .submitHealthDetailsBatch(vec![c.patient.address(); batch_size], commitments, vec![envelope; batch_size])
            .send()
            .await,
    )
    .await;
    rows.push(("submitHealthDetailsBatch (10), per record".into(), receipt.gas_used / batch_size as u64));

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

    println!("{:<44} {:>10}", "function", "gas");
    for (name, gas) in &rows {
        println!("{name:<44} {gas:>10}");
    }
    let gas_of = |name: &str| rows.iter().filter(|(n, _)| n.starts_with(name)).map(|(_, g)| *g).max().unwrap();
    // With no envelope in calldata or events (issue 24's targets).
    assert!(gas_of("submitHealthDetails ") <= 60_000, "health submission over 60k gas");
    assert!(gas_of("submitBillDetails") <= 60_000, "bill submission over 60k gas");
    assert!(gas_of("submitHealthDetailsBatch") <= 35_000, "a record in a batch of 10 over 35k gas");
    assert!(gas_of("approvePendingEntry") <= 35_000, "a vote over 35k gas");
    assert!(gas_of("rejectPendingEntry") <= 35_000, "a vote over 35k gas");
}

#[tokio::test]
async fn grants_follow_the_block_clock_and_refuse_what_makes_no_sense() {
    use alloy::providers::Provider;
    let c = Consortium::deploy("rules_grants", 1).await;
    let (patient, hospital) = (c.as_(&c.patient), c.outsider.address());
    let has_access = || async { c.as_(&c.admin).hasAccess(c.patient.address(), hospital).call().await.unwrap() };
    let now =
        c.env.provider_for(&c.admin).get_block_by_number(Default::default()).await.unwrap().unwrap().header.timestamp;

    // Refusals: a non-hospital, an expiry already past, revoking what was never granted.
    let stranger = c.stranger.address();
    assert_eq!(
        expect_contract_error(patient.grantAccess(stranger, u64::MAX).call().await),
        E::GranteeNotHospital(HealthRecords::GranteeNotHospital { account: stranger })
    );
    assert!(matches!(
        expect_contract_error(patient.grantAccess(hospital, now - 1).call().await),
        E::ExpiryNotInFuture(_)
    ));
    assert_eq!(
        expect_contract_error(patient.revokeAccess(hospital).call().await),
        E::AccessNotGranted(HealthRecords::AccessNotGranted { hospital })
    );

    // A grant for an hour: in force, refused a second time, then over when the clock passes it.
    let receipt = mined(patient.grantAccess(hospital, now + 3600).send().await).await;
    let granted = event::<HealthRecords::AccessGranted>(&receipt);
    assert_eq!((granted.patient, granted.hospital, granted.expiresAt), (c.patient.address(), hospital, now + 3600));
    assert!(has_access().await);
    assert_eq!(
        expect_contract_error(patient.grantAccess(hospital, u64::MAX).call().await),
        E::AccessAlreadyGranted(HealthRecords::AccessAlreadyGranted { hospital, expiresAt: now + 3600 })
    );
    c.advance_clock(3601).await;
    assert!(!has_access().await, "the grant expired with the block clock");

    // An expired grant may be granted anew, and revoked; the revocation ends it at once.
    mined(patient.grantAccess(hospital, u64::MAX).send().await).await;
    assert!(has_access().await);
    let receipt = mined(patient.revokeAccess(hospital).send().await).await;
    let revoked = event::<HealthRecords::AccessRevoked>(&receipt);
    assert_eq!((revoked.patient, revoked.hospital), (c.patient.address(), hospital));
    assert!(!has_access().await);

    // Anchors: an empty head is refused; a hospital's anchor is an event with what it covers.
    let primary = c.as_(&c.primary);
    assert!(matches!(expect_contract_error(primary.anchorAccessLog(0, B256::ZERO).call().await), E::EmptyAccessLog(_)));
    let receipt = mined(primary.anchorAccessLog(5, B256::repeat_byte(9)).send().await).await;
    let anchored = event::<HealthRecords::AccessLogAnchored>(&receipt);
    assert_eq!((anchored.hospital, anchored.length, anchored.head), (c.primary.address(), 5, B256::repeat_byte(9)));
}

#[tokio::test]
async fn erasure_is_asked_by_the_patient_and_answered_by_each_holder_on_chain() {
    let c = Consortium::deploy("rules_erasure", 2).await;
    let (id, _) = c.submit_health().await;
    let (untouched, _) = c.submit_health().await;
    let (patient, primary, member) = (c.as_(&c.patient), c.as_(&c.primary), c.as_(&c.panel[0]));
    let entry = U256::from(id);

    // Recipients are the patient, the submitter and the panel; nobody else.
    for (who, is) in
        [(&c.patient, true), (&c.primary, true), (&c.panel[0], true), (&c.outsider, false), (&c.admin, false)]
    {
        assert_eq!(primary.isRecipient(entry, who.address()).call().await.unwrap(), is, "{}", who.address());
    }

    // Nothing to answer before the patient asks.
    let result = primary.confirmErasure(entry).call().await;
    assert_eq!(expect_contract_error(result), E::ErasureNotRequested(HealthRecords::ErasureNotRequested { id: entry }));
    let result = patient.requestErasure(vec![]).call().await;
    assert_eq!(expect_contract_error(result), E::EmptyBatch(HealthRecords::EmptyBatch {}));
    let result = patient.requestErasure(vec![U256::from(99)]).call().await;
    assert_eq!(expect_contract_error(result), E::UnknownEntry(HealthRecords::UnknownEntry { id: U256::from(99) }));

    let receipt = mined(patient.requestErasure(vec![entry]).send().await).await;
    let requested: HealthRecords::ErasureRequested = event(&receipt);
    assert_eq!((requested.id, requested.patient), (entry, c.patient.address()));
    assert!(primary.erasureRequestedAt(entry).call().await.unwrap() > 0);
    assert_eq!(primary.erasureRequestedAt(U256::from(untouched)).call().await.unwrap(), 0);
    let result = patient.requestErasure(vec![entry]).call().await;
    assert_eq!(
        expect_contract_error(result),
        E::ErasureAlreadyRequested(HealthRecords::ErasureAlreadyRequested { id: entry })
    );

    // A deferral needs a reason and a date ahead; then the hospital may still confirm, once.
    let result = primary.deferErasure(entry, u64::MAX, 0).call().await;
    assert_eq!(expect_contract_error(result), E::NoDeferralReason(HealthRecords::NoDeferralReason {}));
    let result = primary.deferErasure(entry, 1, 1).call().await;
    assert!(matches!(expect_contract_error(result), E::DeferralNotInFuture(_)));
    let until = 4_102_444_800u64; // 2100-01-01
    let receipt = mined(primary.deferErasure(entry, until, 1).send().await).await;
    let deferred: HealthRecords::ErasureDeferred = event(&receipt);
    assert_eq!(
        (deferred.id, deferred.hospital, deferred.until, deferred.reason),
        (entry, c.primary.address(), until, 1)
    );
    let answer = primary.erasureAnswerOf(entry, c.primary.address()).call().await.unwrap();
    assert_eq!((answer.state, answer.until, answer.reason), (2, until, 1));
    let receipt = mined(primary.confirmErasure(entry).send().await).await;
    let confirmed: HealthRecords::ErasureConfirmed = event(&receipt);
    assert_eq!((confirmed.id, confirmed.hospital), (entry, c.primary.address()));
    let answer = primary.erasureAnswerOf(entry, c.primary.address()).call().await.unwrap();
    assert_eq!((answer.state, answer.until, answer.reason), (1, 0, 0));
    let already =
        E::ErasureAlreadyConfirmed(HealthRecords::ErasureAlreadyConfirmed { id: entry, hospital: c.primary.address() });
    assert_eq!(expect_contract_error(primary.confirmErasure(entry).call().await), already);
    assert_eq!(expect_contract_error(primary.deferErasure(entry, until, 1).call().await), already);
    // Each holder answers for itself.
    assert_eq!(member.erasureAnswerOf(entry, c.panel[0].address()).call().await.unwrap().state, 0);
    mined(member.confirmErasure(entry).send().await).await;

    // The evidence stays: the entry, its votes and its submission event.
    assert_eq!(primary.getEntry(entry).call().await.unwrap().patient, c.patient.address());
}

#[tokio::test]
async fn a_hospital_publishes_its_endpoint_and_may_withdraw_it() {
    let c = Consortium::deploy("rules_endpoint", 1).await;
    let primary = c.as_(&c.primary);
    assert_eq!(primary.endpointOf(c.primary.address()).call().await.unwrap(), "");
    let url = "https://records.st-mary.example".to_string();
    let receipt = mined(primary.setEndpoint(url.clone()).send().await).await;
    let set: HealthRecords::EndpointSet = event(&receipt);
    assert_eq!((set.hospital, set.url.clone()), (c.primary.address(), url.clone()));
    assert_eq!(c.as_(&c.stranger).endpointOf(c.primary.address()).call().await.unwrap(), url);
    let long = "x".repeat(257);
    let result = primary.setEndpoint(long).call().await;
    assert_eq!(
        expect_contract_error(result),
        E::InvalidEndpointLength(HealthRecords::InvalidEndpointLength {
            length: U256::from(257),
            max: U256::from(256)
        })
    );
    mined(primary.setEndpoint(String::new()).send().await).await;
    assert_eq!(primary.endpointOf(c.primary.address()).call().await.unwrap(), "");
}

#[tokio::test]
async fn votes_in_a_batch_count_one_by_one_and_a_refusal_names_its_entry() {
    let c = Consortium::deploy("rules_vote_batch", 1).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(U256::from(c.submit_health().await.0));
    }
    let (member, patient) = (c.as_(&c.panel[0]), c.as_(&c.patient));
    let result = member.approvePendingEntries(vec![]).call().await;
    assert_eq!(expect_contract_error(result), E::EmptyBatch(HealthRecords::EmptyBatch {}));

    // The member approves all three in one transaction: three votes, three events.
    let receipt = mined(member.approvePendingEntries(ids.clone()).send().await).await;
    let votes: Vec<HealthRecords::VoteCast> = receipt
        .logs()
        .iter()
        .filter_map(|log| HealthRecords::VoteCast::decode_log(&log.inner).ok())
        .map(|log| log.data)
        .collect();
    assert_eq!(votes.iter().map(|v| v.id).collect::<Vec<_>>(), ids);
    assert!(votes.iter().all(|v| v.voter == c.panel[0].address()));

    // Voting again on one of them refuses the whole batch, naming that entry.
    let result = member.approvePendingEntries(vec![ids[2]]).call().await;
    assert_eq!(
        expect_contract_error(result),
        E::AlreadyVoted(HealthRecords::AlreadyVoted { id: ids[2], voter: c.panel[0].address() })
    );
    // The patient rejects the first and approves the other two: a batch of each.
    mined(patient.rejectPendingEntries(vec![ids[0]]).send().await).await;
    let result = patient.approvePendingEntries(ids.clone()).call().await;
    assert!(
        matches!(expect_contract_error(result), E::EntryNotPending(e) if e.id == ids[0]),
        "the rejected entry is named"
    );
    let receipt = mined(patient.approvePendingEntries(ids[1..].to_vec()).send().await).await;
    let approved: Vec<HealthRecords::EntryApproved> = receipt
        .logs()
        .iter()
        .filter_map(|log| HealthRecords::EntryApproved::decode_log(&log.inner).ok())
        .map(|log| log.data)
        .collect();
    assert_eq!(approved.iter().map(|a| a.id).collect::<Vec<_>>(), ids[1..]);
    assert_eq!(
        [status(&c, 1).await, status(&c, 2).await, status(&c, 3).await],
        [EntryStatus::Rejected, EntryStatus::Approved, EntryStatus::Approved]
    );
}
