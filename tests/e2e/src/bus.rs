//! A private D-Bus session bus for one test.
//!
//! The stock session configuration lists the system's service directories, so the first
//! call to `org.freedesktop.secrets` or `org.freedesktop.Notifications` would auto-start
//! the installed keyring or notification daemon. This bus's only service directory is
//! the test's own (empty unless the test puts `.service` files there), its socket is in a
//! temporary directory, and it accepts only the current user (EXTERNAL auth).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result};

use crate::process::{Daemon, wait_until};

/// How long the bus may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `dbus-daemon` on a socket in a temporary directory; stopped on drop.
#[derive(Debug)]
pub struct PrivateBus {
    /// The daemon (dropped before `dir`, so the socket goes away with its process).
    daemon: Daemon,
    /// The bus address (`unix:path=…,guid=…`) as printed by the daemon.
    address: String,
    /// Holds the configuration, the socket, the log and the service directory.
    dir: tempfile::TempDir,
}

impl PrivateBus {
    /// Start a bus and wait until it accepts connections.
    pub fn start() -> Result<PrivateBus> {
        let dir = tempfile::Builder::new()
            .prefix("sessiond-bus-")
            .tempdir()
            .context("create the bus directory")?;
        let services = dir.path().join("services");
        std::fs::create_dir(&services).context("create the service directory")?;
        let socket = dir.path().join("bus.sock");
        let config = dir.path().join("bus.conf");
        std::fs::write(&config, config_text(&socket, &services)).context("write bus.conf")?;
        let address_file = dir.path().join("address");

        let mut cmd = Command::new("dbus-daemon");
        cmd.arg(format!("--config-file={}", config.display()))
            .arg("--nofork")
            // fd 1 is the address file: the address is printed once the bus listens.
            .arg("--print-address=1");
        let address_out =
            std::fs::File::create(&address_file).context("create the address file")?;
        let mut daemon = Daemon::spawn(
            "dbus-daemon",
            &mut cmd,
            &dir.path().join("bus.log"),
            Some(address_out),
        )?;
        let address = wait_until(START_TIMEOUT, "dbus-daemon to print its address", || {
            daemon.check_running()?;
            let text = std::fs::read_to_string(&address_file).unwrap_or_default();
            Ok(text
                .lines()
                .next()
                .map(str::to_owned)
                .filter(|l| !l.is_empty()))
        })?;
        wait_until(
            START_TIMEOUT,
            "the bus socket to accept connections",
            || {
                Ok(std::os::unix::net::UnixStream::connect(&socket)
                    .ok()
                    .map(drop))
            },
        )?;
        Ok(PrivateBus {
            daemon,
            address,
            dir,
        })
    }

    /// The bus address, for `DBUS_SESSION_BUS_ADDRESS` or `zbus::connection::Builder::address`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The bus's only service directory: put `.service` files here to make names
    /// activatable on this bus.
    pub fn service_dir(&self) -> PathBuf {
        self.dir.path().join("services")
    }

    /// The temporary directory holding the bus's files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines of the bus's log.
    pub fn log_tail(&self) -> String {
        self.daemon.log_tail()
    }
}

fn config_text(socket: &Path, services: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{services}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        socket = xml_escape(&socket.display().to_string()),
        services = xml_escape(&services.display().to_string()),
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
