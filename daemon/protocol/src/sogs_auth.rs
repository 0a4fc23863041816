//! Authentication headers for community (SOGS) requests and file-server version checks
//! (protocol.md §8.2, §5.1).
//!
//! A community server authenticates each request by four `X-SOGS-*` headers: who signs (a
//! blinded `15…`/`25…` key, or the unblinded Ed25519 key as `00…`), when (unix seconds), a
//! one-time nonce, and an Ed25519 signature binding them to the server key, the method, the path
//! and a hash of the body. The file server's optional version check uses the same idea with the
//! `07` key and `X-FS-*` headers. This module builds those header values as plain strings; the
//! network layer puts them into the onion request.
//!
//! The path is signed exactly as it is put into the request's `endpoint`, query string included
//! and **not** percent-encoded (protocol.md §11 pitfall 11); for `/batch` and `/sequence` only the
//! outer request is signed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use blake2::{Blake2b512, Digest};
use rand_core::CryptoRng;

use crate::account_id::IdPrefix;
use crate::blinding::{BlindedKeyPair, VersionKeyPair};
use crate::error_kind::{ErrorKind, HasKind};
use crate::identity::Identity;

/// Header carrying the signer's key (`15…`, `25…` or `00…`).
pub const HEADER_PUBKEY: &str = "X-SOGS-Pubkey";
/// Header carrying the unix timestamp in seconds.
pub const HEADER_TIMESTAMP: &str = "X-SOGS-Timestamp";
/// Header carrying the base64 16-byte nonce.
pub const HEADER_NONCE: &str = "X-SOGS-Nonce";
/// Header carrying the base64 signature.
pub const HEADER_SIGNATURE: &str = "X-SOGS-Signature";
/// File-server header carrying the `07` version-check key.
pub const FS_HEADER_PUBKEY: &str = "X-FS-Pubkey";
/// File-server header carrying the unix timestamp in seconds.
pub const FS_HEADER_TIMESTAMP: &str = "X-FS-Timestamp";
/// File-server header carrying the base64 signature.
pub const FS_HEADER_SIGNATURE: &str = "X-FS-Signature";

/// Length of the `X-SOGS-Nonce` value before base64.
pub const NONCE_LEN: usize = 16;

/// The parts of an HTTP request that the signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestToSign<'a> {
    /// The method, upper case (`GET`, `POST`, …).
    pub method: &'a str,
    /// The path with its query string, exactly as sent in the onion request's `endpoint`, not
    /// percent-encoded (a reaction's emoji is signed as raw UTF-8).
    pub path: &'a str,
    /// The body; empty for none. Only a non-empty body contributes (its BLAKE2b-64 hash).
    pub body: &'a [u8],
}

impl RequestToSign<'_> {
    fn check(&self) -> Result<(), RequestSigningError> {
        let method_ok =
            !self.method.is_empty() && self.method.bytes().all(|b| b.is_ascii_uppercase());
        if !method_ok {
            return Err(RequestSigningError::InvalidMethod {
                method: self.method.to_string(),
            });
        }
        let path_ok = self.path.starts_with('/') && !self.path.chars().any(char::is_control);
        if !path_ok {
            return Err(RequestSigningError::InvalidPath {
                path: self.path.to_string(),
            });
        }
        Ok(())
    }

    /// `METHOD || path || [BLAKE2b-64(body) if the body is non-empty]`, appended to `out`.
    fn append_signed_tail(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.method.as_bytes());
        out.extend_from_slice(self.path.as_bytes());
        if !self.body.is_empty() {
            out.extend_from_slice(&Blake2b512::digest(self.body));
        }
    }
}

/// The bytes a SOGS request signature covers:
/// `server_pk || nonce || ascii(timestamp) || METHOD || path || [BLAKE2b-64(body)]`.
pub fn sogs_signed_message(
    server_pk: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    timestamp_secs: u64,
    request: &RequestToSign<'_>,
) -> Result<Vec<u8>, RequestSigningError> {
    request.check()?;
    let timestamp = timestamp_secs.to_string();
    let mut message = Vec::with_capacity(
        32 + NONCE_LEN + timestamp.len() + request.method.len() + request.path.len() + 64,
    );
    message.extend_from_slice(server_pk);
    message.extend_from_slice(nonce);
    message.extend_from_slice(timestamp.as_bytes());
    request.append_signed_tail(&mut message);
    Ok(message)
}

