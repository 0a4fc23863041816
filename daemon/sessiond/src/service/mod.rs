//! The service API: what the daemon can do, as plain async Rust.
//!
//! Why it exists: the socket and D-Bus adapters are thin translations of this one API, so no
//! behaviour can differ between surfaces. It owns the accounts (keys from the keystore, one
//! encrypted store each) and announces every change on a broadcast channel that adapters use
//! to keep their objects current.

mod accounts;
mod error;
pub mod messaging;
pub mod net;
pub mod poller;
pub mod sender;
#[cfg(test)]
mod workflow_tests;

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
    /// Messages of an account were added or changed state (details in its event log).
    MessagesChanged {
        /// The account.
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
    /// The last message timestamp handed out, so each is unique (see `message_timestamp`).
    last_timestamp: std::sync::Mutex<i64>,
    /// Wakes the send worker when something enters an outbox.
    outbox_wake: Arc<tokio::sync::Notify>,
    /// Network time minus local time (ms), as learned from service nodes.
    clock_offset_ms: std::sync::atomic::AtomicI64,
    /// Wakes the poller (an account was added, a frontend wants fresh messages).
    poll_wake: Arc<tokio::sync::Notify>,
    /// When a frontend last used the API (Unix ms): drives the poll cadence.
    last_interest_ms: std::sync::atomic::AtomicI64,
    /// Conversations frontends have open right now: poll faster while any is.
    open_conversations: std::sync::atomic::AtomicI64,
    /// When a frontend last read a conversation (Unix ms): a frontend showing a conversation
    /// re-reads it, so recent reads count as attention.
    last_attention_ms: std::sync::atomic::AtomicI64,
    /// The last network error, for `network.status`.
    last_network_error: std::sync::Mutex<Option<String>>,
    /// The network, once connected (`None` when running without one), and its name
    /// (`mainnet`, `local`, `custom`).
    network: std::sync::OnceLock<(Arc<dyn net::SwarmNetwork>, String)>,
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
            last_timestamp: std::sync::Mutex::new(0),
            outbox_wake: Arc::new(tokio::sync::Notify::new()),
            clock_offset_ms: std::sync::atomic::AtomicI64::new(0),
            poll_wake: Arc::new(tokio::sync::Notify::new()),
            last_interest_ms: std::sync::atomic::AtomicI64::new(crate::clock::now_ms()),
            open_conversations: std::sync::atomic::AtomicI64::new(0),
            last_attention_ms: std::sync::atomic::AtomicI64::new(0),
            last_network_error: std::sync::Mutex::new(None),
            network: std::sync::OnceLock::new(),
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

    /// Network time (local time corrected by the offset learned from service nodes), Unix ms.
    pub fn network_now_ms(&self) -> i64 {
        crate::clock::now_ms()
            + self
                .clock_offset_ms
                .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Record the network time offset (network minus local, ms).
    pub fn set_clock_offset_ms(&self, offset: i64) {
        self.clock_offset_ms
            .store(offset, std::sync::atomic::Ordering::Relaxed);
    }

    /// The notifier the send worker waits on.
    pub fn outbox_wake(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.outbox_wake)
    }

    /// The notifier the poller waits on.
    pub fn poll_wake(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.poll_wake)
    }

    /// A frontend used the API: it cares about fresh messages.
    pub fn touch_interest(&self) {
        self.last_interest_ms
            .store(crate::clock::now_ms(), std::sync::atomic::Ordering::Relaxed);
    }

    /// A frontend read a conversation: poll at the attention cadence for a while.
    pub fn touch_attention(&self) {
        let now = crate::clock::now_ms();
        self.last_attention_ms
            .store(now, std::sync::atomic::Ordering::Relaxed);
        self.last_interest_ms
            .store(now, std::sync::atomic::Ordering::Relaxed);
    }

    /// A frontend opened (`true`) or closed (`false`) a conversation.
    pub fn set_conversation_open(&self, open: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        if open {
            self.open_conversations.fetch_add(1, Relaxed);
            self.poll_wake.notify_one();
        } else {
            let _ = self
                .open_conversations
                .fetch_update(Relaxed, Relaxed, |n| Some((n - 1).max(0)));
        }
        self.touch_interest();
    }

    /// How long the poller waits before the next round.
    pub fn poll_interval(&self, cadence: &poller::PollCadence) -> std::time::Duration {
        use std::sync::atomic::Ordering::Relaxed;
        let since_attention = crate::clock::now_ms() - self.last_attention_ms.load(Relaxed);
        if self.open_conversations.load(Relaxed) > 0
            || u128::try_from(since_attention).unwrap_or(u128::MAX)
                < cadence.attention_lasts.as_millis()
        {
            return cadence.attention;
        }
        let since = crate::clock::now_ms() - self.last_interest_ms.load(Relaxed);
        if u128::try_from(since).unwrap_or(0) > cadence.idle_after.as_millis() {
            cadence.idle
        } else {
            cadence.normal
        }
    }

    /// Remember the latest network error for `network.status`.
    pub fn note_network_error(&self, error: &str) {
        if let Ok(mut e) = self.last_network_error.lock() {
            *e = Some(error.to_owned());
        }
    }

    /// Connect the service to a network (once), named `name` in `network.status`.
    pub fn attach_network(&self, network: Arc<dyn net::SwarmNetwork>, name: &str) -> bool {
        self.network.set((network, name.to_owned())).is_ok()
    }

    /// The name of the attached network (`none` without one).
    pub fn network_name(&self) -> &str {
        self.network.get().map_or("none", |(_, n)| n.as_str())
    }

    /// The network's state, if connected.
    pub fn network_status(&self) -> Option<net::NetStatus> {
        let mut status = self.network.get()?.0.status();
        if status.last_error.is_none() {
            status.last_error = self.last_network_error.lock().ok().and_then(|e| e.clone());
        }
        Some(status)
    }

    fn wake_sender(&self, _account: &sessiond_protocol::AccountId) {
        // One worker serves every account's outbox; a permit is kept if it is busy.
        self.outbox_wake.notify_one();
    }

    pub(crate) fn announce(&self, change: Change) {
        // No receiver is fine: nobody is watching.
        let _ = self.changes.send(change);
    }
}
