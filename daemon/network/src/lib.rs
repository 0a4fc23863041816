#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod client;
pub mod clock;
pub mod error;
pub mod node;
pub mod onion_client;
pub mod path;
pub mod policy;
pub mod pool;
pub mod rpc;
pub mod seed;
pub mod state;
pub mod storage;
pub mod swarm;
pub mod transport;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use client::{
    NetworkClient, NetworkConfig, NetworkRng, NetworkSnapshot, NetworkStatus, NodeStatus,
    PathStatus, SwarmStatus,
};
pub use clock::Clock;
pub use error::{Malformed, NetworkError, Peer, TransportError};
pub use node::{NodeId, ServiceNode};
pub use onion_client::OnionRpc;
pub use path::{OnionPath, PathSet};
pub use policy::Policy;
pub use pool::Pool;
pub use rpc::{DirectRpc, NodeRpc, RpcReply, RpcRequest};
pub use seed::{CertPin, SeedNode, SeedTrust};
pub use state::NetworkState;
pub use storage::{Retrieved, RetrievedMessage, StoreAck};
pub use swarm::SwarmCache;
pub use transport::{HttpResponse, HttpsTransport, Socks5Proxy, Transport, TransportConfig};
