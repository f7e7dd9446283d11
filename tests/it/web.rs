//! The web app in a real Chromium: every role's story, start to end, on a real Anvil and
//! MongoDB-wire server; and each security point over plain HTTP, where every header can be seen.

use hrm::chain::dev_keys::dev_account;

use crate::common::TestEnv;
use crate::common::cli::{Hrm, head, health_json};
use crate::common::web::{Browser, HttpVisitor, STAFF_PASSWORD, Server, screenshot_dir, sign_hex};

/// Readings no log line or URL may ever show.
const GLUCOSE: &str = "187.5";
const NOTES: &str = "Reports blurred vision since October";

/// A consortium of three hospitals, each serving its own web app: St Mary (dev:1, clerk and admin)
/// submits; Hope (dev:2) and Lakeside (dev:3) review; the patient is dev:4.
struct Story {
    primary: Server,
    reviewers: Vec<Server>,
}

impl Story {
    fn set_up(hrm: &Hrm) -> Self {
        hrm.set_up_consortium(&["dev:2", "dev:3"], "dev:4");
        hrm.ok(&["model", "train"]);
        let primary = Server::start(hrm, "dev:1", "stmary", &[("clara", "clerk"), ("ada", "admin")], &[]);
        let reviewers = vec![
            Server::start(hrm, "dev:2", "hope", &[("rita", "reviewer")], &[]),
            Server::start(hrm, "dev:3", "lakeside", &[("rob", "reviewer")], &[]),
        ];
        // Each hospital publishes where its server answers, so sealed envelopes travel between
        // the three databases: pushed by St Mary, pulled by whoever missed them.
        for (hospital, server) in [("dev:1", &primary), ("dev:2", &reviewers[0]), ("dev:3", &reviewers[1])] {
            hrm.ok(&["--from", hospital, "hospital", "endpoint", "set", &server.url]);
        }
        Self { primary, reviewers }
    }
}

async fn sign_out(browser: &Browser) {
    browser.click_text("Sign out").await;
    browser.wait_for_text("Hospital staff").await;
}

#[tokio::test]
async fn every_role_s_story_works_in_chromium() {
    let env = TestEnv::start("web_story").await;
    let hrm = Hrm::new(&env);
    let story = Story::set_up(&hrm);
    let browser = Browser::start().await;
    let patient = dev_account(4);

    // The clerk enters health details; a reading out of range is named next to its field.
    browser.sign_in_staff(&story.primary, "clara").await;
    browser.wait_for_text("Nothing submitted yet").await;
    browser.screenshot("clerk-submissions-empty").await;
    browser.click_text("Enter health details").await;
    browser.fill("patient", &patient.address().to_string()).await;
    browser.set_value("recorded_at", "2026-11-02").await;
    for (field, value) in [
        ("pregnancies", "2"),
        ("glucose", "900"),
        ("blood_pressure", "72"),
        ("skin_thickness", "35"),
        ("insulin", "0"),
        ("bmi", "33.6"),
        ("diabetes_pedigree", "0.627"),
        ("age", "50"),
        ("notes", NOTES),
    ] {
        browser.fill(field, value).await;
    }
    browser.click_text("Submit for approval").await;
    browser.wait_for_text("glucose 900 is outside the plausible range 40 to 600 mg/dL").await;
    let error = browser.client.find(fantoccini::Locator::Css(".field.invalid [name='glucose']")).await;
    assert!(error.is_ok(), "the glucose field is the one marked");
    browser.screenshot("clerk-health-form-error").await;
    browser.fill("glucose", GLUCOSE).await;
    browser.click_text("Submit for approval").await;
    browser.wait_for_text("Submitted entry 1").await;
    assert_eq!(browser.path().await, "/entries/1", "no reading travels in a URL");

    browser.goto(&format!("{}/clerk/bill", story.primary.url)).await;
    browser.fill("patient", &patient.address().to_string()).await;
    browser.set_value("issued_at", "2026-11-02").await;
    browser.fill("line_items", "Consultation = 120.00\nHbA1c test = 35.50").await;
    browser.fill("total", "155.50").await;
    browser.click_text("Submit for approval").await;
    browser.wait_for_text("Submitted entry 2").await;
    browser.goto(&format!("{}/clerk", story.primary.url)).await;
    browser.wait_for_text("2 waiting for votes").await;
    browser.screenshot("clerk-submissions").await;
    sign_out(&browser).await;

    // Each reviewer opens the entries with their hospital's key and approves after confirming.
    for (index, (server, reviewer)) in story.reviewers.iter().zip(["rita", "rob"]).enumerate() {
        browser.sign_in_staff(server, reviewer).await;
        browser.wait_for_text("Waiting for our vote").await;
        if index == 0 {
            browser.screenshot("reviewer-queue").await;
        }
        for entry in [1, 2] {
            browser.goto(&format!("{}/reviewer/entries/{entry}", server.url)).await;
            if entry == 1 {
                browser.wait_for_text(NOTES).await;
                browser.wait_for_text(&format!("{GLUCOSE} mg/dL")).await;
                if index == 0 {
                    browser.screenshot("reviewer-entry").await;
                }
            } else {
                browser.wait_for_text("155.50 USD").await;
            }
            // Hope's reviewer approves each entry on its page; Lakeside's ticks both in the queue.
            if index == 1 {
                continue;
            }
            browser.click_text("Approve…").await;
            browser.wait_for_text(&format!("Approve entry {entry}?")).await;
            if index == 0 && entry == 1 {
                browser.screenshot("reviewer-confirm").await;
            }
            browser.click_text("Yes, approve").await;
            browser.wait_for_text(&format!("You approved entry {entry}")).await;
        }
        if index == 1 {
            browser.goto(&format!("{}/reviewer", server.url)).await;
            for entry in [1, 2] {
                browser.click(&format!("input[name='entry'][value='{entry}']")).await;
            }
            browser.click_text("Approve selected…").await;
            browser.wait_for_text("Approve 2 entries?").await;
            browser.screenshot("reviewer-approve-selected").await;
            browser.click_text("Yes, approve 2 entries").await;
            browser.wait_for_text("You approved entries 1, 2 in 1 transaction(s).").await;
        }
        browser.wait_for_text("Nothing waits for this hospital's vote").await;
        sign_out(&browser).await;
    }

    // The patient signs in with their wallet (Sign-In with Ethereum) and approves from the page.
    browser.goto(&format!("{}/sign-in", story.primary.url)).await;
    browser.screenshot("sign-in").await;
    browser.install_wallet().await;
    browser.click("#wallet-sign-in").await;
    browser.serve_wallet(&env, &patient, 2).await;
    browser.wait_for_text("My health records").await;
    browser.wait_for_text("Health details from Hospital dev:1").await;
    browser.screenshot("patient-pending").await;
    // What the patient votes on: St Mary, a recipient, opens the entry for them.
    browser.click("a[href='/patient/entries/1']").await;
    browser.wait_for_text(NOTES).await;
    browser.wait_for_text("Download the sealed record").await;
    browser.screenshot("patient-pending-entry").await;
    browser.goto(&format!("{}/patient", story.primary.url)).await;
    browser.wait_for_text("Waiting for votes").await;
    for entry in [1, 2] {
        browser.install_wallet().await;
        browser.click(&format!("button.wallet-vote[data-entry='{entry}'][data-decision='approve']")).await;
        browser.serve_wallet(&env, &patient, 1).await;
        // The patient's is the last vote: the page reloads with the entry approved, so no longer waiting.
        browser.wait_until_gone(&format!("article[data-entry='{entry}']")).await;
    }
    browser.wait_for_text("No approved health records yet").await;
    sign_out(&browser).await;

    // Hope proposes admitting Northgate; St Mary's admin sees the proposal and approves it, the
    // second of three hospitals, which admits Northgate.
    hrm.ok(&["--from", "dev:2", "hospital", "propose", "add", "dev:7", "--name", "Northgate"]);
    browser.sign_in_staff(&story.primary, "ada").await;
    browser.goto(&format!("{}/admin", story.primary.url)).await;
    browser.wait_for_text("admit Northgate").await;
    browser.wait_for_text("1 of 2").await;
    browser.scroll_to("#membership").await;
    browser.screenshot("admin-membership-proposal").await;
    browser.click("button[aria-label='Approve proposal 1']").await;
    browser.wait_for_text("You approved proposal 1; it passed and is carried out.").await;
    browser.wait_for_text("No open proposals").await;
    assert!(hrm.json(&["hospital", "list"]).to_string().contains("Northgate"));

    // The admin runs migration; the audit then finds the archive matching the chain.
    browser.click_text("Run migration").await;
    browser.wait_for_text("Migration archived 2 record(s)").await;
    browser.click_text("Run audit").await;
    browser.wait_for_text("the archive matches the chain").await;
    browser.screenshot("admin-consortium").await;
    sign_out(&browser).await;

    // The patient sees the archived record, the bill and a prediction with its reasons.
    browser.goto(&format!("{}/sign-in", story.primary.url)).await;
    browser.install_wallet().await;
    browser.click("#wallet-sign-in").await;
    browser.serve_wallet(&env, &patient, 2).await;
    browser.wait_for_text("Estimated probability of diabetes").await;
    browser.wait_for_text(&format!("{GLUCOSE} mg/dL")).await;
    browser.wait_for_text("155.50 USD").await;
    browser.wait_for_text("What moved the estimate").await;
    browser.wait_for_text("Nothing is waiting").await;
    browser.screenshot("patient-records").await;
    browser.goto(&format!("{}/patient/records/1", story.primary.url)).await;
    browser.wait_for_text("Archived on").await;
    browser.wait_for_text("Approved by the patient").await;
    browser.screenshot("patient-record-timeline").await;

    // The reviewers' hospitals received St Mary's push: each holds the envelopes in its own
    // database, not only St Mary.
    for database in ["stmary", "hope", "lakeside"] {
        let envelopes = env.mongo_client().await.database(database).collection::<mongodb::bson::Document>("envelopes");
        assert_eq!(
            envelopes.count_documents(mongodb::bson::doc! {}).await.unwrap(),
            2,
            "{database} holds both envelopes"
        );
    }

    // The patient asks every hospital to erase their records; the wallet sends the request, and
    // each hospital's answer shows on the page.
    browser.goto(&format!("{}/patient", story.primary.url)).await;
    browser.wait_for_text("You have not asked for any erasure").await;
    browser.click("#erasure summary").await;
    browser.install_wallet().await;
    browser.click("button.wallet-erase").await;
    browser.serve_wallet(&env, &patient, 1).await;
    browser.wait_for_text("Not yet answered").await;
    for (hospital, database) in [("dev:1", "stmary"), ("dev:2", "hope"), ("dev:3", "lakeside")] {
        hrm.ok(&["--from", hospital, "--database", database, "erase", "apply"]);
    }
    // The server sees the archive change within a second (it looks at the checkpoint every
    // 250 ms), as a patient reloading would.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        browser.goto(&format!("{}/patient", story.primary.url)).await;
        if browser.text().await.contains("No approved health records yet") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the erased records still show:\n{}", browser.text().await);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let text = browser.text().await;
    assert_eq!(text.matches("Erased").count(), 6, "two entries, three hospitals each:\n{text}");
    assert!(!text.contains("Not yet answered"), "{text}");
    browser.scroll_to("#erasure").await;
    browser.screenshot("patient-erasure").await;

    for server in std::iter::once(&story.primary).chain(&story.reviewers) {
        let log = server.log_text();
        assert!(log.contains("route=/patient") || log.contains("route=/reviewer"), "the log records requests:\n{log}");
        assert!(!log.contains(GLUCOSE) && !log.contains(NOTES), "health data in the server log:\n{log}");
    }
    for name in ["sign-in", "clerk-health-form-error", "reviewer-entry", "patient-records", "admin-consortium"] {
        assert!(screenshot_dir().join(format!("{name}.png")).exists(), "screenshot {name} saved");
    }
}

