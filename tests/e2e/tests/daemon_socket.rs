//! The JSON-RPC socket of the real `sessiond` binary: methods, errors, hostile input, many clients.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use sessiond_e2e::daemon::{Daemon, DaemonOptions, RawSocket};

fn start() -> (tempfile::TempDir, Daemon) {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &DaemonOptions::default()).unwrap();
    (dir, d)
}

fn error_name(resp: &Value) -> &str {
    resp["error"]["data"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error response: {resp}"))
}

#[test]
fn version_reports_daemon_and_schema_versions() {
    let (_dir, d) = start();
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let r = s.call(1, "daemon.version", Value::Null).unwrap();
    assert_eq!(r["id"], 1);
    assert_eq!(r["result"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r["result"]["schema_version"], sessiond_ipc::SCHEMA_VERSION);
}

#[test]
fn account_lifecycle_create_list_get_export_restore_delete() {
    let (_dir, d) = start();
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let created = s
        .call(1, "account.create", json!({"name": "Alice"}))
        .unwrap();
    let acct = &created["result"];
    let id = acct["account_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("05") && id.len() == 66, "{id}");
    assert_eq!(acct["name"], "Alice");
    assert_eq!(acct["state"], "ready");
    assert_eq!(acct["keystore"], "file");
    assert_eq!(
        acct["object_path"],
        format!("/org/sessiond/Sessiond1/account/{id}")
    );

    let list = s.call(2, "account.list", json!({})).unwrap();
    assert_eq!(list["result"].as_array().unwrap().len(), 1);
    assert_eq!(list["result"][0]["account_id"], id.as_str());

    let got = s.call(3, "account.get", json!({"account_id": id})).unwrap();
    assert_eq!(got["result"]["name"], "Alice");
    assert_eq!(got["result"]["detail"], Value::Null);

    let phrase = s
        .call(
            4,
            "account.export_phrase",
            json!({"account_id": id, "confirm": true}),
        )
        .unwrap();
    let phrase = phrase["result"]["phrase"].as_str().unwrap().to_owned();
    assert_eq!(phrase.split_whitespace().count(), 13);

    let dup = s
        .call(5, "account.restore", json!({"phrase": phrase}))
        .unwrap();
    assert_eq!(error_name(&dup), "AccountExists");

    let del = s
        .call(
            6,
            "account.delete",
            json!({"account_id": id, "confirm": true}),
        )
        .unwrap();
    assert_eq!(del["result"]["account_id"], id.as_str());
    let list = s.call(7, "account.list", Value::Null).unwrap();
    assert_eq!(list["result"], json!([]));
    assert!(
        !d.data_dir.join("accounts").join(&id).exists(),
        "account directory left behind"
    );

    // Restoring from the phrase, in upper case with extra whitespace, brings the same account back.
    let messy = format!(
        "  {}  ",
        phrase
            .to_uppercase()
            .split(' ')
            .collect::<Vec<_>>()
            .join("   \n ")
    );
    let restored = s
        .call(
            8,
            "account.restore",
            json!({"phrase": messy, "name": "Alice again"}),
        )
        .unwrap();
    assert_eq!(restored["result"]["account_id"], id.as_str());
    assert_eq!(restored["result"]["name"], "Alice again");
}

#[test]
fn export_and_delete_require_explicit_confirmation() {
    let (_dir, d) = start();
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let id = s.call(1, "account.create", json!({})).unwrap()["result"]["account_id"].clone();
    for (i, method) in ["account.export_phrase", "account.delete"]
        .iter()
        .enumerate()
    {
        let r = s
            .call(10 + i as u64, method, json!({"account_id": id}))
            .unwrap();
        assert_eq!(error_name(&r), "ConfirmationRequired", "{method}");
        assert_eq!(r["error"]["code"], 1005);
        assert!(r.get("result").is_none());
    }
    let list = s.call(20, "account.list", json!({})).unwrap();
    assert_eq!(
        list["result"].as_array().unwrap().len(),
        1,
        "unconfirmed delete deleted"
    );
}

#[test]
fn bad_phrases_and_ids_get_typed_errors_that_say_what_is_wrong() {
    let (_dir, d) = start();
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let r = s
        .call(1, "account.restore", json!({"phrase": "abbey abducts qux"}))
        .unwrap();
    assert_eq!(error_name(&r), "InvalidPhrase");
    let r = s
        .call(
            2,
            "account.restore",
            json!({"phrase": "abbey ".repeat(12) + "quxzzz"}),
        )
        .unwrap();
    assert_eq!(error_name(&r), "InvalidPhrase");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("quxzzz") && msg.contains("13"), "{msg}");
    let r = s
        .call(3, "account.get", json!({"account_id": "05zz"}))
        .unwrap();
    assert_eq!(error_name(&r), "InvalidAccountId");
    let r = s
        .call(
            4,
            "account.get",
            json!({"account_id": format!("05{}", "ab".repeat(32))}),
        )
        .unwrap();
    assert_eq!(error_name(&r), "AccountNotFound");
    let r = s
        .call(5, "account.create", json!({"name": "x\u{7}y"}))
        .unwrap();
    assert_eq!(error_name(&r), "InvalidInput");
}

#[test]
fn malformed_requests_get_jsonrpc_errors_and_the_connection_keeps_working() {
    let (_dir, d) = start();
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let cases: &[(&[u8], i64)] = &[
        (b"{not json\n", -32700),
        (b"\xff\xfe\x00garbage\n", -32700),
        (b"[]\n", -32600),
        (b"42\n", -32600),
        (b"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"daemon.version\"}\n", -32600),
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}\n", -32600),
        (b"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"daemon.version\"}\n", -32600),
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"no.such\"}\n", -32601),
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"account.get\",\"params\":{\"account_id\":5}}\n", -32602),
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"account.create\",\"params\":{\"nmae\":\"x\"}}\n", -32602),
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"account.list\",\"params\":[1,2]}\n", -32602),
    ];
    for (bytes, code) in cases {
        s.send(bytes).unwrap();
        let r = s.recv().unwrap();
        assert_eq!(
            r["error"]["code"],
            *code,
            "for {:?}: {r}",
            String::from_utf8_lossy(bytes)
        );
    }
    let r = s.call(99, "daemon.version", json!({})).unwrap();
    assert_eq!(r["id"], 99);
    assert!(r["result"]["version"].is_string());
}

