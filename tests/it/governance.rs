//! No single key holds the consortium hostage. Membership by majority: proposals and approvals on
//! chain, the admin's renunciation, and what a removal takes from a hospital (on the contract,
//! through the library's ledger, and through the command line). Key rotation: a hospital's new
//! sealing key, with the old envelopes still opening.

use std::time::Duration;

use crate::common::cli::Hrm;
use crate::common::consortium::{Consortium, expect_contract_error, mined, some_commitment, test_envelope};
use crate::common::web::{HttpVisitor, STAFF_PASSWORD, Server};
use crate::common::{TestEnv, dev};
use alloy::primitives::{Address, U256};
use alloy::rpc::types::TransactionReceipt;
use alloy::sol_types::SolEvent;
use hrm::chain::HealthRecords::{self, HealthRecordsErrors as E};
use hrm::chain::ledger::EntryLedger;
use hrm::chain::{Connection, DeploymentStore, EntryStatus};

fn events<T: SolEvent>(receipt: &TransactionReceipt) -> Vec<T> {
    receipt.logs().iter().filter_map(|log| T::decode_log(&log.inner).ok()).map(|log| log.data).collect()
}

fn proposal_id(receipt: &TransactionReceipt) -> U256 {
    events::<HealthRecords::MembershipProposed>(receipt).first().expect("a MembershipProposed event").id
}

#[tokio::test]
async fn hospitals_join_by_majority_and_the_admin_renounces() {
    // Four hospitals: the primary, two supporting, the outsider. A proposal needs three.
    let c = Consortium::deploy("governance_majority", 2).await;
    let newcomer = dev(9).address();
    let (primary, first, second, outsider) = (&c.primary, &c.panel[0], &c.panel[1], &c.outsider);
    assert_eq!(c.as_(primary).approvalsNeeded().call().await.unwrap(), U256::from(3));

    // Only members propose: not the admin, not a stranger.
    for who in [&c.admin, &c.stranger] {
        let refused = c.as_(who).proposeAddHospital(newcomer, "Northgate".into()).call().await;
        assert_eq!(
            expect_contract_error(refused),
            E::NotRegisteredHospital(HealthRecords::NotRegisteredHospital { account: who.address() })
        );
    }
    let proposed = mined(c.as_(primary).proposeAddHospital(newcomer, "Northgate".into()).send().await).await;
    let id = proposal_id(&proposed);
    assert_eq!(events::<HealthRecords::ProposalApproved>(&proposed).len(), 1, "the proposer's approval counts");
    let refused = c.as_(primary).approveProposal(id).call().await;
    assert_eq!(
        expect_contract_error(refused),
        E::AlreadyApprovedProposal(HealthRecords::AlreadyApprovedProposal { id, hospital: primary.address() })
    );
    let approved = mined(c.as_(first).approveProposal(id).send().await).await;
    assert!(events::<HealthRecords::ProposalPassed>(&approved).is_empty(), "two of four is not a majority");
    assert!(!c.as_(primary).isHospital(newcomer).call().await.unwrap());
    let view = c.as_(primary).getProposal(id).call().await.unwrap();
    assert_eq!((view.approvals, view.approvalsNeeded, view.status), (U256::from(2), U256::from(3), 1));

    // The third approval passes it and admits the hospital.
    let passed = mined(c.as_(outsider).approveProposal(id).send().await).await;
    assert_eq!(events::<HealthRecords::ProposalPassed>(&passed).len(), 1);
    assert_eq!(events::<HealthRecords::HospitalRegistered>(&passed)[0].name, "Northgate");
    assert!(c.as_(primary).isHospital(newcomer).call().await.unwrap());
    assert_eq!(c.as_(primary).getHospitals().call().await.unwrap().len(), 5);
    assert_eq!(
        expect_contract_error(c.as_(second).approveProposal(id).call().await),
        E::ProposalAlreadyPassed(HealthRecords::ProposalAlreadyPassed { id })
    );
    assert_eq!(
        expect_contract_error(c.as_(second).approveProposal(U256::from(99)).call().await),
        E::UnknownProposal(HealthRecords::UnknownProposal { id: U256::from(99) })
    );

    // A proposal not carried within its lifetime expires.
    let proposed = mined(c.as_(second).proposeRemoveHospital(outsider.address()).send().await).await;
    let expiring = proposal_id(&proposed);
    let expires_at = events::<HealthRecords::MembershipProposed>(&proposed)[0].expiresAt;
    c.advance_clock(7 * 86_400 + 1).await;
    assert_eq!(
        expect_contract_error(c.as_(first).approveProposal(expiring).call().await),
        E::ProposalExpired(HealthRecords::ProposalExpired { id: expiring, expiredAt: expires_at })
    );
    assert_eq!(c.as_(first).getProposal(expiring).call().await.unwrap().status, 3, "expired");

    // The rule changes by a proposal too, within its bounds.
    for (percent, lifetime) in [(49u8, 86_400u32), (100, 86_400), (66, 60), (66, 91 * 86_400)] {
        assert_eq!(
            expect_contract_error(c.as_(first).proposeRule(percent, lifetime).call().await),
            E::InvalidMembershipRule(HealthRecords::InvalidMembershipRule { percent, lifetime })
        );
    }
    let proposed = mined(c.as_(first).proposeRule(66, 86_400).send().await).await;
    let rule = proposal_id(&proposed);
    for who in [second, outsider] {
        mined(c.as_(who).approveProposal(rule).send().await).await;
    }
    assert_eq!(c.as_(first).approvalPercent().call().await.unwrap(), 66);
    assert_eq!(c.as_(first).proposalLifetime().call().await.unwrap(), 86_400);
    // Five hospitals at more than 66%: four approvals.
    assert_eq!(c.as_(first).approvalsNeeded().call().await.unwrap(), U256::from(4));

    // The admin registers until it renounces; then nobody registers alone.
    assert_eq!(
        expect_contract_error(c.as_(&c.stranger).renounceAdmin().call().await),
        E::NotAdmin(HealthRecords::NotAdmin { caller: c.stranger.address() })
    );
    let renounced = mined(c.as_(&c.admin).renounceAdmin().send().await).await;
    assert_eq!(events::<HealthRecords::AdminRenounced>(&renounced)[0].admin, c.admin.address());
    assert!(c.as_(&c.admin).adminRenounced().call().await.unwrap());
    for refused in [
        c.as_(&c.admin).registerHospital(dev(8).address(), "Sneaky".into()).call().await.map(|_| ()),
        c.as_(&c.admin).renounceAdmin().call().await.map(|_| ()),
    ] {
        assert_eq!(expect_contract_error(refused), E::AdminHasRenounced(HealthRecords::AdminHasRenounced {}));
    }
}

