//! A private Geth 1.13 network on 127.0.0.1 sealing Clique proof-of-authority blocks, like the
//! paper's five nodes: node 1 is the boot node, the next ones seal, the rest are full nodes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, hex};
use alloy::signers::local::PrivateKeySigner;
use serde::{Deserialize, Serialize};

use super::{DevnetError, ManagedProcess, accepts_connections, free_port};
use crate::chain::dev_keys::{DEV_ACCOUNT_COUNT, dev_signer};
use crate::tools::{self, Tool};

/// Chain id of the network: one of the ids on which development keys are accepted.
pub const GETH_CHAIN_ID: u64 = 1337;
const START_TIMEOUT: Duration = Duration::from_secs(60);
const PASSWORD: &str = "hrm-devnet";

/// What a node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// The node the others find each other through; a full node otherwise.
    Boot,
    /// Seals blocks (a Clique signer).
    Sealer,
    /// Follows the chain without sealing.
    Full,
}

/// How to lay out a network.
#[derive(Debug, Clone)]
pub struct GethNetworkOptions {
    pub nodes: usize,
    /// Seconds between blocks (the Clique period).
    pub block_time: u64,
    pub tie_to_parent: bool,
}

/// Everything needed to (re)start one node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GethNodeSpec {
    /// 1-based.
    pub index: usize,
    pub role: NodeRole,
    pub datadir: PathBuf,
    pub http_port: u16,
    pub p2p_port: u16,
    pub authrpc_port: u16,
    /// The boot node's key (hex), fixed so its enode address is known in advance.
    pub nodekey: Option<String>,
    pub bootnode: Option<String>,
    pub sealer: Option<Address>,
}

impl GethNodeSpec {
    /// The node's JSON-RPC URL.
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Starts the node (its data must be initialised).
    pub fn start(&self, tie_to_parent: bool) -> Result<ManagedProcess, DevnetError> {
        let geth = tools::locate(Tool::Geth)?;
        let mut command = Command::new(geth);
        command
            .arg("--datadir")
            .arg(&self.datadir)
            .args(["--networkid", &GETH_CHAIN_ID.to_string(), "--syncmode", "full", "--ipcdisable", "--verbosity", "3"])
            .args(["--port", &self.p2p_port.to_string(), "--authrpc.port", &self.authrpc_port.to_string()])
            .args(["--http", "--http.addr", "127.0.0.1", "--http.port", &self.http_port.to_string()])
            .args(["--http.api", "eth,net,web3,txpool,admin", "--nat", "none", "--netrestrict", "127.0.0.0/8"])
            .args(["--txpool.pricelimit", "1"]);
        if let Some(key) = &self.nodekey {
            command.args(["--nodekeyhex", key]);
        }
        if let Some(bootnode) = &self.bootnode {
            command.args(["--bootnodes", bootnode]);
        }
        if let Some(sealer) = self.sealer {
            let address = sealer.to_string();
            command
                .args(["--mine", "--miner.etherbase", &address, "--unlock", &address, "--allow-insecure-unlock"])
                // Include any transaction paying a tip at all: wallets' suggested tips on a quiet
                // network are far below Geth's default floor of 1 gwei.
                .args(["--miner.gasprice", "1"])
                .arg("--password")
                .arg(self.datadir.join("password"));
        }
        let mut process = ManagedProcess::spawn(
            &format!("geth node {}", self.index),
            command,
            &self.datadir.join("geth.log"),
            tie_to_parent,
        )?;
        let port = self.http_port;
        process.wait_until(START_TIMEOUT, |_| accepts_connections(port).then_some(()))?;
        Ok(process)
    }
}

/// A running network; every node is stopped when it is dropped.
pub struct GethNetwork {
    pub nodes: Vec<(GethNodeSpec, Option<ManagedProcess>)>,
    pub tie_to_parent: bool,
}

impl GethNetwork {
    /// Creates the genesis, the sealers' keys and every node's data under `dir`, and starts the
    /// nodes, boot node first.
    pub fn start(dir: &Path, options: &GethNetworkOptions) -> Result<Self, DevnetError> {
        let specs = prepare(dir, options)?;
        let mut network = Self { nodes: Vec::new(), tie_to_parent: options.tie_to_parent };
        for spec in specs {
            let process = spec.start(options.tie_to_parent)?;
            network.nodes.push((spec, Some(process)));
        }
        Ok(network)
    }

