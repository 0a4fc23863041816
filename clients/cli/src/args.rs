//! Every command and flag of `sessionctl`, defined once.
//!
//! Help text, usage errors and (later) man pages and shell completions all come from these
//! definitions. Parsing is pure: nothing here reads the terminal, the socket or the
//! environment (the environment's say in the socket path is passed to [`socket_path`]), so the
//! tests below exercise it with plain argument vectors.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

/// Exit statuses, shown at the end of `sessionctl --help`. Keep in sync with
/// [`crate::error::Exit`] and README.md.
const EXIT_CODES: &str = "\
Exit status:
  0  success
  1  the command failed: sessiond returned an error, the connection broke, or a
     confirmation was declined
  2  usage error: invalid arguments, or a confirmation is needed and stdin is not a
     terminal (pass --yes)
  3  no sessiond is running at the socket path

With --json, results are printed on stdout as JSON and errors on stderr as
{\"error\": {\"code\": \"<Name>\", \"message\": \"...\"}}, with the same exit statuses.";

/// Scriptable client of sessiond, the Session messenger daemon.
#[derive(Debug, Parser)]
#[command(
    name = "sessionctl",
    version,
    after_help = EXIT_CODES,
    propagate_version = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Path of sessiond's API socket [env: SESSIOND_SOCKET] [default:
    /// $XDG_RUNTIME_DIR/sessiond/api.sock]
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Print results as JSON on stdout, and errors as JSON on stderr
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, restore, inspect and delete accounts
    #[command(subcommand)]
    Account(AccountCommand),
    /// Ask the running daemon about itself
    #[command(subcommand)]
    Daemon(DaemonCommand),
    /// Send a text message (it is in the daemon's durable outbox when this returns)
    Send {
        /// Recipient's Account ID (your own for Note to Self)
        #[arg(value_name = "ACCOUNT_ID")]
        to: String,
        /// The text, or `-` to read it from stdin (e.g. `some-alert | sessionctl send ID -`)
        #[arg(value_name = "TEXT")]
        text: String,
        /// Sending account options.
        #[command(flatten)]
        account: AccountArg,
    },
    /// List conversations, most recent first
    Conversations {
        /// Account options.
        #[command(flatten)]
        account: AccountArg,
    },
    /// Show the messages of a conversation, newest last
    Messages {
        /// The other party's Account ID
        #[arg(value_name = "ACCOUNT_ID")]
        peer: String,
        /// How many of the latest messages to show
        #[arg(long, default_value_t = 50, value_name = "N")]
        limit: u32,
        /// Only messages older than this message id
        #[arg(long, value_name = "ID")]
        before: Option<i64>,
        /// Keep running and print new messages and state changes as they come
        #[arg(long, short = 'f')]
        follow: bool,
        /// Account options.
        #[command(flatten)]
        account: AccountArg,
    },
    /// Show onion paths, guard nodes, swarms, clock offset and the last network error
    Network,
}

/// `--account`, for commands that act for one account.
#[derive(Debug, Args)]
pub struct AccountArg {
    /// Which account (may be omitted when the daemon holds exactly one)
    #[arg(long, value_name = "ACCOUNT_ID")]
    pub account: Option<String>,
}

/// `sessionctl account …`
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create a new account with a fresh random recovery phrase
    Create {
        /// Name options.
        #[command(flatten)]
        name: NameArg,
    },
    /// Restore an account from its 13-word recovery phrase
    ///
    /// The phrase is read from stdin when stdin is not a terminal, otherwise it is asked for
    /// without echo. It is never taken from the command line, where other users could see it.
    Restore {
        /// Name options.
        #[command(flatten)]
        name: NameArg,
    },
    /// List the daemon's accounts
    List,
    /// Show one account, with a QR code of its Account ID
    Show {
        /// Account ID (may be omitted when there is exactly one account)
        #[arg(value_name = "ACCOUNT_ID")]
        id: Option<String>,
        /// How to draw the QR code
        #[arg(long, value_enum, value_name = "STYLE", default_value_t = QrStyle::DarkBg)]
        qr: QrStyle,
    },
    /// Print an account's recovery phrase (a secret: anyone who has it owns the account)
    Phrase {
        /// Account ID (may be omitted when there is exactly one account)
        #[arg(value_name = "ACCOUNT_ID")]
        id: Option<String>,
        /// Confirmation options.
        #[command(flatten)]
        confirm: ConfirmArg,
    },
    /// Delete an account, its keys and its history from this machine
    Delete {
        /// Account ID of the account to delete
        #[arg(value_name = "ACCOUNT_ID")]
        id: String,
        /// Confirmation options.
        #[command(flatten)]
        confirm: ConfirmArg,
    },
}

/// `sessionctl daemon …`
#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Print the daemon's version and API schema version
    Version,
}

