//! `hrm migrate`.

use std::process::ExitCode;

use alloy::transports::http::reqwest::Url;
use clap::Args;
use eyre::Context as _;
use hrm::chain::provider::websocket_url_of;
use hrm::chain::{Confirmations, Consortium};
use hrm::follower::{FollowEvent, FollowOptions, follow};
use hrm::migration::{MigrationOptions, MigrationProgress, MigrationReport, migrate};
use hrm::store::Archive;

use super::context::Context;
use super::exit_code;
use super::output::{key_value_table, print_json, progress_bar, table};

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 every approved entry is archived; 2 migration could not run; 3 some entries could not be migrated (listed, and retried on the next run)."
)]
pub struct MigrateArgs {
    /// How far behind the head to read: a number of blocks, or `auto`: 0 on an instant-mining
    /// development chain (Anvil), the node's finalized block where it reports one, otherwise 12
    /// blocks (a Geth Clique network)
    #[arg(long, default_value = "auto", value_name = "auto|BLOCKS", value_parser = parse_confirmations)]
    pub confirmations: Confirmations,
    /// Blocks per log query
    #[arg(long, default_value_t = 5_000)]
    pub batch_blocks: u64,
    /// Keep running: migrate new approvals as they reach the confirmation depth, ride out outages
    /// of the node or the database, and stop cleanly on Ctrl-C or SIGTERM
    #[arg(long)]
    pub follow: bool,
    /// With --follow: seconds between passes
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS", requires = "follow")]
    pub poll_interval: f64,
    /// With --follow: serve Prometheus metrics (records migrated and failed, the lag in blocks,
    /// node and database errors) at http://ADDR:PORT/metrics
    #[arg(long, value_name = "ADDR:PORT", requires = "follow")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub retention: RetentionArgs,
}

/// What a hospital keeps when a patient asks for erasure.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct RetentionArgs {
    /// Keep bills this many years when their patient asks for erasure (deferred on chain for a
    /// legal obligation) instead of erasing them [default: erase every record asked for]
    #[arg(long, value_name = "YEARS", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub keep_bills_for: Option<u32>,
}

impl RetentionArgs {
    /// Refuses a policy where nothing would apply it: without a follower, `hrm erase apply` does.
    pub fn only_with_follow(self, follow: bool) -> eyre::Result<()> {
        if self.keep_bills_for.is_some() && !follow {
            eyre::bail!("--keep-bills-for applies to the follower: add --follow, or pass it to `hrm erase apply`");
        }
        Ok(())
    }

    pub fn policy(self) -> hrm::erasure::RetentionPolicy {
        hrm::erasure::RetentionPolicy { keep_bills_for_years: self.keep_bills_for }
    }
}

