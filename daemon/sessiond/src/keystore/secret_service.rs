//! The Secret Service backend: the desktop's keyring (gnome-keyring, KWallet, KeePassXC).
//!
//! It exists because on a desktop the user already has a keyring that is unlocked at login
//! and encrypted on disk under their password; sessiond's secrets belong there, next to
//! the user's other credentials, and survive reboots without another passphrase.
//!
//! Secrets are items of the collection with the `default` alias (usually "login"), with
//! attributes `service = "sessiond"` and `username = "<Account ID>/<seed|db-key>"`, and a
//! label such as `sessiond seed for 05abcdef12…`. Reads and writes go through
//! `keyring-core`'s `Entry` API on the `zbus-secret-service-keyring-store` store.
//!
//! A locked collection is a state, not a failure: before every operation the default
//! collection's `Locked` property is read and a locked collection gives
//! [`KeystoreError::Locked`] instead of asking the Secret Service to unlock it (which
//! would pop up a password prompt on the desktop from a background daemon, or, headless,
//! fail). Unlocking is the user's business; [`Keystore::status`] reports it.
//!
//! When the Secret Service goes away (the keyring daemon restarts), the next call that
//! fails as unavailable drops the D-Bus connections, and the call after it reconnects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use keyring_core::{CredentialStore, Entry};
use secret_service::EncryptionType;
use secret_service::blocking::SecretService;
use zeroize::Zeroizing;

use super::keyring_map::{
    PlatformVerdict, SERVICE, entry_user, map_keyring_error, short_account_id,
};
use super::{Keystore, KeystoreError, KeystoreKind, KeystoreStatus, SecretKind, check_account_id};

const BACKEND: KeystoreKind = KeystoreKind::SecretService;

/// Secrets in the freedesktop Secret Service on the session bus.
pub struct SecretServiceKeystore {
    /// The live connections, or `None` after the service went away (reconnected lazily).
    /// One lock for everything: Secret Service calls are serialized anyway.
    conn: Mutex<Option<Connection>>,
}

/// The two D-Bus sessions with the Secret Service that one keystore uses.
struct Connection {
    /// `keyring-core`'s store, which does the item reads and writes.
    store: Arc<CredentialStore>,
    /// Our own session, used only to read the default collection's `Locked` property
    /// (the store offers no way to ask without triggering an unlock prompt).
    probe: SecretService<'static>,
}

impl Drop for SecretServiceKeystore {
    fn drop(&mut self) {
        // The Secret Service client blocks on its own runtime when its connections close,
        // which panics on an async runtime's thread: close them on a plain thread then.
        let conn = self.conn.get_mut().ok().and_then(Option::take);
        if let Some(conn) = conn
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = std::thread::spawn(move || drop(conn)).join();
        }
    }
}

impl std::fmt::Debug for SecretServiceKeystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretServiceKeystore")
            .finish_non_exhaustive()
    }
}

impl Connection {
    fn connect() -> Result<Self, KeystoreError> {
        // No secret crosses the probe's session, so it needs no transport encryption.
        let probe = SecretService::connect(EncryptionType::Plain).map_err(|e| unavailable(&e))?;
        // Fail now, not at the first store, if the service has no default collection.
        default_collection_locked(&probe)?;
        let store: Arc<CredentialStore> =
            zbus_secret_service_keyring_store::Store::new().map_err(|e| {
                KeystoreError::Unavailable {
                    backend: BACKEND,
                    reason: e.to_string(),
                }
            })?;
        Ok(Connection { store, probe })
    }

    fn ensure_unlocked(&self) -> Result<(), KeystoreError> {
        if default_collection_locked(&self.probe)? {
            Err(KeystoreError::Locked { backend: BACKEND })
        } else {
            Ok(())
        }
    }

    fn entry(&self, account_id: &str, what: SecretKind) -> Result<Entry, KeystoreError> {
        let label = format!("sessiond {what} for {}…", short_account_id(account_id));
        let modifiers = HashMap::from([("label", label.as_str())]);
        Entry::new_in_store_with_modifiers(
            &self.store,
            SERVICE,
            &entry_user(account_id, what),
            &modifiers,
        )
        .map_err(|e| map_error(e, "name a keyring item", account_id, what))
    }
}

