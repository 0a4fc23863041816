//! Attachment, avatar and BLAKE2b code against the published vectors
//! (`shared/protocol/vectors.json`, protocol.md §5.2–5.4 and §0): every `attachments.*`,
//! `avatars.*` and `hash.*` vector.
#![allow(clippy::unwrap_used)]

mod common;

use sessiond_protocol::Seed;
use sessiond_protocol::attachment::deterministic::{self, Domain, KeyDerivation};
use sessiond_protocol::attachment::legacy::{self, LegacyKeys, Padding};
use sessiond_protocol::attachment::{self, AttachmentError, AttachmentKey, Scheme};
use sessiond_protocol::avatar;
use sessiond_protocol::hash::{self, Blake2b};
use sha2::{Digest, Sha256};

use common::{bytes, data, family_ids, number, text};

/// Vectors this file checks.
const COVERED: &[&str] = &[
    "hash.libsession.blake2b",
    "attachments.libsession.deterministic_sizes",
    "attachments.desktop.legacy_aes_cbc_fixed_iv",
    "attachments.libsession.deterministic_fixed",
    "avatars.desktop.legacy_aes_gcm_fixed_iv",
];

/// The plaintext libsession's and these vectors' tests use: byte i = (i * 7) mod 256.
fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 256) as u8).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[test]
fn every_attachment_avatar_and_hash_vector_is_covered() {
    assert_eq!(family_ids(&["attachments.", "avatars.", "hash."]), COVERED);
}

#[test]
fn blake2b_matches_libsession_with_and_without_key() {
    let cases = data("hash.libsession.blake2b")["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let message = text(&case["message_utf8"]).as_bytes();
        let size = number(&case["size"]);
        let key = case.get("key_utf8").map(|k| text(k).as_bytes());
        if key.is_none() {
            assert!(case["key"].is_null());
        }
        let expected = bytes(&case["hash"]);
        assert_eq!(hash::blake2b(size, key, message).unwrap(), expected);
        // The incremental form, fed byte by byte, agrees.
        let mut hasher = Blake2b::new(size, key).unwrap();
        for byte in message {
            hasher.update(std::slice::from_ref(byte));
        }
        assert_eq!(hasher.finalize(), expected);
    }
}

#[test]
fn legacy_padded_sizes_match_desktop_table() {
    let table = data("attachments.desktop.legacy_aes_cbc_fixed_iv")["padded_sizes"]
        .as_object()
        .unwrap();
    assert_eq!(table.len(), 9);
    for (len, padded) in table {
        let len: usize = len.parse().unwrap();
        assert_eq!(legacy::padded_size(len), number(padded), "len {len}");
    }
}

#[test]
fn legacy_fixed_key_and_iv_encrypt_to_the_vector_blob_and_back() {
    let data = data("attachments.desktop.legacy_aes_cbc_fixed_iv");
    let keys = LegacyKeys::from_bytes(&bytes(&data["keys"])).unwrap();
    let iv: [u8; 16] = bytes(&data["iv"]).try_into().unwrap();
    let plaintext_len = number(&data["plaintext_len"]);
    assert_eq!(
        text(&data["plaintext"]),
        "1000 bytes, byte i = (i*7) mod 256"
    );
    let plaintext = sample(plaintext_len);
    let blob = bytes(&data["blob"]);
    let digest = bytes(&data["digest"]);

    assert_eq!(
        legacy::padded_size(plaintext_len),
        number(&data["padded_len"])
    );
    let enc = legacy::encrypt_with(keys.clone(), iv, &plaintext, Padding::Padded).unwrap();
    assert_eq!(enc.blob.len(), number(&data["blob_len"]));
    assert_eq!(hex::encode(&enc.blob), hex::encode(&blob));
    assert_eq!(enc.digest.to_vec(), digest);
    assert_eq!(enc.keys.as_bytes().to_vec(), bytes(&data["keys"]));

    let size = Some(u32::try_from(plaintext_len).unwrap());
    let got = legacy::decrypt(&keys, &blob, Some(&digest), size).unwrap();
    assert_eq!(got, plaintext);
    // Through the pointer-level entry point, as a receiver sees it.
    let got =
        attachment::decrypt_pointer(Scheme::Legacy, keys.as_bytes(), Some(&digest), size, &blob)
            .unwrap();
    assert_eq!(got, plaintext);
    // The padded length is what decrypts before the size cut.
    let padded_len = u32::try_from(number(&data["padded_len"])).unwrap();
    let padded = legacy::decrypt(&keys, &blob, Some(&digest), Some(padded_len)).unwrap();
    assert_eq!(padded.len(), number(&data["padded_len"]));
    assert_eq!(
        legacy::decrypt(&keys, &blob, Some(&digest), Some(padded_len + 1)),
        Err(AttachmentError::SizeTooLarge {
            size: padded_len + 1,
            decrypted: number(&data["padded_len"]),
        })
    );
}

