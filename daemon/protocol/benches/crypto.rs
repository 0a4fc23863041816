//! Per-message crypto cost of this crate next to libsodium doing the same primitives, measured in
//! the same run (`cargo bench -p sessiond-protocol --bench crypto`; BENCHMARKS.md).
//!
//! Each operation is timed as alternating batches: a batch of ours, then a batch of the
//! libsodium equivalent, then again in the other order, for a fixed number of rounds. The table
//! gives the median time per operation of each side and their ratio, plus the middle half of the
//! per-round ratios, which shows how much the shared machine's load moved the result. Both sides
//! draw their randomness from the operating system (`getrandom` here, `randombytes_buf` there).
//!
//! The libsodium side does what libsession does with libsodium:
//! - encrypt: `crypto_sign_detached(M || A || Y)` then `crypto_box_seal(M || A || sig)`.
//!   The `encode_1o1` row adds the envelope's decoy `proSig` (`crypto_core_ed25519_scalar_random`,
//!   `crypto_scalarmult_ed25519_base_noclamp`) but no protobuf;
//! - decrypt+verify: `crypto_box_seal_open`, `crypto_sign_verify_detached(M || A || Y)` and the
//!   sender key conversion `crypto_sign_ed25519_pk_to_curve25519` (left out in the cached row);
//! - onion build: per layer `crypto_box_keypair`, `crypto_scalarmult`, the key derivation
//!   (`crypto_auth_hmacsha256` keyed "LOKI", or `crypto_generichash`), `randombytes_buf` for the
//!   nonce and the AEAD encryption of the growing payload, framed the same way as ours;
//! - peel: `crypto_scalarmult`, the derivation and the AEAD decryption of the guard's layer.
//!
//! Options (after `--`): a substring to run only matching operations, `--rounds N`, and
//! `--primitives` to also compare the single primitives underneath (X25519, Ed25519, sealed box).
#![allow(unsafe_code)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::libsodium;
use getrandom::SysRng;
use libsodium_sys as sodium;
use prost::Message as _;
use rand_core::UnwrapErr;
use sessiond_protocol::message::sealed::{
    decrypt_incoming, encrypt_for_recipient, open_sealed_box, seal_box,
};
use sessiond_protocol::message::{decode_1o1, decode_1o1_with, encode_1o1};
use sessiond_protocol::onion::hop_cipher::{x25519_public, x25519_shared_secret};
use sessiond_protocol::onion::{Destination, EncType, Hop, NodeKeys, build, peel};
use sessiond_protocol::{Identity, Seed, SenderKeyCache, ed25519_public_to_x25519, padding, proto};

/// Time one batch should take, so that the clock's resolution does not matter.
const BATCH_TARGET: Duration = Duration::from_millis(2);
/// Rounds per operation when `--rounds` is not given.
const DEFAULT_ROUNDS: usize = 200;

type Op<'a> = Box<dyn FnMut() + 'a>;

