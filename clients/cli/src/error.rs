//! What can make a command fail, with the exit status, stable code name and hint of each.
//!
//! Errors from the daemon keep the API's [`ErrorCode`] name; failures found by `sessionctl`
//! itself get a name of their own (listed in README.md). The hint texts live here, in one
//! table, so every command gives the same advice for the same error.

use sessiond_ipc::ErrorCode;
use sessiond_ipc::client::ClientError;
use std::path::Path;

/// Exit statuses. Keep in sync with the `--help` text in [`crate::args`] and README.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command failed (the daemon returned an error, the connection broke, or the user
    /// declined a confirmation).
    Failed = 1,
    /// The command line cannot be run as given.
    Usage = 2,
    /// No daemon listens at the socket path.
    NoDaemon = 3,
}

/// A failed command, ready to be shown to a person or a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// Which exit status the process ends with.
    pub exit: Exit,
    /// Stable name for scripts: an API [`ErrorCode`] name or one of `sessionctl`'s own.
    pub code: &'static str,
    /// What went wrong, in one line.
    pub message: String,
    /// What to do about it, if there is something useful to say.
    pub hint: Option<String>,
}

impl CliError {
    fn new(exit: Exit, code: &'static str, message: impl Into<String>) -> Self {
        CliError {
            exit,
            code,
            message: message.into(),
            hint: None,
        }
    }

    fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// No daemon listens at `path`.
    pub fn not_running(path: &Path) -> Self {
        CliError::new(
            Exit::NoDaemon,
            "DaemonNotRunning",
            format!(
                "no sessiond is running (socket {}): start it with `sessiond`",
                path.display()
            ),
        )
    }

    /// Neither `--socket`, `SESSIOND_SOCKET` nor `XDG_RUNTIME_DIR` names a socket.
    pub fn no_socket_path() -> Self {
        CliError::new(
            Exit::Usage,
            "Usage",
            "no socket path: XDG_RUNTIME_DIR is not set",
        )
        .with_hint("pass --socket PATH or set SESSIOND_SOCKET")
    }

    /// clap rejected the command line; `message` is its rendered text.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(Exit::Usage, "Usage", message)
    }

    /// A confirmation is needed but there is no terminal to ask on.
    pub fn confirmation_needs_terminal(what: &str) -> Self {
        CliError::new(
            Exit::Usage,
            "ConfirmationRequired",
            format!("refusing to {what} without confirmation: stdin is not a terminal"),
        )
        .with_hint("pass --yes to confirm")
    }

    /// The user did not confirm.
    pub fn aborted() -> Self {
        CliError::new(Exit::Failed, "Aborted", "aborted: not confirmed")
    }

    /// The account to act on was omitted and the daemon has none.
    pub fn no_accounts() -> Self {
        CliError::new(Exit::Failed, "AccountNotFound", "sessiond has no accounts")
            .with_hint("create one with `sessionctl account create`")
    }

    /// The account to act on was omitted and the daemon has several.
    pub fn ambiguous_account(count: usize) -> Self {
        CliError::new(
            Exit::Failed,
            "AmbiguousAccount",
            format!("sessiond has {count} accounts: say which one by its Account ID"),
        )
        .with_hint("see `sessionctl account list`")
    }

    /// Reading the recovery phrase gave nothing usable.
    pub fn empty_phrase(source: &str) -> Self {
        CliError::new(
            Exit::Failed,
            "InvalidPhrase",
            format!("no recovery phrase was given on {source}"),
        )
    }

    /// Reading from or writing to the terminal or a standard stream failed.
    pub fn io(what: &str, err: &std::io::Error) -> Self {
        CliError::new(Exit::Failed, "Io", format!("{what}: {err}"))
    }

    /// The QR code could not be drawn.
    pub fn qr(err: impl std::fmt::Display) -> Self {
        CliError::new(
            Exit::Failed,
            "Internal",
            format!("cannot draw the QR code: {err}"),
        )
    }

    /// An error the daemon returned, with the hint for its code.
    pub fn api(code: ErrorCode, message: String) -> Self {
        let err = CliError::new(Exit::Failed, code.name(), message);
        match hint_for(code) {
            Some(hint) => err.with_hint(hint),
            None => err,
        }
    }
}

/// What to suggest for each API error code.
fn hint_for(code: ErrorCode) -> Option<&'static str> {
    Some(match code {
        ErrorCode::KeyringLocked => "unlock your keyring and retry",
        ErrorCode::KeyringUnavailable => {
            "start a Secret Service (such as gnome-keyring), or run sessiond with `--keystore file`"
        }
        ErrorCode::AccountNotFound | ErrorCode::AccountExists => "see `sessionctl account list`",
        ErrorCode::InvalidAccountId => {
            "an Account ID is 05 followed by 64 hex digits; see `sessionctl account list`"
        }
        ErrorCode::InvalidPhrase => "check the words against your written-down phrase",
        ErrorCode::MethodNotFound | ErrorCode::InvalidParams => {
            "sessionctl and sessiond may be different versions; see `sessionctl daemon version`"
        }
        ErrorCode::ShuttingDown => "sessiond is shutting down; start it again with `sessiond`",
        ErrorCode::Internal => "this is a bug in sessiond; please report it",
        _ => return None,
    })
}

impl CliError {
    /// Convert an error of the socket client; `path` is the socket tried.
    pub fn from_client(err: ClientError, path: &Path) -> Self {
        match err {
            ClientError::Api(e) => CliError::api(e.code, e.message),
            ClientError::NotRunning { .. } => CliError::not_running(path),
            ClientError::NoRuntimeDir => CliError::no_socket_path(),
            ClientError::Closed => CliError::new(
                Exit::Failed,
                "ConnectionClosed",
                "sessiond closed the connection before answering",
            )
            .with_hint("see sessiond's log"),
            e @ ClientError::Io { .. } => CliError::new(Exit::Failed, "Io", e.to_string()),
            e @ ClientError::Protocol(_) => {
                CliError::new(Exit::Failed, "Protocol", e.to_string()).with_hint(
                    "sessionctl and sessiond may be different versions; see `sessionctl daemon version`",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessiond_ipc::ApiError;

    #[test]
    fn daemon_errors_keep_their_code_and_exit_1() {
        let err = CliError::from_client(
            ClientError::Api(ApiError::new(
                ErrorCode::KeyringLocked,
                "the keyring is locked",
            )),
            Path::new("/s"),
        );
        assert_eq!(err.exit, Exit::Failed);
        assert_eq!(err.code, "KeyringLocked");
        assert_eq!(err.message, "the keyring is locked");
        assert_eq!(err.hint.as_deref(), Some("unlock your keyring and retry"));
    }

    #[test]
    fn account_not_found_points_at_the_list() {
        let err = CliError::api(ErrorCode::AccountNotFound, "no such account".into());
        assert_eq!(err.hint.as_deref(), Some("see `sessionctl account list`"));
    }

    #[test]
    fn no_daemon_exits_3_and_names_the_socket() {
        let err = CliError::from_client(
            ClientError::NotRunning {
                path: "/run/x.sock".into(),
            },
            Path::new("/run/x.sock"),
        );
        assert_eq!(err.exit as i32, 3);
        assert_eq!(
            err.message,
            "no sessiond is running (socket /run/x.sock): start it with `sessiond`"
        );
    }
}
