//! Prometheus metrics for `hrm serve` and `hrm migrate --follow`, served on their own address
//! (`--metrics-listen`) so that a scraper never reaches the pages.
//!
//! One registry per process: the library counts where things happen (a node error where a
//! transport error is classified, a migrated record where migration reports it) instead of every
//! edge counting what it happens to see. Nothing here carries a patient, an entry or a user name:
//! labels are routes, statuses, services and outcomes only.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A web request's route (the pattern, such as `/patient/records/{entry}`, never the path) and
/// its status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub status: u16,
}

/// A web request's route, for its latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

/// Which service failed: `node` or `database`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    pub service: &'static str,
}

/// Whether an exchange with another hospital's server went through: `ok` or `failed`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

impl OutcomeLabels {
    pub fn of<T, E>(result: &Result<T, E>) -> Self {
        Self { outcome: if result.is_ok() { "ok" } else { "failed" } }
    }
}

/// Every metric this process keeps.
pub struct Metrics {
    registry: Registry,
    /// Web requests answered, by route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Web request latency in seconds, by route.
    pub request_seconds: Family<RouteLabels, Histogram>,
    /// Sessions currently open (signed in or not).
    pub sessions_open: Gauge,
    /// Sign-ins refused for a wrong password, an unknown name or a bad signature.
    pub sign_in_failures: Counter,
    /// Sign-in attempts refused because the name or the address had failed too often.
    pub sign_in_lockouts: Counter,
    /// Blocks between the chain's head and the last block the follower read.
    pub follower_lag_blocks: Gauge,
    /// Records migrated into the archive.
    pub records_migrated: Counter,
    /// Approved entries that could not be migrated (retried on the next pass).
    pub records_failed: Counter,
    /// Requests to the node or the database that failed, by service.
    pub service_errors: Family<ServiceLabels, Counter>,
    /// Envelopes pushed to other hospitals' servers, by outcome.
    pub envelope_pushes: Family<OutcomeLabels, Counter>,
    /// Envelopes pulled from other hospitals' servers, by outcome.
    pub envelope_pulls: Family<OutcomeLabels, Counter>,
}

/// Latency buckets from 1 ms to about 16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Metrics {
    fn new() -> Self {
        let mut metrics = Self {
            registry: Registry::with_prefix("hrm"),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram as fn() -> _),
            sessions_open: Gauge::default(),
            sign_in_failures: Counter::default(),
            sign_in_lockouts: Counter::default(),
            follower_lag_blocks: Gauge::default(),
            records_migrated: Counter::default(),
            records_failed: Counter::default(),
            service_errors: Family::default(),
            envelope_pushes: Family::default(),
            envelope_pulls: Family::default(),
        };
        let registry = &mut metrics.registry;
        registry.register("http_requests", "Web requests answered, by route and status", metrics.requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Web request latency, by route",
            metrics.request_seconds.clone(),
        );
        registry.register("sessions_open", "Sessions open, signed in or not", metrics.sessions_open.clone());
        registry.register("sign_in_failures", "Sign-ins refused", metrics.sign_in_failures.clone());
        registry.register(
            "sign_in_lockouts",
            "Sign-in attempts refused after too many failures",
            metrics.sign_in_lockouts.clone(),
        );
        registry.register(
            "follower_lag_blocks",
            "Blocks between the chain's head and the last block the follower read",
            metrics.follower_lag_blocks.clone(),
        );
        registry.register("records_migrated", "Records migrated into the archive", metrics.records_migrated.clone());
        registry.register(
            "records_failed",
            "Approved entries that could not be migrated",
            metrics.records_failed.clone(),
        );
        registry.register(
            "service_errors",
            "Requests to the node or the database that failed",
            metrics.service_errors.clone(),
        );
        registry.register(
            "envelope_pushes",
            "Envelopes pushed to other hospitals' servers",
            metrics.envelope_pushes.clone(),
        );
        registry.register(
            "envelope_pulls",
            "Envelopes pulled from other hospitals' servers",
            metrics.envelope_pulls.clone(),
        );
        metrics
    }

    /// The Prometheus text exposition of every metric.
    pub fn exposition(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String");
        text
    }

    /// Counts a failed request to the node.
    pub fn node_error(&self) {
        self.service_errors.get_or_create(&ServiceLabels { service: "node" }).inc();
    }

    /// Counts a failed request to the database.
    pub fn database_error(&self) {
        self.service_errors.get_or_create(&ServiceLabels { service: "database" }).inc();
    }
}

/// This process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_metric_with_its_labels() {
        let metrics = Metrics::new();
        metrics.requests.get_or_create(&RequestLabels { route: "/patient".into(), status: 200 }).inc();
        metrics.request_seconds.get_or_create(&RouteLabels { route: "/patient".into() }).observe(0.003);
        metrics.node_error();
        metrics.envelope_pushes.get_or_create(&OutcomeLabels::of(&Err::<(), ()>(()))).inc();
        let text = metrics.exposition();
        assert!(text.contains("hrm_http_requests_total{route=\"/patient\",status=\"200\"} 1"), "{text}");
        assert!(text.contains("hrm_http_request_duration_seconds_bucket{le=\"0.004\",route=\"/patient\"} 1"), "{text}");
        assert!(text.contains("hrm_service_errors_total{service=\"node\"} 1"), "{text}");
        assert!(text.contains("hrm_envelope_pushes_total{outcome=\"failed\"} 1"), "{text}");
        assert!(text.contains("# TYPE hrm_follower_lag_blocks gauge"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
