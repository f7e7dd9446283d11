//! JSON-RPC providers: read-only, or signing with one local key.

use alloy::network::EthereumWallet;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest::Url;

/// A provider that signs its transactions with `signer` and fills nonce, gas and chain id.
pub fn signing_provider(rpc_url: Url, signer: PrivateKeySigner) -> DynProvider {
    ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(rpc_url).erased()
}

/// A provider for reads and calls only.
pub fn read_provider(rpc_url: Url) -> DynProvider {
    ProviderBuilder::new().connect_http(rpc_url).erased()
}
