//! A child process hrm started and must stop: spawned with its output in a log file, waited on
//! until it is ready, and stopped by PID (gracefully, then by force) when dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::DevnetError;

/// How long a process gets to exit after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(5);
/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(20);

/// A running child process with its output captured in a log file.
#[derive(Debug)]
pub struct ManagedProcess {
    name: String,
    child: Option<Child>,
    log_path: PathBuf,
}

impl ManagedProcess {
    /// Spawns `command` with stdout and stderr appended to `log_path`.
    ///
    /// With `tie_to_parent`, the kernel kills the child if this process dies without dropping it
    /// (a test binary killed by a signal), so no orphan outlives a test run.
    pub fn spawn(name: &str, mut command: Command, log_path: &Path, tie_to_parent: bool) -> Result<Self, DevnetError> {
        let log = File::create(log_path).map_err(|source| DevnetError::Io {
            what: format!("creating the log file {}", log_path.display()),
            source,
        })?;
        let log_err = log.try_clone().map_err(|source| DevnetError::Io {
            what: format!("opening the log file {}", log_path.display()),
            source,
        })?;
        command.stdin(Stdio::null()).stdout(log).stderr(log_err);
        use std::os::unix::process::CommandExt;
        if tie_to_parent {
            // SAFETY: prctl is async-signal-safe and touches only the forked child's own state.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        } else {
            // A long-lived service gets its own session, so Ctrl-C in the terminal that started
            // it does not stop it; `hrm devnet down` does.
            // SAFETY: setsid is async-signal-safe and touches only the forked child.
            unsafe {
                command.pre_exec(|| {
                    libc::setsid();
                    Ok(())
                });
            }
        }
        let child = command.spawn().map_err(|source| DevnetError::Io {
            what: format!("starting {name} ({:?})", command.get_program()),
            source,
        })?;
        Ok(Self { name: name.to_string(), child: Some(child), log_path: log_path.to_path_buf() })
    }

    /// The operating-system process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Lets the process run on after this handle (and this program) is gone; returns its PID.
    pub fn detach(mut self) -> u32 {
        self.child.take().map(|child| child.id()).unwrap_or_default()
    }

    /// Where the process's output goes.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The process's output so far (lossy UTF-8; empty when unreadable).
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    /// Polls `ready` until it yields a value, failing if the process exits or `timeout` passes.
    pub fn wait_until<T>(
        &mut self,
        timeout: Duration,
        mut ready: impl FnMut(&Self) -> Option<T>,
    ) -> Result<T, DevnetError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = ready(self) {
                return Ok(value);
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(DevnetError::Exited {
                    name: self.name.clone(),
                    status: status.to_string(),
                    log_tail: tail(&self.log(), 15),
                });
            }
            if Instant::now() >= deadline {
                let log_tail = tail(&self.log(), 15);
                self.stop();
                return Err(DevnetError::NotReady { name: self.name.clone(), timeout, log_tail });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Stops the process: SIGTERM, then SIGKILL if it has not exited within a grace period.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: sending a signal to our own child's PID, which we have not yet reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(POLL);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a process with this PID exists and is not a zombie.
pub fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
}

/// Stops a process this program did not spawn (one started by an earlier `hrm devnet up`):
/// SIGTERM, then SIGKILL after the grace period. `expected` must appear in its command line, so a
/// recycled PID of some unrelated program is left alone. Returns whether it is gone.
pub fn stop_pid(pid: u32, expected: &str) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if !is_running(pid) || !String::from_utf8_lossy(&cmdline).contains(expected) {
        return !is_running(pid);
    }
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signalling a PID whose command line we just checked.
    unsafe { libc::kill(raw, libc::SIGTERM) };
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if !is_running(pid) {
            return true;
        }
        std::thread::sleep(POLL);
    }
    // SAFETY: as above.
    unsafe { libc::kill(raw, libc::SIGKILL) };
    std::thread::sleep(POLL);
    !is_running(pid)
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<u16, DevnetError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|source| DevnetError::Io { what: "finding a free TCP port on 127.0.0.1".into(), source })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| DevnetError::Io { what: "reading the free port's address".into(), source })
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn accepts_connections(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
