//! The log of the long-running commands (`hrm serve`, `hrm demo --serve`): `tracing` lines on
//! stderr, readable by default and JSON for log shippers (`--log-format json`).
//!
//! What is logged is decided where events are written: routes, statuses, timings, counts and
//! service errors, never a record, a password, a token or a cookie.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event
    #[default]
    Text,
    /// One JSON object per line, the request's fields (`request_id`, `route`) under `span`
    Json,
}

/// Starts writing this process's log to stderr: hrm's events from `info` up, other crates'
/// warnings and errors.
pub fn init(format: LogFormat) {
    let filter = Targets::new().with_default(LevelFilter::WARN).with_target("hrm", LevelFilter::INFO);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    // A second init (a test, or a command that serves twice) keeps the first.
    let _ = match format {
        LogFormat::Text => registry.with(layer.with_ansi(std::io::stderr().is_terminal())).try_init(),
        LogFormat::Json => {
            registry.with(layer.json().flatten_event(true).with_current_span(true).with_span_list(false)).try_init()
        }
    };
}
