//! Session names (ONS): hashing a name for the lookup and decrypting the answer
//! (protocol.md §3.6 `oxend_request` / `ons_resolve`; libsession `decrypt_ons_response`).
//!
//! A name maps to an Account ID through the service nodes' name service. The lookup sends
//! `name_hash = BLAKE2b-32(lowercase name)`; the answer is the Account ID encrypted with
//! XChaCha20-Poly1305 under `BLAKE2b-32(name, key = name_hash)`, so only someone who knows the
//! name can read it. Only the current (post-HF16) format with a nonce is supported; the older
//! Argon2-keyed format predates every Account ID a current client can meet.

use dryoc::classic::crypto_aead_xchacha20poly1305_ietf::crypto_aead_xchacha20poly1305_ietf_decrypt;

use crate::account_id::{AccountId, AccountIdError};
use crate::error_kind::{ErrorKind, HasKind};
use crate::message::sealed::blake2b;

/// Length of the Poly1305 tag.
const TAG_LEN: usize = 16;

/// `BLAKE2b-32` of the lower-cased name: the `name_hash` of an `ons_resolve` request (base64 it).
pub fn ons_name_hash(name: &str) -> [u8; 32] {
    blake2b(None, &[name.to_lowercase().as_bytes()])
}

/// Decrypts an `ons_resolve` answer (`encrypted_value` and `nonce`, hex-decoded) for `name`
/// (any case) into the Account ID it names.
pub fn decrypt_ons_response(
    name: &str,
    ciphertext: &[u8],
    nonce: &[u8; 24],
) -> Result<AccountId, OnsError> {
    if ciphertext.len() < TAG_LEN {
        return Err(OnsError::TooShort {
            len: ciphertext.len(),
        });
    }
    let name = name.to_lowercase();
    let name_hash: [u8; 32] = blake2b(None, &[name.as_bytes()]);
    let key = zeroize::Zeroizing::new(blake2b::<32>(Some(&name_hash), &[name.as_bytes()]));
    let mut plaintext = vec![0u8; ciphertext.len() - TAG_LEN];
    crypto_aead_xchacha20poly1305_ietf_decrypt(&mut plaintext, ciphertext, None, nonce, &key)
        .map_err(|_| OnsError::Decrypt)?;
    if plaintext.len() != AccountId::LEN {
        return Err(OnsError::WrongLength {
            len: plaintext.len(),
        });
    }
    AccountId::from_bytes(&plaintext).map_err(OnsError::NotAnAccountId)
}

/// Why an ONS answer was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OnsError {
    /// Shorter than the authentication tag.
    #[error("ONS answer too short ({len} bytes)")]
    TooShort {
        /// Its length.
        len: usize,
    },
    /// Does not decrypt with this name (wrong name, or tampered with).
    #[error("ONS answer does not decrypt with this name")]
    Decrypt,
    /// Decrypts to something other than 33 bytes.
    #[error("ONS answer decrypts to {len} bytes, not a 33-byte Account ID")]
    WrongLength {
        /// The plaintext length.
        len: usize,
    },
    /// Decrypts to 33 bytes that are not an Account ID.
    #[error("ONS answer is not an Account ID: {0}")]
    NotAnAccountId(#[source] AccountIdError),
}

impl HasKind for OnsError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Malformed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_short_and_tampered_answers() {
        assert_eq!(
            decrypt_ons_response("x", &[0; 15], &[0; 24]),
            Err(OnsError::TooShort { len: 15 })
        );
        assert_eq!(
            decrypt_ons_response("x", &[0; 49], &[0; 24]),
            Err(OnsError::Decrypt)
        );
    }

    #[test]
    fn name_hash_ignores_case() {
        assert_eq!(ons_name_hash("Test"), ons_name_hash("test"));
        assert_ne!(ons_name_hash("test"), ons_name_hash("tests"));
    }
}
