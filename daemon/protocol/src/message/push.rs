//! Decrypting push-notification payloads (libsession `decrypt_push_notification`).
//!
//! A push server that watches a swarm for us sends the new message encrypted with a key we gave
//! it: `nonce(24) || XChaCha20-Poly1305 ciphertext`, the plaintext zero-padded at the end. sessiond
//! polls instead (protocol.md §12), but the format is small and pinned by a vector, so it is here
//! for a future push integration.

use dryoc::classic::crypto_aead_xchacha20poly1305_ietf::crypto_aead_xchacha20poly1305_ietf_decrypt;
use zeroize::Zeroizing;

use crate::error_kind::{ErrorKind, HasKind};

/// Nonce length.
const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
const TAG_LEN: usize = 16;

/// Decrypts a push-notification payload with the 32-byte key registered with the push server,
/// and strips the trailing zero padding.
pub fn decrypt_push_notification(
    payload: &[u8],
    key: &[u8; 32],
) -> Result<Zeroizing<Vec<u8>>, PushError> {
    let (nonce, ciphertext) = payload
        .split_first_chunk::<NONCE_LEN>()
        .filter(|(_, ciphertext)| ciphertext.len() >= TAG_LEN)
        .ok_or(PushError::TooShort { len: payload.len() })?;
    let mut plaintext = Zeroizing::new(vec![0u8; ciphertext.len() - TAG_LEN]);
    crypto_aead_xchacha20poly1305_ietf_decrypt(&mut plaintext, ciphertext, None, nonce, key)
        .map_err(|_| PushError::Decrypt)?;
    let len = plaintext
        .iter()
        .rposition(|&byte| byte != 0)
        .map_or(0, |last| last + 1);
    plaintext.truncate(len);
    Ok(plaintext)
}

/// Why a push payload was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// Shorter than nonce and tag.
    #[error("push payload too short ({len} bytes)")]
    TooShort {
        /// Its length.
        len: usize,
    },
    /// Does not decrypt with this key.
    #[error("push payload does not decrypt with this key")]
    Decrypt,
}

impl HasKind for PushError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Malformed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_short_and_undecryptable_payloads() {
        assert_eq!(
            decrypt_push_notification(&[0; 39], &[0; 32]),
            Err(PushError::TooShort { len: 39 })
        );
        assert_eq!(
            decrypt_push_notification(&[0; 40], &[0; 32]),
            Err(PushError::Decrypt)
        );
    }
}
