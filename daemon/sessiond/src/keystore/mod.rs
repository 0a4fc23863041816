//! Where account secrets live: the account seed and the SQLCipher database key.
//!
//! The daemon never writes a seed or a database key anywhere but through a [`Keystore`].
//! Three backends exist, chosen by [`KeystoreConfig::kind`] (the `--keystore` flag):
//!
//! - **Secret Service** ([`SecretServiceKeystore`], `secret-service`): the desktop default.
//!   Secrets are items in the user's default collection (the "login" keyring of
//!   gnome-keyring or KWallet), which the desktop unlocks at login and keeps encrypted on
//!   disk under the user's password. Items carry the attributes `service = "sessiond"`,
//!   `username = "<Account ID>/<seed|db-key>"`. A locked collection is reported as
//!   [`KeystoreStatus::Locked`] / [`KeystoreError::Locked`]: the keystore never raises an
//!   unlock prompt by itself.
//! - **Kernel keyutils** ([`KeyutilsKeystore`], `keyutils`): keys of type `user` in the
//!   session keyring of the daemon's login session (and linked into the user's persistent
//!   keyring where the kernel has one, which expires after
//!   `/proc/sys/kernel/keys/persistent_keyring_expiry` seconds without use). Nothing is
//!   written to disk: the secrets are gone at logout or reboot and must be restored (from
//!   the recovery phrase) afterwards. Good for ephemeral use and tests; never chosen
//!   automatically.
//! - **File** ([`FileKeystore`], `file`): one file (typically `<data_dir>/keystore`) holding
//!   every account's secrets, for headless servers that have no Secret Service. Mode 0600,
//!   replaced atomically, and encrypted with a passphrase (Argon2id + XChaCha20-Poly1305)
//!   when one is configured; without one, the secrets are on disk in plain text, which the
//!   user chose explicitly (a warning is logged at open). Never chosen automatically.
//!
//! Automatic selection ([`KeystoreConfig::kind`] = `None`) picks the Secret Service when one
//! answers on the session bus and otherwise fails with [`KeystoreError::NoBackend`]: it never
//! falls back silently to a store that forgets (keyutils) or that the user did not ask for
//! (a file).
//!
//! All calls are blocking (D-Bus round trips, Argon2, fsync): the daemon calls them from
//! `tokio::task::spawn_blocking`, never from an async task, and bounds them with a timeout.
//! Secrets come back in [`Zeroizing`] buffers; no error message or `Debug` output of this
//! module contains secret bytes or a passphrase.

mod error;
mod file;
mod keyring_map;
mod keyutils;
mod secret_service;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use zeroize::Zeroizing;

pub use error::KeystoreError;
pub use file::{FileKeystore, KdfParams};
pub use keyutils::KeyutilsKeystore;
pub use secret_service::SecretServiceKeystore;

/// Which backend holds the secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeystoreKind {
    /// The freedesktop Secret Service on the session bus (gnome-keyring, KWallet, …).
    SecretService,
    /// The Linux kernel key retention service (session keyring; lost at logout/reboot).
    Keyutils,
    /// Our own file in the data directory, optionally passphrase-encrypted.
    File,
}

impl KeystoreKind {
    /// Every kind, in the order they are documented.
    pub const ALL: [KeystoreKind; 3] = [
        KeystoreKind::SecretService,
        KeystoreKind::Keyutils,
        KeystoreKind::File,
    ];

    /// The stable name used on the command line, in the config file and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            KeystoreKind::SecretService => "secret-service",
            KeystoreKind::Keyutils => "keyutils",
            KeystoreKind::File => "file",
        }
    }
}

impl fmt::Display for KeystoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string given for a keystore kind is none of `secret-service`, `keyutils`, `file`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown keystore kind {given:?}; expected one of: secret-service, keyutils, file")]
pub struct ParseKeystoreKindError {
    /// What was given.
    pub given: String,
}

impl FromStr for KeystoreKind {
    type Err = ParseKeystoreKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeystoreKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| ParseKeystoreKindError {
                given: s.to_owned(),
            })
    }
}

/// Which of an account's secrets is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretKind {
    /// The 32-byte account seed (everything else of the account derives from it).
    Seed,
    /// The SQLCipher key of the account's database.
    DatabaseKey,
}

impl SecretKind {
    /// Every kind of secret.
    pub const ALL: [SecretKind; 2] = [SecretKind::Seed, SecretKind::DatabaseKey];

    /// The stable name used in keyring item names and in the keystore file.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::Seed => "seed",
            SecretKind::DatabaseKey => "db-key",
        }
    }
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a keystore can be used right now. A state to show to the user, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeystoreStatus {
    /// Secrets can be stored and loaded.
    Available,
    /// The backend is there but locked; the user has to unlock it (e.g. log in to the
    /// desktop or unlock the keyring in its manager). The daemon does not prompt.
    Locked,
    /// The backend cannot be used; `reason` says why, for the user.
    Unavailable {
        /// Human-readable cause (never contains secrets).
        reason: String,
    },
}