/// Whether a page shows the glucose reading of 148 or the note that these tests' records carry, in
/// any form the pages render them. A bare "148" is no sign of a leak: every page carries random hex,
/// its form token among them.
fn shows_the_record(body: &str) -> bool {
    ["148 mg/dL", "glucose 148", "private note", "shared with care"].iter().any(|shown| body.contains(shown))
}

/// Everything the server must refuse, each shown over HTTP with its status and headers.
#[tokio::test]
async fn the_server_refuses_what_each_visitor_may_not_do() {
    let env = TestEnv::start("web_security").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    // Another patient (dev:5) with one approved, archived record.
    hrm.ok(&["--from", "dev:5", "key", "publish"]);
    let record = hrm.write_file("record.json", &health_json("148", "private note"));
    // St Mary's command line keeps the envelope in St Mary's database, as its server does.
    let submit = ["--from", "dev:1", "--database", "guarded", "submit-health", "--patient", "dev:5", "--file"];
    hrm.ok(&[&submit[..], &[record.to_str().unwrap()]].concat());
    hrm.ok(&["--from", "dev:2", "vote", "1", "--approve"]);
    hrm.ok(&["--from", "dev:5", "vote", "1", "--approve"]);
    let mut migrate = hrm.command(&["--from", "dev:1", "--database", "guarded", "migrate"]);
    assert!(migrate.env("HRM_MONGODB_URI", &env.mongodb_uri).output().unwrap().status.success());
    let staff = [("clara", "clerk"), ("rita", "reviewer"), ("ada", "admin")];
    let server = Server::start(&hrm, "dev:1", "guarded", &staff, &[]);
    let (other_patient, patient) = (dev_account(5), dev_account(4));

    // Signed out: every page sends you to sign in.
    let mut stranger = HttpVisitor::new(&server);
    for path in [
        "/patient",
        "/patient/records/1",
        "/patient/fhir",
        "/clerk",
        "/clerk/health",
        "/reviewer",
        "/entries/1",
        "/admin",
        "/admin/staff",
        "/patients",
        "/patients/0x0000000000000000000000000000000000000005",
        "/patients/0x0000000000000000000000000000000000000005/fhir",
        "/patient/sharing/transaction?action=revoke&hospital=0x0000000000000000000000000000000000000002",
        "/patient/sharing/state?hospital=0x0000000000000000000000000000000000000002",
        "/patient/entries/1",
        "/patient/entries/1/envelope",
        "/patient/erasure/transaction",
        "/patient/erasure/state",
        "/patient/approve-all/transaction",
        "/patient/approve-all/state",
        "/patient/recovery",
        "/patient/recovery/guardians-transaction?guardians=0x0000000000000000000000000000000000000002&threshold=1",
        "/patient/recovery/guardians-state",
        "/patient/recovery/approve-transaction?patient=0x0000000000000000000000000000000000000005&key=00",
        "/patient/recovery/approve-state?patient=0x0000000000000000000000000000000000000005&key=00",
    ] {
        let reply = stranger.get(path).await;
        assert_eq!((reply.status, reply.header("location")), (303, "/sign-in".to_string()), "{path}");
    }

    // Headers: a strict CSP with no inline script, cookies HttpOnly and SameSite=Strict; nothing
    // from another origin.
    let mut visitor = HttpVisitor::new(&server);
    let page = visitor.get("/sign-in").await;
    let policy = page.header("content-security-policy");
    assert!(policy.contains("script-src 'self'") && policy.contains("default-src 'none'"), "{policy}");
    assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "{policy}");
    assert_eq!(
        page.body.matches("<script").count(),
        page.body.matches("<script src=\"/assets/").count(),
        "inline script"
    );
    assert!(!page.body.contains(" onclick=") && !page.body.contains("javascript:"), "inline handlers");
    assert!(!page.body.contains("src=\"http") && !page.body.contains("href=\"http"), "an asset from elsewhere");
    let cookie = page.header("set-cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"),
        "{cookie}"
    );
    assert_eq!(page.header("x-frame-options"), "DENY");
    let tls_server = Server::start(&hrm, "dev:1", "guarded", &[], &["--public-url", "https://records.example"]);
    let cookie = HttpVisitor::new(&tls_server).get("/sign-in").await.header("set-cookie");
    assert!(cookie.contains("; Secure"), "behind TLS the cookie is Secure: {cookie}");

    // Signing in replaces the session id: the cookie from before signing in is worth nothing.
    let before = visitor.cookie.clone().unwrap();
    let reply = visitor.sign_in_staff("clara", STAFF_PASSWORD).await;
    assert_eq!((reply.status, reply.header("location")), (303, "/clerk".to_string()));
    assert_ne!(visitor.cookie.as_deref(), Some(before.as_str()), "a new session id at sign-in");
    let mut planted = HttpVisitor::new(&server);
    planted.cookie = Some(before);
    assert_eq!(planted.get("/clerk").await.status, 303, "the old id is signed out");

    // CSRF: a state-changing request without the session's token changes nothing.
    let head_before = head(&env).await;
    let form = [("patient", "dev:4"), ("recorded_at", "2026-11-02"), ("glucose", "120"), ("age", "40")];
    let reply = visitor.post_form("/clerk/health", &form).await;
    assert_eq!(reply.status, 403, "no token");
    assert!(reply.body.contains("security token did not match"), "{}", reply.body);
    let mut forged = vec![("_csrf", "0".repeat(64))];
    forged.extend(form.iter().map(|(k, v)| (*k, v.to_string())));
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(visitor.post_form("/clerk/health", &forged).await.status, 403, "a wrong token");
    assert_eq!(head(&env).await, head_before, "nothing was submitted");
    assert_eq!(
        visitor.post_json("/sign-in/wallet", None, serde_json::json!({})).await.status,
        403,
        "JSON without the header"
    );

    // Roles: a clerk cannot vote or manage; a reviewer cannot manage staff; staff are not patients.
    let csrf = visitor.get("/clerk").await.csrf();
    let vote = visitor.post_form("/reviewer/entries/1/vote", &[("_csrf", &csrf), ("decision", "approve")]).await;
    assert_eq!(vote.status, 403, "a clerk cannot vote");
    assert!(vote.body.contains("for the reviewer role"), "{}", vote.body);
    for path in ["/reviewer/approve-selected", "/reviewer/approve-selected/vote"] {
        let reply = visitor.post_form(path, &[("_csrf", &csrf), ("entry", "1")]).await;
        assert!(reply.status == 403 && reply.body.contains("for the reviewer role"), "a clerk on {path}");
    }
    for path in [
        "/reviewer",
        "/admin",
        "/admin/entries",
        "/admin/staff",
        "/patient",
        "/patient/fhir",
        "/patient/sharing/state?hospital=0x0000000000000000000000000000000000000002",
        "/patient/entries/1",
        "/patient/entries/1/envelope",
        "/patient/erasure/transaction",
        "/patient/approve-all/transaction",
        "/patient/recovery",
        "/patient/recovery/guardians-transaction?guardians=0x0000000000000000000000000000000000000002&threshold=1",
        "/patient/recovery/approve-transaction?patient=0x0000000000000000000000000000000000000005&key=00",
    ] {
        assert_eq!(visitor.get(path).await.status, 403, "clerk on {path}");
    }
    // Looking patients up is for clerks and reviewers, not for an admin alone.
    let mut ada = HttpVisitor::new(&server);
    ada.sign_in_staff("ada", STAFF_PASSWORD).await;
    for path in [
        "/patients",
        &format!("/patients/{}", other_patient.address()),
        &format!("/patients/{}/fhir", other_patient.address()),
    ] {
        let reply = ada.get(path).await;
        assert!(
            reply.status == 403 && reply.body.contains("for clerks and reviewers"),
            "admin on {path}: {}",
            reply.status
        );
    }
    let mut reviewer = HttpVisitor::new(&server);
    reviewer.sign_in_staff("rita", STAFF_PASSWORD).await;
    let csrf = reviewer.get("/reviewer").await.csrf();
    let add = [("_csrf", csrf.as_str()), ("username", "mallory"), ("password", STAFF_PASSWORD), ("admin", "on")];
    assert_eq!(reviewer.post_form("/admin/staff", &add).await.status, 403, "a reviewer cannot add staff");
    // Only the admin approves a membership proposal for the hospital; nothing is sent otherwise.
    hrm.ok(&["--from", "dev:2", "hospital", "propose", "add", "dev:7", "--name", "Northgate"]);
    let head_before = head(&env).await;
    let reply = reviewer.post_form("/admin/proposals/1/approve", &[("_csrf", &csrf)]).await;
    assert!(reply.status == 403 && reply.body.contains("for the admin role"), "reviewer: {}", reply.body);
    let clerk_csrf = visitor.get("/clerk").await.csrf();
    assert_eq!(visitor.post_form("/admin/proposals/1/approve", &[("_csrf", &clerk_csrf)]).await.status, 403, "clerk");
    let signed_out = HttpVisitor::new(&server).post_form("/admin/proposals/1/approve", &[]).await;
    assert!(signed_out.status == 403 || signed_out.status == 303, "signed out: {}", signed_out.status);
    assert_eq!(ada.post_form("/admin/proposals/1/approve", &[]).await.status, 403, "the admin without the token");
    assert_eq!(head(&env).await, head_before, "nothing was sent");
    assert_eq!(hrm.json(&["hospital", "proposals"])["proposals"][0]["approvals"], 1);
    // Approving ticked entries: only entries that wait for this hospital's vote, only with the
    // session's token; nothing is sent otherwise.
    let head_before = head(&env).await;
    let reply = reviewer.post_form("/reviewer/approve-selected/vote", &[("_csrf", &csrf), ("entry", "1")]).await;
    assert!(reply.status == 400 && reply.body.contains("does not wait for this hospital's vote"), "{}", reply.body);
    let reply = reviewer.post_form("/reviewer/approve-selected", &[("_csrf", &csrf)]).await;
    assert!(reply.status == 400 && reply.body.contains("Tick the entries"), "{}", reply.body);
    assert_eq!(reviewer.post_form("/reviewer/approve-selected/vote", &[("entry", "1")]).await.status, 403, "no token");
    assert_eq!(head(&env).await, head_before, "nothing was sent");
    assert_eq!(
        HttpVisitor::new(&server).sign_in_staff("mallory", STAFF_PASSWORD).await.status,
        401,
        "no account was made"
    );

    // A patient sees only their own records: another's record id is "not found".
    let mut alice = HttpVisitor::new(&server);
    assert_eq!(alice.sign_in_patient(&patient).await.status, 200);
    let other = alice.get("/patient/records/1").await;
    assert_eq!(other.status, 404, "another patient's record");
    assert!(!shows_the_record(&other.body), "nothing of it leaks");
    assert_eq!(alice.get("/patient/entries/1/vote-transaction?decision=approve").await.status, 404);
    for path in ["/patient/entries/1", "/patient/entries/1/envelope"] {
        let reply = alice.get(path).await;
        assert!(reply.status == 404 && !shows_the_record(&reply.body), "another patient's entry on {path}");
    }
    // Alice has nothing to erase, and is told so before any wallet is asked.
    let refused = alice.get("/patient/erasure/transaction").await;
    assert!(refused.status == 400 && refused.body.contains("has no entries to erase"), "{}", refused.body);
    for path in ["/clerk", "/entries/1", "/admin", "/patients", &format!("/patients/{}", other_patient.address())] {
        assert_eq!(alice.get(path).await.status, 403, "patient on {path}");
    }
    let alice_csrf = alice.get("/patient").await.csrf();
    let reply = alice.post_form("/admin/proposals/1/approve", &[("_csrf", &alice_csrf)]).await;
    assert!(reply.status == 403 && reply.body.contains("for hospital staff"), "patient: {}", reply.status);
    // A grant only to a registered hospital, refused before any wallet is asked.
    let refused = alice
        .get("/patient/sharing/transaction?action=grant&hospital=0x0000000000000000000000000000000000000007")
        .await;
    assert!(refused.status == 400 && refused.body.contains("not a registered hospital"), "{}", refused.body);
    assert_eq!(
        alice
            .get("/patient/sharing/transaction?action=steal&hospital=0x0000000000000000000000000000000000000007")
            .await
            .status,
        400
    );
    // Recovery: only a guardian of the patient may approve moving them, and only to a fresh
    // account; an impossible rule is refused. Each before any wallet is asked.
    let fresh_key = hrm::records::keys::public_key_bytes(&dev_account(9)).to_string();
    let taken_key = hrm::records::keys::public_key_bytes(&dev_account(2)).to_string();
    let approve =
        |key: &str| format!("/patient/recovery/approve-transaction?patient={}&key={key}", other_patient.address());
    let refused = alice.get(&approve(&fresh_key)).await;
    assert!(refused.status == 400 && refused.body.contains("is not among"), "{}", refused.body);
    let refused = alice.get(&approve("12ab")).await;
    assert!(refused.status == 400 && refused.body.contains("64 bytes"), "{}", refused.body);
    let refused = alice
        .get("/patient/recovery/guardians-transaction?guardians=0x0000000000000000000000000000000000000002&threshold=2")
        .await;
    assert!(refused.status == 400 && refused.body.contains("1 guardian(s) with 2 needed"), "{}", refused.body);
    let own_address = patient.address().to_string();
    let refused =
        alice.get(&format!("/patient/recovery/guardians-transaction?guardians={own_address}&threshold=1")).await;
    assert!(refused.status == 400 && refused.body.contains("cannot be their own guardian"), "{}", refused.body);
    hrm.ok(&["--from", "dev:5", "recovery", "set-guardians", "dev:4", "--threshold", "1"]);
    let refused = alice.get(&approve(&taken_key)).await;
    assert!(refused.status == 400 && refused.body.contains("has taken part already"), "{}", refused.body);
    let guarding = alice.get("/patient/recovery").await;
    assert!(guarding.body.contains(&other_patient.address().to_checksum(None)), "{}", guarding.body);
    let mut owner = HttpVisitor::new(&server);
    owner.sign_in_patient(&other_patient).await;
    let own = owner.get("/patient/records/1").await;
    assert!(own.status == 200 && own.body.contains("148 mg/dL"), "the owner sees it: {}", own.body);
    let sealed = owner.get("/patient/entries/1/envelope").await;
    assert_eq!(sealed.header("content-type"), "application/octet-stream");
    assert_eq!(sealed.status, 200, "the owner downloads their sealed record");
    // The owner's history shows the other patient's refused attempt.
    let history = owner.get("/patient").await.body;
    assert!(history.contains("refused: no permission"), "{history}");
    // The FHIR download holds the visitor's own archive only.
    let download = owner.get("/patient/fhir").await;
    assert_eq!((download.status, download.header("content-type")), (200, "application/fhir+json".to_string()));
    assert!(download.header("content-disposition").starts_with("attachment"));
    assert!(download.body.contains("\"1518-0\"") && download.body.contains("\"value\":148"), "{}", download.body);
    let empty = alice.get("/patient/fhir").await;
    assert_eq!(empty.status, 404, "a patient with no archived records has nothing to download");
    assert!(!empty.body.contains("1518-0"), "{}", empty.body);

    // SIWE: a nonce works once, for this server, for the key that holds the address.
    let mut wallet = HttpVisitor::new(&server);
    let csrf = wallet.get("/sign-in").await.csrf();
    let message =
        wallet.post_json("/sign-in/challenge", None, serde_json::json!({ "address": patient.address() })).await;
    let message = message.json()["message"].as_str().unwrap().to_string();
    let by_thief = serde_json::json!({ "message": message, "signature": sign_hex(&other_patient, &message) });
    let refused = wallet.post_json("/sign-in/wallet", Some(&csrf), by_thief).await;
    assert_eq!(refused.status, 401, "another key");
    let signed = serde_json::json!({ "message": message, "signature": sign_hex(&patient, &message) });
    let replay = wallet.post_json("/sign-in/wallet", Some(&csrf), signed).await;
    assert!(
        replay.status == 401 && replay.body.contains("nonce is unknown, already used"),
        "the nonce was used: {}",
        replay.body
    );
    let mut elsewhere = HttpVisitor::new(&tls_server);
    let foreign =
        elsewhere.post_json("/sign-in/challenge", None, serde_json::json!({ "address": patient.address() })).await;
    let foreign = foreign.json()["message"].as_str().unwrap().to_string();
    let csrf = wallet.get("/sign-in").await.csrf();
    let signed = serde_json::json!({ "message": foreign, "signature": sign_hex(&patient, &foreign) });
    let wrong_domain = wallet.post_json("/sign-in/wallet", Some(&csrf), signed).await;
    assert!(wrong_domain.status == 401 && wrong_domain.body.contains("not this server"), "{}", wrong_domain.body);

    // `hrm login`: a one-time link, for patients without a browser wallet.
    let printed = hrm.ok(&["--from", "dev:5", "login", &server.url]);
    let link = printed.lines().last().unwrap().trim().to_string();
    let path = link.strip_prefix(&server.url).expect("a link to this server");
    let mut device = HttpVisitor::new(&server);
    assert_eq!(device.get(path).await.header("location"), "/patient");
    assert!(device.get("/patient").await.body.contains("My health records"));
    assert_eq!(HttpVisitor::new(&server).get(path).await.status, 400, "a link works once");

    // Sign-in attempts are rate-limited: the sixth try fails even with the right password, on
    // every server of the hospital (the count is in the database); other names are not locked.
    let mut guesser = HttpVisitor::new(&server);
    for _ in 0..5 {
        assert_eq!(guesser.sign_in_staff("clara", "wrong password guess").await.status, 401);
    }
    let throttled = guesser.sign_in_staff("clara", STAFF_PASSWORD).await;
    assert!(throttled.status == 429 && throttled.body.contains("Too many failed sign-ins"), "{}", throttled.body);
    assert_eq!(HttpVisitor::new(&tls_server).sign_in_staff("clara", STAFF_PASSWORD).await.status, 429);

    // A disabled account is signed out at once and cannot sign in again.
    let mut admin = HttpVisitor::new(&tls_server);
    assert_eq!(admin.sign_in_staff("ada", STAFF_PASSWORD).await.status, 303);
    let mut rita = HttpVisitor::new(&tls_server);
    rita.sign_in_staff("rita", STAFF_PASSWORD).await;
    assert_eq!(rita.get("/reviewer").await.status, 200);
    let csrf = admin.get("/admin/staff").await.csrf();
    assert_eq!(admin.post_form("/admin/staff/rita", &[("_csrf", &csrf), ("action", "disable")]).await.status, 303);
    // The change's message shows on the next page, once.
    assert!(admin.get("/admin/staff").await.body.contains("Disabled rita."), "the message shows");
    assert!(!admin.get("/admin/staff").await.body.contains("Disabled rita."), "and only once");
    assert_eq!(rita.get("/reviewer").await.status, 303, "signed out");
    assert_eq!(rita.sign_in_staff("rita", STAFF_PASSWORD).await.status, 401, "cannot sign in");
    let own = admin.post_form("/admin/staff/ada", &[("_csrf", &csrf), ("action", "disable")]).await;
    assert_eq!(own.status, 422, "an admin cannot lock themselves out");

    crate::operations::assert_log_keeps_secrets(
        &server.log_text(),
        &["private note", STAFF_PASSWORD, "wrong password guess", device.cookie.as_deref().unwrap(), path],
    );
}

