//! `hrm login URL`: signs a web app's Sign-In with Ethereum challenge with the local keystore and
//! prints a one-time sign-in link, for patients without a browser wallet.

use alloy::signers::SignerSync;
use alloy::transports::http::reqwest::{self, Url};
use clap::Args;
use eyre::{Context as _, eyre};
use hrm::siwe::{SignInMessage, domain_of};
use serde_json::{Value, json};

use super::context::{Context, password_for};
use super::output::print_json;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The web app's address, e.g. https://records.example-hospital.org
    pub url: String,
}

pub async fn run(context: &Context, args: LoginArgs) -> eyre::Result<()> {
    let base: Url =
        args.url.parse().map_err(|e| eyre!("'{}' is not a URL ({e}); pass e.g. http://127.0.0.1:8080", args.url))?;
    let spec = context
        .global
        .from
        .as_deref()
        .ok_or_else(|| eyre!("name the patient account that signs in with --from NAME|ADDRESS (or HRM_FROM)"))?;
    let address = context.address(spec)?;
    let client = reqwest::Client::new();
    let challenge = post(&client, &base, "sign-in/challenge", json!({ "address": address }), "the sign-in").await?;
    let text = challenge["message"].as_str().ok_or_else(|| eyre!("{base} answered without a sign-in message"))?;
    let message = SignInMessage::parse(text)?;
    // Sign only for the server the user named: a challenge for another domain is phishing.
    let expected = domain_of(&base);
    if message.domain != expected || message.address != address {
        return Err(eyre!(
            "{base} asked to sign a message for {} and {}, not for {expected} and {address}; nothing was signed",
            message.domain,
            message.address
        ));
    }
    let signer = context.identities.resolve_signer(spec, message.chain_id, password_for)?;
    let signature = signer.sign_message_sync(text.as_bytes()).context("signing the sign-in message")?;
    let reply = post(
        &client,
        &base,
        "sign-in/device",
        json!({ "message": text, "signature": alloy::hex::encode_prefixed(signature.as_bytes()) }),
        "the sign-in",
    )
    .await?;
    let link = reply["link"].as_str().ok_or_else(|| eyre!("{base} answered without a sign-in link"))?;
    if context.json() {
        return print_json(&json!({ "address": address, "link": link }));
    }
    println!("Open this link in your browser within 5 minutes to sign in as {address} (it works once):\n{link}");
    Ok(())
}

/// Posts `body` as JSON to `path` under `base` and reads the JSON answer; a refusal names the
/// server's reason, and `what` was refused.
pub(super) async fn post(
    client: &reqwest::Client,
    base: &Url,
    path: &str,
    body: Value,
    what: &str,
) -> eyre::Result<Value> {
    let url = base.join(path).with_context(|| format!("building the URL of {path} under {base}"))?;
    let request = client.post(url.clone()).header("content-type", "application/json").body(body.to_string());
    json_answer(request, &url, what).await
}

/// Sends `request` to `url` and reads the JSON answer; a refusal names the server's reason, and
/// `what` was refused.
pub(super) async fn json_answer(request: reqwest::RequestBuilder, url: &Url, what: &str) -> eyre::Result<Value> {
    let response = request.send().await.with_context(|| format!("reaching {url}: is `hrm serve` running there?"))?;
    let status = response.status();
    let bytes = response.bytes().await.with_context(|| format!("reading the answer of {url}"))?;
    let reply: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        let reason = reply["error"].as_str().unwrap_or("no reason given");
        return Err(eyre!("{url} refused {what} ({status}): {reason}"));
    }
    Ok(reply)
}
