//! Bad input: each case gets a clear message and a non-zero exit, and no transaction is sent.

use crate::common::cli::{Hrm, head, health_json};
use crate::common::{TestEnv, dev};

/// A deployed consortium: dev:1 is a hospital with dev:2 as its panel, dev:6 a patient with a key.
async fn consortium(env: &TestEnv) -> Hrm<'_> {
    let hrm = Hrm::new(env);
    hrm.set_up_consortium(&["dev:2"], "dev:6");
    hrm
}

/// Runs a command that must fail (exit status 2, an error) without mining anything; returns its
/// stderr.
async fn refused(hrm: &Hrm<'_>, args: &[&str]) -> String {
    let before = head(hrm.env).await;
    let output = hrm.run(args);
    let stderr = String::from_utf8(output.stderr).expect("stderr is UTF-8");
    assert_eq!(output.status.code(), Some(2), "hrm {} should exit with 2: {stderr}", args.join(" "));
    assert_eq!(head(hrm.env).await, before, "hrm {} sent a transaction", args.join(" "));
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

#[test]
fn exit_statuses_are_documented_and_usage_errors_exit_2() {
    let hrm = |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_hrm")).args(args).output().unwrap();
    let help = String::from_utf8(hrm(&["--help"]).stdout).unwrap();
    for line in ["Exit status:", "0  success", "1  the command found something", "2  an error", "3  `hrm migrate`"] {
        assert!(help.contains(line), "`hrm --help` does not explain '{line}':\n{help}");
    }
    let audit_help = String::from_utf8(hrm(&["audit", "--help"]).stdout).unwrap();
    assert!(audit_help.contains("1 it does not"), "{audit_help}");
    let migrate_help = String::from_utf8(hrm(&["migrate", "--help"]).stdout).unwrap();
    assert!(migrate_help.contains("3 some entries could not be migrated"), "{migrate_help}");

    let usage = hrm(&["vote"]);
    assert_eq!(usage.status.code(), Some(2), "{}", String::from_utf8_lossy(&usage.stderr));
    let unknown = hrm(&["no-such-command"]);
    assert_eq!(unknown.status.code(), Some(2));
}

fn record_file(hrm: &Hrm<'_>, name: &str, contents: &str) -> String {
    hrm.write_file(name, contents).to_str().unwrap().to_string()
}

#[tokio::test]
async fn identities_and_signers() {
    let env = TestEnv::start("errors_identity").await;
    let hrm = consortium(&env).await;
    let good = record_file(&hrm, "ok.json", &health_json("148", "n"));

    let err = refused(&hrm, &["--from", "nobody", "submit-health", "--patient", "dev:6", "--file", &good]).await;
    assert!(err.contains("unknown account 'nobody'"), "{err}");
    let err = refused(&hrm, &["--from", "dev:1", "submit-health", "--patient", "nobody", "--file", &good]).await;
    assert!(err.contains("unknown account 'nobody'"), "{err}");

    let created = hrm.command(&["account", "new", "carol"]).env("HRM_PASSWORD", "right").output().unwrap();
    assert!(created.status.success());
    let output = hrm.command(&["--from", "carol", "key", "publish"]).env("HRM_PASSWORD", "wrong").output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && err.contains("wrong password for the keystore of 'carol'"), "{err}");
    let output = hrm.command(&["--from", "carol", "key", "publish"]).output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && err.contains("HRM_PASSWORD"), "{err}");

    // A keystore file holds no plaintext key.
    let keystore = std::fs::read_to_string(hrm.home().join("keystores/carol.json")).unwrap();
    assert!(keystore.contains("\"crypto\"") && keystore.contains("scrypt"));
}

#[tokio::test]
async fn roles_keys_and_funds() {
    let env = TestEnv::start("errors_roles").await;
    let hrm = consortium(&env).await;
    let good = record_file(&hrm, "ok.json", &health_json("148", "n"));

    let err = refused(&hrm, &["--from", "dev:8", "submit-health", "--patient", "dev:6", "--file", &good]).await;
    assert!(err.contains("is not a registered hospital") && err.contains("NotRegisteredHospital"), "{err}");
    let stranger = dev(8).address().to_string();
    assert!(err.contains(&stranger), "{err}");

    let err = refused(&hrm, &["--from", "dev:1", "submit-health", "--patient", "dev:7", "--file", &good]).await;
    assert!(err.contains("has not published a public key") && err.contains("hrm key publish"), "{err}");

    // A fresh keystore account has no ether.
    let created = hrm.command(&["account", "new", "broke"]).env("HRM_PASSWORD", "pw").output().unwrap();
    assert!(created.status.success());
    let before = head(&env).await;
    let output = hrm.command(&["--from", "broke", "key", "publish"]).env("HRM_PASSWORD", "pw").output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && err.contains("cannot pay for this transaction's gas"), "{err}");
    assert_eq!(head(&env).await, before);
}

