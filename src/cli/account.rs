//! `hrm account new|import|list|label`.

use std::io::Read;
use std::path::PathBuf;

use clap::Subcommand;
use eyre::{Context as _, eyre};
use hrm::identity::AccountSpec;
use serde_json::json;

use super::context::{Context, new_password_for};
use super::output::{print_json, table};

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create a new random key in an encrypted keystore (password from HRM_PASSWORD or a prompt)
    New {
        /// Name to refer to the account by (letters, digits, '-', '_')
        name: String,
    },
    /// Import a private key into an encrypted keystore. The key is read from --key-file or from
    /// standard input, never from a flag, so it stays out of shell history
    Import {
        name: String,
        /// File holding the private key as hex; standard input when absent
        #[arg(long, value_name = "PATH")]
        key_file: Option<PathBuf>,
    },
    /// List named accounts: keystores and labelled addresses
    List,
    /// Name an address (a patient, another hospital) so commands accept the name. A name for a
    /// development account (dev:N) also signs as it, on local chains only
    Label {
        name: String,
        /// 0x… or dev:0..dev:9
        address: String,
    },
}

pub fn run(context: &Context, command: AccountCommand) -> eyre::Result<()> {
    let ids = &context.identities;
    match command {
        AccountCommand::New { name } => {
            refuse_taken(context, &name)?;
            let password = new_password_for(&name)?;
            let signer = ids.keystores.create(&name, &password)?;
            ids.book.insert(&name, signer.address())?;
            report(context, "created", &name, signer.address())
        }
        AccountCommand::Import { name, key_file } => {
            refuse_taken(context, &name)?;
            let mut key = String::new();
            match &key_file {
                Some(path) => {
                    key = std::fs::read_to_string(path)
                        .with_context(|| format!("reading the key file {}", path.display()))?
                }
                None => {
                    std::io::stdin().read_to_string(&mut key).context("reading the private key from standard input")?;
                }
            }
            let password = new_password_for(&name)?;
            let signer = ids.keystores.import(&name, &key, &password)?;
            ids.book.insert(&name, signer.address())?;
            report(context, "imported", &name, signer.address())
        }
        AccountCommand::List => {
            let entries = ids.book.entries()?;
            if context.json() {
                let rows: Vec<_> = entries
                    .iter()
                    .map(|(name, address)| json!({ "name": name, "address": address, "keystore": ids.keystores.contains(name) }))
                    .collect();
                return print_json(&rows);
            }
            if entries.is_empty() {
                println!("No accounts yet: create one with `hrm account new NAME`.");
                return Ok(());
            }
            let mut rows = table(["name", "address", "can sign"]);
            for (name, address) in entries {
                let signs = if ids.keystores.contains(&name) { "yes" } else { "no (label)" };
                rows.add_row(vec![name, address.to_string(), signs.to_string()]);
            }
            println!("{rows}");
            Ok(())
        }
        AccountCommand::Label { name, address } => {
            let address = match AccountSpec::parse(&address) {
                Ok(AccountSpec::Address(_) | AccountSpec::Dev(_)) => ids.resolve_address(&address)?,
                _ => return Err(eyre!("'{address}' is not an address (0x followed by 40 hex digits) or dev:0..dev:9")),
            };
            ids.book.insert(&name, address)?;
            report(context, "labelled", &name, address)
        }
    }
}

fn refuse_taken(context: &Context, name: &str) -> eyre::Result<()> {
    if context.identities.keystores.contains(name) || context.identities.book.get(name)?.is_some() {
        return Err(eyre!("an account named '{name}' already exists; choose another name"));
    }
    Ok(())
}

fn report(context: &Context, what: &str, name: &str, address: alloy::primitives::Address) -> eyre::Result<()> {
    if context.json() {
        return print_json(&json!({ "name": name, "address": address }));
    }
    println!("{what} account '{name}': {address}");
    Ok(())
}
