//! `sessionctl` against a real `sessiond`: the account commands, `daemon version`, exit
//! statuses, `--json` shapes and the refusal to prompt without a terminal.
//!
//! Each test starts its own daemon in a temp dir (file keystore, no D-Bus) and runs the real
//! `sessionctl` binary with `--socket`. Build both first:
//! `cargo build -p sessiond -p sessiond-cli`. Every wait has a timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use sessiond_e2e::daemon::{Daemon, DaemonOptions};
use sessiond_e2e::{bin_path, run_with_input};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tempfile::TempDir;

/// How long one `sessionctl` run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// A `sessiond` in a temp dir (file keystore, no D-Bus), killed on drop.
struct TestDaemon {
    /// Declared before `dir`, so the daemon is killed before its directory goes.
    _daemon: Daemon,
    /// Holds the data and runtime dirs until the test ends.
    dir: TempDir,
    socket: PathBuf,
}

impl TestDaemon {
    fn start() -> TestDaemon {
        let dir = tempfile::tempdir().unwrap();
        let daemon = Daemon::start(dir.path(), &DaemonOptions::default()).unwrap();
        let socket = daemon.socket_path();
        TestDaemon {
            _daemon: daemon,
            dir,
            socket,
        }
    }

    /// `sessionctl --socket <this daemon> args…` with `stdin` as its standard input.
    fn ctl(&self, args: &[&str], stdin: &str) -> Run {
        sessionctl(
            self.dir.path(),
            ["--socket", self.socket.to_str().unwrap()]
                .iter()
                .chain(args)
                .copied(),
            stdin,
        )
    }

    /// Creates an account through `sessionctl --json` and returns its wire object.
    fn create(&self, name: &str) -> Value {
        let run = self.ctl(&["account", "create", "--name", name, "--json"], "");
        run.assert_success();
        run.json()
    }
}

/// The outcome of one `sessionctl` run.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn code(&self) -> i32 {
        self.status.code().expect("sessionctl exited, not killed")
    }

    fn assert_success(&self) {
        assert_eq!(self.code(), 0, "{self:#?}");
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    fn stderr_json(&self) -> Value {
        serde_json::from_str(&self.stderr)
            .unwrap_or_else(|e| panic!("stderr is not JSON ({e}): {self:#?}"))
    }
}

/// Runs `sessionctl args…` in `home` with `stdin` piped in (so never a terminal), killing it
/// after [`RUN_TIMEOUT`].
fn sessionctl<'a>(home: &Path, args: impl IntoIterator<Item = &'a str>, stdin: &str) -> Run {
    let mut cmd = Command::new(bin_path("sessionctl"));
    cmd.args(args)
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home.join("xdg-run"))
        .env_remove("SESSIOND_SOCKET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_with_timeout(cmd, stdin)
}

