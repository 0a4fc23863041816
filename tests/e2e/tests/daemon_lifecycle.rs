//! Start, stop, restart and single-instance behaviour of the real `sessiond` binary.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use sessiond_e2e::daemon::{Daemon, DaemonOptions, RawSocket, daemon_command};
use std::time::Duration;

#[test]
fn restart_keeps_accounts_and_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOptions::default();
    let d = Daemon::start(dir.path(), &opts).unwrap();
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let id = s
        .call(1, "account.create", json!({"name": "Persist"}))
        .unwrap()["result"]["account_id"]
        .clone();
    let phrase = s
        .call(
            2,
            "account.export_phrase",
            json!({"account_id": id, "confirm": true}),
        )
        .unwrap()["result"]["phrase"]
        .clone();
    drop(s);
    assert!(d.stop().unwrap().success());

    let d = Daemon::start(dir.path(), &opts).unwrap();
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let list = s.call(1, "account.list", json!({})).unwrap();
    assert_eq!(list["result"][0]["account_id"], id);
    assert_eq!(list["result"][0]["name"], "Persist");
    assert_eq!(list["result"][0]["state"], "ready");
    let again = s
        .call(
            2,
            "account.export_phrase",
            json!({"account_id": id, "confirm": true}),
        )
        .unwrap();
    assert_eq!(again["result"]["phrase"], phrase);
}

#[test]
fn restart_after_kill_9_keeps_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOptions::default();
    let d = Daemon::start(dir.path(), &opts).unwrap();
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let id = s
        .call(1, "account.create", json!({"name": "Crash"}))
        .unwrap()["result"]["account_id"]
        .clone();
    drop(s);
    d.kill9().unwrap();
    // The stale socket file and lock file are left behind; a new daemon must cope.
    let d = Daemon::start(dir.path(), &opts).unwrap();
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let list = s.call(1, "account.list", json!({})).unwrap();
    assert_eq!(list["result"][0]["account_id"], id);
    assert_eq!(list["result"][0]["state"], "ready");
}

#[test]
fn second_daemon_on_the_same_data_dir_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOptions::default();
    let first = Daemon::start(dir.path(), &opts).unwrap();
    let out = daemon_command(dir.path(), &opts).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another sessiond"), "{err}");
    assert!(
        err.contains(&first.pid().unwrap().to_string()),
        "message should name the pid: {err}"
    );
    // The first daemon is unharmed.
    let mut s = RawSocket::connect(&first.socket_path()).unwrap();
    assert!(s.call(1, "daemon.version", json!({})).unwrap()["result"].is_object());
}

#[test]
fn second_daemon_on_the_same_socket_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let first = Daemon::start(dir.path(), &DaemonOptions::default()).unwrap();
    let out = std::process::Command::new(sessiond_e2e::bin_path("sessiond"))
        .arg("--data-dir")
        .arg(other.path().join("data"))
        .arg("--runtime-dir")
        .arg(&first.runtime_dir)
        .args(["--keystore", "file", "--no-dbus", "--offline"])
        .env("HOME", other.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already listening"), "{err}");
}

#[test]
fn sigterm_stops_cleanly_and_removes_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &DaemonOptions::default()).unwrap();
    let sock = d.socket_path();
    let mut s = RawSocket::connect(&sock).unwrap();
    // An answered call: the connection is being served, not waiting in the backlog.
    assert!(s.call(1, "daemon.version", json!({})).unwrap()["result"].is_object());
    let status = d.stop().unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(!sock.exists());
    assert!(s.is_closed());
}

#[test]
fn no_keystore_backend_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOptions {
        keystore: "auto".into(),
        ..Default::default()
    };
    let out = sessiond_e2e::run_with_timeout(
        &mut daemon_command(dir.path(), &opts),
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--keystore"),
        "the error should say how to choose a keystore: {err}"
    );
}

#[test]
fn encrypted_file_keystore_needs_the_right_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "correct horse\n").unwrap();
    let opts = DaemonOptions {
        args: vec!["--passphrase-file".into(), pass.display().to_string()],
        ..Default::default()
    };
    let d = Daemon::start(dir.path(), &opts).unwrap();
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let id = s.call(1, "account.create", json!({})).unwrap()["result"]["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(s);
    d.stop().unwrap();
    let keystore = std::fs::read(dir.path().join("data").join("keystore")).unwrap();
    assert!(
        !keystore.windows(id.len()).any(|w| w == id.as_bytes()),
        "the encrypted keystore file names the account in plaintext"
    );

    std::fs::write(&pass, "wrong horse\n").unwrap();
    let out = daemon_command(dir.path(), &opts).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("passphrase"), "{err}");
    assert!(
        !err.contains("horse"),
        "passphrase leaked into the error: {err}"
    );
}

#[test]
fn passphrase_prompt_is_refused_when_stdin_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOptions {
        args: vec!["--passphrase-prompt".into()],
        ..Default::default()
    };
    let out = sessiond_e2e::run_with_timeout(
        &mut daemon_command(dir.path(), &opts),
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a terminal"), "{err}");
    assert!(!dir.path().join("data").join("keystore").exists());
}
