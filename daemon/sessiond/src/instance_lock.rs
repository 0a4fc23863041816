//! One daemon per data directory: an exclusive `flock` on `<data_dir>/sessiond.lock`.
//!
//! The kernel drops the lock when the process dies, even by `kill -9`, so a stale lock file
//! never blocks a restart. The file holds the owner's pid, for the error message.

use nix::fcntl::{Flock, FlockArg};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held for the daemon's lifetime; dropping it releases the lock.
#[derive(Debug)]
pub struct InstanceLock {
    /// The locked file (the lock lives as long as this handle).
    _file: Flock<std::fs::File>,
    /// Its path.
    path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another daemon holds it.
    #[error("another sessiond{} is already running with data directory {dir}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Held {
        /// The data directory.
        dir: PathBuf,
        /// The other daemon's pid, if readable.
        pid: Option<u32>,
    },
    /// The lock file could not be opened or written.
    #[error("lock file {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl InstanceLock {
    /// Take the lock for `data_dir` (which must exist).
    pub fn acquire(data_dir: &Path) -> Result<InstanceLock, LockError> {
        let path = data_dir.join("sessiond.lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut locked = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut f, _errno)) => {
                let mut s = String::new();
                let _ = f.read_to_string(&mut s);
                return Err(LockError::Held {
                    dir: data_dir.to_owned(),
                    pid: s.trim().parse().ok(),
                });
            }
        };
        file = locked.try_clone().map_err(io)?;
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        let _ = &mut locked;
        Ok(InstanceLock {
            _file: locked,
            path,
        })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_the_same_dir_is_refused_with_the_owner_pid() {
        let dir = tempfile::tempdir().unwrap();
        let _first = InstanceLock::acquire(dir.path()).unwrap();
        let err = InstanceLock::acquire(dir.path()).unwrap_err();
        match err {
            LockError::Held { pid, .. } => assert_eq!(pid, Some(std::process::id())),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn lock_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        drop(InstanceLock::acquire(dir.path()).unwrap());
        InstanceLock::acquire(dir.path()).unwrap();
    }
}
