//! Shared glue for the two backends built on `keyring-core`: entry naming and the
//! translation of `keyring_core::Error` into [`KeystoreError`].
//!
//! `keyring_core::Error` can carry the raw bytes of a secret (`BadEncoding`,
//! `BadDataFormat`); the translation wipes them and keeps only a description.

use zeroize::Zeroize as _;

use super::{KeystoreError, KeystoreKind, SecretKind};

/// The keyring "service" (Secret Service attribute `service`) of every sessiond entry.
pub(crate) const SERVICE: &str = "sessiond";

/// The keyring "user" of an entry: `<Account ID>/<seed|db-key>`.
pub(crate) fn entry_user(account_id: &str, what: SecretKind) -> String {
    format!("{account_id}/{}", what.as_str())
}

/// A short form of an Account ID for labels shown to the user (`05abcdef…`).
pub(crate) fn short_account_id(account_id: &str) -> &str {
    account_id.get(..10).unwrap_or(account_id)
}

/// What a backend-specific look at a boxed platform error concluded.
pub(crate) enum PlatformVerdict {
    /// The backend is locked.
    Locked,
    /// The backend is not reachable (gone from the bus, no session keyring, …).
    Unavailable,
    /// Something else; report it as a backend failure.
    Other,
}

/// Translate a `keyring_core` error raised while doing `op` on `what` of `account_id`.
///
/// `classify` looks at the platform error inside `NoStorageAccess`/`PlatformFailure`.
pub(crate) fn map_keyring_error(
    err: keyring_core::Error,
    backend: KeystoreKind,
    op: &'static str,
    account_id: &str,
    what: SecretKind,
    classify: impl Fn(&(dyn std::error::Error + 'static)) -> PlatformVerdict,
) -> KeystoreError {
    use keyring_core::Error as E;
    let platform = |inner: &(dyn std::error::Error + Send + Sync + 'static)| match classify(inner) {
        PlatformVerdict::Locked => KeystoreError::Locked { backend },
        PlatformVerdict::Unavailable => KeystoreError::Unavailable {
            backend,
            reason: inner.to_string(),
        },
        PlatformVerdict::Other => KeystoreError::Backend {
            backend,
            op,
            reason: inner.to_string(),
        },
    };
    match err {
        E::NoEntry => KeystoreError::NotFound {
            account_id: account_id.to_owned(),
            what,
        },
        E::NoStorageAccess(inner) => match platform(inner.as_ref()) {
            // The store could not get at its storage but said nothing more specific.
            KeystoreError::Backend { reason, .. } => KeystoreError::Unavailable { backend, reason },
            mapped => mapped,
        },
        E::PlatformFailure(inner) => platform(inner.as_ref()),
        E::BadEncoding(mut bytes) => {
            bytes.zeroize();
            KeystoreError::Backend {
                backend,
                op,
                reason: "the stored secret is not in the expected encoding".to_owned(),
            }
        }
        E::BadDataFormat(mut bytes, inner) => {
            bytes.zeroize();
            KeystoreError::Backend {
                backend,
                op,
                reason: format!("the stored secret is malformed: {inner}"),
            }
        }
        E::Ambiguous(entries) => KeystoreError::Backend {
            backend,
            op,
            reason: format!(
                "{} keyring items match the {what} of account {account_id}; remove the \
                 duplicates in the keyring manager",
                entries.len()
            ),
        },
        other => KeystoreError::Backend {
            backend,
            op,
            reason: other.to_string(),
        },
    }
}
