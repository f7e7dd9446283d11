//! `hrm doctor`: what a hospital's machine needs, checked, with what to do about each problem.

use std::process::ExitCode;

use clap::Args;
use hrm::config::FileConfig;
use hrm::doctor::{DoctorCheck, Outcome, check_clock, check_database, check_endpoint, check_keystores, check_node};

use super::context::Context;
use super::exit_code;
use super::output::{print_json, table};

#[derive(Debug, Args)]
pub struct DoctorArgs {}

/// Runs every check; exit 0 when nothing is a problem (warnings allowed), 1 when something is.
pub async fn run(context: &Context, _args: DoctorArgs) -> eyre::Result<ExitCode> {
    let mut checks = vec![check_config(context), check_keystores(&context.identities.keystores)];
    let connection = match context.rpc_urls() {
        Ok(urls) => hrm::chain::Connection::open_any(urls, context.receipt_timeout()).await,
        Err(error) => Err(hrm::chain::ChainError::Rpc(error.to_string())),
    };
    let (node, consortium) = check_node(connection, &context.deployments()).await;
    checks.push(node);
    if let Some(consortium) = &consortium {
        checks.push(check_clock(consortium).await);
    }
    checks.push(
        check_database(hrm::store::Archive::connect(&context.mongodb_uri(), &context.database_name()).await).await,
    );
    match (&consortium, context.global.from.as_deref()) {
        (Some(consortium), Some(from)) => match context.address(from) {
            Ok(hospital) => checks.push(check_endpoint(consortium, hospital).await),
            Err(error) => checks.push(DoctorCheck::problem(
                "endpoint",
                error.to_string(),
                "name the hospital's account with --from",
            )),
        },
        (Some(_), None) => checks.push(DoctorCheck::warning(
            "endpoint",
            "not checked: no hospital named",
            "pass --from with the hospital's account to check its published endpoint",
        )),
        (None, _) => {}
    }

    if context.json() {
        print_json(&checks)?;
    } else {
        let mut rows = table(["check", "result", "what was seen", "what to do"]);
        for check in &checks {
            let result = match check.outcome {
                Outcome::Ok => "ok",
                Outcome::Warning => "warning",
                Outcome::Problem => "PROBLEM",
            };
            rows.add_row(vec![check.name, result, &check.detail, check.remedy.as_deref().unwrap_or("")]);
        }
        println!("{rows}");
    }
    let problems = checks.iter().filter(|c| c.outcome == Outcome::Problem).count();
    Ok(if problems == 0 { ExitCode::SUCCESS } else { ExitCode::from(exit_code::FOUND) })
}

/// Which config file is read and where each service is found (a URI's password is not shown).
fn check_config(context: &Context) -> DoctorCheck {
    let file = FileConfig::path(context.global.config.as_deref(), &context.home)
        .map_or_else(|| "no hrm.toml (flags, environment and defaults)".to_string(), |p| p.display().to_string());
    let rpc = context
        .rpc_urls()
        .map_or_else(|e| e.to_string(), |urls| urls.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", "));
    let database = hrm::store::redact(&context.mongodb_uri());
    DoctorCheck::ok("config", format!("{file}; node {rpc}; database {database} ({})", context.database_name()))
}
