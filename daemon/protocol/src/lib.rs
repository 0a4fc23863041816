#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod account_id;
pub mod attachment;
pub mod avatar;
pub mod blinded_message;
pub mod blinding;
pub mod error_kind;
pub mod group_id;
pub mod hash;
pub mod identity;
pub mod message;
pub mod message_hash;
pub mod mnemonic;
pub mod namespace;
pub mod onion;
pub mod padding;
pub mod proto;
pub mod sender_key_cache;
pub mod sogs_auth;
pub mod storage_auth;
pub mod swarm;

#[cfg(test)]
mod test_rng;

pub use account_id::{AccountId, AccountIdError, IdPrefix};
pub use attachment::{AttachmentError, AttachmentKey};
pub use blinded_message::{BlindedMessageError, DecryptedBlindedMessage};
pub use blinding::{
    BlindedId, BlindedIdError, BlindedKeyPair, BlindingError, BlindingScheme, VersionKeyPair,
};
pub use error_kind::{ErrorKind, HasKind};
pub use group_id::{GroupId, GroupIdError};
pub use hash::HashError;
pub use identity::{Identity, IdentityError, Seed, ed25519_public_to_x25519};
pub use message::{DecodeError, EncodeError, Received, decode_1o1, encode_1o1};
pub use message_hash::{MessageHash, MessageHashError};
pub use mnemonic::MnemonicError;
pub use namespace::{Namespace, NamespaceSelector};
pub use proto::ProtoError;
pub use sender_key_cache::SenderKeyCache;
pub use sogs_auth::{RequestSigningError, RequestToSign, SogsAuthHeaders, SogsSigner};
pub use storage_auth::{AuthError, RequestAuth, SignedRequest, SwarmPubkey};
