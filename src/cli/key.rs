//! `hrm key publish|show`.

use clap::Subcommand;
use hrm::records::keys::public_key_bytes;
use serde_json::json;

use super::context::Context;
use super::output::{print_json, print_tx};

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Publish the signer's public key on chain (hospitals and patients do this once)
    Publish,
    /// Show the public key an account has published
    Show {
        /// Account: name, address or dev:N
        account: String,
    },
}

pub async fn run(context: &Context, command: KeyCommand) -> eyre::Result<()> {
    match command {
        KeyCommand::Publish => {
            let (consortium, signer) = context.consortium_signed().await?;
            let outcome = consortium.publish_key(public_key_bytes(&signer)).await?;
            let summary = format!("Published the public key of {}", signer.address());
            print_tx(context.json(), &summary, &outcome, json!({ "account": signer.address() }))
        }
        KeyCommand::Show { account } => {
            let address = context.address(&account)?;
            let key = context.consortium().await?.public_key_of(address).await?;
            if context.json() {
                return print_json(&json!({ "account": address, "public_key": (!key.is_empty()).then_some(key) }));
            }
            if key.is_empty() {
                println!("{address} has not published a key");
            } else {
                println!("{key}");
            }
            Ok(())
        }
    }
}
