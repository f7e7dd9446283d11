//! `hrm share grant|revoke|list`: a patient decides which other hospitals may read their
//! archived records.

use std::collections::HashMap;

use alloy::primitives::Address;
use clap::{Args, Subcommand};
use eyre::eyre;
use hrm::chain::revert::describe_expiry;
use hrm::chain::sharing::{UNTIL_REVOKED, end_of_day, standing_grants};
use serde_json::json;

use super::context::Context;
use super::output::{print_json, print_tx, table};

#[derive(Debug, Subcommand)]
pub enum ShareCommand {
    /// Let a hospital read your archived records (sent from your account, --from)
    Grant(GrantArgs),
    /// Withdraw a hospital's access at once (sent from your account, --from)
    Revoke {
        /// The hospital: name, address or dev:N
        hospital: String,
    },
    /// Who holds access to a patient's records now, and every grant and revocation
    List {
        /// The patient: name, address or dev:N [default: the --from account]
        #[arg(long)]
        patient: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct GrantArgs {
    /// The hospital: name, address or dev:N
    pub hospital: String,
    /// Last day of access (UTC); the grant ends when that day does [default: until revoked]
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub until: Option<String>,
}

pub async fn run(context: &Context, command: ShareCommand) -> eyre::Result<()> {
    match command {
        ShareCommand::Grant(args) => {
            let hospital = context.address(&args.hospital)?;
            let expires_at = match &args.until {
                Some(day) => end_of_day(day).map_err(|e| eyre!("--until {e}"))?,
                None => UNTIL_REVOKED,
            };
            let (consortium, signer) = context.consortium_signed().await?;
            let outcome = consortium.grant_access(hospital, expires_at).await?;
            let until = if expires_at == UNTIL_REVOKED {
                "until you revoke it".to_string()
            } else {
                format!("until {}", describe_expiry(expires_at))
            };
            let summary =
                format!("{} may now read the archived records of {} {until}", args.hospital, signer.address());
            let extra = json!({ "patient": signer.address(), "hospital": hospital, "expires_at": expires_at });
            print_tx(context.json(), &summary, &outcome, extra)
        }
        ShareCommand::Revoke { hospital: name } => {
            let hospital = context.address(&name)?;
            let (consortium, signer) = context.consortium_signed().await?;
            let outcome = consortium.revoke_access(hospital).await?;
            let summary = format!("{name} may no longer read the archived records of {}", signer.address());
            print_tx(context.json(), &summary, &outcome, json!({ "patient": signer.address(), "hospital": hospital }))
        }
        ShareCommand::List { patient } => list(context, patient.as_deref()).await,
    }
}

async fn list(context: &Context, patient: Option<&str>) -> eyre::Result<()> {
    let patient = match (patient, context.global.from.as_deref()) {
        (Some(who), _) | (None, Some(who)) => context.address(who)?,
        (None, None) => return Err(eyre!("name the patient with --patient WHO (or --from, for your own)")),
    };
    let consortium = context.consortium().await?;
    let (history, now, hospitals) =
        tokio::try_join!(consortium.access_history(Some(patient)), consortium.chain_time(), consortium.hospitals())?;
    let names: HashMap<Address, String> = hospitals.into_iter().collect();
    let standing = standing_grants(&history, now);
    if context.json() {
        return print_json(&json!({ "patient": patient, "chain_time": now, "grants": standing, "history": history }));
    }
    let name =
        |address: &Address| names.get(address).map_or_else(|| address.to_string(), |n| format!("{n} ({address})"));
    if standing.is_empty() {
        println!("No hospital holds a grant from {patient}.");
    } else {
        let mut rows = table(["hospital", "access", "granted in block"]);
        for grant in &standing {
            let access = match (grant.active, grant.expires_at) {
                (true, UNTIL_REVOKED) => "until revoked".to_string(),
                (true, at) => format!("until {}", describe_expiry(at)),
                (false, at) => format!("expired {}", describe_expiry(at)),
            };
            rows.add_row(vec![name(&grant.hospital), access, grant.block.to_string()]);
        }
        println!("{rows}");
    }
    println!("The hospitals that entered or approved a record can read that record too, without a grant.");
    if !history.is_empty() {
        let mut rows = table(["block", "change", "hospital", "transaction"]);
        for change in &history {
            let what = match change.expires_at {
                Some(UNTIL_REVOKED) => "granted until revoked".to_string(),
                Some(at) => format!("granted until {}", describe_expiry(at)),
                None => "revoked".to_string(),
            };
            rows.add_row(vec![change.block.to_string(), what, name(&change.hospital), change.tx_hash.to_string()]);
        }
        println!("History:\n{rows}");
    }
    Ok(())
}
