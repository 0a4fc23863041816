//! Attachment and avatar crypto against real libsodium (protocol.md §5.3, §5.4, §0), on seeded
//! random inputs so that failures reproduce:
//! - deterministic attachments: our blobs pulled chunk by chunk with libsodium's
//!   `crypto_secretstream_xchacha20poly1305_*` (tags, padding, key derivation via libsodium's
//!   BLAKE2b), and streams pushed by libsodium decrypted by us, multi-chunk and with any padding;
//! - tampering: a random bit flip is rejected by both;
//! - BLAKE2b (`crypto_generichash`, `crypto_generichash_blake2b_salt_personal`) with random
//!   output lengths, keys and personalisations;
//! - legacy avatars: AES-256-GCM (`crypto_aead_aes256gcm_*`) both ways, where this CPU has it.
#![allow(clippy::unwrap_used)]
#![allow(unsafe_code)]

mod common;

use std::ptr;

use libsodium_sys as sodium;
use rand_core::Rng;
use sessiond_protocol::Seed;
use sessiond_protocol::attachment::deterministic::{
    self, CHUNK_OVERHEAD, CHUNK_SIZE, Domain, HEADER_LEN, KeyDerivation,
};
use sessiond_protocol::attachment::{AttachmentError, AttachmentKey};
use sessiond_protocol::avatar::{self, ProfileKey};
use sessiond_protocol::hash::{self, Blake2b};

use common::TestRng;
use common::libsodium::{self, Aead};

/// Randomized cases per test.
const CASES: usize = 128;
/// libsodium's secretstream tags.
const TAG_MESSAGE: u8 = 0;
const TAG_FINAL: u8 = 3;

/// A random file, its length as [`file_len`] picks it.
fn random_file(rng: &mut TestRng) -> Vec<u8> {
    let len = file_len(rng);
    rng.bytes_exact(len)
}

/// A file length: mostly near chunk boundaries (where the chunking can go wrong), sometimes
/// anywhere up to a few chunks.
fn file_len(rng: &mut TestRng) -> usize {
    match rng.upto(3) {
        0 => rng.upto(200),
        1 => (rng.upto(4) * CHUNK_SIZE).saturating_sub(rng.upto(40)) + rng.upto(40),
        _ => rng.upto(4 * CHUNK_SIZE + 100),
    }
}

// ---- libsodium wrappers ----

fn new_state() -> sodium::crypto_secretstream_xchacha20poly1305_state {
    sodium::crypto_secretstream_xchacha20poly1305_state {
        k: [0; 32],
        nonce: [0; 12],
        _pad: [0; 8],
    }
}

/// What libsodium makes of a deterministic blob: each chunk's plaintext and tag, or `None` as
/// soon as a chunk fails to authenticate.
fn sodium_pull_all(key: &[u8; 32], blob: &[u8]) -> Option<Vec<(Vec<u8>, u8)>> {
    libsodium::init();
    let header = &blob[1..1 + HEADER_LEN];
    let mut state = new_state();
    let rc = unsafe {
        sodium::crypto_secretstream_xchacha20poly1305_init_pull(
            &mut state,
            header.as_ptr(),
            key.as_ptr(),
        )
    };
    assert_eq!(rc, 0);
    let mut chunks = Vec::new();
    for chunk in blob[1 + HEADER_LEN..].chunks(CHUNK_SIZE + CHUNK_OVERHEAD) {
        if chunk.len() < CHUNK_OVERHEAD {
            return None;
        }
        let mut plain = vec![0u8; chunk.len() - CHUNK_OVERHEAD];
        let mut plain_len = 0u64;
        let mut tag = 0u8;
        let rc = unsafe {
            sodium::crypto_secretstream_xchacha20poly1305_pull(
                &mut state,
                plain.as_mut_ptr(),
                &mut plain_len,
                &mut tag,
                chunk.as_ptr(),
                chunk.len() as u64,
                ptr::null(),
                0,
            )
        };
        if rc != 0 {
            return None;
        }
        assert_eq!(plain_len as usize, plain.len());
        chunks.push((plain, tag));
    }
    Some(chunks)
}

