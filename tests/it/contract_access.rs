//! The access matrix: every state-changing function of `HealthRecords`, called by each role, is
//! either allowed or reverts with its specific custom error.

use crate::common::consortium::{Consortium, expect_contract_error, mined, some_commitment, test_envelope};
use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;
use hrm::chain::HealthRecords::{self, HealthRecordsErrors as E, HealthRecordsInstance};
use hrm::records::keys::public_key_bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Admin,
    Primary,
    PanelMember,
    Outsider,
    Patient,
    Stranger,
}

const ROLES: [Role; 6] = [Role::Admin, Role::Primary, Role::PanelMember, Role::Outsider, Role::Patient, Role::Stranger];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    RegisterHospital,
    PublishKey,
    SetSupportingHospitals,
    SubmitHealthDetails,
    SubmitBillDetails,
    SubmitHealthDetailsBatch,
    SubmitBillDetailsBatch,
    ApprovePendingEntry,
    RejectPendingEntry,
    ApprovePendingEntries,
    RejectPendingEntries,
    GrantAccess,
    RevokeAccess,
    AnchorAccessLog,
    SetEndpoint,
    RequestErasure,
    DeferErasure,
    ConfirmErasure,
    ProposeAddHospital,
    ProposeRemoveHospital,
    ProposeRule,
    ApproveProposal,
    ReleaseRemovedVoters,
    RotateKey,
    SetGuardians,
    ApproveRecovery,
    RenounceAdmin,
}

const FUNCTIONS: [Function; 27] = [
    Function::RegisterHospital,
    Function::PublishKey,
    Function::SetSupportingHospitals,
    Function::SubmitHealthDetails,
    Function::SubmitBillDetails,
    Function::SubmitHealthDetailsBatch,
    Function::SubmitBillDetailsBatch,
    Function::ApprovePendingEntry,
    Function::RejectPendingEntry,
    Function::ApprovePendingEntries,
    Function::RejectPendingEntries,
    Function::GrantAccess,
    Function::RevokeAccess,
    Function::AnchorAccessLog,
    Function::SetEndpoint,
    Function::RequestErasure,
    // Deferring before confirming: a hospital may confirm after a deferral, not defer after.
    Function::DeferErasure,
    Function::ConfirmErasure,
    Function::ProposeAddHospital,
    Function::ProposeRemoveHospital,
    Function::ProposeRule,
    Function::ApproveProposal,
    Function::ReleaseRemovedVoters,
    Function::RotateKey,
    Function::SetGuardians,
    Function::ApproveRecovery,
    // Last: after it, the admin registers no more.
    Function::RenounceAdmin,
];

/// The entry every vote in the matrix is about: pending, submitted by the primary. Its erasure
/// is what the matrix requests.
const PENDING_ENTRY: u64 = 1;
/// An entry whose erasure the patient requested (see `request_erasure_of_another`): what the
/// matrix confirms and defers.
const ERASE_ENTRY: u64 = 2;
/// The proposal the matrix approves: open, made by the second panel member (see
/// `open_a_proposal`), so every other hospital may approve it.
const OPEN_PROPOSAL: u64 = 1;

fn signer(c: &Consortium, role: Role) -> &PrivateKeySigner {
    match role {
        Role::Admin => &c.admin,
        Role::Primary => &c.primary,
        Role::PanelMember => &c.panel[0],
        Role::Outsider => &c.outsider,
        Role::Patient => &c.patient,
        Role::Stranger => &c.stranger,
    }
}

