//! Node failover: a JSON-RPC transport over several nodes of the consortium's network that uses
//! one at a time and moves to the next when it stops answering, in the middle of a command.
//!
//! Unlike alloy's `FallbackLayer`, which races requests across nodes, this sends each request to
//! one node: nodes of a network may briefly disagree on the head, and a raw transaction goes to
//! one node at a time (sending the same signed bytes to the next node after a failure cannot mine
//! it twice: it has the same hash and nonce). A JSON-RPC error is the node's answer and is
//! returned as it is; only a request the node did not answer moves to the next node.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use alloy::rpc::json_rpc::{RequestPacket, ResponsePacket};
use alloy::transports::http::{Http, reqwest};
use alloy::transports::{TransportError, TransportFut};
use tower::Service;

/// How long one node may take to answer one request before the next node is asked.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A transport over `nodes`, using the one that last answered.
#[derive(Debug, Clone)]
pub struct FailoverTransport {
    nodes: Arc<Vec<(reqwest::Url, Http<reqwest::Client>)>>,
    current: Arc<AtomicUsize>,
}

impl FailoverTransport {
    /// A transport over `urls`, the first in use first.
    pub fn new(urls: &[reqwest::Url]) -> Self {
        assert!(!urls.is_empty(), "a transport needs a node");
        let client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().expect("a default HTTP client builds");
        let nodes = urls.iter().map(|url| (url.clone(), Http::with_client(client.clone(), url.clone()))).collect();
        Self { nodes: Arc::new(nodes), current: Arc::new(AtomicUsize::new(0)) }
    }
}

impl Service<RequestPacket> for FailoverTransport {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let count = this.nodes.len();
            let first = this.current.load(Ordering::Relaxed) % count;
            let mut last_error = None;
            for step in 0..count {
                let index = (first + step) % count;
                let (url, node) = &this.nodes[index];
                match node.clone().call(request.clone()).await {
                    Ok(response) => {
                        if step > 0 {
                            // Only one request moves the pointer; the others that failed at the
                            // same time find the new node on their own.
                            let _ = this.current.compare_exchange(first, index, Ordering::Relaxed, Ordering::Relaxed);
                            tracing::warn!(node = %url, "a node stopped answering; using the next one");
                        }
                        return Ok(response);
                    }
                    Err(error) => {
                        tracing::debug!(node = %url, %error, "no answer from a node");
                        last_error = Some(error);
                    }
                }
            }
            Err(last_error.expect("at least one node was asked"))
        })
    }
}
