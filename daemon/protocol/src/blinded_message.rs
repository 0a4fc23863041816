//! Direct messages between blinded IDs through a community server's inbox (protocol.md §8.7).
//!
//! Two users who only know each other's blinded IDs (from a community) can still exchange
//! direct messages: the server stores them in the recipient's inbox. Both sides derive the same
//! symmetric key from their own secret and the other's blinded key, the message carries the
//! sender's real Ed25519 key inside the encryption, and the recipient checks that this key
//! blinds to the sender's blinded ID, which reveals the sender's Account ID to the recipient only.
//!
//! Wire format (`encrypt_for_blinded_recipient` in libsession):
//! `0x00 (version) || XChaCha20-Poly1305(key, nonce, message || sender_ed25519_pk) || nonce(24)`,
//! with `key = BLAKE2b-32(shared || kA_sender || jB_recipient)` where `shared` is
//! `a·jB` for blind15 (both sides share the factor `k`) and `ka·jB` for blind25; the receiver
//! computes the same point as `b·kA` (blind15) or `jb·kA` (blind25).
//!
//! The message bytes are opaque here: callers pass the padded `Content` (protocol.md §2.3) and
//! unpad what they get back.

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, Tag, XChaCha20Poly1305, XNonce};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use blake2::{Blake2b256, Digest};

use crate::account_id::AccountId;
use crate::blinding::{
    BlindedId, BlindedKeyPair, BlindingError, BlindingScheme, blind15_id_from_ed25519,
    blind25_id_from_ed25519, checked_mul, decode_prime_order_point, private_scalar,
};
use crate::error_kind::{ErrorKind, HasKind};
use crate::identity::{Identity, ed25519_public_to_x25519};

/// The version byte this module writes and accepts.
pub const VERSION: u8 = 0;
/// Length of the XChaCha20-Poly1305 nonce appended to the ciphertext.
pub const NONCE_LEN: usize = 24;
/// Length of the Poly1305 tag.
const TAG_LEN: usize = 16;
/// Length of the sender's Ed25519 key appended to the message inside the encryption.
const SENDER_KEY_LEN: usize = 32;
/// Bytes added to a message by encryption: version, sender key, tag and nonce.
pub const OVERHEAD: usize = 1 + SENDER_KEY_LEN + TAG_LEN + NONCE_LEN;

/// Whether a decrypted blinded message was sent to us or by us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From someone else to our blinded ID (an inbox item).
    Incoming,
    /// From our blinded ID to someone else (an outbox copy).
    Outgoing,
}

/// A decrypted blinded message and who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptedBlindedMessage {
    /// The message as the sender passed it (normally a padded `Content`).
    pub message: Zeroizing<Vec<u8>>,
    /// The sender's blinded ID (as given, and checked against [`Self::sender_ed25519`]).
    pub sender: BlindedId,
    /// The sender's real Ed25519 public key, carried inside the encryption.
    pub sender_ed25519: [u8; 32],
    /// The sender's Account ID, derived from [`Self::sender_ed25519`].
    pub sender_account_id: AccountId,
    /// Whether we received or sent this message.
    pub direction: Direction,
}

/// Encrypts `message` from `identity` to the blinded ID `recipient` on server `server_pk`, with a
/// fresh nonce from `rng`. The blinding scheme (15 or 25) is the recipient's.
pub fn encrypt_for_blinded_recipient<R: CryptoRng + ?Sized>(
    identity: &Identity,
    server_pk: &[u8; 32],
    recipient: &BlindedId,
    message: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, BlindedMessageError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    encrypt_for_blinded_recipient_with_nonce(identity, server_pk, recipient, message, &nonce)
}

/// [`encrypt_for_blinded_recipient`] with a given nonce (deterministic, for tests; a nonce must
/// never be reused with the same key).
pub fn encrypt_for_blinded_recipient_with_nonce(
    identity: &Identity,
    server_pk: &[u8; 32],
    recipient: &BlindedId,
    message: &[u8],
    nonce: &[u8; NONCE_LEN],
) -> Result<Vec<u8>, BlindedMessageError> {
    let ours = BlindedKeyPair::new(identity, recipient.scheme(), server_pk);
    let key = shared_key(identity, &ours, recipient, Direction::Outgoing)?;

    // Exact capacity: the plaintext is encrypted in place and never reallocated elsewhere.
    let mut out = Vec::with_capacity(OVERHEAD + message.len());
    out.push(VERSION);
    out.extend_from_slice(message);
    out.extend_from_slice(&identity.ed25519_public());
    let tag = XChaCha20Poly1305::new(&(*key).into())
        .encrypt_inout_detached(&XNonce::from(*nonce), b"", (&mut out[1..]).into())
        .map_err(|_| BlindedMessageError::MessageTooLong { len: message.len() })?;
    out.extend_from_slice(&tag);
    out.extend_from_slice(nonce);
    Ok(out)
}

