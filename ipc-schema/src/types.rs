//! Wire types of the API: what methods take and return.
//!
//! Field names are part of the contract; new optional fields may be added in a minor
//! version, nothing may be removed or renamed without a major version bump.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An account as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccountInfo {
    /// The Account ID: `05` followed by 64 lowercase hex digits.
    pub account_id: String,
    /// Display name, if one was set. `null` while the account is locked.
    pub name: Option<String>,
    /// Which keystore holds the account's seed: `secret-service`, `keyutils` or `file`.
    pub keystore: String,
    /// Whether the account's keys and database are usable right now.
    pub state: AccountState,
    /// When the account was created or restored on this daemon (Unix milliseconds).
    pub created_at_ms: i64,
    /// D-Bus object path of the account.
    pub object_path: String,
}

/// Whether an account can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    /// Keys loaded, database open.
    Ready,
    /// The keyring holding its keys is locked; unlock it and the account becomes ready.
    Locked,
    /// Its keys or database could not be loaded; `detail` in `account.get` says why.
    Unavailable,
}

/// Parameters of `account.create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountParams {
    /// Display name for the new account.
    #[serde(default)]
    pub name: Option<String>,
}

/// Parameters of `account.restore`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreAccountParams {
    /// The 13-word recovery phrase (any case, any whitespace between words).
    pub phrase: String,
    /// Display name for the restored account.
    #[serde(default)]
    pub name: Option<String>,
}

impl std::fmt::Debug for RestoreAccountParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreAccountParams")
            .field("phrase", &"[redacted]")
            .field("name", &self.name)
            .finish()
    }
}

/// Parameters naming one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountRef {
    /// The Account ID.
    pub account_id: String,
}

/// Parameters of destructive or secret-revealing account methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmedAccountRef {
    /// The Account ID.
    pub account_id: String,
    /// Must be `true`: the caller confirms it means it.
    #[serde(default)]
    pub confirm: bool,
}

/// Result of `account.get`: the account plus why it is not ready, if it is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccountDetail {
    /// The account.
    #[serde(flatten)]
    pub account: AccountInfo,
    /// Why the account is locked or unavailable; `null` when ready.
    pub detail: Option<String>,
}

/// Result of `account.export_phrase`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecoveryPhrase {
    /// The Account ID the phrase restores.
    pub account_id: String,
    /// The recovery phrase. A secret: show it only to the account's owner.
    pub phrase: String,
}

impl std::fmt::Debug for RecoveryPhrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryPhrase")
            .field("account_id", &self.account_id)
            .field("phrase", &"[redacted]")
            .finish()
    }
}

/// Result of `account.delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Deleted {
    /// The Account ID that was deleted.
    pub account_id: String,
}

/// Result of `daemon.version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VersionInfo {
    /// The daemon's version (its crate version).
    pub version: String,
    /// The API schema version, [`crate::SCHEMA_VERSION`].
    pub schema_version: String,
}

/// Parameters of methods that take none. Accepts `{}`, `[]` or an absent `params`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}
