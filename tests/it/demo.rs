//! `hrm demo` tells the whole story and leaves nothing running; with `--serve` it leaves St Mary's
//! web app running on the story's data until Ctrl-C.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::TestEnv;
use crate::common::cli::Hrm;
use crate::common::web::HttpVisitor;

/// The demo with `--serve`: the story, then the web app with the printed sign-in details working
/// for staff and patients, then Ctrl-C stops the server, the node and the database.
#[tokio::test]
async fn the_demo_serves_its_data_until_ctrl_c_and_cleans_up() {
    let env = TestEnv::start("demo").await;
    let hrm = Hrm::new(&env);
    let mut child = hrm
        .command(&["demo", "--serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting hrm demo --serve");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut out = String::new();
    while !out.contains("Press Ctrl-C") {
        let mut line = String::new();
        if stdout.read_line(&mut line).expect("reading the demo's output") == 0 {
            let _ = child.kill();
            panic!("the demo ended before serving:\n{out}");
        }
        out.push_str(&line);
    }
    for expected in ["Five hospitals", "approved", "rejected", "migrated 5 (0 failed)", "clean", "P(diabetes)", "Chidi"]
    {
        assert!(out.contains(expected), "the demo did not show '{expected}':\n{out}");
    }
    assert!(out.contains("An outsider gets nothing"), "{out}");
    assert!(!out.contains('\u{1b}'), "the demo wrote terminal escapes into a pipe:\n{out}");

    let bound = out
        .split("(listening on ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("the server's address")
        .to_string();
    let base = format!("http://{bound}");
    // Staff sign in with the printed passwords, each to their own pages.
    let admin_password = printed_password(&out, "admin");
    let mut admin = HttpVisitor::at(&base);
    let reply = admin.sign_in_staff("admin", &admin_password).await;
    assert_eq!((reply.status, reply.header("location")), (303, "/admin".to_string()), "{}", reply.body);
    let status = admin.get("/admin").await;
    assert!(status.body.contains("Hope") && status.body.contains("Lakeside"), "{}", status.body);
    let mut clerk = HttpVisitor::at(&base);
    assert_eq!(clerk.sign_in_staff("clerk", &printed_password(&out, "clerk")).await.status, 303);
    assert_eq!(clerk.get("/clerk").await.status, 200);
    assert_eq!(clerk.get("/admin").await.status, 403, "the clerk is not an admin");
    assert_eq!(HttpVisitor::at(&base).sign_in_staff("admin", "not-the-password").await.status, 401);
    // Asha's printed link signs her in to her migrated record (glucose 148) and its prediction.
    let link = out.lines().filter(|l| l.trim_start().starts_with("Asha ")).find_map(|l| l.split_once("/sign-in/link/"));
    let link = format!("/sign-in/link/{}", link.expect("a sign-in link for Asha").1.trim());
    let mut asha = HttpVisitor::at(&base);
    let reply = asha.get(&link).await;
    assert_eq!((reply.status, reply.header("location")), (303, "/patient".to_string()), "{}", reply.body);
    let records = asha.get("/patient").await;
    assert!(records.body.contains("148") && records.body.contains("72%"), "{}", records.body);

    // Ctrl-C stops everything.
    // SAFETY: sending SIGINT to the child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the demo did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(100));
    };
    stdout.read_to_string(&mut out).unwrap();
    assert!(status.success(), "the demo exited with {status}:\n{out}");
    assert!(out.contains("were stopped"), "{out}");
    assert!(!hrm::devnet::accepts_connections(bound.rsplit(':').next().unwrap().parse().unwrap()), "still serving");
    // The services it started are gone.
    let line = out.lines().find(|l| l.starts_with("chain http://127.0.0.1:")).expect("the demo names its services");
    let ports: Vec<u16> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|part| part.parse().ok())
        .filter(|port| *port > 1024)
        .collect();
    assert_eq!(ports.len(), 2, "{line}");
    for port in ports {
        assert!(!hrm::devnet::accepts_connections(port), "something still listens on {port}");
    }
}

/// The password the demo printed for a staff account (its row of the staff table).
fn printed_password(out: &str, username: &str) -> String {
    let row =
        out.lines().find(|l| l.starts_with(&format!("│ {username} "))).expect("the staff table names the account");
    row.split('┆').nth(1).expect("a password column").trim().to_string()
}

#[tokio::test]
async fn the_demo_runs_on_a_five_node_geth_network() {
    let env = TestEnv::start("demo_geth").await;
    let hrm = Hrm::new(&env);
    let out = hrm.ok(&["demo", "--engine", "geth"]);
    for expected in ["five-node Geth network", "rejected", "migrated 5 (0 failed)", "clean", "were stopped"] {
        assert!(out.contains(expected), "the Geth demo did not show '{expected}':\n{out}");
    }
}