#[tokio::test]
async fn a_removed_hospital_loses_its_votes_envelopes_and_grants() {
    let c = Consortium::deploy("governance_removal", 2).await;
    let (primary, kept, removed, outsider) = (&c.primary, &c.panel[0], &c.panel[1], &c.outsider);
    let as_primary = c.as_(primary);
    // Entry 1 waits only for the hospital about to be removed; entry 2 for everyone.
    let (one, _) = c.submit_health().await;
    let (two, _) = c.submit_bill().await;
    let (one, two) = (U256::from(one), U256::from(two));
    for who in [kept, &c.patient] {
        mined(c.as_(who).approvePendingEntry(one).send().await).await;
    }
    mined(c.as_(&c.patient).grantAccess(removed.address(), u64::MAX).send().await).await;
    mined(c.as_(removed).setEndpoint("https://removed.example.org".into()).send().await).await;
    assert!(as_primary.hasAccess(c.patient.address(), removed.address()).call().await.unwrap());

    // Three of four remove it; its own approval is not needed.
    let proposed = mined(c.as_(primary).proposeRemoveHospital(removed.address()).send().await).await;
    let id = proposal_id(&proposed);
    mined(c.as_(kept).approveProposal(id).send().await).await;
    let passed = mined(c.as_(outsider).approveProposal(id).send().await).await;
    assert_eq!(events::<HealthRecords::HospitalRemoved>(&passed)[0].hospital, removed.address());
    let new_panel = &events::<HealthRecords::SupportingHospitalsSet>(&passed)[0];
    assert_eq!((new_panel.primary, new_panel.hospitals.clone()), (primary.address(), vec![kept.address()]));

    // It is no member: no submission, no vote, no proposal, no endpoint, no envelope, no grant.
    assert!(!as_primary.isHospital(removed.address()).call().await.unwrap());
    assert!(!as_primary.getHospitals().call().await.unwrap().contains(&removed.address()));
    assert_eq!(as_primary.endpointOf(removed.address()).call().await.unwrap(), "");
    assert_eq!(as_primary.getSupportingHospitals(primary.address()).call().await.unwrap(), vec![kept.address()]);
    let not_member = E::NotRegisteredHospital(HealthRecords::NotRegisteredHospital { account: removed.address() });
    let as_removed = c.as_(removed);
    let refusals = [
        as_removed
            .submitHealthDetails(c.patient.address(), some_commitment(), test_envelope())
            .call()
            .await
            .map(|_| ()),
        as_removed.proposeRule(60, 86_400).call().await.map(|_| ()),
        as_removed.setEndpoint("https://back.example.org".into()).call().await.map(|_| ()),
    ];
    for refused in refusals {
        assert_eq!(expect_contract_error(refused), not_member);
    }
    assert_eq!(
        expect_contract_error(as_removed.approvePendingEntry(two).call().await),
        E::RemovedFromConsortium(HealthRecords::RemovedFromConsortium { hospital: removed.address() })
    );
    assert!(!as_primary.isRecipient(one, removed.address()).call().await.unwrap(), "no more envelopes");
    assert!(as_primary.isRecipient(one, kept.address()).call().await.unwrap());
    assert!(!as_primary.hasAccess(c.patient.address(), removed.address()).call().await.unwrap(), "its grant ended");
    assert_eq!(as_primary.accessExpiresAt(c.patient.address(), removed.address()).call().await.unwrap(), 0);
    assert_eq!(
        expect_contract_error(c.as_(&c.patient).grantAccess(removed.address(), u64::MAX).call().await),
        E::GranteeNotHospital(HealthRecords::GranteeNotHospital { account: removed.address() })
    );
    // What it held it still answers for: an erasure request names it a holder.
    mined(c.as_(&c.patient).requestErasure(vec![one]).send().await).await;
    mined(as_removed.confirmErasure(one).send().await).await;

    // Entries submitted from now on are not sealed to it.
    let (three, _) = c.submit_health().await;
    assert_eq!(as_primary.getEntryPanel(U256::from(three)).call().await.unwrap(), vec![kept.address()]);

    // The pending entries stop waiting for its vote once anyone releases them: entry 1, whose
    // other votes are in, is approved; entry 2 now needs two votes, not three.
    assert_eq!(as_primary.getVoteCount(one).call().await.unwrap().requiredVotes, 3);
    let released = mined(c.as_(&c.stranger).releaseRemovedVoters(vec![one, two]).send().await).await;
    assert_eq!(events::<HealthRecords::RemovedVoterReleased>(&released).len(), 2);
    let approvals = events::<HealthRecords::EntryApproved>(&released);
    assert_eq!((approvals.len(), approvals[0].id, approvals[0].voter), (1, one, Address::ZERO));
    assert!(as_primary.dataMigrationAllow(one).call().await.unwrap());
    let count = as_primary.getVoteCount(two).call().await.unwrap();
    assert_eq!((count.approvals, count.requiredVotes), (0, 2));
    let again = mined(c.as_(&c.stranger).releaseRemovedVoters(vec![one, two]).send().await).await;
    assert!(events::<HealthRecords::RemovedVoterReleased>(&again).is_empty(), "released once");
    for who in [kept, &c.patient] {
        mined(c.as_(who).approvePendingEntry(two).send().await).await;
    }
    assert!(as_primary.dataMigrationAllow(two).call().await.unwrap());

    // The library's ledger tells the same.
    let connection = Connection::open(c.env.rpc_url.clone(), Duration::from_secs(30)).await.unwrap();
    let consortium = connection.attach(&DeploymentStore::new(c.env.temp_dir().join("deployments"))).await.unwrap();
    let mut ledger = EntryLedger::default();
    consortium.sync_ledger(&mut ledger).await.unwrap();
    let entry = ledger.entry(1).unwrap();
    assert_eq!(
        (entry.status, entry.released.clone(), entry.approvals()),
        (EntryStatus::Approved, vec![removed.address()], (2, 2))
    );
    assert!(ledger.is_removed(removed.address()));
    assert!(ledger.awaiting_vote_of(removed.address()).is_empty());
    let grant = ledger.grants_of(c.patient.address());
    assert!(grant.iter().all(|g| g.hospital != removed.address() || !g.active), "{grant:?}");

    // Admitted again, it does not get its old grant back, nor its old votes.
    let proposed = mined(c.as_(primary).proposeAddHospital(removed.address(), "Back again".into()).send().await).await;
    mined(c.as_(kept).approveProposal(proposal_id(&proposed)).send().await).await;
    assert!(as_primary.isHospital(removed.address()).call().await.unwrap());
    assert!(!as_primary.hasAccess(c.patient.address(), removed.address()).call().await.unwrap());
    let history = consortium.access_history(Some(c.patient.address())).await.unwrap();
    assert_eq!(history.last().map(|change| (change.hospital, change.expires_at)), Some((removed.address(), None)));
}

