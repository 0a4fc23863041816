//! A throwaway gnome-keyring Secret Service on a [`PrivateBus`].
//!
//! Started headless as
//!
//! ```text
//! env -i PATH=$PATH HOME=<tmp> XDG_RUNTIME_DIR=<tmp>/run XDG_DATA_HOME=<tmp>/data \
//!        XDG_CONFIG_HOME=<tmp>/config XDG_CACHE_HOME=<tmp>/cache \
//!        DBUS_SESSION_BUS_ADDRESS=<private bus> \
//!   gnome-keyring-daemon --foreground --unlock --components=secrets  < password
//! ```
//!
//! `--unlock` reads the password from stdin and creates (in the empty `XDG_DATA_HOME`) the
//! "login" collection, unlocked and aliased `default`. (`--start` must not be added: it is
//! incompatible with `--unlock`, and the daemon then comes up without a login collection.)
//! The daemon is ready when `org.freedesktop.secrets` is owned on the bus and the `default`
//! alias names an unlocked collection.
//!
//! Locking uses `org.freedesktop.Secret.Service.Lock`, which gnome-keyring performs without
//! a prompt. Unlocking a collection through the Secret Service API would need a prompt
//! (gcr's prompter, which is not activatable on the private bus, so the prompt is
//! dismissed at once); [`unlock_default_collection`] instead uses gnome-keyring's own
//! `UnlockWithMasterPassword` with the known password.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use zbus::{ObjectPath, OwnedObjectPath, OwnedVariant, Variant};

use crate::bus::PrivateBus;
use crate::dbus::{CALL_TIMEOUT, name_has_owner, with_connection};
use crate::process::{Daemon, wait_until};

/// The well-known name of the Secret Service.
pub const SECRETS_NAME: &str = "org.freedesktop.secrets";
const SERVICE_PATH: &str = "/org/freedesktop/secrets";
const SERVICE_IFACE: &str = "org.freedesktop.Secret.Service";
const COLLECTION_IFACE: &str = "org.freedesktop.Secret.Collection";
/// How long gnome-keyring may take to own its name and create the login collection.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `gnome-keyring-daemon` with an unlocked default ("login") collection;
/// stopped on drop.
#[derive(Debug)]
pub struct GnomeKeyring {
    /// The daemon (dropped before `home`).
    daemon: Daemon,
    /// The address of the bus it serves.
    address: String,
    /// Its throwaway HOME, holding the keyring files and its runtime directory.
    home: tempfile::TempDir,
}

impl GnomeKeyring {
    /// The login password of the throwaway keyring.
    pub const PASSWORD: &'static str = "sessiond-e2e-login";

    /// Start gnome-keyring on `bus` and wait until its default collection is unlocked.
    pub fn start(bus: &PrivateBus) -> Result<GnomeKeyring> {
        let home = tempfile::Builder::new()
            .prefix("sessiond-keyring-")
            .tempdir()
            .context("create the keyring's HOME")?;
        let runtime_dir = home.path().join("run");
        std::fs::create_dir(&runtime_dir).context("create XDG_RUNTIME_DIR")?;
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700))
                .context("chmod XDG_RUNTIME_DIR")?;
        }
        let mut cmd = Command::new("gnome-keyring-daemon");
        cmd.args(["--foreground", "--unlock", "--components=secrets"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_CACHE_HOME", home.path().join("cache"))
            .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
            .stdin(Stdio::piped());
        let mut daemon = Daemon::spawn(
            "gnome-keyring-daemon",
            &mut cmd,
            &home.path().join("gnome-keyring.log"),
            None,
        )?;
        if let Some(child) = daemon.child_mut() {
            let mut stdin = child.stdin.take().context("gnome-keyring's stdin")?;
            stdin
                .write_all(Self::PASSWORD.as_bytes())
                .context("write the login password to gnome-keyring")?;
            // Dropping stdin closes it: gnome-keyring reads the password up to EOF.
        }
        let address = bus.address().to_owned();
        let ready = wait_until(
            START_TIMEOUT,
            "gnome-keyring's unlocked login collection",
            || {
                daemon.check_running()?;
                if !name_has_owner(&address, SECRETS_NAME)? {
                    return Ok(None);
                }
                match default_collection(&address)? {
                    Some(path) if !collection_locked(&address, &path)? => Ok(Some(())),
                    _ => Ok(None),
                }
            },
        );
        if let Err(e) = ready {
            return Err(e.context(format!("gnome-keyring's log:\n{}", daemon.log_tail())));
        }
        Ok(GnomeKeyring {
            daemon,
            address,
            home,
        })
    }

    /// The process ID of the daemon (to kill it behind a client's back).
    pub fn pid(&self) -> Option<u32> {
        self.daemon.pid()
    }

    /// The throwaway HOME.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// The last lines of the daemon's log.
    pub fn log_tail(&self) -> String {
        self.daemon.log_tail()
    }

    /// Lock the default collection (no prompt involved).
    pub fn lock(&self) -> Result<()> {
        lock_default_collection(&self.address)
    }

    /// Unlock the default collection with [`Self::PASSWORD`].
    pub fn unlock(&self) -> Result<()> {
        unlock_default_collection(&self.address, Self::PASSWORD)
    }

    /// Stop the daemon now (it is also stopped on drop).
    pub fn stop(mut self) {
        self.daemon.stop();
    }
}

