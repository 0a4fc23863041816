//! Which swarm stores the messages of a given 33-byte ID (protocol.md §3.2).
//!
//! Every service node belongs to a swarm, named by a `u64` swarm id; an ID's messages live on
//! the swarm whose id is nearest to the ID's position in the same 64-bit space. A client that
//! computes this itself can go straight to the right nodes instead of asking for them. This
//! module reproduces the storage server's rule exactly (`oxenss/snode/swarm.cpp`
//! `pubkey_to_swarm_space` and `get_swarm_by_pk`; libsession's `get_swarm` is the same): the
//! position is the XOR of the key's four 8-byte words read big-endian, distances wrap around
//! 2⁶⁴, and a tie goes to the *predecessor* id, which after wrap-around is the highest id
//! (§11 pitfall 29).

/// A swarm's id: a position in the 64-bit swarm space.
pub type SwarmId = u64;

/// The swarm id of decommissioned nodes (2⁶⁴−1); such nodes belong to no swarm and the id is
/// never a candidate.
pub const INVALID_SWARM_ID: SwarmId = u64::MAX;

/// The position of a 33-byte ID (prefix byte + 32-byte key) in the swarm space: the four 8-byte
/// words of the key XORed together, read big-endian. The prefix byte does not take part.
pub fn swarm_space(id: &[u8; 33]) -> u64 {
    let mut xored = [0u8; 8];
    // Skip the prefix byte: 32 bytes, four words.
    for word in id[1..].chunks_exact(8) {
        for (acc, byte) in xored.iter_mut().zip(word) {
            *acc ^= byte;
        }
    }
    u64::from_be_bytes(xored)
}

/// The swarm that stores messages for the 33-byte `id`, chosen among `swarm_ids` as the storage
/// server chooses. `None` when there is no swarm to choose from.
///
/// `swarm_ids` may be in any order and may repeat ids (one entry per node is fine);
/// [`INVALID_SWARM_ID`] entries are ignored.
pub fn swarm_for_id(id: &[u8; 33], swarm_ids: &[SwarmId]) -> Option<SwarmId> {
    swarm_for_space(swarm_space(id), swarm_ids)
}

/// The swarm nearest to the position `space`, as [`swarm_for_id`] chooses it.
///
/// With the distinct valid ids in ascending order: `right` is the first id `>= space` (or the
/// lowest id, wrapping), `left` the id before `right` (or the highest id, wrapping); the closer
/// one by wrapping distance wins, a tie goes to `left`.
pub fn swarm_for_space(space: u64, swarm_ids: &[SwarmId]) -> Option<SwarmId> {
    let valid = || {
        swarm_ids
            .iter()
            .copied()
            .filter(|&id| id != INVALID_SWARM_ID)
    };
    let lowest = valid().min()?;
    let highest = valid().max()?;
    if lowest == highest {
        return Some(lowest);
    }
    let right = valid().filter(|&id| id >= space).min().unwrap_or(lowest);
    let left = if right == lowest {
        highest
    } else {
        // There is an id below `right`: `lowest` is one.
        valid().filter(|&id| id < right).max().unwrap_or(lowest)
    };
    let dright = right.wrapping_sub(space);
    let dleft = space.wrapping_sub(left);
    Some(if dright < dleft { right } else { left })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_valid_swarm_gives_none() {
        assert_eq!(swarm_for_space(5, &[]), None);
        assert_eq!(
            swarm_for_space(5, &[INVALID_SWARM_ID, INVALID_SWARM_ID]),
            None
        );
    }

    #[test]
    fn a_single_swarm_takes_everything() {
        for space in [0, 1, 1 << 63, u64::MAX] {
            assert_eq!(
                swarm_for_space(space, &[42, 42, INVALID_SWARM_ID]),
                Some(42)
            );
        }
    }

    #[test]
    fn order_duplicates_and_invalid_ids_do_not_matter() {
        let sorted = [0x1000, 0x7000, 0xc000];
        let messy = [0xc000, INVALID_SWARM_ID, 0x1000, 0xc000, 0x7000, 0x1000];
        for space in (0..0x10000u64).step_by(0x123) {
            assert_eq!(
                swarm_for_space(space, &messy),
                swarm_for_space(space, &sorted)
            );
        }
    }

    #[test]
    fn exact_hit_and_extremes_map_as_the_server_does() {
        let ids = [10, 20];
        assert_eq!(swarm_for_space(20, &ids), Some(20));
        assert_eq!(swarm_for_space(10, &ids), Some(10));
        // 15: tie between 10 (left) and 20 (right) -> left.
        assert_eq!(swarm_for_space(15, &ids), Some(10));
        assert_eq!(swarm_for_space(16, &ids), Some(20));
        // Above the highest id: right wraps to 10 (distance 2^64-u64::MAX+10 = 11), left is 20.
        assert_eq!(swarm_for_space(u64::MAX, &ids), Some(10));
        assert_eq!(swarm_for_space(0, &ids), Some(10));
        // The highest id itself, when it is u64::MAX - 1 (u64::MAX is invalid).
        assert_eq!(
            swarm_for_space(u64::MAX, &[u64::MAX - 1, 5]),
            Some(u64::MAX - 1)
        );
    }

    #[test]
    fn prefix_byte_does_not_change_the_space() {
        let mut id = [7u8; 33];
        id[0] = 0x05;
        let a = swarm_space(&id);
        id[0] = 0x03;
        assert_eq!(swarm_space(&id), a);
        // Four equal words XOR to zero.
        assert_eq!(a, 0);
    }
}
