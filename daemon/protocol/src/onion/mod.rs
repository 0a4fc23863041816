//! Onion requests (protocol.md §4): how a request reaches a service node or a server through a
//! path of three service nodes without any of them seeing both who asks and what is asked.
//!
//! Everything here is data in, bytes out — no I/O. Paths, hops and destinations are plain values
//! ([`Hop`], [`Destination`]); randomness (ephemeral keys, nonces) comes from the caller's
//! `CryptoRng`, or explicitly as [`LayerSecrets`] for reproducible vectors.
//!
//! # Layout
//! - [`hop_cipher`]: the per-layer key derivation and AEAD ([`EncType`], [`LayerKey`]).
//! - [`layer`]: the `u32_le(N) || N bytes || JSON` framing every layer uses.
//! - [`builder`] (client): [`build`] wraps a destination payload in one layer per hop and
//!   returns the guard's HTTP body plus the [`ResponseKeys`] to read the answer with.
//! - [`response`] (client): [`ResponseKeys::decrypt`] turns the guard's HTTP answer into an
//!   [`OnionResponse`]: the destination's reply, an error from a hop, or a plaintext path error.
//! - [`peel`] (node/server side): [`peel::peel`] removes one layer with the node's X25519 secret
//!   key and says what to do next ([`Route`]); [`peel::seal_snode_reply`] and [`LayerKey`]
//!   encrypt the reply. Used by the in-process fake network in tests.
//! - [`v4`]: the onion v4 request/response encoding for server destinations (§4.5), and the
//!   legacy v3 JSON request (§4.6).
//!
//! # Which cipher
//! The official desktop client uses AES-GCM for every layer (it never sends `enc_type`);
//! libsession uses XChaCha20-Poly1305. Both are accepted everywhere; the caller chooses.

pub mod builder;
pub mod hop_cipher;
mod json;
pub mod layer;
pub mod peel;
pub mod response;
pub mod v4;

use std::fmt;

pub use builder::{MAX_BODY_LEN, MAX_PATH_LEN, OnionRequest, build, build_with_secrets};
pub use hop_cipher::{EncType, KeyOwner, LayerKey, LayerSecrets, NodeKey, NodeKeys};
pub use json::JsonError;
pub use peel::{DecryptedLayer, FinalPayload, ForwardToNode, ForwardToServer, Peeled, Route};
pub use response::{HopError, OnionResponse, PlaintextError, ResponseKeys, SnodeReply};
pub use v4::{V3Request, V4Request, V4Response};

use crate::error_kind::{ErrorKind, HasKind};

/// Target of onion v4 requests to servers (`/oxen/v4/lsrpc`).
pub const V4_TARGET: &str = "/oxen/v4/lsrpc";
/// Target of legacy v3 requests to servers (`/loki/v3/lsrpc`).
pub const V3_TARGET: &str = "/loki/v3/lsrpc";

/// A service node as a hop of an onion path: its two public keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hop {
    /// The node's Ed25519 public key: how the previous hop names it (`destination`).
    pub ed25519: [u8; 32],
    /// The node's X25519 public key: what its layer is encrypted to.
    pub x25519: [u8; 32],
}

impl fmt::Debug for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hop({})", hex::encode(self.ed25519))
    }
}

/// `http` or `https`, for a server destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP (e.g. the file server on port 80; the onion layers already encrypt).
    Http,
    /// HTTPS.
    Https,
}

impl Scheme {
    /// The `protocol` value in the last hop's instructions.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port used when none is given (what a URL would imply).
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// Where an onion request finally goes (the fourth party after the three path hops).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    /// A service node answering a storage RPC (`{"method":…,"params":…}`).
    ServiceNode(Hop),
    /// An HTTP(S) server reached by the last hop (file server, community server, …).
    Server {
        /// Host name or IP, without scheme or port (`"filev2.getsession.org"`).
        host: String,
        /// Onion endpoint on the server: [`V4_TARGET`] (what desktop uses everywhere) or
        /// [`V3_TARGET`] (legacy); decides the payload and response framing.
        target: String,
        /// `http` or `https`.
        scheme: Scheme,
        /// Always sent: storage servers default a missing port to 443 even for `http`
        /// (protocol.md §11 pitfall 27).
        port: u16,
        /// The server's X25519 key, which the innermost layer is encrypted to.
        x25519: [u8; 32],
    },
}