fn run_with_timeout(mut cmd: Command, stdin: &str) -> Run {
    let out = run_with_input(&mut cmd, Some(stdin.as_bytes()), RUN_TIMEOUT).unwrap();
    Run {
        status: out.status,
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

fn is_account_id(id: &str) -> bool {
    id.len() == 66
        && id.starts_with("05")
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The recovery phrase of `account_id`, through `account phrase --yes`.
fn phrase_of(daemon: &TestDaemon, account_id: &str) -> String {
    let run = daemon.ctl(&["account", "phrase", "--yes", account_id], "");
    run.assert_success();
    run.stdout.trim().to_owned()
}

#[test]
fn create_with_json_prints_the_new_account_id_and_name() {
    let daemon = TestDaemon::start();
    let account = daemon.create("alice");
    let id = account["account_id"].as_str().unwrap();
    assert!(is_account_id(id), "{account}");
    assert_eq!(account["name"], "alice");
    assert_eq!(account["keystore"], "file");
}

#[test]
fn create_without_json_prints_the_account_id_for_people() {
    let daemon = TestDaemon::start();
    let run = daemon.ctl(&["account", "create"], "");
    run.assert_success();
    let first = run.stdout.lines().next().unwrap();
    let id = first.strip_prefix("Created account ").unwrap();
    assert!(is_account_id(id), "{run:#?}");
    assert!(run.stdout.contains("sessionctl account phrase"), "{run:#?}");
}

#[test]
fn list_with_json_is_an_array_of_the_accounts() {
    let daemon = TestDaemon::start();
    let empty = daemon.ctl(&["account", "list", "--json"], "");
    empty.assert_success();
    assert_eq!(empty.json(), serde_json::json!([]));

    let alice = daemon.create("alice");
    let bob = daemon.create("bob");
    let run = daemon.ctl(&["--json", "account", "list"], "");
    run.assert_success();
    let list = run.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{run:#?}");
    for created in [&alice, &bob] {
        let found = list
            .iter()
            .find(|a| a["account_id"] == created["account_id"])
            .unwrap_or_else(|| panic!("{created} missing from {run:#?}"));
        assert_eq!(found["name"], created["name"]);
    }
}

#[test]
fn list_without_json_is_a_table_with_one_line_per_account() {
    let daemon = TestDaemon::start();
    let alice = daemon.create("alice");
    let run = daemon.ctl(&["account", "list"], "");
    run.assert_success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{run:#?}");
    assert!(lines[0].starts_with("ACCOUNT ID"), "{run:#?}");
    assert!(
        lines[1].starts_with(alice["account_id"].as_str().unwrap()),
        "{run:#?}"
    );
    assert!(lines[1].ends_with("alice"), "{run:#?}");
}

#[test]
fn show_prints_the_account_id_and_a_half_block_qr_code() {
    let daemon = TestDaemon::start();
    let account = daemon.create("alice");
    let id = account["account_id"].as_str().unwrap();
    let run = daemon.ctl(&["account", "show", id], "");
    run.assert_success();
    assert!(
        run.stdout.contains(&format!("Account ID  {id}\n")),
        "{run:#?}"
    );
    assert!(run.stdout.contains("Name        alice\n"), "{run:#?}");
    assert!(run.stdout.contains("State       ready\n"), "{run:#?}");
    let qr: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains(['█', '▀', '▄']))
        .collect();
    // A 66-character Account ID needs at least a version 4 code (33 modules), two module rows
    // per line, all lines as wide as each other.
    assert!(qr.len() >= 33 / 2, "{run:#?}");
    let width = qr[0].chars().count();
    assert!(width >= 33, "{run:#?}");
    assert!(qr.iter().all(|l| l.chars().count() == width), "{run:#?}");
}

#[test]
fn show_without_an_id_picks_the_only_account() {
    let daemon = TestDaemon::start();
    let account = daemon.create("alice");
    let run = daemon.ctl(&["account", "show", "--json"], "");
    run.assert_success();
    let shown = run.json();
    assert_eq!(shown["account_id"], account["account_id"]);
    assert_eq!(shown["state"], "ready");
    assert!(shown["detail"].is_null(), "{shown}");
}

#[test]
fn show_without_an_id_is_ambiguous_with_two_accounts() {
    let daemon = TestDaemon::start();
    daemon.create("alice");
    daemon.create("bob");
    let run = daemon.ctl(&["account", "show"], "");
    assert_eq!(run.code(), 1, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert!(run.stderr.contains("2 accounts"), "{run:#?}");
    assert!(run.stderr.contains("sessionctl account list"), "{run:#?}");
}

#[test]
fn phrase_with_yes_prints_13_words() {
    let daemon = TestDaemon::start();
    let account = daemon.create("alice");
    let phrase = phrase_of(&daemon, account["account_id"].as_str().unwrap());
    assert_eq!(phrase.split_whitespace().count(), 13, "{phrase:?}");
    assert!(phrase.chars().all(|c| c.is_ascii_lowercase() || c == ' '));
}

#[test]
fn phrase_without_yes_on_a_non_terminal_is_refused_with_a_hint() {
    let daemon = TestDaemon::start();
    daemon.create("alice");
    let run = daemon.ctl(&["account", "phrase"], "yes\n");
    assert_ne!(run.code(), 0, "{run:#?}");
    assert_eq!(run.code(), 2, "{run:#?}");
    assert!(run.stdout.is_empty(), "the phrase leaked: {run:#?}");
    assert!(run.stderr.contains("not a terminal"), "{run:#?}");
    assert!(run.stderr.contains("--yes"), "{run:#?}");
}

#[test]
fn delete_without_yes_on_a_non_terminal_is_refused_and_keeps_the_account() {
    let daemon = TestDaemon::start();
    let account = daemon.create("alice");
    let id = account["account_id"].as_str().unwrap();
    let run = daemon.ctl(&["account", "delete", id], &format!("{}\n", &id[..8]));
    assert_eq!(run.code(), 2, "{run:#?}");
    assert!(run.stderr.contains("--yes"), "{run:#?}");
    let list = daemon.ctl(&["account", "list", "--json"], "");
    assert_eq!(list.json().as_array().unwrap().len(), 1);
}

#[test]
fn restore_from_stdin_after_delete_gives_the_same_account_id() {
    let daemon = TestDaemon::start();
    let account = daemon.create("alice");
    let id = account["account_id"].as_str().unwrap();
    let phrase = phrase_of(&daemon, id);

    let deleted = daemon.ctl(&["account", "delete", "--yes", id, "--json"], "");
    deleted.assert_success();
    assert_eq!(deleted.json()["account_id"], id);
    let list = daemon.ctl(&["account", "list", "--json"], "");
    assert_eq!(list.json(), serde_json::json!([]));

    let restored = daemon.ctl(
        &["account", "restore", "--name", "alice again", "--json"],
        &format!("{phrase}\n"),
    );
    restored.assert_success();
    let restored = restored.json();
    assert_eq!(restored["account_id"], id);
    assert_eq!(restored["name"], "alice again");
}

#[test]
fn restore_without_json_says_which_account_came_back() {
    let daemon = TestDaemon::start();
    let account = daemon.create("alice");
    let id = account["account_id"].as_str().unwrap();
    let phrase = phrase_of(&daemon, id);
    daemon
        .ctl(&["account", "delete", "-y", id], "")
        .assert_success();
    let run = daemon.ctl(&["account", "restore"], &phrase);
    run.assert_success();
    assert!(
        run.stdout.starts_with(&format!("Restored account {id}\n")),
        "{run:#?}"
    );
}

#[test]
fn restore_with_an_unknown_word_fails_with_exit_1_naming_the_word() {
    let daemon = TestDaemon::start();
    let account = daemon.create("alice");
    let phrase = phrase_of(&daemon, account["account_id"].as_str().unwrap());
    let mut words: Vec<&str> = phrase.split_whitespace().collect();
    words[4] = "xyzzyq";
    let run = daemon.ctl(&["account", "restore"], &words.join(" "));
    assert_eq!(run.code(), 1, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert!(run.stderr.starts_with("sessionctl: "), "{run:#?}");
    assert!(run.stderr.contains("xyzzyq"), "{run:#?}");
}

#[test]
fn restore_with_empty_stdin_fails_without_calling_it_a_phrase_error_of_the_daemon() {
    let daemon = TestDaemon::start();
    let run = daemon.ctl(&["account", "restore", "--json"], "  \n");
    assert_eq!(run.code(), 1, "{run:#?}");
    let err = run.stderr_json();
    assert_eq!(err["error"]["code"], "InvalidPhrase");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("stdin"),
        "{err}"
    );
}

#[test]
fn no_daemon_exits_3_and_says_how_to_start_it() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nothing-here.sock");
    let run = sessionctl(
        dir.path(),
        ["--socket", socket.to_str().unwrap(), "account", "list"],
        "",
    );
    assert_eq!(run.code(), 3, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert_eq!(
        run.stderr,
        format!(
            "sessionctl: no sessiond is running (socket {}): start it with `sessiond`\n",
            socket.display()
        )
    );
}

#[test]
fn the_socket_can_come_from_sessiond_socket_in_the_environment() {
    let daemon = TestDaemon::start();
    let mut cmd = Command::new(bin_path("sessionctl"));
    cmd.args(["daemon", "version", "--json"])
        .env("SESSIOND_SOCKET", &daemon.socket)
        .env_remove("XDG_RUNTIME_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = run_with_timeout(cmd, "");
    run.assert_success();
    assert_eq!(
        run.json()["schema_version"],
        sessiond_ipc::SCHEMA_VERSION,
        "{run:#?}"
    );
}

#[test]
fn json_errors_are_an_error_object_on_stderr_with_the_same_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nothing-here.sock");
    let run = sessionctl(
        dir.path(),
        [
            "--json",
            "--socket",
            socket.to_str().unwrap(),
            "account",
            "list",
        ],
        "",
    );
    assert_eq!(run.code(), 3, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    let err = run.stderr_json();
    assert_eq!(err["error"]["code"], "DaemonNotRunning");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no sessiond is running")
    );

    let daemon = TestDaemon::start();
    let unknown = format!("05{}", "0".repeat(64));
    let run = daemon.ctl(&["account", "show", &unknown, "--json"], "");
    assert_eq!(run.code(), 1, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    let err = run.stderr_json();
    assert_eq!(err["error"]["code"], "AccountNotFound", "{err}");
    assert!(err["error"]["message"].is_string(), "{err}");

    let run = sessionctl(dir.path(), ["--json", "account", "delete"], "");
    assert_eq!(run.code(), 2, "{run:#?}");
    assert_eq!(run.stderr_json()["error"]["code"], "Usage");
}

#[test]
fn an_unknown_account_hints_at_the_account_list() {
    let daemon = TestDaemon::start();
    let unknown = format!("05{}", "0".repeat(64));
    let run = daemon.ctl(&["account", "delete", "--yes", &unknown], "");
    assert_eq!(run.code(), 1, "{run:#?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{run:#?}");
    assert!(lines[0].starts_with("sessionctl: "), "{run:#?}");
    assert_eq!(lines[1], "hint: see `sessionctl account list`");
}

#[test]
fn daemon_version_reports_daemon_and_schema_versions() {
    let daemon = TestDaemon::start();
    let run = daemon.ctl(&["daemon", "version", "--json"], "");
    run.assert_success();
    let version = run.json();
    assert!(version["version"].is_string(), "{version}");
    assert_eq!(version["schema_version"], sessiond_ipc::SCHEMA_VERSION);

    let human = daemon.ctl(&["daemon", "version"], "");
    human.assert_success();
    assert!(human.stdout.starts_with("sessiond "), "{human:#?}");
    assert!(human.stdout.contains("sessionctl "), "{human:#?}");
}

#[test]
fn a_closed_stdout_exits_0_silently() {
    let daemon = TestDaemon::start();
    daemon.create("alice");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = Command::new(bin_path("sessionctl"));
    cmd.arg("--socket")
        .arg(&daemon.socket)
        .args(["account", "list"])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
        let _ = tx.send((child.wait(), text));
    });
    let (status, stderr) = rx.recv_timeout(RUN_TIMEOUT).expect("sessionctl finished");
    assert_eq!(status.unwrap().code(), Some(0), "stderr: {stderr}");
    assert_eq!(stderr, "");
}
