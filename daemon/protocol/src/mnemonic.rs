//! The recovery phrase: a [`Seed`] written as English words (protocol.md §1.2).
//!
//! Users back up and restore accounts with this phrase, so it has to match the official apps
//! word for word: the Monero/Electrum-style scheme with Session's 1626-word English list, words
//! matched by their first three letters, and a trailing checksum word. A 16-byte seed (every
//! account the official apps create) is 13 words; a 32-byte seed is 25 words.
//!
//! Encoding, for each 4-byte little-endian chunk `x` of the seed (n = 1626):
//! `w1 = x mod n`, `w2 = (⌊x/n⌋ + w1) mod n`, `w3 = (⌊x/n²⌋ + w2) mod n`; then the checksum word
//! `words[crc32(first 3 letters of each word) mod (number of words)]` is appended.

use std::sync::LazyLock;

use zeroize::Zeroizing;

use crate::error_kind::{ErrorKind, HasKind};
use crate::identity::Seed;

/// Number of words in the list.
pub const WORDLIST_LEN: usize = 1626;

/// Words are told apart, and matched, by this many leading letters.
pub const PREFIX_LEN: usize = 3;

/// Words in a phrase for a 16-byte seed (12 data words and the checksum word).
pub const SHORT_PHRASE_WORDS: usize = 13;

/// Words in a phrase for a 32-byte seed (24 data words and the checksum word).
pub const FULL_PHRASE_WORDS: usize = 25;

/// The English list, one word per line, as shipped by session-desktop
/// (`mnemonic_languages/english.json`). Sorted, all lower-case ASCII, prefixes unique; the unit
/// tests check this and the list's published fingerprint.
const ENGLISH: &str = include_str!("mnemonic/english.txt");

const N: u64 = WORDLIST_LEN as u64;

static WORDS: LazyLock<[&'static str; WORDLIST_LEN]> = LazyLock::new(|| {
    let mut words = [""; WORDLIST_LEN];
    for (slot, word) in words.iter_mut().zip(ENGLISH.lines()) {
        *slot = word;
    }
    words
});

/// The English word list, in order.
pub fn wordlist() -> &'static [&'static str; WORDLIST_LEN] {
    &WORDS
}

/// The recovery phrase for `seed`: 13 words for a 16-byte seed, 25 for a 32-byte one, separated
/// by single spaces.
pub fn encode(seed: &Seed) -> Zeroizing<String> {
    let mut indices = bytes_to_indices(seed.as_bytes());
    let checksum = indices[checksum_index(&indices)];
    indices.push(checksum);
    join(&indices)
}

/// The seed a recovery phrase stands for.
///
/// Accepts what the official apps accept, and a little more: words may be separated by any
/// whitespace and be in any case; a word is recognised by its first three letters (so typos
/// after the third letter do not matter); 13-word (16-byte seed) and 25-word (32-byte seed)
/// phrases are accepted. Never panics, whatever the input.
pub fn decode(phrase: &str) -> Result<Seed, MnemonicError> {
    let got = phrase.split_whitespace().count();
    match got {
        SHORT_PHRASE_WORDS | FULL_PHRASE_WORDS => {}
        12 => return Err(MnemonicError::MissingChecksumWord),
        _ => return Err(MnemonicError::WrongLength { got }),
    }

    let mut indices = Zeroizing::new(Vec::with_capacity(got));
    for (index, token) in phrase.split_whitespace().enumerate() {
        let word = lookup(token).ok_or_else(|| MnemonicError::UnknownWord {
            word: excerpt(token),
            position: index + 1,
        })?;
        indices.push(word);
    }
    let Some(checksum) = indices.pop() else {
        return Err(MnemonicError::WrongLength { got });
    };

    let bytes = indices_to_bytes(&indices)?;
    // Words match by prefix and prefixes are unique, so comparing list indices is comparing
    // prefixes, as desktop does.
    if indices[checksum_index(&indices)] != checksum {
        return Err(MnemonicError::ChecksumMismatch);
    }
    // 12 or 24 data words always make 16 or 32 bytes.
    Seed::from_bytes(&bytes).map_err(|_| MnemonicError::WrongLength { got })
}

