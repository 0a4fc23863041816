//! Rendering of results and errors, for people or for scripts.
//!
//! With `--json` every result is the API's own wire object (see `sessiond_ipc::types`),
//! printed compactly on one line; errors are `{"error": {"code": …, "message": …}}` on
//! stderr. Those shapes are a contract, documented in README.md. Human output is concise and
//! aligned, and may change between versions.
//!
//! Everything here returns strings; `main` does the writing, so a closed pipe is handled in
//! one place.

use crate::error::CliError;
use serde_json::json;
use sessiond_ipc::types::{
    AccountDetail, AccountInfo, AccountState, Deleted, RecoveryPhrase, VersionInfo,
};

/// Who reads the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A person at a terminal.
    Human,
    /// A script: JSON on stdout and stderr.
    Json,
}

/// One value as compact JSON on one line.
fn json_line<T: serde::Serialize + ?Sized>(value: &T) -> String {
    // The wire types are plain structs of strings, numbers and enums, which always serialize.
    let mut line = serde_json::to_string(value).expect("wire types serialize to JSON");
    line.push('\n');
    line
}

/// Label/value lines with the values aligned.
fn fields(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(label, value)| format!("{label:<width$}  {value}\n"))
        .collect()
}

/// Replaces control characters so a name cannot move the cursor or change colours.
pub(crate) fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

fn state_str(state: AccountState) -> &'static str {
    match state {
        AccountState::Ready => "ready",
        AccountState::Locked => "locked",
        AccountState::Unavailable => "unavailable",
    }
}

fn name_str(account: &AccountInfo) -> String {
    match (&account.name, account.state) {
        (Some(name), _) => printable(name),
        (None, AccountState::Locked) => "(unknown while locked)".into(),
        (None, _) => "(none)".into(),
    }
}

/// The fields shown for one account, Account ID first when `with_id`.
fn account_fields(account: &AccountInfo, with_id: bool) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    if with_id {
        rows.push(("Account ID", account.account_id.clone()));
    }
    rows.push(("Name", name_str(account)));
    rows.push(("Keystore", printable(&account.keystore)));
    rows.push(("State", state_str(account.state).into()));
    rows
}

/// Result of `account create` and `account restore`; `restored` picks the wording.
pub fn account_added(mode: Mode, account: &AccountInfo, restored: bool) -> String {
    match mode {
        Mode::Json => json_line(account),
        Mode::Human => {
            let verb = if restored { "Restored" } else { "Created" };
            let mut out = format!("{verb} account {}\n", account.account_id);
            out += &fields(&account_fields(account, false));
            if !restored {
                out += &format!(
                    "\nWrite down its recovery phrase: sessionctl account phrase {}\n",
                    account.account_id
                );
            }
            out
        }
    }
}

