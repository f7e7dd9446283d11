//! `hrm bench serve`: the web app's records page and reviewer queue under concurrent sessions.

use std::path::Path;
use std::sync::Arc;

use clap::Args;
use eyre::Context as _;
use hrm::bench::serve::{ServeBenchPlan, measure_serve, prepare_serve_bench};
use hrm::identity::Identities;
use hrm::migration::MigrationOptions;

use crate::cli::context::Context;
use crate::cli::output::{print_json, table};
use crate::web::{ServeSettings, WebApp};

/// The targets of each page under 50 concurrent sessions: p95 at most this, and p99 at most
/// [`P99_TARGET_OVER_P50`] times p50 (a steady page, not only a fast median).
const P95_TARGET_MS: f64 = 35.0;
const P99_TARGET_OVER_P50: f64 = 2.0;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Archived records, spread evenly over the patients
    #[arg(long, default_value_t = 10_000)]
    pub records: usize,
    /// Patients the records belong to
    #[arg(long, default_value_t = 1_000)]
    pub patients: usize,
    /// Entries on chain waiting for the serving hospital's vote (the reviewer's queue)
    #[arg(long, default_value_t = 100)]
    pub pending: usize,
    /// Signed-in sessions requesting at once
    #[arg(long, default_value_t = 50)]
    pub sessions: usize,
    /// Timed requests per page
    #[arg(long, default_value_t = 2_000)]
    pub requests: usize,
    /// Requests without a cookie after the pages (a crawler or a probe); the first and the last
    /// tenth are reported, to show that they leave nothing behind that slows the server (0: none)
    #[arg(long, default_value_t = 20_000)]
    pub signed_out_requests: usize,
}

pub async fn run(context: &Context, args: ServeArgs, workdir: &Path) -> eyre::Result<()> {
    let plan = ServeBenchPlan {
        records: args.records,
        patients: args.patients,
        pending: args.pending,
        sessions: args.sessions,
        requests: args.requests,
        signed_out_requests: args.signed_out_requests,
    };
    if !context.json() {
        eprintln!(
            "archiving {} records of {} patients and submitting {} entries for review on a fresh Anvil…",
            plan.records, plan.patients, plan.pending
        );
    }
    let site = prepare_serve_bench(&plan, workdir).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("listening on a free local port")?;
    let public_url: alloy::transports::http::reqwest::Url = format!("http://{}", listener.local_addr()?).parse()?;
    let hospital = site.serving_hospital();
    let settings = ServeSettings {
        public_url: public_url.clone(),
        model_path: site.model_path.clone(),
        migration: MigrationOptions::default(),
        explorer_url: None,
        ready_max_lag: None,
        trusted_proxies: Vec::new(),
    };
    let identities = Identities::open(&workdir.join("home"));
    let app = Arc::new(WebApp::new(
        hospital.client.clone(),
        hospital.signer.clone(),
        site.archive.clone(),
        identities,
        settings,
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::web::serve(listener, app, async {
        let _ = stopped.await;
    }));
    if !context.json() {
        eprintln!("timing {} loads of each page from {} sessions at once…", plan.requests, plan.sessions);
    }
    let result = measure_serve(&public_url, &site, &plan).await;
    let _ = stop.send(());
    server.await.context("stopping the web app")?.context("serving the web app")?;
    let result = result?;
    if context.json() {
        return print_json(&result);
    }
    let mut rows =
        table(["page", "requests", "p50", "p95", "p99", "errors", "requests/s", "p95 ≤ 35 ms, p99 ≤ 2× p50"]);
    for page in &result.pages {
        rows.add_row(vec![
            format!("{} ({})", page.page, page.latency.function),
            page.latency.samples.to_string(),
            format!("{:.1} ms", page.latency.p50_ms),
            format!("{:.1} ms", page.latency.p95_ms),
            format!("{:.1} ms", page.latency.p99_ms),
            page.errors.to_string(),
            format!("{:.0}", page.requests_per_second),
            match (page.first_visit || page.signed_out, meets_targets(page)) {
                (true, _) => "(not a target)",
                (false, true) => "yes",
                (false, false) => "NO",
            }
            .to_string(),
        ]);
    }
    println!("{rows}");
    println!(
        "{} archived records of {} patients, {} entries awaiting review, {} concurrent sessions per page; seeding took {:.1} s (not timed).",
        plan.records,
        plan.patients,
        plan.pending,
        plan.sessions,
        result.seeding.as_secs_f64()
    );
    Ok(())
}

fn meets_targets(page: &hrm::bench::serve::PageLoad) -> bool {
    let latency = &page.latency;
    page.errors == 0 && latency.p95_ms <= P95_TARGET_MS && latency.p99_ms <= P99_TARGET_OVER_P50 * latency.p50_ms
}
