//! Running the real `sessiond` binary in a throwaway directory, and talking raw bytes to it.
//!
//! Every wait has a timeout; a daemon still running when its handle drops is killed.

use crate::Deadline;
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a daemon may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How to start a daemon.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// `--keystore` value.
    pub keystore: String,
    /// D-Bus session bus address; `None` runs with `--no-dbus`.
    pub dbus_address: Option<String>,
    /// Extra command-line arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Which network: `--offline` by default; e.g. `["--network-file", path]` to join a devnet.
    pub network: Vec<String>,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            keystore: "file".into(),
            dbus_address: None,
            args: Vec::new(),
            env: Vec::new(),
            network: vec!["--offline".into()],
        }
    }
}

/// A running `sessiond`.
pub struct Daemon {
    child: Option<Child>,
    /// `<root>/data`
    pub data_dir: PathBuf,
    /// `<root>/run`
    pub runtime_dir: PathBuf,
    /// Lines the daemon wrote to stderr so far.
    stderr: Arc<Mutex<Vec<String>>>,
}

/// The command line that [`Daemon::start`] runs, for tests that want to run it themselves.
pub fn daemon_command(root: &Path, opts: &DaemonOptions) -> Command {
    let mut cmd = Command::new(crate::bin_path("sessiond"));
    cmd.arg("--data-dir")
        .arg(root.join("data"))
        .arg("--runtime-dir")
        .arg(root.join("run"))
        .arg("--keystore")
        .arg(&opts.keystore)
        .args(&opts.network)
        .args(&opts.args)
        .env("HOME", root)
        .env("XDG_CONFIG_HOME", root.join("config"))
        .env("XDG_DATA_HOME", root.join("share"))
        .env("XDG_RUNTIME_DIR", root.join("xdg-run"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match &opts.dbus_address {
        Some(addr) => {
            cmd.env("DBUS_SESSION_BUS_ADDRESS", addr);
        }
        None => {
            cmd.arg("--no-dbus");
        }
    }
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    cmd
}

impl Daemon {
    /// Start `sessiond` with data under `root` and wait until it serves the socket.
    pub fn start(root: &Path, opts: &DaemonOptions) -> Result<Daemon> {
        let mut child = daemon_command(root, opts)
            .spawn()
            .context("spawning sessiond")?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().context("sessiond stderr")?;
        let lines = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("sessiond: ready") {
                    let _ = ready_tx.send(());
                }
                if let Ok(mut l) = lines.lock() {
                    l.push(line);
                }
            }
        });
        let mut daemon = Daemon {
            child: Some(child),
            data_dir: root.join("data"),
            runtime_dir: root.join("run"),
            stderr,
        };
        let deadline = Deadline::after(READY_TIMEOUT);
        loop {
            if ready_rx.recv_timeout(Duration::from_millis(50)).is_ok() {
                return Ok(daemon);
            }
            if let Some(status) = daemon.try_wait()? {
                bail!(
                    "sessiond exited with {status} before it was ready:\n{}",
                    daemon.stderr_text()
                );
            }
            if deadline.passed() {
                bail!(
                    "sessiond not ready after {READY_TIMEOUT:?}:\n{}",
                    daemon.stderr_text()
                );
            }
        }
    }

    /// The API socket's path.
    pub fn socket_path(&self) -> PathBuf {
        self.runtime_dir.join("api.sock")
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// The daemon's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn try_wait(&mut self) -> Result<Option<std::process::ExitStatus>> {
        match &mut self.child {
            Some(c) => Ok(c.try_wait()?),
            None => bail!("daemon already stopped"),
        }
    }

    /// Send SIGTERM and wait (up to 20 s) for a clean exit; returns the exit status.
    pub fn stop(mut self) -> Result<std::process::ExitStatus> {
        let mut child = self.child.take().context("daemon already stopped")?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(child.id())?),
            nix::sys::signal::Signal::SIGTERM,
        )?;
        let deadline = Deadline::after(Duration::from_secs(20));
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if deadline.passed() {
                let _ = child.kill();
                bail!(
                    "sessiond did not stop within 20 s of SIGTERM:\n{}",
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A raw connection to the API socket: write bytes, read response lines.
pub struct RawSocket {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl RawSocket {
    /// Connect, with a 10 s read timeout.
    pub fn connect(path: &Path) -> Result<RawSocket> {
        let stream =
            UnixStream::connect(path).with_context(|| format!("connecting {}", path.display()))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(RawSocket { stream, reader })
    }

    /// Write raw bytes.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes)?;
        Ok(())
    }

    /// Read one response line as JSON.
    pub fn recv(&mut self) -> Result<serde_json::Value> {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line)?;
        if n == 0 {
            bail!("connection closed");
        }
        Ok(serde_json::from_str(&line)?)
    }

    /// Send one JSON-RPC request and read its response.
    pub fn call(
        &mut self,
        id: u64,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let req =
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut bytes = serde_json::to_vec(&req)?;
        bytes.push(b'\n');
        self.send(&bytes)?;
        self.recv()
    }

    /// True when the daemon closed the connection (reads EOF).
    pub fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0))
    }
}
