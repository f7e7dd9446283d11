//! A small reverse proxy the tests put in front of `hrm serve`, as a hospital puts nginx: it
//! forwards every request to the server and appends the address it saw the client come from to
//! `X-Forwarded-For`, as nginx's `$proxy_add_x_forwarded_for` does.

use std::net::SocketAddr;

use alloy::transports::http::reqwest;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Headers about one connection, not the request: each side sets its own.
const HOP_BY_HOP: [&str; 5] = ["host", "connection", "content-length", "transfer-encoding", "keep-alive"];

/// A running proxy, stopped when dropped.
pub struct ForwardingProxy {
    /// Where clients reach it (`http://127.0.0.1:PORT`).
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl ForwardingProxy {
    /// Starts a proxy on a free port of 127.0.0.1 that forwards to `backend` (`http://IP:PORT`).
    pub async fn start(backend: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the proxy");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let router = axum::Router::new().fallback(forward).with_state((client, backend.to_string()));
        let task = tokio::spawn(async move {
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
        });
        Self { url, task }
    }
}

impl Drop for ForwardingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    State((client, backend)): State<(reqwest::Client, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let target = format!("{backend}{}", parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut headers = parts.headers.clone();
    for hop in HOP_BY_HOP {
        headers.remove(hop);
    }
    let forwarded = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    headers.insert("x-forwarded-for", HeaderValue::from_str(&forwarded).unwrap());
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap();
    let mut outgoing = client.request(method, &target).body(body.to_vec());
    for (name, value) in &headers {
        outgoing = outgoing.header(name.as_str(), value.as_bytes());
    }
    let Ok(answer) = outgoing.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers().iter().filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str())) {
        response = response.header(name.as_str(), value.as_bytes());
    }
    response.body(Body::from(answer.bytes().await.unwrap_or_default())).unwrap()
}
