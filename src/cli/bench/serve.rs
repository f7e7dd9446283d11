//! `hrm bench serve`: the web app's records page and reviewer queue under concurrent sessions.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use alloy::transports::http::reqwest::Url;
use clap::Args;
use eyre::{Context as _, eyre};
use hrm::bench::serve::{
    ARCHIVE_DATABASE, ServeBench, ServeBenchPlan, ServeBenchSite, measure_serve, prepare_serve_bench,
};
use serde::Serialize;

use crate::cli::context::Context;
use crate::cli::output::{print_json, table};

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
    let server = ServerProcess::start(&site, workdir)?;
    if !context.json() {
        eprintln!("timing {} loads of each page from {} sessions at once…", plan.requests, plan.sessions);
    }
    let result = measure_serve(&server.url, &site, &plan).await;
    let server_peak = server.stop()?;
    let result = result?;
    let memory =
        ServerMemory { server_peak_rss_bytes: server_peak, bench_peak_rss_bytes: peak_rss(std::process::id()) };
    if context.json() {
        return print_json(&ServeReport { bench: &result, memory });
    }
    let mut rows = table([
        "page",
        "requests",
        "p50",
        "p95",
        "p99",
        "errors",
        "requests/s",
        "page size",
        "p95 ≤ 35 ms, p99 ≤ 2× p50",
    ]);
    for page in &result.pages {
        rows.add_row(vec![
            format!("{} ({})", page.page, page.latency.function),
            page.latency.samples.to_string(),
            format!("{:.1} ms", page.latency.p50_ms),
            format!("{:.1} ms", page.latency.p95_ms),
            format!("{:.1} ms", page.latency.p99_ms),
            page.errors.to_string(),
            format!("{:.0}", page.requests_per_second),
            if page.page_bytes == 0 { "-".to_string() } else { format!("{:.1} KB", page.page_bytes as f64 / 1000.0) },
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
    println!(
        "Peak memory (resident): the server {}, this process (seeding and the client) {}; target for the server ≤ 1 GiB at 100,000 records.",
        mebibytes(memory.server_peak_rss_bytes),
        mebibytes(memory.bench_peak_rss_bytes)
    );
    Ok(())
}

/// What `--json` prints: the figures and the peak memory of each process.
#[derive(Serialize)]
struct ServeReport<'a> {
    #[serde(flatten)]
    bench: &'a ServeBench,
    #[serde(flatten)]
    memory: ServerMemory,
}

#[derive(Serialize)]
struct ServerMemory {
    /// The web server's peak resident memory (`VmHWM`), in its own process.
    server_peak_rss_bytes: Option<u64>,
    /// This process's: the seeding and the HTTP client.
    bench_peak_rss_bytes: Option<u64>,
}

/// `hrm serve` in its own process, so that its memory is told apart from the client's; killed
/// when dropped, however the benchmark ends.
struct ServerProcess {
    child: Child,
    url: Url,
}

impl ServerProcess {
    /// Starts this binary's `hrm serve` as the serving hospital on the benchmark's chain and
    /// archive, on a free port, its log in `workdir/serve.log`.
    fn start(site: &ServeBenchSite, workdir: &Path) -> eyre::Result<Self> {
        let exe = std::env::current_exe().context("finding the hrm binary to run the server")?;
        let mongodb_uri =
            site.mongodb_uri().ok_or_else(|| eyre!("the benchmark's network has no document database"))?;
        let log_path = workdir.join("serve.log");
        let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let mut command = Command::new(exe);
        for var in ["HRM_CONFIG", "HRM_FROM", "HRM_PASSWORD", "HRM_RPC_URL", "HRM_MONGODB_URI", "HRM_DATABASE"] {
            command.env_remove(var);
        }
        // The benchmark saved its deployment under `workdir/deployments`, where `--home` looks.
        command
            .current_dir(workdir)
            .arg("--home")
            .arg(workdir)
            .args(["--rpc-url", &site.rpc_urls().join(",")])
            .args(["--mongodb-uri", &mongodb_uri, "--database", ARCHIVE_DATABASE])
            .args(["--from", &format!("dev:{}", site.serving_hospital().account)])
            .args(["serve", "--listen", "127.0.0.1:0", "--model"])
            .arg(&site.model_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = command.spawn().context("starting hrm serve for the benchmark")?;
        let mut first_line = String::new();
        let read = BufReader::new(child.stdout.take().expect("stdout is piped")).read_line(&mut first_line);
        // "… (listening on 127.0.0.1:PORT)"
        let bound = first_line.split("(listening on ").nth(1).map(|rest| rest.trim().trim_end_matches(')'));
        let url = match (read, bound.map(|bound| format!("http://{bound}").parse::<Url>())) {
            (Ok(_), Some(Ok(url))) => url,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(eyre!(
                    "hrm serve did not start for the benchmark; its log ({}):\n{log}",
                    log_path.display()
                ));
            }
        };
        Ok(Self { child, url })
    }

    /// Reads the server's peak memory, then stops it as a service manager would (SIGTERM).
    fn stop(mut self) -> eyre::Result<Option<u64>> {
        let peak = peak_rss(self.child.id());
        // SAFETY: kill(2) with the PID of a child this struct owns and has not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().context("waiting for the benchmark's server to stop")?;
        if !status.success() {
            return Err(eyre!("the benchmark's server exited with {status}"));
        }
        Ok(peak)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A process's peak resident memory (`VmHWM` in `/proc/PID/status`), where Linux reports it.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

fn mebibytes(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "(not reported on this system)".to_string(), |b| format!("{:.0} MiB", b as f64 / 1048576.0))
}

fn meets_targets(page: &hrm::bench::serve::PageLoad) -> bool {
    let latency = &page.latency;
    page.errors == 0 && latency.p95_ms <= P95_TARGET_MS && latency.p99_ms <= P99_TARGET_OVER_P50 * latency.p50_ms
}
