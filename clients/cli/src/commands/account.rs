//! `sessionctl account …`: create, restore, list, show, reveal the phrase, delete.

use super::Daemon;
use crate::args::{AccountCommand, QrStyle};
use crate::error::CliError;
use crate::output::{self, Mode};
use crate::prompt::{self, Expect};
use crate::qr::{self, Background};
use sessiond_ipc::methods::{
    AccountCreate, AccountDelete, AccountExportPhrase, AccountGet, AccountList, AccountRestore,
};
use sessiond_ipc::types::{
    AccountRef, ConfirmedAccountRef, CreateAccountParams, NoParams, RestoreAccountParams,
};
use zeroize::Zeroize;

/// How many leading characters of the Account ID confirm `account delete`.
const DELETE_CONFIRM_CHARS: usize = 8;

/// Run one `account` subcommand.
pub async fn run(cmd: AccountCommand, daemon: &mut Daemon, mode: Mode) -> Result<String, CliError> {
    match cmd {
        AccountCommand::Create { name } => {
            let params = CreateAccountParams { name: name.name };
            let account = daemon.call::<AccountCreate>(&params).await?;
            Ok(output::account_added(mode, &account, false))
        }
        AccountCommand::Restore { name } => {
            let phrase = prompt::read_phrase()?;
            let mut params = RestoreAccountParams {
                phrase: phrase.trim().to_owned(),
                name: name.name,
            };
            let result = daemon.call::<AccountRestore>(&params).await;
            params.phrase.zeroize();
            Ok(output::account_added(mode, &result?, true))
        }
        AccountCommand::List => {
            let accounts = daemon.call::<AccountList>(&NoParams {}).await?;
            Ok(output::account_list(mode, &accounts))
        }
        AccountCommand::Show { id, qr } => {
            let account_id = resolve(daemon, id).await?;
            let detail = daemon
                .call::<AccountGet>(&AccountRef { account_id })
                .await?;
            let background = match qr {
                QrStyle::DarkBg => Some(Background::Dark),
                QrStyle::LightBg => Some(Background::Light),
                QrStyle::None => None,
            };
            let drawing = match (mode, background) {
                (Mode::Human, Some(bg)) => {
                    Some(qr::render(&detail.account.account_id, bg).map_err(CliError::qr)?)
                }
                _ => None,
            };
            Ok(output::account_show(mode, &detail, drawing.as_deref()))
        }
        AccountCommand::Phrase { id, confirm } => {
            let account_id = resolve(daemon, id).await?;
            prompt::confirm(
                confirm.yes,
                "reveal the recovery phrase",
                &format!(
                    "The recovery phrase gives full control of account {account_id}.\n\
                     Type yes to show it: "
                ),
                &Expect::Yes,
            )?;
            let mut phrase = daemon
                .call::<AccountExportPhrase>(&ConfirmedAccountRef {
                    account_id,
                    confirm: true,
                })
                .await?;
            let out = output::phrase(mode, &phrase);
            phrase.phrase.zeroize();
            Ok(out)
        }
        AccountCommand::Delete { id, confirm } => {
            if !confirm.yes {
                // Look the account up first: a typo is reported before anything is asked, and
                // the prompt can name what is about to go.
                let detail = daemon
                    .call::<AccountGet>(&AccountRef {
                        account_id: id.clone(),
                    })
                    .await?;
                let name = detail
                    .account
                    .name
                    .as_deref()
                    .map(|n| format!(" ({})", output::printable(n)))
                    .unwrap_or_default();
                let prefix: String = id.chars().take(DELETE_CONFIRM_CHARS).collect();
                prompt::confirm(
                    false,
                    "delete the account",
                    &format!(
                        "This deletes account {id}{name}, its keys and its history from this \
                         machine.\nIt can only be restored from its recovery phrase.\n\
                         Type the first {DELETE_CONFIRM_CHARS} characters of the Account ID to \
                         confirm: "
                    ),
                    &Expect::Text(prefix),
                )?;
            }
            let deleted = daemon
                .call::<AccountDelete>(&ConfirmedAccountRef {
                    account_id: id,
                    confirm: true,
                })
                .await?;
            Ok(output::deleted(mode, &deleted))
        }
    }
}

/// The Account ID given, or the only account's when none was given.
async fn resolve(daemon: &mut Daemon, id: Option<String>) -> Result<String, CliError> {
    if let Some(id) = id {
        return Ok(id);
    }
    let mut accounts = daemon.call::<AccountList>(&NoParams {}).await?;
    match accounts.len() {
        0 => Err(CliError::no_accounts()),
        1 => Ok(accounts.remove(0).account_id),
        n => Err(CliError::ambiguous_account(n)),
    }
}
