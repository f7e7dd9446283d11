//! The requesting side of the exchange: signed pushes and pulls over HTTP(S).

use std::time::Duration;

use alloy::primitives::{B256, keccak256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::Eip712Domain;
use alloy::transports::http::reqwest;

use super::ExchangeError;
use super::request::{ExchangeAction, SignedRequest, exchange_domain, unix_now};
use crate::chain::{Consortium, Submission};
use crate::metrics::{OutcomeLabels, metrics};
use crate::records::envelope::is_personal_copy;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long to wait before asking again a receiver whose node does not know the entry yet.
const UNKNOWN_ENTRY_WAITS: [Duration; 4] =
    [Duration::from_millis(250), Duration::from_millis(500), Duration::from_secs(1), Duration::from_secs(2)];

/// Checks a hospital's endpoint before it is published: an `https://` base URL (plain `http://`
/// only on this machine's loopback, for tests and local networks), no query or fragment. Returns
/// it without a trailing slash; the error says what to write instead.
pub fn check_endpoint(url: &str) -> Result<String, String> {
    let parsed: reqwest::Url = url
        .parse()
        .map_err(|e| format!("'{url}' is not a URL ({e}); write e.g. https://records.example-hospital.org"))?;
    let host = parsed.host_str().unwrap_or_default().trim_matches(['[', ']']);
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "'{url}' is plain HTTP: other hospitals reach this endpoint over the network, so it must be https:// (put TLS in a reverse proxy in front of hrm serve)"
            ));
        }
        other => return Err(format!("'{url}' uses {other}://; an endpoint is an https:// URL")),
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "'{url}' has a query or a fragment; an endpoint is a base URL such as https://records.example-hospital.org"
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// The path of an entry's envelope under a hospital's endpoint.
pub fn envelope_url(endpoint: &str, entry_id: u64) -> String {
    format!("{}/api/v1/envelopes/{entry_id}", endpoint.trim_end_matches('/'))
}

/// Pushes and pulls envelopes, signing each request as one account.
pub struct ExchangeClient {
    http: reqwest::Client,
    signer: PrivateKeySigner,
    domain: Eip712Domain,
}

impl ExchangeClient {
    /// A client for `consortium`'s deployment, signing as `signer`.
    pub fn new(consortium: &Consortium, signer: PrivateKeySigner) -> Self {
        let deployment = consortium.deployment();
        let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().expect("a default HTTP client builds");
        Self { http, signer, domain: exchange_domain(deployment.chain_id, deployment.address) }
    }

    fn sign(&self, action: ExchangeAction, entry_id: u64, digest: B256) -> SignedRequest {
        SignedRequest::sign(&self.signer, &self.domain, action, entry_id, digest, unix_now())
    }

    /// Pulls a submission's envelope from the hospital at `endpoint`, and checks it against the
    /// digest on chain.
    pub async fn pull(&self, endpoint: &str, submission: &Submission) -> Result<Vec<u8>, ExchangeError> {
        let pulled = self.pull_checked(endpoint, submission, false).await;
        metrics().envelope_pulls.get_or_create(&OutcomeLabels::of(&pulled)).inc();
        pulled
    }

    /// Pulls, for a patient its guardians moved to the signer's account, the copy of a
    /// submission's record the hospital at `endpoint` re-sealed to it, or the envelope itself when
    /// it made none. A copy is not named by the digest on chain: opening it checks it against the
    /// commitment instead.
    pub async fn pull_resealed(&self, endpoint: &str, submission: &Submission) -> Result<Vec<u8>, ExchangeError> {
        let pulled = self.pull_checked(endpoint, submission, true).await;
        metrics().envelope_pulls.get_or_create(&OutcomeLabels::of(&pulled)).inc();
        pulled
    }

