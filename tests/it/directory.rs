//! The patient directory: registered at the desk, enrolled by the patient's signature (in
//! Chromium with a wallet, through the QR code's link, and with `hrm enroll`), found by name, and
//! submitted for by name; every refusal shown.

use hrm::chain::dev_keys::dev_account;
use serde_json::json;

use crate::common::TestEnv;
use crate::common::cli::Hrm;
use crate::common::web::{Browser, HttpVisitor, STAFF_PASSWORD, Server, sign_hex};

/// The code at the end of the enrollment link a page shows.
fn enrollment_link(body: &str) -> String {
    let start = body.find("id=\"enrollment-link\" href=\"").expect("the page shows the link") + 27;
    body[start..start + body[start..].find('"').unwrap()].to_string()
}

fn code_of(link: &str) -> &str {
    link.rsplit('/').next().unwrap()
}

#[tokio::test]
async fn patients_are_registered_enrolled_found_and_submitted_for_by_name() {
    let env = TestEnv::start("directory").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    let server = Server::start(
        &hrm,
        "dev:1",
        &env.database_name,
        &[("nina", "clerk"), ("rex", "reviewer"), ("ada", "admin")],
        &[],
    );
    let patient = dev_account(4);

    // The command line: register, refuse bad input with nothing stored, find, show.
    let add = |mrn: &str, name: &str, born: &str| {
        hrm.run(&hrm.with_archive(&[
            "patient",
            "add",
            "--mrn",
            mrn,
            "--name",
            name,
            "--birth-date",
            born,
            "--sex",
            "female",
        ]))
    };
    let added = add("MRN-2001", "Maria  Lopez-Garcia", "1975-06-30");
    let stdout = String::from_utf8_lossy(&added.stdout);
    assert!(
        added.status.success() && stdout.contains("Registered Maria Lopez-Garcia as medical record number MRN-2001"),
        "{stdout}"
    );
    for (mrn, born, says) in [
        ("MRN-2001", "1990-01-01", "MRN-2001 is already in this hospital's directory"),
        ("MRN-2002", "30/06/1975", "birth_date: '30/06/1975' is not a date"),
    ] {
        let refused = add(mrn, "Ann Lee", born);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(refused.status.code() == Some(2) && stderr.contains(says), "{stderr}");
    }
    let found = hrm.json(&hrm.with_archive(&["patient", "find", "garc"]));
    assert_eq!(found["total"], 1);
    assert_eq!(found["patients"][0]["name"], "Maria Lopez-Garcia");
    assert_eq!(hrm.json(&hrm.with_archive(&["patient", "find", "1975-06-30"]))["total"], 1);
    assert_eq!(hrm.json(&hrm.with_archive(&["patient", "find", "MRN-2002"]))["total"], 0, "nothing half-written");
    let shown = hrm.ok(&hrm.with_archive(&["patient", "show", "MRN-2001"]));
    assert!(shown.contains("not enrolled") && shown.contains("1975-06-30"), "{shown}");

    // `hrm patient enroll` gives the desk a link; the patient (dev:5) enrolls with `hrm enroll`.
    let issued =
        hrm.json(&hrm.with_archive(&["--from", "dev:1", "patient", "enroll", "MRN-2001", "--url", &server.url]));
    let link = issued["link"].as_str().unwrap().to_string();
    // A message naming another server than the link's is not signed: a phishing page's.
    let elsewhere = hrm.json(&hrm.with_archive(&[
        "--from",
        "dev:1",
        "patient",
        "enroll",
        "MRN-2001",
        "--url",
        "https://records.elsewhere.test",
    ]));
    let code = elsewhere["link"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let phished = hrm.fails(&["--from", "dev:5", "enroll", &format!("{}/enroll/{code}", server.url)]);
    assert!(phished.contains("another server or code") && phished.contains("nothing was signed"), "{phished}");
    let enrolled = hrm.ok(&["--from", "dev:5", "enroll", &link]);
    assert!(enrolled.contains("as medical record number MRN-2001"), "{enrolled}");
    let again = hrm.fails(&["--from", "dev:5", "enroll", &link]);
    assert!(again.contains("unknown, already used or expired"), "a link works once: {again}");
    let shown = hrm.json(&hrm.with_archive(&["patient", "show", "MRN-2001"]));
    assert_eq!(shown["account"].as_str().unwrap().to_lowercase(), format!("{:#x}", dev_account(5).address()));

    // Who may do what: a patient, a reviewer and an admin are refused the desk's actions.
    let mut rex = HttpVisitor::new(&server);
    rex.sign_in_staff("rex", STAFF_PASSWORD).await;
    let rex_csrf = rex.get("/patients").await.csrf();
    assert!(rex.get("/patients?q=lopez").await.body.contains("Maria Lopez-Garcia"), "a reviewer may look patients up");
    assert_eq!(rex.get("/patients/new").await.status, 403);
    let fields =
        [("_csrf", rex_csrf.as_str()), ("mrn", "X1"), ("name", "X Y"), ("birth_date", "1990-01-01"), ("sex", "male")];
    assert_eq!(rex.post_form("/patients/new", &fields).await.status, 403, "a reviewer may not register");
    assert_eq!(rex.post_form("/patients/mrn/MRN-2001/enrollment", &[("_csrf", &rex_csrf)]).await.status, 403);
    assert_eq!(
        rex.post_form("/patients/mrn/MRN-2001/unlink", &[("_csrf", &rex_csrf), ("confirm", "yes")]).await.status,
        403
    );
    assert_eq!(rex.get("/patients/suggest?q=mar").await.status, 403);
    let mut ada = HttpVisitor::new(&server);
    ada.sign_in_staff("ada", STAFF_PASSWORD).await;
    assert_eq!(ada.get("/patients").await.status, 403, "an admin does not see the directory");
    assert_eq!(ada.get("/patients/mrn/MRN-2001").await.status, 403);
    let mut someone = HttpVisitor::new(&server);
    someone.sign_in_patient(&patient).await;
    assert_eq!(someone.get("/patients?q=lopez").await.status, 403, "a patient does not see the directory");
    assert_eq!(someone.get("/patients/suggest?q=mar").await.status, 403);
    let mut stranger = HttpVisitor::new(&server);
    assert_eq!(stranger.get("/patients").await.status, 303, "signed out: to the sign-in page");

    // In Chromium, the nurse registers Jane Smith and starts her enrollment.
    let browser = Browser::start().await;
    browser.sign_in_staff(&server, "nina").await;
    browser.click_text("Patients").await;
    browser.wait_for_text("Maria Lopez-Garcia").await;
    browser.click_text("Register a patient").await;
    for (field, value) in [("mrn", "MRN-1001"), ("name", "Jane Smith"), ("phone", "+1 555 0100")] {
        browser.fill(field, value).await;
    }
    browser.set_value("birth_date", "2099-02-28").await;
    browser.click("form[action='/patients/new'] button").await;
    browser.wait_for_text("2099-02-28 is in the future").await;
    browser.screenshot("directory-register-error").await;
    browser.set_value("birth_date", "1980-02-29").await;
    browser.click("form[action='/patients/new'] button").await;
    browser.wait_for_text("Registered Jane Smith as medical record number MRN-1001").await;
    browser.screenshot("directory-patient-not-enrolled").await;
    browser.click_text("Start enrollment").await;
    browser.wait_for_text("Works once, for 10 minutes").await;
    browser.screenshot("directory-enrollment-link").await;
    let link = browser.client.find(fantoccini::Locator::Css("#enrollment-link")).await.unwrap().text().await.unwrap();
    // The QR code, as the patient's phone sees it, holds the link.
    let qr = browser.client.find(fantoccini::Locator::Css("figure.qr svg")).await.unwrap().screenshot().await.unwrap();
    let image = image::load_from_memory(&qr).unwrap().to_luma8();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(image.width() as usize, image.height() as usize, |x, y| {
            image.get_pixel(x as u32, y as u32).0[0]
        });
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    assert_eq!(grids[0].decode().unwrap().1, link, "the QR code holds the link shown");

    // Refusals before the patient signs: a foreign signature, a broken one, an unknown code.
    let code = code_of(&link).to_string();
    let mut desk = HttpVisitor::new(&server);
    let message = desk.get(&format!("/enroll/{code}/message")).await.json()["message"].as_str().unwrap().to_string();
    let foreign = desk
        .post_json(
            &format!("/enroll/{code}"),
            None,
            json!({ "account": patient.address(), "signature": sign_hex(&dev_account(6), &message) }),
        )
        .await;
    assert!(foreign.status == 401 && foreign.body.contains("signed by"), "{} {}", foreign.status, foreign.body);
    let broken = desk
        .post_json(&format!("/enroll/{code}"), None, json!({ "account": patient.address(), "signature": "0x1234" }))
        .await;
    assert_eq!(broken.status, 401, "{}", broken.body);
    let unknown =
        desk.post_json("/enroll/feedbeef", None, json!({ "account": patient.address(), "signature": "0x12" })).await;
    assert!(unknown.status == 404 && unknown.body.contains("unknown, already used or expired"), "{}", unknown.body);
    assert_eq!(desk.get("/enroll/feedbeef").await.status, 400);

    // The patient opens the link with their wallet and signs.
    browser.click_text("Sign out").await;
    browser.goto(&link).await;
    browser.wait_for_text("Link your account to").await;
    browser.screenshot("enroll-page").await;
    browser.install_wallet().await;
    browser.click("#wallet-enroll").await;
    browser.serve_wallet(&env, &patient, 2).await;
    browser.wait_for_text("Enrolled: your account is linked to medical record number MRN-1001").await;
    browser.screenshot("enroll-done").await;
    let replayed = desk
        .post_json(
            &format!("/enroll/{code}"),
            None,
            json!({ "account": patient.address(), "signature": sign_hex(&patient, &message) }),
        )
        .await;
    assert!(
        replayed.status == 404 && replayed.body.contains("already used"),
        "a replayed signature: {}",
        replayed.body
    );

    // A second enrollment of the same account is refused, and nothing is stored.
    let mut nina = HttpVisitor::new(&server);
    nina.sign_in_staff("nina", STAFF_PASSWORD).await;
    let csrf = nina.get("/patients").await.csrf();
    let page = nina.post_form("/patients/mrn/MRN-2001/enrollment", &[("_csrf", &csrf)]).await;
    assert_eq!(page.status, 400, "MRN-2001 is enrolled already: {}", page.body);
    let registered = nina
        .post_form(
            "/patients/new",
            &[
                ("_csrf", &csrf),
                ("mrn", "MRN-1002"),
                ("name", "John Smithers"),
                ("birth_date", "1962-11-03"),
                ("sex", "male"),
            ],
        )
        .await;
    assert_eq!(registered.status, 303);
    let duplicate = nina
        .post_form(
            "/patients/new",
            &[("_csrf", &csrf), ("mrn", "MRN-1002"), ("name", "Jo"), ("birth_date", "1962-11-03"), ("sex", "male")],
        )
        .await;
    assert!(
        duplicate.status == 422 && duplicate.body.contains("already in this hospital's directory"),
        "{}",
        duplicate.body
    );
    let second = enrollment_link(&nina.post_form("/patients/mrn/MRN-1002/enrollment", &[("_csrf", &csrf)]).await.body);
    let second_code = code_of(&second);
    let second_message =
        desk.get(&format!("/enroll/{second_code}/message")).await.json()["message"].as_str().unwrap().to_string();
    let twice = desk
        .post_json(
            &format!("/enroll/{second_code}"),
            None,
            json!({ "account": patient.address(), "signature": sign_hex(&patient, &second_message) }),
        )
        .await;
    assert!(twice.status == 409 && twice.body.contains("already enrolled at this hospital"), "{}", twice.body);
    assert!(nina.get("/patients/mrn/MRN-1002").await.body.contains("Not enrolled"), "nothing stored");
    // The same refusals as the patient meets them in the browser: a used link, and the wallet of
    // an account already enrolled here.
    browser.goto(&link).await;
    browser.wait_for_text("This enrollment link is unknown, already used or expired").await;
    browser.screenshot("enroll-link-used").await;
    browser.goto(&second).await;
    browser.wait_for_text("Link your account to").await;
    browser.install_wallet().await;
    browser.click("#wallet-enroll").await;
    browser.serve_wallet(&env, &patient, 2).await;
    browser.wait_for_text("Enrollment failed: account").await;
    browser.wait_for_text("is already enrolled at this hospital, as medical record number MRN-1001").await;
    browser.screenshot("enroll-refused-already-enrolled").await;
    assert!(nina.get("/patients/mrn/MRN-1002").await.body.contains("Not enrolled"), "still nothing stored");

    // The nurse finds Jane by name and submits for her, picking her from the suggestions.
    for (query, finds) in [
        ("jan smi", "Jane Smith"),
        ("MRN-1001", "Jane Smith"),
        ("1980-02-29", "Jane Smith"),
        ("smith", "John Smithers"),
    ] {
        let page = nina.get(&format!("/patients?q={}", query.replace(' ', "+"))).await;
        assert!(page.body.contains(finds), "{query} finds {finds}");
    }
    assert!(!nina.get("/patients?q=jones").await.body.contains("Jane Smith"));
    browser.sign_in_staff(&server, "nina").await;
    browser.goto(&format!("{}/patients?q=smi", server.url)).await;
    browser.wait_for_text("Patients 1–2 of 2.").await;
    browser.screenshot("directory-search").await;
    browser.goto(&format!("{}/clerk/health", server.url)).await;
    browser.fill("patient", "jan").await;
    let mut suggested = String::new();
    for _ in 0..50 {
        let options = browser.client.execute("return Array.from(document.querySelectorAll('#patient-suggestions option')).map(o => o.value + '|' + o.label);", vec![]).await.unwrap();
        if let Some(first) = options.as_array().and_then(|o| o.first()).and_then(|o| o.as_str()) {
            suggested = first.to_string();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(suggested, "MRN-1001|Jane Smith · born 1980-02-29 · MRN MRN-1001", "the suggestion names her");
    browser.fill("patient", "MRN-1001").await;
    browser.set_value("recorded_at", "2026-11-02").await;
    for (field, value) in [
        ("pregnancies", "1"),
        ("glucose", "120"),
        ("blood_pressure", "70"),
        ("skin_thickness", "30"),
        ("insulin", "0"),
        ("bmi", "31.5"),
        ("diabetes_pedigree", "0.4"),
        ("age", "46"),
    ] {
        browser.fill(field, value).await;
    }
    browser.click_text("Submit for approval").await;
    browser.wait_for_text("Submitted entry 1: health details for patient Jane Smith (MRN MRN-1001)").await;
    browser.goto(&format!("{}/clerk", server.url)).await;
    browser.wait_for_text("Jane Smith MRN MRN-1001").await;
    browser.screenshot("clerk-submissions-by-name").await;
    assert!(nina.get("/clerk?patient=MRN-1001").await.body.contains("Submissions 1–1 of 1."), "a list narrows by MRN");
    assert_eq!(nina.get("/clerk?patient=MRN-1002").await.status, 400, "an MRN not enrolled names no account");
    let refused = nina.post_form("/clerk/health", &[("_csrf", &csrf), ("patient", "MRN-1002")]).await;
    assert!(refused.body.contains("MRN-1002 is not linked to an account: start enrollment"), "{}", refused.body);

    // The patient is greeted by name; unlinking needs the patient's request, and is logged.
    let mut jane = HttpVisitor::new(&server);
    jane.sign_in_patient(&patient).await;
    assert!(jane.get("/patient").await.body.contains("Welcome, Jane Smith."));
    let unconfirmed = nina.post_form("/patients/mrn/MRN-1001/unlink", &[("_csrf", &csrf)]).await;
    assert_eq!(unconfirmed.status, 400);
    let unlinked = nina.post_form("/patients/mrn/MRN-1001/unlink", &[("_csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(unlinked.status, 303);
    assert!(!jane.get("/patient").await.body.contains("Welcome, Jane Smith."));
    let log = hrm.json(&hrm.with_archive(&["access-log", "list", "--patient", "dev:4"]));
    let actions: Vec<String> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
                e["user"].as_str().unwrap_or("")
            )
        })
        .collect();
    for wanted in [
        "enrollment refused: already enrolled denied nina",
        "enrollment: account unlinked at the patient's request allowed nina",
    ] {
        assert!(actions.iter().any(|a| a == wanted), "the access log holds '{wanted}': {actions:?}");
    }
    let linked =
        actions.iter().find(|a| a.starts_with("enrollment: account linked to this hospital's record (link issued 20"));
    assert!(linked.is_some_and(|a| a.ends_with(") allowed nina")), "the link and its issue are logged: {actions:?}");
}