/// Decrypts a blinded message between `sender` and `recipient` (as the server lists them) on
/// server `server_pk`, where one of the two is `identity`'s blinded ID.
///
/// Checks that the Ed25519 key inside the message blinds to `sender` (both sign candidates for
/// blind15, as libsession does), so the returned [`DecryptedBlindedMessage::sender_account_id`]
/// is authentic.
pub fn decrypt_blinded_message(
    identity: &Identity,
    server_pk: &[u8; 32],
    sender: &BlindedId,
    recipient: &BlindedId,
    data: &[u8],
) -> Result<DecryptedBlindedMessage, BlindedMessageError> {
    let scheme = recipient.scheme();
    if sender.scheme() != scheme {
        return Err(BlindedMessageError::SchemeMismatch {
            sender: *sender,
            recipient: *recipient,
        });
    }
    let ours = BlindedKeyPair::new(identity, scheme, server_pk);
    let (direction, other) = if *sender == ours.id() {
        (Direction::Outgoing, recipient)
    } else if *recipient == ours.id() {
        (Direction::Incoming, sender)
    } else {
        return Err(BlindedMessageError::NotOurs {
            sender: *sender,
            recipient: *recipient,
        });
    };

    let wire = split_wire(data)?;
    let key = shared_key(identity, &ours, other, direction)?;
    let mut plaintext = Zeroizing::new(wire.ciphertext.to_vec());
    XChaCha20Poly1305::new(&(*key).into())
        .decrypt_inout_detached(
            &XNonce::from(wire.nonce),
            b"",
            plaintext.as_mut_slice().into(),
            &Tag::from(wire.tag),
        )
        .map_err(|_| BlindedMessageError::DecryptionFailed)?;

    // `split_wire` already checked that the plaintext holds at least the sender key.
    let message_len = plaintext.len().saturating_sub(SENDER_KEY_LEN);
    let sender_ed25519: [u8; SENDER_KEY_LEN] = plaintext
        .get(message_len..)
        .and_then(|key| key.try_into().ok())
        .ok_or(BlindedMessageError::TooShort { len: data.len() })?;
    plaintext.truncate(message_len);

    let invalid_sender = |_: BlindingError| BlindedMessageError::InvalidSenderKey;
    let matches = match scheme {
        BlindingScheme::Blind15 => {
            let exact =
                blind15_id_from_ed25519(&sender_ed25519, server_pk).map_err(invalid_sender)?;
            exact == *sender || exact.with_sign_flipped() == *sender
        }
        BlindingScheme::Blind25 => {
            blind25_id_from_ed25519(&sender_ed25519, server_pk).map_err(invalid_sender)? == *sender
        }
    };
    if !matches {
        return Err(BlindedMessageError::SenderMismatch { sender: *sender });
    }
    let x25519 = ed25519_public_to_x25519(&sender_ed25519)
        .map_err(|_| BlindedMessageError::InvalidSenderKey)?;

    Ok(DecryptedBlindedMessage {
        message: plaintext,
        sender: *sender,
        sender_ed25519,
        sender_account_id: AccountId::from_x25519_public(x25519),
        direction,
    })
}

/// The parts of a blinded message on the wire, after the version byte.
struct WireParts<'a> {
    /// The encrypted `message || sender_ed25519_pk`.
    ciphertext: &'a [u8],
    /// The Poly1305 tag.
    tag: [u8; TAG_LEN],
    /// The XChaCha20 nonce.
    nonce: [u8; NONCE_LEN],
}

/// Splits `version || ciphertext || tag || nonce`, checking the version and that the
/// ciphertext can hold at least the sender key.
fn split_wire(data: &[u8]) -> Result<WireParts<'_>, BlindedMessageError> {
    let too_short = || BlindedMessageError::TooShort { len: data.len() };
    let Some((&version, rest)) = data.split_first() else {
        return Err(too_short());
    };
    if version != VERSION {
        return Err(BlindedMessageError::UnknownVersion { version });
    }
    if data.len() < OVERHEAD {
        return Err(too_short());
    }
    let (rest, nonce) = split_tail(rest, NONCE_LEN).ok_or_else(too_short)?;
    let (ciphertext, tag) = split_tail(rest, TAG_LEN).ok_or_else(too_short)?;
    Ok(WireParts {
        ciphertext,
        tag: tag.try_into().map_err(|_| too_short())?,
        nonce: nonce.try_into().map_err(|_| too_short())?,
    })
}

