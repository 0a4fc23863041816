//! Any bytes as an onion request arriving at a node: peeling returns a route or a typed error,
//! never a panic. The first byte picks what is fuzzed: the outer layer, a relayed layer, or the
//! v4/v3 request framing a server would parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessiond_protocol::onion::{self, EncType, V3Request, V4Request, V4Response};

/// A fixed node key: the fuzzer explores the framing and the failure paths after decryption.
const NODE_SECRET: [u8; 32] = [0x42; 32];

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    match which % 5 {
        0 => {
            let _ = onion::peel::peel(&NODE_SECRET, rest);
        }
        1 => {
            if rest.len() >= 32 {
                let (eph, ct) = rest.split_at(32);
                let mut key = [0u8; 32];
                key.copy_from_slice(eph);
                let enc = if which & 0x80 == 0 { EncType::AesGcm } else { EncType::XChaCha20 };
                let _ = onion::peel::peel_relayed(&NODE_SECRET, ct, &key, enc);
            }
        }
        2 => {
            if let Ok(req) = V4Request::decode(rest) {
                let again = V4Request::decode(&req.encode().expect("a decoded request re-encodes"));
                assert!(again.is_ok());
            }
        }
        3 => {
            if let Ok(resp) = V4Response::decode(rest) {
                let again = V4Response::decode(&resp.encode());
                assert!(again.is_ok());
            }
        }
        _ => {
            let _ = V3Request::decode(rest);
        }
    }
});
