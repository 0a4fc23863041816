//! Child processes that are always reaped: a guard that stops its daemon on drop, polling
//! with a deadline, and running a command with a timeout.
//!
//! Daemons write stdout and stderr to a log file (not a pipe, which would block the daemon
//! once full and deadlock a test that does not read it); errors quote the log's tail.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::deadline::Deadline;

/// How long a daemon gets to exit after SIGTERM before it is killed.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// A running daemon, stopped (SIGTERM, then SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub(crate) struct Daemon {
    /// A short name for messages ("dbus-daemon").
    name: &'static str,
    /// The process; `None` once it has been reaped.
    child: Option<Child>,
    /// Where its stdout and stderr go.
    log: PathBuf,
}

impl Daemon {
    /// Spawn `cmd` with stderr (and stdout, unless `stdout` is given) written to `log`.
    /// Stdin is null unless the caller configured it.
    pub(crate) fn spawn(
        name: &'static str,
        cmd: &mut Command,
        log: &Path,
        stdout: Option<File>,
    ) -> Result<Self> {
        let err = File::create(log).with_context(|| format!("create {}", log.display()))?;
        let out = match stdout {
            Some(file) => file,
            None => err.try_clone().context("duplicate the log file handle")?,
        };
        let child = cmd
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| {
                format!(
                    "start {name} ({:?}); is it installed? (see tests/e2e/README.md)",
                    cmd.get_program()
                )
            })?;
        Ok(Daemon {
            name,
            child: Some(child),
            log: log.to_owned(),
        })
    }

    /// The process ID.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The child, e.g. to write to its stdin.
    pub(crate) fn child_mut(&mut self) -> Option<&mut Child> {
        self.child.as_mut()
    }

    /// Fail (with the log) if the daemon has exited.
    pub(crate) fn check_running(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            bail!("{} was already stopped", self.name);
        };
        if let Some(status) = child.try_wait().context("wait for the daemon")? {
            self.child = None;
            bail!(
                "{} exited early ({status}); its log:\n{}",
                self.name,
                self.log_tail()
            );
        }
        Ok(())
    }

    /// The last lines of the daemon's log.
    pub(crate) fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// Stop the daemon: SIGTERM, then SIGKILL after a grace period. Always reaps it.
    pub(crate) fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if let Ok(pid) = i32::try_from(child.id()) {
            // The process may have just exited: ESRCH is fine.
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Deadline::after(TERM_GRACE);
        let mut pause = Duration::from_millis(2);
        while !deadline.passed() {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last 40 lines of a log file (or why it cannot be read).
pub(crate) fn log_tail(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        }
        Err(e) => format!("(log {} unreadable: {e})", path.display()),
    }
}

/// Call `probe` until it returns `Some`, an error, or `timeout` passes (then fail naming
/// `what`). Polls quickly at first, then every 50 ms.
pub fn wait_until<T>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Deadline::after(timeout);
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(value) = probe()? {
            return Ok(value);
        }
        if deadline.passed() {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// The result of [`run_with_timeout`].
#[derive(Debug)]
pub struct Finished {
    /// How the process ended.
    pub status: ExitStatus,
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
}

/// Run `cmd` to completion with stdin closed, killing it after `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<Finished> {
    run_with_input(cmd, None, timeout)
}

/// Run `cmd` to completion with `input` on a pipe as its stdin (never a terminal), or stdin
/// closed when `None`, killing it after `timeout`.
pub fn run_with_input(
    cmd: &mut Command,
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<Finished> {
    let dir = tempfile::tempdir().context("create a temporary directory for command output")?;
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let out = File::create(&out_path).context("create stdout file")?;
    let err = File::create(&err_path).context("create stderr file")?;
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .with_context(|| format!("start {:?}", cmd.get_program()))?;
    if let (Some(bytes), Some(mut pipe)) = (input, child.stdin.take()) {
        // A closed pipe means the program did not want (all of) the input; its exit says why.
        let _ = std::io::Write::write_all(&mut pipe, bytes);
    }
    let waited = wait_until(timeout, "the command to finish", || {
        child.try_wait().context("wait for the command")
    });
    let status = match waited {
        Ok(status) => status,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e.context(format!(
                "{:?} did not finish; its stderr:\n{}",
                cmd.get_program(),
                log_tail(&err_path)
            )));
        }
    };
    Ok(Finished {
        status,
        stdout: std::fs::read(&out_path).context("read stdout")?,
        stderr: std::fs::read(&err_path).context("read stderr")?,
    })
}
