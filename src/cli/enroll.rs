//! `hrm enroll LINK`: a patient signs a hospital's enrollment challenge with their own key, from
//! their own computer, linking their account to the hospital's record of them.

use alloy::signers::SignerSync;
use alloy::transports::http::reqwest::{self, Url};
use clap::Args;
use eyre::{Context as _, eyre};
use hrm::directory::enrollment::message_domain_and_mrn;
use hrm::siwe::domain_of;
use serde_json::json;

use super::context::{Context, password_for};
use super::login::{json_answer, post};
use super::output::print_json;

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The enrollment link the hospital's desk gave you, e.g. https://records.example.org/enroll/3f9c…
    pub link: String,
}

pub async fn run(context: &Context, args: EnrollArgs) -> eyre::Result<()> {
    let link: Url = args
        .link
        .trim()
        .parse()
        .map_err(|e| eyre!("'{}' is not a link ({e}); paste the whole enrollment link", args.link))?;
    let code = link
        .path()
        .strip_prefix("/enroll/")
        .filter(|code| !code.is_empty() && !code.contains('/'))
        .ok_or_else(|| eyre!("'{link}' is not an enrollment link (…/enroll/CODE); ask the hospital's desk for one"))?
        .to_string();
    let spec = context
        .global
        .from
        .as_deref()
        .ok_or_else(|| eyre!("name the account you enroll with --from NAME|ADDRESS (or HRM_FROM)"))?;
    let address = context.address(spec)?;
    let client = reqwest::Client::new();
    let message_url = link.join(&format!("/enroll/{code}/message")).context("building the message's URL")?;
    let reply = json_answer(client.get(message_url.clone()), &message_url, "the enrollment").await?;
    let message = reply["message"].as_str().ok_or_else(|| eyre!("{message_url} answered without a message to sign"))?;
    // Sign only what names the server in the link and this code: anything else is phishing.
    let expected = domain_of(&link);
    let named = message_domain_and_mrn(message);
    if named.as_ref().map(|(domain, _)| domain) != Some(&expected)
        || !message.contains(&format!("Enrollment code: {code}\n"))
    {
        return Err(eyre!(
            "{message_url} asked to sign a message for another server or code than {expected}; nothing was signed"
        ));
    }
    let chain_id = reply["chain_id"].as_u64().ok_or_else(|| eyre!("{message_url} answered without its chain id"))?;
    let signer = context.identities.resolve_signer(spec, chain_id, password_for)?;
    let signature = signer.sign_message_sync(message.as_bytes()).context("signing the enrollment message")?;
    let base = link.join("/").context("reading the server's address from the link")?;
    let reply = post(
        &client,
        &base,
        &format!("enroll/{code}"),
        json!({ "account": address, "signature": alloy::hex::encode_prefixed(signature.as_bytes()) }),
        "the enrollment",
    )
    .await?;
    let mrn = reply["mrn"].as_str().unwrap_or_default();
    if context.json() {
        return print_json(&json!({ "account": address, "mrn": mrn, "server": expected }));
    }
    println!("Enrolled {address} at {expected} as medical record number {mrn}.");
    Ok(())
}
