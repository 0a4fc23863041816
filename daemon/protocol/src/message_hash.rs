//! Storage-server message hashes (protocol.md §3.7).
//!
//! Every message in a swarm is named by a hash the storage server computes from its owner,
//! namespace and bytes: `base64_nopad(BLAKE2b-32(prefix || pubkey32 || NS || data))`, where `NS` is
//! the decimal namespace, empty for namespace 0. Clients use it to deduplicate what they
//! retrieve, as `last_hash` when polling, and to name messages in `delete`, `expire` and
//! `get_expiries` (whose signatures cover the hash strings as sent). Computing it locally lets a
//! sender know the hash of what it stored and lets the devnet act as a server.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use crate::error_kind::{ErrorKind, HasKind};
use crate::message::sealed::blake2b;
use crate::namespace::Namespace;
use crate::storage_auth::SwarmPubkey;

/// A message hash: 43 characters of unpadded standard base64 (32 bytes).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageHash(String);

impl MessageHash {
    /// Length of the text form.
    pub const LEN: usize = 43;

    /// The hash the storage server gives `data` stored to `owner` in `namespace`.
    pub fn compute(owner: &SwarmPubkey, namespace: Namespace, data: &[u8]) -> MessageHash {
        let owner = owner.to_bytes();
        let digest: [u8; 32] =
            blake2b(None, &[&owner, namespace.signature_text().as_bytes(), data]);
        MessageHash(STANDARD_NO_PAD.encode(digest))
    }

    /// The 43-character text, as sent and signed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for MessageHash {
    type Err = MessageHashError;

    /// Accepts exactly 43 characters of the standard base64 alphabet (what the storage server
    /// accepts as `last_hash`).
    fn from_str(s: &str) -> Result<MessageHash, MessageHashError> {
        if s.len() != MessageHash::LEN {
            return Err(MessageHashError::WrongLength {
                got: s.chars().count(),
            });
        }
        if let Some(position) = s
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'+' || b == b'/'))
        {
            return Err(MessageHashError::NotBase64 {
                position: position + 1,
            });
        }
        Ok(MessageHash(s.to_owned()))
    }
}

impl fmt::Display for MessageHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MessageHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageHash({})", self.0)
    }
}

/// Why a message hash was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageHashError {
    /// Not 43 characters long.
    #[error("a message hash is 43 base64 characters, got {got}")]
    WrongLength {
        /// How many characters were given.
        got: usize,
    },
    /// A character outside the base64 alphabet (padding is not allowed).
    #[error("a message hash is base64 without padding; byte {position} is not")]
    NotBase64 {
        /// 1-based position of the first offending byte.
        position: usize,
    },
}

impl HasKind for MessageHashError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Malformed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account_id::AccountId;

    #[test]
    fn namespace_and_owner_change_the_hash() {
        let owner = SwarmPubkey::Account(AccountId::from_x25519_public([1; 32]));
        let base = MessageHash::compute(&owner, Namespace::DEFAULT, b"data");
        assert_eq!(base.as_str().len(), MessageHash::LEN);
        assert_ne!(
            base,
            MessageHash::compute(&owner, Namespace::new(1), b"data")
        );
        let group = SwarmPubkey::Group(crate::group_id::GroupId::from_ed25519_public([1; 32]));
        assert_ne!(
            base,
            MessageHash::compute(&group, Namespace::DEFAULT, b"data")
        );
        assert_eq!(base.as_str().parse::<MessageHash>().unwrap(), base);
    }

    #[test]
    fn parse_rejects_wrong_length_padding_and_other_alphabets() {
        let good = "4sMyAuaZlMwww3oFvfhazfw7ASx/7TDtO+TVc8aAjHs";
        assert!(good.parse::<MessageHash>().is_ok());
        assert_eq!(
            format!("{good}=").parse::<MessageHash>(),
            Err(MessageHashError::WrongLength { got: 44 })
        );
        let url_safe = good.replace('/', "_");
        assert_eq!(
            url_safe.parse::<MessageHash>(),
            Err(MessageHashError::NotBase64 { position: 28 })
        );
        let non_ascii = format!("{}é", &good[..41]);
        assert!(non_ascii.parse::<MessageHash>().is_err());
    }
}