#[tokio::test]
async fn endpoints_and_deployments() {
    let env = TestEnv::start("errors_endpoints").await;
    let hrm = consortium(&env).await;
    let good = record_file(&hrm, "ok.json", &health_json("148", "n"));

    let err = hrm.fails(&[
        "--rpc-url",
        "http://127.0.0.1:9",
        "--from",
        "dev:1",
        "submit-health",
        "--patient",
        "dev:6",
        "--file",
        &good,
    ]);
    assert!(err.contains("cannot reach the JSON-RPC endpoint http://127.0.0.1:9"), "{err}");

    // Point the saved deployment at an address without code.
    let path = hrm.home().join("deployments/31337.json");
    let mut record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    record["address"] = "0x000000000000000000000000000000000000dEaD".into();
    std::fs::write(&path, record.to_string()).unwrap();
    let err = refused(&hrm, &["--from", "dev:1", "submit-health", "--patient", "dev:6", "--file", &good]).await;
    assert!(err.contains("no contract code at the saved address 0x000000000000000000000000000000000000dEaD"), "{err}");

    std::fs::remove_file(&path).unwrap();
    let err = refused(&hrm, &["status"]).await;
    assert!(err.contains("run `hrm deploy` first"), "{err}");
}

#[tokio::test]
async fn records_that_do_not_validate() {
    let env = TestEnv::start("errors_records").await;
    let hrm = consortium(&env).await;

    let high = record_file(&hrm, "high.json", &health_json("900", "n"));
    let err = refused(&hrm, &["--from", "dev:1", "submit-health", "--patient", "dev:6", "--file", &high]).await;
    assert!(err.contains("glucose 900 is outside the plausible range 40 to 600 mg/dL"), "{err}");

    let err = refused(
        &hrm,
        &[
            "--from",
            "dev:1",
            "submit-health",
            "--patient",
            "dev:6",
            "--recorded-at",
            "2026-11-02",
            "--pregnancies",
            "1",
            "--glucose",
            "100",
            "--blood-pressure",
            "70",
            "--skin-thickness",
            "20",
            "--insulin",
            "80",
            "--bmi",
            "95",
            "--diabetes-pedigree",
            "0.5",
            "--age",
            "40",
        ],
    )
    .await;
    assert!(err.contains("bmi 95 is outside the plausible range 10 to 80"), "{err}");

    // Next year is in the future on any day this test runs.
    let next_year = hrm::records::utc_date(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 366 * 86_400,
    );
    let future = record_file(&hrm, "future.json", &health_json("120", "n").replace("2026-11-02", &next_year));
    let err = refused(&hrm, &["--from", "dev:1", "submit-health", "--patient", "dev:6", "--file", &future]).await;
    assert!(err.contains(&format!("recorded_at {next_year} is in the future (today is ")), "{err}");
    let bill = format!(
        r#"{{"issued_at":"{next_year}","currency":"USD","line_items":[{{"description":"X","amount":"10.00"}}],"total":"10.00"}}"#
    );
    let future = record_file(&hrm, "future-bill.json", &bill);
    let err = refused(&hrm, &["--from", "dev:1", "submit-bill", "--patient", "dev:6", "--file", &future]).await;
    assert!(err.contains(&format!("issued_at {next_year} is in the future")), "{err}");

    let broken = record_file(
        &hrm,
        "broken.json",
        "{\n  \"recorded_at\": \"2026-11-02\",\n  \"readings\": {\n    \"glucose\": 12x\n  }\n}\n",
    );
    let err = refused(&hrm, &["--from", "dev:1", "submit-health", "--patient", "dev:6", "--file", &broken]).await;
    assert!(err.contains("broken.json: line 4, column"), "{err}");

    let err = refused(
        &hrm,
        &[
            "--from",
            "dev:1",
            "submit-bill",
            "--patient",
            "dev:6",
            "--issued-at",
            "2026-11-02",
            "--currency",
            "USD",
            "--item",
            "Consultation=120.00",
            "--item",
            "Test=45.50",
            "--total",
            "170.00",
        ],
    )
    .await;
    assert!(err.contains("the total 170.00 does not equal the sum of the line items, 165.50"), "{err}");

    let bill = record_file(
        &hrm,
        "bill.json",
        r#"{"issued_at":"2026-11-02","currency":"USD","line_items":[{"description":"X","amount":"10.00"}],"total":"10.01"}"#,
    );
    let err = refused(&hrm, &["--from", "dev:1", "submit-bill", "--patient", "dev:6", "--file", &bill]).await;
    assert!(err.contains("does not equal the sum"), "{err}");

    let missing = hrm.home().join("nope.json");
    let err =
        refused(&hrm, &["--from", "dev:1", "submit-health", "--patient", "dev:6", "--file", missing.to_str().unwrap()])
            .await;
    assert!(err.contains("reading the record file") && err.contains("nope.json"), "{err}");
}
