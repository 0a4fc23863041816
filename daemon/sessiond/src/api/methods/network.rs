//! `network.*`: the network's state, so a frontend can show why something fails.

use crate::service::Service;
use sessiond_ipc::types::{HopInfo, NetworkStatus, PathInfo, SwarmInfo};
use sessiond_ipc::{ApiError, ErrorCode};

/// `network.status`
pub fn status(svc: &Service, network_name: &str) -> Result<NetworkStatus, ApiError> {
    let s = svc.network_status().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NetworkUnavailable,
            "this daemon runs without a network connection",
        )
    })?;
    let hop = |(address, ed25519): (String, String)| HopInfo { address, ed25519 };
    Ok(NetworkStatus {
        network: network_name.to_owned(),
        pool_size: s.pool_size,
        guards: s.guards.into_iter().map(|(_, ed)| ed).collect(),
        paths: s
            .paths
            .into_iter()
            .map(|(hops, failures)| PathInfo {
                hops: hops.into_iter().map(hop).collect(),
                failures,
            })
            .collect(),
        swarms: s
            .swarms
            .into_iter()
            .map(|(account_id, members)| SwarmInfo {
                account_id,
                members,
            })
            .collect(),
        clock_offset_ms: s.clock_offset_ms,
        last_error: s.last_error,
    })
}
