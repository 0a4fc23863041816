//! Every API method, defined once: its name, parameter type, result type and doc.
//!
//! The daemon's adapters dispatch on [`Method::NAME`] and the typed clients call through the
//! same types, so a method cannot differ between surfaces or between server and client.

use crate::types::*;
use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};

/// One API method.
pub trait Method {
    /// JSON-RPC method name, `group.verb`.
    const NAME: &'static str;
    /// D-Bus interface and member that expose the same method.
    const DBUS: (&'static str, &'static str);
    /// What the method does, for generated docs.
    const DOC: &'static str;
    /// Parameter type (a JSON object).
    type Params: Serialize + DeserializeOwned + JsonSchema;
    /// Result type.
    type Result: Serialize + DeserializeOwned + JsonSchema;
}

/// Describes a method without its types, for tables, docs and parity checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodInfo {
    /// JSON-RPC name.
    pub name: &'static str,
    /// D-Bus interface.
    pub dbus_interface: &'static str,
    /// D-Bus member name.
    pub dbus_member: &'static str,
    /// Documentation.
    pub doc: &'static str,
}

macro_rules! methods {
    ($( $ty:ident = $name:literal, ($iface:expr, $member:literal), $params:ty => $result:ty, $doc:literal; )*) => {
        $(
            #[doc = $doc]
            #[derive(Debug, Clone, Copy)]
            pub struct $ty;
            impl Method for $ty {
                const NAME: &'static str = $name;
                const DBUS: (&'static str, &'static str) = ($iface, $member);
                const DOC: &'static str = $doc;
                type Params = $params;
                type Result = $result;
            }
        )*
        /// Every method of the API.
        pub const ALL: &[MethodInfo] = &[
            $( MethodInfo { name: $name, dbus_interface: $iface, dbus_member: $member, doc: <$ty as Method>::DOC }, )*
        ];
    };
}

use crate::dbus::{
    ACCOUNT_INTERFACE as ACCOUNT, ACCOUNTS_INTERFACE as ACCOUNTS, DAEMON_INTERFACE as DAEMON,
    MESSAGES_INTERFACE as MESSAGES, NETWORK_INTERFACE as NETWORK,
};

methods! {
    AccountCreate = "account.create", (ACCOUNTS, "Create"), CreateAccountParams => AccountInfo,
        "Create a new account with a fresh random seed; its keys go to the keystore.";
    AccountRestore = "account.restore", (ACCOUNTS, "Restore"), RestoreAccountParams => AccountInfo,
        "Restore an account from its 13-word recovery phrase.";
    AccountList = "account.list", (ACCOUNTS, "List"), NoParams => Vec<AccountInfo>,
        "List every account this daemon holds.";
    AccountGet = "account.get", (ACCOUNT, "Get"), AccountRef => AccountDetail,
        "One account, with why it is not ready if it is not.";
    AccountExportPhrase = "account.export_phrase", (ACCOUNT, "ExportPhrase"), ConfirmedAccountRef => RecoveryPhrase,
        "Reveal the account's recovery phrase. Requires `confirm: true`.";
    AccountDelete = "account.delete", (ACCOUNT, "Delete"), ConfirmedAccountRef => Deleted,
        "Delete the account, its keys and its history from this machine. Requires `confirm: true`.";
    MessageSend = "message.send", (MESSAGES, "Send"), SendMessageParams => SentMessage,
        "Send a text message: it is in the durable outbox when this returns.";
    MessageList = "message.list", (MESSAGES, "List"), ListMessagesParams => Vec<MessageInfo>,
        "Messages of one conversation, newest first, paging backwards with `before`.";
    ConversationList = "conversation.list", (MESSAGES, "Conversations"), AccountScope => Vec<ConversationInfo>,
        "Conversations, most recent first.";
    NetworkStatus = "network.status", (NETWORK, "Status"), NoParams => crate::types::NetworkStatus,
        "Onion paths and their hops, guard nodes, swarms, clock offset and the last error.";
    DaemonVersion = "daemon.version", (DAEMON, "Version"), NoParams => VersionInfo,
        "The daemon's version and the API schema version.";
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn method_names_are_unique_on_both_surfaces() {
        let names: HashSet<_> = ALL.iter().map(|m| m.name).collect();
        let dbus: HashSet<_> = ALL
            .iter()
            .map(|m| (m.dbus_interface, m.dbus_member))
            .collect();
        assert_eq!(names.len(), ALL.len());
        assert_eq!(dbus.len(), ALL.len());
    }

    #[test]
    fn every_method_is_documented() {
        for m in ALL {
            assert!(m.doc.contains(' '), "{} has no doc", m.name);
        }
    }
}
