//! Running one test again in a child process with its own environment.
//!
//! The code under test reads process-wide state: `DBUS_SESSION_BUS_ADDRESS`, a passphrase
//! variable, the kernel session keyring. Setting environment variables in a multi-threaded
//! test binary is `unsafe` (and racy), so a test that needs its own environment is written
//! in two halves:
//!
//! ```no_run
//! use sessiond_e2e::{PrivateBus, SelfTest, is_child};
//!
//! #[test]
//! fn something_on_a_private_bus() -> anyhow::Result<()> {
//!     if is_child("something_on_a_private_bus") {
//!         // The child: runs with the environment the parent gave it.
//!         return Ok(());
//!     }
//!     let bus = PrivateBus::start()?;
//!     SelfTest::new("something_on_a_private_bus")
//!         .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
//!         .run()
//! }
//! ```
//!
//! The parent runs the same test binary with `--exact <name>` and a marker variable, waits
//! for it with a timeout, and fails with the child's output if the child failed or did not
//! run exactly one test.

use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::process::run_with_timeout;

/// The variable that tells a test binary it runs as the child of the named test.
const CHILD_ENV: &str = "SESSIOND_E2E_CHILD";

/// Whether this process is the child started by [`SelfTest::new`]`(name).run()`.
pub fn is_child(name: &str) -> bool {
    std::env::var_os(CHILD_ENV).is_some_and(|v| v == name)
}

/// Report a test as skipped: a line on the real stderr (not captured by the test harness,
/// so it shows in CI logs even when the test passes). The caller then returns early.
pub fn skip(test: &str, reason: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

/// One test of the current test binary, to run in a child process.
#[derive(Debug, Clone)]
pub struct SelfTest {
    /// The test's name as libtest knows it (`module::function` for nested tests).
    name: String,
    /// Variables to set in the child.
    env: Vec<(OsString, OsString)>,
    /// Variables to remove from the child's environment.
    env_remove: Vec<OsString>,
    /// A command line to run the child under (`keyctl session -`).
    wrapper: Vec<OsString>,
    /// How long the child may run.
    timeout: Duration,
}

impl SelfTest {
    /// The test named `name` (its path within the test binary).
    pub fn new(name: &str) -> SelfTest {
        SelfTest {
            name: name.to_owned(),
            env: Vec::new(),
            env_remove: Vec::new(),
            wrapper: Vec::new(),
            timeout: Duration::from_secs(120),
        }
    }

    /// Set `key` to `value` in the child.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> SelfTest {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Remove `key` from the child's environment.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> SelfTest {
        self.env_remove.push(key.as_ref().to_owned());
        self
    }

    /// Run the child inside `keyctl session -`: a new anonymous session keyring.
    pub fn in_new_session_keyring(mut self) -> SelfTest {
        self.wrapper = ["keyctl", "session", "-"].map(OsString::from).to_vec();
        self
    }

    /// Kill the child after `timeout` (default 120 s).
    pub fn timeout(mut self, timeout: Duration) -> SelfTest {
        self.timeout = timeout;
        self
    }

    /// Run the child and wait for it; fails with its output unless it ran exactly this
    /// one test and the test passed.
    pub fn run(self) -> Result<()> {
        let exe = std::env::current_exe().context("the path of the running test binary")?;
        let mut cmd = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(&exe);
                cmd
            }
            None => Command::new(&exe),
        };
        cmd.args([
            self.name.as_str(),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ]);
        cmd.env(CHILD_ENV, &self.name);
        for key in &self.env_remove {
            cmd.env_remove(key);
        }
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        let done = run_with_timeout(&mut cmd, self.timeout)
            .with_context(|| format!("run test {} in a child process", self.name))?;
        let stdout = String::from_utf8_lossy(&done.stdout);
        let stderr = String::from_utf8_lossy(&done.stderr);
        if !done.status.success() {
            bail!(
                "the child running {} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
                self.name,
                done.status
            );
        }
        if !stdout.contains("test result: ok. 1 passed") {
            bail!(
                "the child did not run test {} (wrong name?):\n--- stdout\n{stdout}",
                self.name
            );
        }
        // Pass the child's own messages (skips, warnings) on to the real stderr, without
        // keyctl's "Joined session keyring: <id>".
        let messages: Vec<&str> = stderr
            .lines()
            .filter(|line| !line.starts_with("Joined session keyring:") && !line.trim().is_empty())
            .collect();
        if !messages.is_empty() {
            let _ = writeln!(
                std::io::stderr(),
                "[child {}]\n{}",
                self.name,
                messages.join("\n")
            );
        }
        Ok(())
    }
}
