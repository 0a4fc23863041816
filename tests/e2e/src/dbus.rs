//! One-shot D-Bus calls from synchronous test code, with a timeout.
//!
//! Each call connects to the given address on a fresh thread with its own current-thread
//! tokio runtime, so it works the same from a plain `#[test]` and from inside a
//! `#[tokio::test]` (where starting a second runtime on the test's thread would panic).

use std::future::Future;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};

/// The default bound on one helper call (connection included).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Connect to the bus at `address` and run `f` on the connection, giving up after
/// `timeout`.
pub fn with_connection<R, F, Fut>(address: &str, timeout: Duration, f: F) -> Result<R>
where
    F: FnOnce(zbus::Connection) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R>>,
    R: Send + 'static,
{
    let address = address.to_owned();
    std::thread::Builder::new()
        .name("e2e-dbus-call".to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("build a tokio runtime for a D-Bus call")?;
            runtime.block_on(async move {
                tokio::time::timeout(timeout, async move {
                    let conn = zbus::connection::Builder::address(address.as_str())
                        .build()
                        .await
                        .with_context(|| format!("connect to the bus at {address}"))?;
                    f(conn).await
                })
                .await
                .map_err(|_| anyhow!("D-Bus call timed out after {timeout:?}"))?
            })
        })
        .context("spawn the D-Bus helper thread")?
        .join()
        .map_err(|_| anyhow!("the D-Bus helper thread panicked"))?
}

/// Whether `name` currently has an owner on the bus at `address`.
pub fn name_has_owner(address: &str, name: &str) -> Result<bool> {
    let name = name.to_owned();
    with_connection(address, CALL_TIMEOUT, move |conn| async move {
        let reply = conn
            .call_method(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                Some("org.freedesktop.DBus"),
                "NameHasOwner",
                &(name.as_str(),),
            )
            .await
            .context("NameHasOwner")?;
        Ok(reply.body().deserialize::<bool>()?)
    })
}
