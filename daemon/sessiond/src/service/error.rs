//! Errors of the service API, each with the [`ErrorKind`] the adapters map to API codes.

use crate::keystore::KeystoreError;
use crate::store::StoreError;
use sessiond_protocol::{ErrorKind, HasKind};
use std::path::PathBuf;

/// Why a service call failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No account with that ID.
    #[error("no account {account_id} on this daemon")]
    AccountNotFound {
        /// The Account ID asked for.
        account_id: String,
    },
    /// The account exists already.
    #[error("account {account_id} already exists on this daemon")]
    AccountExists {
        /// The Account ID.
        account_id: String,
    },
    /// The string is not an Account ID.
    #[error("invalid Account ID: {reason}")]
    InvalidAccountId {
        /// What is wrong with it.
        reason: String,
    },
    /// The recovery phrase did not decode.
    #[error("invalid recovery phrase: {reason}")]
    InvalidPhrase {
        /// What is wrong with it (which word, which position).
        reason: String,
    },
    /// A parameter other than an ID or phrase is invalid.
    #[error("{0}")]
    InvalidInput(String),
    /// A destructive or secret-revealing call came without `confirm: true`.
    #[error("{what} needs explicit confirmation (confirm: true / --yes)")]
    ConfirmationRequired {
        /// What needs confirming.
        what: &'static str,
    },
    /// The account exists but its keys or database cannot be used right now.
    #[error("account {account_id} is not usable: {reason}")]
    AccountUnavailable {
        /// The Account ID.
        account_id: String,
        /// Why.
        reason: String,
        /// The kind of the underlying failure (locked keyring, corrupt store, …).
        kind: ErrorKind,
    },
    /// The keystore failed.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// The account database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What we were doing.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A bug, recorded with where it happened.
    #[error("internal error at {location}: {message}")]
    Internal {
        /// What happened.
        message: String,
        /// Source location.
        location: &'static std::panic::Location<'static>,
    },
    /// The keystore did not answer in time.
    #[error("the keystore did not answer within {after:?}")]
    KeystoreTimeout {
        /// How long we waited.
        after: std::time::Duration,
    },
    /// The daemon is shutting down.
    #[error("sessiond is shutting down")]
    ShuttingDown,
}

impl ServiceError {
    /// A "can't happen" error, recording the caller's location.
    #[track_caller]
    pub fn internal(message: impl Into<String>) -> Self {
        ServiceError::Internal {
            message: message.into(),
            location: std::panic::Location::caller(),
        }
    }

    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        ServiceError::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }
}

impl HasKind for ServiceError {
    fn kind(&self) -> ErrorKind {
        match self {
            ServiceError::AccountNotFound { .. } => ErrorKind::NotFound,
            ServiceError::AccountExists { .. } => ErrorKind::AlreadyExists,
            ServiceError::InvalidAccountId { .. }
            | ServiceError::InvalidPhrase { .. }
            | ServiceError::InvalidInput(_) => ErrorKind::InvalidInput,
            ServiceError::ConfirmationRequired { .. } => ErrorKind::ConfirmationRequired,
            ServiceError::AccountUnavailable { kind, .. } => *kind,
            ServiceError::Keystore(e) => e.kind(),
            ServiceError::Store(e) => e.kind(),
            ServiceError::Io { .. } => ErrorKind::StorageFailure,
            ServiceError::Internal { .. } => ErrorKind::Internal,
            ServiceError::KeystoreTimeout { .. } => ErrorKind::KeyringUnavailable,
            ServiceError::ShuttingDown => ErrorKind::ShuttingDown,
        }
    }
}