/// A deterministic-format blob made by libsodium: a random header from `init_push`, `stream` cut
/// into 32 768-byte chunks, the last tagged FINAL.
fn sodium_push_blob(key: &[u8; 32], stream: &[u8]) -> Vec<u8> {
    libsodium::init();
    let mut state = new_state();
    let mut header = [0u8; HEADER_LEN];
    let rc = unsafe {
        sodium::crypto_secretstream_xchacha20poly1305_init_push(
            &mut state,
            header.as_mut_ptr(),
            key.as_ptr(),
        )
    };
    assert_eq!(rc, 0);
    let mut blob = vec![b'S'];
    blob.extend_from_slice(&header);
    let chunks: Vec<&[u8]> = stream.chunks(CHUNK_SIZE).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let tag = if i + 1 == chunks.len() {
            TAG_FINAL
        } else {
            TAG_MESSAGE
        };
        let mut out = vec![0u8; chunk.len() + CHUNK_OVERHEAD];
        let mut out_len = 0u64;
        let rc = unsafe {
            sodium::crypto_secretstream_xchacha20poly1305_push(
                &mut state,
                out.as_mut_ptr(),
                &mut out_len,
                chunk.as_ptr(),
                chunk.len() as u64,
                ptr::null(),
                0,
                tag,
            )
        };
        assert_eq!(rc, 0);
        assert_eq!(out_len as usize, out.len());
        blob.extend_from_slice(&out);
    }
    blob
}

/// libsodium's BLAKE2b with optional key and personalisation (null salt).
fn sodium_blake2b(
    out_len: usize,
    key: Option<&[u8]>,
    personal: Option<&[u8; 16]>,
    message: &[u8],
) -> Vec<u8> {
    libsodium::init();
    let mut out = vec![0u8; out_len];
    let (key_ptr, key_len) = key.map_or((ptr::null(), 0), |k| (k.as_ptr(), k.len()));
    let rc = unsafe {
        match personal {
            None => sodium::crypto_generichash(
                out.as_mut_ptr(),
                out_len,
                message.as_ptr(),
                message.len() as u64,
                key_ptr,
                key_len,
            ),
            Some(personal) => sodium::crypto_generichash_blake2b_salt_personal(
                out.as_mut_ptr(),
                out_len,
                message.as_ptr(),
                message.len() as u64,
                key_ptr,
                key_len,
                ptr::null(),
                personal.as_ptr(),
            ),
        }
    };
    assert_eq!(rc, 0);
    out
}

/// `iv ‖ AES-256-GCM(key, iv, image) ‖ tag` by libsodium.
fn sodium_gcm_encrypt(key: &[u8; 32], iv: &[u8; 12], image: &[u8]) -> Vec<u8> {
    [
        iv,
        &libsodium::aead_encrypt(Aead::Aes256Gcm, key, iv, image)[..],
    ]
    .concat()
}

/// libsodium's AES-256-GCM decryption of `iv ‖ ct ‖ tag`, `None` if it does not authenticate.
fn sodium_gcm_decrypt(key: &[u8; 32], blob: &[u8]) -> Option<Vec<u8>> {
    let (iv, ct) = blob.split_at(12);
    libsodium::aead_decrypt(Aead::Aes256Gcm, key, iv, ct)
}

// ---- deterministic attachments (secretstream) ----