/// Why a recovery phrase was rejected. Positions count words from 1.
///
/// Not for logs: `UnknownWord` quotes (the start of) a word the user typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MnemonicError {
    /// A word whose first three letters match no word in the list.
    #[error("unknown word `{word}` at position {position}")]
    UnknownWord {
        /// The word as typed (its first 24 characters, then `…`, if it is longer).
        word: String,
        /// 1-based position of the word in the phrase.
        position: usize,
    },
    /// Neither 13 nor 25 words (nor 12, see [`MnemonicError::MissingChecksumWord`]).
    #[error("a recovery phrase has 13 words (25 for a 32-byte seed), got {got}")]
    WrongLength {
        /// How many words were given.
        got: usize,
    },
    /// 12 words: the 13th, the checksum word, is missing.
    #[error("the recovery phrase has 12 words: the last (13th) word is missing")]
    MissingChecksumWord,
    /// The last word is not the checksum of the others: a word is wrong or words are swapped.
    #[error("the last word does not match the others; check the phrase for a wrong word")]
    ChecksumMismatch,
    /// Three words that do not encode 4 bytes (their value is 2³² or more).
    #[error("words {position} to {} do not form a valid group", .position + 2)]
    InvalidTriple {
        /// 1-based position of the group's first word.
        position: usize,
    },
}

impl HasKind for MnemonicError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

/// The list index of the word whose first three letters (lower-cased) are `token`'s.
fn lookup(token: &str) -> Option<u16> {
    let mut prefix = Zeroizing::new([0u8; PREFIX_LEN]);
    let mut letters = token.chars().flat_map(char::to_lowercase);
    for slot in prefix.iter_mut() {
        let letter = letters.next()?;
        if !letter.is_ascii() {
            return None;
        }
        *slot = letter as u8;
    }
    let index = WORDS
        .binary_search_by(|word| word_prefix(word).cmp(&prefix[..]))
        .ok()?;
    u16::try_from(index).ok()
}

fn word_prefix(word: &str) -> &[u8] {
    word.as_bytes().get(..PREFIX_LEN).unwrap_or(word.as_bytes())
}

/// `token` for an error message: cut after 24 characters so huge input makes a short error.
fn excerpt(token: &str) -> String {
    const MAX: usize = 24;
    let mut excerpt: String = token.chars().take(MAX).collect();
    if token.chars().nth(MAX).is_some() {
        excerpt.push('…');
    }
    excerpt
}

/// Three word indices for each 4-byte chunk of `bytes` (whose length is a multiple of 4).
///
/// The returned vector has room for one more index, the checksum, so pushing it does not
/// reallocate (and leave an unzeroized copy behind).
fn bytes_to_indices(bytes: &[u8]) -> Zeroizing<Vec<u16>> {
    let mut indices = Zeroizing::new(Vec::with_capacity(bytes.len() / 4 * 3 + 1));
    for chunk in bytes.chunks_exact(4) {
        let mut x = [0u8; 4];
        x.copy_from_slice(chunk);
        let x = u64::from(u32::from_le_bytes(x));
        let w1 = x % N;
        let w2 = (x / N + w1) % N;
        let w3 = (x / N / N + w2) % N;
        for w in [w1, w2, w3] {
            // Each is `< N`, which fits in a u16.
            indices.push(w as u16);
        }
    }
    indices
}

/// The bytes encoded by word indices (a multiple of 3 of them, each `< N`).
fn indices_to_bytes(indices: &[u16]) -> Result<Zeroizing<Vec<u8>>, MnemonicError> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(indices.len() / 3 * 4));
    for (group, triple) in indices.chunks_exact(3).enumerate() {
        let &[w1, w2, w3] = triple else { continue };
        let (w1, w2, w3) = (u64::from(w1), u64::from(w2), u64::from(w3));
        let x = w1 + N * ((N - w1 + w2) % N) + N * N * ((N - w2 + w3) % N);
        let x = u32::try_from(x).map_err(|_| MnemonicError::InvalidTriple {
            position: 3 * group + 1,
        })?;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    Ok(bytes)
}

/// Index (into `indices`) of the word the checksum word repeats: CRC-32 of the words' first
/// three letters, modulo the number of words (not modulo the list length).
fn checksum_index(indices: &[u16]) -> usize {
    let mut crc = crc32fast::Hasher::new();
    for &index in indices {
        crc.update(word_prefix(WORDS[usize::from(index)]));
    }
    (crc.finalize() as usize)
        .checked_rem(indices.len())
        .unwrap_or(0)
}

