//! `sessionctl daemon …`: questions about the running daemon itself.

use super::Daemon;
use crate::args::DaemonCommand;
use crate::error::CliError;
use crate::output::{self, Mode};
use sessiond_ipc::methods::DaemonVersion;
use sessiond_ipc::types::NoParams;

/// Run one `daemon` subcommand.
pub async fn run(cmd: DaemonCommand, daemon: &mut Daemon, mode: Mode) -> Result<String, CliError> {
    match cmd {
        DaemonCommand::Version => {
            let version = daemon.call::<DaemonVersion>(&NoParams {}).await?;
            Ok(output::version(mode, &version))
        }
    }
}