    async fn pull_checked(
        &self,
        endpoint: &str,
        submission: &Submission,
        copy_allowed: bool,
    ) -> Result<Vec<u8>, ExchangeError> {
        let url = envelope_url(endpoint, submission.id);
        let signed = self.sign(ExchangeAction::Pull, submission.id, submission.envelope_digest);
        let mut request = self.http.get(&url);
        for (name, value) in signed.headers() {
            request = request.header(name, value);
        }
        let response = send(request, &url).await?;
        let bytes = response.bytes().await.map_err(|e| unreachable(&url, e))?;
        let resealed = copy_allowed && is_personal_copy(&bytes, self.signer.address());
        if keccak256(&bytes) != submission.envelope_digest && !resealed {
            return Err(ExchangeError::WrongBytes { url, entry_id: submission.id });
        }
        Ok(bytes.to_vec())
    }

    /// Pushes an envelope to the hospital at `endpoint`.
    ///
    /// The pusher's node has mined the entry; the receiver's node may not have the block yet and
    /// answers 404 (no such entry). So a 404 is asked again, a few times over about four seconds,
    /// each time with a fresh signature (a signed request is accepted once), before it counts as
    /// a refusal.
    pub async fn push(&self, endpoint: &str, entry_id: u64, envelope: &[u8]) -> Result<(), ExchangeError> {
        let pushed = self.push_until_known(endpoint, entry_id, envelope).await;
        metrics().envelope_pushes.get_or_create(&OutcomeLabels::of(&pushed)).inc();
        pushed
    }

    async fn push_until_known(&self, endpoint: &str, entry_id: u64, envelope: &[u8]) -> Result<(), ExchangeError> {
        let url = envelope_url(endpoint, entry_id);
        let mut waits = UNKNOWN_ENTRY_WAITS.iter();
        loop {
            let signed = self.sign(ExchangeAction::Push, entry_id, keccak256(envelope));
            let mut request =
                self.http.put(&url).header("content-type", "application/octet-stream").body(envelope.to_vec());
            for (name, value) in signed.headers() {
                request = request.header(name, value);
            }
            match send(request, &url).await {
                Err(ExchangeError::RefusedBy { status: 404, .. }) if let Some(wait) = waits.next() => {
                    tokio::time::sleep(*wait).await;
                }
                result => return result.map(drop),
            }
        }
    }

    /// Sends a request exactly as given, for tests of what a server refuses (a replay, say).
    pub async fn send_signed(
        &self,
        url: &str,
        signed: &SignedRequest,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, ExchangeError> {
        let mut request = match (&signed.action, body) {
            (ExchangeAction::Push, Some(body)) => self.http.put(url).body(body),
            (ExchangeAction::Push, None) => self.http.put(url),
            (ExchangeAction::Pull, _) => self.http.get(url),
        };
        for (name, value) in signed.headers() {
            request = request.header(name, value);
        }
        let response = send(request, url).await?;
        Ok(response.bytes().await.map_err(|e| unreachable(url, e))?.to_vec())
    }

    /// Signs a request now, as this client would send it.
    pub fn signed(&self, action: ExchangeAction, entry_id: u64, digest: B256) -> SignedRequest {
        self.sign(action, entry_id, digest)
    }
}

async fn send(request: reqwest::RequestBuilder, url: &str) -> Result<reqwest::Response, ExchangeError> {
    let response = request.send().await.map_err(|e| unreachable(url, e))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    let reason = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or(text);
    Err(ExchangeError::RefusedBy { url: url.to_string(), status: status.as_u16(), reason })
}

fn unreachable(url: &str, error: reqwest::Error) -> ExchangeError {
    ExchangeError::Unreachable { url: url.to_string(), message: error.to_string() }
}

#[cfg(test)]
mod tests {
    use super::check_endpoint;

    #[test]
    fn endpoints_are_https_except_on_loopback() {
        assert_eq!(check_endpoint("https://records.example.org/").unwrap(), "https://records.example.org");
        assert_eq!(check_endpoint("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
        assert!(check_endpoint("http://localhost:8080").is_ok());
        assert!(check_endpoint("http://records.example.org").unwrap_err().contains("https://"));
        assert!(check_endpoint("ftp://records.example.org").is_err());
        assert!(check_endpoint("https://records.example.org/?x=1").is_err());
        assert!(check_endpoint("records").is_err());
    }
}
