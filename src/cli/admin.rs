//! `hrm admin renounce`: the deployer gives up registering hospitals.

use clap::Subcommand;
use serde_json::json;

use super::context::Context;
use super::output::print_tx;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Give up registering hospitals, for good: membership then changes only by the hospitals'
    /// proposals (`hrm hospital propose`, `hrm hospital approve`). Needs --yes
    Renounce {
        /// Confirm: this cannot be undone
        #[arg(long)]
        yes: bool,
    },
}

pub async fn run(context: &Context, command: AdminCommand) -> eyre::Result<()> {
    match command {
        AdminCommand::Renounce { yes } => {
            if !yes {
                eyre::bail!(
                    "renouncing cannot be undone: no account will register hospitals alone again. Run it again with --yes to confirm"
                );
            }
            let (consortium, signer) = context.consortium_signed().await?;
            let outcome = consortium.renounce_admin().await?;
            print_tx(
                context.json(),
                &format!(
                    "{} renounced: hospitals now join and leave only by their members' proposals",
                    signer.address()
                ),
                &outcome,
                json!({ "admin": signer.address(), "renounced": true }),
            )
        }
    }
}
