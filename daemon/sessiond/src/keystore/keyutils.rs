//! The kernel keyutils backend: secrets as `user` keys in the session keyring.
//!
//! It exists for machines with neither a Secret Service nor a wish to keep secrets on disk:
//! the kernel holds the keys in memory, out of reach of other users, and nothing persists.
//! The keys live in the session keyring of the daemon's login session (and, where the
//! kernel supports persistent keyrings, are also linked into the user's persistent keyring,
//! which expires after `/proc/sys/kernel/keys/persistent_keyring_expiry` seconds without
//! use). They are lost at logout or reboot, after which every account has to be restored
//! from its recovery phrase: good for ephemeral use and tests, never picked automatically.
//!
//! Key descriptions are `sessiond:<Account ID>/<seed|db-key>`. Tests run inside
//! `keyctl session -` so that they get a fresh session keyring of their own.

use std::collections::HashMap;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};
use zeroize::Zeroizing;

use super::keyring_map::{PlatformVerdict, SERVICE, entry_user, map_keyring_error};
use super::{Keystore, KeystoreError, KeystoreKind, KeystoreStatus, SecretKind, check_account_id};

const BACKEND: KeystoreKind = KeystoreKind::Keyutils;

/// Secrets in the Linux kernel's session keyring.
pub struct KeyutilsKeystore {
    /// `keyring-core`'s keyutils store (stateless: every entry looks up the session keyring).
    store: Arc<CredentialStore>,
}

impl std::fmt::Debug for KeyutilsKeystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyutilsKeystore").finish_non_exhaustive()
    }
}

/// Every keyutils error is either "no such key" (mapped by the store) or a failure of
/// the keyring itself; there is no locked state.
fn classify(_err: &(dyn std::error::Error + 'static)) -> PlatformVerdict {
    PlatformVerdict::Other
}

impl KeyutilsKeystore {
    /// Open the keystore, checking that this process has a usable session keyring.
    pub fn open() -> Result<Self, KeystoreError> {
        let store: Arc<CredentialStore> =
            linux_keyutils_keyring_store::Store::new().map_err(|e| KeystoreError::Unavailable {
                backend: BACKEND,
                reason: e.to_string(),
            })?;
        let keystore = KeyutilsKeystore { store };
        if let KeystoreStatus::Unavailable { reason } = keystore.status() {
            return Err(KeystoreError::Unavailable {
                backend: BACKEND,
                reason,
            });
        }
        Ok(keystore)
    }

    fn entry(&self, account_id: &str, what: SecretKind) -> Result<Entry, KeystoreError> {
        let description = format!("{SERVICE}:{}", entry_user(account_id, what));
        let modifiers = HashMap::from([("description", description.as_str())]);
        Entry::new_in_store_with_modifiers(
            &self.store,
            SERVICE,
            &entry_user(account_id, what),
            &modifiers,
        )
        .map_err(|e| match e {
            // Building an entry only fails when the session keyring cannot be reached.
            keyring_core::Error::NoStorageAccess(inner) => KeystoreError::Unavailable {
                backend: BACKEND,
                reason: format!("the session keyring cannot be reached: {inner}"),
            },
            other => map_keyring_error(other, BACKEND, "name a key", account_id, what, classify),
        })
    }
}

impl Keystore for KeyutilsKeystore {
    fn kind(&self) -> KeystoreKind {
        BACKEND
    }

    fn status(&self) -> KeystoreStatus {
        // Naming an entry looks up the session keyring without creating anything.
        let probe_id = format!("05{}", "0".repeat(64));
        match self.entry(&probe_id, SecretKind::Seed) {
            Ok(_) => KeystoreStatus::Available,
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
        self.entry(account_id, what)?
            .set_secret(secret)
            .map_err(|e| {
                map_keyring_error(e, BACKEND, "store a secret", account_id, what, classify)
            })
    }

    fn load(
        &self,
        account_id: &str,
        what: SecretKind,
    ) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        check_account_id(account_id)?;
        self.entry(account_id, what)?
            .get_secret()
            .map(Zeroizing::new)
            .map_err(|e| map_keyring_error(e, BACKEND, "load a secret", account_id, what, classify))
    }

    fn delete(&self, account_id: &str, what: SecretKind) -> Result<(), KeystoreError> {
        check_account_id(account_id)?;
        self.entry(account_id, what)?
            .delete_credential()
            .map_err(|e| {
                map_keyring_error(e, BACKEND, "delete a secret", account_id, what, classify)
            })
    }
}
