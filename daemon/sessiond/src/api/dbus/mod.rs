//! The D-Bus surface: `org.sessiond.Sessiond1` on the session bus.
//!
//! Why it exists: desktop integration (notifiers, applets, any language with a D-Bus binding).
//! Layout: the root object `/org/sessiond/Sessiond1` carries the `Daemon` and `Accounts`
//! interfaces and an ObjectManager; each account is an object below it with the `Account`
//! interface, added and removed as the service announces changes. Objects hold
//! `Weak<Service>` and answer `ShuttingDown` once the service is gone.
//!
//! The objects only translate: every method calls the same handler in
//! [`crate::api::methods`] as the socket does, and results travel as `a{sv}` dictionaries built
//! from the same wire types.

mod account;
mod convert;
mod root;

use crate::service::{Change, Service};
use sessiond_ipc::dbus::{BUS_NAME, ROOT_PATH, account_path};
use sessiond_ipc::{ApiError, ErrorCode};
use std::sync::{Arc, Weak};
use tokio::sync::broadcast::error::RecvError;
use zbus::names::ErrorName;

pub use convert::to_dict;

/// Why the D-Bus surface could not start.
#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    /// The bus is not reachable.
    #[error("cannot connect to the D-Bus session bus: {0}")]
    Connect(#[source] zbus::Error),
    /// Another process owns our name.
    #[error("the name {BUS_NAME} is already owned on the session bus (another sessiond running?)")]
    NameTaken,
    /// Registering objects failed.
    #[error("D-Bus setup failed: {0}")]
    Setup(#[source] zbus::Error),
}

/// An [`ApiError`] as a D-Bus error named `org.sessiond.Sessiond1.Error.<Code>`.
#[derive(Debug)]
pub struct DbusApiError {
    /// The full D-Bus error name.
    name: String,
    /// The message.
    message: String,
}

impl From<ApiError> for DbusApiError {
    fn from(e: ApiError) -> Self {
        DbusApiError {
            name: e.code.dbus_name(),
            message: e.message,
        }
    }
}

impl DbusApiError {
    fn shutting_down() -> Self {
        ApiError::new(ErrorCode::ShuttingDown, "sessiond is shutting down").into()
    }
}

impl zbus::DBusError for DbusApiError {
    fn create_reply(
        &self,
        call: &zbus::message::Header<'_>,
    ) -> zbus::Result<zbus::message::Message> {
        zbus::message::Message::error(call, self.name()).build(&(self.message.as_str(),))
    }

    fn name(&self) -> ErrorName<'_> {
        ErrorName::from_str_unchecked(&self.name)
    }

    fn description(&self) -> Option<&str> {
        Some(&self.message)
    }
}

/// A wire value as JSON, for [`to_dict`]; the wire types always serialize, so a failure is a bug.
fn json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, DbusApiError> {
    serde_json::to_value(v)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("encoding result: {e}")).into())
}

fn upgrade(service: &Weak<Service>) -> Result<Arc<Service>, DbusApiError> {
    service.upgrade().ok_or_else(DbusApiError::shutting_down)
}

/// Connect to the bus at `builder`, publish the objects, then claim [`BUS_NAME`].
///
/// Returns the connection; the objects follow the service's changes until it is dropped.
pub async fn serve(
    builder: zbus::connection::Builder<'_>,
    service: &Arc<Service>,
) -> Result<zbus::Connection, DbusError> {
    let weak = Arc::downgrade(service);
    let conn = builder
        .serve_at(ROOT_PATH, zbus::fdo::ObjectManager)
        .serve_at(ROOT_PATH, root::DaemonObject::new(weak.clone()))
        .serve_at(ROOT_PATH, root::AccountsObject::new(weak.clone()))
        .serve_at(ROOT_PATH, root::NetworkObject::new(weak.clone()))
        .build()
        .await
        .map_err(DbusError::Connect)?;
    // Subscribe before publishing the current accounts so no change falls in between.
    let changes = service.changes();
    for account in service.list_accounts().await {
        account::add(&conn, &weak, &account)
            .await
            .map_err(DbusError::Setup)?;
    }
    let reply = conn
        .request_name_with_flags(BUS_NAME, zbus::fdo::RequestNameFlags::DO_NOT_QUEUE)
        .await;
    match reply {
        Ok(zbus::fdo::RequestNameReply::PrimaryOwner) => {}
        Ok(_) | Err(zbus::Error::NameTaken) => return Err(DbusError::NameTaken),
        Err(e) => return Err(DbusError::Setup(e)),
    }
    tokio::spawn(follow_changes(conn.clone(), weak, changes));
    Ok(conn)
}

/// Keep account objects in step with the service.
async fn follow_changes(
    conn: zbus::Connection,
    service: Weak<Service>,
    mut changes: tokio::sync::broadcast::Receiver<Change>,
) {
    loop {
        let result = match changes.recv().await {
            Ok(Change::AccountAdded(a)) => account::add(&conn, &service, &a).await,
            Ok(Change::AccountChanged(a)) => account::update(&conn, &a).await,
            Ok(Change::AccountRemoved { account_id }) => {
                let server = conn.object_server();
                let path = account_path(&account_id);
                let _ = server
                    .remove::<account::MessagesObject, _>(path.as_str())
                    .await;
                server
                    .remove::<account::AccountObject, _>(path)
                    .await
                    .map(|_| ())
            }
            // Message signals arrive with the full event API; objects need no update.
            Ok(Change::MessagesChanged { .. }) => Ok(()),
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "D-Bus object updates lagged; resynchronising");
                resync(&conn, &service).await
            }
            Err(RecvError::Closed) => return,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "updating D-Bus objects failed");
        }
    }
}

async fn resync(conn: &zbus::Connection, service: &Weak<Service>) -> zbus::Result<()> {
    let Some(svc) = service.upgrade() else {
        return Ok(());
    };
    for a in svc.list_accounts().await {
        account::add(conn, service, &a).await?;
    }
    Ok(())
}
