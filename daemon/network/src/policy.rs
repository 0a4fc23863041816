//! The numbers that shape how the client uses the network, in one place.
//!
//! The defaults are the official desktop client's (protocol.md §3.1, §3.2, §3.8, §3.9, §4.1).
//! Only two of them depend on the network's size and layout, and only they change for a small
//! local network such as the devnet (12 nodes, all on loopback):
//! - [`Policy::refresh_agreement`]: a pool refresh asks 3 nodes for the node list and accepts
//!   it only if they agree on this many nodes (24 on mainnet; it cannot exceed the network's
//!   size, so the devnet uses its node count, as desktop does with its devnet flag);
//! - [`Policy::subnet_diversity`]: non-guard hops are taken one per /24 subnet, so that one
//!   operator's block of addresses does not hold two hops of a path. On loopback every node
//!   shares `127.0.0.x`, and the rule would leave a single candidate.
//!
//! Everything else (the code path, the request formats, the failure rules) is the same on every
//! network.

use std::time::Duration;

/// Hops in an onion path: the guard and two more (`ONION_REQUEST_HOPS`).
pub const PATH_HOPS: usize = 3;

/// Tunable behaviour of the network client. Build with [`Policy::mainnet`] or
/// [`Policy::local`] and adjust fields if needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// A pool of this many nodes or fewer is too small to build paths and is reloaded from the
    /// seeds (desktop `minSnodePoolCount` = 1 guard × (3 hops + 1) × 2 = 8).
    pub min_pool_size: usize,
    /// Nodes asked for the node list in a pool refresh (3).
    pub refresh_sources: usize,
    /// Nodes on which every refresh answer must agree (by address) for the refresh to be
    /// accepted: 24 on mainnet, at most the network's size on a small network.
    pub refresh_agreement: usize,
    /// Failures after which a service node, or a path, is dropped (3).
    pub failure_threshold: u32,
    /// Guard nodes kept; each starts one path (2).
    pub guard_count: usize,
    /// Rounds of guard tests before guard selection gives up (6); each round tests
    /// `guard_count` candidates at once.
    pub guard_test_rounds: usize,
    /// Take non-guard hops one per /24 subnet (mainnet); off for a network on one host.
    pub subnet_diversity: bool,
    /// A swarm with fewer good members (members still in the pool) than this is refetched (3).
    pub min_swarm_nodes: usize,
    /// Seed requests before bootstrapping gives up (4).
    pub seed_attempts: usize,
    /// Timeout of a seed request (5 s).
    pub seed_timeout: Duration,
    /// Timeout of the direct request that tests a guard candidate (10 s).
    pub guard_test_timeout: Duration,
    /// Timeout of a storage RPC, end to end (10 s).
    pub rpc_timeout: Duration,
    /// First pool refresh after start (5 min).
    pub refresh_delay: Duration,
    /// Pool refreshes after the first (1 h).
    pub refresh_interval: Duration,
    /// Refresh attempts from service nodes before falling back to a seed (4).
    pub refresh_attempts: usize,
    /// Attempts of one `store` across swarm members and paths before giving up (5): enough to
    /// outlast a dead path (dropped after three failures) and a dead member or two.
    pub request_attempts: usize,
    /// How long a request waits for the pool and paths to be (re)built before failing (30 s).
    pub ready_timeout: Duration,
    /// Shortest wait after a failed bootstrap or path build before trying again (2 s); it
    /// doubles on each failure in a row, up to [`Policy::max_backoff`].
    pub min_backoff: Duration,
    /// Longest such wait (60 s).
    pub max_backoff: Duration,
}

impl Policy {
    /// The official client's values, for the Session mainnet (and any large network).
    pub fn mainnet() -> Policy {
        Policy {
            min_pool_size: 8,
            refresh_sources: 3,
            refresh_agreement: 24,
            failure_threshold: 3,
            guard_count: 2,
            guard_test_rounds: 6,
            subnet_diversity: true,
            min_swarm_nodes: 3,
            seed_attempts: 4,
            seed_timeout: Duration::from_secs(5),
            guard_test_timeout: Duration::from_secs(10),
            rpc_timeout: Duration::from_secs(10),
            refresh_delay: Duration::from_secs(5 * 60),
            refresh_interval: Duration::from_secs(3600),
            refresh_attempts: 4,
            request_attempts: 5,
            ready_timeout: Duration::from_secs(30),
            min_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
        }
    }

    /// A small network whose nodes all run on one host (the devnet): the refresh agreement is
    /// capped at `node_count`, and the /24 rule is off. Every other value is mainnet's.
    pub fn local(node_count: usize) -> Policy {
        let mainnet = Policy::mainnet();
        Policy {
            refresh_agreement: mainnet.refresh_agreement.min(node_count),
            subnet_diversity: false,
            ..mainnet
        }
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::mainnet()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_network_differs_from_mainnet_only_in_size_dependent_rules() {
        let local = Policy::local(12);
        assert_eq!(local.refresh_agreement, 12);
        assert!(!local.subnet_diversity);
        assert_eq!(
            Policy {
                refresh_agreement: 24,
                subnet_diversity: true,
                ..local
            },
            Policy::mainnet()
        );
        assert_eq!(Policy::local(100).refresh_agreement, 24);
    }
}