/// Migrates with the `--from` account's key; exit 0 when everything was migrated, 3 when some
/// entries could not be.
pub async fn run(context: &Context, args: MigrateArgs) -> eyre::Result<ExitCode> {
    args.retention.only_with_follow(args.follow)?;
    let archive = context.archive().await?;
    let (consortium, signer) = context.consortium_signed().await?;
    let options = MigrationOptions {
        confirmations: args.confirmations,
        batch_blocks: args.batch_blocks,
        // A test-only switch that simulates a crash part way through.
        abort_after_writes: std::env::var("HRM_TEST_ABORT_AFTER_WRITES").ok().and_then(|v| v.parse().ok()),
        recipient_key: Some(context.identities.sealing_keys.recipient_key(&signer)?),
        ..Default::default()
    };
    if args.follow {
        let follow = FollowOptions {
            retention: args.retention.policy(),
            ..follow_options(args.poll_interval, consortium.connection().rpc_url())?
        };
        let (stop_metrics, metrics_stopping) = tokio::sync::watch::channel(false);
        let metrics = match args.metrics_listen {
            Some(address) => Some(tokio::spawn(super::metrics_listen::serve_metrics(address, metrics_stopping).await?)),
            None => None,
        };
        let followed = follow_chain(context, &archive, &consortium, &signer, &options, follow).await;
        let _ = stop_metrics.send(true);
        if let Some(metrics) = metrics {
            metrics.await.context("the metrics task")?.context("serving metrics")?;
        }
        return followed;
    }
    let bar = progress_bar(context.json(), "{spinner} blocks {pos}/{len} [{bar:30}] {msg}");
    let on_progress = |p: MigrationProgress| {
        bar.set_length(p.to_block.saturating_sub(p.from_block) + 1);
        bar.set_position(p.scanned_to.saturating_sub(p.from_block) + 1);
        bar.set_message(format!("{} migrated, {} present, {} failed", p.migrated, p.already_present, p.failed));
    };
    let report = migrate(&consortium, &archive, &signer, &options, on_progress).await?;
    bar.finish_and_clear();

    if context.json() {
        print_json(&report)?;
    } else {
        print_reorganisation(&report);
        let mut summary = key_value_table();
        summary.add_row(vec!["blocks read".to_string(), blocks_read(&report)]);
        if let Some(confirmed) = &report.confirmed {
            summary.add_row(vec![
                "read up to".to_string(),
                format!("{} (head {}): {}", confirmed.confirmed, confirmed.head, confirmed.rule),
            ]);
        }
        summary.add_row(vec!["migrated".to_string(), report.migrated.to_string()]);
        summary.add_row(vec!["already present".to_string(), report.already_present.to_string()]);
        if report.erasure_requested > 0 {
            summary.add_row(vec!["not archived: erasure requested".to_string(), report.erasure_requested.to_string()]);
        }
        summary.add_row(vec!["failed".to_string(), report.failed.len().to_string()]);
        summary.add_row(vec!["database".to_string(), format!("{} / {}", archive.hosts(), context.database_name())]);
        println!("{summary}");
        if !report.failed.is_empty() {
            let mut failures = table(["entry", "why it was not migrated"]);
            for failure in &report.failed {
                failures.add_row(vec![failure.entry_id.to_string(), failure.reason.clone()]);
            }
            println!("{failures}");
        }
    }
    if report.failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        if !context.json() {
            eprintln!(
                "warning: {} approved entries could not be migrated; they are retried on the next run",
                report.failed.len()
            );
        }
        Ok(ExitCode::from(exit_code::PARTIAL))
    }
}

/// "610 to 640", or "none: nothing new since block 609".
fn blocks_read(report: &MigrationReport) -> String {
    match report.blocks_read() {
        Some((from, to)) => format!("{from} to {to}"),
        None => format!("none: nothing new since block {}", report.read_before()),
    }
}

fn parse_confirmations(text: &str) -> Result<Confirmations, String> {
    match text {
        "auto" => Ok(Confirmations::Auto),
        blocks => blocks
            .parse()
            .map(Confirmations::Depth)
            .map_err(|_| format!("'{blocks}' is neither `auto` nor a number of blocks")),
    }
}

/// Tells what a reorganisation did to the archive, before the summary.
fn print_reorganisation(report: &MigrationReport) {
    let Some(reorg) = &report.reorganisation else {
        return;
    };
    println!(
        "The chain was reorganised: block {} is no longer the block migration read. Rewound {} blocks to block {}, \
         the newest block both chains share, and read again from there.",
        reorg.last_block_read, reorg.depth, reorg.common_ancestor
    );
    if reorg.orphaned.is_empty() {
        println!("No archived record lost its approval.");
        return;
    }
    let mut orphans = table(["entry", "approval block", "approval transaction", "now"]);
    for orphan in &reorg.orphaned {
        orphans.add_row(vec![
            orphan.entry_id.to_string(),
            orphan.approval_block.to_string(),
            orphan.approval_tx.clone(),
            "moved to orphaned_records".into(),
        ]);
    }
    println!("{orphans}");
}