/// Whether the collection with the `default` alias is locked.
fn default_collection_locked(ss: &SecretService<'_>) -> Result<bool, KeystoreError> {
    let collection = ss.get_default_collection().map_err(|e| match e {
        secret_service::Error::NoResult => KeystoreError::Unavailable {
            backend: BACKEND,
            reason: "the Secret Service has no default collection (create a \"login\" \
                     keyring in the keyring manager)"
                .to_owned(),
        },
        other => unavailable(&other),
    })?;
    collection.is_locked().map_err(|e| unavailable(&e))
}

fn unavailable(err: &secret_service::Error) -> KeystoreError {
    KeystoreError::Unavailable {
        backend: BACKEND,
        reason: match err {
            secret_service::Error::Unavailable => "no D-Bus session bus was found".to_owned(),
            other => format!("no Secret Service answers on the session bus ({other})"),
        },
    }
}

fn classify(err: &(dyn std::error::Error + 'static)) -> PlatformVerdict {
    use secret_service::Error as S;
    match err.downcast_ref::<S>() {
        Some(S::Locked | S::Prompt | S::PromptDisconnected) => PlatformVerdict::Locked,
        Some(S::Unavailable | S::NoResult | S::Zbus(_) | S::ZbusFdo(_)) => {
            PlatformVerdict::Unavailable
        }
        _ => PlatformVerdict::Other,
    }
}

fn map_error(
    err: keyring_core::Error,
    op: &'static str,
    account_id: &str,
    what: SecretKind,
) -> KeystoreError {
    map_keyring_error(err, BACKEND, op, account_id, what, classify)
}

impl SecretServiceKeystore {
    /// Connect to the Secret Service on the session bus (`DBUS_SESSION_BUS_ADDRESS`, or
    /// `$XDG_RUNTIME_DIR/bus`), starting it through D-Bus activation if it is activatable.
    ///
    /// Fails with [`KeystoreError::Unavailable`] when there is no bus, no Secret Service
    /// on it, or no default collection. A locked collection is not an error here.
    pub fn connect() -> Result<Self, KeystoreError> {
        let conn = Connection::connect()?;
        Ok(SecretServiceKeystore {
            conn: Mutex::new(Some(conn)),
        })
    }

    /// Run `f` on a live connection (reconnecting if needed); forget the connection if
    /// `f` finds the service unavailable, so that the next call starts afresh.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, KeystoreError>,
    ) -> Result<T, KeystoreError> {
        // The guarded value is only a cache of connections: a panic elsewhere cannot leave
        // it inconsistent.
        let mut guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = match guard.take() {
            Some(conn) => conn,
            None => Connection::connect()?,
        };
        let result = f(&conn);
        if !matches!(result, Err(KeystoreError::Unavailable { .. })) {
            *guard = Some(conn);
        }
        result
    }
}

impl Keystore for SecretServiceKeystore {
    fn kind(&self) -> KeystoreKind {
        BACKEND
    }

    fn status(&self) -> KeystoreStatus {
        match self.with_conn(|conn| default_collection_locked(&conn.probe)) {
            Ok(false) => KeystoreStatus::Available,
            Ok(true) | Err(KeystoreError::Locked { .. }) => KeystoreStatus::Locked,
            Err(err) => KeystoreStatus::Unavailable {
                reason: err.to_string(),
            },
        }
    }

    fn store(
        &self,
        account_id: &str,
        what: SecretKind,
        secret: &[u8],
    ) -> Result<(), KeystoreError> {
        check_account_id(account_id)?;
        self.with_conn(|conn| {
            conn.ensure_unlocked()?;
            conn.entry(account_id, what)?
                .set_secret(secret)
                .map_err(|e| map_error(e, "store a secret", account_id, what))
        })
    }

    fn load(
        &self,
        account_id: &str,
        what: SecretKind,
    ) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        check_account_id(account_id)?;
        self.with_conn(|conn| {
            conn.ensure_unlocked()?;
            conn.entry(account_id, what)?
                .get_secret()
                .map(Zeroizing::new)
                .map_err(|e| map_error(e, "load a secret", account_id, what))
        })
    }

    fn delete(&self, account_id: &str, what: SecretKind) -> Result<(), KeystoreError> {
        check_account_id(account_id)?;
        self.with_conn(|conn| {
            conn.ensure_unlocked()?;
            conn.entry(account_id, what)?
                .delete_credential()
                .map_err(|e| map_error(e, "delete a secret", account_id, what))
        })
    }
}
