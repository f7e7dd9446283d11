//! `hrm bench …`: one file per benchmark. Each runs in one throw-away working folder.

mod gas;
mod latency;
mod migrate;
mod model;
mod serve;
mod throughput;

use clap::Subcommand;
use eyre::Context as _;

use super::context::Context;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Client-side latency of each function (signing and receipt included): p50, p95, p99; and
    /// the same vote and view made by `cast` as whole processes
    Latency(latency::LatencyArgs),
    /// Submissions per second from one account: sequential (each receipt awaited) versus
    /// pipelined (local nonces, receipts awaited together)
    Throughput(throughput::ThroughputArgs),
    /// Gas per function on a fresh Anvil (views by estimate), beside the same record stored the
    /// paper's way (plaintext strings in contract storage)
    Gas(gas::GasArgs),
    /// Seed approved entries on a fresh Anvil and time their migration into a fresh local
    /// MongoDB-wire server (from the first log query to the last write)
    Migrate(migrate::MigrateArgs),
    /// Time training on the 768 Pima rows and one prediction
    Model(model::ModelArgs),
    /// The web app's patient records page and reviewer queue under concurrent signed-in sessions
    /// (10,000 archived records of 1,000 patients; the server runs in its own process, whose peak
    /// memory is reported, the HTTP client in this one)
    Serve(serve::ServeArgs),
}

pub async fn run(context: &Context, command: BenchCommand) -> eyre::Result<()> {
    if cfg!(debug_assertions) && !context.json() {
        eprintln!("note: this is a debug build; run benchmarks with `cargo run --release -- bench …`");
    }
    let workdir = tempfile::Builder::new().prefix("hrm-bench-").tempdir().context("creating a working folder")?;
    let workdir = workdir.path();
    match command {
        BenchCommand::Latency(args) => latency::run(context, args, workdir).await,
        BenchCommand::Throughput(args) => throughput::run(context, args, workdir).await,
        BenchCommand::Gas(args) => gas::run(context, args, workdir).await,
        BenchCommand::Migrate(args) => migrate::run(context, args, workdir).await,
        BenchCommand::Model(args) => model::run(context, args),
        BenchCommand::Serve(args) => serve::run(context, args, workdir).await,
    }
}