/// What the contract must answer when `role` calls `function`: `None` for allowed.
fn expected(c: &Consortium, function: Function, role: Role) -> Option<E> {
    let who = signer(c, role).address();
    let id = U256::from(PENDING_ENTRY);
    let not_hospital = E::NotRegisteredHospital(HealthRecords::NotRegisteredHospital { account: who });
    let not_voter = E::NotEntryVoter(HealthRecords::NotEntryVoter { id, account: who });
    let no_panel = E::NoSupportingHospitals(HealthRecords::NoSupportingHospitals { primary: who });
    use Function::{SubmitBillDetails, SubmitBillDetailsBatch, SubmitHealthDetails, SubmitHealthDetailsBatch};
    match (function, role) {
        (Function::RegisterHospital, Role::Admin) => None,
        (Function::RegisterHospital, _) => Some(E::NotAdmin(HealthRecords::NotAdmin { caller: who })),
        // Anyone may publish their own key: that is how patients join.
        (Function::PublishKey, _) => None,
        (Function::SetSupportingHospitals, Role::Primary | Role::PanelMember | Role::Outsider) => None,
        (Function::SetSupportingHospitals, _) => Some(not_hospital),
        (
            SubmitHealthDetails | SubmitBillDetails | SubmitHealthDetailsBatch | SubmitBillDetailsBatch,
            Role::Primary,
        ) => None,
        // Registered hospitals without a panel of their own cannot submit.
        (
            SubmitHealthDetails | SubmitBillDetails | SubmitHealthDetailsBatch | SubmitBillDetailsBatch,
            Role::PanelMember | Role::Outsider,
        ) => Some(no_panel),
        (SubmitHealthDetails | SubmitBillDetails | SubmitHealthDetailsBatch | SubmitBillDetailsBatch, _) => {
            Some(not_hospital)
        }
        // Votes in a batch are checked as single votes are.
        (
            Function::ApprovePendingEntry
            | Function::RejectPendingEntry
            | Function::ApprovePendingEntries
            | Function::RejectPendingEntries,
            Role::PanelMember | Role::Patient,
        ) => None,
        (
            Function::ApprovePendingEntry
            | Function::RejectPendingEntry
            | Function::ApprovePendingEntries
            | Function::RejectPendingEntries,
            _,
        ) => Some(not_voter),
        // Only patients share their own records: nobody grants or revokes for them, admin included.
        (Function::GrantAccess | Function::RevokeAccess, Role::Patient) => None,
        (Function::GrantAccess | Function::RevokeAccess, _) => {
            Some(E::NotPatient(HealthRecords::NotPatient { caller: who }))
        }
        (Function::AnchorAccessLog, Role::Primary | Role::PanelMember | Role::Outsider) => None,
        (Function::AnchorAccessLog, _) => Some(not_hospital),
        (Function::SetEndpoint, Role::Primary | Role::PanelMember | Role::Outsider) => None,
        (Function::SetEndpoint, _) => Some(not_hospital),
        // Only the entry's patient asks for its erasure: not a hospital, not the admin.
        (Function::RequestErasure, Role::Patient) => None,
        (Function::RequestErasure, _) => Some(E::NotEntryPatient(HealthRecords::NotEntryPatient { id, caller: who })),
        // Only the hospitals that hold the record (its submitter and panel) answer for it.
        (Function::DeferErasure | Function::ConfirmErasure, Role::Primary | Role::PanelMember) => None,
        (Function::DeferErasure | Function::ConfirmErasure, _) => {
            Some(E::NotRecordHolder(HealthRecords::NotRecordHolder { id: U256::from(ERASE_ENTRY), account: who }))
        }
        // Only member hospitals propose and approve changes to the membership: not the admin.
        (
            Function::ProposeAddHospital
            | Function::ProposeRemoveHospital
            | Function::ProposeRule
            | Function::ApproveProposal,
            Role::Primary | Role::PanelMember | Role::Outsider,
        ) => None,
        (
            Function::ProposeAddHospital
            | Function::ProposeRemoveHospital
            | Function::ProposeRule
            | Function::ApproveProposal,
            _,
        ) => Some(not_hospital),
        // Releasing removed hospitals' votes follows from the chain alone: anyone may ask.
        (Function::ReleaseRemovedVoters, _) => None,
        // Only a hospital rotates its sealing key, and only once it has one (these hospitals have
        // published none).
        (Function::RotateKey, Role::Primary | Role::PanelMember | Role::Outsider) => {
            Some(E::NoKeyToRotate(HealthRecords::NoKeyToRotate { account: who }))
        }
        (Function::RotateKey, _) => Some(not_hospital),
        // Only a patient names their own guardians.
        (Function::SetGuardians, Role::Patient) => None,
        (Function::SetGuardians, _) => Some(E::NotPatient(HealthRecords::NotPatient { caller: who })),
        // Only a guardian the patient named (the stranger, see `name_guardians`) approves a move.
        (Function::ApproveRecovery, Role::Stranger) => None,
        (Function::ApproveRecovery, _) => {
            Some(E::NotGuardian(HealthRecords::NotGuardian { patient: c.patient.address(), account: who }))
        }
        (Function::RenounceAdmin, Role::Admin) => None,
        (Function::RenounceAdmin, _) => Some(E::NotAdmin(HealthRecords::NotAdmin { caller: who })),
    }
}

