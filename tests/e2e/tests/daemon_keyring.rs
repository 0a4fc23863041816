//! The real `sessiond` keeping its keys in a real Secret Service (gnome-keyring on a private
//! bus): persistence across restarts, automatic backend choice, and a locked keyring shown as
//! a state rather than a crash.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use sessiond_e2e::daemon::{Daemon, DaemonOptions, RawSocket};
use sessiond_e2e::{GnomeKeyring, PrivateBus, run_with_timeout, wait_until};
use std::process::Command;
use std::time::Duration;

fn opts(bus: &PrivateBus, keystore: &str) -> DaemonOptions {
    DaemonOptions {
        keystore: keystore.into(),
        dbus_address: Some(bus.address().to_owned()),
        ..Default::default()
    }
}

fn secret_tool_finds(bus: &PrivateBus, account_id: &str, kind: &str) -> bool {
    let mut cmd = Command::new("secret-tool");
    cmd.args([
        "lookup",
        "service",
        "sessiond",
        "username",
        &format!("{account_id}/{kind}"),
    ])
    .env("DBUS_SESSION_BUS_ADDRESS", bus.address());
    let out = run_with_timeout(&mut cmd, Duration::from_secs(20)).unwrap();
    out.status.success() && !out.stdout.is_empty()
}

fn account_state(d: &Daemon) -> Value {
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    s.call(1, "account.list", json!({})).unwrap()["result"][0]["state"].clone()
}

#[test]
fn keys_live_in_the_secret_service_and_survive_a_restart() {
    let bus = PrivateBus::start().unwrap();
    let _keyring = GnomeKeyring::start(&bus).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &opts(&bus, "secret-service")).unwrap();
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let created = s.call(1, "account.create", json!({"name": "Kay"})).unwrap();
    let id = created["result"]["account_id"].as_str().unwrap().to_owned();
    assert_eq!(created["result"]["keystore"], "secret-service");
    let phrase = s
        .call(
            2,
            "account.export_phrase",
            json!({"account_id": id, "confirm": true}),
        )
        .unwrap()["result"]["phrase"]
        .clone();
    drop(s);
    assert!(
        secret_tool_finds(&bus, &id, "seed"),
        "seed not in the Secret Service"
    );
    assert!(
        secret_tool_finds(&bus, &id, "db-key"),
        "database key not in the Secret Service"
    );
    assert!(
        !dir.path().join("data").join("keystore").exists(),
        "a keystore file was written"
    );
    assert!(d.stop().unwrap().success(), "sessiond did not exit cleanly");

    let d = Daemon::start(dir.path(), &opts(&bus, "secret-service")).unwrap();
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let list = s.call(1, "account.list", json!({})).unwrap();
    assert_eq!(list["result"][0]["account_id"], id.as_str());
    assert_eq!(list["result"][0]["state"], "ready");
    assert_eq!(list["result"][0]["name"], "Kay");
    let again = s
        .call(
            2,
            "account.export_phrase",
            json!({"account_id": id, "confirm": true}),
        )
        .unwrap();
    assert_eq!(again["result"]["phrase"], phrase);

    // Deleting the account removes its secrets from the keyring too.
    s.call(
        3,
        "account.delete",
        json!({"account_id": id, "confirm": true}),
    )
    .unwrap();
    assert!(!secret_tool_finds(&bus, &id, "seed"));
    assert!(!secret_tool_finds(&bus, &id, "db-key"));
}

#[test]
fn automatic_keystore_choice_uses_the_secret_service_when_present() {
    let bus = PrivateBus::start().unwrap();
    let _keyring = GnomeKeyring::start(&bus).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &opts(&bus, "auto")).unwrap();
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let created = s.call(1, "account.create", json!({})).unwrap();
    assert_eq!(created["result"]["keystore"], "secret-service");
}

#[test]
fn locked_keyring_shows_accounts_as_locked_and_they_become_ready_when_unlocked() {
    let bus = PrivateBus::start().unwrap();
    let keyring = GnomeKeyring::start(&bus).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &opts(&bus, "secret-service")).unwrap();
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let id = s
        .call(1, "account.create", json!({"name": "Lock"}))
        .unwrap()["result"]["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(s);
    assert!(d.stop().unwrap().success(), "sessiond did not exit cleanly");

    keyring.lock().unwrap();
    // The daemon starts anyway and shows the account as locked.
    let d = Daemon::start(dir.path(), &opts(&bus, "secret-service")).unwrap();
    assert_eq!(account_state(&d), "locked");
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let r = s
        .call(
            2,
            "account.export_phrase",
            json!({"account_id": id, "confirm": true}),
        )
        .unwrap();
    assert_eq!(r["error"]["data"]["name"], "KeyringLocked", "{r}");
    let detail = s.call(3, "account.get", json!({"account_id": id})).unwrap();
    assert!(
        detail["result"]["detail"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("locked"),
        "{detail}"
    );
    // The D-Bus object says so too.
    let path = format!("/org/sessiond/Sessiond1/account/{id}");
    let state = busctl_state(&bus, &path);
    assert_eq!(state, "locked");

    keyring.unlock().unwrap();
    // The next look at the account retries and finds the keyring open.
    let ready = wait_until(
        Duration::from_secs(20),
        "the account to become ready",
        || Ok((account_state(&d) == "ready").then_some(())),
    );
    ready.unwrap();
    let r = s
        .call(
            4,
            "account.export_phrase",
            json!({"account_id": id, "confirm": true}),
        )
        .unwrap();
    assert_eq!(
        r["result"]["phrase"].as_str().unwrap().split(' ').count(),
        13
    );
    wait_until(
        Duration::from_secs(20),
        "the D-Bus State property to follow",
        || Ok((busctl_state(&bus, &path) == "ready").then_some(())),
    )
    .unwrap();
}

fn busctl_state(bus: &PrivateBus, path: &str) -> String {
    let mut cmd = Command::new("busctl");
    cmd.args([
        "--address",
        bus.address(),
        "get-property",
        "org.sessiond.Sessiond1",
        path,
        "org.sessiond.Sessiond1.Account",
        "State",
    ]);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(20)).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `s "locked"`
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("s ")
        .trim_matches('"')
        .to_owned()
}
