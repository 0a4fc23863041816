//! Account IDs (`05…`) and the one-byte prefixes that tell the kinds of 33-byte IDs apart.
//!
//! An Account ID is what users exchange to reach each other: `0x05` followed by the account's
//! X25519 public key (protocol.md §1.1). Other IDs with the same shape but another prefix exist
//! (groups, community-blinded IDs, …); [`IdPrefix`] names them so that a parser can tell the user
//! *which* wrong kind of ID they pasted, and so that later modules can model those IDs too.
//! [`AccountId`] itself only ever holds a `05` ID.

use std::fmt;
use std::str::FromStr;

use crate::error_kind::{ErrorKind, HasKind};

/// The first byte of a 33-byte Session ID, telling what the other 32 bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[repr(u8)]
pub enum IdPrefix {
    /// `00`: an unblinded Ed25519 public key, as sent in community (SOGS) request auth.
    Unblinded = 0x00,
    /// `03`: a groups-v2 group; the key is the group's Ed25519 public key.
    Group = 0x03,
    /// `05`: a standard Account ID; the key is the account's X25519 public key.
    Standard = 0x05,
    /// `07`: the file server's "version check" blinded key.
    Version = 0x07,
    /// `15`: a community-blinded ID (blind15).
    Blinded15 = 0x15,
    /// `25`: a community-blinded ID (blind25).
    Blinded25 = 0x25,
}

impl IdPrefix {
    /// The prefix for this byte, if it is one Session uses.
    pub fn from_byte(byte: u8) -> Option<IdPrefix> {
        match byte {
            0x00 => Some(IdPrefix::Unblinded),
            0x03 => Some(IdPrefix::Group),
            0x05 => Some(IdPrefix::Standard),
            0x07 => Some(IdPrefix::Version),
            0x15 => Some(IdPrefix::Blinded15),
            0x25 => Some(IdPrefix::Blinded25),
            _ => None,
        }
    }

    /// The prefix byte as it appears on the wire.
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// A short phrase naming what IDs with this prefix are, for error messages.
    pub fn description(self) -> &'static str {
        match self {
            IdPrefix::Unblinded => "an unblinded community key",
            IdPrefix::Group => "a group ID",
            IdPrefix::Standard => "an Account ID",
            IdPrefix::Version => "a file-server version key",
            IdPrefix::Blinded15 | IdPrefix::Blinded25 => {
                "a blinded community ID, which only the community server can map to an account"
            }
        }
    }
}

impl fmt::Display for IdPrefix {
    /// Two lower-case hex digits, as the prefix appears in a hex ID.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}", self.byte())
    }
}

/// An Account ID: the prefix byte `0x05` followed by the account's 32-byte X25519 public key.
///
/// Its text form is 66 lower-case hex digits starting with `05`. Parsing accepts upper-case hex
/// too but nothing else: no surrounding whitespace, no other prefix.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId([u8; AccountId::LEN]);

impl AccountId {
    /// Length of the binary form, prefix included.
    pub const LEN: usize = 33;
    /// Length of the hex form, prefix included.
    pub const HEX_LEN: usize = 2 * AccountId::LEN;

    /// The Account ID of the account whose X25519 public key is `x25519_public`.
    pub fn from_x25519_public(x25519_public: [u8; 32]) -> AccountId {
        let mut bytes = [0u8; AccountId::LEN];
        bytes[0] = IdPrefix::Standard.byte();
        bytes[1..].copy_from_slice(&x25519_public);
        AccountId(bytes)
    }

    /// Parses the 33-byte binary form (as the storage server and config messages carry it).
    pub fn from_bytes(bytes: &[u8]) -> Result<AccountId, AccountIdError> {
        let bytes: [u8; AccountId::LEN] = bytes
            .try_into()
            .map_err(|_| AccountIdError::WrongByteLength { got: bytes.len() })?;
        check_prefix(bytes[0])?;
        Ok(AccountId(bytes))
    }

