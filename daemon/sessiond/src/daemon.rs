//! Start-up and shutdown: wire configuration, keystore, service and adapters together.
//!
//! Why it exists: the binary and in-process tests start the daemon the same way, with a
//! resolved [`Config`] and a shutdown future.

use crate::api::{dbus, socket};
use crate::config::{Config, DbusMode};
use crate::instance_lock::InstanceLock;
use crate::keystore::{self, KeystoreStatus};
use crate::service::{Service, ServiceConfig};
use anyhow::Context;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

/// A running daemon's public facts, reported once it is ready.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The API socket's path.
    pub socket_path: PathBuf,
    /// Whether the D-Bus surface is published.
    pub dbus: bool,
}

/// Run the daemon until `shutdown` resolves. `on_ready` is called once it serves requests.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()>,
    on_ready: impl FnOnce(&Ready),
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("setting permissions of {}", config.data_dir.display()))?;
    }
    let lock = InstanceLock::acquire(&config.data_dir)?;
    tracing::info!(data_dir = %config.data_dir.display(), "starting sessiond {}", env!("CARGO_PKG_VERSION"));

    let ks_config = config.keystore.clone();
    let keystore = tokio::task::spawn_blocking(move || keystore::open(&ks_config))
        .await
        .context("opening the keystore")?
        .context("opening the keystore")?;
    // Keystore calls block (the Secret Service client runs its own runtime): never on ours.
    let (keystore, status) = tokio::task::spawn_blocking(move || {
        let status = keystore.status();
        (keystore, status)
    })
    .await
    .context("checking the keystore")?;
    match status {
        KeystoreStatus::Available => {
            tracing::info!(keystore = keystore.kind().as_str(), "keystore ready")
        }
        KeystoreStatus::Locked => tracing::warn!(
            keystore = keystore.kind().as_str(),
            "the keyring is locked: accounts stay locked until it is unlocked"
        ),
        KeystoreStatus::Unavailable { reason } => {
            tracing::warn!(keystore = keystore.kind().as_str(), %reason, "keystore unavailable")
        }
    }
    let service = Service::start(
        ServiceConfig {
            data_dir: config.data_dir.clone(),
        },
        Arc::from(keystore),
    )
    .await
    .context("starting the service")?;

    let (listener, socket_path) = socket::bind(&config.runtime_dir).await?;
    tracing::info!(socket = %socket_path.display(), "API socket listening");

    let dbus_conn = match config.dbus {
        DbusMode::Off => None,
        mode => match dbus::serve(zbus::connection::Builder::session(), &service).await {
            Ok(conn) => {
                tracing::info!(
                    name = sessiond_ipc::dbus::BUS_NAME,
                    "published on the D-Bus session bus"
                );
                Some(conn)
            }
            Err(e @ dbus::DbusError::Connect(_)) if mode == DbusMode::IfAvailable => {
                tracing::warn!(error = %e, "no D-Bus session bus: serving the socket API only");
                None
            }
            Err(e) => return Err(e.into()),
        },
    };

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(socket::serve(
        listener,
        Arc::downgrade(&service),
        async move {
            let _ = stop_rx.await;
        },
    ));
    on_ready(&Ready {
        socket_path: socket_path.clone(),
        dbus: dbus_conn.is_some(),
    });

    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(());
    if let Err(e) = server.await {
        tracing::warn!(error = %e, "socket server task failed");
    }
    if let Some(conn) = dbus_conn {
        let _ = conn.release_name(sessiond_ipc::dbus::BUS_NAME).await;
        drop(conn);
    }
    drop(service);
    if let Err(e) = std::fs::remove_file(&socket_path) {
        tracing::debug!(error = %e, "removing the socket file");
    }
    tracing::info!(lock = %lock.path().display(), "stopped");
    drop(lock);
    Ok(())
}
