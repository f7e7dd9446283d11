//! `hrm key publish|rotate|show`.

use alloy::primitives::Bytes;
use clap::Subcommand;
use hrm::records::keys::public_key_bytes;
use k256::SecretKey;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use serde_json::json;

use super::context::Context;
use super::output::{print_json, print_tx};

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Publish the signer's public key on chain (hospitals and patients do this once)
    Publish,
    /// A hospital publishes a new sealing key; records from now on are sealed to it
    ///
    /// The old keys are kept (in the home's sealing-keys folder, encrypted under the account
    /// key), so envelopes sealed to them still open. Copy that folder to every machine that opens
    /// this hospital's envelopes: its servers, its followers, its backups.
    Rotate,
    /// Show the key records are sealed to for an account, and its version (0: the account's own)
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
        KeyCommand::Rotate => {
            let (consortium, signer) = context.consortium_signed().await?;
            let (_, current) = consortium.sealing_key_of(signer.address()).await?;
            let version = current + 1;
            let secret = SecretKey::random(&mut rand::rngs::OsRng);
            let public = secret.public_key().to_encoded_point(false);
            // Kept before it is published: a crash after the transaction must not lose the key
            // that the next records are sealed to.
            let store = &context.identities.sealing_keys;
            let path = store.save(&signer, version, &secret)?;
            let (outcome, published) =
                match consortium.rotate_key(Bytes::copy_from_slice(&public.as_bytes()[1..])).await {
                    Ok(rotated) => rotated,
                    Err(e) => {
                        store.discard(signer.address(), version);
                        return Err(e.into());
                    }
                };
            if published != version {
                store.discard(signer.address(), version);
                store.save(&signer, published, &secret)?;
            }
            let summary = format!(
                "{} now seals to key version {published}; the earlier keys stay in {}",
                signer.address(),
                path.parent().map(|p| p.display().to_string()).unwrap_or_default()
            );
            print_tx(context.json(), &summary, &outcome, json!({ "account": signer.address(), "version": published }))
        }
        KeyCommand::Show { account } => {
            let address = context.address(&account)?;
            let (key, version) = context.consortium().await?.sealing_key_of(address).await?;
            if context.json() {
                return print_json(
                    &json!({ "account": address, "public_key": (!key.is_empty()).then_some(key), "version": version }),
                );
            }
            if key.is_empty() {
                println!("{address} has not published a key");
            } else {
                println!("{key} (version {version})");
            }
            Ok(())
        }
    }
}