/// A place where account secrets are kept. Implemented by every backend.
///
/// All methods block; call them from `spawn_blocking`. `account_id` is the 66-character
/// lowercase hex Account ID (`05…`); anything else is rejected with
/// [`KeystoreError::InvalidAccountId`] before the backend is touched.
pub trait Keystore: Send + Sync {
    /// Which backend this is (reported by the API next to each account).
    fn kind(&self) -> KeystoreKind;

    /// Whether the backend can be used now. Cheap enough to poll for a status display.
    fn status(&self) -> KeystoreStatus;

    /// Store `secret` as `what` of `account_id`, replacing any previous value.
    fn store(&self, account_id: &str, what: SecretKind, secret: &[u8])
    -> Result<(), KeystoreError>;

    /// Load `what` of `account_id`; [`KeystoreError::NotFound`] when there is none.
    fn load(&self, account_id: &str, what: SecretKind)
    -> Result<Zeroizing<Vec<u8>>, KeystoreError>;

    /// Delete `what` of `account_id`; [`KeystoreError::NotFound`] when there is none
    /// (callers that only want it gone may treat that as success).
    fn delete(&self, account_id: &str, what: SecretKind) -> Result<(), KeystoreError>;
}

/// Where the passphrase of an encrypted keystore file comes from. The daemon prompts only
/// when asked to ([`PassphraseSource::Terminal`]) and only when stdin is a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassphraseSource {
    /// Ask on the controlling terminal, with echo off (`--passphrase-prompt`). Refused when
    /// stdin is not a terminal, so a service never waits for an answer nobody can give.
    Terminal,
    /// The contents of this file, without one trailing newline. Preferred: keep it 0600
    /// (or use a systemd credential, `$CREDENTIALS_DIRECTORY/...`).
    File(PathBuf),
    /// The value of this environment variable. Note that the environment of a process is
    /// readable by its user through `/proc/<pid>/environ` for the process's whole life.
    Env(String),
}

/// How to open the keystore; built from the command line and the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeystoreConfig {
    /// The backend to use; `None` selects automatically (the Secret Service, or a
    /// [`KeystoreError::NoBackend`] error).
    pub kind: Option<KeystoreKind>,
    /// The keystore file, used only by [`KeystoreKind::File`] (typically
    /// `<data_dir>/keystore`). Its directory must exist.
    pub file_path: PathBuf,
    /// Where the file keystore's passphrase comes from; `None` keeps the file in plain text.
    /// Ignored by the other backends.
    pub passphrase: Option<PassphraseSource>,
}

/// Open the keystore described by `config`.
///
/// With `kind: None`, connects to the Secret Service if one answers on the session bus
/// (a running or D-Bus-activatable `org.freedesktop.secrets`), and otherwise returns
/// [`KeystoreError::NoBackend`]. An explicitly requested backend that cannot be reached
/// gives [`KeystoreError::Unavailable`]. A Secret Service whose collection is locked opens
/// fine and reports [`KeystoreStatus::Locked`].
pub fn open(config: &KeystoreConfig) -> Result<Box<dyn Keystore>, KeystoreError> {
    if config.passphrase.is_some() && config.kind != Some(KeystoreKind::File) {
        tracing::warn!(
            keystore = config.kind.map_or("auto", KeystoreKind::as_str),
            "a keystore passphrase was configured but only the file keystore uses one; ignoring it"
        );
    }
    match config.kind {
        Some(KeystoreKind::SecretService) => Ok(Box::new(SecretServiceKeystore::connect()?)),
        Some(KeystoreKind::Keyutils) => Ok(Box::new(KeyutilsKeystore::open()?)),
        Some(KeystoreKind::File) => {
            let exists = config.file_path.exists();
            let passphrase = config
                .passphrase
                .as_ref()
                .map(|p| if exists { p.read() } else { p.read_new() })
                .transpose()?;
            Ok(Box::new(FileKeystore::open(&config.file_path, passphrase)?))
        }
        None => match SecretServiceKeystore::connect() {
            Ok(keystore) => Ok(Box::new(keystore)),
            Err(KeystoreError::Unavailable { reason, .. }) => {
                Err(KeystoreError::NoBackend { reason })
            }
            Err(other) => Err(other),
        },
    }
}