/// The four `X-SOGS-*` header values of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SogsAuthHeaders {
    /// `X-SOGS-Pubkey`: `"15"`/`"25"` + hex blinded key, or `"00"` + hex Ed25519 key.
    pub pubkey: String,
    /// `X-SOGS-Timestamp`: unix seconds, decimal.
    pub timestamp: String,
    /// `X-SOGS-Nonce`: base64 (padded) of 16 random bytes.
    pub nonce: String,
    /// `X-SOGS-Signature`: base64 (padded) of the 64-byte signature.
    pub signature: String,
}

impl SogsAuthHeaders {
    /// The headers as (name, value) pairs, in a fixed order.
    pub fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            (HEADER_PUBKEY, &self.pubkey),
            (HEADER_TIMESTAMP, &self.timestamp),
            (HEADER_NONCE, &self.nonce),
            (HEADER_SIGNATURE, &self.signature),
        ]
    }
}

/// The key a [`SogsSigner`] signs with.
#[derive(Clone)]
enum SigningKey {
    /// The account's own Ed25519 key, sent as `00…` (servers without the `blind` capability).
    Unblinded(Identity),
    /// A blinded key for this server (`15…` on every current server).
    Blinded(BlindedKeyPair),
}

/// Signs requests to one community server, blinded or not.
///
/// Holds the signing key (zeroized on drop); `Debug` shows only the `X-SOGS-Pubkey` value.
#[derive(Clone)]
pub struct SogsSigner {
    /// The server's X25519 public key, which every signature covers.
    server_pk: [u8; 32],
    /// Who signs.
    key: SigningKey,
}

impl SogsSigner {
    /// A signer using the account's unblinded Ed25519 key (`X-SOGS-Pubkey: 00…`).
    pub fn unblinded(identity: &Identity, server_pk: &[u8; 32]) -> SogsSigner {
        SogsSigner {
            server_pk: *server_pk,
            key: SigningKey::Unblinded(identity.clone()),
        }
    }

    /// A signer using a blinded key; the server is the one the key was derived for.
    pub fn blinded(key: BlindedKeyPair) -> SogsSigner {
        SogsSigner {
            server_pk: *key.server_pk(),
            key: SigningKey::Blinded(key),
        }
    }

    /// The server this signer signs for.
    pub fn server_pk(&self) -> &[u8; 32] {
        &self.server_pk
    }

    /// The `X-SOGS-Pubkey` value: the 33-byte ID of the signing key, in hex.
    pub fn pubkey(&self) -> String {
        match &self.key {
            SigningKey::Unblinded(identity) => {
                format!(
                    "{}{}",
                    IdPrefix::Unblinded,
                    hex::encode(identity.ed25519_public())
                )
            }
            SigningKey::Blinded(key) => key.id().to_string(),
        }
    }

    /// Signs `request` at `timestamp_secs` (network time, unix seconds) with a fresh nonce from
    /// `rng`.
    pub fn sign<R: CryptoRng + ?Sized>(
        &self,
        request: &RequestToSign<'_>,
        timestamp_secs: u64,
        rng: &mut R,
    ) -> Result<SogsAuthHeaders, RequestSigningError> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        self.sign_with_nonce(request, timestamp_secs, &nonce)
    }

    /// Signs `request` with the given nonce (deterministic; for tests and vectors — a nonce must
    /// never be reused towards a server, which answers 425).
    pub fn sign_with_nonce(
        &self,
        request: &RequestToSign<'_>,
        timestamp_secs: u64,
        nonce: &[u8; NONCE_LEN],
    ) -> Result<SogsAuthHeaders, RequestSigningError> {
        let message = sogs_signed_message(&self.server_pk, nonce, timestamp_secs, request)?;
        let signature = match &self.key {
            SigningKey::Unblinded(identity) => identity.sign(&message),
            SigningKey::Blinded(key) => key.sign(&message),
        };
        Ok(SogsAuthHeaders {
            pubkey: self.pubkey(),
            timestamp: timestamp_secs.to_string(),
            nonce: BASE64.encode(nonce),
            signature: BASE64.encode(signature),
        })
    }
}

