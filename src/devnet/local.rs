//! `hrm devnet`: long-lived local networks whose endpoints other commands pick up.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::geth::node_status;
use super::{DevnetError, Engine, Lifetime, LocalNetwork, NetworkSpec, stop_pid};
use crate::fsutil::write_atomically;

/// A process the devnet started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub name: String,
    pub role: String,
    pub pid: u32,
    /// JSON-RPC URL or MongoDB URI.
    pub endpoint: String,
    /// What the process's command line contains (guards against recycled PIDs).
    pub program: String,
}

/// What `hrm devnet up` started, saved in `$HRM_HOME/devnet/state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevnetState {
    pub engine: Engine,
    pub chain_id: u64,
    pub data_dir: PathBuf,
    pub nodes: Vec<ServiceRecord>,
    pub database: ServiceRecord,
}

impl DevnetState {
    /// The URL other commands use by default: the first node's.
    pub fn rpc_url(&self) -> &str {
        &self.nodes[0].endpoint
    }

    /// The database URI other commands use by default.
    pub fn mongodb_uri(&self) -> &str {
        &self.database.endpoint
    }
}

/// A node's live status.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    #[serde(flatten)]
    pub service: ServiceRecord,
    pub running: bool,
    pub peers: Option<u64>,
    pub head_block: Option<u64>,
}

/// Where the devnet of an hrm home keeps its state and data.
#[derive(Debug, Clone)]
pub struct DevnetHome {
    dir: PathBuf,
}

impl DevnetHome {
    /// The devnet folder of `home`.
    pub fn new(home: &Path) -> Self {
        Self { dir: home.join("devnet") }
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The running devnet, if one was started and not stopped.
    pub fn load(&self) -> Result<Option<DevnetState>, DevnetError> {
        match std::fs::read_to_string(self.state_path()) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| DevnetError::Io {
                what: format!("reading {}", self.state_path().display()),
                source: std::io::Error::other(e),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(DevnetError::Io { what: format!("reading {}", self.state_path().display()), source }),
        }
    }

    /// Starts a devnet and saves its state; refuses when one is already up.
    pub async fn up(&self, engine: Engine, nodes: usize, block_time: Option<u64>) -> Result<DevnetState, DevnetError> {
        if let Some(state) = self.load()? {
            return Err(DevnetError::AlreadyUp { engine: state.engine, url: state.rpc_url().to_string() });
        }
        let data_dir = self.dir.join("data");
        let _ = std::fs::remove_dir_all(&data_dir);
        std::fs::create_dir_all(&data_dir)
            .map_err(|source| DevnetError::Io { what: format!("creating {}", data_dir.display()), source })?;

        let spec = NetworkSpec { nodes, block_time, lifetime: Lifetime::Detachable, ..NetworkSpec::of(engine) };
        let network = LocalNetwork::start(&spec, &data_dir).await?;
        let chain_id = network.chain_id();
        let (node_records, database) = network.detach();
        let database = database.expect("the devnet's spec includes the database");
        let state = DevnetState { engine, chain_id, data_dir, nodes: node_records, database };
        let text = serde_json::to_string_pretty(&state).expect("the state serializes");
        write_atomically(&self.state_path(), text.as_bytes())
            .map_err(|source| DevnetError::Io { what: format!("saving {}", self.state_path().display()), source })?;
        Ok(state)
    }

    /// Each service's process state, peers and head.
    pub async fn status(&self, state: &DevnetState) -> Vec<ServiceStatus> {
        let mut statuses = Vec::new();
        for node in &state.nodes {
            let running = super::is_running(node.pid);
            let live = if running { node_status(&node.endpoint).await } else { None };
            statuses.push(ServiceStatus {
                service: node.clone(),
                running,
                peers: live.map(|(p, _)| p),
                head_block: live.map(|(_, h)| h),
            });
        }
        statuses.push(ServiceStatus {
            service: state.database.clone(),
            running: super::is_running(state.database.pid),
            peers: None,
            head_block: None,
        });
        statuses
    }

    /// Stops every process of the devnet by PID and, unless `keep`, removes its data. Returns the
    /// services that were stopped.
    pub fn down(&self, keep: bool) -> Result<Vec<ServiceRecord>, DevnetError> {
        let state = self.load()?.ok_or(DevnetError::NotUp)?;
        let services: Vec<ServiceRecord> = state.nodes.iter().chain([&state.database]).cloned().collect();
        for service in &services {
            if !stop_pid(service.pid, &service.program) {
                return Err(DevnetError::Io {
                    what: format!("stopping {} (PID {})", service.name, service.pid),
                    source: std::io::Error::other("it is still running"),
                });
            }
        }
        if !keep {
            let _ = std::fs::remove_dir_all(&state.data_dir);
        }
        std::fs::remove_file(self.state_path())
            .map_err(|source| DevnetError::Io { what: format!("removing {}", self.state_path().display()), source })?;
        Ok(services)
    }
}
