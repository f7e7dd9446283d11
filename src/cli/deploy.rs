//! `hrm deploy`.

use clap::Args;
use serde_json::json;

use super::context::Context;
use super::output::print_tx;

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Deploy even though a contract is already saved for this chain, and replace it
    #[arg(long)]
    pub force: bool,
}

pub async fn run(context: &Context, args: DeployArgs) -> eyre::Result<()> {
    let (connection, _) = context.connect_signed().await?;
    let store = context.deployments();
    let (record, outcome) = connection.deploy(&store, args.force).await?;
    let summary = format!(
        "Deployed HealthRecords at {} on chain {} (admin {}); saved to {}",
        record.address,
        record.chain_id,
        record.deployer,
        store.path_of(record.chain_id).display()
    );
    print_tx(context.json(), &summary, &outcome, json!({ "address": record.address, "chain_id": record.chain_id }))
}
