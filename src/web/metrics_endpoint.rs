//! `GET /metrics` on its own listen address (`--metrics-listen`): Prometheus scrapes it from the
//! hospital's network while the pages face patients.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// The Prometheus text format's content type (OpenMetrics, which the exposition follows).
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves this process's metrics until `shutdown` resolves.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = Router::new().route("/metrics", get(metrics));
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

async fn metrics() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, OPENMETRICS)], hrm::metrics::metrics().exposition())
}
