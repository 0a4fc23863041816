//! The service API: what the daemon can do, as plain async Rust.
//!
//! Why it exists: the socket and D-Bus adapters are thin translations of this one API, so no
//! behaviour can differ between surfaces. It owns the accounts (keys from the keystore, one
//! encrypted store each) and announces every change on a broadcast channel that adapters use
//! to keep their objects current.

mod accounts;
mod error;

pub use accounts::{Account, AccountState};
pub use error::ServiceError;

use crate::keystore::{Keystore, KeystoreKind};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{RwLock, broadcast};

/// A change the adapters need to reflect (D-Bus objects, later event streams).
#[derive(Debug, Clone)]
pub enum Change {
    /// An account was created or restored.
    AccountAdded(Account),
    /// An account's visible state changed.
    AccountChanged(Account),
    /// An account was deleted.
    AccountRemoved {
        /// Its Account ID.
        account_id: String,
    },
}

/// Where the service keeps its data.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Root of the daemon's persistent data; accounts live in `accounts/<Account ID>/`.
    pub data_dir: PathBuf,
}

/// The daemon's service. Shared as `Arc<Service>`; adapters hold `Weak<Service>`.
pub struct Service {
    /// Where data lives.
    config: ServiceConfig,
    /// Where secrets live.
    keystore: Arc<dyn Keystore>,
    /// Accounts by Account ID.
    accounts: RwLock<BTreeMap<String, accounts::AccountSlot>>,
    /// Announces changes to adapters.
    changes: broadcast::Sender<Change>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("data_dir", &self.config.data_dir)
            .field("keystore", &self.keystore.kind())
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Start the service: load every account found under the data directory.
    ///
    /// Accounts whose keys cannot be loaded (locked keyring, missing secret) are kept in a
    /// visible `locked`/`unavailable` state rather than failing start-up.
    pub async fn start(
        config: ServiceConfig,
        keystore: Arc<dyn Keystore>,
    ) -> Result<Arc<Service>, ServiceError> {
        let (changes, _) = broadcast::channel(256);
        let service = Arc::new(Service {
            config,
            keystore,
            accounts: RwLock::new(BTreeMap::new()),
            changes,
        });
        service.load_accounts().await?;
        Ok(service)
    }

    /// Which keystore backend this daemon uses.
    pub fn keystore_kind(&self) -> KeystoreKind {
        self.keystore.kind()
    }

    /// Subscribe to changes (for adapters).
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// The daemon's version.
    pub fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn announce(&self, change: Change) {
        // No receiver is fine: nobody is watching.
        let _ = self.changes.send(change);
    }
}
