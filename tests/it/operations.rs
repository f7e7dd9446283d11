//! What a hospital's IT team runs `hrm serve` with: health and readiness probes for the load
//! balancer, Prometheus metrics on their own address, a structured log with a request id on every
//! line, and a sign-in throttle that reads the client's address through a trusted reverse proxy.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use alloy::transports::http::reqwest;
use hrm::chain::dev_keys::dev_account;
use hrm::devnet::{AnvilNode, AnvilOptions, DocumentDbServer, free_port};
use serde_json::Value;

use crate::common::TestEnv;
use crate::common::cli::{Hrm, health_json};
use crate::common::proxy::ForwardingProxy;
use crate::common::web::{HttpVisitor, STAFF_PASSWORD, Server};

/// A glucose reading and a note no log line may ever hold.
const GLUCOSE: &str = "163.5";
const NOTE: &str = "feels dizzy after meals";

/// The value of the sample `name{labels}` in a Prometheus exposition (0 when absent).
fn sample(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

async fn scrape(url: &str) -> String {
    let response = reqwest::get(url).await.expect("the metrics endpoint answers");
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.unwrap()
}

/// Asks `/readyz` until its answer has `status`, for up to 20 s; returns the body.
async fn readiness_becomes(visitor: &mut HttpVisitor, status: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = visitor.get("/readyz").await;
        if reply.status == status {
            return reply.json();
        }
        assert!(Instant::now() < deadline, "/readyz stayed {}: {}", reply.status, reply.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn probes_metrics_and_a_json_log_show_what_the_server_does_and_never_a_record() {
    // A database this test stops and restarts on the same port, under the running server.
    let dir = tempfile::tempdir().unwrap();
    let anvil_options = AnvilOptions { port: free_port().unwrap(), tie_to_parent: true, ..Default::default() };
    let anvil = AnvilNode::start(&anvil_options, &dir.path().join("anvil.log")).unwrap();
    let db_port = free_port().unwrap();
    let start_database = || DocumentDbServer::start(&dir.path().join("docdb"), db_port, true).unwrap();
    let mut database = start_database();
    let env = TestEnv::attach("operations", &anvil.rpc_url(), database.uri()).await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    let record = hrm.write_file("record.json", &health_json(GLUCOSE, NOTE));
    let submit = ["--from", "dev:1", "--database", "ops", "submit-health", "--patient", "dev:4", "--file"];
    hrm.ok(&[&submit[..], &[record.to_str().unwrap()]].concat());
    hrm.ok(&["--from", "dev:2", "vote", "1", "--approve"]);
    hrm.ok(&["--from", "dev:4", "vote", "1", "--approve"]);
    let flags = ["--follow", "--poll-interval", "0.2", "--metrics-listen", "127.0.0.1:0", "--log-format", "json"];
    let server = Server::start(&hrm, "dev:1", "ops", &[("nina", "reviewer")], &flags);
    let metrics_url = server.metrics_url();

    // Probes answer without a session, in JSON, and the follower has caught up.
    let mut probe = HttpVisitor::new(&server);
    let health = probe.get("/healthz").await;
    assert_eq!((health.status, health.json()["status"].as_str()), (200, Some("up")));
    assert!(health.header("set-cookie").is_empty(), "a probe gets no session");
    let ready = readiness_becomes(&mut probe, 200).await;
    let checks: Vec<&str> = ready["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(checks, ["node", "database", "follower"], "{ready}");
    assert!(probe.cookie.is_none());

    // The metrics move with what people do.
    let before = scrape(&metrics_url).await;
    let mut guesser = HttpVisitor::new(&server);
    assert_eq!(guesser.sign_in_staff("nina", "not her password").await.status, 401);
    let mut patient = HttpVisitor::new(&server);
    assert_eq!(patient.sign_in_patient(&dev_account(4)).await.status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = patient.get("/patient/records/1").await;
        if page.status == 200 || Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(page.status == 200 && page.body.contains(GLUCOSE), "the patient reads the record: {}", page.status);
    let request_id = page.header("x-request-id");
    assert_eq!(request_id.len(), 16, "every answer names its request");
    let after = scrape(&metrics_url).await;
    let failed_sign_ins = r#"hrm_http_requests_total{route="/sign-in/staff",status="401"}"#;
    assert_eq!(sample(&after, failed_sign_ins) - sample(&before, failed_sign_ins), 1.0, "{after}");
    assert_eq!(sample(&after, "hrm_sign_in_failures_total") - sample(&before, "hrm_sign_in_failures_total"), 1.0);
    let record_reads = r#"hrm_http_request_duration_seconds_count{route="/patient/records/{entry}"}"#;
    assert!(sample(&after, record_reads) >= 1.0, "{after}");
    // Sessions are counted in the database every few seconds (other servers' too).
    let deadline = Instant::now() + Duration::from_secs(15);
    while sample(&scrape(&metrics_url).await, "hrm_sessions_open") < 2.0 {
        assert!(Instant::now() < deadline, "the sessions-open gauge never counted the two sessions");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(sample(&after, "hrm_records_migrated_total"), 1.0, "the follower archived the record: {after}");
    assert!(after.contains("hrm_follower_lag_blocks "), "{after}");

    // The database goes away: the server is not ready, and says why; it comes back: ready again.
    database.stop();
    let not_ready = readiness_becomes(&mut probe, 503).await;
    let failing: Vec<&Value> = not_ready["checks"].as_array().unwrap().iter().filter(|c| c["ok"] == false).collect();
    assert!(failing.iter().any(|c| c["name"] == "database"), "{not_ready}");
    let outage_page = patient.get("/patient").await;
    assert!(outage_page.status == 500 && outage_page.body.contains("Try again in a minute"), "{}", outage_page.body);
    database = start_database();
    readiness_becomes(&mut probe, 200).await;
    let errors = scrape(&metrics_url).await;
    assert!(sample(&errors, r#"hrm_service_errors_total{service="database"}"#) >= 1.0, "{errors}");
    drop(database);

    // Every log line is JSON; each request's line carries its id; nothing private is written.
    let log = server.log_text();
    let lines: Vec<Value> = log
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let answered: Vec<&Value> = lines.iter().filter(|l| l["message"] == "answered").collect();
    assert!(answered.len() >= 6, "{log}");
    assert!(answered.iter().all(|l| l["span"]["request_id"].as_str().is_some_and(|id| id.len() == 16)), "{log}");
    let record_line =
        answered.iter().find(|l| l["span"]["request_id"] == request_id.as_str()).expect("the read is logged");
    assert_eq!(record_line["span"]["route"], "/patient/records/{entry}");
    assert_eq!(record_line["status"], 200);
    assert_log_keeps_secrets(&log, &[GLUCOSE, NOTE, "not her password", patient.cookie.as_deref().unwrap()]);
}

/// A log holds none of `secrets`, no patient's address and no record field.
pub fn assert_log_keeps_secrets(log: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!log.contains(secret), "the log holds {secret:?}:\n{log}");
    }
    let patient = format!("{:#x}", dev_account(4).address());
    assert!(!log.to_lowercase().contains(&patient[2..]), "the log names the patient:\n{log}");
    assert!(!log.contains("glucose") && !log.contains("mg/dL"), "the log holds a record field:\n{log}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_one_attacker_cannot_lock_a_nurse_out() {
    let env = TestEnv::start("trusted_proxy").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    let server = Server::start(&hrm, "dev:1", "proxied", &[("nurse", "reviewer")], &["--trusted-proxy", "127.0.0.1"]);
    let proxy = ForwardingProxy::start(&server.url).await;
    let (attacker_address, nurse_address): (IpAddr, IpAddr) =
        ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());

    // Twenty failures with made-up names lock the attacker's own address, and only that: a name
    // it claims in X-Forwarded-For does not help it, since the proxy's entry comes last.
    let mut attacker = HttpVisitor::from_address(&proxy.url, Some(attacker_address));
    for attempt in 0..20 {
        let reply = attacker.sign_in_staff(&format!("made-up-{attempt}"), "guess").await;
        assert_eq!(reply.status, 401, "attempt {attempt}");
    }
    assert_eq!(attacker.sign_in_staff("made-up-20", "guess").await.status, 429, "the attacker is locked out");
    let csrf = attacker.get("/sign-in").await.csrf();
    let fields = [("_csrf", csrf.as_str()), ("username", "made-up-21"), ("password", "guess")];
    let claimed = nurse_address.to_string();
    let spoofed = attacker.post_form_with_headers("/sign-in/staff", &fields, &[("x-forwarded-for", &claimed)]).await;
    assert_eq!(spoofed.status, 429, "a forged X-Forwarded-For does not lift the lock");

    // The nurse at another client, through the same proxy, signs in.
    let mut nurse = HttpVisitor::from_address(&proxy.url, Some(nurse_address));
    let signed_in = nurse.sign_in_staff("nurse", STAFF_PASSWORD).await;
    assert_eq!((signed_in.status, signed_in.header("location")), (303, "/reviewer".to_string()), "{}", signed_in.body);
    assert_eq!(nurse.get("/reviewer").await.status, 200);

    // The readable log has a request id on every request's line, and no password or cookie.
    let log = server.log_text();
    let request_lines: Vec<&str> = log.lines().filter(|l| l.contains("answered")).collect();
    assert!(request_lines.len() >= 22, "{log}");
    assert!(request_lines.iter().all(|l| l.contains("request_id=") && l.contains("route=")), "{log}");
    assert_log_keeps_secrets(&log, &[STAFF_PASSWORD, "guess", nurse.cookie.as_deref().unwrap()]);
}

#[tokio::test]
async fn sessions_live_in_the_database_through_a_restart_and_across_servers() {
    let env = TestEnv::start("shared_sessions").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    // Two servers behind one public address, as behind a load balancer.
    let public = ["--public-url", "http://records.st-mary.test"];
    let mut first = Server::start(&hrm, "dev:1", "shared", &[("nina", "reviewer")], &public);
    let second = Server::start(&hrm, "dev:1", "shared", &[], &public);

    // Signed in on one server, the same cookie works on the other.
    let mut nina = HttpVisitor::new(&first);
    assert_eq!(nina.sign_in_staff("nina", STAFF_PASSWORD).await.status, 303);
    let mut nina_elsewhere = HttpVisitor::new(&second);
    nina_elsewhere.cookie = nina.cookie.clone();
    assert_eq!(nina_elsewhere.get("/reviewer").await.status, 200, "the second server knows the session");

    // A challenge one server issued is redeemed on the other.
    let patient = dev_account(4);
    let mut at_first = HttpVisitor::new(&first);
    let challenge = at_first
        .post_json("/sign-in/challenge", None, serde_json::json!({ "address": patient.address() }))
        .await
        .json();
    let message = challenge["message"].as_str().unwrap().to_string();
    let mut at_second = HttpVisitor::new(&second);
    let csrf = at_second.get("/sign-in").await.csrf();
    let signature = crate::common::web::sign_hex(&patient, &message);
    let body = serde_json::json!({ "message": message, "signature": signature });
    assert_eq!(at_second.post_json("/sign-in/wallet", Some(&csrf), body).await.status, 200);
    assert_eq!(at_second.get("/patient").await.status, 200);

    // Failed sign-ins count on every server: five at one lock the name at the other.
    let mut guesser = HttpVisitor::new(&first);
    for _ in 0..5 {
        assert_eq!(guesser.sign_in_staff("nina", "wrong guess at it").await.status, 401);
    }
    assert_eq!(HttpVisitor::new(&second).sign_in_staff("nina", STAFF_PASSWORD).await.status, 429);

    // A restart signs nobody out.
    assert!(first.terminate().success());
    let restarted = Server::start(&hrm, "dev:1", "shared", &[], &public);
    let mut nina_after = HttpVisitor::new(&restarted);
    nina_after.cookie = nina.cookie.clone();
    assert_eq!(nina_after.get("/reviewer").await.status, 200, "the cookie still works after a restart");

    // Signing out on one server ends the session on every server.
    let csrf = nina_after.get("/reviewer").await.csrf();
    assert_eq!(nina_after.post_form("/sign-out", &[("_csrf", &csrf)]).await.status, 303);
    // The other server reads a session again at most every 2 s.
    let deadline = Instant::now() + Duration::from_secs(5);
    while nina_elsewhere.get("/reviewer").await.status != 303 {
        assert!(Instant::now() < deadline, "the session still works on the other server after signing out");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn cookie_less_requests_store_no_session_and_signed_out_sessions_are_bounded() {
    let env = TestEnv::start("cookieless").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    let server = Server::start(&hrm, "dev:1", "crawled", &[], &[]);
    let sessions =
        || async { env.mongo_client().await.database("crawled").collection::<mongodb::bson::Document>("web_sessions") };
    let resident = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap().to_string();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    };

    // 20,000 requests without a cookie (probes, a crawler, redirects, assets), eight at a time.
    let paths = ["/", "/patient", "/healthz", "/assets/app.css", "/reviewer", "/no-such-page"];
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let crawl = |count: usize| {
        let (client, base) = (client.clone(), server.url.clone());
        async move {
            let workers = (0..8).map(|worker| {
                let (client, base) = (client.clone(), base.clone());
                async move {
                    for i in (worker..count).step_by(8) {
                        let response = client.get(format!("{base}{}", paths[i % paths.len()])).send().await.unwrap();
                        assert!(
                            response.headers().get("set-cookie").is_none(),
                            "{} set a cookie",
                            paths[i % paths.len()]
                        );
                    }
                }
            });
            futures_util::future::join_all(workers).await;
        }
    };
    crawl(2_000).await;
    let warmed_up = resident(server.pid());
    crawl(20_000).await;
    let after = resident(server.pid());
    assert_eq!(sessions().await.count_documents(mongodb::bson::doc! {}).await.unwrap(), 0, "no session was stored");
    assert!(
        after < warmed_up + 16 * 1024 * 1024,
        "the server's memory grew from {warmed_up} to {after} bytes over 20,000 requests"
    );

    // The sign-in page gives a form, so it stores a session; the database keeps a bounded number.
    for _ in 0..30 {
        let mut visitor = HttpVisitor::new(&server);
        let page = visitor.get("/sign-in").await;
        assert!(page.status == 200 && visitor.cookie.is_some(), "the sign-in page keeps a session");
    }
    assert_eq!(sessions().await.count_documents(mongodb::bson::doc! {}).await.unwrap(), 30);
    let archive = hrm::store::Archive::connect(&env.mongodb_uri, "crawled").await.unwrap();
    assert_eq!(archive.prune_signed_out_sessions(10).await.unwrap(), 20, "the least recently used go");
    assert_eq!(sessions().await.count_documents(mongodb::bson::doc! {}).await.unwrap(), 10);

    // What has expired goes even where the server has no TTL indexes (FerretDB).
    let past = mongodb::bson::DateTime::from_millis(mongodb::bson::DateTime::now().timestamp_millis() - 1000);
    sessions()
        .await
        .update_many(mongodb::bson::doc! {}, mongodb::bson::doc! { "$set": { "expires_at": past } })
        .await
        .unwrap();
    assert_eq!(archive.delete_expired().await.unwrap(), 10);
    assert_eq!(sessions().await.count_documents(mongodb::bson::doc! {}).await.unwrap(), 0);
}

#[tokio::test]
async fn doctor_names_each_problem_and_what_to_do_about_it() {
    let env = TestEnv::start("doctor").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    let outcome = |checks: &Value, name: &str| -> String {
        let check = checks.as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{checks}"));
        check["outcome"].as_str().unwrap().to_string()
    };

    // A fresh database lacks the indexes, and the hospital has published no endpoint: warnings.
    let checks = hrm.json(&["--from", "dev:1", "doctor"]);
    for (name, expected) in [
        ("config", "ok"),
        ("keystores", "ok"),
        ("node", "ok"),
        ("clock", "ok"),
        ("database", "warning"),
        ("endpoint", "warning"),
    ] {
        assert_eq!(outcome(&checks, name), expected, "{name}: {checks}");
    }

    // The server creates the indexes; the endpoint it answers at is published and probed.
    let server = Server::start(&hrm, "dev:1", &env.database_name, &[], &[]);
    hrm.ok(&["--from", "dev:1", "hospital", "endpoint", "set", &server.url]);
    let checks = hrm.json(&["--from", "dev:1", "doctor"]);
    assert_eq!(outcome(&checks, "database"), "ok", "{checks}");
    assert_eq!(outcome(&checks, "endpoint"), "ok", "{checks}");

    // A keystore others can read is a problem, with the command that fixes it; exit 1.
    let keystores = hrm.home().join("keystores");
    std::fs::create_dir_all(&keystores).unwrap();
    let loose = keystores.join("st-mary.json");
    std::fs::write(&loose, "{}").unwrap();
    std::fs::set_permissions(&loose, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&keystores, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let output = hrm.run(&["--from", "dev:1", "doctor"]);
    assert_eq!(output.status.code(), Some(1), "a problem exits 1");
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.contains("PROBLEM") && table.contains(&format!("chmod 600 {}", loose.display())), "{table}");

    // A node that does not answer is a problem that says where it looked and what to do.
    std::fs::remove_file(&loose).unwrap();
    let dead = format!("http://127.0.0.1:{}", hrm::devnet::free_port().unwrap());
    let output = hrm.run(&["--rpc-url", &dead, "--json", "doctor"]);
    assert_eq!(output.status.code(), Some(1));
    let checks: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(outcome(&checks, "node"), "problem", "{checks}");
    let node = checks.as_array().unwrap().iter().find(|c| c["name"] == "node").unwrap();
    assert!(
        node["detail"].as_str().unwrap().contains(&dead) && node["remedy"].as_str().unwrap().contains("--rpc-url"),
        "{node}"
    );
}

/// The systemd unit in `contrib/` is one systemd accepts, hardened, and its command line is one
/// `hrm serve` accepts.
#[test]
fn the_systemd_unit_is_valid_and_hardened() {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/hrm-serve.service")).unwrap();
    for directive in [
        "User=hrm",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "UMask=0077",
    ] {
        assert!(unit.contains(directive), "the unit lacks {directive:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("hrm-serve.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/hrm", env!("CARGO_BIN_EXE_hrm"))).unwrap();
    let verified = std::process::Command::new("systemd-analyze").arg("verify").arg(&copy).output().unwrap();
    let complaints = String::from_utf8_lossy(&verified.stderr);
    assert!(verified.status.success() && complaints.trim().is_empty(), "systemd-analyze verify: {complaints}");

    // ExecStart's flags, as `hrm serve` parses them (--help stops before anything is started).
    let exec: String = unit.split("ExecStart=").nth(1).unwrap().split("\n#").next().unwrap().replace("\\\n", " ");
    let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    let parsed = std::process::Command::new(env!("CARGO_BIN_EXE_hrm")).args(&args).arg("--help").output().unwrap();
    assert!(parsed.status.success(), "{args:?}: {}", String::from_utf8_lossy(&parsed.stderr));
}

#[tokio::test]
async fn a_follower_serves_metrics_of_what_it_migrates() {
    let env = TestEnv::start("follower_metrics").await;
    let hrm = Hrm::new(&env);
    let parties = crate::migration::consortium(&hrm).await;
    let address = format!("127.0.0.1:{}", hrm::devnet::free_port().unwrap());
    let migrate = ["--poll-interval", "0.2", "--metrics-listen", address.as_str()];
    let mut follower = crate::follow::Follower::spawn_with(&hrm, &[], &migrate);
    follower.wait_for("that it watches the chain", |event| event["event"] == "watching");
    crate::migration::entry(&parties, &crate::migration::health(120.0), Some(true)).await;
    follower.wait_for("the approval archived", crate::follow::migrated_one);
    let metrics = scrape(&format!("http://{address}/metrics")).await;
    assert_eq!(sample(&metrics, "hrm_records_migrated_total"), 1.0, "{metrics}");
    assert_eq!(sample(&metrics, "hrm_records_failed_total"), 0.0, "{metrics}");
    assert!(metrics.contains("hrm_follower_lag_blocks "), "{metrics}");
}

#[tokio::test]
async fn a_server_uses_the_next_node_when_the_first_does_not_answer() {
    let env = TestEnv::start("server_failover").await;
    let hrm = Hrm::new(&env);
    hrm.set_up_consortium(&["dev:2"], "dev:4");
    let dead = format!("http://127.0.0.1:{}", hrm::devnet::free_port().unwrap());
    let nodes = ["--rpc-url", dead.as_str(), "--rpc-url", env.rpc_url.as_str()];
    let server = Server::start(&hrm, "dev:1", "failover", &[("nina", "reviewer")], &nodes);
    let mut nina = HttpVisitor::new(&server);
    assert_eq!(nina.sign_in_staff("nina", STAFF_PASSWORD).await.status, 303);
    let queue = nina.get("/reviewer").await;
    assert_eq!(queue.status, 200, "the queue is read from the chain through the second node: {}", queue.body);
    let ready = HttpVisitor::new(&server).get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
}
