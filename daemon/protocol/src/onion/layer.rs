//! The "ciphertext plus JSON" framing of every onion layer (protocol.md §4.3):
//! `u32_le(N) || N opaque bytes || UTF-8 JSON object`.
//!
//! The guard's HTTP body, each hop's decrypted plaintext and the snode destination's payload all
//! have this form; only the JSON keys differ. The length prefix is checked against the bytes
//! actually present before anything is copied, so a hostile prefix cannot make us allocate.

use super::OnionError;
use super::json::{self, Value};

/// Size of the little-endian length prefix.
const PREFIX_LEN: usize = 4;

/// `u32_le(len(blob)) || blob || json`.
///
/// Fails when `blob` is too long for a 32-bit length.
pub fn join(blob: &[u8], json: &str) -> Result<Vec<u8>, OnionError> {
    let len = u32::try_from(blob.len()).map_err(|_| OnionError::TooLarge {
        what: "onion layer blob",
        len: blob.len(),
        max: u32::MAX as usize,
    })?;
    let mut out = Vec::with_capacity(PREFIX_LEN + blob.len() + json.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(blob);
    out.extend_from_slice(json.as_bytes());
    Ok(out)
}

/// Splits a framed layer into its blob and its JSON text (not yet parsed), borrowing from
/// `bytes`.
pub fn split(bytes: &[u8]) -> Result<(&[u8], &[u8]), OnionError> {
    let (prefix, rest) = bytes
        .split_first_chunk::<PREFIX_LEN>()
        .ok_or(OnionError::Truncated {
            what: "onion layer",
            len: bytes.len(),
            need: PREFIX_LEN,
        })?;
    let declared = u32::from_le_bytes(*prefix);
    let blob_len = usize::try_from(declared)
        .ok()
        .filter(|len| *len <= rest.len())
        .ok_or(OnionError::LengthPrefix {
            what: "onion layer",
            declared: u64::from(declared),
            available: rest.len(),
        })?;
    Ok(rest.split_at(blob_len))
}

/// Splits a framed layer and parses its JSON object.
pub(crate) fn split_parsed<'a>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<(&'a [u8], Value), OnionError> {
    let (blob, json_text) = split(bytes)?;
    let json = json::parse_object(json_text).map_err(|source| OnionError::Json { what, source })?;
    Ok((blob, json))
}

/// A required string field.
pub(crate) fn str_field<'v>(
    json: &'v Value,
    what: &'static str,
    field: &'static str,
) -> Result<&'v str, OnionError> {
    json.get(field)
        .ok_or(OnionError::MissingField { what, field })?
        .as_str()
        .ok_or(OnionError::BadField {
            what,
            field,
            expected: "a string",
        })
}

/// A required field holding a 32-byte key as 64 hex digits.
pub(crate) fn key_field(
    json: &Value,
    what: &'static str,
    field: &'static str,
) -> Result<[u8; 32], OnionError> {
    let text = str_field(json, what, field)?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(text, &mut key).map_err(|_| OnionError::BadField {
        what,
        field,
        expected: "a 32-byte key in hex",
    })?;
    Ok(key)
}

/// An optional boolean field.
pub(crate) fn bool_field(
    json: &Value,
    what: &'static str,
    field: &'static str,
) -> Result<Option<bool>, OnionError> {
    json.get(field)
        .map(|v| {
            v.as_bool().ok_or(OnionError::BadField {
                what,
                field,
                expected: "a boolean",
            })
        })
        .transpose()
}

/// An optional integer field that must fit in a `u16`.
pub(crate) fn u16_field(
    json: &Value,
    what: &'static str,
    field: &'static str,
) -> Result<Option<u16>, OnionError> {
    json.get(field)
        .map(|v| {
            v.as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or(OnionError::BadField {
                    what,
                    field,
                    expected: "an integer from 0 to 65535",
                })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorKind, HasKind};

    #[test]
    fn join_then_split_gives_the_parts_back() {
        for blob in [&b""[..], b"x", &[0u8; 300]] {
            let framed = join(blob, r#"{"a":1}"#).unwrap();
            assert_eq!(&framed[..4], &(blob.len() as u32).to_le_bytes());
            let (b, j) = split(&framed).unwrap();
            assert_eq!(b, blob);
            assert_eq!(j, br#"{"a":1}"#);
        }
    }

    #[test]
    fn split_refuses_truncated_input_and_lying_prefixes() {
        for short in [&b""[..], b"\x01", b"\x01\x00\x00"] {
            let err = split(short).unwrap_err();
            assert!(matches!(err, OnionError::Truncated { .. }), "{err:?}");
            assert_eq!(err.kind(), ErrorKind::Malformed);
        }
        // Declares 5 bytes, has 4.
        let err = split(b"\x05\x00\x00\x00abcd").unwrap_err();
        assert_eq!(
            err,
            OnionError::LengthPrefix {
                what: "onion layer",
                declared: 5,
                available: 4
            }
        );
        // A huge prefix fails without allocating.
        let err = split(b"\xff\xff\xff\xff{}").unwrap_err();
        assert!(matches!(
            err,
            OnionError::LengthPrefix {
                declared: 4_294_967_295,
                ..
            }
        ));
        // Exactly the bytes declared and no JSON: the split works, the JSON parse fails.
        assert_eq!(
            split(b"\x02\x00\x00\x00ab").unwrap(),
            (&b"ab"[..], &b""[..])
        );
        assert!(matches!(
            split_parsed(b"\x02\x00\x00\x00ab", "layer"),
            Err(OnionError::Json { .. })
        ));
        assert!(matches!(
            split_parsed(b"\x00\x00\x00\x00[1]", "layer"),
            Err(OnionError::Json { .. })
        ));
    }

    #[test]
    fn field_helpers_type_check() {
        let json = json::parse(
            br#"{"s":"x","k":"0101010101010101010101010101010101010101010101010101010101010101","b":true,"n":70000,"p":80}"#,
        )
        .unwrap();
        assert_eq!(str_field(&json, "t", "s").unwrap(), "x");
        assert_eq!(key_field(&json, "t", "k").unwrap(), [1u8; 32]);
        assert!(matches!(
            key_field(&json, "t", "s"),
            Err(OnionError::BadField { .. })
        ));
        assert!(matches!(
            str_field(&json, "t", "missing"),
            Err(OnionError::MissingField { .. })
        ));
        assert!(matches!(
            str_field(&json, "t", "b"),
            Err(OnionError::BadField { .. })
        ));
        assert_eq!(bool_field(&json, "t", "b").unwrap(), Some(true));
        assert_eq!(bool_field(&json, "t", "missing").unwrap(), None);
        assert!(bool_field(&json, "t", "s").is_err());
        assert_eq!(u16_field(&json, "t", "p").unwrap(), Some(80));
        assert!(u16_field(&json, "t", "n").is_err());
    }
}
