//! `sessionctl`: the scriptable command-line client of sessiond.
//!
//! The flow is parse, then connect, then run: [`args`] turns the command line into a
//! [`args::Cli`] without touching anything, `main` finds the socket and connects, and
//! [`commands`] makes the API calls and returns the text [`output`] rendered. Errors of every
//! step become a [`error::CliError`], which decides the exit status (see README.md).
//!
//! This crate depends on `sessiond-ipc` only, never on a daemon crate.

mod args;
mod commands;
mod error;
mod output;
mod prompt;
mod qr;

use args::Cli;
use clap::Parser;
use error::CliError;
use output::Mode;
use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;
use zeroize::Zeroize;

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() && args::wants_json(&argv) => {
            // A usage error of a script that asked for JSON: keep stderr parseable.
            let err = CliError::usage(clap_message(&e));
            return fail(Mode::Json, &err);
        }
        // Help, version, or a usage error for a person: clap prints and picks the status.
        Err(e) => e.exit(),
    };
    let mode = if cli.json { Mode::Json } else { Mode::Human };
    match run(cli, mode) {
        Ok(mut text) => {
            let written = write_stdout(&text);
            // The text may be a recovery phrase.
            text.zeroize();
            match written {
                Ok(()) => ExitCode::SUCCESS,
                // `sessionctl account list | head -1`: the reader has what it wanted.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => fail(mode, &CliError::io("writing to stdout", &e)),
            }
        }
        Err(err) => fail(mode, &err),
    }
}

/// Find the socket, connect, run the command.
fn run(cli: Cli, mode: Mode) -> Result<String, CliError> {
    let path = args::socket_path(
        cli.socket,
        std::env::var_os("SESSIOND_SOCKET"),
        std::env::var_os("XDG_RUNTIME_DIR"),
    )
    .ok_or_else(CliError::no_socket_path)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io("starting the async runtime", &e))?;
    runtime.block_on(async {
        let mut daemon = commands::Daemon::connect(path).await?;
        commands::run(cli.command, &mut daemon, mode).await
    })
}

/// Print `err` on stderr and return its exit status.
fn fail(mode: Mode, err: &CliError) -> ExitCode {
    // If stderr is gone too there is no one left to tell.
    let _ = std::io::stderr().write_all(output::error(mode, err).as_bytes());
    ExitCode::from(err.exit as u8)
}

fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// The first paragraph of a clap error on one line, without its `error: ` prefix.
fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let paragraph: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let joined = paragraph.join(" ");
    joined.strip_prefix("error: ").unwrap_or(&joined).to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_become_one_line_for_json() {
        let err = Cli::try_parse_from(["sessionctl", "account", "delete"]).unwrap_err();
        assert_eq!(
            clap_message(&err),
            "the following required arguments were not provided: <ACCOUNT_ID>"
        );
    }
}
