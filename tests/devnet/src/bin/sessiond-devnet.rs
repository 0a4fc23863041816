//! `sessiond-devnet`: runs a local Session network until SIGTERM/SIGINT.
//!
//! Prints the seed URL on the first line of standard output, writes `network.json` into the
//! state directory and serves the control socket (`control.sock` there unless `--control`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use sessiond_devnet::{Devnet, DevnetConfig, serve_control};

/// A faithful local Session network: service nodes in swarms, a seed and a file server on
/// loopback, speaking the real wire protocol.
#[derive(Debug, Parser)]
#[command(name = "sessiond-devnet", version)]
struct Args {
    /// Number of service nodes.
    #[arg(long, default_value_t = 12)]
    nodes: usize,
    /// Target swarm size (the nodes form nodes / swarm-size swarms).
    #[arg(long, default_value_t = 4)]
    swarm_size: usize,
    /// State directory (keys, certificates, ports, databases, network.json); kept across runs.
    /// Default: a new directory under the system temp dir.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// First port (nodes, then seed, then file server); 0 = OS-assigned.
    #[arg(long, default_value_t = 0)]
    base_port: u16,
    /// Put each node on its own loopback /24 (127.0.N.1) instead of all on 127.0.0.1.
    #[arg(long)]
    distinct_subnets: bool,
    /// Control socket path (default: DIR/control.sock).
    #[arg(long)]
    control: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();

    let dir = match args.dir {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!("sessiond-devnet-{}", std::process::id())),
    };
    let config = DevnetConfig {
        nodes: args.nodes,
        swarm_size: args.swarm_size,
        dir: Some(dir.clone()),
        base_port: args.base_port,
        distinct_subnets: args.distinct_subnets,
        ..DevnetConfig::default()
    };
    let devnet = Arc::new(Devnet::start(config).await.context("starting the devnet")?);
    let control = args.control.unwrap_or_else(|| dir.join("control.sock"));
    let network_json = dir.join("network.json");
    devnet
        .write_network_json(&network_json, Some(&control))
        .context("writing network.json")?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let control_task = {
        let devnet = devnet.clone();
        let control = control.clone();
        tokio::spawn(async move { serve_control(&control, devnet, stop_rx).await })
    };

    let echo = sessiond_devnet::echo::start(devnet.clone()).context("starting the echo account")?;

    // One write; a reader that closed the pipe after the first line is not an error.
    {
        use std::io::Write as _;
        let banner = format!(
            "{}\nseed pin: {}\nnetwork.json: {}\ncontrol socket: {}\necho account: {}\n",
            devnet.seed_url(),
            devnet.seed_pin(),
            network_json.display(),
            control.display(),
            echo.account_id()
        );
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(banner.as_bytes());
        let _ = stdout.flush();
    }

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    echo.stop().await;
    if let Ok(Err(e)) = control_task.await {
        tracing::warn!(error = %e, "control socket");
    }
    match Arc::try_unwrap(devnet) {
        Ok(devnet) => devnet.shutdown().await,
        Err(_) => tracing::warn!("devnet still referenced; exiting without orderly stop"),
    }
    Ok(())
}
