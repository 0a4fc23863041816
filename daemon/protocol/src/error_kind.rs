//! The small, documented classification every error in sessiond maps to.
//!
//! Each library crate keeps its own `thiserror` enum with rich context; each such enum
//! implements [`HasKind`] so that the API layer can turn any error into a stable code
//! without inspecting error text. The table from [`ErrorKind`] to JSON-RPC codes and
//! D-Bus error names lives at the API boundary (`sessiond-ipc`), not here.

/// What went wrong, from the point of view of what a caller can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller supplied something malformed (bad Account ID, bad phrase, bad bytes).
    InvalidInput,
    /// The thing asked for does not exist (no such account, conversation, secret).
    NotFound,
    /// The thing being created exists already.
    AlreadyExists,
    /// The operation needs an explicit confirmation that was not given.
    ConfirmationRequired,
    /// The OS keyring exists but is locked; unlocking it is up to the user.
    KeyringLocked,
    /// No usable keyring backend is reachable (no Secret Service on the bus, …).
    KeyringUnavailable,
    /// Data received from a peer or the network failed an authenticity check.
    BadSignature,
    /// Data from the network or disk is structurally invalid.
    Malformed,
    /// Stored data could not be opened (wrong key, corrupt file).
    StorageCorrupt,
    /// The disk or database failed (full disk, I/O error, permissions).
    StorageFailure,
    /// The network cannot currently be reached.
    NetworkUnreachable,
    /// Our clock disagrees with the network's.
    ClockSkew,
    /// The feature is not implemented (yet) in this build.
    Unsupported,
    /// The daemon is shutting down.
    ShuttingDown,
    /// A bug: something that should not be possible happened.
    Internal,
}

impl ErrorKind {
    /// A stable, human-readable name for the kind (used in logs and API error names).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "InvalidInput",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::AlreadyExists => "AlreadyExists",
            ErrorKind::ConfirmationRequired => "ConfirmationRequired",
            ErrorKind::KeyringLocked => "KeyringLocked",
            ErrorKind::KeyringUnavailable => "KeyringUnavailable",
            ErrorKind::BadSignature => "BadSignature",
            ErrorKind::Malformed => "Malformed",
            ErrorKind::StorageCorrupt => "StorageCorrupt",
            ErrorKind::StorageFailure => "StorageFailure",
            ErrorKind::NetworkUnreachable => "NetworkUnreachable",
            ErrorKind::ClockSkew => "ClockSkew",
            ErrorKind::Unsupported => "Unsupported",
            ErrorKind::ShuttingDown => "ShuttingDown",
            ErrorKind::Internal => "Internal",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Implemented by every library error type: tells which [`ErrorKind`] it belongs to.
pub trait HasKind {
    /// The kind of this error.
    fn kind(&self) -> ErrorKind;
}