    /// Starts the network and waits until every node has a peer and the first sealed block.
    pub async fn start_ready(dir: &Path, options: &GethNetworkOptions) -> Result<Self, DevnetError> {
        let network = Self::start(dir, options)?;
        let urls: Vec<String> = network.specs().iter().map(GethNodeSpec::rpc_url).collect();
        // On failure `network` is dropped here, which stops the nodes.
        wait_for_network(&urls, 1, 1, Duration::from_secs(120)).await?;
        Ok(network)
    }

    /// The nodes' specifications.
    pub fn specs(&self) -> Vec<GethNodeSpec> {
        self.nodes.iter().map(|(spec, _)| spec.clone()).collect()
    }

    /// Process ids of the running nodes.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().filter_map(|(_, process)| process.as_ref().and_then(ManagedProcess::pid)).collect()
    }

    /// Stops node `index` (1-based).
    pub fn stop_node(&mut self, index: usize) {
        if let Some((_, process)) = self.nodes.get_mut(index - 1)
            && let Some(mut process) = process.take()
        {
            process.stop();
        }
    }

    /// Starts node `index` (1-based) again on its old data.
    pub fn restart_node(&mut self, index: usize) -> Result<(), DevnetError> {
        let tie = self.tie_to_parent;
        let (spec, process) = &mut self.nodes[index - 1];
        if process.is_none() {
            *process = Some(spec.start(tie)?);
        }
        Ok(())
    }

    /// Hands the processes over to the operating system (they keep running after this process
    /// exits); returns the specs with each PID.
    pub fn detach(self) -> Vec<(GethNodeSpec, Option<u32>)> {
        self.nodes.into_iter().map(|(spec, process)| (spec, process.map(ManagedProcess::detach))).collect()
    }
}

/// Writes keys, the genesis and initialised data folders; returns each node's spec.
fn prepare(dir: &Path, options: &GethNetworkOptions) -> Result<Vec<GethNodeSpec>, DevnetError> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source| DevnetError::Io { what: what.clone(), source }
    };
    if options.nodes < 2 {
        return Err(DevnetError::Io {
            what: "laying out the network".into(),
            source: std::io::Error::other(format!("a network needs at least 2 nodes, not {}", options.nodes)),
        });
    }
    std::fs::create_dir_all(dir).map_err(io(&format!("creating {}", dir.display())))?;
    let geth = tools::locate(Tool::Geth)?;
    // Boot node first, then sealers, then full nodes; at least one sealer.
    let sealers = options.nodes.saturating_sub(2).max(1);
    let roles: Vec<NodeRole> = (0..options.nodes)
        .map(|i| match i {
            0 => NodeRole::Boot,
            i if i <= sealers => NodeRole::Sealer,
            _ => NodeRole::Full,
        })
        .collect();
    let sealer_keys: Vec<PrivateKeySigner> = (0..sealers).map(|_| PrivateKeySigner::random()).collect();
    let genesis =
        genesis_json(&sealer_keys.iter().map(PrivateKeySigner::address).collect::<Vec<_>>(), options.block_time);
    let genesis_path = dir.join("genesis.json");
    std::fs::write(&genesis_path, genesis).map_err(io("writing the genesis"))?;

    let boot_key = PrivateKeySigner::random();
    let boot_public = boot_key.credential().verifying_key().to_encoded_point(false);
    let mut specs = Vec::new();
    let mut bootnode = None;
    for (i, role) in roles.into_iter().enumerate() {
        let datadir = dir.join(format!("node{}", i + 1));
        std::fs::create_dir_all(&datadir).map_err(io("creating a node folder"))?;
        run(Command::new(&geth).arg("init").arg("--datadir").arg(&datadir).arg(&genesis_path), "geth init")?;
        let mut spec = GethNodeSpec {
            index: i + 1,
            role,
            datadir: datadir.clone(),
            http_port: free_port()?,
            p2p_port: free_port()?,
            authrpc_port: free_port()?,
            nodekey: None,
            bootnode: bootnode.clone(),
            sealer: None,
        };
        match role {
            NodeRole::Boot => {
                spec.nodekey = Some(hex::encode(boot_key.to_bytes()));
                bootnode =
                    Some(format!("enode://{}@127.0.0.1:{}", hex::encode(&boot_public.as_bytes()[1..]), spec.p2p_port));
            }
            NodeRole::Sealer => {
                let key = &sealer_keys[i - 1];
                let key_file = datadir.join("sealer.key");
                std::fs::write(&key_file, hex::encode(key.to_bytes())).map_err(io("writing a sealer key"))?;
                std::fs::write(datadir.join("password"), PASSWORD).map_err(io("writing a sealer password"))?;
                run(
                    Command::new(&geth)
                        .args(["account", "import", "--datadir"])
                        .arg(&datadir)
                        .arg("--password")
                        .arg(datadir.join("password"))
                        .arg(&key_file),
                    "geth account import",
                )?;
                std::fs::remove_file(&key_file).map_err(io("removing the imported key file"))?;
                spec.sealer = Some(key.address());
            }
            NodeRole::Full => {}
        }
        specs.push(spec);
    }
    Ok(specs)
}