#[test]
fn our_deterministic_blobs_pull_in_libsodium_with_the_expected_chunks_tags_and_key() {
    let mut rng = TestRng::new(0x5eed_0001);
    let mut multi_chunk = 0;
    for case in 0..CASES {
        let seed_bytes = rng.array::<32>();
        let seed = Seed::from_bytes(&seed_bytes).unwrap();
        let data = random_file(&mut rng);
        let domain = if rng.upto(1) == 0 {
            Domain::Attachment
        } else {
            Domain::ProfilePicture
        };
        let derivation = if rng.upto(1) == 0 {
            KeyDerivation::Libsession2025
        } else {
            KeyDerivation::Libsession2026
        };
        let enc = deterministic::encrypt_with_derivation(&seed, &data, domain, derivation).unwrap();

        // The header and key are libsodium's BLAKE2b-56 of the data, as libsession derives them.
        let (domain_byte, personal): (u8, &[u8; 16]) = match domain {
            Domain::Attachment => (0, b"SessionAttachmnt"),
            Domain::ProfilePicture => (1, b"Session_Prof_Pic"),
        };
        let nonce_key = match derivation {
            KeyDerivation::Libsession2025 => sodium_blake2b(
                56,
                Some(&[domain_byte]),
                None,
                &[seed_bytes.as_slice(), &data].concat(),
            ),
            KeyDerivation::Libsession2026 => {
                sodium_blake2b(56, Some(&seed_bytes), Some(personal), &data)
            }
        };
        assert_eq!(enc.blob[0], b'S');
        assert_eq!(
            &enc.blob[1..1 + HEADER_LEN],
            &nonce_key[..HEADER_LEN],
            "case {case}"
        );
        assert_eq!(enc.key.as_bytes(), &nonce_key[HEADER_LEN..], "case {case}");

        // libsodium pulls every chunk; only the last is FINAL; the stream is the padding then
        // the data.
        let chunks = sodium_pull_all(enc.key.as_bytes(), &enc.blob).unwrap();
        let padding = deterministic::padding_len(data.len()).unwrap();
        let mut expected_stream = vec![0u8; padding - 1];
        expected_stream.push(1);
        expected_stream.extend_from_slice(&data);
        assert_eq!(chunks.len(), expected_stream.len().div_ceil(CHUNK_SIZE));
        for (i, (plain, tag)) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            assert_eq!(
                *tag,
                if last { TAG_FINAL } else { TAG_MESSAGE },
                "case {case}"
            );
            assert!(last || plain.len() == CHUNK_SIZE);
        }
        let stream: Vec<u8> = chunks.into_iter().flat_map(|(plain, _)| plain).collect();
        assert!(stream == expected_stream, "case {case}: stream differs");
        if expected_stream.len() > CHUNK_SIZE {
            multi_chunk += 1;
        }
    }
    assert!(
        multi_chunk >= CASES / 4,
        "only {multi_chunk} multi-chunk cases"
    );
}

#[test]
fn libsodium_pushed_streams_decrypt_here_with_any_padding() {
    let mut rng = TestRng::new(0x5eed_0002);
    let mut multi_chunk = 0;
    for case in 0..CASES {
        let key = rng.array::<32>();
        let data = random_file(&mut rng);
        // Any padding amount, including whole zero chunks before the data.
        let padding = 1 + match rng.upto(2) {
            0 => rng.upto(50),
            _ => rng.upto(2 * CHUNK_SIZE + 100),
        };
        let mut stream = vec![0u8; padding - 1];
        stream.push(1);
        stream.extend_from_slice(&data);
        if stream.len() > CHUNK_SIZE {
            multi_chunk += 1;
        }
        let blob = sodium_push_blob(&key, &stream);
        let got = deterministic::decrypt(&AttachmentKey::from_array(key), &blob);
        assert!(
            got.as_deref() == Ok(data.as_slice()),
            "case {case}: {:?}",
            got.err()
        );
    }
    assert!(
        multi_chunk >= CASES / 4,
        "only {multi_chunk} multi-chunk cases"
    );
}

