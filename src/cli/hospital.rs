//! `hrm hospital register|list|supporting`.

use clap::{Args, Subcommand};
use hrm::exchange::check_endpoint;
use serde_json::json;

use super::context::Context;
use super::output::{print_json, print_tx, table};

#[derive(Debug, Subcommand)]
pub enum HospitalCommand {
    /// Admit a hospital to the consortium (consortium admin only)
    Register {
        /// The hospital's account: address, name or dev:N
        hospital: String,
        /// The hospital's name as shown to others
        #[arg(long)]
        name: String,
    },
    /// List registered hospitals with their endpoints
    List,
    /// Publish or withdraw the signer's server endpoint, where other hospitals push and pull
    /// sealed envelopes (`hrm serve` answers under /api/v1/)
    #[command(subcommand)]
    Endpoint(EndpointCommand),
    /// Set or show a hospital's supporting hospitals (its approval panel)
    #[command(subcommand)]
    Supporting(SupportingCommand),
}

#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// Publish the signer's base URL: https://… (plain http:// only on loopback)
    Set {
        /// The base URL other hospitals reach this hospital's `hrm serve` at
        url: String,
    },
    /// Withdraw the signer's endpoint (other hospitals then cannot push to it)
    Clear,
}

#[derive(Debug, Subcommand)]
pub enum SupportingCommand {
    /// Name the signer's supporting hospitals; entries submitted from now on need their votes
    Set(SetArgs),
    /// Show a hospital's current supporting hospitals (the signer's when none is named)
    Get {
        /// The primary hospital: address, name or dev:N
        hospital: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Supporting hospitals: addresses, names or dev:N
    #[arg(required = true)]
    pub hospitals: Vec<String>,
}

pub async fn run(context: &Context, command: HospitalCommand) -> eyre::Result<()> {
    match command {
        HospitalCommand::Register { hospital, name } => {
            let address = context.address(&hospital)?;
            let (consortium, _) = context.consortium_signed().await?;
            let outcome = consortium.register_hospital(address, &name).await?;
            print_tx(
                context.json(),
                &format!("Registered hospital '{name}' ({address})"),
                &outcome,
                json!({ "hospital": address, "name": name }),
            )
        }
        HospitalCommand::List => {
            let consortium = context.consortium().await?;
            let mut hospitals = Vec::new();
            for (address, name) in consortium.hospitals().await? {
                hospitals.push((address, name, consortium.endpoint_of(address).await?));
            }
            if context.json() {
                let rows: Vec<_> = hospitals
                    .iter()
                    .map(|(address, name, endpoint)| json!({ "address": address, "name": name, "endpoint": endpoint }))
                    .collect();
                return print_json(&rows);
            }
            let mut rows = table(["hospital", "address", "endpoint"]);
            for (address, name, endpoint) in hospitals {
                rows.add_row(vec![name, address.to_string(), endpoint.unwrap_or_else(|| "-".into())]);
            }
            println!("{rows}");
            Ok(())
        }
        HospitalCommand::Endpoint(command) => {
            let url = match command {
                EndpointCommand::Set { url } => check_endpoint(&url).map_err(|e| eyre::eyre!(e))?,
                EndpointCommand::Clear => String::new(),
            };
            let (consortium, signer) = context.consortium_signed().await?;
            let outcome = consortium.set_endpoint(&url).await?;
            let summary = if url.is_empty() {
                format!("{} no longer publishes an endpoint", signer.address())
            } else {
                format!("{} now answers at {url}", signer.address())
            };
            print_tx(context.json(), &summary, &outcome, json!({ "hospital": signer.address(), "endpoint": url }))
        }
        HospitalCommand::Supporting(SupportingCommand::Set(args)) => {
            let members = args.hospitals.iter().map(|h| context.address(h)).collect::<eyre::Result<Vec<_>>>()?;
            let (consortium, signer) = context.consortium_signed().await?;
            let outcome = consortium.set_supporting_hospitals(members.clone()).await?;
            let summary = format!("{} now has {} supporting hospitals", signer.address(), members.len());
            print_tx(context.json(), &summary, &outcome, json!({ "primary": signer.address(), "supporting": members }))
        }
        HospitalCommand::Supporting(SupportingCommand::Get { hospital }) => {
            let consortium = context.consortium().await?;
            let primary = match hospital {
                Some(spec) => context.address(&spec)?,
                None => context.signer(consortium.connection())?.address(),
            };
            let members = consortium.supporting_hospitals(primary).await?;
            let names = consortium.hospitals().await?;
            if context.json() {
                return print_json(&json!({ "primary": primary, "supporting": members }));
            }
            if members.is_empty() {
                println!("{primary} has no supporting hospitals");
                return Ok(());
            }
            let mut rows = table(["supporting hospital", "address"]);
            for member in members {
                let name = names.iter().find(|(a, _)| *a == member).map(|(_, n)| n.clone()).unwrap_or_default();
                rows.add_row(vec![name, member.to_string()]);
            }
            println!("{rows}");
            Ok(())
        }
    }
}
