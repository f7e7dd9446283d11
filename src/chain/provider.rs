//! JSON-RPC providers: read-only, or signing with one local key.

use alloy::network::EthereumWallet;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest::Url;

use super::failover::FailoverTransport;

/// A provider that signs its transactions with `signer` and fills nonce, gas and chain id.
pub fn signing_provider(rpc_url: Url, signer: PrivateKeySigner) -> DynProvider {
    signing_provider_over(&[rpc_url], signer)
}

/// A provider for reads and calls only.
pub fn read_provider(rpc_url: Url) -> DynProvider {
    read_provider_over(&[rpc_url])
}

/// A signing provider over several nodes of one network, moving to the next when one stops
/// answering (`FailoverTransport`).
pub fn signing_provider_over(rpc_urls: &[Url], signer: PrivateKeySigner) -> DynProvider {
    ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_client(failover_client(rpc_urls)).erased()
}

/// A read-only provider over several nodes of one network.
pub fn read_provider_over(rpc_urls: &[Url]) -> DynProvider {
    ProviderBuilder::new().connect_client(failover_client(rpc_urls)).erased()
}

fn failover_client(rpc_urls: &[Url]) -> RpcClient {
    // Nodes on this machine are polled for receipts quickly, as alloy does for one local node.
    let is_local = rpc_urls.iter().all(|url| {
        let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
        host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    });
    RpcClient::new(FailoverTransport::new(rpc_urls), is_local)
}

/// New block numbers as the node announces them (`eth_subscribe("newHeads")` over WebSocket).
pub struct NewHeads {
    // Kept so that the connection lives as long as the subscription.
    _provider: DynProvider,
    stream: alloy::pubsub::SubscriptionStream<alloy::rpc::types::Header>,
}

impl NewHeads {
    /// Subscribes at `ws_url`, giving up after `timeout` (a node without WebSocket may not
    /// answer at all).
    pub async fn subscribe(ws_url: &Url, timeout: std::time::Duration) -> Result<Self, super::ChainError> {
        let unreachable = |reason: String| super::ChainError::Unreachable { url: ws_url.to_string(), reason };
        let connect = async {
            let provider = ProviderBuilder::new()
                .connect_ws(alloy::providers::WsConnect::new(ws_url.as_str()))
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let subscription = provider.subscribe_blocks().await.map_err(|e| unreachable(e.to_string()))?;
            Ok(Self { stream: subscription.into_stream(), _provider: provider.erased() })
        };
        tokio::time::timeout(timeout, connect)
            .await
            .unwrap_or_else(|_| Err(unreachable(format!("no answer within {} s", timeout.as_secs()))))
    }

    /// The next announced block's number; `None` once the connection is gone.
    pub async fn next(&mut self) -> Option<u64> {
        use futures_util::StreamExt;
        self.stream.next().await.map(|header| header.number)
    }
}

/// The WebSocket URL of the node at `rpc_url`: the same host, port and path (Anvil and Geth
/// serve both on one port when WebSocket is on).
pub fn websocket_url_of(rpc_url: &Url) -> Option<Url> {
    let scheme = match rpc_url.scheme() {
        "http" => "ws",
        "https" => "wss",
        "ws" | "wss" => return Some(rpc_url.clone()),
        _ => return None,
    };
    let mut url = rpc_url.clone();
    url.set_scheme(scheme).ok()?;
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_url_keeps_host_port_and_path() {
        let url: Url = "https://node.example:8545/rpc".parse().unwrap();
        assert_eq!(websocket_url_of(&url).unwrap().as_str(), "wss://node.example:8545/rpc");
        let url: Url = "http://127.0.0.1:8545".parse().unwrap();
        assert_eq!(websocket_url_of(&url).unwrap().as_str(), "ws://127.0.0.1:8545/");
        assert!(websocket_url_of(&"ipc:///tmp/geth.ipc".parse().unwrap()).is_none());
    }
}
