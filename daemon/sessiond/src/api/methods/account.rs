//! `account.*`: create, restore, list, get, export the phrase, delete.

use crate::api::api_error;
use crate::service::{Account, AccountState, Service};
use sessiond_ipc::ApiError;
use sessiond_ipc::types::{
    AccountDetail, AccountInfo, AccountRef, ConfirmedAccountRef, CreateAccountParams, Deleted,
    RecoveryPhrase, RestoreAccountParams,
};

/// The wire form of an account.
pub fn to_wire(a: &Account) -> AccountInfo {
    let account_id = a.account_id.to_string();
    AccountInfo {
        object_path: sessiond_ipc::dbus::account_path(&account_id),
        account_id,
        name: a.name.clone(),
        keystore: a.keystore.as_str().to_owned(),
        state: match a.state {
            AccountState::Ready => sessiond_ipc::types::AccountState::Ready,
            AccountState::Locked => sessiond_ipc::types::AccountState::Locked,
            AccountState::Unavailable => sessiond_ipc::types::AccountState::Unavailable,
        },
        created_at_ms: a.created_at_ms,
    }
}

/// `account.create`
pub async fn create(svc: &Service, p: CreateAccountParams) -> Result<AccountInfo, ApiError> {
    svc.create_account(p.name)
        .await
        .map(|a| to_wire(&a))
        .map_err(|e| api_error(&e))
}

/// `account.restore`
pub async fn restore(svc: &Service, p: RestoreAccountParams) -> Result<AccountInfo, ApiError> {
    let phrase = zeroize::Zeroizing::new(p.phrase);
    svc.restore_account(&phrase, p.name)
        .await
        .map(|a| to_wire(&a))
        .map_err(|e| api_error(&e))
}

/// `account.list`
pub async fn list(svc: &Service) -> Result<Vec<AccountInfo>, ApiError> {
    Ok(svc.list_accounts().await.iter().map(to_wire).collect())
}

/// `account.get`
pub async fn get(svc: &Service, p: AccountRef) -> Result<AccountDetail, ApiError> {
    let a = svc
        .get_account(&p.account_id)
        .await
        .map_err(|e| api_error(&e))?;
    Ok(AccountDetail {
        detail: a.detail.clone(),
        account: to_wire(&a),
    })
}

/// `account.export_phrase`
pub async fn export_phrase(
    svc: &Service,
    p: ConfirmedAccountRef,
) -> Result<RecoveryPhrase, ApiError> {
    let phrase = svc
        .export_phrase(&p.account_id, p.confirm)
        .await
        .map_err(|e| api_error(&e))?;
    Ok(RecoveryPhrase {
        account_id: p.account_id.to_ascii_lowercase(),
        phrase: phrase.as_str().to_owned(),
    })
}

/// `account.delete`
pub async fn delete(svc: &Service, p: ConfirmedAccountRef) -> Result<Deleted, ApiError> {
    svc.delete_account(&p.account_id, p.confirm)
        .await
        .map_err(|e| api_error(&e))?;
    Ok(Deleted {
        account_id: p.account_id.to_ascii_lowercase(),
    })
}