/// `--follow`: one line per event (a JSON object per line with --json) until Ctrl-C or SIGTERM.
async fn follow_chain(
    context: &Context,
    archive: &Archive,
    consortium: &Consortium,
    signer: &alloy::signers::local::PrivateKeySigner,
    options: &MigrationOptions,
    follow_options: FollowOptions,
) -> eyre::Result<ExitCode> {
    let json = context.json();
    if !json {
        eprintln!("following the chain: new approvals are migrated as they are confirmed; Ctrl-C stops");
    }
    let on_event = |event: FollowEvent| {
        if json {
            println!("{}", serde_json::to_string(&event).expect("events serialize"));
            return;
        }
        if let FollowEvent::Pass { report } = &event {
            print_reorganisation(report);
        }
        println!("{}", describe_follow_event(&event));
    };
    follow(consortium, archive, signer, options, &follow_options, stop_requested(), on_event).await?;
    Ok(ExitCode::SUCCESS)
}

/// The follower's pace from `--poll-interval`; it also subscribes to new blocks over WebSocket at
/// the node's address (the same host and port), polling when the node offers none.
pub(super) fn follow_options(poll_interval: f64, rpc_url: &Url) -> eyre::Result<FollowOptions> {
    if !(0.05..=3600.0).contains(&poll_interval) {
        return Err(eyre::eyre!("--poll-interval must be between 0.05 and 3600 seconds, not {poll_interval}"));
    }
    Ok(FollowOptions {
        poll_interval: std::time::Duration::from_secs_f64(poll_interval),
        new_heads_url: websocket_url_of(rpc_url),
        ..Default::default()
    })
}

/// One line for people about a follower event (counts and blocks, never a record).
pub(super) fn describe_follow_event(event: &FollowEvent) -> String {
    match event {
        FollowEvent::Pass { report } => format!(
            "{}: {} migrated, {} already present, {} failed",
            match report.blocks_read() {
                Some((from, to)) => format!("blocks {from} to {to}"),
                None => format!("nothing new since block {} (failed entries retried)", report.read_before()),
            },
            report.migrated,
            report.already_present,
            report.failed.len()
        ),
        FollowEvent::Outage { service, message } => {
            format!("{service} is not answering ({message}); retrying with growing waits, up to 30 s")
        }
        FollowEvent::Recovered { service, after } => {
            format!("{service} answers again after {:.0} s; migration resumed", after.as_secs_f64())
        }
        FollowEvent::Watching { subscribed: true, url, .. } => {
            format!("subscribed to new blocks at {}: each one starts a pass", url.as_deref().unwrap_or("the node"))
        }
        FollowEvent::Watching { reason: Some(reason), .. } => {
            format!("polling for new blocks (no WebSocket subscription: {reason})")
        }
        FollowEvent::Watching { .. } => "polling for new blocks".to_string(),
        FollowEvent::Exchanged { erased, deferred, pushed, still_queued } => {
            let list = |ids: &[u64]| {
                let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
                if ids.is_empty() { "none".to_string() } else { ids.join(", ") }
            };
            format!(
                "erased at patients' request: {}; kept by the retention policy: {}; envelopes pushed: {pushed}, still queued: {still_queued}",
                list(erased),
                list(deferred)
            )
        }
        FollowEvent::PatientsMoved { moves } => {
            let lines: Vec<String> = moves
                .iter()
                .map(|m| {
                    format!(
                        "{} moved to {}: {} record(s) re-sealed, {} re-filed",
                        m.old_account,
                        m.new_account,
                        m.resealed.len(),
                        m.refiled
                    )
                })
                .collect();
            lines.join("; ")
        }
        FollowEvent::MoveFailed { message } => format!("a patient's move could not be carried out: {message}"),
        FollowEvent::Stopped { next_block } => match next_block {
            Some(block) => format!("stopped; the checkpoint resumes at block {block}"),
            None => "stopped; the checkpoint could not be read back (is the database down?)".to_string(),
        },
    }
}

/// Completes at the first Ctrl-C (SIGINT) or SIGTERM.
pub(super) async fn stop_requested() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
