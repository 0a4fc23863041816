//! The kernel keyring in tests: fresh session keyrings and reading keys back.
//!
//! A test that stores keys runs in a child inside `keyctl session -` (see
//! [`SelfTest::in_new_session_keyring`](crate::SelfTest::in_new_session_keyring)), so its
//! keys land in an anonymous session keyring of its own rather than the user's.
//! Containers sometimes forbid the keyctl system calls; [`session_keyring_unavailable`]
//! tells such a machine apart from a missing `keyctl` binary (which is a setup error).

use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::process::run_with_timeout;

const KEYCTL_TIMEOUT: Duration = Duration::from_secs(10);

/// `None` if a fresh session keyring can be created here (`keyctl session - true`
/// succeeds); otherwise why not. Fails if `keyctl` itself is missing: install `keyutils`.
pub fn session_keyring_unavailable() -> Result<Option<String>> {
    let done = run_with_timeout(
        Command::new("keyctl").args(["session", "-", "true"]),
        KEYCTL_TIMEOUT,
    )
    .context("run `keyctl session - true` (is the keyutils package installed?)")?;
    if done.status.success() {
        Ok(None)
    } else {
        Ok(Some(format!(
            "`keyctl session - true` failed ({}): {}",
            done.status,
            String::from_utf8_lossy(&done.stderr).trim()
        )))
    }
}

/// The payload of the `user` key described `description` reachable from this process's
/// session keyring, or `None` if there is none.
pub fn read_user_key(description: &str) -> Result<Option<Vec<u8>>> {
    let search = run_with_timeout(
        Command::new("keyctl").args(["search", "@s", "user", description]),
        KEYCTL_TIMEOUT,
    )?;
    if !search.status.success() {
        return Ok(None);
    }
    let id = String::from_utf8_lossy(&search.stdout).trim().to_owned();
    let pipe = run_with_timeout(Command::new("keyctl").args(["pipe", &id]), KEYCTL_TIMEOUT)?;
    if !pipe.status.success() {
        bail!(
            "`keyctl pipe {id}` failed: {}",
            String::from_utf8_lossy(&pipe.stderr).trim()
        );
    }
    Ok(Some(pipe.stdout))
}
