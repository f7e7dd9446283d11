//! A local Anvil node.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{DevnetError, ManagedProcess};
use crate::tools::{self, Tool};

/// How long Anvil may take to print its listening address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How to run an Anvil node.
#[derive(Debug, Clone, Default)]
pub struct AnvilOptions {
    /// TCP port; 0 lets Anvil pick a free one.
    pub port: u16,
    /// Seconds between blocks; `None` mines each transaction at once (automine).
    pub block_time: Option<u64>,
    /// Chain id; `None` keeps Anvil's 31337.
    pub chain_id: Option<u64>,
    /// Kill the node if this process dies without stopping it (for test harnesses).
    pub tie_to_parent: bool,
    /// Load the chain from this file if it exists, and save it there when the node stops
    /// (Anvil's `--state`), so a restarted node goes on with the same chain.
    pub state: Option<std::path::PathBuf>,
    /// Record each transaction's steps, for `debug_traceTransaction`'s opcode traces.
    pub steps_tracing: bool,
}

/// A running Anvil node, stopped when dropped.
#[derive(Debug)]
pub struct AnvilNode {
    process: ManagedProcess,
    port: u16,
}

impl AnvilNode {
    /// Starts Anvil on 127.0.0.1 with its output logged to `log_path`, and waits until it listens.
    pub fn start(options: &AnvilOptions, log_path: &Path) -> Result<Self, DevnetError> {
        let binary = tools::locate(Tool::Anvil)?;
        let mut command = Command::new(binary);
        command.args(["--host", "127.0.0.1", "--port", &options.port.to_string()]);
        if let Some(seconds) = options.block_time {
            command.args(["--block-time", &seconds.to_string()]);
        }
        if let Some(id) = options.chain_id {
            command.args(["--chain-id", &id.to_string()]);
        }
        if let Some(state) = &options.state {
            command.arg("--state").arg(state);
        }
        if options.steps_tracing {
            command.arg("--steps-tracing");
        }
        // Anvil writes the states of older blocks to disk once a chain outgrows memory (2,000
        // empty blocks: 316 MB; a 20,000-entry benchmark chain: 2.7 GB), by default under
        // ~/.foundry, and does not remove them when stopped. Next to the log they go with the
        // node's directory.
        command.arg("--cache-path").arg(log_path.with_file_name("anvil-states"));
        let mut process = ManagedProcess::spawn("anvil", command, log_path, options.tie_to_parent)?;
        let port = process.wait_until(START_TIMEOUT, |p| listening_port(&p.log()))?;
        Ok(Self { process, port })
    }

    /// The node's JSON-RPC URL.
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The node's TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The node's process id.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Lets the node run on after this program exits; returns its PID.
    pub fn detach(self) -> u32 {
        self.process.detach()
    }

    /// Stops the node now (dropping the handle does the same).
    pub fn stop(&mut self) {
        self.process.stop();
    }
}

/// The port from Anvil's `Listening on 127.0.0.1:PORT` line.
fn listening_port(log: &str) -> Option<u16> {
    log.lines()
        .find_map(|line| line.trim().strip_prefix("Listening on "))
        .and_then(|addr| addr.rsplit(':').next())
        .and_then(|port| port.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::listening_port;

    #[test]
    fn reads_the_port_from_anvils_banner() {
        let log = "Private Keys\n==================\n\nListening on 127.0.0.1:41235\n";
        assert_eq!(listening_port(log), Some(41235));
        assert_eq!(listening_port("Listening on 127.0.0.1:"), None);
        assert_eq!(listening_port("starting"), None);
    }
}