/// Calls `function` as `role`: simulated with `eth_call` when `send` is false, so one state serves
/// every cell of the matrix; sent as a transaction otherwise.
async fn attempt(c: &Consortium, function: Function, role: Role, entry: u64, send: bool) -> Result<(), E> {
    let who = signer(c, role);
    let contract: HealthRecordsInstance<DynProvider> = c.as_(who);
    // A registered hospital other than the caller, for a panel of one.
    let other_hospital = if role == Role::Primary { c.panel[0].address() } else { c.primary.address() };
    let id = U256::from(entry);
    macro_rules! run {
        ($call:expr) => {{
            let call = $call.from(who.address());
            let result = if send {
                match call.send().await {
                    Ok(pending) => {
                        let receipt = pending.get_receipt().await.expect("receipt");
                        assert!(receipt.status(), "{function:?} by {role:?} was mined but reverted");
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            } else {
                call.call().await.map(|_| ())
            };
            result.map_err(|e| expect_contract_error(Err::<(), _>(e)))
        }};
    }
    match function {
        Function::RegisterHospital => {
            run!(contract.registerHospital(Address::repeat_byte(0x42), "New Hospital".to_string()))
        }
        Function::PublishKey => run!(contract.publishKey(public_key_bytes(who))),
        Function::SetSupportingHospitals => {
            run!(contract.setSupportingHospitals(vec![other_hospital]))
        }
        Function::SubmitHealthDetails => {
            run!(contract.submitHealthDetails(c.patient.address(), some_commitment(), test_envelope()))
        }
        Function::SubmitBillDetails => {
            run!(contract.submitBillDetails(c.patient.address(), some_commitment(), test_envelope()))
        }
        Function::SubmitHealthDetailsBatch => {
            let (patients, commitments, envelopes) = two_records(c);
            run!(contract.submitHealthDetailsBatch(patients, commitments, envelopes))
        }
        Function::SubmitBillDetailsBatch => {
            let (patients, commitments, envelopes) = two_records(c);
            run!(contract.submitBillDetailsBatch(patients, commitments, envelopes))
        }
        Function::ApprovePendingEntry => run!(contract.approvePendingEntry(id)),
        Function::RejectPendingEntry => run!(contract.rejectPendingEntry(id)),
        Function::ApprovePendingEntries => run!(contract.approvePendingEntries(vec![id])),
        Function::RejectPendingEntries => run!(contract.rejectPendingEntries(vec![id])),
        // The patient's grant to the outsider stands (see `grant_the_outsider`); this one is new.
        Function::GrantAccess => run!(contract.grantAccess(c.panel[0].address(), u64::MAX)),
        Function::RevokeAccess => run!(contract.revokeAccess(c.outsider.address())),
        Function::AnchorAccessLog => {
            run!(contract.anchorAccessLog(3, alloy::primitives::B256::repeat_byte(7)))
        }
        Function::SetEndpoint => run!(contract.setEndpoint("https://records.example.org".to_string())),
        Function::RequestErasure => run!(contract.requestErasure(vec![id])),
        Function::DeferErasure => run!(contract.deferErasure(U256::from(ERASE_ENTRY), u64::MAX, 1)),
        Function::ConfirmErasure => run!(contract.confirmErasure(U256::from(ERASE_ENTRY))),
        Function::ProposeAddHospital => {
            run!(contract.proposeAddHospital(Address::repeat_byte(0x43), "Proposed Hospital".to_string()))
        }
        Function::ProposeRemoveHospital => run!(contract.proposeRemoveHospital(c.outsider.address())),
        Function::ProposeRule => run!(contract.proposeRule(60, 86_400)),
        // `entry` is the proposal's number here.
        Function::ApproveProposal => run!(contract.approveProposal(id)),
        Function::ReleaseRemovedVoters => run!(contract.releaseRemovedVoters(vec![U256::from(PENDING_ENTRY)])),
        Function::RotateKey => run!(contract.rotateKey(public_key_bytes(&c.stranger))),
        Function::SetGuardians => run!(contract.setGuardians(guardians(c), 2)),
        Function::ApproveRecovery => run!(contract.approveRecovery(c.patient.address(), fresh_key())),
        Function::RenounceAdmin => run!(contract.renounceAdmin()),
    }
}

/// The second panel member proposes a rule; returns the proposal's number. Its one approval of
/// four hospitals' three needed leaves it open.
async fn open_a_proposal(c: &Consortium) -> u64 {
    let receipt = mined(c.as_(&c.panel[1]).proposeRule(70, 86_400).send().await).await;
    let proposed = receipt.decoded_log::<HealthRecords::MembershipProposed>().expect("a MembershipProposed event");
    proposed.data.id.try_into().expect("proposal numbers fit in u64")
}

/// The patient asks for the erasure of a second entry, so that holders have a request to answer.
async fn request_erasure_of_another(c: &Consortium) {
    let (id, _) = c.submit_health().await;
    assert_eq!(id, ERASE_ENTRY);
    mined(c.as_(&c.patient).requestErasure(vec![U256::from(id)]).send().await).await;
}

/// The patient lets the outsider read their records, so that revoking has something to revoke.
async fn grant_the_outsider(c: &Consortium) {
    mined(c.as_(&c.patient).grantAccess(c.outsider.address(), u64::MAX).send().await).await;
}

/// The patient's guardians: the second panel member and the stranger, both of whom must agree (so
/// one approval in the matrix moves nobody).
fn guardians(c: &Consortium) -> Vec<Address> {
    vec![c.panel[1].address(), c.stranger.address()]
}

async fn name_guardians(c: &Consortium) {
    mined(c.as_(&c.patient).setGuardians(guardians(c), 2).send().await).await;
}

/// The public key of an account that never took part: where a recovery may move the patient.
fn fresh_key() -> alloy::primitives::Bytes {
    let account = PrivateKeySigner::from_bytes(&alloy::primitives::B256::repeat_byte(0x55)).expect("a valid key");
    public_key_bytes(&account)
}

/// A batch of two valid records about the patient.
fn two_records(c: &Consortium) -> (Vec<Address>, Vec<alloy::primitives::B256>, Vec<alloy::primitives::B256>) {
    (vec![c.patient.address(); 2], vec![some_commitment(); 2], vec![test_envelope(); 2])
}

#[tokio::test]
async fn every_function_by_every_role() {
    let c = Consortium::deploy("access_matrix", 2).await;
    let (id, _) = c.submit_health().await;
    assert_eq!(id, PENDING_ENTRY);
    grant_the_outsider(&c).await;
    request_erasure_of_another(&c).await;
    name_guardians(&c).await;
    assert_eq!(open_a_proposal(&c).await, OPEN_PROPOSAL);

    let mut failures = Vec::new();
    for function in FUNCTIONS {
        for role in ROLES {
            let want = expected(&c, function, role);
            let subject = if function == Function::ApproveProposal { OPEN_PROPOSAL } else { PENDING_ENTRY };
            let got = attempt(&c, function, role, subject, false).await.err();
            if got != want {
                failures.push(format!("{function:?} by {role:?}: expected {want:?}, got {got:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "access matrix mismatches:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn allowed_calls_succeed_as_transactions() {
    let c = Consortium::deploy("access_allowed", 2).await;
    let (pending, _) = c.submit_health().await;
    grant_the_outsider(&c).await;
    request_erasure_of_another(&c).await;
    name_guardians(&c).await;
    for function in FUNCTIONS {
        for role in ROLES {
            if expected(&c, function, role).is_some() {
                continue;
            }
            // A rejection closes its entry, and a voter votes once, so each allowed rejection and
            // batch of votes gets an entry of its own.
            let own_entry = matches!(
                function,
                Function::RejectPendingEntry | Function::ApprovePendingEntries | Function::RejectPendingEntries
            );
            let entry = if function == Function::ApproveProposal {
                open_a_proposal(&c).await
            } else if own_entry {
                c.submit_health().await.0
            } else {
                pending
            };
            attempt(&c, function, role, entry, true)
                .await
                .unwrap_or_else(|e| panic!("{function:?} by {role:?} was refused: {e:?}"));
        }
    }
}

#[tokio::test]
async fn a_refused_transaction_is_never_sent() {
    let c = Consortium::deploy("access_refused", 2).await;
    let provider = c.env.provider_for(&c.stranger);
    let nonce_before = provider.get_transaction_count(c.stranger.address()).await.unwrap();
    let block_before = provider.get_block_number().await.unwrap();

    let result = c.as_(&c.stranger).registerHospital(c.stranger.address(), "Sneaky".to_string()).send().await;
    assert_eq!(expect_contract_error(result), E::NotAdmin(HealthRecords::NotAdmin { caller: c.stranger.address() }));
    assert_eq!(provider.get_transaction_count(c.stranger.address()).await.unwrap(), nonce_before);
    assert_eq!(provider.get_block_number().await.unwrap(), block_before);

    // And a refusal in the middle of a flow leaves the entry as it was.
    let (id, _) = c.submit_health().await;
    let result = c.as_(&c.outsider).approvePendingEntry(U256::from(id)).send().await;
    assert!(matches!(expect_contract_error(result), E::NotEntryVoter(_)));
    let count = c.as_(&c.admin).getVoteCount(U256::from(id)).call().await.unwrap();
    assert_eq!(count.approvals, 0);
    mined(c.as_(&c.patient).approvePendingEntry(U256::from(id)).send().await).await;
}
