//! `hrm hospital register|list|endpoint|supporting|propose|proposals|approve|release-votes`.

use alloy::primitives::Address;
use clap::{Args, Subcommand};
use hrm::chain::membership::describe_lifetime;
use hrm::chain::revert::describe_expiry;
use hrm::chain::{Consortium, MembershipChange, ProposalOutcome, ProposalStatus, parse_lifetime};
use hrm::exchange::check_endpoint;
use serde_json::json;

use super::context::Context;
use super::output::{print_json, print_tx, table};

#[derive(Debug, Subcommand)]
pub enum HospitalCommand {
    /// Admit one of the first hospitals (the consortium admin, until it renounces; afterwards
    /// member hospitals propose others with `hrm hospital propose add`)
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
    /// Propose admitting or removing a hospital, or a new rule, as the signing member hospital;
    /// it passes when more than the rule's share of the hospitals approve before it expires
    #[command(subcommand)]
    Propose(ProposeCommand),
    /// List membership proposals with their approvals (open ones, or --all)
    Proposals {
        /// Also list passed and expired proposals
        #[arg(long)]
        all: bool,
    },
    /// Approve a proposal as the signing member hospital; the approval that carries it carries
    /// it out (and, for a removal, releases the removed hospital's pending votes)
    Approve {
        /// The proposal's number, from `hrm hospital proposals`
        id: u64,
    },
    /// Stop pending entries waiting for the votes of removed hospitals (anyone may run it; an
    /// entry whose other votes are all in is approved)
    ReleaseVotes,
}