/// Result of `account list`: a JSON array, or a table.
pub fn account_list(mode: Mode, accounts: &[AccountInfo]) -> String {
    match mode {
        Mode::Json => json_line(accounts),
        Mode::Human if accounts.is_empty() => {
            "No accounts. Create one with `sessionctl account create`.\n".into()
        }
        Mode::Human => {
            let header = ["ACCOUNT ID", "STATE", "KEYSTORE", "NAME"];
            let rows: Vec<[String; 4]> = accounts
                .iter()
                .map(|a| {
                    [
                        a.account_id.clone(),
                        state_str(a.state).into(),
                        printable(&a.keystore),
                        a.name
                            .as_deref()
                            .map(printable)
                            .unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            let mut widths = header.map(str::len);
            for row in &rows {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let line = |cells: [&str; 4]| {
                let mut s = String::new();
                for (i, cell) in cells.iter().enumerate() {
                    if i + 1 == cells.len() {
                        s += cell;
                    } else {
                        s += &format!("{cell:<w$}  ", w = widths[i]);
                    }
                }
                s.push('\n');
                s
            };
            let mut out = line(header);
            for row in &rows {
                out += &line([&row[0], &row[1], &row[2], &row[3]]);
            }
            out
        }
    }
}

/// Result of `account show`; `qr` is the drawn QR code of the Account ID, if wanted.
pub fn account_show(mode: Mode, detail: &AccountDetail, qr: Option<&str>) -> String {
    match mode {
        Mode::Json => json_line(detail),
        Mode::Human => {
            let account = &detail.account;
            let mut rows = account_fields(account, true);
            rows.push(("Created", format_utc_ms(account.created_at_ms)));
            if let Some(why) = &detail.detail {
                rows.push(("Detail", printable(why)));
            }
            let mut out = fields(&rows);
            if let Some(qr) = qr {
                out.push('\n');
                out += qr;
            }
            out
        }
    }
}

/// Result of `account phrase`: the phrase alone on its line, so it can be redirected.
pub fn phrase(mode: Mode, phrase: &RecoveryPhrase) -> String {
    match mode {
        Mode::Json => json_line(phrase),
        Mode::Human => format!("{}\n", phrase.phrase),
    }
}

/// Result of `account delete`.
pub fn deleted(mode: Mode, deleted: &Deleted) -> String {
    match mode {
        Mode::Json => json_line(deleted),
        Mode::Human => format!("Deleted account {}\n", deleted.account_id),
    }
}

/// Result of `daemon version`, with this client's own version for comparison.
pub fn version(mode: Mode, daemon: &VersionInfo) -> String {
    match mode {
        Mode::Json => json_line(daemon),
        Mode::Human => fields(&[
            (
                "sessiond",
                format!(
                    "{} (API schema {})",
                    printable(&daemon.version),
                    printable(&daemon.schema_version)
                ),
            ),
            (
                "sessionctl",
                format!(
                    "{} (API schema {})",
                    env!("CARGO_PKG_VERSION"),
                    sessiond_ipc::SCHEMA_VERSION
                ),
            ),
        ]),
    }
}

/// An error, for stderr.
pub fn error(mode: Mode, err: &CliError) -> String {
    match mode {
        Mode::Json => json_line(&json!({
            "error": { "code": err.code, "message": err.message }
        })),
        Mode::Human => {
            let mut out = format!("sessionctl: {}\n", err.message.trim_end());
            if let Some(hint) = &err.hint {
                out += &format!("hint: {hint}\n");
            }
            out
        }
    }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian calendar).
pub fn format_utc_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Result of `send`.
pub fn sent(mode: Mode, sent: &sessiond_ipc::types::SentMessage) -> String {
    match mode {
        Mode::Json => json_line(sent),
        Mode::Human => format!("queued message {} ({})\n", sent.id, msg_state(sent.state)),
    }
}

fn msg_state(s: sessiond_ipc::types::MessageState) -> &'static str {
    use sessiond_ipc::types::MessageState as S;
    match s {
        S::Pending => "pending",
        S::Sent => "sent",
        S::Failed => "failed",
        S::Received => "received",
    }
}

/// Result of `conversations`: a JSON array, or one line each.
pub fn conversations(mode: Mode, list: &[sessiond_ipc::types::ConversationInfo]) -> String {
    match mode {
        Mode::Json => json_line(list),
        Mode::Human if list.is_empty() => "no conversations yet\n".into(),
        Mode::Human => list
            .iter()
            .map(|c| {
                let when = c.last_message_at_ms.map(format_utc_ms).unwrap_or_default();
                let unread = if c.unread_count > 0 {
                    format!(" [{} unread]", c.unread_count)
                } else {
                    String::new()
                };
                let preview = c.last_preview.as_deref().map(printable).unwrap_or_default();
                format!("{}  {when}{unread}  {preview}\n", c.peer)
            })
            .collect(),
    }
}

/// Messages, oldest first: one JSON object per line (so `--follow` output is a JSON-lines
/// stream), or one line each for people.
pub fn messages(mode: Mode, list: &[sessiond_ipc::types::MessageInfo]) -> String {
    match mode {
        Mode::Json => list.iter().map(json_line).collect(),
        Mode::Human => list
            .iter()
            .map(|m| {
                let who = if m.direction == "out" {
                    "me".to_owned()
                } else {
                    short_id(&m.sender)
                };
                let text = m.text.as_deref().map(printable).unwrap_or_default();
                let state = match m.state {
                    sessiond_ipc::types::MessageState::Received
                    | sessiond_ipc::types::MessageState::Sent => String::new(),
                    s => format!(" ({})", msg_state(s)),
                };
                format!("[{}] {who}: {text}{state}\n", format_utc_ms(m.sent_at_ms))
            })
            .collect(),
    }
}

fn short_id(id: &str) -> String {
    id.chars().take(10).collect::<String>() + "…"
}

/// Result of `network`.
pub fn network(mode: Mode, s: &sessiond_ipc::types::NetworkStatus) -> String {
    match mode {
        Mode::Json => json_line(s),
        Mode::Human => {
            let mut out = fields(&[
                ("Network", s.network.clone()),
                ("Service nodes", s.pool_size.to_string()),
                ("Clock offset", format!("{} ms", s.clock_offset_ms)),
                (
                    "Last error",
                    s.last_error
                        .as_deref()
                        .map(printable)
                        .unwrap_or_else(|| "none".into()),
                ),
            ]);
            for (i, p) in s.paths.iter().enumerate() {
                let hops: Vec<String> = p.hops.iter().map(|h| h.address.clone()).collect();
                out += &format!(
                    "Path {}: {} (failures: {})\n",
                    i + 1,
                    hops.join(" → "),
                    p.failures
                );
            }
            for sw in &s.swarms {
                out += &format!(
                    "Swarm of {}: {} nodes\n",
                    short_id(&sw.account_id),
                    sw.members.len()
                );
            }
            out
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::CliError;
    use std::path::Path;

    fn account(name: Option<&str>) -> AccountInfo {
        AccountInfo {
            account_id: format!("05{}", "ab".repeat(32)),
            name: name.map(Into::into),
            keystore: "file".into(),
            state: AccountState::Ready,
            created_at_ms: 1_700_000_000_123,
            object_path: "/org/sessiond/Sessiond1/accounts/x".into(),
        }
    }

    #[test]
    fn json_results_are_the_wire_objects_on_one_line() {
        let a = account(Some("alice"));
        let out = account_added(Mode::Json, &a, false);
        assert!(out.ends_with('\n') && out.lines().count() == 1);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["account_id"], a.account_id.as_str());
        assert_eq!(v["name"], "alice");
        let list: serde_json::Value =
            serde_json::from_str(&account_list(Mode::Json, &[a.clone(), a])).unwrap();
        assert_eq!(list.as_array().unwrap().len(), 2);
        assert_eq!(account_list(Mode::Json, &[]), "[]\n");
    }

    #[test]
    fn json_errors_have_code_and_message() {
        let out = error(Mode::Json, &CliError::not_running(Path::new("/s")));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["error"]["code"], "DaemonNotRunning");
        assert!(v["error"]["message"].as_str().unwrap().contains("/s"));
    }

    #[test]
    fn human_errors_have_a_hint_line() {
        let out = error(Mode::Human, &CliError::ambiguous_account(2));
        assert_eq!(
            out,
            "sessionctl: sessiond has 2 accounts: say which one by its Account ID\n\
             hint: see `sessionctl account list`\n"
        );
    }

    #[test]
    fn list_columns_are_aligned() {
        let mut b = account(None);
        b.state = AccountState::Locked;
        b.keystore = "secret-service".into();
        let out = account_list(Mode::Human, &[account(Some("alice")), b]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        let col = lines[0].find("STATE").unwrap();
        assert_eq!(lines[1].find("ready"), Some(col));
        assert_eq!(lines[2].find("locked"), Some(col));
        let col = lines[0].find("NAME").unwrap();
        assert_eq!(lines[1].find("alice"), Some(col));
        assert!(lines[2].ends_with("  -"));
    }

    #[test]
    fn show_aligns_fields_and_appends_the_qr_code() {
        let detail = AccountDetail {
            account: account(Some("al\x1b[31mice")),
            detail: None,
        };
        let out = account_show(Mode::Human, &detail, Some("QR\n"));
        assert!(out.starts_with(&format!("Account ID  05{}\n", "ab".repeat(32))));
        assert!(out.contains("Name        al\u{FFFD}[31mice\n"));
        assert!(out.contains("Created     2023-11-14 22:13:20 UTC\n"));
        assert!(out.ends_with("\nQR\n"));
    }

    #[test]
    fn dates_are_formatted_in_utc() {
        assert_eq!(format_utc_ms(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc_ms(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc_ms(-1), "1969-12-31 23:59:59 UTC");
    }
}
