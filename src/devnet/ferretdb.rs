//! FerretDB over PostgreSQL: the second MongoDB-wire archive hrm is tested on.
//!
//! A throw-away PostgreSQL cluster (Debian's `postgresql` package; `initdb` into the data folder)
//! and FerretDB (built by tools/setup) in front of it. PostgreSQL refuses to run as root, so when
//! hrm runs as root both run as the `postgres` user the package created.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{DevnetError, ManagedProcess, accepts_connections, free_port};
use crate::tools::{self, Tool};

/// How long each server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Where Debian's PostgreSQL keeps its programs, newest version first.
const POSTGRESQL_LIB: &str = "/usr/lib/postgresql";

/// A running FerretDB with its PostgreSQL, both stopped when dropped.
#[derive(Debug)]
pub struct FerretDbServer {
    // Declared first so FerretDB stops before the database under it.
    ferretdb: ManagedProcess,
    _postgres: ManagedProcess,
    port: u16,
}

impl FerretDbServer {
    /// Starts PostgreSQL and FerretDB on free ports of 127.0.0.1, with their data and logs in
    /// `data_dir`, and waits until FerretDB accepts connections.
    pub fn start(data_dir: &Path, tie_to_parent: bool) -> Result<Self, DevnetError> {
        let ferretdb = tools::locate(Tool::Ferretdb)?;
        let bin = postgresql_bin()?;
        let owner = unprivileged_owner();
        std::fs::create_dir_all(data_dir)
            .map_err(|source| DevnetError::Io { what: format!("creating {}", data_dir.display()), source })?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(data_dir, Some(uid), Some(gid)).map_err(|source| DevnetError::Io {
                what: format!("giving {} to postgres", data_dir.display()),
                source,
            })?;
        }
        let as_owner = |program: PathBuf| {
            let mut command = Command::new(program);
            if let Some((uid, gid)) = owner {
                use std::os::unix::process::CommandExt;
                command.uid(uid).gid(gid);
            }
            command.current_dir(data_dir);
            command
        };

        let cluster = data_dir.join("pgdata");
        let mut initdb = as_owner(bin.join("initdb"));
        initdb.arg("-D").arg(&cluster).args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        let initialised = initdb
            .output()
            .map_err(|source| DevnetError::Io { what: format!("running initdb in {}", bin.display()), source })?;
        if !initialised.status.success() {
            return Err(DevnetError::Exited {
                name: "initdb".into(),
                status: initialised.status.to_string(),
                log_tail: String::from_utf8_lossy(&initialised.stderr).into_owned(),
            });
        }

        let pg_port = free_port()?;
        let mut postgres = as_owner(bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(&cluster)
            .args(["-p", &pg_port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .arg("-k")
            .arg(data_dir);
        let mut postgres = ManagedProcess::spawn("postgres", postgres, &data_dir.join("postgres.log"), tie_to_parent)?;
        postgres.wait_until(START_TIMEOUT, |_| accepts_connections(pg_port).then_some(()))?;

        let port = free_port()?;
        let mut command = as_owner(ferretdb);
        command.args([
            &format!("--listen-addr=127.0.0.1:{port}"),
            &format!("--postgresql-url=postgres://postgres@127.0.0.1:{pg_port}/postgres"),
            "--telemetry=disable",
            // Its HTTP debug listener would take the same port in every test: none.
            "--debug-addr=-",
            "--log-level=warn",
        ]);
        command.arg(format!("--state-dir={}", data_dir.display()));
        let mut ferretdb = ManagedProcess::spawn("ferretdb", command, &data_dir.join("ferretdb.log"), tie_to_parent)?;
        ferretdb.wait_until(START_TIMEOUT, |_| accepts_connections(port).then_some(()))?;
        Ok(Self { ferretdb, _postgres: postgres, port })
    }

    /// A `mongodb://` URI for FerretDB.
    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    /// FerretDB's process id.
    pub fn pid(&self) -> Option<u32> {
        self.ferretdb.pid()
    }
}

/// The newest PostgreSQL's programs under Debian's folder.
fn postgresql_bin() -> Result<PathBuf, DevnetError> {
    let newest = std::fs::read_dir(POSTGRESQL_LIB)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max();
    match newest {
        Some(version) => Ok(Path::new(POSTGRESQL_LIB).join(version.to_string()).join("bin")),
        None => Err(DevnetError::Io {
            what: format!(
                "finding PostgreSQL under {POSTGRESQL_LIB} (run tools/setup, which installs Debian's postgresql)"
            ),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        }),
    }
}

/// The `postgres` user's ids when this process is root (PostgreSQL will not run as root).
fn unprivileged_owner() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = std::ffi::CString::new("postgres").expect("no NUL");
    // SAFETY: getpwnam with a valid C string; the entry is read at once, before any other call.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return None;
    }
    // SAFETY: a non-null entry from getpwnam.
    Some(unsafe { ((*entry).pw_uid, (*entry).pw_gid) })
}
