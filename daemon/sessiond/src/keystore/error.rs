//! The keystore's error type: what failed, in which backend, on which file or account.
//!
//! No variant carries secret bytes or a passphrase, so every message is safe to log and to
//! return through the API. Each variant maps to one [`ErrorKind`] via [`HasKind`].

use std::path::PathBuf;

use sessiond_protocol::{ErrorKind, HasKind};

use super::{KeystoreKind, SecretKind};

/// An error from a [`Keystore`](super::Keystore) or from [`open`](super::open).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// The backend is there but locked; unlocking it is up to the user.
    #[error(
        "the {backend} keystore is locked; unlock the keyring (for example by logging in to \
         the desktop session or in the keyring manager) and retry"
    )]
    Locked {
        /// The locked backend.
        backend: KeystoreKind,
    },

    /// No such secret is stored.
    #[error("no {what} is stored for account {account_id}")]
    NotFound {
        /// The account whose secret was asked for.
        account_id: String,
        /// Which secret.
        what: SecretKind,
    },

    /// The backend cannot be reached or used at all right now.
    #[error("the {backend} keystore is unavailable: {reason}")]
    Unavailable {
        /// The backend that was tried.
        backend: KeystoreKind,
        /// Why, for the user.
        reason: String,
    },

    /// Automatic selection found no persistent backend.
    #[error(
        "no keystore backend was found ({reason}); start a Secret Service (gnome-keyring, \
         KWallet) in the session, or choose one explicitly: `--keystore file` (a file in the \
         data directory, optionally encrypted with a passphrase) or `--keystore keyutils` \
         (the kernel keyring: secrets are lost at logout and reboot)"
    )]
    NoBackend {
        /// Why the Secret Service could not be used.
        reason: String,
    },

    /// The keystore file is encrypted and no passphrase was configured.
    #[error(
        "keystore file {} is encrypted and no passphrase was configured (give it with \
         --passphrase-file or --passphrase-env)",
        path.display()
    )]
    PassphraseRequired {
        /// The keystore file.
        path: PathBuf,
    },

    /// The configured passphrase source gave nothing usable.
    #[error("the keystore passphrase from {origin} cannot be used: {reason}")]
    PassphraseUnavailable {
        /// Where the passphrase was to come from (a file path or a variable name).
        origin: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// The passphrase does not open the keystore file (or the file was altered).
    #[error(
        "wrong passphrase for keystore file {} (or the file was modified)",
        path.display()
    )]
    WrongPassphrase {
        /// The keystore file.
        path: PathBuf,
    },

    /// A file system operation failed.
    #[error("could not {op} {}", path.display())]
    Io {
        /// The file or directory operated on.
        path: PathBuf,
        /// What we were doing, as a verb phrase ("read the keystore file").
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// The keystore file is not in a format we can read.
    #[error("keystore file {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The keystore file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The keystore file can be read or written by other users.
    #[error(
        "keystore file {} has mode {mode:04o} (accessible to group or others); refusing to \
         use it: check who could have read it, then run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    InsecurePermissions {
        /// The keystore file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// The Account ID given is not a 66-character lowercase hex string.
    #[error("invalid Account ID: {reason}")]
    InvalidAccountId {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The backend answered an operation with an error.
    #[error("the {backend} keystore failed to {op}: {reason}")]
    Backend {
        /// The backend.
        backend: KeystoreKind,
        /// What we were doing ("store a secret").
        op: &'static str,
        /// The backend's error, as text (never contains secret data).
        reason: String,
    },
}

impl HasKind for KeystoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            KeystoreError::Locked { .. } => ErrorKind::KeyringLocked,
            KeystoreError::NotFound { .. } => ErrorKind::NotFound,
            KeystoreError::Unavailable { .. } | KeystoreError::NoBackend { .. } => {
                ErrorKind::KeyringUnavailable
            }
            KeystoreError::PassphraseRequired { .. }
            | KeystoreError::PassphraseUnavailable { .. }
            | KeystoreError::InvalidAccountId { .. } => ErrorKind::InvalidInput,
            KeystoreError::WrongPassphrase { .. } | KeystoreError::Corrupt { .. } => {
                ErrorKind::StorageCorrupt
            }
            KeystoreError::Io { .. }
            | KeystoreError::InsecurePermissions { .. }
            | KeystoreError::Backend { .. } => ErrorKind::StorageFailure,
        }
    }
}
