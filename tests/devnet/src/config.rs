//! How a devnet is shaped: node count, swarm size, state directory, ports, clock, timeouts and
//! file-server limits.

use std::path::PathBuf;
use std::time::Duration;

use crate::clock::Clock;

/// Everything [`crate::Devnet::start`] needs.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// Number of service nodes (default 12).
    pub nodes: usize,
    /// Target swarm size: the nodes form `max(1, nodes / swarm_size)` swarms, filled
    /// round-robin, so every swarm has at least `swarm_size` members when there are enough
    /// nodes (default 4).
    pub swarm_size: usize,
    /// State directory: keys, certificates, ports, SQLite databases, `network.json`. `None`
    /// keeps everything in memory (new identities every start).
    pub dir: Option<PathBuf>,
    /// First port: nodes get `base_port + i`, the seed `base_port + nodes`, the file server
    /// `base_port + nodes + 1`. 0 = OS-assigned (reusing the ports of a previous run in `dir`
    /// when they are free).
    pub base_port: u16,
    /// Put every node on its own loopback /24 (127.0.1.1, 127.0.2.1, …) instead of all on
    /// 127.0.0.1, so that clients' one-node-per-/24 path rule sees distinct subnets
    /// (default false).
    pub distinct_subnets: bool,
    /// The network's clock.
    pub clock: Clock,
    /// Relay and replication timeouts.
    pub timeouts: Timeouts,
    /// File-server limits.
    pub file_server: FileServerConfig,
    /// The block height the network reports.
    pub height: u64,
    /// How often expired messages and files are purged (they are invisible as soon as they
    /// expire; this only reclaims space).
    pub cleanup_interval: Duration,
}

impl Default for DevnetConfig {
    fn default() -> DevnetConfig {
        DevnetConfig {
            nodes: 12,
            swarm_size: 4,
            dir: None,
            base_port: 0,
            distinct_subnets: false,
            clock: Clock::system(),
            timeouts: Timeouts::default(),
            file_server: FileServerConfig::default(),
            height: 1_500_000,
            cleanup_interval: Duration::from_secs(10),
        }
    }
}

/// How long nodes wait on each other and on servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Copies of recursive requests to swarm peers (5 s on the real network).
    pub swarm: Duration,
    /// One onion hop to the next node (30 s on the real network); a timeout answers
    /// `504 Request time out`.
    pub onion_hop: Duration,
    /// The last hop's HTTP request to a server (25 s on the real network).
    pub server: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            swarm: Duration::from_secs(5),
            onion_hop: Duration::from_secs(30),
            server: Duration::from_secs(25),
        }
    }
}

/// File-server limits (protocol.md §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileServerConfig {
    /// Largest upload in bytes (10 000 000).
    pub max_size: usize,
    /// Lifetime of an upload without `X-FS-TTL` (14 days).
    pub default_ttl: Duration,
    /// Longest lifetime `X-FS-TTL` may ask for (30 days).
    pub max_ttl: Duration,
}

impl Default for FileServerConfig {
    fn default() -> FileServerConfig {
        FileServerConfig {
            max_size: 10_000_000,
            default_ttl: Duration::from_secs(14 * 24 * 3600),
            max_ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}