/// `bytes` split before its last `len` bytes, if it has that many.
fn split_tail(bytes: &[u8], len: usize) -> Option<(&[u8], &[u8])> {
    bytes.split_at_checked(bytes.len().checked_sub(len)?)
}

/// `BLAKE2b-32(shared || sender_key || recipient_key)` between our key pair and `other`.
fn shared_key(
    identity: &Identity,
    ours: &BlindedKeyPair,
    other: &BlindedId,
    direction: Direction,
) -> Result<Zeroizing<[u8; 32]>, BlindedMessageError> {
    let invalid = || BlindedMessageError::InvalidBlindedKey { id: *other };
    let point = decode_prime_order_point(&other.public_key()).ok_or_else(invalid)?;
    let scalar = match ours.scheme() {
        // Same factor k on both sides, so the plain scalar suffices: a·(kb·B) = b·(ka·B).
        BlindingScheme::Blind15 => private_scalar(identity),
        // Different factors: use the blinded scalar, k'a·(j'b·B) = j'b·(k'a·B).
        BlindingScheme::Blind25 => Zeroizing::new(*ours.scalar()),
    };
    let shared = Zeroizing::new(checked_mul(&scalar, &point).ok_or_else(invalid)?);
    let (sender_key, recipient_key) = match direction {
        Direction::Outgoing => (ours.public_key(), other.public_key()),
        Direction::Incoming => (other.public_key(), ours.public_key()),
    };
    let key: [u8; 32] = Blake2b256::new()
        .chain_update(*shared)
        .chain_update(sender_key)
        .chain_update(recipient_key)
        .finalize()
        .into();
    Ok(Zeroizing::new(key))
}

/// Why a blinded message could not be encrypted or decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlindedMessageError {
    /// The other party's blinded key is not a usable curve point.
    #[error("blinded ID {id} is not a valid curve point")]
    InvalidBlindedKey {
        /// The offending ID.
        id: BlindedId,
    },
    /// Sender and recipient use different blinding schemes.
    #[error("sender {sender} and recipient {recipient} use different blinding schemes")]
    SchemeMismatch {
        /// The sender as listed.
        sender: BlindedId,
        /// The recipient as listed.
        recipient: BlindedId,
    },
    /// Neither the sender nor the recipient is our blinded ID on this server (wrong account or
    /// wrong server key).
    #[error("neither sender {sender} nor recipient {recipient} is our blinded ID on this server")]
    NotOurs {
        /// The sender as listed.
        sender: BlindedId,
        /// The recipient as listed.
        recipient: BlindedId,
    },
    /// The data is shorter than the fixed overhead.
    #[error("a blinded message is at least {OVERHEAD} bytes, got {len}")]
    TooShort {
        /// How many bytes were given.
        len: usize,
    },
    /// The version byte is not one this build knows.
    #[error("blinded message version {version} is not supported (only {VERSION})")]
    UnknownVersion {
        /// The version byte found.
        version: u8,
    },
    /// Authenticated decryption failed: wrong key, or the data was altered.
    #[error("blinded message failed to decrypt (wrong key or altered data)")]
    DecryptionFailed,
    /// The Ed25519 key inside the message is not a usable key.
    #[error("the sender key inside the blinded message is not a valid Ed25519 key")]
    InvalidSenderKey,
    /// The Ed25519 key inside the message does not blind to the listed sender.
    #[error("the sender key inside the blinded message does not belong to sender {sender}")]
    SenderMismatch {
        /// The sender as listed.
        sender: BlindedId,
    },
    /// The message is too long for the cipher (over 256 GiB).
    #[error("message of {len} bytes is too long to encrypt")]
    MessageTooLong {
        /// The message length.
        len: usize,
    },
}