impl Destination {
    /// A server destination speaking onion v4, on the scheme's default port.
    pub fn server_v4(host: &str, scheme: Scheme, x25519: [u8; 32]) -> Destination {
        Destination::Server {
            host: host.to_owned(),
            target: V4_TARGET.to_owned(),
            scheme,
            port: scheme.default_port(),
            x25519,
        }
    }

    /// The X25519 key the innermost layer is encrypted to.
    pub fn x25519(&self) -> &[u8; 32] {
        match self {
            Destination::ServiceNode(hop) => &hop.x25519,
            Destination::Server { x25519, .. } => x25519,
        }
    }
}

/// Whether a storage server forwards to this server target: it must start with `/loki/` or
/// `/oxen/`, end with `/lsrpc` and contain no `?` (protocol.md §4.3).
pub fn is_allowed_target(target: &str) -> bool {
    (target.starts_with("/loki/") || target.starts_with("/oxen/"))
        && target.ends_with("/lsrpc")
        && !target.contains('?')
}

/// Everything that can go wrong building, peeling or reading an onion request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OnionError {
    /// An `enc_type` that is neither AES-GCM nor XChaCha20 (name cut to 32 characters).
    #[error("unknown onion encryption type {name:?}")]
    UnknownEncType {
        /// The name received.
        name: String,
    },
    /// An explicit nonce of the wrong length for the cipher.
    #[error("a {enc_type} nonce is {} bytes, got {got}", enc_type.nonce_len())]
    NonceLength {
        /// The cipher.
        enc_type: EncType,
        /// The length given.
        got: usize,
    },
    /// Something the caller asked to encrypt or send is too big.
    #[error("{what} is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// What was too big.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An onion request body received from the network is bigger than any node accepts.
    #[error("onion request body is {len} bytes, more than the {max} accepted")]
    BodyTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes from the network end before a fixed-size part.
    #[error("{what} is {len} bytes, shorter than the {need} it needs")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// How many bytes there were.
        len: usize,
        /// How many were needed at least.
        need: usize,
    },
    /// A length prefix claims more bytes than follow it.
    #[error("{what} declares {declared} bytes but only {available} follow")]
    LengthPrefix {
        /// What was being read.
        what: &'static str,
        /// The declared length.
        declared: u64,
        /// The bytes actually there.
        available: usize,
    },
    /// A JSON part is not valid JSON (or not an object).
    #[error("{what} is not a valid JSON object: {source}")]
    Json {
        /// Which JSON part.
        what: &'static str,
        /// What is wrong with it.
        source: JsonError,
    },
    /// A JSON object lacks a required field.
    #[error("{what} has no {field:?}")]
    MissingField {
        /// Which JSON part.
        what: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A JSON field has the wrong type or an unusable value.
    #[error("{what} field {field:?} is not {expected}")]
    BadField {
        /// Which JSON part.
        what: &'static str,
        /// The field.
        field: &'static str,
        /// What it should have been.
        expected: &'static str,
    },
    /// An X25519 key of small order: the shared secret would be all zeros.
    #[error("X25519 key of small order ({owner:?})")]
    WeakKey {
        /// Whether the caller or the network supplied the key.
        owner: KeyOwner,
    },
    /// Authenticated decryption failed: wrong key, or bytes changed on the way.
    #[error("{enc_type} decryption failed")]
    Decrypt {
        /// The cipher used.
        enc_type: EncType,
    },
    /// A response that should be base64 is not.
    #[error("{what} is not base64")]
    Base64 {
        /// What was being decoded.
        what: &'static str,
    },
    /// The v4 list encoding (`l…e` of length-prefixed strings) is broken.
    #[error("bad onion v4 {what}: {reason}")]
    V4Framing {
        /// Request or response.
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A path must have between 1 and [`MAX_PATH_LEN`] hops.
    #[error("an onion path has 1 to {max} hops, got {got}")]
    PathLength {
        /// Hops given.
        got: usize,
        /// The maximum.
        max: usize,
    },
    /// The deterministic builder needs one [`LayerSecrets`] per hop plus one.
    #[error("expected {expected} layer secrets (hops + destination), got {got}")]
    SecretsCount {
        /// Hops + 1.
        expected: usize,
        /// Given.
        got: usize,
    },
    /// A server target a storage server would refuse, or one whose version is unknown.
    #[error("unusable onion server target {target:?}: {reason}")]
    InvalidTarget {
        /// The target.
        target: String,
        /// Why.
        reason: &'static str,
    },
    /// A request the caller built is not well-formed (empty host, endpoint without `/`, …).
    #[error("invalid onion request: {reason}")]
    InvalidRequest {
        /// Why.
        reason: &'static str,
    },
    /// An HTTP 200 answer that none of the request's layer keys opens.
    #[error("a {len}-byte onion response opens with none of the request's keys")]
    UndecryptableResponse {
        /// Its length.
        len: usize,
    },
    /// A bug: something that cannot happen did.
    #[error("internal error in onion code: {what}")]
    Internal {
        /// What was being done.
        what: &'static str,
    },
}

impl HasKind for OnionError {
    fn kind(&self) -> ErrorKind {
        match self {
            OnionError::NonceLength { .. }
            | OnionError::TooLarge { .. }
            | OnionError::PathLength { .. }
            | OnionError::SecretsCount { .. }
            | OnionError::InvalidTarget { .. }
            | OnionError::InvalidRequest { .. }
            | OnionError::WeakKey {
                owner: KeyOwner::Caller,
            } => ErrorKind::InvalidInput,
            OnionError::UnknownEncType { .. }
            | OnionError::BodyTooLarge { .. }
            | OnionError::Truncated { .. }
            | OnionError::LengthPrefix { .. }
            | OnionError::Json { .. }
            | OnionError::MissingField { .. }
            | OnionError::BadField { .. }
            | OnionError::Base64 { .. }
            | OnionError::V4Framing { .. }
            | OnionError::WeakKey {
                owner: KeyOwner::Peer,
            } => ErrorKind::Malformed,
            OnionError::Decrypt { .. } | OnionError::UndecryptableResponse { .. } => {
                ErrorKind::BadSignature
            }
            OnionError::Internal { .. } => ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_targets_follow_the_storage_server_rule() {
        for ok in [V4_TARGET, V3_TARGET, "/oxen/v3/lsrpc", "/loki/v4/lsrpc"] {
            assert!(is_allowed_target(ok), "{ok}");
        }
        for bad in [
            "/oxen/v4/lsrpc?x=1",
            "/other/v4/lsrpc",
            "/oxen/v4/rpc",
            "oxen/v4/lsrpc",
            "",
        ] {
            assert!(!is_allowed_target(bad), "{bad}");
        }
    }

    #[test]
    fn hop_debug_shows_the_ed25519_key() {
        let hop = Hop {
            ed25519: [0xab; 32],
            x25519: [0; 32],
        };
        assert_eq!(format!("{hop:?}"), format!("Hop({})", "ab".repeat(32)));
    }

    #[test]
    fn server_v4_uses_the_scheme_port() {
        let d = Destination::server_v4("example.org", Scheme::Http, [1; 32]);
        assert_eq!(
            d,
            Destination::Server {
                host: "example.org".into(),
                target: V4_TARGET.into(),
                scheme: Scheme::Http,
                port: 80,
                x25519: [1; 32]
            }
        );
        assert_eq!(d.x25519(), &[1; 32]);
    }
}
