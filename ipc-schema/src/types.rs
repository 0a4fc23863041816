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

/// Parameters of `message.send`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessageParams {
    /// The sending account; may be omitted when the daemon holds exactly one account.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The recipient's Account ID (your own for Note to Self).
    pub to: String,
    /// The text (at most 2000 characters, as the official apps allow).
    pub text: String,
}

/// Result of `message.send`: the message is in the durable outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SentMessage {
    /// The message's id in this account.
    pub id: i64,
    /// Its envelope timestamp (Unix ms): also what the recipient sees as sent time.
    pub sent_at_ms: i64,
    /// `pending` until every swarm acknowledged it.
    pub state: MessageState,
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// In the outbox, not yet acknowledged by every swarm.
    Pending,
    /// Stored by the recipient's swarm (and our own).
    Sent,
    /// Sending gave up; see the event log for why.
    Failed,
    /// Received from the network.
    Received,
}

/// Parameters naming an account, optional when the daemon holds exactly one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountScope {
    /// The account; may be omitted when the daemon holds exactly one account.
    #[serde(default)]
    pub account_id: Option<String>,
}

/// A conversation as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationInfo {
    /// The other party's Account ID (your own for Note to Self).
    pub peer: String,
    /// `direct` or `note_to_self`.
    pub kind: String,
    /// Received messages not yet read.
    pub unread_count: i64,
    /// Sent time of the last message (Unix ms).
    pub last_message_at_ms: Option<i64>,
    /// Start of the last message's text.
    pub last_preview: Option<String>,
}

/// Parameters of `message.list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListMessagesParams {
    /// The account; may be omitted when the daemon holds exactly one account.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The conversation: the peer's Account ID.
    pub conversation: String,
    /// Only messages older than this message id (paging backwards).
    #[serde(default)]
    pub before: Option<i64>,
    /// At most this many (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A message as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MessageInfo {
    /// Id within the account.
    pub id: i64,
    /// The conversation's peer.
    pub conversation: String,
    /// `in` or `out`.
    pub direction: String,
    /// The sender's Account ID.
    pub sender: String,
    /// Envelope timestamp (Unix ms).
    pub sent_at_ms: i64,
    /// When this daemon stored it (Unix ms), for received messages.
    pub received_at_ms: Option<i64>,
    /// The text.
    pub text: Option<String>,
    /// Its state.
    pub state: MessageState,
}

/// Result of `network.status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NetworkStatus {
    /// `mainnet`, `local` or `custom`.
    pub network: String,
    /// Service nodes known.
    pub pool_size: u32,
    /// Guard nodes (Ed25519 keys, hex).
    pub guards: Vec<String>,
    /// Onion paths, each a list of hops.
    pub paths: Vec<PathInfo>,
    /// Per account: its swarm members (Ed25519 keys).
    pub swarms: Vec<SwarmInfo>,
    /// Network time minus local time (ms), learned from service nodes.
    pub clock_offset_ms: i64,
    /// The last network error, if any, for frontends to show why something fails.
    pub last_error: Option<String>,
}

/// One onion path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PathInfo {
    /// Hops, guard first: `ip:port` and Ed25519 key.
    pub hops: Vec<HopInfo>,
    /// Failures counted against it.
    pub failures: u32,
}

/// One hop of a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HopInfo {
    /// `ip:port`.
    pub address: String,
    /// Ed25519 key (hex).
    pub ed25519: String,
}

/// An account's swarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SwarmInfo {
    /// The account.
    pub account_id: String,
    /// Members' Ed25519 keys (hex).
    pub members: Vec<String>,
}