impl HasKind for BlindedMessageError {
    fn kind(&self) -> ErrorKind {
        match self {
            BlindedMessageError::InvalidBlindedKey { .. }
            | BlindedMessageError::SchemeMismatch { .. }
            | BlindedMessageError::TooShort { .. }
            | BlindedMessageError::InvalidSenderKey => ErrorKind::Malformed,
            BlindedMessageError::NotOurs { .. } | BlindedMessageError::MessageTooLong { .. } => {
                ErrorKind::InvalidInput
            }
            BlindedMessageError::UnknownVersion { .. } => ErrorKind::Unsupported,
            BlindedMessageError::DecryptionFailed | BlindedMessageError::SenderMismatch { .. } => {
                ErrorKind::BadSignature
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand_core::Rng;

    use super::*;
    use crate::identity::Seed;
    use crate::test_rng::TestRng;

    const SERVER: [u8; 32] = [0x33; 32];

    fn identity(seed: u64) -> Identity {
        Identity::from_seed(&Seed::generate(&mut TestRng::new(seed)))
    }

    fn id(identity: &Identity, scheme: BlindingScheme) -> BlindedId {
        BlindedKeyPair::new(identity, scheme, &SERVER).id()
    }

    #[test]
    fn round_trips_for_recipient_and_sender_in_both_schemes() {
        let alice = identity(1);
        let bob = identity(2);
        for scheme in [BlindingScheme::Blind15, BlindingScheme::Blind25] {
            let (a, b) = (id(&alice, scheme), id(&bob, scheme));
            let data =
                encrypt_for_blinded_recipient(&alice, &SERVER, &b, b"hi bob", &mut TestRng::new(3))
                    .unwrap();
            assert_eq!(data.len(), OVERHEAD + 6);
            assert_eq!(data[0], VERSION);

            let received = decrypt_blinded_message(&bob, &SERVER, &a, &b, &data).unwrap();
            assert_eq!(&received.message[..], b"hi bob");
            assert_eq!(received.sender, a);
            assert_eq!(received.sender_account_id, alice.account_id());
            assert_eq!(received.sender_ed25519, alice.ed25519_public());
            assert_eq!(received.direction, Direction::Incoming);

            let sent = decrypt_blinded_message(&alice, &SERVER, &a, &b, &data).unwrap();
            assert_eq!(&sent.message[..], b"hi bob");
            assert_eq!(sent.direction, Direction::Outgoing);
            assert_eq!(sent.sender_account_id, alice.account_id());
        }
    }

    #[test]
    fn every_flipped_bit_is_rejected_without_panicking() {
        let alice = identity(4);
        let bob = identity(5);
        let (a, b) = (
            id(&alice, BlindingScheme::Blind15),
            id(&bob, BlindingScheme::Blind15),
        );
        let data =
            encrypt_for_blinded_recipient_with_nonce(&alice, &SERVER, &b, b"x", &[9; 24]).unwrap();
        for index in 0..data.len() {
            let mut broken = data.clone();
            broken[index] ^= 0x01;
            let err = decrypt_blinded_message(&bob, &SERVER, &a, &b, &broken).unwrap_err();
            let expected = if index == 0 {
                BlindedMessageError::UnknownVersion { version: 1 }
            } else {
                BlindedMessageError::DecryptionFailed
            };
            assert_eq!(err, expected, "byte {index}");
        }
    }

    #[test]
    fn truncated_and_empty_inputs_are_typed_errors() {
        let alice = identity(6);
        let bob = identity(7);
        let (a, b) = (
            id(&alice, BlindingScheme::Blind25),
            id(&bob, BlindingScheme::Blind25),
        );
        let data =
            encrypt_for_blinded_recipient_with_nonce(&alice, &SERVER, &b, b"", &[1; 24]).unwrap();
        assert_eq!(data.len(), OVERHEAD);
        assert_eq!(
            decrypt_blinded_message(&bob, &SERVER, &a, &b, &data)
                .unwrap()
                .message
                .len(),
            0
        );
        for len in 0..data.len() {
            let err = decrypt_blinded_message(&bob, &SERVER, &a, &b, &data[..len]).unwrap_err();
            assert_eq!(err, BlindedMessageError::TooShort { len }, "len {len}");
            assert_eq!(err.kind(), ErrorKind::Malformed);
        }
        // Extra bytes shift the nonce: authentication fails.
        let mut longer = data.clone();
        longer.push(0);
        assert_eq!(
            decrypt_blinded_message(&bob, &SERVER, &a, &b, &longer).unwrap_err(),
            BlindedMessageError::DecryptionFailed
        );
    }

    #[test]
    fn random_garbage_gives_typed_errors() {
        let alice = identity(17);
        let bob = identity(18);
        let mut rng = TestRng::new(19);
        for scheme in [BlindingScheme::Blind15, BlindingScheme::Blind25] {
            let (a, b) = (id(&alice, scheme), id(&bob, scheme));
            for _ in 0..300 {
                let mut data = vec![0u8; rng.below(200)];
                rng.fill_bytes(&mut data);
                if rng.below(2) == 0
                    && let Some(first) = data.first_mut()
                {
                    *first = VERSION;
                }
                let err = decrypt_blinded_message(&bob, &SERVER, &a, &b, &data).unwrap_err();
                assert!(
                    matches!(
                        err,
                        BlindedMessageError::TooShort { .. }
                            | BlindedMessageError::UnknownVersion { .. }
                            | BlindedMessageError::DecryptionFailed
                    ),
                    "{err:?}"
                );
            }
        }
    }

    #[test]
    fn wrong_key_server_or_listing_is_rejected() {
        let alice = identity(8);
        let bob = identity(9);
        let carol = identity(10);
        let scheme = BlindingScheme::Blind15;
        let (a, b, c) = (id(&alice, scheme), id(&bob, scheme), id(&carol, scheme));
        let data =
            encrypt_for_blinded_recipient_with_nonce(&alice, &SERVER, &b, b"m", &[2; 24]).unwrap();

        // Carol is neither party.
        let err = decrypt_blinded_message(&carol, &SERVER, &a, &b, &data).unwrap_err();
        assert_eq!(
            err,
            BlindedMessageError::NotOurs {
                sender: a,
                recipient: b
            }
        );
        // Bob, but a different server key: his blinded ID differs there.
        assert!(matches!(
            decrypt_blinded_message(&bob, &[0x34; 32], &a, &b, &data),
            Err(BlindedMessageError::NotOurs { .. })
        ));
        // Listed as coming from Carol: the key differs, so decryption fails.
        assert_eq!(
            decrypt_blinded_message(&bob, &SERVER, &c, &b, &data).unwrap_err(),
            BlindedMessageError::DecryptionFailed
        );
        // Mixed schemes.
        let b25 = id(&bob, BlindingScheme::Blind25);
        let err = decrypt_blinded_message(&bob, &SERVER, &a, &b25, &data).unwrap_err();
        assert!(matches!(err, BlindedMessageError::SchemeMismatch { .. }));
        assert_eq!(err.kind(), ErrorKind::Malformed);
    }

    #[test]
    fn a_sender_key_that_does_not_blind_to_the_sender_is_rejected() {
        // Carol encrypts to Bob but puts Alice's Ed25519 key inside: build it by hand.
        let alice = identity(11);
        let bob = identity(12);
        let carol = identity(13);
        let scheme = BlindingScheme::Blind15;
        let (b, c) = (id(&bob, scheme), id(&carol, scheme));
        let ours = BlindedKeyPair::new(&carol, scheme, &SERVER);
        let key = shared_key(&carol, &ours, &b, Direction::Outgoing).unwrap();
        let mut out = vec![VERSION];
        out.extend_from_slice(b"forged");
        out.extend_from_slice(&alice.ed25519_public());
        let nonce = [5u8; 24];
        let tag = XChaCha20Poly1305::new(&(*key).into())
            .encrypt_inout_detached(&XNonce::from(nonce), b"", (&mut out[1..]).into())
            .unwrap();
        out.extend_from_slice(&tag);
        out.extend_from_slice(&nonce);
        let err = decrypt_blinded_message(&bob, &SERVER, &c, &b, &out).unwrap_err();
        assert_eq!(err, BlindedMessageError::SenderMismatch { sender: c });
        assert_eq!(err.kind(), ErrorKind::BadSignature);
    }

    #[test]
    fn recipients_that_are_not_points_are_rejected() {
        let alice = identity(14);
        let mut bytes = [0u8; 33];
        bytes[0] = 0x15;
        bytes[1] = 2;
        let bad = BlindedId::from_bytes(&bytes).unwrap();
        let err = encrypt_for_blinded_recipient_with_nonce(&alice, &SERVER, &bad, b"m", &[0; 24])
            .unwrap_err();
        assert_eq!(err, BlindedMessageError::InvalidBlindedKey { id: bad });
    }

    #[test]
    fn debug_does_not_show_the_message() {
        let alice = identity(15);
        let bob = identity(16);
        let scheme = BlindingScheme::Blind15;
        let (a, b) = (id(&alice, scheme), id(&bob, scheme));
        let data = encrypt_for_blinded_recipient_with_nonce(
            &alice,
            &SERVER,
            &b,
            b"very secret words",
            &[3; 24],
        )
        .unwrap();
        let received = decrypt_blinded_message(&bob, &SERVER, &a, &b, &data).unwrap();
        let debug = format!("{received:?}");
        assert!(!debug.contains("very secret"), "{debug}");
        assert!(
            !debug.contains(&hex::encode(b"very secret words")),
            "{debug}"
        );
    }
}