/// `--name`, shared by `create` and `restore`.
#[derive(Debug, Args)]
pub struct NameArg {
    /// Display name of the account
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// `--yes`, shared by the commands that reveal a secret or destroy data.
#[derive(Debug, Args)]
pub struct ConfirmArg {
    /// Do not ask for confirmation (needed when stdin is not a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// How `account show` draws the QR code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QrStyle {
    /// For terminals with light text on a dark background
    DarkBg,
    /// For terminals with dark text on a light background
    LightBg,
    /// No QR code
    None,
}

/// The socket to connect to: `--socket`, else `$SESSIOND_SOCKET`, else
/// `$XDG_RUNTIME_DIR/sessiond/api.sock`; an empty variable counts as unset. `None` when none
/// of them is known.
pub fn socket_path(
    flag: Option<PathBuf>,
    socket_env: Option<OsString>,
    runtime_dir: Option<OsString>,
) -> Option<PathBuf> {
    let non_empty = |v: Option<OsString>| v.filter(|v| !v.is_empty());
    flag.or_else(|| non_empty(socket_env).map(PathBuf::from))
        .or_else(|| {
            non_empty(runtime_dir).map(|d| PathBuf::from(d).join("sessiond").join("api.sock"))
        })
}

/// Whether `--json` appears among the raw arguments, so that an argument vector clap rejects
/// still gets its usage error in JSON. Stops at `--`.
pub fn wants_json<I, T>(args: I) -> bool
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    args.into_iter()
        .map(Into::into)
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("sessionctl").chain(args.iter().copied()))
    }

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn delete_without_account_id_is_a_usage_error() {
        let err = parse(&["account", "delete"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn json_is_accepted_before_and_after_the_subcommand() {
        for args in [
            &["--json", "account", "list"][..],
            &["account", "--json", "list"],
            &["account", "list", "--json"],
            &["daemon", "version", "--json"],
        ] {
            assert!(parse(args).unwrap().json, "{args:?}");
        }
        assert!(!parse(&["account", "list"]).unwrap().json);
    }

    #[test]
    fn socket_is_accepted_globally() {
        let cli = parse(&["account", "show", "--socket", "/tmp/x.sock"]).unwrap();
        assert_eq!(cli.socket, Some(PathBuf::from("/tmp/x.sock")));
    }

    #[test]
    fn restore_takes_no_phrase_argument() {
        let err = parse(&["account", "restore", "abbey", "abbey"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownArgument);
        assert!(parse(&["account", "restore", "--phrase", "x"]).is_err());
    }

    #[test]
    fn create_takes_an_optional_name() {
        let cli = parse(&["account", "create", "--name", "alice"]).unwrap();
        match cli.command {
            Command::Account(AccountCommand::Create { name }) => {
                assert_eq!(name.name.as_deref(), Some("alice"))
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["account", "create"]).is_ok());
    }

    #[test]
    fn show_and_phrase_may_omit_the_account_id() {
        match parse(&["account", "show"]).unwrap().command {
            Command::Account(AccountCommand::Show { id, qr }) => {
                assert_eq!(id, None);
                assert_eq!(qr, QrStyle::DarkBg);
            }
            other => panic!("{other:?}"),
        }
        match parse(&["account", "phrase", "--yes"]).unwrap().command {
            Command::Account(AccountCommand::Phrase { id, confirm }) => {
                assert_eq!(id, None);
                assert!(confirm.yes);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn delete_takes_the_id_and_yes() {
        match parse(&["account", "delete", "-y", "05ab"]).unwrap().command {
            Command::Account(AccountCommand::Delete { id, confirm }) => {
                assert_eq!(id, "05ab");
                assert!(confirm.yes);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_subcommand_is_a_usage_error() {
        assert_eq!(parse(&["account"]).unwrap_err().exit_code(), 2);
        assert_eq!(parse(&[]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn help_documents_the_exit_statuses() {
        let help = Cli::command().render_help().to_string();
        assert!(help.contains("Exit status:"), "{help}");
        assert!(help.contains("3  no sessiond is running"), "{help}");
    }

    #[test]
    fn socket_flag_wins_over_the_environment_which_wins_over_the_runtime_dir() {
        let run = || Some(OsString::from("/run/user/1"));
        assert_eq!(
            socket_path(Some("/a.sock".into()), Some("/b.sock".into()), run()),
            Some(PathBuf::from("/a.sock"))
        );
        assert_eq!(
            socket_path(None, Some("/b.sock".into()), run()),
            Some(PathBuf::from("/b.sock"))
        );
        assert_eq!(
            socket_path(None, None, run()),
            Some(PathBuf::from("/run/user/1/sessiond/api.sock"))
        );
    }

    #[test]
    fn empty_socket_variables_count_as_unset() {
        assert_eq!(
            socket_path(None, Some("".into()), Some("/run/user/1".into())),
            Some(PathBuf::from("/run/user/1/sessiond/api.sock"))
        );
        assert_eq!(socket_path(None, Some("".into()), Some("".into())), None);
        assert_eq!(socket_path(None, None, None), None);
    }

    #[test]
    fn wants_json_sees_the_flag_anywhere_before_double_dash() {
        assert!(wants_json(["sessionctl", "account", "--json", "bogus"]));
        assert!(!wants_json(["sessionctl", "account", "bogus"]));
        assert!(!wants_json(["sessionctl", "--", "--json"]));
        assert!(!wants_json(["--json"]));
    }
}
