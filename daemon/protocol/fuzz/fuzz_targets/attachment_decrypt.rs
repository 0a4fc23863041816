//! Any bytes as a downloaded attachment or avatar: decryption returns the plaintext or a typed
//! error (bad MAC, digest, padding, chunk), never a panic, and never allocates beyond the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessiond_protocol::attachment::{AttachmentKey, deterministic, legacy};
use sessiond_protocol::avatar;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    match which % 3 {
        0 => {
            let keys = legacy::LegacyKeys::from_bytes(&[7u8; 64]).expect("64-byte keys");
            let size = u32::from(which);
            if let Ok(out) = legacy::decrypt(&keys, rest, None, Some(size)) {
                assert!(out.len() <= rest.len());
            }
        }
        1 => {
            let key = AttachmentKey::from_array([9u8; 32]);
            if let Ok(out) = deterministic::decrypt(&key, rest) {
                assert!(out.len() <= rest.len());
            }
        }
        _ => {
            let key = AttachmentKey::from_array([5u8; 32]);
            let _ = avatar::decrypt_legacy(&key, rest);
        }
    }
});
