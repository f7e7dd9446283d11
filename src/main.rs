//! The `hrm` command: parse, dispatch, report the error, exit.

mod cli;
mod web;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away (`hrm … | head`).
    // SAFETY: restoring the default disposition of SIGPIPE before any thread writes output.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let args = cli::Cli::parse();
    match cli::run(args).await {
        Ok(code) => code,
        Err(report) => {
            eprintln!("error: {report}");
            for cause in report.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(cli::exit_code::ERROR)
        }
    }
}
