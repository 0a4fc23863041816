//! Names on the D-Bus surface: the well-known bus name, object paths and interface names.
//!
//! Kept here so the daemon and every client spell them the same way.

/// Well-known name the daemon owns on the session bus.
pub const BUS_NAME: &str = "org.sessiond.Sessiond1";
/// Root object: carries the `Daemon` and `Accounts` interfaces and the ObjectManager.
pub const ROOT_PATH: &str = "/org/sessiond/Sessiond1";
/// Interface with daemon-wide methods (version, …).
pub const DAEMON_INTERFACE: &str = "org.sessiond.Sessiond1.Daemon";
/// Interface for creating, restoring and listing accounts.
pub const ACCOUNTS_INTERFACE: &str = "org.sessiond.Sessiond1.Accounts";
/// Interface of each account object.
pub const ACCOUNT_INTERFACE: &str = "org.sessiond.Sessiond1.Account";
/// Interface of each account object for its messages and conversations.
pub const MESSAGES_INTERFACE: &str = "org.sessiond.Sessiond1.Messages";
/// Interface with the network's state, at the root path.
pub const NETWORK_INTERFACE: &str = "org.sessiond.Sessiond1.Network";
/// Prefix of D-Bus error names; the suffix is [`crate::ErrorCode::name`].
pub const ERROR_PREFIX: &str = "org.sessiond.Sessiond1.Error";

/// Object path of one account: `/org/sessiond/Sessiond1/account/<account id>`.
///
/// Account IDs are hex, which is valid in an object path element as it is.
pub fn account_path(account_id: &str) -> String {
    format!("{ROOT_PATH}/account/{account_id}")
}