fn run(command: &mut Command, what: &str) -> Result<(), DevnetError> {
    let output = command.output().map_err(|source| DevnetError::Io { what: format!("running {what}"), source })?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stderr);
    Err(DevnetError::Exited {
        name: what.to_string(),
        status: output.status.to_string(),
        log_tail: text.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"),
    })
}

/// A Clique genesis: London rules, the sealers in `extradata`, every development account funded.
fn genesis_json(sealers: &[Address], block_time: u64) -> String {
    let extradata = format!(
        "0x{}{}{}",
        "00".repeat(32),
        sealers.iter().map(|a| hex::encode(a.as_slice())).collect::<String>(),
        "00".repeat(65)
    );
    let alloc: serde_json::Map<String, serde_json::Value> = (0..DEV_ACCOUNT_COUNT)
        .map(|i| {
            let address = dev_signer(i).expect("a development key").address();
            (
                hex::encode(address.as_slice()),
                serde_json::json!({ "balance": "0x200000000000000000000000000000000000000000000000000000" }),
            )
        })
        .collect();
    serde_json::json!({
        "config": {
            "chainId": GETH_CHAIN_ID,
            "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0, "eip158Block": 0,
            "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0, "istanbulBlock": 0,
            "berlinBlock": 0, "londonBlock": 0,
            "clique": { "period": block_time, "epoch": 30000 }
        },
        "difficulty": "1",
        "gasLimit": "30000000",
        "extradata": extradata,
        "alloc": alloc,
    })
    .to_string()
}

/// Waits until every running node of `urls` reports at least `min_peers` peers and a head of at
/// least `min_block`.
pub async fn wait_for_network(
    urls: &[String],
    min_peers: u64,
    min_block: u64,
    timeout: Duration,
) -> Result<(), DevnetError> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut ready = true;
        for url in urls {
            let status = node_status(url).await;
            if !status.is_some_and(|(peers, head)| peers >= min_peers && head >= min_block) {
                ready = false;
                break;
            }
        }
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(DevnetError::NotReady {
                name: "the Geth network".into(),
                timeout,
                log_tail: format!("nodes {urls:?} did not all reach {min_peers} peers and block {min_block}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A node's peer count (0 when it does not say, as Anvil does not) and head block, or `None` when
/// it does not answer.
pub async fn node_status(url: &str) -> Option<(u64, u64)> {
    use alloy::providers::Provider;
    let provider = crate::chain::provider::read_provider(url.parse().ok()?);
    let head = provider.get_block_number().await.ok()?;
    let peers: Option<alloy::primitives::U64> = provider.raw_request("net_peerCount".into(), ()).await.ok();
    Some((peers.map_or(0, |p| p.to::<u64>()), head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_names_the_sealers_and_funds_the_dev_accounts() {
        let sealers = [Address::repeat_byte(0x11), Address::repeat_byte(0x22)];
        let genesis: serde_json::Value = serde_json::from_str(&genesis_json(&sealers, 2)).unwrap();
        let extradata = genesis["extradata"].as_str().unwrap();
        assert_eq!(extradata.len(), 2 + 2 * (32 + 2 * 20 + 65));
        assert!(extradata.contains(&"11".repeat(20)) && extradata.contains(&"22".repeat(20)));
        assert_eq!(genesis["config"]["clique"]["period"], 2);
        assert_eq!(genesis["alloc"].as_object().unwrap().len(), DEV_ACCOUNT_COUNT);
    }
}