#[derive(Debug, Subcommand)]
pub enum ProposeCommand {
    /// Propose admitting a hospital
    Add {
        /// The hospital's account: address, name or dev:N
        hospital: String,
        /// The hospital's name as shown to others
        #[arg(long)]
        name: String,
    },
    /// Propose removing a hospital: it can then no longer submit, vote, receive envelopes or
    /// hold grants
    Remove {
        /// The hospital's account: address, name or dev:N
        hospital: String,
    },
    /// Propose a new rule for proposals
    Rule {
        /// A proposal passes with approvals from more than this percentage of the hospitals
        /// (50 to 99; 50 means more than half)
        #[arg(long, value_parser = clap::value_parser!(u8).range(50..=99))]
        percent: u8,
        /// How long a proposal stays open: days or hours, e.g. 7d or 12h (an hour to 90 days)
        #[arg(long, value_parser = parse_lifetime, default_value = "7d")]
        lifetime: u32,
    },
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
        HospitalCommand::Propose(command) => {
            let change = match command {
                ProposeCommand::Add { hospital, name } => {
                    MembershipChange::Add { hospital: context.address(&hospital)?, name }
                }
                ProposeCommand::Remove { hospital } => {
                    MembershipChange::Remove { hospital: context.address(&hospital)? }
                }
                ProposeCommand::Rule { percent, lifetime } => MembershipChange::Rule { percent, lifetime },
            };
            let (consortium, _) = context.consortium_signed().await?;
            let outcome = consortium.propose(&change).await?;
            report_proposal(context, &consortium, &outcome, "Proposed").await
        }
        HospitalCommand::Approve { id } => {
            let (consortium, _) = context.consortium_signed().await?;
            let outcome = consortium.approve_proposal(id).await?;
            report_proposal(context, &consortium, &outcome, "Approved").await
        }
        HospitalCommand::ReleaseVotes => {
            let (consortium, _) = context.consortium_signed().await?;
            let outcomes = consortium.release_all_removed_voters().await?;
            if context.json() {
                return print_json(&outcomes);
            }
            if outcomes.is_empty() {
                println!("No pending entry waits for a removed hospital's vote.");
            }
            for outcome in outcomes {
                println!(
                    "{} entries stopped waiting for removed hospitals ({} of them approved) in transaction {}.",
                    outcome.released.len(),
                    outcome.approved.len(),
                    outcome.tx.tx_hash
                );
            }
            Ok(())
        }
        HospitalCommand::Proposals { all } => {
            let consortium = context.consortium().await?;
            let (proposals, rule, hospitals) =
                tokio::try_join!(consortium.proposals(), consortium.membership_rule(), consortium.hospitals())?;
            let shown: Vec<_> = proposals.into_iter().filter(|p| all || p.status == ProposalStatus::Open).collect();
            if context.json() {
                return print_json(&json!({ "rule": rule, "proposals": shown }));
            }
            let name_of = |address: Address| name_in(&hospitals, address);
            println!(
                "A proposal passes with approvals from more than {}% of the {} hospitals ({} now) within {}.{}",
                rule.percent,
                hospitals.len(),
                rule.approvals_needed,
                describe_lifetime(u64::from(rule.lifetime)),
                if rule.admin_active {
                    " The admin still registers hospitals (`hrm admin renounce` ends that)."
                } else {
                    ""
                }
            );
            if shown.is_empty() {
                println!("{}", if all { "No proposals yet." } else { "No open proposals (--all lists the others)." });
                return Ok(());
            }
            let mut rows = table(["#", "change", "proposed by", "status", "approvals", "expires"]);
            for proposal in shown {
                rows.add_row(vec![
                    proposal.id.to_string(),
                    described(&proposal.change, name_of),
                    name_of(proposal.proposer),
                    proposal.status.as_str().to_string(),
                    format!("{} of {}", proposal.approvals, proposal.approvals_needed),
                    describe_expiry(proposal.expires_at),
                ]);
            }
            println!("{rows}");
            Ok(())
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

/// Prints what a proposal or an approval did; when it removed a hospital, releases the removed
/// hospital's votes on the pending entries that waited for them, and says so.
async fn report_proposal(
    context: &Context,
    consortium: &Consortium,
    outcome: &ProposalOutcome,
    done: &str,
) -> eyre::Result<()> {
    let releases = match outcome.removed {
        Some(_) => consortium.release_all_removed_voters().await?,
        None => Vec::new(),
    };
    let proposal = consortium.proposal(outcome.proposal_id).await?;
    if context.json() {
        return print_json(&json!({ "outcome": outcome, "proposal": proposal, "releases": releases }));
    }
    // A removed hospital is no longer listed, but its name is kept.
    let mut hospitals = consortium.hospitals().await?;
    if let MembershipChange::Remove { hospital } = proposal.change {
        hospitals.push((hospital, consortium.hospital_name(hospital).await?));
    }
    let name_of = |address: Address| name_in(&hospitals, address);
    let change = described(&proposal.change, name_of);
    if outcome.passed {
        println!("{done} proposal {}: {change}. It passed and is carried out.", proposal.id);
    } else {
        println!(
            "{done} proposal {}: {change}. {} of {} approvals; open until {}.",
            proposal.id,
            proposal.approvals,
            proposal.approvals_needed,
            describe_expiry(proposal.expires_at)
        );
    }
    let released: usize = releases.iter().map(|r| r.released.len()).sum();
    let approved: usize = releases.iter().map(|r| r.approved.len()).sum();
    if released > 0 {
        println!(
            "{released} pending entries no longer wait for the removed hospital's vote; {approved} of them are now approved."
        );
    }
    println!("Transaction {} (block {}, {} gas).", outcome.tx.tx_hash, outcome.tx.block, outcome.tx.gas_used);
    Ok(())
}

/// A hospital's name from `hospitals`, or its address when it is not among them.
fn name_in(hospitals: &[(Address, String)], address: Address) -> String {
    hospitals.iter().find(|(a, _)| *a == address).map_or_else(|| address.to_string(), |(_, n)| n.clone())
}

/// A change with the address of the hospital it concerns, for the command line.
fn described(change: &MembershipChange, name_of: impl Fn(Address) -> String) -> String {
    match change.hospital() {
        Some(hospital) => format!("{} ({hospital})", change.describe(name_of)),
        None => change.describe(name_of),
    }
}