#[test]
fn legacy_vector_blob_is_rejected_when_tampered_or_with_the_wrong_digest() {
    let data = data("attachments.desktop.legacy_aes_cbc_fixed_iv");
    let keys = LegacyKeys::from_bytes(&bytes(&data["keys"])).unwrap();
    let blob = bytes(&data["blob"]);
    let digest = bytes(&data["digest"]);
    let mut tampered = blob.clone();
    tampered[500] ^= 0x04;
    assert_eq!(
        legacy::decrypt(&keys, &tampered, Some(&digest), Some(1000)),
        Err(AttachmentError::MacMismatch)
    );
    let mut wrong_digest = digest.clone();
    wrong_digest[31] ^= 0x01;
    assert_eq!(
        legacy::decrypt(&keys, &blob, Some(&wrong_digest), Some(1000)),
        Err(AttachmentError::DigestMismatch)
    );
}

#[test]
fn deterministic_sizes_match_libsession_for_every_listed_length() {
    let data = data("attachments.libsession.deterministic_sizes");
    assert_eq!(
        number(&data["max_regular_size"]),
        deterministic::MAX_REGULAR_SIZE
    );
    assert_eq!(text(&data["domain"]), "ATTACHMENT (0x00)");
    let seed = Seed::from_bytes(&bytes(&data["seed"])).unwrap();
    let sizes = data["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 22);
    for pair in sizes {
        let len = number(&pair[0]);
        let expected = number(&pair[1]);
        assert_eq!(
            deterministic::encrypted_size(len),
            Some(expected),
            "len {len}"
        );
        if len > deterministic::MAX_REGULAR_SIZE {
            // libsession needs `allow_large` for these; we do not encrypt them.
            assert_eq!(
                deterministic::encrypt(&seed, &vec![0u8; len], Domain::Attachment).unwrap_err(),
                AttachmentError::TooLarge {
                    size: len,
                    max: deterministic::MAX_REGULAR_SIZE
                }
            );
            continue;
        }
        // Encrypting for real gives exactly that size, decrypts back, and is deterministic.
        // (The vector's note says 10 000 000 needs libsession's `allow_large`; it is below
        // MAX_REGULAR_SIZE, the only bound libsession's `start_encryption` checks.)
        let plaintext = sample(len);
        let enc = deterministic::encrypt(&seed, &plaintext, Domain::Attachment).unwrap();
        assert_eq!(enc.blob.len(), expected, "len {len}");
        assert_eq!(
            deterministic::decrypt(&enc.key, &enc.blob).unwrap(),
            plaintext
        );
        let again = deterministic::encrypt(&seed, &plaintext, Domain::Attachment).unwrap();
        assert_eq!(again.blob, enc.blob, "deterministic for len {len}");
    }
}

fn domain_of(name: &str) -> Domain {
    match name {
        "attachment" => Domain::Attachment,
        "profile_pic" => Domain::ProfilePicture,
        other => panic!("unknown domain {other}"),
    }
}

#[test]
fn deterministic_fixed_cases_match_byte_for_byte_with_the_2026_derivation() {
    let data = data("attachments.libsession.deterministic_fixed");
    let seed = Seed::from_bytes(&bytes(&data["seed"])).unwrap();
    let cases = data["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let len = number(&case["plaintext_len"]);
        let domain = domain_of(text(&case["domain"]));
        let plaintext = sample(len);
        let enc = deterministic::encrypt(&seed, &plaintext, domain).unwrap();
        assert_eq!(
            enc.key.as_bytes().to_vec(),
            bytes(&case["key"]),
            "len {len}"
        );
        assert_eq!(enc.blob.len(), number(&case["encrypted_len"]));
        assert_eq!(sha256_hex(&enc.blob), text(&case["encrypted_sha256"]));
        assert_eq!(
            hex::encode(&enc.blob[..64]),
            text(&case["encrypted_first_64_bytes"])
        );
        if let Some(full) = case.get("encrypted") {
            assert_eq!(hex::encode(&enc.blob), text(full));
        }
        assert_eq!(
            deterministic::encrypt_with_derivation(
                &seed,
                &plaintext,
                domain,
                KeyDerivation::Libsession2026
            )
            .unwrap()
            .blob,
            enc.blob
        );

        // The receiver's side: only the key.
        let key = AttachmentKey::from_bytes(&bytes(&case["key"])).unwrap();
        assert_eq!(deterministic::decrypt(&key, &enc.blob).unwrap(), plaintext);
        if len > 0 {
            let got = attachment::decrypt_pointer(
                Scheme::Deterministic,
                key.as_bytes(),
                None,
                Some(u32::try_from(len).unwrap()),
                &enc.blob,
            )
            .unwrap();
            assert_eq!(got, plaintext);
        }
        if domain == Domain::ProfilePicture {
            assert_eq!(
                avatar::decrypt(Scheme::Deterministic, &key, &enc.blob).unwrap(),
                plaintext
            );
            let avatar = avatar::encrypt_deterministic(&seed, &plaintext).unwrap();
            assert_eq!(avatar.blob, enc.blob);
            assert_eq!(avatar.key, key);
        }
    }
}

#[test]
fn deterministic_published_ciphertext_decrypts_with_its_key() {
    // Decoding the published bytes (not our own output) with the published key.
    let data = data("attachments.libsession.deterministic_fixed");
    let case = data["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c.get("encrypted").is_some())
        .unwrap();
    let blob = bytes(&case["encrypted"]);
    let key = AttachmentKey::from_bytes(&bytes(&case["key"])).unwrap();
    assert_eq!(
        deterministic::decrypt(&key, &blob).unwrap(),
        sample(number(&case["plaintext_len"]))
    );
    let mut tampered = blob.clone();
    tampered[blob.len() - 1] ^= 0x80;
    assert_eq!(
        deterministic::decrypt(&key, &tampered),
        Err(AttachmentError::ChunkAuthentication { chunk: 0 })
    );
}

#[test]
fn deterministic_2025_derivation_matches_its_vector() {
    let data = data("attachments.libsession.deterministic_fixed");
    let seed = Seed::from_bytes(&bytes(&data["seed"])).unwrap();
    let old = &data["legacy_2025_key_derivation"];
    assert_eq!(text(&old["domain"]), "attachment (domain byte 0x00)");
    let len = number(&old["plaintext_len"]);
    let plaintext = sample(len);
    let enc = deterministic::encrypt_with_derivation(
        &seed,
        &plaintext,
        Domain::Attachment,
        KeyDerivation::Libsession2025,
    )
    .unwrap();
    assert_eq!(enc.key.as_bytes().to_vec(), bytes(&old["key"]));
    assert_eq!(enc.blob.len(), number(&old["encrypted_len"]));
    assert_eq!(sha256_hex(&enc.blob), text(&old["encrypted_sha256"]));
    // Receivers read it exactly like the current format.
    let key = AttachmentKey::from_bytes(&bytes(&old["key"])).unwrap();
    assert_eq!(deterministic::decrypt(&key, &enc.blob).unwrap(), plaintext);
}

#[test]
fn legacy_avatar_fixed_iv_matches_desktop_and_decrypts() {
    let data = data("avatars.desktop.legacy_aes_gcm_fixed_iv");
    let key = avatar::ProfileKey::from_bytes(&bytes(&data["profile_key"])).unwrap();
    let iv: [u8; 12] = bytes(&data["iv"]).try_into().unwrap();
    let image = bytes(&data["image"]);
    let blob = bytes(&data["blob"]);
    assert_eq!(
        hex::encode(avatar::encrypt_legacy_with_iv(&key, iv, &image).unwrap()),
        hex::encode(&blob)
    );
    assert_eq!(avatar::decrypt_legacy(&key, &blob).unwrap(), image);
    assert_eq!(avatar::decrypt(Scheme::Legacy, &key, &blob).unwrap(), image);
    let mut tampered = blob.clone();
    tampered[20] ^= 1;
    assert_eq!(
        avatar::decrypt_legacy(&key, &tampered),
        Err(AttachmentError::AvatarAuthentication)
    );
}
