//! One object per account: `org.sessiond.Sessiond1.Account` at
//! `/org/sessiond/Sessiond1/account/<Account ID>`, with the account's state as properties.

use super::{DbusApiError, json, to_dict, upgrade};
use crate::api::methods::account as handlers;
use crate::service::{Account, Service};
use sessiond_ipc::dbus::account_path;
use sessiond_ipc::types::{AccountInfo, AccountRef, ConfirmedAccountRef};
use sessiond_ipc::{ApiError, ErrorCode};
use std::collections::HashMap;
use std::sync::Weak;
use zbus::OwnedVariant as OwnedValue;

/// The D-Bus object of one account.
pub struct AccountObject {
    /// The service, weakly: the object must not keep it alive.
    service: Weak<Service>,
    /// The account's current wire form, shown as properties.
    info: AccountInfo,
}

/// Publish an object for `account` (or refresh it if it exists).
pub(super) async fn add(
    conn: &zbus::Connection,
    service: &Weak<Service>,
    account: &Account,
) -> zbus::Result<()> {
    let info = handlers::to_wire(account);
    let path = account_path(&info.account_id);
    let server = conn.object_server();
    if server
        .interface::<_, AccountObject>(path.as_str())
        .await
        .is_ok()
    {
        return update(conn, account).await;
    }
    server
        .at(
            path,
            AccountObject {
                service: service.clone(),
                info,
            },
        )
        .await
        .map(|_| ())
}

/// Update an account object's properties, emitting PropertiesChanged.
pub(super) async fn update(conn: &zbus::Connection, account: &Account) -> zbus::Result<()> {
    let info = handlers::to_wire(account);
    let iface = conn
        .object_server()
        .interface::<_, AccountObject>(account_path(&info.account_id))
        .await?;
    let mut obj = iface.get_mut().await;
    let old = std::mem::replace(&mut obj.info, info);
    let emitter = iface.signal_emitter();
    if old.name != obj.info.name {
        obj.name_changed(emitter).await?;
    }
    if old.state != obj.info.state {
        obj.state_changed(emitter).await?;
    }
    Ok(())
}

#[zbus::interface(name = "org.sessiond.Sessiond1.Account")]
impl AccountObject {
    /// The Account ID (`05…`).
    #[zbus(property)]
    fn account_id(&self) -> String {
        self.info.account_id.clone()
    }

    /// Display name; empty when none is set or the account is locked.
    #[zbus(property)]
    fn name(&self) -> String {
        self.info.name.clone().unwrap_or_default()
    }

    /// Which keystore holds the account's secrets.
    #[zbus(property)]
    fn keystore(&self) -> String {
        self.info.keystore.clone()
    }

    /// `ready`, `locked` or `unavailable`.
    #[zbus(property)]
    fn state(&self) -> String {
        serde_json::to_value(self.info.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// When the account was added to this daemon (Unix ms).
    #[zbus(property)]
    fn created_at_ms(&self) -> i64 {
        self.info.created_at_ms
    }

    /// The account with why it is not ready (`detail`), as `a{sv}`.
    async fn get(&self) -> Result<HashMap<String, OwnedValue>, DbusApiError> {
        let svc = upgrade(&self.service)?;
        let detail = handlers::get(
            &svc,
            AccountRef {
                account_id: self.info.account_id.clone(),
            },
        )
        .await?;
        Ok(to_dict(&json(&detail)?))
    }

    /// The recovery phrase. `confirm` must be true.
    async fn export_phrase(&self, confirm: bool) -> Result<String, DbusApiError> {
        let svc = upgrade(&self.service)?;
        let r = handlers::export_phrase(
            &svc,
            ConfirmedAccountRef {
                account_id: self.info.account_id.clone(),
                confirm,
            },
        )
        .await?;
        Ok(r.phrase)
    }

    /// Delete the account from this machine. `confirm` must be true.
    async fn delete(&self, confirm: bool) -> Result<(), DbusApiError> {
        let svc = upgrade(&self.service)?;
        handlers::delete(
            &svc,
            ConfirmedAccountRef {
                account_id: self.info.account_id.clone(),
                confirm,
            },
        )
        .await?;
        Ok(())
    }
}

/// `org.sessiond.Sessiond1.Messages` on each account object: send and list.
pub struct MessagesObject {
    /// The service, weakly.
    service: Weak<Service>,
    /// The account this object speaks for.
    account_id: String,
}

#[zbus::interface(name = "org.sessiond.Sessiond1.Messages")]
impl MessagesObject {
    /// Send a text message to `to`; returns `{id, sent_at_ms, state}` once it is in the
    /// durable outbox.
    async fn send(
        &self,
        to: String,
        text: String,
    ) -> Result<HashMap<String, OwnedValue>, DbusApiError> {
        let svc = upgrade(&self.service)?;
        let sent = crate::api::methods::message::send(
            &svc,
            sessiond_ipc::types::SendMessageParams {
                account_id: Some(self.account_id.clone()),
                to,
                text,
            },
        )
        .await?;
        Ok(to_dict(&json(&sent)?))
    }

    /// Messages of the conversation with `conversation`, newest first. Options: `before` (x,
    /// a message id), `limit` (u).
    async fn list(
        &self,
        conversation: String,
        options: HashMap<String, OwnedValue>,
    ) -> Result<Vec<HashMap<String, OwnedValue>>, DbusApiError> {
        let svc = upgrade(&self.service)?;
        let before = match options.get("before") {
            Some(v) => {
                Some(i64::try_from(v.try_clone().map_err(bad("before"))?).map_err(bad("before"))?)
            }
            None => None,
        };
        let limit = match options.get("limit") {
            Some(v) => {
                Some(u32::try_from(v.try_clone().map_err(bad("limit"))?).map_err(bad("limit"))?)
            }
            None => None,
        };
        if let Some(k) = options
            .keys()
            .find(|k| !["before", "limit"].contains(&k.as_str()))
        {
            return Err(
                ApiError::new(ErrorCode::InvalidParams, format!("unknown option `{k}`")).into(),
            );
        }
        let list = crate::api::methods::message::list(
            &svc,
            sessiond_ipc::types::ListMessagesParams {
                account_id: Some(self.account_id.clone()),
                conversation,
                before,
                limit,
            },
        )
        .await?;
        list.iter().map(|m| Ok(to_dict(&json(m)?))).collect()
    }

    /// Conversations, most recent first.
    async fn conversations(&self) -> Result<Vec<HashMap<String, OwnedValue>>, DbusApiError> {
        let svc = upgrade(&self.service)?;
        let list = crate::api::methods::message::conversations(
            &svc,
            sessiond_ipc::types::AccountScope {
                account_id: Some(self.account_id.clone()),
            },
        )
        .await?;
        list.iter().map(|c| Ok(to_dict(&json(c)?))).collect()
    }
}

fn bad<E: std::fmt::Display>(key: &'static str) -> impl Fn(E) -> DbusApiError {
    move |e| ApiError::new(ErrorCode::InvalidParams, format!("option `{key}`: {e}")).into()
}