impl std::fmt::Debug for SogsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SogsSigner")
            .field("pubkey", &self.pubkey())
            .finish_non_exhaustive()
    }
}

/// The three `X-FS-*` header values of a file-server version check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileServerAuthHeaders {
    /// `X-FS-Pubkey`: `"07"` + hex version-check key.
    pub pubkey: String,
    /// `X-FS-Timestamp`: unix seconds, decimal.
    pub timestamp: String,
    /// `X-FS-Signature`: base64 (padded) of the 64-byte signature.
    pub signature: String,
}

impl FileServerAuthHeaders {
    /// The headers as (name, value) pairs, in a fixed order.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            (FS_HEADER_PUBKEY, &self.pubkey),
            (FS_HEADER_TIMESTAMP, &self.timestamp),
            (FS_HEADER_SIGNATURE, &self.signature),
        ]
    }
}

/// The bytes a file-server signature covers:
/// `ascii(timestamp) || METHOD || path || [BLAKE2b-64(body)]` (protocol.md §5.1; libsession
/// signs the raw body instead, which agrees for the body-less version check, pitfall 12).
pub fn file_server_signed_message(
    timestamp_secs: u64,
    request: &RequestToSign<'_>,
) -> Result<Vec<u8>, RequestSigningError> {
    request.check()?;
    let mut message = timestamp_secs.to_string().into_bytes();
    request.append_signed_tail(&mut message);
    Ok(message)
}

/// Signs a file-server request (e.g. `GET /session_version?platform=desktop`) with the `07`
/// version-check key.
pub fn file_server_auth_headers(
    key: &VersionKeyPair,
    request: &RequestToSign<'_>,
    timestamp_secs: u64,
) -> Result<FileServerAuthHeaders, RequestSigningError> {
    let message = file_server_signed_message(timestamp_secs, request)?;
    Ok(FileServerAuthHeaders {
        pubkey: key.pubkey_hex(),
        timestamp: timestamp_secs.to_string(),
        signature: BASE64.encode(key.sign(&message)),
    })
}

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestSigningError {
    /// The method is empty or not upper-case ASCII letters.
    #[error("HTTP method {method:?} is not upper-case ASCII letters")]
    InvalidMethod {
        /// The method given.
        method: String,
    },
    /// The path does not start with `/` or contains control characters.
    #[error("request path {path:?} must start with `/` and contain no control characters")]
    InvalidPath {
        /// The path given.
        path: String,
    },
}