fn main() {
    libsodium::init();
    let options = Options::from_args();
    let fixture = Fixture::new();
    let mut rows = Vec::new();
    println!(
        "load average before: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    // SAFETY: libsodium returns a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(sodium::sodium_version_string()) };
    println!(
        "libsodium {}; {} cores",
        version.to_string_lossy(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "message: {}-byte Content, {} bytes padded, {}-byte ciphertext; onion payload: {} bytes",
        fixture.content_len,
        fixture.padded.len(),
        fixture.ciphertext.len(),
        fixture.rpc_body.len()
    );

    let mut operations = fixture.operations();
    if options.primitives {
        operations.extend(fixture.primitives());
    }
    for (name, ours, theirs) in operations {
        if !options.selected(name) {
            continue;
        }
        let result = compare(ours, theirs, options.rounds);
        println!(
            "{name:<40} ours {:>8.1} µs   libsodium {:>8.1} µs   ratio {:.2}",
            result.ours_us, result.sodium_us, result.ratio
        );
        rows.push((name, result));
    }

    println!(
        "load average after: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!();
    println!(
        "| operation | ours (median) | libsodium (median) | ratio | per-round ratio p25–p75 |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (name, r) in &rows {
        println!(
            "| {name} | {:.1} µs | {:.1} µs | {:.2} | {:.2}–{:.2} |",
            r.ours_us, r.sodium_us, r.ratio, r.ratio_p25, r.ratio_p75
        );
    }
}

/// Command-line options (`cargo bench` also passes `--bench`, ignored).
struct Options {
    filter: Option<String>,
    rounds: usize,
    /// Also compare the single primitives (`--primitives`).
    primitives: bool,
}

impl Options {
    fn from_args() -> Options {
        let mut options = Options {
            filter: None,
            rounds: DEFAULT_ROUNDS,
            primitives: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--rounds" => {
                    options.rounds = args
                        .next()
                        .and_then(|n| n.parse().ok())
                        .expect("--rounds takes a number");
                }
                "--primitives" => options.primitives = true,
                other if other.starts_with("--") => {}
                other => options.filter = Some(other.to_owned()),
            }
        }
        options
    }

    fn selected(&self, name: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| name.contains(f))
    }
}

/// The medians of one comparison, in µs per operation.
struct Comparison {
    ours_us: f64,
    sodium_us: f64,
    /// `ours_us / sodium_us`.
    ratio: f64,
    /// The middle half of the per-round ratios.
    ratio_p25: f64,
    ratio_p75: f64,
}

/// Runs `ours` and `theirs` in alternating batches and compares their medians.
fn compare(mut ours: Op<'_>, mut theirs: Op<'_>, rounds: usize) -> Comparison {
    let batch = batch_size(&mut ours).max(batch_size(&mut theirs));
    let mut ours_times = Vec::with_capacity(rounds);
    let mut sodium_times = Vec::with_capacity(rounds);
    let mut ratios = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let (a, b) = if round % 2 == 0 {
            let a = time_batch(&mut ours, batch);
            (a, time_batch(&mut theirs, batch))
        } else {
            let b = time_batch(&mut theirs, batch);
            (time_batch(&mut ours, batch), b)
        };
        ours_times.push(a);
        sodium_times.push(b);
        ratios.push(a / b);
    }
    let ours_us = quantile(&mut ours_times, 0.5);
    let sodium_us = quantile(&mut sodium_times, 0.5);
    Comparison {
        ours_us,
        sodium_us,
        ratio: ours_us / sodium_us,
        ratio_p25: quantile(&mut ratios, 0.25),
        ratio_p75: quantile(&mut ratios, 0.75),
    }
}

/// How many calls make a batch of about [`BATCH_TARGET`] (after a warm-up).
fn batch_size(op: &mut Op<'_>) -> usize {
    for _ in 0..20 {
        op();
    }
    let one = time_batch(op, 20);
    ((BATCH_TARGET.as_secs_f64() * 1e6 / one) as usize).clamp(1, 100_000)
}

/// µs per call over `n` calls.
#[allow(clippy::disallowed_methods)] // Measuring wall time is what a benchmark is for.
fn time_batch(op: &mut Op<'_>, n: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        op();
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let index = ((values.len() - 1) as f64 * q).round() as usize;
    values[index]
}

/// Keys and inputs shared by every operation.
struct Fixture {
    sender: Identity,
    recipient: Identity,
    /// libsodium's 64-byte form of the sender's Ed25519 secret key.
    sender_sk: [u8; 64],
    recipient_x25519: [u8; 32],
    recipient_x25519_secret: [u8; 32],
    content: proto::Content,
    content_len: usize,
    /// The padded `Content`: what gets signed and sealed.
    padded: Vec<u8>,
    /// What the sender signs: `padded || sender Ed25519 key || recipient X25519 key`.
    signed: Vec<u8>,
    /// `padded` signed and sealed to the recipient by us.
    ciphertext: Vec<u8>,
    /// The whole stored message (`WebSocketMessage`) for `decode_1o1`.
    stored: Vec<u8>,
    sent_ms: u64,
    /// Three hops, then the destination node.
    nodes: [Node; 4],
    /// A storage `retrieve` request, what the destination node reads.
    rpc_body: Vec<u8>,
}

