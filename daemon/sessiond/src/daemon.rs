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

    let network = connect_network(&config, &service).await?;

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
    if let Some(network) = network {
        network.stop(&config.data_dir).await;
    }
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

/// The running network side: the client, its workers, and the embedded devnet if any.
struct Network {
    /// The client.
    adapter: crate::netclient::NetAdapter,
    /// Tells the workers to stop.
    stop: tokio::sync::watch::Sender<bool>,
    /// The send worker and the poller.
    workers: Vec<tokio::task::JoinHandle<()>>,
    /// Saves the network state every few minutes.
    saver: tokio::task::JoinHandle<()>,
    /// `--local`: the embedded network and its echo account.
    #[cfg(feature = "local-network")]
    local: Option<(Arc<sessiond_devnet::Devnet>, sessiond_devnet::Echo)>,
}

impl Network {
    async fn stop(self, data_dir: &std::path::Path) {
        let _ = self.stop.send(true);
        self.saver.abort();
        for w in self.workers {
            let _ = w.await;
        }
        if let Err(e) = crate::netclient::save_state(data_dir, &self.adapter.client.snapshot()) {
            tracing::warn!(error = %e, "saving the network state failed");
        }
        self.adapter.client.shutdown().await;
        #[cfg(feature = "local-network")]
        if let Some((devnet, echo)) = self.local {
            echo.stop().await;
            match Arc::try_unwrap(devnet) {
                Ok(devnet) => devnet.shutdown().await,
                Err(_) => tracing::warn!("local network still in use at shutdown"),
            }
        }
    }
}

/// Join the configured network and start the send worker and the poller.
async fn connect_network(
    config: &Config,
    service: &Arc<Service>,
) -> anyhow::Result<Option<Network>> {
    use crate::config::NetworkChoice;
    use crate::netclient;
    #[cfg(feature = "local-network")]
    let mut local = None;
    let (net_config, name) = match &config.network {
        NetworkChoice::Offline => {
            tracing::info!("offline: not connecting to any network");
            return Ok(None);
        }
        #[cfg(feature = "local-network")]
        NetworkChoice::Local => {
            let (devnet, echo) = start_local(&config.data_dir).await?;
            let cfg = netclient::local_config(
                devnet.seed_url(),
                devnet.seed_pin(),
                devnet.nodes().len(),
            )?;
            local = Some((devnet, echo));
            (cfg, "local")
        }
        #[cfg(not(feature = "local-network"))]
        NetworkChoice::Local => anyhow::bail!(
            "this sessiond was built without the local network (feature local-network)"
        ),
        other => netclient::network_config(other)?,
    };
    let mut net_config = net_config;
    if let Some(proxy) = &config.proxy {
        net_config.proxy = Some(sessiond_network::Socks5Proxy::parse(proxy).context("--proxy")?);
        tracing::info!("all network traffic goes through the SOCKS5 proxy");
    }
    let snapshot = netclient::load_state(&config.data_dir);
    let client = sessiond_network::NetworkClient::start(net_config, snapshot)
        .context("starting the network client")?;
    let adapter = netclient::NetAdapter { client };
    let net: Arc<dyn crate::service::net::SwarmNetwork> = Arc::new(adapter.clone());
    service.attach_network(Arc::clone(&net), name);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let cadence = crate::service::poller::PollCadence {
        normal: config.poll_interval,
        attention: config.poll_interval.min(std::time::Duration::from_secs(2)),
        ..Default::default()
    };
    let workers = vec![
        tokio::spawn(crate::service::sender::run(
            Arc::downgrade(service),
            Arc::clone(&net),
            stop_rx.clone(),
        )),
        tokio::spawn(crate::service::poller::run(
            Arc::downgrade(service),
            net,
            cadence,
            stop_rx,
        )),
    ];
    let saver = {
        let client = adapter.client.clone();
        let dir = config.data_dir.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                if let Err(e) = crate::netclient::save_state(&dir, &client.snapshot()) {
                    tracing::warn!(error = %e, "saving the network state failed");
                }
            }
        })
    };
    tracing::info!(network = name, "joining the Session network");
    Ok(Some(Network {
        adapter,
        stop,
        workers,
        saver,
        #[cfg(feature = "local-network")]
        local,
    }))
}

/// Start the embedded local network (state under `<data_dir>/local-network`) and its echo
/// account.
#[cfg(feature = "local-network")]
async fn start_local(
    data_dir: &std::path::Path,
) -> anyhow::Result<(Arc<sessiond_devnet::Devnet>, sessiond_devnet::Echo)> {
    let dir = data_dir.join("local-network");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let devnet = sessiond_devnet::Devnet::start(sessiond_devnet::DevnetConfig {
        dir: Some(dir.clone()),
        ..sessiond_devnet::DevnetConfig::default()
    })
    .await
    .context("starting the local network")?;
    let devnet = Arc::new(devnet);
    if let Err(e) = devnet.write_network_json(&dir.join("network.json"), None) {
        tracing::warn!(error = %e, "writing network.json of the local network");
    }
    let echo =
        sessiond_devnet::echo::start(Arc::clone(&devnet)).context("starting the echo account")?;
    tracing::info!(
        nodes = devnet.nodes().len(),
        seed = devnet.seed_url(),
        echo = %echo.account_id(),
        "local network running"
    );
    eprintln!(
        "sessiond: local network running; echo account {}",
        echo.account_id()
    );
    Ok((devnet, echo))
}
