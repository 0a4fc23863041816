//! The commands, run against a connected daemon.
//!
//! `main` parses the command line first and connects second; each command then makes its API
//! calls through [`Daemon`] and returns the text for stdout, rendered by [`crate::output`].

mod account;
mod daemon;
mod message;

use crate::args::Command;
use crate::error::CliError;
use crate::output::Mode;
use sessiond_ipc::Method;
use sessiond_ipc::client::SocketClient;
use std::path::PathBuf;

/// A connection to sessiond whose errors are already [`CliError`]s.
pub struct Daemon {
    /// The typed socket client.
    client: SocketClient,
    /// The socket path, for error messages.
    path: PathBuf,
}

impl Daemon {
    /// Connect to the socket at `path`.
    pub async fn connect(path: PathBuf) -> Result<Self, CliError> {
        let client = SocketClient::connect(&path)
            .await
            .map_err(|e| CliError::from_client(e, &path))?;
        Ok(Daemon { client, path })
    }

    /// Call method `M`.
    pub async fn call<M: Method>(&mut self, params: &M::Params) -> Result<M::Result, CliError> {
        self.client
            .call::<M>(params)
            .await
            .map_err(|e| CliError::from_client(e, &self.path))
    }
}

/// Run `command`; the result is what to print on stdout.
pub async fn run(command: Command, daemon: &mut Daemon, mode: Mode) -> Result<String, CliError> {
    match command {
        Command::Account(cmd) => account::run(cmd, daemon, mode).await,
        Command::Daemon(cmd) => daemon::run(cmd, daemon, mode).await,
        Command::Send { to, text, account } => {
            message::send(daemon, mode, account.account, to, text).await
        }
        Command::Conversations { account } => {
            message::conversations(daemon, mode, account.account).await
        }
        Command::Messages {
            peer,
            limit,
            before,
            follow,
            account,
        } => message::messages(daemon, mode, account.account, peer, limit, before, follow).await,
        Command::Network => message::network(daemon, mode).await,
    }
}
