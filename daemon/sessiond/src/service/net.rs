//! What the service needs from the Session network, as a small trait.
//!
//! Why it exists: the send worker and the poller are the daemon's durability logic; they are
//! written against this trait so their policy can be tested with an in-memory fake, while
//! production plugs in `sessiond-network`'s onion-routed client (see `crate::netclient`).

use futures_util::future::BoxFuture;
use sessiond_protocol::account_id::AccountId;
use sessiond_protocol::identity::Identity;
use sessiond_protocol::{ErrorKind, HasKind};

/// A network failure as the service sees it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct NetError {
    /// What went wrong (no secrets, no peer Account IDs).
    pub message: String,
    /// Whether trying again later may succeed.
    pub retriable: bool,
    /// Classification for the API.
    pub kind: ErrorKind,
}

impl HasKind for NetError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// One message as a swarm node returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetMessage {
    /// The swarm's hash.
    pub hash: String,
    /// The stored bytes.
    pub data: Vec<u8>,
    /// When the swarm drops it (Unix ms).
    pub expires_at_ms: Option<i64>,
}

/// What one node returned for one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetBatch {
    /// Messages in the node's order.
    pub messages: Vec<NetMessage>,
    /// The node truncated the answer: ask again.
    pub more: bool,
}

/// Network state for `network.status`, as plain values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetStatus {
    /// Known service nodes.
    pub pool_size: u32,
    /// Guard nodes: (`ip:port`, Ed25519 hex).
    pub guards: Vec<(String, String)>,
    /// Paths: hops as (`ip:port`, Ed25519 hex), and failures counted.
    pub paths: Vec<(Vec<(String, String)>, u32)>,
    /// Cached swarms: (pubkey hex, member Ed25519 hex keys).
    pub swarms: Vec<(String, Vec<String>)>,
    /// Network minus local time, ms.
    pub clock_offset_ms: i64,
    /// The last error, for frontends.
    pub last_error: Option<String>,
}

/// The network operations the service uses.
pub trait SwarmNetwork: Send + Sync + 'static {
    /// Store `data` in `to`'s swarm; returns the swarm's hash of it.
    fn store<'a>(
        &'a self,
        to: &'a AccountId,
        namespace: i16,
        data: &'a [u8],
        ttl_ms: u64,
        timestamp_ms: i64,
    ) -> BoxFuture<'a, Result<String, NetError>>;

    /// The members (Ed25519 hex keys) of `account`'s swarm.
    fn swarm_members<'a>(
        &'a self,
        account: &'a AccountId,
    ) -> BoxFuture<'a, Result<Vec<String>, NetError>>;

    /// New messages of `identity`'s swarm namespace from one member node, after `last_hash`.
    fn retrieve<'a>(
        &'a self,
        identity: &'a Identity,
        node: &'a str,
        namespace: i16,
        last_hash: Option<String>,
    ) -> BoxFuture<'a, Result<NetBatch, NetError>>;

    /// Network time minus local time, ms.
    fn clock_offset_ms(&self) -> i64;

    /// The state for `network.status`.
    fn status(&self) -> NetStatus;
}