/// A service node with its secret key (to peel).
struct Node {
    secret: [u8; 32],
    /// The key pair as a node keeps it (the public key computed once).
    keys: NodeKeys,
    hop: Hop,
}

impl Fixture {
    fn new() -> Fixture {
        let sender = Identity::from_seed(&Seed::from_bytes(&[0x11; 16]).expect("seed"));
        let recipient = Identity::from_seed(&Seed::from_bytes(&[0x22; 16]).expect("seed"));
        let sent_ms = 1_700_000_000_123;
        // A ~200-character text message with a display name, as a client sends it.
        let body = "The meeting moved to Thursday at 3pm, same room as last time. Bring the \
                    printed draft if you can, I'll have the numbers by then. Also, did you \
                    get my note about the budget? Let me know before tomorrow. Thanks!";
        let content = proto::Content {
            data_message: Some(proto::DataMessage {
                body: Some(body.into()),
                timestamp: Some(sent_ms),
                profile: Some(proto::LokiProfile {
                    display_name: Some("Alice".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            sig_timestamp: Some(sent_ms),
            ..Default::default()
        };
        let encoded = content.encode_to_vec();
        let padded = padding::pad(&encoded);
        let mut rng = UnwrapErr(SysRng);
        let ciphertext =
            encrypt_for_recipient(&sender, &recipient.x25519_public(), &padded, &mut rng)
                .expect("encrypt");
        let stored = encode_1o1(
            &sender,
            &recipient.account_id(),
            &content,
            sent_ms,
            &mut rng,
        )
        .expect("encode");
        let nodes = [1u8, 2, 3, 4].map(|n| {
            let secret = [n; 32];
            Node {
                secret,
                keys: NodeKeys::new(&secret),
                hop: Hop {
                    ed25519: [n + 100; 32],
                    x25519: x25519_public(&secret),
                },
            }
        });
        let rpc_body = format!(
            concat!(
                r#"{{"method":"retrieve","params":{{"pubkey":"05{}","namespace":0,"#,
                r#""last_hash":"","timestamp":{},"signature":"{}","pubkey_ed25519":"{}"}}}}"#
            ),
            hex::encode(recipient.x25519_public()),
            sent_ms,
            "A".repeat(86) + "==",
            hex::encode(recipient.ed25519_public()),
        )
        .into_bytes();
        let signed = [
            &padded[..],
            &sender.ed25519_public(),
            &recipient.x25519_public(),
        ]
        .concat();
        Fixture {
            signed,
            sender_sk: *sender.ed25519_secret_key(),
            recipient_x25519: recipient.x25519_public(),
            recipient_x25519_secret: *recipient.x25519_secret_key(),
            content_len: encoded.len(),
            sender,
            recipient,
            content,
            padded,
            ciphertext,
            stored,
            sent_ms,
            nodes,
            rpc_body,
        }
    }

    fn path(&self) -> Vec<Hop> {
        self.nodes[..3].iter().map(|n| n.hop).collect()
    }

    fn destination(&self) -> Destination {
        Destination::ServiceNode(self.nodes[3].hop)
    }

    /// Every operation: its name, ours, libsodium's.
    fn operations(&self) -> Vec<(&'static str, Op<'_>, Op<'_>)> {
        let mut ops: Vec<(&'static str, Op<'_>, Op<'_>)> = vec![
            (
                "encrypt 1:1 (sign + seal)",
                Box::new(|| {
                    let ct = encrypt_for_recipient(
                        &self.sender,
                        &self.recipient_x25519,
                        black_box(&self.padded),
                        &mut UnwrapErr(SysRng),
                    )
                    .expect("encrypt");
                    black_box(ct);
                }),
                Box::new(|| {
                    black_box(libsodium::encrypt_for_recipient(
                        &self.sender_sk,
                        &self.recipient_x25519,
                        black_box(&self.padded),
                    ));
                }),
            ),
            (
                "decrypt+verify 1:1",
                Box::new(|| {
                    let decrypted = decrypt_incoming(&self.recipient, black_box(&self.ciphertext))
                        .expect("decrypt");
                    let sender =
                        ed25519_public_to_x25519(&decrypted.sender_ed25519).expect("sender key");
                    black_box((decrypted, sender));
                }),
                Box::new(|| {
                    black_box(
                        self.sodium_decrypt(black_box(&self.ciphertext), true)
                            .expect("libsodium decrypt"),
                    );
                }),
            ),
            {
                let mut cache = SenderKeyCache::new(64);
                (
                    "decrypt+verify 1:1, sender key cached",
                    Box::new(move || {
                        let decrypted =
                            decrypt_incoming(&self.recipient, black_box(&self.ciphertext))
                                .expect("decrypt");
                        let sender = cache
                            .x25519_for(&decrypted.sender_ed25519)
                            .expect("sender key");
                        black_box((decrypted, sender));
                    }),
                    Box::new(|| {
                        black_box(
                            self.sodium_decrypt(black_box(&self.ciphertext), false)
                                .expect("libsodium decrypt"),
                        );
                    }),
                )
            },
            (
                "encode_1o1 (+ decoy proSig, protobuf)",
                Box::new(|| {
                    let stored = encode_1o1(
                        &self.sender,
                        &self.recipient.account_id(),
                        black_box(&self.content),
                        self.sent_ms,
                        &mut UnwrapErr(SysRng),
                    )
                    .expect("encode");
                    black_box(stored);
                }),
                Box::new(|| {
                    black_box(libsodium::encrypt_for_recipient(
                        &self.sender_sk,
                        &self.recipient_x25519,
                        black_box(&self.padded),
                    ));
                    black_box(sodium_decoy_pro_signature());
                }),
            ),
            (
                "decode_1o1 (+ protobuf, envelope)",
                Box::new(|| {
                    black_box(
                        decode_1o1(&self.recipient, black_box(&self.stored)).expect("decode"),
                    );
                }),
                Box::new(|| {
                    black_box(
                        self.sodium_decrypt(black_box(&self.ciphertext), true)
                            .expect("libsodium decrypt"),
                    );
                }),
            ),
            {
                let mut cache = SenderKeyCache::new(64);
                (
                    "decode_1o1 (+ protobuf, envelope), cached",
                    Box::new(move || {
                        black_box(
                            decode_1o1_with(&self.recipient, black_box(&self.stored), |ed| {
                                cache.x25519_for(ed)
                            })
                            .expect("decode"),
                        );
                    }),
                    Box::new(|| {
                        black_box(
                            self.sodium_decrypt(black_box(&self.ciphertext), false)
                                .expect("libsodium decrypt"),
                        );
                    }),
                )
            },
        ];
        for enc_type in [EncType::AesGcm, EncType::XChaCha20] {
            let (build_name, peel_name) = match enc_type {
                EncType::AesGcm => (
                    "onion build, 3 hops (aes-gcm)",
                    "onion peel one layer (aes-gcm)",
                ),
                EncType::XChaCha20 => (
                    "onion build, 3 hops (xchacha20)",
                    "onion peel one layer (xchacha20)",
                ),
            };
            let path = self.path();
            let destination = self.destination();
            ops.push((
                build_name,
                Box::new(move || {
                    let request = build(
                        &path,
                        &destination,
                        black_box(&self.rpc_body),
                        enc_type,
                        &mut UnwrapErr(SysRng),
                    )
                    .expect("build");
                    black_box(request);
                }),
                Box::new(move || {
                    black_box(self.sodium_build(black_box(&self.rpc_body), enc_type));
                }),
            ));
            let body = build(
                &self.path(),
                &self.destination(),
                &self.rpc_body,
                enc_type,
                &mut UnwrapErr(SysRng),
            )
            .expect("build")
            .into_parts()
            .0;
            let sodium_body = self.sodium_build(&self.rpc_body, enc_type);
            assert_eq!(body.len(), sodium_body.len(), "both builders frame alike");
            assert!(sodium_peel(&self.nodes[0], &body, enc_type).is_some());
            if enc_type == EncType::XChaCha20 {
                ops.push((
                    "onion peel (xchacha20), bare secret key",
                    Box::new({
                        let body = body.clone();
                        move || {
                            black_box(
                                peel::peel(&self.nodes[0].secret, black_box(&body)).expect("peel"),
                            );
                        }
                    }),
                    Box::new({
                        let body = body.clone();
                        move || {
                            black_box(
                                sodium_peel(&self.nodes[0], black_box(&body), enc_type)
                                    .expect("peel"),
                            );
                        }
                    }),
                ));
            }
            ops.push((
                peel_name,
                Box::new({
                    let body = body.clone();
                    move || {
                        black_box(peel::peel(&self.nodes[0].keys, black_box(&body)).expect("peel"));
                    }
                }),
                Box::new(move || {
                    black_box(
                        sodium_peel(&self.nodes[0], black_box(&body), enc_type).expect("peel"),
                    );
                }),
            ));
        }
        ops
    }

    /// The primitives underneath, one by one: what this crate calls, and (`ref:`) the
    /// RustCrypto/dalek code it called before, each next to libsodium.
    fn primitives(&self) -> Vec<(&'static str, Op<'_>, Op<'_>)> {
        let secret = self.nodes[0].secret;
        let peer = self.nodes[1].hop.x25519;
        let signature = self.sender.sign(&self.signed);
        let sender_ed = self.sender.ed25519_public();
        let dalek_signing = ed25519_dalek::SigningKey::from_bytes(
            self.sender_sk[..32].try_into().expect("32-byte seed"),
        );
        let (x_pk, x_sk) = (self.recipient_x25519, self.recipient_x25519_secret);
        // The sealed-box rows seal what encrypt seals: M || A || sig.
        let inner: Vec<u8> = [&self.signed[..self.signed.len() - 32], &signature].concat();
        let sealed = seal_box(&x_pk, &inner, &mut UnwrapErr(SysRng)).expect("seal");
        vec![
            (
                "X25519: ours (dryoc)",
                Box::new(move || {
                    black_box(x25519_shared_secret(&secret, black_box(&peer)).expect("dh"));
                }),
                Box::new(move || {
                    black_box(libsodium::scalarmult(&secret, black_box(&peer)).expect("X25519"));
                }),
            ),
            (
                "X25519: ref: x25519-dalek",
                Box::new(move || {
                    let shared = x25519_dalek::StaticSecret::from(secret)
                        .diffie_hellman(&x25519_dalek::PublicKey::from(*black_box(&peer)));
                    black_box(shared.was_contributory());
                }),
                Box::new(move || {
                    black_box(libsodium::scalarmult(&secret, black_box(&peer)).expect("X25519"));
                }),
            ),
            (
                "X25519 base: ours (dryoc)",
                Box::new(move || {
                    black_box(x25519_public(black_box(&secret)));
                }),
                Box::new(move || {
                    black_box(libsodium::scalarmult_base(black_box(&secret)));
                }),
            ),
            (
                "X25519 base: ref: x25519-dalek",
                Box::new(move || {
                    let secret = x25519_dalek::StaticSecret::from(*black_box(&secret));
                    black_box(x25519_dalek::PublicKey::from(&secret));
                }),
                Box::new(move || {
                    black_box(libsodium::scalarmult_base(black_box(&secret)));
                }),
            ),
            (
                "Ed25519 sign: ours (dryoc)",
                Box::new(move || {
                    black_box(self.sender.sign(black_box(&self.signed)));
                }),
                Box::new(move || {
                    black_box(libsodium::sign(&self.sender_sk, black_box(&self.signed)));
                }),
            ),
            (
                "Ed25519 sign: ref: ed25519-dalek",
                Box::new(move || {
                    use ed25519_dalek::Signer as _;
                    black_box(dalek_signing.sign(black_box(&self.signed)));
                }),
                Box::new(move || {
                    black_box(libsodium::sign(&self.sender_sk, black_box(&self.signed)));
                }),
            ),
            (
                "Ed25519 verify: ours (dryoc)",
                Box::new(move || {
                    let ok = dryoc::classic::crypto_sign::crypto_sign_verify_detached(
                        &signature,
                        black_box(&self.signed),
                        &sender_ed,
                    );
                    black_box(ok.is_ok());
                }),
                Box::new(move || {
                    black_box(libsodium::verify(
                        &sender_ed,
                        black_box(&self.signed),
                        &signature,
                    ));
                }),
            ),
            (
                "Ed25519 verify: ref: ed25519-dalek strict",
                Box::new(move || {
                    // verify_strict, plus the canonical-key check libsodium makes.
                    let key = ed25519_dalek::VerifyingKey::from_bytes(black_box(&sender_ed))
                        .expect("key");
                    let canonical = key.to_edwards().compress().to_bytes() == sender_ed;
                    let ok = key.verify_strict(
                        &self.signed,
                        &ed25519_dalek::Signature::from_bytes(&signature),
                    );
                    black_box(canonical && ok.is_ok());
                }),
                Box::new(move || {
                    black_box(libsodium::verify(
                        &sender_ed,
                        black_box(&self.signed),
                        &signature,
                    ));
                }),
            ),
            (
                "Ed25519 pk to X25519: ours (dryoc)",
                Box::new(move || {
                    black_box(ed25519_public_to_x25519(black_box(&sender_ed)).expect("convert"));
                }),
                Box::new(move || {
                    black_box(libsodium::pk_to_curve25519(&sender_ed).expect("convert"));
                }),
            ),
            (
                "Ed25519 pk to X25519: ref: curve25519-dalek",
                Box::new(move || {
                    let point =
                        curve25519_dalek::edwards::CompressedEdwardsY(*black_box(&sender_ed))
                            .decompress()
                            .expect("point");
                    let valid = !point.is_small_order() && point.is_torsion_free();
                    black_box((valid, point.to_montgomery()));
                }),
                Box::new(move || {
                    black_box(libsodium::pk_to_curve25519(&sender_ed).expect("convert"));
                }),
            ),
            (
                "sealed box: ours (dryoc)",
                Box::new({
                    let inner = inner.clone();
                    move || {
                        black_box(
                            seal_box(&x_pk, black_box(&inner), &mut UnwrapErr(SysRng))
                                .expect("seal"),
                        );
                    }
                }),
                Box::new(move || {
                    black_box(libsodium::seal(&x_pk, black_box(&inner)));
                }),
            ),
            (
                "sealed box open: ours (dryoc)",
                Box::new({
                    let sealed = sealed.clone();
                    move || {
                        black_box(open_sealed_box(&x_sk, &x_pk, black_box(&sealed)).expect("open"));
                    }
                }),
                Box::new(move || {
                    black_box(
                        libsodium::seal_open(&x_pk, &x_sk, black_box(&sealed)).expect("open"),
                    );
                }),
            ),
        ]
    }

    /// libsodium: `crypto_box_seal_open`, the signature over `M || A || Y`, then (if `convert`)
    /// the sender's Ed25519 → X25519 conversion.
    fn sodium_decrypt(&self, ciphertext: &[u8], convert: bool) -> Option<(Vec<u8>, [u8; 32])> {
        let (message, sender) = libsodium::decrypt_incoming(
            &self.recipient_x25519,
            &self.recipient_x25519_secret,
            ciphertext,
        )?;
        let sender_x25519 = if convert {
            libsodium::pk_to_curve25519(&sender)?
        } else {
            [0u8; 32]
        };
        Some((message, sender_x25519))
    }

    /// libsodium's onion build, framed exactly like ours: the destination layer, then one layer
    /// per hop from the last to the guard, then the guard's HTTP body.
    fn sodium_build(&self, payload: &[u8], enc_type: EncType) -> Vec<u8> {
        let enc_name = enc_type.as_str();
        let destination = &self.nodes[3];
        let plaintext = frame(payload, r#"{"headers":{}}"#);
        let (mut blob, mut ephemeral) = sodium_layer(&destination.hop.x25519, &plaintext, enc_type);
        let mut next = destination;
        for node in self.nodes[..3].iter().rev() {
            let routing = format!(
                r#"{{"destination":"{}","ephemeral_key":"{}","enc_type":"{enc_name}"}}"#,
                hex::encode(next.hop.ed25519),
                hex::encode(ephemeral),
            );
            let plaintext = frame(&blob, &routing);
            (blob, ephemeral) = sodium_layer(&node.hop.x25519, &plaintext, enc_type);
            next = node;
        }
        let outer = format!(
            r#"{{"ephemeral_key":"{}","enc_type":"{enc_name}"}}"#,
            hex::encode(ephemeral)
        );
        frame(&blob, &outer)
    }
}

/// The `proSig` decoy libsession sends without Session Pro: `R = r·B` for a random scalar, then a
/// random scalar.
fn sodium_decoy_pro_signature() -> [u8; 64] {
    let mut r = [0u8; 32];
    let mut signature = [0u8; 64];
    unsafe {
        sodium::crypto_core_ed25519_scalar_random(r.as_mut_ptr());
        let rc = sodium::crypto_scalarmult_ed25519_base_noclamp(signature.as_mut_ptr(), r.as_ptr());
        assert_eq!(rc, 0);
        sodium::crypto_core_ed25519_scalar_random(signature[32..].as_mut_ptr());
    }
    signature
}

/// `u32_le(len) || blob || json`.
fn frame(blob: &[u8], json: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + blob.len() + json.len());
    out.extend_from_slice(&(blob.len() as u32).to_le_bytes());
    out.extend_from_slice(blob);
    out.extend_from_slice(json.as_bytes());
    out
}

/// One layer with libsodium: a fresh key pair, the shared secret, the layer key, a random
/// nonce, `nonce || AEAD(plaintext)`. Returns the blob and the ephemeral public key.
fn sodium_layer(
    node_x25519: &[u8; 32],
    plaintext: &[u8],
    enc_type: EncType,
) -> (Vec<u8>, [u8; 32]) {
    let (mut public, mut secret) = ([0u8; 32], [0u8; 32]);
    let rc = unsafe { sodium::crypto_box_keypair(public.as_mut_ptr(), secret.as_mut_ptr()) };
    assert_eq!(rc, 0);
    let shared = libsodium::scalarmult(&secret, node_x25519).expect("X25519");
    let key = libsodium::layer_key(enc_type, &shared, &public, node_x25519);
    let mut nonce = [0u8; 24];
    let nonce = &mut nonce[..enc_type.nonce_len()];
    unsafe { sodium::randombytes_buf(nonce.as_mut_ptr().cast(), nonce.len()) };
    let sealed = libsodium::aead_encrypt(enc_type.into(), &key, nonce, plaintext);
    ([&nonce[..], &sealed].concat(), public)
}

/// libsodium's half of peeling the guard's layer: split the body, X25519 with the ephemeral key
/// (read from the known position of the JSON), derive, decrypt.
fn sodium_peel(node: &Node, body: &[u8], enc_type: EncType) -> Option<Vec<u8>> {
    let len = u32::from_le_bytes(body.get(..4)?.try_into().ok()?) as usize;
    let blob = body.get(4..4 + len)?;
    // `{"ephemeral_key":"<64 hex>",…`
    let json = body.get(4 + len..)?;
    let mut ephemeral = [0u8; 32];
    hex::decode_to_slice(json.get(18..82)?, &mut ephemeral).ok()?;
    let shared = libsodium::scalarmult(&node.secret, &ephemeral)?;
    let key = libsodium::layer_key(enc_type, &shared, &ephemeral, &node.hop.x25519);
    let (nonce, ciphertext) = blob.split_at(enc_type.nonce_len());
    libsodium::aead_decrypt(enc_type.into(), &key, nonce, ciphertext)
}
