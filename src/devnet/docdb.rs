//! The local MongoDB-wire document database server (SecantusDB).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{DevnetError, ManagedProcess, accepts_connections, free_port};
use crate::tools::{self, Tool};

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts with a fresh port, in case another process takes the free port first.
const PORT_ATTEMPTS: usize = 3;
/// The server's oplog cap, in entries. Its default (100,000) is reached by an archive of 100,000
/// records, and from then on SecantusDB deletes the oldest oplog entries inside every write,
/// walking past the ones it deleted before. With this cap the patient page's p99 at 100,000
/// records fell from about 2.4 to 1.7–1.8 times its median (`hrm bench serve`). The oplog's
/// one-hour retention still bounds it. (A MongoDB replica set caps its oplog by size and
/// truncates it in the background.)
const OPLOG_MAX_ENTRIES: u32 = 10_000_000;

/// A running document database server, stopped when dropped.
#[derive(Debug)]
pub struct DocumentDbServer {
    process: ManagedProcess,
    port: u16,
    data_dir: PathBuf,
}

impl DocumentDbServer {
    /// Starts the server on 127.0.0.1 with its data and log in `data_dir`, on `port` (0: any free
    /// port), and waits until it accepts connections.
    pub fn start(data_dir: &Path, port: u16, tie_to_parent: bool) -> Result<Self, DevnetError> {
        let binary = tools::locate(Tool::Secantusd)?;
        std::fs::create_dir_all(data_dir)
            .map_err(|source| DevnetError::Io { what: format!("creating {}", data_dir.display()), source })?;
        let attempts = if port == 0 { PORT_ATTEMPTS } else { 1 };
        let mut last_error = None;
        for _ in 0..attempts {
            let port = if port == 0 { free_port()? } else { port };
            let mut command = Command::new(&binary);
            command
                .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--storage-path"])
                .arg(data_dir.join("db"))
                .args(["--oplog-max-entries", &OPLOG_MAX_ENTRIES.to_string()])
                // The server reads ./secantusd.toml if present; run it where there is none.
                .current_dir(data_dir);
            let log_path = data_dir.join("secantusd.log");
            let mut process = ManagedProcess::spawn("secantusd", command, &log_path, tie_to_parent)?;
            match process.wait_until(START_TIMEOUT, |_| accepts_connections(port).then_some(())) {
                Ok(()) => {
                    return Ok(Self { process, port, data_dir: data_dir.to_path_buf() });
                }
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.expect("at least one attempt ran"))
    }

    /// A `mongodb://` URI for the server.
    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    /// The server's TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Where the server keeps its data and log.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Lets the server run on after this program exits; returns its PID.
    pub fn detach(self) -> u32 {
        self.process.detach()
    }

    /// Stops the server now (dropping the handle does the same).
    pub fn stop(&mut self) {
        self.process.stop();
    }
}