impl PassphraseSource {
    /// Read the passphrase. Fails on a missing source or an empty passphrase.
    pub fn read(&self) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        let mut passphrase = match self {
            PassphraseSource::Terminal => prompt("sessiond keystore passphrase: ", self)?,
            PassphraseSource::File(path) => {
                Zeroizing::new(std::fs::read(path).map_err(|source| KeystoreError::Io {
                    path: path.clone(),
                    op: "read the passphrase file",
                    source,
                })?)
            }
            PassphraseSource::Env(name) => {
                use std::os::unix::ffi::OsStringExt as _;
                match std::env::var_os(name) {
                    Some(value) => Zeroizing::new(value.into_vec()),
                    None => {
                        return Err(KeystoreError::PassphraseUnavailable {
                            origin: self.describe(),
                            reason: "the variable is not set".to_owned(),
                        });
                    }
                }
            }
        };
        if passphrase.last() == Some(&b'\n') {
            passphrase.pop();
            if passphrase.last() == Some(&b'\r') {
                passphrase.pop();
            }
        }
        if passphrase.is_empty() {
            return Err(KeystoreError::PassphraseUnavailable {
                origin: self.describe(),
                reason: "the passphrase is empty".to_owned(),
            });
        }
        Ok(passphrase)
    }

    /// Read the passphrase for a keystore file that does not exist yet: from a terminal it is
    /// asked twice, so a typo does not lock the user out.
    pub fn read_new(&self) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        let first = self.read()?;
        if *self == PassphraseSource::Terminal {
            let again = prompt("repeat the passphrase: ", self)?;
            if *again != *first {
                return Err(KeystoreError::PassphraseUnavailable {
                    origin: self.describe(),
                    reason: "the two passphrases differ".to_owned(),
                });
            }
        }
        Ok(first)
    }

    /// Where the passphrase comes from, for messages (never the passphrase itself).
    pub fn describe(&self) -> String {
        match self {
            PassphraseSource::Terminal => "the terminal".to_owned(),
            PassphraseSource::File(path) => format!("file {}", path.display()),
            PassphraseSource::Env(name) => format!("environment variable {name}"),
        }
    }
}

/// Ask on the terminal with echo off; refuse when stdin is not a terminal.
fn prompt(question: &str, source: &PassphraseSource) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        return Err(KeystoreError::PassphraseUnavailable {
            origin: source.describe(),
            reason: "stdin is not a terminal: use --passphrase-file or --passphrase-env".to_owned(),
        });
    }
    rpassword::prompt_password(question)
        .map(|p| Zeroizing::new(p.into_bytes()))
        .map_err(|e| KeystoreError::PassphraseUnavailable {
            origin: source.describe(),
            reason: format!("reading the terminal failed: {e}"),
        })
}

/// Length of an Account ID in hex characters: a one-byte prefix and a 32-byte key.
const ACCOUNT_ID_HEX_LEN: usize = 66;

/// Check that `account_id` is a 66-character lowercase hex Account ID.
///
/// Every backend calls this first, so that one account cannot have two spellings (and
/// two entries), and so that nothing odd reaches a keyring item name or the file format.
pub(crate) fn check_account_id(account_id: &str) -> Result<(), KeystoreError> {
    if account_id.len() != ACCOUNT_ID_HEX_LEN {
        return Err(KeystoreError::InvalidAccountId {
            reason: "an Account ID is 66 hex characters",
        });
    }
    if !account_id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(KeystoreError::InvalidAccountId {
            reason: "an Account ID is lowercase hex",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystore_kind_names_round_trip() {
        for kind in KeystoreKind::ALL {
            assert_eq!(kind.as_str().parse::<KeystoreKind>(), Ok(kind));
        }
        assert!("gnome".parse::<KeystoreKind>().is_err());
    }

    #[test]
    fn account_id_must_be_66_lowercase_hex() {
        let good = format!("05{}", "ab".repeat(32));
        assert!(check_account_id(&good).is_ok());
        assert!(check_account_id(&good[..64]).is_err());
        assert!(check_account_id(&good.to_uppercase()).is_err());
        assert!(check_account_id(&format!("05{}", "zz".repeat(32))).is_err());
    }

    #[test]
    fn passphrase_file_loses_exactly_one_trailing_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pass");
        std::fs::write(&path, b"hunter2\n\n").expect("write");
        let read = PassphraseSource::File(path.clone())
            .read()
            .expect("read passphrase");
        assert_eq!(&read[..], b"hunter2\n");
        std::fs::write(&path, b"\n").expect("write");
        assert!(matches!(
            PassphraseSource::File(path).read(),
            Err(KeystoreError::PassphraseUnavailable { .. })
        ));
    }

    #[test]
    fn missing_passphrase_env_var_is_reported_by_name() {
        let err = PassphraseSource::Env("SESSIOND_TEST_SURELY_UNSET_VARIABLE".to_owned())
            .read()
            .expect_err("unset variable");
        assert!(
            err.to_string()
                .contains("SESSIOND_TEST_SURELY_UNSET_VARIABLE")
        );
    }
}
