//! Any bytes as a message retrieved from the swarm: unwrapping, envelope parsing, opening,
//! signature checking and Content decoding return a message or a typed error, never a panic.
//! Valid messages (built by the fuzzer from the first byte's choice) are decoded too, so the
//! paths after decryption are reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessiond_protocol::identity::{Identity, Seed};
use sessiond_protocol::message::{self, wire};
use sessiond_protocol::proto;
use std::sync::OnceLock;

fn recipient() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| Identity::from_seed(&Seed::from_bytes(&[1u8; 16]).expect("16-byte seed")))
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    match which % 4 {
        0 => {
            let _ = message::decode_1o1(recipient(), rest);
        }
        1 => {
            let _ = wire::parse_envelope(rest);
            let _ = wire::unwrap_websocket(rest);
        }
        2 => {
            let _ = proto::decode::<proto::Content>(rest);
        }
        _ => {
            // A well-formed ciphertext around fuzzed plaintext: exercises unpadding, signature
            // and protobuf checks behind a successful decryption.
            let sender = Identity::from_seed(&Seed::from_bytes(&[2u8; 16]).expect("16-byte seed"));
            let x = recipient().x25519_public();
            if let Ok(ct) = message::sealed::encrypt_for_recipient_deterministic(&sender, &x, rest) {
                let env = wire::envelope_1o1(ct, 1_700_000_000_000, None);
                let bytes = wire::wrap_websocket(prost::Message::encode_to_vec(&env));
                let _ = message::decode_1o1(recipient(), &bytes);
            }
        }
    }
});