/// The words for `indices`, separated by single spaces, in a string allocated once.
fn join(indices: &[u16]) -> Zeroizing<String> {
    let words = indices.iter().map(|&index| WORDS[usize::from(index)]);
    let len = words.clone().map(str::len).sum::<usize>() + indices.len().saturating_sub(1);
    let mut phrase = Zeroizing::new(String::with_capacity(len));
    for (i, word) in words.enumerate() {
        if i > 0 {
            phrase.push(' ');
        }
        phrase.push_str(word);
    }
    phrase
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;

    /// A valid phrase (vector `mnemonic.sessionjs.encode_decode`).
    const PHRASE: &str =
        "puffin luxury annoyed rustled memoir faxed smidgen puddle kiwi nylon utopia zinger kiwi";
    const SEED: &str = "39038c8988db02c1af44e8c847bd9713";

    fn words(phrase: &str) -> Vec<String> {
        phrase.split(' ').map(str::to_owned).collect()
    }

    fn decoded_hex(phrase: &str) -> String {
        hex::encode(decode(phrase).unwrap().as_bytes())
    }

    #[test]
    fn wordlist_is_sorted_ascii_with_unique_three_letter_prefixes() {
        assert_eq!(ENGLISH.lines().count(), WORDLIST_LEN);
        let words = wordlist();
        assert!(
            words
                .iter()
                .all(|w| w.len() >= PREFIX_LEN && w.bytes().all(|b| b.is_ascii_lowercase()))
        );
        // Strictly increasing prefixes: sorted (binary search works) and unique.
        assert!(
            words
                .windows(2)
                .all(|pair| word_prefix(pair[0]) < word_prefix(pair[1]))
        );
    }

    #[test]
    fn every_word_is_found_by_itself_and_by_its_prefix() {
        for (index, word) in wordlist().iter().enumerate() {
            assert_eq!(lookup(word), Some(index as u16));
            assert_eq!(lookup(&word[..3]), Some(index as u16));
            assert_eq!(lookup(&word.to_uppercase()), Some(index as u16));
            assert_eq!(lookup(&format!("{}zzz", &word[..3])), Some(index as u16));
        }
    }

    #[test]
    fn encode_and_decode_round_trip_for_random_seeds() {
        let mut rng = TestRng::new(0x5eed);
        for round in 0..500 {
            let seed = if round % 2 == 0 {
                Seed::generate(&mut rng)
            } else {
                let mut bytes = [0u8; 32];
                rand_core::Rng::fill_bytes(&mut rng, &mut bytes);
                Seed::from_bytes(&bytes).unwrap()
            };
            let phrase = encode(&seed);
            let expected_words = if seed.as_bytes().len() == 16 { 13 } else { 25 };
            assert_eq!(phrase.split(' ').count(), expected_words);
            assert_eq!(decode(&phrase).unwrap().as_bytes(), seed.as_bytes());
        }
    }

    #[test]
    fn encode_round_trips_extreme_seeds() {
        for bytes in [[0u8; 16], [0xff; 16]] {
            let seed = Seed::from_bytes(&bytes).unwrap();
            assert_eq!(decode(&encode(&seed)).unwrap().as_bytes(), &bytes);
        }
        for bytes in [[0u8; 32], [0xff; 32]] {
            let seed = Seed::from_bytes(&bytes).unwrap();
            assert_eq!(decode(&encode(&seed)).unwrap().as_bytes(), &bytes);
        }
    }

    #[test]
    fn encoded_phrase_debug_is_redacted() {
        let phrase = encode(&Seed::from_bytes(&hex::decode(SEED).unwrap()).unwrap());
        assert_eq!(&**phrase, PHRASE);
        let debug = format!("{phrase:?}");
        assert!(!debug.contains("puffin"), "{debug}");
    }

    #[test]
    fn decode_accepts_any_case_and_extra_whitespace() {
        let messy = format!(
            "\n\t  {}  \r\n",
            PHRASE.to_uppercase().replace(' ', " \t\n  ")
        );
        assert_eq!(decoded_hex(&messy), SEED);
        let mixed: Vec<String> = words(PHRASE)
            .iter()
            .enumerate()
            .map(|(i, w)| {
                if i % 2 == 0 {
                    w.to_uppercase()
                } else {
                    w.clone()
                }
            })
            .collect();
        assert_eq!(decoded_hex(&mixed.join(" ")), SEED);
        // Non-ASCII whitespace separates words too.
        assert_eq!(decoded_hex(&PHRASE.replace(' ', "\u{3000}")), SEED);
    }

    #[test]
    fn decode_matches_words_by_their_first_three_letters() {
        for position in 0..13 {
            let mut typo = words(PHRASE);
            typo[position] = format!("{}xyz", &typo[position][..3]);
            assert_eq!(decoded_hex(&typo.join(" ")), SEED, "{position}");
            let mut short = words(PHRASE);
            short[position] = short[position][..3].to_owned();
            assert_eq!(decoded_hex(&short.join(" ")), SEED, "{position}");
        }
        let all_prefixes: Vec<String> = words(PHRASE).iter().map(|w| w[..3].to_owned()).collect();
        assert_eq!(decoded_hex(&all_prefixes.join(" ")), SEED);
    }

    #[test]
    fn decode_rejects_unknown_words_with_their_position() {
        let mut bad = words(PHRASE);
        bad[3] = "qux".to_owned();
        let err = decode(&bad.join(" ")).unwrap_err();
        assert_eq!(
            err,
            MnemonicError::UnknownWord {
                word: "qux".to_owned(),
                position: 4
            }
        );
        assert_eq!(err.to_string(), "unknown word `qux` at position 4");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);

        // The first unknown word is reported, the checksum word included.
        let mut bad = words(PHRASE);
        bad[12] = "zzzz".to_owned();
        assert!(matches!(
            decode(&bad.join(" ")),
            Err(MnemonicError::UnknownWord { position: 13, .. })
        ));
    }

    #[test]
    fn decode_treats_words_shorter_than_three_letters_as_unknown() {
        for token in ["a", "ab", "é", "", "1"] {
            let mut bad = words(PHRASE);
            bad[0] = token.to_owned();
            let phrase = bad.join(" ");
            if token.is_empty() {
                // An empty token is no word at all.
                assert_eq!(
                    decode(&phrase).unwrap_err(),
                    MnemonicError::MissingChecksumWord
                );
            } else {
                assert_eq!(
                    decode(&phrase).unwrap_err(),
                    MnemonicError::UnknownWord {
                        word: token.to_owned(),
                        position: 1
                    }
                );
            }
        }
    }

    #[test]
    fn decode_reports_unicode_words_without_byte_slicing() {
        let mut bad = words(PHRASE);
        bad[1] = "ñañaña".to_owned();
        bad[2] = "😀😀😀😀".to_owned();
        assert_eq!(
            decode(&bad.join(" ")).unwrap_err(),
            MnemonicError::UnknownWord {
                word: "ñañaña".to_owned(),
                position: 2
            }
        );
    }

    #[test]
    fn unknown_word_error_quotes_at_most_24_characters() {
        let mut bad = words(PHRASE);
        bad[0] = "x".repeat(10_000);
        let Err(MnemonicError::UnknownWord { word, position: 1 }) = decode(&bad.join(" ")) else {
            panic!("expected an unknown word");
        };
        assert_eq!(word, format!("{}…", "x".repeat(24)));
    }

    #[test]
    fn decode_says_the_checksum_word_is_missing_from_12_words() {
        let twelve = words(PHRASE)[..12].join(" ");
        let err = decode(&twelve).unwrap_err();
        assert_eq!(err, MnemonicError::MissingChecksumWord);
        assert!(err.to_string().contains("13th"));
    }

    #[test]
    fn decode_rejects_other_word_counts_saying_how_many() {
        for count in [0, 1, 11, 14, 24, 26, 48, 49] {
            let phrase = vec!["abbey"; count].join(" ");
            let err = decode(&phrase).unwrap_err();
            assert_eq!(err, MnemonicError::WrongLength { got: count });
            assert_eq!(
                err.to_string(),
                format!("a recovery phrase has 13 words (25 for a 32-byte seed), got {count}")
            );
        }
    }

    #[test]
    fn decode_rejects_a_wrong_checksum_word() {
        let mut bad = words(PHRASE);
        bad[12] = "abbey".to_owned();
        assert_eq!(
            decode(&bad.join(" ")).unwrap_err(),
            MnemonicError::ChecksumMismatch
        );
        // Swapping two data words keeps every word valid but breaks the checksum.
        let mut swapped = words(PHRASE);
        swapped.swap(0, 1);
        assert_eq!(
            decode(&swapped.join(" ")).unwrap_err(),
            MnemonicError::ChecksumMismatch
        );
    }

    #[test]
    fn decode_rejects_a_triple_worth_two_to_the_32_or_more() {
        // w1 = 0, w2 = 0, w3 = 1625: x = 1625 * 1626² > u32::MAX.
        let mut bad = words(PHRASE);
        bad[3] = "abbey".to_owned();
        bad[4] = "abbey".to_owned();
        bad[5] = "zoom".to_owned();
        let err = decode(&bad.join(" ")).unwrap_err();
        assert_eq!(err, MnemonicError::InvalidTriple { position: 4 });
        assert_eq!(err.to_string(), "words 4 to 6 do not form a valid group");
    }

    #[test]
    fn triples_decode_exactly_up_to_u32_max() {
        let max = bytes_to_indices(&u32::MAX.to_le_bytes());
        assert_eq!(&**indices_to_bytes(&max).unwrap(), &u32::MAX.to_le_bytes());
        // Every triple either decodes to the x that encodes back to it, or is rejected.
        let mut rng = TestRng::new(9);
        for _ in 0..20_000 {
            let triple = [0, 0, 0].map(|_| rng.below(WORDLIST_LEN) as u16);
            match indices_to_bytes(&triple) {
                Ok(bytes) => assert_eq!(&**bytes_to_indices(&bytes), &triple),
                Err(err) => assert_eq!(err, MnemonicError::InvalidTriple { position: 1 }),
            }
        }
    }

    #[test]
    fn decode_never_panics_on_arbitrary_input() {
        const ALPHABET: &[&str] = &[
            "a", "b", "z", "A", "Z", " ", "\t", "\n", "\u{3000}", "é", "İ", "ß", "😀", "\u{0}",
            "\u{301}", "1", "-", "'", "\u{212a}",
        ];
        let mut rng = TestRng::new(42);
        for _ in 0..3_000 {
            let mut phrase = String::new();
            for _ in 0..rng.below(200) {
                phrase.push_str(ALPHABET[rng.below(ALPHABET.len())]);
            }
            let _ = decode(&phrase);
        }
        // Phrases of the right length made of real words, prefixes, mangled words and noise,
        // so the triple and checksum checks run too.
        for _ in 0..20_000 {
            let count = [12, 13, 25][rng.below(3)];
            let tokens: Vec<String> = (0..count)
                .map(|_| {
                    let word = wordlist()[rng.below(WORDLIST_LEN)];
                    match rng.below(6) {
                        0 => word[..3].to_owned(),
                        1 => word.to_uppercase(),
                        2 => format!("{}{}", &word[..2], ALPHABET[rng.below(ALPHABET.len())]),
                        3 => ALPHABET[rng.below(ALPHABET.len())].repeat(rng.below(5)),
                        _ => word.to_owned(),
                    }
                })
                .collect();
            if let Ok(seed) = decode(&tokens.join(" ")) {
                assert!(matches!(seed.as_bytes().len(), 16 | 32));
            }
        }
        // Huge inputs: one huge word, and very many words.
        let _ = decode(&"abbey".repeat(1_000_000));
        let _ = decode(&"abbey ".repeat(200_000));
        let _ = decode(&format!("{} {}", "😀".repeat(100_000), "abbey ".repeat(12)));
    }

    #[test]
    fn libsession_64_byte_seed_encodes_to_48_words() {
        // Vector `mnemonic.libsession.wordlist_48_english`: libsession's `bytes_to_words`
        // (no checksum word), which the public API does not expose.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/protocol/vectors.json"
        );
        let vectors: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let vector = vectors["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == "mnemonic.libsession.wordlist_48_english")
            .unwrap();
        let seed = hex::decode(vector["data"]["seed_hex"].as_str().unwrap()).unwrap();
        let expected: Vec<&str> = vector["data"]["words"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        assert_eq!(seed.len(), 64);
        assert_eq!(expected.len(), 48);

        let indices = bytes_to_indices(&seed);
        let words: Vec<&str> = indices
            .iter()
            .map(|&i| wordlist()[usize::from(i)])
            .collect();
        assert_eq!(words, expected);
        assert_eq!(&**indices_to_bytes(&indices).unwrap(), &seed[..]);

        // The notes' corrected indices for bytes 01 02 03 04.
        assert_eq!(&**bytes_to_indices(&[1, 2, 3, 4]), &[967, 84, 109]);
        assert_eq!(
            [967, 84, 109].map(|i| wordlist()[i]),
            ["object", "anxiety", "asked"]
        );
    }
}
