//! Any status and body as the answer to a 3-hop onion request: the client classifies it as a
//! reply, a hop's error, a plaintext error or a typed decryption failure, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessiond_protocol::onion::{self, Destination, EncType, Hop, LayerSecrets};
use std::sync::OnceLock;

fn keys(enc: EncType) -> onion::ResponseKeys {
    let hop = |b: u8| Hop { ed25519: [b; 32], x25519: onion::hop_cipher::x25519_public(&[b; 32]) };
    let path = [hop(1), hop(2), hop(3)];
    let dest = Destination::ServiceNode(hop(4));
    let secrets: Vec<LayerSecrets> = (0..4u8)
        .map(|i| LayerSecrets { ephemeral_secret: zeroize::Zeroizing::new([10 + i; 32]), nonce: [i; 24] })
        .collect();
    onion::build_with_secrets(&path, &dest, b"{}", enc, &secrets)
        .expect("a fixed request builds")
        .response_keys()
        .clone()
}

fuzz_target!(|data: &[u8]| {
    static GCM: OnceLock<onion::ResponseKeys> = OnceLock::new();
    static XCHACHA: OnceLock<onion::ResponseKeys> = OnceLock::new();
    let Some((&first, rest)) = data.split_first() else { return };
    let keys = if first & 1 == 0 {
        GCM.get_or_init(|| keys(EncType::AesGcm))
    } else {
        XCHACHA.get_or_init(|| keys(EncType::XChaCha20))
    };
    let status = if first & 2 == 0 { 200 } else { 400 + u16::from(first >> 2) };
    let _ = keys.decrypt(status, rest);
});