#[tokio::test]
async fn membership_from_the_command_line() {
    let env = TestEnv::start("governance_cli").await;
    let hrm = Hrm::new(&env);
    hrm.ok(&["--from", "dev:0", "deploy"]);
    // Renouncing before any hospital would freeze the consortium; and it wants a confirmation.
    let refused = hrm.fails(&["--from", "dev:0", "admin", "renounce", "--yes"]);
    assert!(refused.contains("no hospital yet"), "{refused}");
    hrm.admit_consortium(&["dev:2", "dev:3"], "dev:5");
    let refused = hrm.fails(&["--from", "dev:0", "admin", "renounce"]);
    assert!(refused.contains("cannot be undone") && refused.contains("--yes"), "{refused}");
    let renounced = hrm.json(&["--from", "dev:0", "admin", "renounce", "--yes"]);
    assert_eq!(renounced["renounced"], true);
    let refused = hrm.fails(&["--from", "dev:0", "hospital", "register", "dev:4", "--name", "Northgate"]);
    assert!(refused.contains("the admin has renounced") && refused.contains("hrm hospital propose add"), "{refused}");

    // An entry waiting for Lakeside (dev:3), which is then removed.
    let record = hrm.write_file("record.json", &crate::common::cli::health_json("120", "governance"));
    hrm.ok(&["--from", "dev:1", "submit-health", "--patient", "dev:5", "--file", record.to_str().unwrap()]);
    hrm.ok(&["--from", "dev:2", "vote", "1", "--approve"]);
    hrm.ok(&["--from", "dev:5", "vote", "1", "--approve"]);

    // Three hospitals: two approvals pass a proposal.
    let proposed = hrm.ok(&["--from", "dev:1", "hospital", "propose", "remove", "dev:3"]);
    assert!(
        proposed.contains("Proposed proposal 1: remove Hospital dev:3") && proposed.contains("1 of 2"),
        "{proposed}"
    );
    let listed = hrm.json(&["hospital", "proposals"]);
    assert_eq!(listed["rule"]["percent"], 50);
    assert_eq!(listed["proposals"][0]["change"]["kind"], "remove");
    assert_eq!(listed["proposals"][0]["approvals"], 1);
    let table = hrm.ok(&["hospital", "proposals"]);
    assert!(
        table.contains("more than 50% of the 3 hospitals (2 now) within 7 days") && table.contains("1 of 2"),
        "{table}"
    );
    let refused = hrm.fails(&["--from", "dev:1", "hospital", "approve", "1"]);
    assert!(refused.contains("has already approved proposal 1"), "{refused}");
    let refused = hrm.fails(&["--from", "dev:5", "hospital", "approve", "1"]);
    assert!(refused.contains("is not a registered hospital"), "{refused}");
    let refused = hrm.fails(&["--from", "dev:1", "hospital", "propose", "rule", "--percent", "40"]);
    assert!(refused.contains("40 is not in 50..=99"), "{refused}");
    let refused =
        hrm.fails(&["--from", "dev:1", "hospital", "propose", "rule", "--percent", "60", "--lifetime", "2 weeks"]);
    assert!(refused.contains("e.g. 7d or 12h"), "{refused}");

    // The approval that passes the removal releases the removed hospital's vote: entry 1 is approved.
    let passed = hrm.ok(&["--from", "dev:2", "hospital", "approve", "1"]);
    assert!(passed.contains("It passed and is carried out"), "{passed}");
    assert!(
        passed.contains("1 pending entries no longer wait") && passed.contains("1 of them are now approved"),
        "{passed}"
    );
    let status = hrm.json(&["status"]);
    assert_eq!(status[0]["status"], "approved", "{status}");
    let refused =
        hrm.fails(&["--from", "dev:3", "submit-health", "--patient", "dev:5", "--file", record.to_str().unwrap()]);
    assert!(refused.contains("is not a registered hospital"), "{refused}");
    let hospitals = hrm.json(&["hospital", "list"]);
    assert_eq!(hospitals.as_array().unwrap().len(), 2);
    assert!(hrm.ok(&["--from", "dev:1", "hospital", "release-votes"]).contains("No pending entry waits"));
    let all = hrm.json(&["hospital", "proposals", "--all"]);
    assert_eq!(all["proposals"][0]["status"], "passed");

    // Removed, Lakeside still erases what it held when the patient asks, and says so on chain.
    hrm.ok(&["--from", "dev:5", "erase", "request", "--entry", "1"]);
    let pass = hrm.json(&["--from", "dev:3", "erase", "apply"]);
    assert_eq!(pass["erased"][0]["entry_id"], 1, "{pass}");
}

