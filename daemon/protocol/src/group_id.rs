//! Groups-v2 group IDs (`03…`): the group's Ed25519 public key with the `03` prefix
//! (protocol.md §1.1, §9.1).
//!
//! A group has a swarm like an account does, and the storage server tells the two apart by this
//! prefix: a `03` ID is signed for with the group's own Ed25519 key (no `pubkey_ed25519`
//! parameter), a `05` Account ID with the account's Ed25519 key. [`crate::AccountId`] only ever
//! holds `05` IDs; this type only ever holds `03` IDs.

use std::fmt;
use std::str::FromStr;

use crate::account_id::IdPrefix;
use crate::error_kind::{ErrorKind, HasKind};

/// A groups-v2 group ID: `0x03` followed by the group's 32-byte Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId([u8; GroupId::LEN]);

impl GroupId {
    /// Length of the binary form, prefix included.
    pub const LEN: usize = 33;
    /// Length of the hex form, prefix included.
    pub const HEX_LEN: usize = 2 * GroupId::LEN;

    /// The ID of the group whose Ed25519 public key is `ed25519_public`.
    pub fn from_ed25519_public(ed25519_public: [u8; 32]) -> GroupId {
        let mut bytes = [0u8; GroupId::LEN];
        bytes[0] = IdPrefix::Group.byte();
        bytes[1..].copy_from_slice(&ed25519_public);
        GroupId(bytes)
    }

    /// Parses the 33-byte binary form.
    pub fn from_bytes(bytes: &[u8]) -> Result<GroupId, GroupIdError> {
        let bytes: [u8; GroupId::LEN] = bytes
            .try_into()
            .map_err(|_| GroupIdError::WrongByteLength { got: bytes.len() })?;
        if bytes[0] != IdPrefix::Group.byte() {
            return Err(GroupIdError::WrongPrefix { prefix: bytes[0] });
        }
        Ok(GroupId(bytes))
    }

    /// The 33-byte binary form, prefix included.
    pub fn as_bytes(&self) -> &[u8; GroupId::LEN] {
        &self.0
    }

    /// The group's Ed25519 public key (the ID without its prefix).
    pub fn ed25519_public(&self) -> [u8; 32] {
        let mut key = [0u8; 32];
        key.copy_from_slice(&self.0[1..]);
        key
    }
}

impl FromStr for GroupId {
    type Err = GroupIdError;

    /// Parses 66 hex digits starting with `03` (either case; nothing else, no whitespace).
    fn from_str(s: &str) -> Result<GroupId, GroupIdError> {
        if s.len() != GroupId::HEX_LEN || !s.is_ascii() {
            return Err(GroupIdError::WrongLength {
                got: s.chars().count(),
            });
        }
        let bytes = hex::decode(s).map_err(|_| GroupIdError::NotHex)?;
        GroupId::from_bytes(&bytes)
    }
}

impl fmt::Display for GroupId {
    /// The 66-digit lower-case hex form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({self})")
    }
}

/// Why a text or binary group ID was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupIdError {
    /// The text is not 66 ASCII characters long.
    #[error("a group ID is 66 hex characters, got {got}")]
    WrongLength {
        /// How many characters the text has.
        got: usize,
    },
    /// The text is not hexadecimal.
    #[error("a group ID is hexadecimal")]
    NotHex,
    /// The ID does not start with `03`.
    #[error("a group ID starts with `03`, this one starts with `{prefix:02x}`")]
    WrongPrefix {
        /// The prefix byte found.
        prefix: u8,
    },
    /// The binary form is not 33 bytes long.
    #[error("a binary group ID is 33 bytes, got {got}")]
    WrongByteLength {
        /// How many bytes were given.
        got: usize,
    },
}

impl HasKind for GroupIdError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_and_bytes_round_trip() {
        let text = format!("03{}", "ab".repeat(32));
        let id: GroupId = text.parse().unwrap();
        assert_eq!(id.to_string(), text);
        assert_eq!(id.ed25519_public(), [0xab; 32]);
        assert_eq!(GroupId::from_ed25519_public([0xab; 32]), id);
        assert_eq!(GroupId::from_bytes(id.as_bytes()).unwrap(), id);
        assert_eq!(text.to_uppercase().parse::<GroupId>().unwrap(), id);
        assert_eq!(format!("{id:?}"), format!("GroupId({text})"));
    }

    #[test]
    fn parse_rejects_account_ids_and_garbage() {
        let account = format!("05{}", "ab".repeat(32));
        assert_eq!(
            account.parse::<GroupId>(),
            Err(GroupIdError::WrongPrefix { prefix: 5 })
        );
        assert_eq!(
            "03ab".parse::<GroupId>(),
            Err(GroupIdError::WrongLength { got: 4 })
        );
        assert_eq!(
            format!("03{}", "zz".repeat(32)).parse::<GroupId>(),
            Err(GroupIdError::NotHex)
        );
        // 66 bytes but not ASCII: a length error, never a panic.
        let text = format!("03{}é", "a".repeat(62));
        assert!(text.parse::<GroupId>().is_err());
        assert_eq!(
            GroupId::from_bytes(&[3; 32]),
            Err(GroupIdError::WrongByteLength { got: 32 })
        );
    }
}
