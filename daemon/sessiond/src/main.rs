//! `sessiond`: the Session messenger daemon.

use anyhow::Context;
use clap::Parser;
use sessiond::config::{self, Config, Overrides};
use std::path::PathBuf;

/// The Session messenger daemon: holds accounts and serves the API on a Unix socket and D-Bus.
#[derive(Debug, Parser)]
#[command(name = "sessiond", version, about, long_about = None)]
struct Args {
    /// Where account data lives [default: $XDG_DATA_HOME/sessiond]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Where the API socket is created [default: $XDG_RUNTIME_DIR/sessiond]
    #[arg(long, value_name = "DIR")]
    runtime_dir: Option<PathBuf>,
    /// Keystore backend: secret-service, keyutils, file, or auto (the Secret Service if present)
    #[arg(long, value_name = "KIND")]
    keystore: Option<String>,
    /// The file keystore's path [default: DATA_DIR/keystore]
    #[arg(long, value_name = "FILE")]
    keystore_file: Option<PathBuf>,
    /// Read the file keystore's passphrase from this file
    #[arg(long, value_name = "FILE", conflicts_with = "passphrase_env")]
    passphrase_file: Option<PathBuf>,
    /// Read the file keystore's passphrase from this environment variable
    #[arg(long, value_name = "VAR", conflicts_with = "passphrase_prompt")]
    passphrase_env: Option<String>,
    /// Ask for the file keystore's passphrase on the terminal (refused when stdin is not one)
    #[arg(long, conflicts_with = "passphrase_file")]
    passphrase_prompt: bool,
    /// Configuration file [default: $XDG_CONFIG_HOME/sessiond/config.toml]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Do not publish the API on D-Bus (socket only)
    #[arg(long)]
    no_dbus: bool,
    /// Run an embedded local Session network (with an echo account) instead of mainnet
    #[arg(long, conflicts_with_all = ["network_file", "seed", "offline"])]
    local: bool,
    /// Join the network described by this network.json (as written by sessiond-devnet)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["seed", "offline"])]
    network_file: Option<PathBuf>,
    /// Join another network from this seed (repeatable): URL[#sha256:<hex certificate pin>]
    #[arg(long, value_name = "URL", conflicts_with = "offline")]
    seed: Vec<String>,
    /// Do not connect to any network (accounts and the API only)
    #[arg(long)]
    offline: bool,
    /// Send all network traffic through this SOCKS5 proxy (e.g. socks5h://127.0.0.1:9050 for Tor)
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sessiond: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let (path, explicit) = match args.config {
        Some(p) => (Some(p), true),
        None => (config::default_config_path(), false),
    };
    let file = match &path {
        Some(p) => config::load_file(p, explicit)?,
        None => config::FileConfig::default(),
    };
    let config = Config::resolve(
        file,
        Overrides {
            data_dir: args.data_dir,
            runtime_dir: args.runtime_dir,
            keystore: args.keystore,
            keystore_file: args.keystore_file,
            passphrase_file: args.passphrase_file,
            passphrase_env: args.passphrase_env,
            passphrase_prompt: args.passphrase_prompt,
            dbus: args.no_dbus.then_some(false),
            local: args.local,
            offline: args.offline,
            network_file: args.network_file,
            seeds: args.seed,
            proxy: args.proxy,
        },
    )?;
    init_logging(config.log.as_deref());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        // Install the handlers before anything else, so a signal that arrives while starting
        // still means "stop cleanly".
        let shutdown = shutdown_signal().context("installing signal handlers")?;
        sessiond::daemon::run(config, shutdown, |ready| {
            // A line for scripts and tests to wait on.
            eprintln!(
                "sessiond: ready, API socket at {}",
                ready.socket_path.display()
            );
        })
        .await
    })
}

fn init_logging(from_config: Option<&str>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(from_config.unwrap_or("info")))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in files and journals.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// A future that resolves on SIGTERM or SIGINT; the handlers are installed when this is called.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
