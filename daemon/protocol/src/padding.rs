//! Message padding for 1:1, sync and community messages (protocol.md §2.3).
//!
//! A serialized `Content` is padded before encryption so that ciphertext lengths reveal little:
//! a `0x80` byte, then zeros up to a multiple of 160 bytes. Two variants exist in the wild and
//! every receiver accepts both:
//! - libsession's `pad_message` (what [`pad`] produces, and what current clients send): the total
//!   is a multiple of 160, with a whole extra block when `len + 1` already is one;
//! - the legacy desktop/session.js `addMessagePadding` ([`pad_legacy`]): one byte short of a
//!   multiple of 160.
//!
//! [`unpad`] undoes either, the way current desktop does (libsession `unpad_message`).

/// Padded messages are a multiple of this many bytes (libsession variant).
pub const PADDING_BLOCK: usize = 160;

/// The byte that ends the message and starts the padding.
const PADDING_START: u8 = 0x80;

/// Pads a message the way libsession (and so every current official client) does:
/// `message || 0x80 || 0x00…` to the next multiple of 160 strictly greater than `len`.
pub fn pad(message: &[u8]) -> Vec<u8> {
    let unpadded = message.len() + 1;
    let total = unpadded + (PADDING_BLOCK - unpadded % PADDING_BLOCK);
    let mut padded = Vec::with_capacity(total);
    padded.extend_from_slice(message);
    padded.push(PADDING_START);
    padded.resize(total, 0);
    padded
}

/// Pads a message the way legacy desktop and session.js did: total length
/// `160·⌈(len + 2)/160⌉ − 1`. Only for tests and interoperability checks; send [`pad`].
pub fn pad_legacy(message: &[u8]) -> Vec<u8> {
    let total = (message.len() + 2).div_ceil(PADDING_BLOCK) * PADDING_BLOCK - 1;
    let mut padded = Vec::with_capacity(total);
    padded.extend_from_slice(message);
    padded.push(PADDING_START);
    padded.resize(total, 0);
    padded
}

/// Removes either padding variant, as libsession's `unpad_message` (current desktop) does.
///
/// Trailing zeros are stripped; the first `0x80` met ends the padding and is stripped too. If
/// another byte comes first, the message is taken as unpadded and returned without its trailing
/// zeros (so a message that was sent unpadded and ends in `0x00` loses those bytes — the reason
/// we always pad, pitfall 6). Never fails: an input of only zeros gives an empty message.
///
/// (Legacy desktop differed only for unpadded input: it kept the zeros and rejected all-zero
/// input. No current client sends unpadded 1:1 messages.)
pub fn unpad(padded: &[u8]) -> &[u8] {
    let mut end = padded.len();
    while let Some(&byte) = end.checked_sub(1).and_then(|last| padded.get(last)) {
        if byte != 0 && byte != PADDING_START {
            break;
        }
        end -= 1;
        if byte == PADDING_START {
            break;
        }
    }
    padded.get(..end).unwrap_or(padded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_reaches_the_next_multiple_of_160_strictly_above_len() {
        for (len, expected) in [(0, 160), (158, 160), (159, 320), (160, 320), (319, 480)] {
            let padded = pad(&vec![1u8; len]);
            assert_eq!(padded.len(), expected, "len {len}");
            assert_eq!(padded[len], 0x80);
            assert!(padded[len + 1..].iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn pad_legacy_is_one_short_of_a_multiple_of_160() {
        for (len, expected) in [(0, 159), (157, 159), (158, 159), (159, 319), (318, 319)] {
            let padded = pad_legacy(&vec![1u8; len]);
            assert_eq!(padded.len(), expected, "len {len}");
            assert_eq!(padded[len], 0x80);
        }
    }

    #[test]
    fn unpad_undoes_both_variants_including_content_ending_in_0x80_or_zero() {
        for len in 0..500 {
            for last in [0x00, 0x80, 0x01] {
                let mut message = vec![7u8; len];
                if let Some(byte) = message.last_mut() {
                    *byte = last;
                }
                assert_eq!(unpad(&pad(&message)), &message[..], "len {len}");
                assert_eq!(unpad(&pad_legacy(&message)), &message[..], "len {len}");
            }
        }
    }

    #[test]
    fn unpad_treats_other_final_bytes_as_unpadded_and_strips_zeros() {
        assert_eq!(unpad(b"abc"), b"abc");
        assert_eq!(unpad(b"abc\0\0"), b"abc");
        assert_eq!(unpad(&[0, 0, 0]), b"");
        assert_eq!(unpad(b""), b"");
        // Only one 0x80 is removed.
        assert_eq!(unpad(&[1, 0x80, 0x80, 0]), &[1, 0x80]);
    }
}