/// The object path of the collection aliased `default`, if any.
pub fn default_collection(address: &str) -> Result<Option<OwnedObjectPath>> {
    with_connection(address, CALL_TIMEOUT, |conn| async move {
        let reply = conn
            .call_method(
                Some(SECRETS_NAME),
                SERVICE_PATH,
                Some(SERVICE_IFACE),
                "ReadAlias",
                &("default",),
            )
            .await
            .context("ReadAlias(default)")?;
        let path: OwnedObjectPath = reply.body().deserialize()?;
        Ok((path.as_str() != "/").then_some(path))
    })
}

/// Whether the collection at `path` is locked.
pub fn collection_locked(address: &str, path: &OwnedObjectPath) -> Result<bool> {
    let path = path.clone();
    with_connection(address, CALL_TIMEOUT, move |conn| async move {
        let reply = conn
            .call_method(
                Some(SECRETS_NAME),
                path.as_str(),
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &(COLLECTION_IFACE, "Locked"),
            )
            .await
            .context("Get(Collection.Locked)")?;
        let value: OwnedVariant = reply.body().deserialize()?;
        Ok(bool::try_from(value)?)
    })
}

fn require_default_collection(address: &str) -> Result<OwnedObjectPath> {
    default_collection(address)?.context("the Secret Service has no default collection")
}

/// Lock the default collection of the Secret Service on `address`.
pub fn lock_default_collection(address: &str) -> Result<()> {
    let path = require_default_collection(address)?;
    let target = path.clone();
    with_connection(address, CALL_TIMEOUT, move |conn| async move {
        let reply = conn
            .call_method(
                Some(SECRETS_NAME),
                SERVICE_PATH,
                Some(SERVICE_IFACE),
                "Lock",
                &(vec![target.as_ref()],),
            )
            .await
            .context("Service.Lock")?;
        let (_locked, prompt): (Vec<OwnedObjectPath>, OwnedObjectPath) =
            reply.body().deserialize()?;
        if prompt.as_str() != "/" {
            bail!("locking the collection asked for a prompt ({prompt})");
        }
        Ok(())
    })?;
    if !collection_locked(address, &path)? {
        bail!("the default collection is still unlocked after Lock");
    }
    Ok(())
}

/// Unlock the default collection of gnome-keyring on `address` with its login `password`.
pub fn unlock_default_collection(address: &str, password: &str) -> Result<()> {
    let path = require_default_collection(address)?;
    let target = path.clone();
    let password = password.as_bytes().to_vec();
    with_connection(address, CALL_TIMEOUT, move |conn| async move {
        // A "plain" session: the password crosses the private bus unencrypted.
        let reply = conn
            .call_method(
                Some(SECRETS_NAME),
                SERVICE_PATH,
                Some(SERVICE_IFACE),
                "OpenSession",
                &("plain", Variant::from("")),
            )
            .await
            .context("Service.OpenSession(plain)")?;
        let (_output, session): (OwnedVariant, OwnedObjectPath) = reply.body().deserialize()?;
        let secret: (ObjectPath<'_>, Vec<u8>, Vec<u8>, &str) =
            (session.as_ref(), Vec::new(), password, "text/plain");
        conn.call_method(
            Some(SECRETS_NAME),
            SERVICE_PATH,
            Some("org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"),
            "UnlockWithMasterPassword",
            &(target.as_ref(), secret),
        )
        .await
        .context("UnlockWithMasterPassword")?;
        Ok(())
    })?;
    if collection_locked(address, &path)? {
        bail!("the default collection is still locked after UnlockWithMasterPassword");
    }
    Ok(())
}
