//! The one launcher for local networks: an Anvil node or a Geth Clique network, with or without
//! the document database. `hrm devnet up`, the demo, the benchmarks and the test harness all start
//! their services here.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::geth::GETH_CHAIN_ID;
use super::local::ServiceRecord;
use super::{AnvilNode, AnvilOptions, DevnetError, DocumentDbServer, GethNetwork, GethNetworkOptions, NodeRole};

/// Anvil's chain id.
pub const ANVIL_CHAIN_ID: u64 = 31337;

/// Which chain a local network runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// One Anvil node (chain id 31337).
    Anvil,
    /// A Geth 1.13 Clique network (chain id 1337).
    Geth,
}

impl Engine {
    /// The name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anvil => "anvil",
            Self::Geth => "geth",
        }
    }
}

/// Who stops the services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// They die with this process, even when it is killed (demo, benchmarks, tests).
    ThisProcess,
    /// They run in their own session and outlive this process once detached (`hrm devnet up`).
    Detachable,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct NetworkSpec {
    pub engine: Engine,
    /// Geth nodes; Anvil always runs one.
    pub nodes: usize,
    /// Seconds between blocks; `None`: Anvil mines each transaction at once, Geth seals every second.
    pub block_time: Option<u64>,
    /// Also start the MongoDB-wire document database.
    pub with_database: bool,
    pub lifetime: Lifetime,
    /// Anvil records every step of every transaction, so `debug_traceTransaction` returns
    /// opcode traces (Geth always does). It slows Anvil; only the gas benchmark asks for it.
    pub traced: bool,
}

impl NetworkSpec {
    /// The usual network of `engine`: one Anvil node, or the paper's five Geth nodes with
    /// one-second blocks; with the database, tied to this process.
    pub fn of(engine: Engine) -> Self {
        Self { engine, nodes: 5, block_time: None, with_database: true, lifetime: Lifetime::ThisProcess, traced: false }
    }

    /// The same without the document database.
    pub fn without_database(self) -> Self {
        Self { with_database: false, ..self }
    }

    /// The same with opcode traces of every transaction (see [`NetworkSpec::traced`]).
    pub fn traced(self) -> Self {
        Self { traced: true, ..self }
    }

    fn tie_to_parent(&self) -> bool {
        self.lifetime == Lifetime::ThisProcess
    }
}

/// The chain part of a running local network.
pub enum LocalChain {
    Anvil(AnvilNode),
    Geth(GethNetwork),
}

/// A running local network; dropping it stops every process it started.
pub struct LocalNetwork {
    pub chain: LocalChain,
    pub database: Option<DocumentDbServer>,
}

impl LocalNetwork {
    /// Starts what `spec` asks for, with data and logs under `dir`, and waits until it answers
    /// (for Geth: every node has a peer and the first block is sealed).
    pub async fn start(spec: &NetworkSpec, dir: &Path) -> Result<Self, DevnetError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| DevnetError::Io { what: format!("creating {}", dir.display()), source })?;
        // The database first: if the chain fails to start, dropping it leaves nothing behind.
        let database = match spec.with_database {
            true => Some(DocumentDbServer::start(&dir.join("docdb"), 0, spec.tie_to_parent())?),
            false => None,
        };
        let chain = match spec.engine {
            Engine::Anvil => {
                let options = AnvilOptions {
                    block_time: spec.block_time,
                    tie_to_parent: spec.tie_to_parent(),
                    steps_tracing: spec.traced,
                    ..Default::default()
                };
                LocalChain::Anvil(AnvilNode::start(&options, &dir.join("anvil.log"))?)
            }
            Engine::Geth => {
                let options = GethNetworkOptions {
                    nodes: spec.nodes,
                    block_time: spec.block_time.unwrap_or(1),
                    tie_to_parent: spec.tie_to_parent(),
                };
                LocalChain::Geth(GethNetwork::start_ready(&dir.join("geth"), &options).await?)
            }
        };
        Ok(Self { chain, database })
    }

    /// The engine running.
    pub fn engine(&self) -> Engine {
        match self.chain {
            LocalChain::Anvil(_) => Engine::Anvil,
            LocalChain::Geth(_) => Engine::Geth,
        }
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        match self.chain {
            LocalChain::Anvil(_) => ANVIL_CHAIN_ID,
            LocalChain::Geth(_) => GETH_CHAIN_ID,
        }
    }

    /// Each node's JSON-RPC URL, node 1 first.
    pub fn rpc_urls(&self) -> Vec<String> {
        match &self.chain {
            LocalChain::Anvil(node) => vec![node.rpc_url()],
            LocalChain::Geth(network) => network.specs().iter().map(|s| s.rpc_url()).collect(),
        }
    }

    /// Node 1's JSON-RPC URL.
    pub fn rpc_url(&self) -> String {
        self.rpc_urls().swap_remove(0)
    }

    /// The document database's URI, when one was started.
    pub fn mongodb_uri(&self) -> Option<String> {
        self.database.as_ref().map(DocumentDbServer::uri)
    }

    /// The Geth network, to stop and restart nodes.
    pub fn geth_mut(&mut self) -> Option<&mut GethNetwork> {
        match &mut self.chain {
            LocalChain::Geth(network) => Some(network),
            LocalChain::Anvil(_) => None,
        }
    }

    /// Process ids of every running service.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = match &self.chain {
            LocalChain::Anvil(node) => node.pid().into_iter().collect(),
            LocalChain::Geth(network) => network.pids(),
        };
        pids.extend(self.database.as_ref().and_then(DocumentDbServer::pid));
        pids
    }

    /// Lets every service run on after this process exits; returns what `hrm devnet down` needs
    /// to stop them: the nodes, then the database.
    pub fn detach(self) -> (Vec<ServiceRecord>, Option<ServiceRecord>) {
        let database = self.database.map(|server| {
            let endpoint = server.uri();
            ServiceRecord {
                name: "secantusd".into(),
                role: "database".into(),
                pid: server.detach(),
                endpoint,
                program: "secantus".into(),
            }
        });
        let nodes = match self.chain {
            LocalChain::Anvil(node) => {
                let endpoint = node.rpc_url();
                vec![ServiceRecord {
                    name: "anvil".into(),
                    role: "node".into(),
                    pid: node.detach(),
                    endpoint,
                    program: "anvil".into(),
                }]
            }
            LocalChain::Geth(network) => network
                .detach()
                .into_iter()
                .map(|(spec, pid)| ServiceRecord {
                    name: format!("node{}", spec.index),
                    role: match spec.role {
                        NodeRole::Boot => "boot node",
                        NodeRole::Sealer => "sealer",
                        NodeRole::Full => "full node",
                    }
                    .into(),
                    pid: pid.unwrap_or_default(),
                    endpoint: spec.rpc_url(),
                    program: "geth".into(),
                })
                .collect(),
        };
        (nodes, database)
    }
}