impl HasKind for RequestSigningError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blinding::{Blind15Nonce, BlindingScheme};
    use crate::identity::Seed;
    use crate::test_rng::TestRng;

    const SERVER: [u8; 32] = [0x11; 32];

    fn identity() -> Identity {
        Identity::from_seed(&Seed::generate(&mut TestRng::new(5)))
    }

    fn get(path: &str) -> RequestToSign<'_> {
        RequestToSign {
            method: "GET",
            path,
            body: b"",
        }
    }

    #[test]
    fn message_layout_is_server_nonce_timestamp_method_path_bodyhash() {
        let nonce = [7u8; 16];
        let request = RequestToSign {
            method: "POST",
            path: "/room/r/message?x=1",
            body: b"{}",
        };
        let message = sogs_signed_message(&SERVER, &nonce, 1_700_000_000, &request).unwrap();
        let mut expected = SERVER.to_vec();
        expected.extend_from_slice(&nonce);
        expected.extend_from_slice(b"1700000000POST/room/r/message?x=1");
        expected.extend_from_slice(&Blake2b512::digest(b"{}"));
        assert_eq!(message, expected);

        // No body: no hash at all (not the hash of the empty string).
        let message = sogs_signed_message(&SERVER, &nonce, 5, &get("/capabilities")).unwrap();
        assert_eq!(message.len(), 32 + 16 + 1 + 3 + 13);
    }

    #[test]
    fn blinded_and_unblinded_signers_produce_verifiable_headers() {
        let identity = identity();
        let signers = [
            SogsSigner::unblinded(&identity, &SERVER),
            SogsSigner::blinded(BlindedKeyPair::blind15(
                &identity,
                &SERVER,
                Blind15Nonce::Libsession,
            )),
            SogsSigner::blinded(BlindedKeyPair::new(
                &identity,
                BlindingScheme::Blind25,
                &SERVER,
            )),
        ];
        let prefixes = ["00", "15", "25"];
        let request = get("/room/lobby/messages/recent?limit=25");
        for (signer, prefix) in signers.iter().zip(prefixes) {
            let headers = signer
                .sign(&request, 1_642_472_103, &mut TestRng::new(1))
                .unwrap();
            assert!(headers.pubkey.starts_with(prefix), "{}", headers.pubkey);
            assert_eq!(headers.pubkey.len(), 66);
            assert_eq!(headers.timestamp, "1642472103");
            let nonce: [u8; 16] = BASE64.decode(&headers.nonce).unwrap().try_into().unwrap();
            let signature: [u8; 64] = BASE64
                .decode(&headers.signature)
                .unwrap()
                .try_into()
                .unwrap();
            let message = sogs_signed_message(&SERVER, &nonce, 1_642_472_103, &request).unwrap();
            let key: [u8; 32] = hex::decode(&headers.pubkey[2..])
                .unwrap()
                .try_into()
                .unwrap();
            ed25519_dalek::VerifyingKey::from_bytes(&key)
                .unwrap()
                .verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&signature))
                .unwrap();
            assert_eq!(
                headers.pairs().map(|(name, _)| name),
                [
                    HEADER_PUBKEY,
                    HEADER_TIMESTAMP,
                    HEADER_NONCE,
                    HEADER_SIGNATURE
                ]
            );
            assert_eq!(signer.server_pk(), &SERVER);
        }
    }

    #[test]
    fn nonces_come_from_the_rng() {
        let signer = SogsSigner::unblinded(&identity(), &SERVER);
        let a = signer.sign(&get("/x"), 1, &mut TestRng::new(1)).unwrap();
        let b = signer.sign(&get("/x"), 1, &mut TestRng::new(2)).unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.signature, b.signature);
    }

    #[test]
    fn bad_methods_and_paths_are_rejected() {
        let signer = SogsSigner::unblinded(&identity(), &SERVER);
        for method in ["", "get", "GET ", "PÖST"] {
            let request = RequestToSign {
                method,
                path: "/x",
                body: b"",
            };
            let err = signer.sign_with_nonce(&request, 1, &[0; 16]).unwrap_err();
            assert_eq!(
                err,
                RequestSigningError::InvalidMethod {
                    method: method.to_string()
                }
            );
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
        for path in ["", "room", "/a\r\nb", "/a\u{7f}"] {
            let err = signer.sign_with_nonce(&get(path), 1, &[0; 16]).unwrap_err();
            assert!(
                matches!(err, RequestSigningError::InvalidPath { .. }),
                "{path:?}"
            );
        }
        // Raw UTF-8 (a reaction emoji) is fine.
        signer
            .sign_with_nonce(&get("/room/r/reaction/4/🎂"), 1, &[0; 16])
            .unwrap();
    }

    #[test]
    fn file_server_headers_sign_timestamp_method_path() {
        let key = VersionKeyPair::from_identity(&identity());
        let request = get("/session_version?platform=desktop");
        let headers = file_server_auth_headers(&key, &request, 1_234_567_890).unwrap();
        assert_eq!(headers.pubkey, key.pubkey_hex());
        assert_eq!(headers.timestamp, "1234567890");
        let expected = key.sign(b"1234567890GET/session_version?platform=desktop");
        assert_eq!(BASE64.decode(&headers.signature).unwrap(), expected);
        assert_eq!(
            headers.pairs()[0],
            (FS_HEADER_PUBKEY, headers.pubkey.as_str())
        );
    }

    #[test]
    fn debug_shows_only_the_public_key() {
        let identity = identity();
        let signer = SogsSigner::unblinded(&identity, &SERVER);
        let debug = format!("{signer:?}");
        assert!(debug.contains(&signer.pubkey()), "{debug}");
        assert!(!debug.contains(&hex::encode(&identity.ed25519_secret_key()[..32])));
    }
}
