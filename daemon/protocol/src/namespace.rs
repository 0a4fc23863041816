//! Swarm namespaces: the separate mailboxes each account or group has in its swarm
//! (protocol.md §3.4).
//!
//! A namespace is a signed 16-bit number. Its value decides who may store and retrieve (the
//! storage server's rules are reproduced here as predicates), and its decimal text is part of
//! request signatures and message hashes — with the one exception that namespace 0 is written as
//! the *empty* string there (pitfall 1), which [`Namespace::signature_text`] encodes once for
//! everyone.

use std::fmt;

use crate::error_kind::{ErrorKind, HasKind};

/// A swarm namespace (`-32768..=32767`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Namespace(i16);

impl Namespace {
    /// 0: 1:1 messages and sync copies (public inbox: anyone may store).
    pub const DEFAULT: Namespace = Namespace(0);
    /// 2: the UserProfile config.
    pub const USER_PROFILE: Namespace = Namespace(2);
    /// 3: the Contacts config.
    pub const CONTACTS: Namespace = Namespace(3);
    /// 4: the ConvoInfoVolatile config.
    pub const CONVO_INFO_VOLATILE: Namespace = Namespace(4);
    /// 5: the UserGroups config.
    pub const USER_GROUPS: Namespace = Namespace(5);
    /// 11: groups v2, group messages.
    pub const GROUP_MESSAGES: Namespace = Namespace(11);
    /// 12: groups v2, keys.
    pub const GROUP_KEYS: Namespace = Namespace(12);
    /// 13: groups v2, the info config.
    pub const GROUP_INFO: Namespace = Namespace(13);
    /// 14: groups v2, the members config.
    pub const GROUP_MEMBERS: Namespace = Namespace(14);
    /// −10: legacy closed groups (deprecated; no authentication at all).
    pub const LEGACY_CLOSED_GROUP: Namespace = Namespace(-10);
    /// −11: groups v2 kick notices, readable by revoked subaccounts.
    pub const GROUP_REVOKED_RETRIEVABLE: Namespace = Namespace(-11);

    /// The namespace with this number.
    pub const fn new(number: i16) -> Namespace {
        Namespace(number)
    }

    /// The namespace's number.
    pub const fn get(self) -> i16 {
        self.0
    }

    /// The namespace as written in signed strings and message hashes: empty for namespace 0,
    /// decimal otherwise.
    pub fn signature_text(self) -> String {
        if self == Namespace::DEFAULT {
            String::new()
        } else {
            self.0.to_string()
        }
    }

    /// Anyone may store here without a signature (numbers divisible by 10).
    pub const fn is_public_inbox(self) -> bool {
        self.0 % 10 == 0
    }

    /// A public outbox: anyone may retrieve, the owner stores one message at a time
    /// (negative numbers of the form −(20k+1): −1, −21, −41, …).
    pub const fn is_public_outbox(self) -> bool {
        self.0 < 0 && (-(self.0 as i32)) % 20 == 1
    }

    /// `store` needs the owner's (or a subaccount's) signature.
    pub const fn store_requires_auth(self) -> bool {
        !self.is_public_inbox()
    }

    /// `retrieve` needs a signature (everything but the legacy closed-group namespace and public
    /// outboxes).
    pub const fn retrieve_requires_auth(self) -> bool {
        !(self.0 == Namespace::LEGACY_CLOSED_GROUP.0 || self.is_public_outbox())
    }

    /// Retrieval ignores subaccount revocation (negative numbers ending in 11: −11, −211, …).
    pub const fn ignores_subaccount_revocation(self) -> bool {
        self.0 < 0 && (-(self.0 as i32)) % 100 == 11
    }
}

impl fmt::Display for Namespace {
    /// The decimal number (as sent in the `namespace` parameter).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<i16> for Namespace {
    fn from(number: i16) -> Namespace {
        Namespace(number)
    }
}

impl TryFrom<i64> for Namespace {
    type Error = NamespaceError;

    /// A namespace from a JSON integer, rejecting numbers outside `i16` as the server does.
    fn try_from(number: i64) -> Result<Namespace, NamespaceError> {
        i16::try_from(number)
            .map(Namespace)
            .map_err(|_| NamespaceError::OutOfRange { number })
    }
}

/// The namespace argument of `delete_all`, `delete_before` and `expire_all`: one namespace or
/// all of them (`"all"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamespaceSelector {
    /// One namespace.
    One(Namespace),
    /// Every namespace of the account.
    All,
}

impl NamespaceSelector {
    /// As written in signed strings: `"all"`, or [`Namespace::signature_text`].
    pub fn signature_text(self) -> String {
        match self {
            NamespaceSelector::One(namespace) => namespace.signature_text(),
            NamespaceSelector::All => "all".to_owned(),
        }
    }
}

impl From<Namespace> for NamespaceSelector {
    fn from(namespace: Namespace) -> NamespaceSelector {
        NamespaceSelector::One(namespace)
    }
}

/// Why a namespace number was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NamespaceError {
    /// Outside `-32768..=32767`.
    #[error("namespace {number} is out of range (-32768..=32767)")]
    OutOfRange {
        /// The number given.
        number: i64,
    },
}

impl HasKind for NamespaceError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_zero_signs_as_the_empty_string() {
        assert_eq!(Namespace::DEFAULT.signature_text(), "");
        assert_eq!(Namespace::USER_PROFILE.signature_text(), "2");
        assert_eq!(Namespace::GROUP_REVOKED_RETRIEVABLE.signature_text(), "-11");
        assert_eq!(NamespaceSelector::All.signature_text(), "all");
        assert_eq!(
            NamespaceSelector::One(Namespace::DEFAULT).signature_text(),
            ""
        );
        assert_eq!(Namespace::DEFAULT.to_string(), "0");
    }

    #[test]
    fn access_rules_match_the_storage_server() {
        // The storage server's own examples (oxenss/common/namespace.h comments).
        for n in [0, 10, 400, -1230] {
            assert!(Namespace::new(n).is_public_inbox(), "{n}");
        }
        for n in [-1, -21, -981] {
            assert!(Namespace::new(n).is_public_outbox(), "{n}");
            assert!(!Namespace::new(n).retrieve_requires_auth(), "{n}");
        }
        for n in [-11, -211, -12311] {
            assert!(Namespace::new(n).ignores_subaccount_revocation(), "{n}");
        }
        assert!(!Namespace::GROUP_MESSAGES.ignores_subaccount_revocation());
        assert!(!Namespace::LEGACY_CLOSED_GROUP.retrieve_requires_auth());
        assert!(Namespace::DEFAULT.retrieve_requires_auth());
        assert!(!Namespace::DEFAULT.store_requires_auth());
        assert!(Namespace::USER_PROFILE.store_requires_auth());
        assert!(!Namespace::new(-21).is_public_inbox());
        // The extremes do not overflow.
        assert!(!Namespace::new(i16::MIN).is_public_outbox());
        assert!(!Namespace::new(i16::MIN).ignores_subaccount_revocation());
    }

    #[test]
    fn numbers_outside_i16_are_rejected() {
        assert_eq!(Namespace::try_from(-32768i64), Ok(Namespace::new(i16::MIN)));
        let err = Namespace::try_from(32768i64).unwrap_err();
        assert_eq!(err, NamespaceError::OutOfRange { number: 32768 });
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }
}
