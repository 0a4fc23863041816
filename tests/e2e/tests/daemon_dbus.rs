//! The D-Bus surface of the real `sessiond` binary on a private bus.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use sessiond_e2e::PrivateBus;
use sessiond_e2e::daemon::{Daemon, DaemonOptions, RawSocket};
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;
use zbus::{OwnedObjectPath, OwnedVariant};

const NAME: &str = "org.sessiond.Sessiond1";
const ROOT: &str = "/org/sessiond/Sessiond1";

type Dict = HashMap<String, OwnedVariant>;

fn start(bus: &PrivateBus) -> (tempfile::TempDir, Daemon) {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOptions {
        dbus_address: Some(bus.address().to_owned()),
        ..Default::default()
    };
    let d = Daemon::start(dir.path(), &opts).unwrap();
    (dir, d)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn connect(bus: &PrivateBus) -> zbus::Connection {
    zbus::connection::Builder::address(bus.address())
        .build()
        .await
        .unwrap()
}

fn string(d: &Dict, key: &str) -> String {
    String::try_from(
        d.get(key)
            .unwrap_or_else(|| panic!("no {key} in {d:?}"))
            .try_clone()
            .unwrap(),
    )
    .unwrap()
}

async fn call<R>(
    conn: &zbus::Connection,
    path: &str,
    iface: &str,
    method: &str,
    body: &(impl serde::Serialize + zbus::zvariant::DynamicType),
) -> zbus::Result<R>
where
    R: for<'d> zbus::zvariant::DynamicDeserialize<'d>,
{
    let reply = tokio::time::timeout(
        Duration::from_secs(20),
        conn.call_method(Some(NAME), path, Some(iface), method, body),
    )
    .await
    .map_err(|_| zbus::Error::Failure("timed out".into()))??;
    reply.body().deserialize()
}

#[test]
fn busctl_introspects_the_root_object_with_all_interfaces() {
    let bus = PrivateBus::start().unwrap();
    let (_dir, _d) = start(&bus);
    let out = Command::new("busctl")
        .args([
            "--address",
            bus.address(),
            "introspect",
            "--no-pager",
            NAME,
            ROOT,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "org.sessiond.Sessiond1.Daemon",
        "org.sessiond.Sessiond1.Accounts",
        "org.freedesktop.DBus.ObjectManager",
        ".Create",
        ".Restore",
        ".List",
        ".Version",
    ] {
        assert!(
            text.contains(needle),
            "introspection lacks {needle}:\n{text}"
        );
    }
}

#[test]
fn account_created_over_dbus_is_an_object_visible_to_gdbus_and_the_socket() {
    let bus = PrivateBus::start().unwrap();
    let (_dir, d) = start(&bus);
    let rt = runtime();
    let (info, path): (Dict, OwnedObjectPath) = rt.block_on(async {
        let conn = connect(&bus).await;
        let mut opts = Dict::new();
        opts.insert("name".into(), OwnedVariant::from(zbus::Str::from("Bob")));
        call(
            &conn,
            ROOT,
            "org.sessiond.Sessiond1.Accounts",
            "Create",
            &(opts,),
        )
        .await
        .unwrap()
    });
    let id = string(&info, "account_id");
    assert_eq!(string(&info, "name"), "Bob");
    assert_eq!(path.as_str(), format!("{ROOT}/account/{id}"));

    // ObjectManager, read with gdbus: the account object and its properties.
    let out = Command::new("gdbus")
        .args([
            "call",
            "--address",
            bus.address(),
            "--dest",
            NAME,
            "--object-path",
            ROOT,
            "--method",
            "org.freedesktop.DBus.ObjectManager.GetManagedObjects",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("/account/{id}")), "{text}");
    assert!(text.contains("'Name': <'Bob'>"), "{text}");
    assert!(text.contains("'State': <'ready'>"), "{text}");

    // The socket sees the same account.
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let list = s.call(1, "account.list", json!({})).unwrap();
    assert_eq!(list["result"][0]["account_id"], id.as_str());
}

#[test]
fn account_object_methods_and_named_errors() {
    let bus = PrivateBus::start().unwrap();
    let (_dir, d) = start(&bus);
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let id = s
        .call(1, "account.create", json!({"name": "Carol"}))
        .unwrap()["result"]["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("{ROOT}/account/{id}");
    let rt = runtime();
    rt.block_on(async {
        let conn = connect(&bus).await;
        let iface = "org.sessiond.Sessiond1.Account";
        // An account created on the socket appears on D-Bus.
        let mut found = false;
        for _ in 0..100 {
            if call::<Dict>(&conn, &path, iface, "Get", &()).await.is_ok() {
                found = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(found, "account object never appeared");
        let got: Dict = call(&conn, &path, iface, "Get", &()).await.unwrap();
        assert_eq!(string(&got, "name"), "Carol");

        let err = call::<String>(&conn, &path, iface, "ExportPhrase", &(false,)).await.unwrap_err();
        match err {
            zbus::Error::MethodError(name, _, _) => {
                assert_eq!(name.as_str(), "org.sessiond.Sessiond1.Error.ConfirmationRequired")
            }
            other => panic!("unexpected {other:?}"),
        }
        let phrase: String = call(&conn, &path, iface, "ExportPhrase", &(true,)).await.unwrap();
        assert_eq!(phrase.split(' ').count(), 13);

        let err = call::<(Dict, OwnedObjectPath)>(&conn, ROOT, "org.sessiond.Sessiond1.Accounts", "Restore", &("abbey qux", Dict::new()))
            .await
            .unwrap_err();
        assert!(matches!(&err, zbus::Error::MethodError(n, _, _) if n.as_str() == "org.sessiond.Sessiond1.Error.InvalidPhrase"), "{err:?}");

        let () = call(&conn, &path, iface, "Delete", &(true,)).await.unwrap();
        let list: Vec<Dict> = call(&conn, ROOT, "org.sessiond.Sessiond1.Accounts", "List", &()).await.unwrap();
        assert!(list.is_empty());
    });
}

#[test]
fn wrong_argument_types_on_dbus_get_an_error_and_the_daemon_keeps_serving() {
    let bus = PrivateBus::start().unwrap();
    let (_dir, _d) = start(&bus);
    let rt = runtime();
    rt.block_on(async {
        let conn = connect(&bus).await;
        let err = call::<Dict>(&conn, ROOT, "org.sessiond.Sessiond1.Accounts", "Create", &(42u32,)).await.unwrap_err();
        assert!(
            matches!(&err, zbus::Error::FDO(e) if matches!(**e, zbus::fdo::Error::InvalidArgs(_))),
            "{err:?}"
        );
        let mut bad = Dict::new();
        bad.insert("name".into(), OwnedVariant::from(7u32));
        let err = call::<(Dict, OwnedObjectPath)>(&conn, ROOT, "org.sessiond.Sessiond1.Accounts", "Create", &(bad,)).await.unwrap_err();
        assert!(matches!(&err, zbus::Error::MethodError(n, _, _) if n.as_str() == "org.sessiond.Sessiond1.Error.InvalidParams"), "{err:?}");
        let v: Dict = call(&conn, ROOT, "org.sessiond.Sessiond1.Daemon", "Version", &()).await.unwrap();
        assert_eq!(string(&v, "schema_version"), sessiond_ipc::SCHEMA_VERSION);
    });
}

#[test]
fn two_dbus_clients_at_once_are_both_served() {
    let bus = PrivateBus::start().unwrap();
    let (_dir, _d) = start(&bus);
    let rt = runtime();
    rt.block_on(async {
        let a = connect(&bus).await;
        let b = connect(&bus).await;
        let mut opts_a = Dict::new();
        opts_a.insert("name".into(), OwnedVariant::from(zbus::Str::from("A")));
        let mut opts_b = Dict::new();
        opts_b.insert("name".into(), OwnedVariant::from(zbus::Str::from("B")));
        let (body_a, body_b) = ((opts_a,), (opts_b,));
        let (ra, rb) = tokio::join!(
            call::<(Dict, OwnedObjectPath)>(
                &a,
                ROOT,
                "org.sessiond.Sessiond1.Accounts",
                "Create",
                &body_a
            ),
            call::<(Dict, OwnedObjectPath)>(
                &b,
                ROOT,
                "org.sessiond.Sessiond1.Accounts",
                "Create",
                &body_b
            ),
        );
        assert_eq!(string(&ra.unwrap().0, "name"), "A");
        assert_eq!(string(&rb.unwrap().0, "name"), "B");
        let list: Vec<Dict> = call(&a, ROOT, "org.sessiond.Sessiond1.Accounts", "List", &())
            .await
            .unwrap();
        assert_eq!(list.len(), 2);
    });
}

#[test]
fn second_daemon_cannot_take_the_bus_name() {
    let bus = PrivateBus::start().unwrap();
    let (_dir, _first) = start(&bus);
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOptions {
        dbus_address: Some(bus.address().to_owned()),
        ..Default::default()
    };
    let out = sessiond_e2e::daemon::daemon_command(dir.path(), &opts)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already owned"), "{err}");
}
