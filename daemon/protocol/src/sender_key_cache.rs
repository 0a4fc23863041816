//! A bounded cache of senders' Ed25519 → X25519 key conversions.
//!
//! Every received 1:1 message names its sender by Ed25519 key, and the sender's Account ID is
//! that key's X25519 form. The conversion ([`ed25519_public_to_x25519`]) costs a scalar
//! multiplication (the prime-order subgroup check), over a quarter of what decrypting and
//! verifying the message costs (BENCHMARKS.md). Messages come from the same few contacts again
//! and again, so a receiver keeps the recent conversions in a [`SenderKeyCache`] and hands it to
//! [`decode_1o1_with`](crate::message::decode_1o1_with).

use std::collections::HashMap;
use std::fmt;

use crate::identity::{IdentityError, ed25519_public_to_x25519};

/// The X25519 keys of recently seen senders' Ed25519 keys, at most `capacity` of them; when full,
/// the least recently used one makes room.
///
/// A hit costs a hash-map lookup. A miss converts the key; in a full cache it also scans the
/// entries for the one to evict, a few microseconds for thousands of entries against the
/// ~23 µs conversion a hit saves. Keys that fail to convert are not kept (messages from them
/// are rejected anyway). `Debug` shows only the sizes: the keys identify contacts.
///
/// ```
/// use sessiond_protocol::message::{decode_1o1_with, encode_1o1};
/// use sessiond_protocol::{Identity, SenderKeyCache, Seed, proto};
/// # use rand_core::{TryCryptoRng, TryRng};
/// # struct Rng(u8);
/// # impl TryRng for Rng {
/// #     type Error = std::convert::Infallible;
/// #     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { Ok(7) }
/// #     fn try_next_u64(&mut self) -> Result<u64, Self::Error> { Ok(7) }
/// #     fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
/// #         dst.fill(self.0); self.0 = self.0.wrapping_add(1); Ok(())
/// #     }
/// # }
/// # impl TryCryptoRng for Rng {}
/// # let mut rng = Rng(1);
///
/// let alice = Identity::from_seed(&Seed::from_bytes(&[1; 16])?);
/// let bob = Identity::from_seed(&Seed::from_bytes(&[2; 16])?);
/// let content = proto::Content {
///     data_message: Some(proto::DataMessage {
///         body: Some("hi".into()),
///         ..Default::default()
///     }),
///     ..Default::default()
/// };
/// let stored = encode_1o1(&alice, &bob.account_id(), &content, 1_700_000_000_000, &mut rng)?;
///
/// let mut senders = SenderKeyCache::default();
/// let received = decode_1o1_with(&bob, &stored, |ed25519| senders.x25519_for(ed25519))?;
/// assert_eq!(received.sender, alice.account_id());
/// assert!(senders.contains(&alice.ed25519_public()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SenderKeyCache {
    /// Ed25519 key → its X25519 key and when it was last asked for.
    entries: HashMap<[u8; 32], Entry>,
    /// The most entries kept (at least 1).
    capacity: usize,
    /// Counts lookups: the "time" of [`Entry::last_used`].
    lookups: u64,
}

/// One cached conversion.
struct Entry {
    /// `ed25519_public_to_x25519` of the key.
    x25519: [u8; 32],
    /// The lookup count when the key was last asked for; the smallest is evicted first.
    last_used: u64,
}

impl SenderKeyCache {
    /// The capacity of [`SenderKeyCache::default`]: more contacts than most accounts write with,
    /// in about 40 KB.
    pub const DEFAULT_CAPACITY: usize = 256;

    /// An empty cache keeping at most `capacity` conversions (at least one).
    pub fn new(capacity: usize) -> SenderKeyCache {
        SenderKeyCache {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            lookups: 0,
        }
    }

    /// The X25519 key of `ed25519_public`, as [`ed25519_public_to_x25519`] gives it: from the
    /// cache, or converted and remembered.
    pub fn x25519_for(&mut self, ed25519_public: &[u8; 32]) -> Result<[u8; 32], IdentityError> {
        self.lookups += 1;
        if let Some(entry) = self.entries.get_mut(ed25519_public) {
            entry.last_used = self.lookups;
            return Ok(entry.x25519);
        }
        let x25519 = ed25519_public_to_x25519(ed25519_public)?;
        if self.entries.len() >= self.capacity {
            self.evict_least_recently_used();
        }
        self.entries.insert(
            *ed25519_public,
            Entry {
                x25519,
                last_used: self.lookups,
            },
        );
        Ok(x25519)
    }

    /// Whether the conversion of `ed25519_public` is cached (does not count as a use).
    pub fn contains(&self, ed25519_public: &[u8; 32]) -> bool {
        self.entries.contains_key(ed25519_public)
    }

    /// How many conversions are cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most conversions kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn evict_least_recently_used(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, entry)| entry.last_used)
            .map(|(key, _)| *key);
        if let Some(key) = oldest {
            self.entries.remove(&key);
        }
    }
}

impl Default for SenderKeyCache {
    fn default() -> SenderKeyCache {
        SenderKeyCache::new(SenderKeyCache::DEFAULT_CAPACITY)
    }
}

impl fmt::Debug for SenderKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyCache")
            .field("len", &self.entries.len())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Identity, Seed};

    fn ed25519(n: u8) -> [u8; 32] {
        Identity::from_seed(&Seed::from_bytes(&[n; 16]).unwrap()).ed25519_public()
    }

    #[test]
    fn hits_and_misses_give_the_conversion() {
        let mut cache = SenderKeyCache::new(4);
        for _ in 0..3 {
            for n in 1..=3 {
                assert_eq!(
                    cache.x25519_for(&ed25519(n)).unwrap(),
                    ed25519_public_to_x25519(&ed25519(n)).unwrap()
                );
            }
        }
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn a_full_cache_evicts_the_least_recently_used_key() {
        let mut cache = SenderKeyCache::new(3);
        for n in 1..=3 {
            cache.x25519_for(&ed25519(n)).unwrap();
        }
        // 1 is used again, so 2 is now the oldest.
        cache.x25519_for(&ed25519(1)).unwrap();
        cache.x25519_for(&ed25519(4)).unwrap();
        assert_eq!(cache.len(), 3);
        assert!(!cache.contains(&ed25519(2)));
        for n in [1, 3, 4] {
            assert!(cache.contains(&ed25519(n)), "{n}");
        }
        cache.x25519_for(&ed25519(5)).unwrap();
        assert!(!cache.contains(&ed25519(3)));
        assert_eq!(cache.len(), cache.capacity());
    }

    #[test]
    fn invalid_keys_fail_and_are_not_kept() {
        let mut cache = SenderKeyCache::new(2);
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        assert_eq!(
            cache.x25519_for(&identity_point),
            Err(IdentityError::InvalidEd25519Public)
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn capacity_is_at_least_one_and_debug_hides_the_keys() {
        let mut cache = SenderKeyCache::new(0);
        assert_eq!(cache.capacity(), 1);
        cache.x25519_for(&ed25519(1)).unwrap();
        cache.x25519_for(&ed25519(2)).unwrap();
        assert_eq!(cache.len(), 1);
        assert!(cache.contains(&ed25519(2)));
        assert_eq!(
            format!("{cache:?}"),
            "SenderKeyCache { len: 1, capacity: 1, .. }"
        );
        assert_eq!(
            SenderKeyCache::default().capacity(),
            SenderKeyCache::DEFAULT_CAPACITY
        );
    }
}
