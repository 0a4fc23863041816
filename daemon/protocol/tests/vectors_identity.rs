//! Identity and recovery-phrase code against the published vectors (`shared/protocol/vectors.json`,
//! protocol.md §1 and §10): every `mnemonic.*`, `wordlist.*` and `keys.*` vector.
#![allow(clippy::unwrap_used)]

mod common;

use sessiond_protocol::mnemonic::{self, MnemonicError};
use sessiond_protocol::{AccountId, Identity, Seed, ed25519_public_to_x25519};
use sha2::{Digest, Sha256};

use common::{SHARED, array32, bytes, data, family_ids, identity_of_sodium_sk, text, vector};

/// Vectors this file checks (the 48-word one through the public API here, and in full in the
/// `mnemonic` unit tests, since libsession's checksum-less 48-word form is not public API).
const COVERED: &[&str] = &[
    "mnemonic.sessionjs.encode_decode",
    "mnemonic.sessionjs.to_session_id",
    "mnemonic.libsession.wordlist_48_english",
    "wordlist.english.fingerprint",
    "keys.libsession.seed_to_ids",
    "keys.libsession.ed25519",
    "keys.libsession.blinding_test_keys",
];

#[test]
fn every_identity_vector_is_covered() {
    assert_eq!(family_ids(&["mnemonic.", "wordlist.", "keys."]), COVERED);
}

#[test]
fn sessionjs_phrase_encodes_and_decodes() {
    let data = data("mnemonic.sessionjs.encode_decode");
    let seed = decode_ok(text(&data["mnemonic"]));
    assert_eq!(seed.as_bytes(), bytes(&data["seed_hex"]));
    let seed = Seed::from_bytes(&bytes(&data["seed_hex"])).unwrap();
    assert_eq!(&*mnemonic::encode(&seed), text(&data["mnemonic"]));
}

#[test]
fn sessionjs_phrases_give_their_account_ids() {
    let vector = vector("mnemonic.sessionjs.to_session_id");
    // The notes list the intermediate 16-byte seeds, in case order.
    let seeds: Vec<&str> = text(&vector["notes"])
        .split(|c: char| !c.is_ascii_hexdigit())
        .filter(|word| word.len() == 32)
        .collect();
    let cases = vector["data"]["cases"].as_array().unwrap();
    assert_eq!(seeds.len(), cases.len());

    for (case, seed_hex) in cases.iter().zip(seeds) {
        let phrase = text(&case["mnemonic"]);
        let seed = decode_ok(phrase);
        assert_eq!(hex::encode(seed.as_bytes()), seed_hex, "{phrase}");
        assert_eq!(&*mnemonic::encode(&seed), phrase);

        let account_id = Identity::from_seed(&seed).account_id();
        assert_eq!(account_id.to_string(), text(&case["session_id"]));
        assert_eq!(
            text(&case["session_id"]).parse::<AccountId>().unwrap(),
            account_id
        );
    }
}

#[test]
fn libsession_48_words_agree_with_25_and_13_word_phrases() {
    // Encoding is per 4-byte chunk, so the first 32 (16) bytes of the 64-byte seed are the first
    // 24 (12) of its 48 words; our phrases add the checksum word.
    let data = data("mnemonic.libsession.wordlist_48_english");
    let seed64 = bytes(&data["seed_hex"]);
    let words: Vec<&str> = data["words"].as_array().unwrap().iter().map(text).collect();
    assert_eq!(words.len(), 48);

    for (seed_len, word_count) in [(32, 24), (16, 12)] {
        let seed = Seed::from_bytes(&seed64[..seed_len]).unwrap();
        let phrase = mnemonic::encode(&seed);
        let phrase_words: Vec<&str> = phrase.split(' ').collect();
        assert_eq!(phrase_words.len(), word_count + 1);
        assert_eq!(phrase_words[..word_count], words[..word_count]);
        assert_eq!(decode_ok(&phrase).as_bytes(), &seed64[..seed_len]);
    }
    // The notes' corrected indices: bytes 01 02 03 04 are words 967, 84, 109.
    let list = mnemonic::wordlist();
    assert_eq!(
        [967, 84, 109].map(|i| list[i]),
        ["object", "anxiety", "asked"]
    );
}

