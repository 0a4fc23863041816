//! `daemon.*`: facts about the daemon itself.

use crate::service::Service;
use sessiond_ipc::types::VersionInfo;

/// `daemon.version`
pub fn version(svc: &Service) -> VersionInfo {
    VersionInfo {
        version: svc.version().to_owned(),
        schema_version: sessiond_ipc::SCHEMA_VERSION.to_owned(),
    }
}