    /// The 33-byte binary form, prefix included.
    pub fn as_bytes(&self) -> &[u8; AccountId::LEN] {
        &self.0
    }

    /// The account's X25519 public key (the ID without its prefix).
    pub fn x25519_public(&self) -> [u8; 32] {
        let mut key = [0u8; 32];
        key.copy_from_slice(&self.0[1..]);
        key
    }
}

fn check_prefix(byte: u8) -> Result<(), AccountIdError> {
    if byte == IdPrefix::Standard.byte() {
        Ok(())
    } else {
        Err(AccountIdError::WrongPrefix { prefix: byte })
    }
}

impl FromStr for AccountId {
    type Err = AccountIdError;

    fn from_str(s: &str) -> Result<AccountId, AccountIdError> {
        let got = s.chars().count();
        if got != AccountId::HEX_LEN {
            return Err(AccountIdError::WrongLength { got });
        }
        let mut bytes = [0u8; AccountId::LEN];
        for (index, character) in s.chars().enumerate() {
            let digit = character.to_digit(16).ok_or(AccountIdError::NotHex {
                position: index + 1,
                character,
            })?;
            // `index < HEX_LEN` (checked above), so every digit has its byte.
            if let Some(byte) = bytes.get_mut(index / 2) {
                *byte = (*byte << 4) | digit as u8;
            }
        }
        check_prefix(bytes[0])?;
        Ok(AccountId(bytes))
    }
}

impl fmt::Display for AccountId {
    /// The 66-digit lower-case hex form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({self})")
    }
}

/// Why a text or binary Account ID was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountIdError {
    /// The text is not 66 characters long.
    #[error("an Account ID is 66 hex characters, got {got}{}", length_hint(*.got))]
    WrongLength {
        /// How many characters (not bytes) the text has.
        got: usize,
    },
    /// A character is not a hex digit.
    #[error("an Account ID is hexadecimal, but character {position} is {character:?}")]
    NotHex {
        /// 1-based position of the first offending character.
        position: usize,
        /// The offending character.
        character: char,
    },
    /// The ID is well-formed but does not start with `05`.
    #[error("an Account ID starts with `05`, this one starts with `{prefix:02x}`{}", prefix_hint(*.prefix))]
    WrongPrefix {
        /// The prefix byte found.
        prefix: u8,
    },
    /// The binary form is not 33 bytes long.
    #[error("a binary Account ID is 33 bytes, got {got}")]
    WrongByteLength {
        /// How many bytes were given.
        got: usize,
    },
}

fn length_hint(got: usize) -> &'static str {
    if got == 64 {
        " (is the `05` prefix missing?)"
    } else {
        ""
    }
}

fn prefix_hint(prefix: u8) -> String {
    match IdPrefix::from_byte(prefix) {
        Some(known) => format!(" ({known}… is {})", known.description()),
        None => String::new(),
    }
}

