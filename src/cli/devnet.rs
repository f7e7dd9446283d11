//! `hrm devnet up|status|down`.

use clap::Subcommand;
use hrm::devnet::local::DevnetHome;
use serde_json::json;

use super::choices::EngineChoice;
use super::context::Context;
use super::output::{print_json, table};

#[derive(Debug, Subcommand)]
pub enum DevnetCommand {
    /// Start a local network and a MongoDB-wire server; later commands use them without flags
    Up {
        /// anvil: one Anvil node (chain 31337); geth: a Geth Clique network (chain 1337) with a
        /// boot node, sealers and full nodes
        #[arg(long, value_enum, default_value_t = EngineChoice::Anvil)]
        engine: EngineChoice,
        /// Number of Geth nodes
        #[arg(long, default_value_t = 5)]
        nodes: usize,
        /// Seconds between blocks [default: anvil mines each transaction at once; geth 1]
        #[arg(long, value_name = "SECONDS")]
        block_time: Option<u64>,
    },
    /// Show each node's RPC URL, peer count and head block
    Status,
    /// Stop every process the devnet started, by PID, and remove its data
    Down {
        /// Keep the chain and database data
        #[arg(long)]
        keep: bool,
    },
}

pub async fn run(context: &Context, command: DevnetCommand) -> eyre::Result<()> {
    let devnet = DevnetHome::new(&context.home);
    match command {
        DevnetCommand::Up { engine, nodes, block_time } => {
            let engine: hrm::devnet::Engine = engine.into();
            if !context.json() {
                eprintln!("starting a {} devnet…", engine.as_str());
            }
            let state = devnet.up(engine, nodes, block_time).await?;
            if context.json() {
                return print_json(&state);
            }
            println!(
                "Devnet up: chain {} at {}, database {}. Other commands use them by default; stop with `hrm devnet down`.",
                state.chain_id,
                state.rpc_url(),
                state.mongodb_uri()
            );
            print_status(&devnet.status(&state).await);
            Ok(())
        }
        DevnetCommand::Status => {
            let state = devnet.load()?.ok_or(hrm::devnet::DevnetError::NotUp)?;
            let statuses = devnet.status(&state).await;
            if context.json() {
                return print_json(
                    &json!({ "engine": state.engine, "chain_id": state.chain_id, "services": statuses }),
                );
            }
            println!("{} devnet, chain {}", state.engine.as_str(), state.chain_id);
            print_status(&statuses);
            Ok(())
        }
        DevnetCommand::Down { keep } => {
            let stopped = devnet.down(keep)?;
            if context.json() {
                return print_json(&json!({ "stopped": stopped, "data_kept": keep }));
            }
            for service in &stopped {
                println!("stopped {} (PID {})", service.name, service.pid);
            }
            println!("{}", if keep { "Data kept." } else { "Data removed." });
            Ok(())
        }
    }
}

fn print_status(statuses: &[hrm::devnet::local::ServiceStatus]) {
    let mut rows = table(["service", "role", "endpoint", "PID", "running", "peers", "head block"]);
    for s in statuses {
        let optional = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        rows.add_row(vec![
            s.service.name.clone(),
            s.service.role.clone(),
            s.service.endpoint.clone(),
            s.service.pid.to_string(),
            if s.running { "yes" } else { "NO" }.to_string(),
            optional(s.peers),
            optional(s.head_block),
        ]);
    }
    println!("{rows}");
}
