//! Any bytes as a recovery phrase: decoding must return a seed or a typed error, never panic,
//! and a decoded seed must encode back to a phrase that decodes to the same seed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessiond_protocol::mnemonic;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(seed) = mnemonic::decode(&text) {
        let phrase = mnemonic::encode(&seed);
        let again = mnemonic::decode(&phrase).expect("an encoded phrase decodes");
        assert_eq!(again.as_bytes(), seed.as_bytes());
    }
});