impl HasKind for AccountIdError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0512742fb4ac033a8a33f5776aa0e7e88f35f7af9f65dee31e57fbc7d6f8664b12";

    #[test]
    fn parse_then_display_round_trips() {
        let id: AccountId = ID.parse().unwrap();
        assert_eq!(id.to_string(), ID);
        assert_eq!(id.as_bytes()[0], 0x05);
        assert_eq!(hex::encode(id.x25519_public()), &ID[2..]);
        assert_eq!(AccountId::from_x25519_public(id.x25519_public()), id);
        assert_eq!(AccountId::from_bytes(id.as_bytes()).unwrap(), id);
        assert_eq!(format!("{id:?}"), format!("AccountId({ID})"));
    }

    #[test]
    fn parse_accepts_upper_case_and_displays_lower_case() {
        let id: AccountId = ID.to_uppercase().parse().unwrap();
        assert_eq!(id.to_string(), ID);
    }

    #[test]
    fn parse_rejects_wrong_length_and_says_how_long_it_was() {
        for (text, got) in [("", 0), ("05", 2), (&ID[..65], 65), (&ID[2..], 64)] {
            let err = text.parse::<AccountId>().unwrap_err();
            assert_eq!(err, AccountIdError::WrongLength { got });
            assert!(err.to_string().contains(&format!("got {got}")), "{err}");
        }
        let missing_prefix = ID[2..].parse::<AccountId>().unwrap_err();
        assert!(missing_prefix.to_string().contains("prefix missing"));
    }

    #[test]
    fn parse_does_not_trim_whitespace() {
        for text in [
            format!(" {ID}"),
            format!("{ID}\n"),
            format!(" {}", &ID[1..]),
        ] {
            assert!(text.parse::<AccountId>().is_err(), "{text:?}");
        }
        let err = format!(" {}", &ID[1..]).parse::<AccountId>().unwrap_err();
        assert_eq!(
            err,
            AccountIdError::NotHex {
                position: 1,
                character: ' '
            }
        );
    }

    #[test]
    fn parse_names_the_first_non_hex_character_by_position() {
        let mut text = ID.to_string();
        text.replace_range(6..7, "g");
        let err = text.parse::<AccountId>().unwrap_err();
        assert_eq!(
            err,
            AccountIdError::NotHex {
                position: 7,
                character: 'g'
            }
        );
        assert_eq!(
            err.to_string(),
            "an Account ID is hexadecimal, but character 7 is 'g'"
        );
    }

    #[test]
    fn parse_counts_characters_not_bytes() {
        // 66 characters, one of them two bytes long: reported as a non-hex character.
        let text = format!("{}é", &ID[..65]);
        assert_eq!(
            text.parse::<AccountId>().unwrap_err(),
            AccountIdError::NotHex {
                position: 66,
                character: 'é'
            }
        );
        // 66 bytes but 65 characters: reported as a wrong length.
        let text = format!("{}é", &ID[..64]);
        assert_eq!(
            text.parse::<AccountId>().unwrap_err(),
            AccountIdError::WrongLength { got: 65 }
        );
    }

    #[test]
    fn parse_rejects_other_prefixes_with_a_hint() {
        let cases = [
            ("15", "blinded community ID"),
            ("25", "blinded community ID"),
            ("03", "group"),
            ("00", "unblinded"),
            ("07", "version"),
        ];
        for (prefix, hint) in cases {
            let text = format!("{prefix}{}", &ID[2..]);
            let err = text.parse::<AccountId>().unwrap_err();
            let byte = u8::from_str_radix(prefix, 16).unwrap();
            assert_eq!(err, AccountIdError::WrongPrefix { prefix: byte });
            let message = err.to_string();
            assert!(message.contains(&format!("`{prefix}`")), "{message}");
            assert!(message.contains(hint), "{message}");
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
        let err = format!("ab{}", &ID[2..]).parse::<AccountId>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "an Account ID starts with `05`, this one starts with `ab`"
        );
    }

    #[test]
    fn from_bytes_checks_length_and_prefix() {
        assert_eq!(
            AccountId::from_bytes(&[5u8; 32]).unwrap_err(),
            AccountIdError::WrongByteLength { got: 32 }
        );
        let mut bytes = [7u8; 33];
        bytes[0] = 0x03;
        assert_eq!(
            AccountId::from_bytes(&bytes).unwrap_err(),
            AccountIdError::WrongPrefix { prefix: 0x03 }
        );
    }

    #[test]
    fn id_prefix_bytes_round_trip() {
        for byte in 0..=u8::MAX {
            if let Some(prefix) = IdPrefix::from_byte(byte) {
                assert_eq!(prefix.byte(), byte);
                assert_eq!(prefix.to_string(), format!("{byte:02x}"));
            }
        }
        assert_eq!(IdPrefix::from_byte(0x05), Some(IdPrefix::Standard));
        assert_eq!(IdPrefix::from_byte(0x04), None);
    }
}