#[test]
fn embedded_wordlist_matches_the_published_fingerprint() {
    let data = data("wordlist.english.fingerprint");
    let list = mnemonic::wordlist();
    assert_eq!(list.len() as u64, data["count"].as_u64().unwrap());
    let first: Vec<&str> = data["first"].as_array().unwrap().iter().map(text).collect();
    let last: Vec<&str> = data["last"].as_array().unwrap().iter().map(text).collect();
    assert_eq!(list[..3], first[..]);
    assert_eq!(list[list.len() - 3..], last[..]);
    let digest = Sha256::digest(list.join("\n").as_bytes());
    assert_eq!(hex::encode(digest), text(&data["sha256_of_newline_joined"]));

    // And it is the list that ships beside the spec, word for word.
    let shared: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(format!("{SHARED}/english.json")).unwrap())
            .unwrap();
    assert_eq!(list[..], shared[..]);
}

#[test]
fn libsession_seeds_give_their_keys_and_account_ids() {
    for case in data("keys.libsession.seed_to_ids")["cases"]
        .as_array()
        .unwrap()
    {
        let seed32 = bytes(&case["seed_hex"]);
        // Both vectors are 16-byte seeds extended with zeros: the short seed is the same account.
        assert_eq!(seed32[16..], [0u8; 16]);
        for seed in [&seed32[..], &seed32[..16]] {
            let identity = Identity::from_seed(&Seed::from_bytes(seed).unwrap());
            assert_eq!(identity.ed25519_public(), array32(&case["ed25519_pk"]));
            assert_eq!(identity.x25519_public(), array32(&case["x25519_pk"]));
            assert_eq!(identity.account_id().to_string(), text(&case["session_id"]));
            assert_eq!(
                identity.account_id().x25519_public(),
                identity.x25519_public()
            );
        }
    }
}

#[test]
fn libsession_ed25519_keys_x25519_conversion_and_signature() {
    let data = data("keys.libsession.ed25519");
    let identity = Identity::from_seed(&Seed::from_bytes(&bytes(&data["seed_hex"])).unwrap());
    assert_eq!(identity.ed25519_public(), array32(&data["ed25519_pk"]));
    assert_eq!(
        &identity.ed25519_secret_key()[..],
        bytes(&data["ed25519_sk"])
    );
    assert_eq!(
        *identity.x25519_secret_key(),
        array32(&data["x25519_sk_from_ed_sk"])
    );
    assert_eq!(
        identity
            .sign(text(&data["message_utf8"]).as_bytes())
            .to_vec(),
        bytes(&data["signature"])
    );

    let second = &data["second_case"];
    let identity = identity_of_sodium_sk(&bytes(&second["ed25519_sk"]));
    assert_eq!(
        *identity.x25519_secret_key(),
        array32(&second["x25519_sk_from_ed_sk"])
    );

    for pair in data["ed_pk_to_x_pk"].as_array().unwrap() {
        assert_eq!(
            ed25519_public_to_x25519(&array32(&pair[0])).unwrap(),
            array32(&pair[1])
        );
    }
}

#[test]
fn libsession_blinding_test_keys_give_their_plain_ids() {
    // Only the identity part; the blinded IDs belong to the blinding vectors.
    let data = data("keys.libsession.blinding_test_keys");
    for (sk, xpub, session_id) in [
        ("sk1", "xpub1", "session_id1"),
        ("sk2", "xpub2", "session_id2"),
    ] {
        let identity = identity_of_sodium_sk(&bytes(&data[sk]));
        assert_eq!(identity.x25519_public(), array32(&data[xpub]));
        assert_eq!(identity.account_id().to_string(), text(&data[session_id]));
        assert_eq!(
            ed25519_public_to_x25519(&identity.ed25519_public()).unwrap(),
            array32(&data[xpub])
        );
    }
    // |pub2| is pub2 with its sign bit cleared.
    let mut pub2 = identity_of_sodium_sk(&bytes(&data["sk2"])).ed25519_public();
    assert_eq!(pub2[31] & 0x80, 0x80);
    pub2[31] &= 0x7f;
    assert_eq!(pub2, array32(&data["pub2_abs"]));
}

fn decode_ok(phrase: &str) -> Seed {
    mnemonic::decode(phrase).unwrap_or_else(|err: MnemonicError| panic!("{phrase}: {err}"))
}
