//! Around every request (pages, the hospital-to-hospital API and the probes): a request id on
//! each log line the request causes, one line when it is answered, and the request metrics.
//!
//! The line names the route's pattern (`/patients/{patient}`), never the path, the query, a header
//! or the body: paths carry patients' addresses, headers carry cookies and signatures.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use hrm::metrics::{RequestLabels, RouteLabels, metrics};
use rand::RngCore;
use tracing::Instrument;

/// The response header that tells the client its request's id, to quote when reporting a problem.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Logs, counts and times one request.
pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_string();
    let request_id = new_request_id();
    let span = tracing::info_span!("request", request_id = %request_id, method = %request.method(), route = %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    // Whole microseconds: a log line never holds a decimal number a reading could be mistaken for.
    span.in_scope(|| tracing::info!(status, elapsed_us = elapsed.as_micros() as u64, "answered"));
    metrics().requests.get_or_create(&RequestLabels { route: route.clone(), status }).inc();
    metrics().request_seconds.get_or_create(&RouteLabels { route }).observe(elapsed.as_secs_f64());
    response.headers_mut().insert(REQUEST_ID_HEADER, HeaderValue::from_str(&request_id).expect("hex is ASCII"));
    response
}

/// Eight random bytes, hex: unique enough to find one request's lines among a day's.
fn new_request_id() -> String {
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    alloy::hex::encode(bytes)
}