#[test]
fn a_random_bit_flip_is_rejected_by_libsodium_and_by_us() {
    let mut rng = TestRng::new(0x5eed_0003);
    for case in 0..CASES {
        let seed = Seed::from_bytes(&rng.array::<32>()).unwrap();
        let data = random_file(&mut rng);
        let enc = deterministic::encrypt(&seed, &data, Domain::Attachment).unwrap();
        assert!(sodium_pull_all(enc.key.as_bytes(), &enc.blob).is_some());

        // Anywhere after the 'S' (header or chunks), which both implementations read.
        let mut bad = enc.blob.clone();
        let at = 1 + rng.upto(bad.len() - 2);
        bad[at] ^= 1 << rng.upto(7);
        assert!(
            sodium_pull_all(enc.key.as_bytes(), &bad).is_none(),
            "case {case}: libsodium accepted a flip at {at}"
        );
        let err = deterministic::decrypt(&enc.key, &bad).unwrap_err();
        assert!(
            matches!(err, AttachmentError::ChunkAuthentication { .. }),
            "case {case}: flip at {at} gave {err:?}"
        );
    }
}

// ---- BLAKE2b ----

#[test]
fn blake2b_matches_libsodium_generichash_for_random_lengths_and_keys() {
    let mut rng = TestRng::new(0x5eed_0004);
    for case in 0..CASES * 2 {
        let out_len = 1 + rng.upto(63);
        let key = match rng.upto(3) {
            0 => None,
            _ => Some(rng.bytes_between(1, 64)),
        };
        let message = rng.bytes_between(0, 600);
        let expected = sodium_blake2b(out_len, key.as_deref(), None, &message);
        assert_eq!(
            hash::blake2b(out_len, key.as_deref(), &message).unwrap(),
            expected,
            "case {case}"
        );
        // Incrementally, split at a random point.
        let split = rng.upto(message.len());
        let mut hasher = Blake2b::new(out_len, key.as_deref()).unwrap();
        hasher.update(&message[..split]).update(&message[split..]);
        assert_eq!(hasher.finalize(), expected, "case {case}");
    }
}

#[test]
fn personalised_blake2b_matches_libsodium_salt_personal() {
    let mut rng = TestRng::new(0x5eed_0005);
    for case in 0..CASES {
        let out_len = 1 + rng.upto(63);
        let key = match rng.upto(2) {
            0 => None,
            _ => Some(rng.bytes_between(1, 64)),
        };
        let mut personal = [0u8; 16];
        rng.fill_bytes(&mut personal);
        let message = rng.bytes_between(0, 600);
        let mut hasher = Blake2b::with_personal(out_len, key.as_deref(), Some(&personal)).unwrap();
        hasher.update(&message);
        assert_eq!(
            hasher.finalize(),
            sodium_blake2b(out_len, key.as_deref(), Some(&personal), &message),
            "case {case}"
        );
    }
}

// ---- legacy avatars (AES-256-GCM) ----

#[test]
fn legacy_avatars_interoperate_with_libsodium_aes256gcm() {
    if !libsodium::aes_gcm_available() {
        eprintln!("libsodium has no AES-256-GCM on this CPU; skipping");
        return;
    }
    let mut rng = TestRng::new(0x5eed_0006);
    for case in 0..CASES {
        let key_bytes = rng.array::<32>();
        let key = ProfileKey::from_array(key_bytes);
        let mut iv = [0u8; 12];
        rng.fill_bytes(&mut iv);
        let image = rng.bytes_between(1, 5000);

        let ours = avatar::encrypt_legacy_with_iv(&key, iv, &image).unwrap();
        assert_eq!(
            ours,
            sodium_gcm_encrypt(&key_bytes, &iv, &image),
            "case {case}"
        );
        assert_eq!(sodium_gcm_decrypt(&key_bytes, &ours).unwrap(), image);

        let theirs = sodium_gcm_encrypt(&key_bytes, &iv, &image);
        assert_eq!(avatar::decrypt_legacy(&key, &theirs).unwrap(), image);

        let mut bad = theirs.clone();
        let at = rng.upto(bad.len() - 1);
        bad[at] ^= 1 << rng.upto(7);
        assert!(
            sodium_gcm_decrypt(&key_bytes, &bad).is_none(),
            "case {case}"
        );
        assert_eq!(
            avatar::decrypt_legacy(&key, &bad),
            Err(AttachmentError::AvatarAuthentication),
            "case {case}"
        );
    }
}
