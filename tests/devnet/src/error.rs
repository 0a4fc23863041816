//! The devnet's own error type: what can go wrong starting, running or steering the local
//! network (configuration, files, sockets, TLS, databases). Request-level failures are not
//! errors here: they are HTTP answers with the status the real network gives.

use std::path::PathBuf;

/// Everything that can fail while starting, running or steering a devnet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevnetError {
    /// The configuration cannot describe a network (no nodes, swarm size 0, …).
    #[error("invalid devnet configuration: {0}")]
    Config(String),
    /// A file or directory under the devnet's state directory could not be used.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done (`"creating directory"`, `"reading key"`, …).
        what: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A listener could not be bound.
    #[error("binding {what} on {addr}: {source}")]
    Bind {
        /// Which listener (`"node 3"`, `"seed"`, …).
        what: String,
        /// The address tried.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A node's or the file server's SQLite database failed.
    #[error("database {path}: {source}")]
    Database {
        /// The database file (or `:memory:`).
        path: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// A persisted key or certificate is unreadable, or one could not be made.
    #[error("key material {path}: {reason}")]
    KeyMaterial {
        /// The file concerned (or what was being generated).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused a configuration.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The OS random source failed.
    #[error("OS random source failed: {0}")]
    Random(String),
    /// A node named by index or key does not exist.
    #[error("no node {0}")]
    UnknownNode(String),
    /// A swarm named by index or id does not exist.
    #[error("no swarm {0}")]
    UnknownSwarm(String),
    /// A control command that cannot be parsed.
    #[error("bad control command: {0}")]
    Command(String),
    /// Something the devnet does not implement.
    #[error("unsupported by the devnet: {0}")]
    Unsupported(&'static str),
}

impl DevnetError {
    /// An [`DevnetError::Io`] for `path`.
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DevnetError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
