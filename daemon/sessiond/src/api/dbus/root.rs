//! The root object's interfaces: `Daemon` (version) and `Accounts` (create, restore, list).

use super::{DbusApiError, json, to_dict, upgrade};
use crate::api::methods::{account, daemon};
use crate::service::Service;
use sessiond_ipc::types::{CreateAccountParams, RestoreAccountParams};
use sessiond_ipc::{ApiError, ErrorCode};
use std::collections::HashMap;
use std::sync::Weak;
use zbus::{OwnedObjectPath, OwnedVariant as OwnedValue};

type Dict = HashMap<String, OwnedValue>;

/// `org.sessiond.Sessiond1.Daemon` at the root path.
pub struct DaemonObject {
    service: Weak<Service>,
}

impl DaemonObject {
    pub(super) fn new(service: Weak<Service>) -> Self {
        DaemonObject { service }
    }
}

#[zbus::interface(name = "org.sessiond.Sessiond1.Daemon")]
impl DaemonObject {
    /// The daemon's version and the API schema version: `{version, schema_version}`.
    async fn version(&self) -> Result<Dict, DbusApiError> {
        let svc = upgrade(&self.service)?;
        Ok(to_dict(&json(&daemon::version(&svc))?))
    }
}

/// `org.sessiond.Sessiond1.Accounts` at the root path.
pub struct AccountsObject {
    service: Weak<Service>,
}

impl AccountsObject {
    pub(super) fn new(service: Weak<Service>) -> Self {
        AccountsObject { service }
    }
}

/// Read an optional string option from an `a{sv}`.
fn opt_string(options: &Dict, key: &str) -> Result<Option<String>, DbusApiError> {
    match options.get(key) {
        None => Ok(None),
        Some(v) => String::try_from(v.try_clone().map_err(|e| bad_option(key, e))?)
            .map(Some)
            .map_err(|e| bad_option(key, e)),
    }
}

fn bad_option(key: &str, e: impl std::fmt::Display) -> DbusApiError {
    ApiError::new(
        ErrorCode::InvalidParams,
        format!("option `{key}` must be a string: {e}"),
    )
    .into()
}

fn check_known(options: &Dict, known: &[&str]) -> Result<(), DbusApiError> {
    match options.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => {
            Err(ApiError::new(ErrorCode::InvalidParams, format!("unknown option `{k}`")).into())
        }
        None => Ok(()),
    }
}

#[zbus::interface(name = "org.sessiond.Sessiond1.Accounts")]
impl AccountsObject {
    /// Create an account. Options: `name` (s). Returns the account as `a{sv}` and its object path.
    async fn create(&self, options: Dict) -> Result<(Dict, OwnedObjectPath), DbusApiError> {
        check_known(&options, &["name"])?;
        let svc = upgrade(&self.service)?;
        let info = account::create(
            &svc,
            CreateAccountParams {
                name: opt_string(&options, "name")?,
            },
        )
        .await?;
        let path = object_path(&info.object_path)?;
        Ok((to_dict(&json(&info)?), path))
    }

    /// Restore an account from its recovery phrase. Options: `name` (s).
    async fn restore(
        &self,
        phrase: String,
        options: Dict,
    ) -> Result<(Dict, OwnedObjectPath), DbusApiError> {
        let phrase = zeroize::Zeroizing::new(phrase);
        check_known(&options, &["name"])?;
        let svc = upgrade(&self.service)?;
        let params = RestoreAccountParams {
            phrase: phrase.as_str().to_owned(),
            name: opt_string(&options, "name")?,
        };
        let info = account::restore(&svc, params).await?;
        let path = object_path(&info.object_path)?;
        Ok((to_dict(&json(&info)?), path))
    }

    /// Every account, as `a{sv}` dictionaries.
    async fn list(&self) -> Result<Vec<Dict>, DbusApiError> {
        let svc = upgrade(&self.service)?;
        account::list(&svc)
            .await?
            .iter()
            .map(|a| Ok(to_dict(&json(a)?)))
            .collect()
    }
}

fn object_path(s: &str) -> Result<OwnedObjectPath, DbusApiError> {
    OwnedObjectPath::try_from(s.to_owned())
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("object path {s}: {e}")).into())
}

/// `org.sessiond.Sessiond1.Network` at the root path.
pub struct NetworkObject {
    service: Weak<Service>,
}

impl NetworkObject {
    pub(super) fn new(service: Weak<Service>) -> Self {
        NetworkObject { service }
    }
}

#[zbus::interface(name = "org.sessiond.Sessiond1.Network")]
impl NetworkObject {
    /// Onion paths and their hops, guard nodes, swarms, clock offset and the last error.
    async fn status(&self) -> Result<Dict, DbusApiError> {
        let svc = upgrade(&self.service)?;
        let status = crate::api::methods::network::status(&svc, svc.network_name())?;
        Ok(to_dict(&json(&status)?))
    }
}