#[test]
fn oversized_line_is_refused_and_the_connection_keeps_working() {
    let (_dir, d) = start();
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    let mut big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"account.create\",\"params\":{{\"name\":\"{}",
        "a".repeat(2 * 1024 * 1024)
    );
    big.push_str("\"}}\n");
    s.send(big.as_bytes()).unwrap();
    let r = s.recv().unwrap();
    assert_eq!(r["error"]["data"]["name"], "RequestTooLarge");
    let r = s.call(2, "account.list", json!({})).unwrap();
    assert_eq!(
        r["result"],
        json!([]),
        "the oversized request must not have run"
    );
}

#[test]
fn notifications_get_no_reply_and_batches_get_an_array() {
    let (_dir, d) = start();
    let mut s = RawSocket::connect(&d.socket_path()).unwrap();
    s.send(b"{\"jsonrpc\":\"2.0\",\"method\":\"daemon.version\"}\n")
        .unwrap();
    s.send(b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.version\"},{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"}]\n")
        .unwrap();
    // The first line back answers the batch: the notification produced nothing.
    let r = s.recv().unwrap();
    let arr = r.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["id"], 1);
    assert_eq!(arr[1]["error"]["code"], -32601);
}

#[test]
fn many_clients_at_once_each_get_their_own_answers() {
    let (_dir, d) = start();
    let path = d.socket_path();
    let mut sockets: Vec<RawSocket> = (0..20)
        .map(|_| RawSocket::connect(&path).unwrap())
        .collect();
    // Interleave: every client sends before any reads.
    for (i, s) in sockets.iter_mut().enumerate() {
        let req = json!({"jsonrpc": "2.0", "id": i, "method": "account.create", "params": {"name": format!("n{i}")}});
        s.send(format!("{req}\n").as_bytes()).unwrap();
    }
    let mut ids = std::collections::HashSet::new();
    for (i, s) in sockets.iter_mut().enumerate() {
        let r = s.recv().unwrap();
        assert_eq!(r["id"], i);
        assert_eq!(r["result"]["name"], format!("n{i}"));
        ids.insert(r["result"]["account_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 20);
    let list = sockets[0].call(100, "account.list", json!({})).unwrap();
    assert_eq!(list["result"].as_array().unwrap().len(), 20);
}

#[test]
fn socket_and_its_directory_are_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, d) = start();
    let dir_mode = std::fs::metadata(&d.runtime_dir)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    let sock_mode = std::fs::metadata(d.socket_path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    assert_eq!(sock_mode, 0o600);
    let data_mode = std::fs::metadata(&d.data_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(data_mode, 0o700);
}