/// The server keeps a patient's archived records between page loads, and a migration run
/// elsewhere (`hrm migrate` on a workstation) shows on the patient's page as soon as it has saved
/// its checkpoint.
#[tokio::test]
async fn a_migration_run_elsewhere_shows_on_the_patients_page() {
    let env = TestEnv::start("web_archive_changes").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    let server = Server::start(&hrm, "dev:1", "changes", &[], &[]);
    let mut patient = HttpVisitor::new(&server);
    assert_eq!(patient.sign_in_patient(&dev_account(4)).await.status, 200);
    assert!(patient.get("/patient").await.body.contains("No approved health records yet"));

    let record = hrm.write_file("record.json", &health_json("163", "routine check"));
    let submit = ["--from", "dev:1", "--database", "changes", "submit-health", "--patient", "dev:4", "--file"];
    hrm.ok(&[&submit[..], &[record.to_str().unwrap()]].concat());
    hrm.ok(&["--from", "dev:2", "vote", "1", "--approve"]);
    hrm.ok(&["--from", "dev:4", "vote", "1", "--approve"]);
    let mut migrate = hrm.command(&["--from", "dev:1", "--database", "changes", "migrate", "--confirmations", "0"]);
    assert!(migrate.env("HRM_MONGODB_URI", &env.mongodb_uri).output().unwrap().status.success());

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let page = patient.get("/patient").await.body;
        if page.contains("163 mg/dL") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the migrated record never showed:\n{page}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn sign_in_patient(browser: &Browser, server: &Server, env: &TestEnv) {
    browser.goto(&format!("{}/sign-in", server.url)).await;
    browser.install_wallet().await;
    browser.click("#wallet-sign-in").await;
    browser.serve_wallet(env, &dev_account(4), 2).await;
    browser.wait_for_text("My health records").await;
}

/// The story: the patient lets a third hospital in from the browser, its reviewer sees
/// the records, the patient revokes and the next page load shows nothing; the patient sees each
/// of those reads in their access history.
#[tokio::test]
async fn a_patient_lets_a_third_hospital_in_and_out_in_chromium() {
    let env = TestEnv::start("web_sharing").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    hrm.ok(&["--from", "dev:0", "hospital", "register", "dev:3", "--name", "Lakeside"]);
    let record = hrm.write_file("record.json", &health_json("148", "shared with care"));
    let submit = ["--from", "dev:1", "--database", "consortium", "submit-health", "--patient", "dev:4", "--file"];
    hrm.ok(&[&submit[..], &[record.to_str().unwrap()]].concat());
    hrm.ok(&["--from", "dev:2", "vote", "1", "--approve"]);
    hrm.ok(&["--from", "dev:4", "vote", "1", "--approve"]);
    let mut migrate = hrm.command(&["--from", "dev:1", "--database", "consortium", "migrate"]);
    assert!(migrate.env("HRM_MONGODB_URI", &env.mongodb_uri).output().unwrap().status.success());
    // Lakeside (dev:3) entered and approved nothing of the patient's; it reads the same archive.
    let lakeside = Server::start(&hrm, "dev:3", "consortium", &[("carl", "reviewer")], &[]);
    let browser = Browser::start().await;
    let patient_page = format!("{}/patients/{}", lakeside.url, dev_account(4).address());
    let mut carl = HttpVisitor::new(&lakeside);
    carl.sign_in_staff("carl", STAFF_PASSWORD).await;

    // Before any grant, the reviewer sees nothing of the patient's records, and cannot download them.
    browser.sign_in_staff(&lakeside, "carl").await;
    browser.goto(&format!("{}/patients", lakeside.url)).await;
    browser.fill("q", &dev_account(4).address().to_string()).await;
    browser.click_text("Find").await;
    browser.wait_for_text("holds no grant from the patient").await;
    browser.screenshot("staff-patient-no-access").await;
    let page = browser.text().await;
    assert!(!shows_the_record(&page) && !page.contains("glucose"), "{page}");
    assert_eq!(carl.get(&format!("/patients/{}/fhir", dev_account(4).address())).await.status, 404);
    sign_out(&browser).await;

    // The patient lets Lakeside in from their page; the wallet sends the grant.
    sign_in_patient(&browser, &lakeside, &env).await;
    browser.wait_for_text("No other hospital can see your records").await;
    browser.set_value("hospital", &dev_account(3).address().to_string()).await;
    browser.install_wallet().await;
    browser.click("button.wallet-share[data-action='grant']").await;
    browser.serve_wallet(&env, &dev_account(4), 1).await;
    browser.wait_for_text("Lakeside\tyou revoke it").await;
    browser.scroll_to("#sharing").await;
    browser.screenshot("patient-sharing").await;
    sign_out(&browser).await;

    // The reviewer now sees the record, and why.
    browser.sign_in_staff(&lakeside, "carl").await;
    browser.goto(&patient_page).await;
    browser.wait_for_text("the patient granted this hospital access").await;
    browser.wait_for_text("glucose 148").await;
    browser.screenshot("staff-patient-records").await;
    let download = carl.get(&format!("/patients/{}/fhir", dev_account(4).address())).await;
    assert!(download.status == 200 && download.body.contains("\"value\":148"), "{}", download.status);
    sign_out(&browser).await;

    // The patient revokes; the very next page load shows the reviewer nothing.
    sign_in_patient(&browser, &lakeside, &env).await;
    browser.install_wallet().await;
    browser.click("button.wallet-share[data-action='revoke']").await;
    browser.serve_wallet(&env, &dev_account(4), 1).await;
    browser.wait_for_text("No other hospital can see your records").await;
    let after = carl.get(&format!("/patients/{}", dev_account(4).address())).await;
    assert!(after.body.contains("holds no grant from the patient") && !shows_the_record(&after.body), "{}", after.body);

    // Every one of the reviewer's reads is in the patient's history, newest first: the page after
    // the revocation (refused), the download and the page under the grant, the download and the
    // page before it (refused).
    browser.goto(&format!("{}/patient", lakeside.url)).await;
    browser.wait_for_text("Who looked at my records").await;
    browser.scroll_to("#access-history").await;
    browser.screenshot("patient-access-history").await;
    let rows: Vec<String> = browser
        .client
        .execute(
            "return Array.from(document.querySelectorAll('#access-log tbody tr')).map(r => r.className + ' ' + r.innerText);",
            vec![],
        )
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(rows.len(), 5, "{rows:#?}");
    assert!(rows.iter().all(|r| r.contains("Lakeside") && r.contains("carl")), "{rows:#?}");
    let outcomes: Vec<&str> = rows.iter().map(|r| r.split(' ').next().unwrap()).collect();
    assert_eq!(outcomes, ["denied", "allowed", "allowed", "denied", "denied"], "{rows:#?}");
    assert!(rows[1].contains("the patient granted their hospital access"), "{rows:#?}");

    // A read by another process (the supporting hospital's `hrm records`) shows on the already
    // loaded history within moments.
    let mut patient = HttpVisitor::new(&lakeside);
    patient.sign_in_patient(&dev_account(4)).await;
    assert!(!patient.get("/patient").await.body.contains("hrm records"));
    let mut records = hrm.command(&["--from", "dev:2", "--database", "consortium", "records", "--patient", "dev:4"]);
    assert!(records.env("HRM_MONGODB_URI", &env.mongodb_uri).output().unwrap().status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !patient.get("/patient").await.body.contains("(hrm records)") {
        assert!(std::time::Instant::now() < deadline, "the CLI's read never showed in the history");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The text of the element with `id` in `page`.
fn cell<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in:\n{page}"));
    let after = &page[start..];
    let text = &after[after.find('>').unwrap() + 1..];
    &text[..text.find('<').unwrap()]
}

/// `hrm serve --follow`: the server archives approvals as they are confirmed, its admin page
/// shows how far the archive is behind, and SIGTERM stops it with the checkpoint saved. A server
/// without --follow shows the same lag, waiting.
#[tokio::test]
async fn a_following_server_archives_approvals_and_shows_its_lag() {
    let env = TestEnv::start("web_follow").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    let mut following =
        Server::start(&hrm, "dev:1", "followed", &[("ada", "admin")], &["--follow", "--poll-interval", "0.2"]);
    let idle = Server::start(&hrm, "dev:1", "idle", &[("ada", "admin")], &[]);
    let (mut admin, mut idle_admin) = (HttpVisitor::new(&following), HttpVisitor::new(&idle));
    admin.sign_in_staff("ada", STAFF_PASSWORD).await;
    idle_admin.sign_in_staff("ada", STAFF_PASSWORD).await;
    assert!(admin.get("/admin").await.body.contains("Following the chain"));
    assert!(idle_admin.get("/admin").await.body.contains("Not following the chain"));

    let record = hrm.write_file("record.json", &health_json("151.5", "knee pain since the fall"));
    let submit = ["--from", "dev:1", "--database", "followed", "submit-health", "--patient", "dev:4", "--file"];
    hrm.ok(&[&submit[..], &[record.to_str().unwrap()]].concat());
    hrm.ok(&["--from", "dev:2", "vote", "1", "--approve"]);
    hrm.ok(&["--from", "dev:4", "vote", "1", "--approve"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let page = admin.get("/admin").await.body;
        // A load reads the lag (checkpoint and chain) before the follower's count, so a pass
        // ending in between shows the new count beside the old lag; the next load agrees.
        if page.contains("1 record(s) archived since the server started") && cell(&page, "waiting") == "0" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the follower never archived the approval, or something still waits:\n{page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let records = env.mongo_client().await.database("followed").collection::<mongodb::bson::Document>("health_records");
    assert_eq!(records.count_documents(mongodb::bson::doc! {}).await.unwrap(), 1);
    let waiting = idle_admin.get("/admin").await.body;
    assert_eq!(cell(&waiting, "waiting"), "1", "the idle server's archive waits for the approval");
    assert!(waiting.contains("not migrated yet"), "{waiting}");

    // The patient asks for the record's erasure: the follower erases it and confirms on chain by
    // itself, and does not archive it again.
    hrm.ok(&["--from", "dev:4", "erase", "request", "--entry", "1"]);
    let envelopes = env.mongo_client().await.database("followed").collection::<mongodb::bson::Document>("envelopes");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = hrm.json(&["erase", "status", "--patient", "dev:4"]);
        if status[0]["holders"][0]["answer"]["state"] == "erased" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the follower never erased the record: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(records.count_documents(mongodb::bson::doc! {}).await.unwrap(), 0, "the archived record is gone");
    assert_eq!(envelopes.count_documents(mongodb::bson::doc! {}).await.unwrap(), 0, "the envelope is gone");
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(records.count_documents(mongodb::bson::doc! {}).await.unwrap(), 0, "and is not archived again");

    let status = following.terminate();
    assert!(status.success(), "SIGTERM stops the server cleanly: {status:?}");
    let log = following.log_text();
    assert!(log.contains("follower: stopped; the checkpoint resumes at block"), "{log}");
    assert!(log.contains("erased at patients' request: 1"), "the follower tells what it erased:\n{log}");
    crate::operations::assert_log_keeps_secrets(&log, &["151.5", "knee pain since the fall"]);
}

/// A patient with several entries waiting approves them all with one confirmation in the wallet.
#[tokio::test]
async fn a_patient_approves_every_waiting_entry_with_one_wallet_confirmation() {
    let env = TestEnv::start("web_approve_all").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    let record = hrm.write_file("record.json", &health_json("131", "approve all"));
    let submit = ["--from", "dev:1", "--database", "stmary", "submit-health", "--patient", "dev:4", "--file"];
    for _ in 0..2 {
        hrm.ok(&[&submit[..], &[record.to_str().unwrap()]].concat());
    }
    let server = Server::start(&hrm, "dev:1", "stmary", &[], &[]);
    let browser = Browser::start().await;
    sign_in_patient(&browser, &server, &env).await;
    browser.wait_for_text("Approve all 2").await;
    browser.screenshot("patient-approve-all").await;
    let head_before = head(&env).await;
    browser.install_wallet().await;
    browser.click("button.wallet-approve-all").await;
    browser.serve_wallet(&env, &dev_account(4), 1).await;
    browser.wait_until_gone("button.wallet-approve-all").await;
    assert_eq!(head(&env).await, head_before + 1, "one transaction for both votes");
    let text = browser.text().await;
    assert_eq!(text.matches("You approved this entry.").count(), 2, "{text}");
    // Nothing left to approve: the page is told so before any wallet is asked.
    let mut visitor = HttpVisitor::new(&server);
    visitor.sign_in_patient(&dev_account(4)).await;
    let refused = visitor.get("/patient/approve-all/transaction").await;
    assert!(refused.status == 400 && refused.body.contains("Nothing waits for your vote"), "{}", refused.body);
    assert_eq!(visitor.get("/patient/approve-all/state").await.json()["waiting"], 0);
}

/// A patient names three guardians, two of whom must agree, from their page; a guardian (a
/// relative who signs in with their own wallet) approves moving them to a new account, which one
/// approval does not do; a second, from the command line, moves them.
#[tokio::test]
async fn a_patient_names_guardians_and_a_guardian_approves_their_move_in_chromium() {
    let env = TestEnv::start("web_recovery").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    let server = Server::start(&hrm, "dev:1", "stmary", &[], &[]);
    let browser = Browser::start().await;
    let (patient, relative, new_account) = (dev_account(4), dev_account(6), dev_account(9));
    sign_in_patient(&browser, &server, &env).await;
    browser.click_text("Guardians and a lost key").await;
    browser.wait_for_text("You have named no guardians").await;
    let guardians = [dev_account(6).address(), dev_account(7).address(), dev_account(2).address()];
    let listed: Vec<String> = guardians.iter().map(|g| g.to_string()).collect();
    browser.set_value("guardians", &listed.join("\n")).await;
    browser.set_value("threshold", "2").await;
    browser.install_wallet().await;
    browser.click("button.wallet-guardians").await;
    browser.serve_wallet(&env, &patient, 1).await;
    browser.wait_for_text("2 of these 3 must agree to move you").await;
    browser.wait_for_text("Hospital dev:2 (a hospital)").await;
    browser.scroll_to("#guardians").await;
    browser.screenshot("patient-guardians").await;
    sign_out(&browser).await;

    // The relative signs in with their own wallet and approves the move to the new account's key.
    browser.goto(&format!("{}/sign-in", server.url)).await;
    browser.install_wallet().await;
    browser.click("#wallet-sign-in").await;
    browser.serve_wallet(&env, &relative, 2).await;
    browser.wait_for_text("My health records").await;
    browser.goto(&format!("{}/patient/recovery", server.url)).await;
    browser.wait_for_text("Patients who chose me as a guardian").await;
    browser.wait_for_text(&patient.address().to_checksum(None)).await;
    let key = hrm::records::keys::public_key_bytes(&new_account).to_string();
    browser.set_value("key", &key).await;
    browser.install_wallet().await;
    browser.click("button.wallet-recovery").await;
    browser.serve_wallet(&env, &relative, 1).await;
    browser.wait_for_text("has 1 of 2 approvals").await;
    browser.scroll_to("#guarding").await;
    browser.screenshot("guardian-approves-move").await;
    let status = hrm.json(&["recovery", "status", "dev:4"]);
    assert!(status["moved_to"].is_null(), "one guardian alone does not move the patient: {status}");

    // A second guardian, from the command line, moves them; the guardians follow them, so the
    // relative now guards the new account.
    hrm.ok(&["--from", "dev:7", "recovery", "approve", "dev:4", "--new-key", &key]);
    browser.goto(&format!("{}/patient/recovery", server.url)).await;
    browser.wait_for_text(&new_account.address().to_checksum(None)).await;
    assert!(!browser.text().await.contains(&patient.address().to_checksum(None)));
    let status = hrm.json(&["recovery", "status", "dev:4"]);
    assert_eq!(
        status["moved_to"].as_str().unwrap().parse::<alloy::primitives::Address>().unwrap(),
        new_account.address()
    );
}

/// Long lists page by fifty with their count, and narrow by patient, kind and submission date
/// (the links keep the filter); a bad filter or page number is refused with what was wrong; a
/// role that may not see a list is refused it whatever the page. In Chromium, a reviewer pages
/// through the queue and narrows it to one patient.
#[tokio::test]
async fn long_lists_page_and_filter() {
    let env = TestEnv::start("web_paging").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    hrm.ok(&["--from", "dev:5", "key", "publish"]);
    let mut csv = String::from(
        "patient,recorded_at,Pregnancies,Glucose,BloodPressure,SkinThickness,Insulin,BMI,DiabetesPedigreeFunction,Age",
    );
    for i in 0..120 {
        let patient = if i < 100 { "dev:4" } else { "dev:5" };
        csv.push_str(&format!("\n{patient},2026-11-02,1,{},70,30,0,31.5,0.4,41", 90 + i));
    }
    let file = hrm.write_file("day.csv", &csv);
    hrm.ok(&["--from", "dev:1", "import", "--csv", file.to_str().unwrap()]);
    let (dev4, dev5) = (format!("{:#x}", dev_account(4).address()), format!("{:#x}", dev_account(5).address()));
    let reviewers = Server::start(&hrm, "dev:2", "stjohn", &[("rita", "reviewer")], &[]);
    let clerks = Server::start(&hrm, "dev:1", &env.database_name, &[("carl", "clerk"), ("ada", "admin")], &[]);

    let mut rita = HttpVisitor::new(&reviewers);
    rita.sign_in_staff("rita", STAFF_PASSWORD).await;
    let rows = |body: &str| body.matches("name=\"entry\"").count();
    let first = rita.get("/reviewer").await;
    assert!(first.body.contains("Entries 1–50 of 120, page 1 of 3."), "{}", first.body);
    assert_eq!(rows(&first.body), 50);
    assert!(first.body.contains("rel=\"next\" href=\"/reviewer?page=2\""), "{}", first.body);
    let last = rita.get("/reviewer?page=3").await;
    assert!(last.body.contains("Entries 101–120 of 120, page 3 of 3."), "{}", last.body);
    assert_eq!(rows(&last.body), 20);
    assert!(rita.get("/reviewer?page=99").await.body.contains("page 3 of 3."), "past the end is the last page");
    let theirs = rita.get(&format!("/reviewer?patient={dev5}")).await;
    assert!(theirs.body.contains("Entries 1–20 of 20."), "{}", theirs.body);
    assert_eq!(rows(&theirs.body), 20);
    let second = rita.get(&format!("/reviewer?patient={dev4}&kind=health&page=2")).await;
    assert!(second.body.contains("Entries 51–100 of 100, page 2 of 2."), "{}", second.body);
    assert!(
        second.body.contains(&format!("href=\"/reviewer?patient={dev4}&amp;kind=health&amp;page=1\"")),
        "the links keep the filter"
    );
    let bills = rita.get("/reviewer?kind=bill").await;
    assert!(bills.body.contains("No entries.") && bills.body.contains("No waiting entry matches the filter."));
    assert_eq!(rows(&rita.get("/reviewer?from=2000-01-01&to=2000-12-31").await.body), 0, "submitted before 2001");
    assert!(rita.get("/reviewer?from=2000-01-01").await.body.contains("of 120,"), "submitted since 2000");
    for (query, says) in [
        ("page=0", "is not a page number"),
        ("page=two", "is not a page number"),
        ("from=14/03/2026", "is not a date like 2026-03-14"),
        ("from=2026-03-15&to=2026-03-14", "the dates are the wrong way round"),
        ("patient=0x12", "is not an account address"),
        ("kind=lab", "choose health or bill"),
    ] {
        let refused = rita.get(&format!("/reviewer?{query}")).await;
        assert!(refused.status == 400 && refused.body.contains(says), "{query}: {} {}", refused.status, refused.body);
    }

    let mut carl = HttpVisitor::new(&clerks);
    carl.sign_in_staff("carl", STAFF_PASSWORD).await;
    let mine = carl.get("/clerk?page=2").await;
    assert!(mine.body.contains("Submissions 51–100 of 120, page 2 of 3."), "{}", mine.body);
    assert!(mine.body.contains("120 waiting for votes."), "the count is of every submission, not the page's");
    assert_eq!(carl.get("/reviewer?page=2").await.status, 403, "a clerk is refused the queue's pages too");
    assert_eq!(carl.get("/admin/entries?page=2").await.status, 403, "and the admin's list");
    let mut ada = HttpVisitor::new(&clerks);
    ada.sign_in_staff("ada", STAFF_PASSWORD).await;
    let newest = ada.get("/admin/entries").await;
    assert!(newest.body.contains("Entries 1–50 of 120, page 1 of 3."), "{}", newest.body);
    let row = |id: u64| newest.body.find(&format!("href=\"/entries/{id}\""));
    assert!(row(120) < row(119) && row(71).is_some() && row(70).is_none(), "newest first, fifty");
    let oldest = ada.get(&format!("/admin/entries?patient={dev4}&page=2")).await;
    assert!(oldest.body.contains("Entries 51–100 of 100, page 2 of 2."), "{}", oldest.body);

    let mut patient = HttpVisitor::new(&reviewers);
    patient.sign_in_patient(&dev_account(4)).await;
    let own = patient.get("/patient?page=2").await;
    assert!(own.body.contains("Entries 51–100 of 100, page 2 of 2."), "{}", own.body);
    assert!(own.body.contains("Approve all 100"), "the button still approves every waiting entry");
    assert!(own.body.contains("approves every entry that waits for your vote, on every page"), "and says so");
    let narrowed = patient.get(&format!("/patient?patient={dev5}")).await;
    assert!(narrowed.body.contains("Entries 1–50 of 100,"), "a patient's page lists only their own entries");
    assert_eq!(patient.get("/reviewer?page=2").await.status, 403, "a patient is refused the queue");
    assert_eq!(patient.get("/clerk?page=2").await.status, 403, "and the submissions");
    assert_eq!(patient.get("/admin/entries").await.status, 403, "and the admin's list");

    // The patient's whole access history pages too: 120 looks by St John's staff.
    let stjohn = hrm::store::Archive::connect(&env.mongodb_uri, "stjohn").await.unwrap();
    let log = hrm::access::AccessLog::new(&stjohn);
    for i in 0..120 {
        let mut look = hrm::access::AccessEvent::example(i);
        (look.reader, look.patient, look.user) =
            (dev_account(2).address(), dev_account(4).address(), Some("rita".into()));
        log.append(&look).await.unwrap();
    }
    // The server's history cache looks for appends from elsewhere every 250 ms.
    let mut linked = false;
    for _ in 0..30 {
        linked = patient.get("/patient").await.body.contains("href=\"/patient/history\"");
        if linked {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(linked, "the page links to the whole history");
    let newest = patient.get("/patient/history").await;
    assert!(newest.body.contains("Looks 1–50 of 120, page 1 of 3."), "{}", newest.body);
    assert!(
        newest.body.find("(read 119)") < newest.body.find("(read 118)") && !newest.body.contains("(read 69)"),
        "newest first"
    );
    let oldest = patient.get("/patient/history?page=3").await;
    assert!(oldest.body.contains("Looks 101–120 of 120, page 3 of 3.") && oldest.body.contains("(read 0)"));
    assert_eq!(patient.get("/patient/history?page=none").await.status, 400);
    assert_eq!(rita.get("/patient/history").await.status, 403, "staff are refused a patient's history page");

    let browser = Browser::start().await;
    browser.sign_in_staff(&reviewers, "rita").await;
    browser.goto(&format!("{}/reviewer", reviewers.url)).await;
    browser.wait_for_text("Entries 1–50 of 120, page 1 of 3.").await;
    browser.click_text("Next").await;
    browser.wait_for_text("Entries 51–100 of 120, page 2 of 3.").await;
    browser.screenshot("reviewer-queue-page-2").await;
    browser.fill("patient", &dev5).await;
    browser.click("form.filters button").await;
    browser.wait_for_text("Entries 1–20 of 20.").await;
    assert_eq!(browser.path().await, format!("/reviewer?patient={dev5}&kind=&from=&to="));
    browser.screenshot("reviewer-queue-one-patient").await;
    sign_out(&browser).await;
    browser.sign_in_staff(&clerks, "ada").await;
    browser.goto(&format!("{}/admin/entries?page=3", clerks.url)).await;
    browser.wait_for_text("Entries 101–120 of 120, page 3 of 3.").await;
    browser.screenshot("admin-entries").await;
    sign_out(&browser).await;
    sign_in_patient(&browser, &reviewers, &env).await;
    browser.goto(&format!("{}/patient?page=2#pending", reviewers.url)).await;
    browser.wait_for_text("Entries 51–100 of 100, page 2 of 2.").await;
    browser.scroll_to("#pending").await;
    browser.screenshot("patient-pending-page-2").await;
    browser.click_text("See the whole history").await;
    browser.wait_for_text("Looks 1–50 of 120, page 1 of 3.").await;
    browser.click_text("Last").await;
    browser.wait_for_text("Looks 101–120 of 120, page 3 of 3.").await;
    browser.screenshot("patient-history-page-3").await;
}