#[tokio::test]
async fn a_hospital_rotates_its_sealing_key_and_still_opens_what_was_sealed_before() {
    let env = TestEnv::start("governance_rotation").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:5");
    let record = hrm.write_file("record.json", &crate::common::cli::health_json("131.5", "before the rotation"));
    let submit = |file: &str| hrm.json(&["--from", "dev:1", "submit-health", "--patient", "dev:5", "--file", file]);
    submit(record.to_str().unwrap());

    // Hope (dev:2) rotates: a new key, not its account's, at version 1.
    let hope = dev(2).address();
    let rotated = hrm.json(&["--from", "dev:2", "key", "rotate"]);
    assert_eq!(rotated["version"], 1, "{rotated}");
    let shown = hrm.json(&["key", "show", "dev:2"]);
    assert_eq!(shown["version"], 1);
    let account_key = hrm::records::keys::public_key_bytes(&dev(2)).to_string();
    assert_ne!(shown["public_key"].as_str().unwrap(), account_key, "the sealing key is no longer the account's");
    let kept = hrm.home().join("sealing-keys").join(format!("{hope:#x}")).join("v1.json");
    let stored = std::fs::read_to_string(&kept).unwrap();
    assert!(!stored.contains(&account_key[2..]) && stored.contains("ciphertext"), "{stored}");
    // Refused, with nothing kept: a patient's rotation, and publishing the account key again.
    let refused = hrm.fails(&["--from", "dev:5", "key", "rotate"]);
    assert!(refused.contains("is not a registered hospital"), "{refused}");
    assert!(!hrm.home().join("sealing-keys").join(format!("{:#x}", dev(5).address())).join("v1.json").exists());
    let refused = hrm.fails(&["--from", "dev:2", "key", "publish"]);
    assert!(refused.contains("rotated its sealing key already") && refused.contains("hrm key rotate"), "{refused}");

    // Sealed from now on to the new key; the envelope names it.
    let after = hrm.write_file("after.json", &crate::common::cli::health_json("142.5", "after the rotation"));
    let digest: alloy::primitives::B256 =
        submit(after.to_str().unwrap())["envelope_digest"].as_str().unwrap().parse().unwrap();
    let archive = hrm::store::Archive::connect(&env.mongodb_uri, &env.database_name).await.unwrap();
    let envelope = archive.envelope(digest).await.unwrap().expect("St Mary keeps the envelope");
    let versions = hrm::records::envelope::envelope_key_versions(&envelope).unwrap();
    assert!(versions.contains(&(hope, 1)) && versions.contains(&(dev(1).address(), 0)), "{versions:?}");

    // Hope opens both: the old envelope with its account key, the new one with the kept key.
    for (id, notes) in [("1", "before the rotation"), ("2", "after the rotation")] {
        let shown = hrm.json(&["--from", "dev:2", "show", id]);
        assert_eq!(shown["record"]["notes"], notes, "{shown}");
    }
    // So does its server: the reviewer reads the new entry, and the admin page shows the version.
    {
        let staff = [("rita", "reviewer"), ("ada", "admin")];
        let server = Server::start(&hrm, "dev:2", &env.database_name, &staff, &[]);
        let mut rita = HttpVisitor::new(&server);
        rita.sign_in_staff("rita", STAFF_PASSWORD).await;
        let page = rita.get("/reviewer/entries/2").await;
        assert!(page.status == 200 && page.body.contains("after the rotation"), "{}", page.body);
        let mut ada = HttpVisitor::new(&server);
        ada.sign_in_staff("ada", STAFF_PASSWORD).await;
        assert!(ada.get("/admin").await.body.contains("rotated (version 1)"));
    }
    for voter in ["dev:2", "dev:5"] {
        hrm.ok(&["--from", voter, "vote", "1", "2", "--approve"]);
    }
    let migrated = hrm.json(&["--from", "dev:2", "migrate", "--confirmations", "0"]);
    assert_eq!(
        (migrated["migrated"].as_u64(), migrated["failed"].as_array().map(Vec::len)),
        (Some(2), Some(0)),
        "{migrated}"
    );

    // Without the kept key, the new envelope does not open, and the error says what to copy.
    std::fs::rename(hrm.home().join("sealing-keys"), hrm.home().join("sealing-keys-elsewhere")).unwrap();
    assert_eq!(hrm.json(&["--from", "dev:2", "show", "1"])["record"]["notes"], "before the rotation");
    let refused = hrm.fails(&["--from", "dev:2", "show", "2"]);
    assert!(refused.contains("version 1") && refused.contains("sealing-keys folder"), "{refused}");
    // And a server without it does not start.
    let refused = hrm.fails(&["--from", "dev:2", "serve", "--listen", "127.0.0.1:0"]);
    assert!(refused.contains("seals to key version 1, which is not kept in"), "{refused}");
}
