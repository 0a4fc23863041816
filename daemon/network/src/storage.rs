//! Typed storage RPCs: the `store`, `retrieve` and `info` bodies, the `batch`/`sequence`
//! wrappers, and the parsers of their answers (protocol.md §3.5–§3.8, §3.10).
//!
//! Everything here is plain data in, plain data out: no I/O, no clock, no retries. Timestamps
//! are handed in (the caller takes them from the network clock, [`crate::Clock::network_now_ms`]),
//! signatures come from `sessiond_protocol::storage_auth`, and JSON is built with serde_json in
//! the shapes the official desktop client sends:
//! - a message to someone else: `store` `{pubkey, timestamp, namespace, ttl, data}` in a
//!   `sequence` (no signature: namespace 0 is a public inbox);
//! - to one of our own namespaces that needs the owner's signature: `{namespace, ttl, data,
//!   timestamp, signature, pubkey_ed25519, pubkey}` (plus `sig_timestamp` when the signature's
//!   timestamp differs from the message's, after a clock refresh);
//! - a poll: one `retrieve` `{namespace, pubkey, pubkey_ed25519, signature, timestamp,
//!   last_hash, max_size}` per namespace in a `batch`, with `max_size` split between
//!   namespaces as desktop does ([`retrieve_max_sizes`]).
//!
//! Answers are untrusted: [`parse_results`] checks the `results` list against what was sent,
//! [`parse_store`] checks the node's `hash` against the one computed locally, and
//! [`parse_retrieve`] drops (and counts) messages whose hash does not match their data, so that
//! de-duplication by hash cannot be fooled by a node.

use std::fmt;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde_json::{Map, Value, json};
use sessiond_protocol::Identity;
use sessiond_protocol::message_hash::MessageHash;
use sessiond_protocol::namespace::Namespace;
use sessiond_protocol::storage_auth::{SignedRequest, SwarmPubkey, sign_as_account};

use crate::error::{Malformed, NetworkError};
use crate::node::NodeId;
use crate::rpc::{RpcBody, RpcReply, RpcRequest};

/// Largest `data` a node stores, in raw bytes (102 400 base64 characters).
pub const MAX_DATA_BYTES: usize = 76_800;
/// Shortest TTL a node accepts (10 s).
pub const MIN_TTL_MS: u64 = 10_000;
/// Longest TTL in a public-inbox namespace (14 days).
pub const MAX_TTL_PUBLIC_MS: u64 = 14 * 24 * 3_600_000;
/// Longest TTL in other namespaces (30 days).
pub const MAX_TTL_PRIVATE_MS: u64 = 30 * 24 * 3_600_000;
/// Most sub-requests in one `batch` or `sequence`.
pub const MAX_SUBREQUESTS: usize = 20;

/// What a successful `store` gives back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreAck {
    /// The message's hash (checked against the one computed locally).
    pub hash: MessageHash,
    /// The swarm member that accepted it (and copied it to its peers).
    pub node: NodeId,
}

/// One message from a `retrieve`.
#[derive(Clone, PartialEq, Eq)]
pub struct RetrievedMessage {
    /// Its hash, checked against the data: the key for de-duplication and `last_hash`.
    pub hash: MessageHash,
    /// The `timestamp` the sender gave `store` (not the time it was stored).
    pub timestamp_ms: u64,
    /// When the node drops it (`expiration`).
    pub expires_at_ms: u64,
    /// The stored bytes (an encrypted envelope or config message).
    pub data: Vec<u8>,
}

impl fmt::Debug for RetrievedMessage {
    /// Without the data (user content, even if encrypted).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetrievedMessage")
            .field("hash", &self.hash)
            .field("timestamp_ms", &self.timestamp_ms)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// The answer of one namespace's `retrieve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retrieved {
    /// The namespace polled.
    pub namespace: Namespace,
    /// Its messages, in the node's order (oldest first); the last one's hash is the next
    /// `last_hash` for this node and namespace.
    pub messages: Vec<RetrievedMessage>,
    /// The node truncated the answer (`max_size`): poll this node again for the rest.
    pub more: bool,
    /// Messages dropped because they were malformed or their hash did not match their data.
    pub skipped: usize,
}

fn invalid(what: &'static str, reason: impl Into<String>) -> NetworkError {
    NetworkError::InvalidRequest {
        what,
        reason: reason.into(),
    }
}

/// Checks what every `store` needs: at most [`MAX_DATA_BYTES`], a TTL the namespace allows.
fn check_store(namespace: Namespace, data: &[u8], ttl_ms: u64) -> Result<(), NetworkError> {
    if data.len() > MAX_DATA_BYTES {
        return Err(invalid(
            "store",
            format!("{} bytes of data, at most {MAX_DATA_BYTES}", data.len()),
        ));
    }
    let max = if namespace.is_public_inbox() {
        MAX_TTL_PUBLIC_MS
    } else {
        MAX_TTL_PRIVATE_MS
    };
    if !(MIN_TTL_MS..=max).contains(&ttl_ms) {
        return Err(invalid(
            "store",
            format!("TTL {ttl_ms} ms outside {MIN_TTL_MS}..={max} for namespace {namespace}"),
        ));
    }
    Ok(())
}

/// An unsigned `store` of `data` into `to`'s `namespace` (a public inbox: namespace 0 or any
/// multiple of 10), as desktop sends messages to others: `{pubkey, timestamp, namespace, ttl,
/// data}`. `timestamp_ms` is the message's own timestamp (the envelope's), in network time.
pub fn store_request(
    to: &SwarmPubkey,
    namespace: Namespace,
    data: &[u8],
    ttl_ms: u64,
    timestamp_ms: u64,
) -> Result<RpcRequest, NetworkError> {
    if namespace.store_requires_auth() {
        return Err(invalid(
            "store",
            format!("namespace {namespace} needs the owner's signature"),
        ));
    }
    check_store(namespace, data, ttl_ms)?;
    Ok(RpcRequest::new(
        "store",
        json!({
            "pubkey": to.to_string(),
            "timestamp": timestamp_ms,
            "namespace": namespace.get(),
            "ttl": ttl_ms,
            "data": STANDARD.encode(data),
        }),
    ))
}

/// A `store` into one of `identity`'s own namespaces. Namespaces that need a signature get the
/// owner's (`"store" + NS + sig_timestamp`), with the fields desktop sends; `sig_timestamp` is
/// sent only when it differs from `timestamp_ms` (the node defaults it to `timestamp`). Public
/// inboxes (our own namespace 0, for sync copies) get the unsigned form.
pub fn signed_store_request(
    identity: &Identity,
    namespace: Namespace,
    data: &[u8],
    ttl_ms: u64,
    timestamp_ms: u64,
    sig_timestamp_ms: u64,
) -> Result<RpcRequest, NetworkError> {
    let owner = SwarmPubkey::Account(identity.account_id());
    if !namespace.store_requires_auth() {
        return store_request(&owner, namespace, data, ttl_ms, timestamp_ms);
    }
    check_store(namespace, data, ttl_ms)?;
    let auth = sign_as_account(
        identity,
        &SignedRequest::Store {
            namespace,
            sig_timestamp_ms,
        },
    );
    let mut params = Map::new();
    params.insert("namespace".into(), json!(namespace.get()));
    params.insert("ttl".into(), json!(ttl_ms));
    params.insert("data".into(), json!(STANDARD.encode(data)));
    params.insert("timestamp".into(), json!(timestamp_ms));
    if sig_timestamp_ms != timestamp_ms {
        params.insert("sig_timestamp".into(), json!(sig_timestamp_ms));
    }
    params.insert("signature".into(), json!(auth.signature_base64()));
    if let Some(key) = auth.pubkey_ed25519_hex() {
        params.insert("pubkey_ed25519".into(), json!(key));
    }
    params.insert("pubkey".into(), json!(owner.to_string()));
    Ok(RpcRequest::new("store", Value::Object(params)))
}

/// A `retrieve` of `identity`'s `namespace` after `last_hash` (from the start if `None`), at
/// most `max_size` bytes (negative: that fraction of the node's maximum), signed with
/// `timestamp_ms` (network time) when the namespace needs it.
pub fn retrieve_request(
    identity: &Identity,
    namespace: Namespace,
    last_hash: Option<&MessageHash>,
    max_size: i64,
    timestamp_ms: u64,
) -> RpcRequest {
    let owner = SwarmPubkey::Account(identity.account_id());
    let mut params = Map::new();
    params.insert("namespace".into(), json!(namespace.get()));
    params.insert("pubkey".into(), json!(owner.to_string()));
    if namespace.retrieve_requires_auth() {
        let auth = sign_as_account(
            identity,
            &SignedRequest::Retrieve {
                namespace,
                timestamp_ms,
            },
        );
        if let Some(key) = auth.pubkey_ed25519_hex() {
            params.insert("pubkey_ed25519".into(), json!(key));
        }
        params.insert("signature".into(), json!(auth.signature_base64()));
        params.insert("timestamp".into(), json!(timestamp_ms));
    }
    params.insert(
        "last_hash".into(),
        json!(last_hash.map(MessageHash::as_str).unwrap_or("")),
    );
    params.insert("max_size".into(), json!(max_size));
    RpcRequest::new("retrieve", Value::Object(params))
}

/// Whether desktop polls a namespace first: messages (0, group messages 11) rank above configs.
fn message_priority(namespace: Namespace) -> bool {
    namespace == Namespace::DEFAULT || namespace == Namespace::GROUP_MESSAGES
}

/// The `max_size` of each namespace polled together, as desktop splits it (§3.8,
/// `snodeNamespace.ts` `maxSizeMap`): message namespaces share the answer with the configs
/// (one extra share for them), configs split what is left. For the user's poll (0, 2, 3, 5, 4)
/// that is −2 for messages and −8 for each config; a namespace polled alone gets −1 (the whole
/// answer).
pub fn retrieve_max_sizes(namespaces: &[Namespace]) -> Vec<i64> {
    let high = namespaces.iter().filter(|&&n| message_priority(n)).count();
    let low = namespaces.len() - high;
    let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    // Groups by priority, highest first; every group but the lowest keeps one share for the
    // groups below it.
    let high_split = if high == 0 {
        1
    } else if low == 0 {
        as_i64(high)
    } else {
        as_i64(high) + 1
    };
    let low_split = high_split.saturating_mul(as_i64(low.max(1)));
    namespaces
        .iter()
        .map(|&n| {
            if message_priority(n) {
                -high_split
            } else {
                -low_split
            }
        })
        .collect()
}

/// The `info` request: the node's version and clock (`timestamp`, `t`).
pub fn info_request() -> RpcRequest {
    RpcRequest::new("info", json!({}))
}

/// How a meta-request runs its sub-requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meta {
    /// `batch`: all in parallel, one result each.
    Batch,
    /// `sequence`: in order, stopping after the first failure.
    Sequence,
}

impl Meta {
    fn method(self) -> &'static str {
        match self {
            Meta::Batch => "batch",
            Meta::Sequence => "sequence",
        }
    }
}

/// Wraps 1..=[`MAX_SUBREQUESTS`] requests in a `batch` or `sequence` (which cannot nest).
pub fn wrap(meta: Meta, requests: &[RpcRequest]) -> Result<RpcRequest, NetworkError> {
    if requests.is_empty() || requests.len() > MAX_SUBREQUESTS {
        return Err(invalid(
            meta.method(),
            format!(
                "{} sub-requests, 1..={MAX_SUBREQUESTS} allowed",
                requests.len()
            ),
        ));
    }
    if let Some(nested) = requests
        .iter()
        .find(|r| matches!(r.method, "batch" | "sequence" | "ifelse"))
    {
        return Err(invalid(
            meta.method(),
            format!("a {} cannot be a sub-request", nested.method),
        ));
    }
    let requests: Vec<Value> = requests
        .iter()
        .map(|r| json!({"method": r.method, "params": r.params}))
        .collect();
    Ok(RpcRequest::new(
        meta.method(),
        json!({ "requests": requests }),
    ))
}

/// One `{"code": …, "body": …}` entry of a `batch`/`sequence` answer, as an [`RpcReply`]: a
/// string body (errors) becomes text, anything else JSON.
pub fn sub_reply(entry: &Value) -> Result<RpcReply, Malformed> {
    let code = entry
        .get("code")
        .ok_or(Malformed::MissingField {
            field: "results[].code",
        })?
        .as_u64()
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (100..=599).contains(c))
        .ok_or(Malformed::BadField {
            field: "results[].code",
            expected: "an HTTP status",
        })?;
    let body = match entry.get("body") {
        None | Some(Value::Null) => RpcBody::Text(String::new()),
        Some(Value::String(text)) => RpcBody::Text(text.clone()),
        Some(json) => RpcBody::Json(json.clone()),
    };
    Ok(RpcReply { status: code, body })
}

/// The sub-results of a successful `batch`/`sequence` answer to `sent` sub-requests.
///
/// A batch answers every sub-request; a sequence stops after the first failure, so it may be
/// shorter, but then its last entry is the failure. Anything else is malformed.
pub fn parse_results(
    reply: &RpcReply,
    meta: Meta,
    sent: usize,
) -> Result<Vec<RpcReply>, Malformed> {
    let json = reply.json().ok_or(Malformed::NotJson)?;
    let results = json
        .get("results")
        .ok_or(Malformed::MissingField { field: "results" })?
        .as_array()
        .ok_or(Malformed::BadField {
            field: "results",
            expected: "an array",
        })?;
    let entries = results
        .iter()
        .map(sub_reply)
        .collect::<Result<Vec<_>, _>>()?;
    let well_formed = match meta {
        Meta::Batch => entries.len() == sent,
        Meta::Sequence => {
            !entries.is_empty()
                && entries.len() <= sent
                && (entries.len() == sent || entries.last().is_some_and(|e| !e.is_success()))
                && entries.iter().rev().skip(1).all(RpcReply::is_success)
        }
    };
    if !well_formed {
        return Err(Malformed::BadField {
            field: "results",
            expected: "one result per sub-request",
        });
    }
    Ok(entries)
}

/// The hash of a successful `store` answer (`body.hash`, what desktop reads), which must be
/// the one computed locally: a node that names another hash is lying or broken.
pub fn parse_store(body: &Value, expected: &MessageHash) -> Result<MessageHash, Malformed> {
    let hash: MessageHash = body
        .get("hash")
        .ok_or(Malformed::MissingField { field: "hash" })?
        .as_str()
        .and_then(|h| h.parse().ok())
        .ok_or(Malformed::BadField {
            field: "hash",
            expected: "a message hash",
        })?;
    if hash != *expected {
        return Err(Malformed::BadField {
            field: "hash",
            expected: "the hash of the stored data",
        });
    }
    Ok(hash)
}

/// Base64 as nodes send it (standard alphabet; padding tolerated either way).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Parses a successful `retrieve` answer for `owner`'s `namespace`:
/// `{"messages":[{"hash","timestamp","expiration","data"}],"more":bool,…}`. Messages that are
/// malformed or whose hash is not the hash of their data (§3.7) are skipped and counted.
pub fn parse_retrieve(
    body: &Value,
    owner: &SwarmPubkey,
    namespace: Namespace,
) -> Result<Retrieved, Malformed> {
    let entries = body
        .get("messages")
        .ok_or(Malformed::MissingField { field: "messages" })?
        .as_array()
        .ok_or(Malformed::BadField {
            field: "messages",
            expected: "an array",
        })?;
    let more = match body.get("more") {
        None | Some(Value::Null) => false,
        Some(value) => value.as_bool().ok_or(Malformed::BadField {
            field: "more",
            expected: "a boolean",
        })?,
    };
    let mut messages = Vec::with_capacity(entries.len());
    let mut skipped = 0;
    for entry in entries {
        match parse_message(entry, owner, namespace) {
            Ok(message) => messages.push(message),
            Err(problem) => {
                tracing::info!(%problem, "retrieved message skipped");
                skipped += 1;
            }
        }
    }
    Ok(Retrieved {
        namespace,
        messages,
        more,
        skipped,
    })
}

fn parse_message(
    entry: &Value,
    owner: &SwarmPubkey,
    namespace: Namespace,
) -> Result<RetrievedMessage, Malformed> {
    let field = |name: &'static str| {
        entry
            .get(name)
            .ok_or(Malformed::MissingField { field: name })
    };
    let number = |name: &'static str| {
        field(name)?.as_u64().ok_or(Malformed::BadField {
            field: name,
            expected: "an unsigned integer",
        })
    };
    let hash: MessageHash =
        field("hash")?
            .as_str()
            .and_then(|h| h.parse().ok())
            .ok_or(Malformed::BadField {
                field: "hash",
                expected: "a message hash",
            })?;
    let data = field("data")?
        .as_str()
        .and_then(|d| LENIENT_BASE64.decode(d).ok())
        .ok_or(Malformed::BadField {
            field: "data",
            expected: "base64",
        })?;
    if MessageHash::compute(owner, namespace, &data) != hash {
        return Err(Malformed::BadField {
            field: "hash",
            expected: "the hash of the message's data",
        });
    }
    Ok(RetrievedMessage {
        hash,
        timestamp_ms: number("timestamp")?,
        expires_at_ms: number("expiration")?,
        data,
    })
}

/// The node's clock in an `info` answer: `t`, else `timestamp` (Unix ms).
pub fn node_time(body: &Value) -> Option<u64> {
    body.get("t")
        .and_then(Value::as_u64)
        .or_else(|| body.get("timestamp").and_then(Value::as_u64))
}

#[cfg(test)]
mod tests {
    use sessiond_protocol::Seed;
    use sessiond_protocol::storage_auth::{RequestAuth, verify_request_signature};

    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn identity(byte: u8) -> Identity {
        Identity::from_seed(&Seed::from_bytes(&[byte; 16]).unwrap())
    }

    fn account(byte: u8) -> SwarmPubkey {
        SwarmPubkey::Account(identity(byte).account_id())
    }

    fn keys(params: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = params
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    }

    /// The auth fields of `params` as the server reads them.
    fn auth_of(params: &Value) -> RequestAuth {
        let signature = sessiond_protocol::storage_auth::decode_signature_base64(
            params["signature"].as_str().unwrap(),
        )
        .unwrap();
        let mut ed = [0u8; 32];
        hex::decode_to_slice(params["pubkey_ed25519"].as_str().unwrap(), &mut ed).unwrap();
        RequestAuth {
            pubkey: params["pubkey"].as_str().unwrap().parse().unwrap(),
            pubkey_ed25519: Some(ed),
            signature,
            subaccount: None,
        }
    }

    #[test]
    fn a_message_to_someone_else_is_the_desktop_store_without_signature() {
        let to = account(2);
        let request = store_request(&to, Namespace::DEFAULT, b"hello", 86_400_000, NOW).unwrap();
        assert_eq!(request.method, "store");
        assert_eq!(
            request.params,
            json!({"pubkey": to.to_string(), "timestamp": NOW, "namespace": 0,
                   "ttl": 86_400_000u64, "data": "aGVsbG8="})
        );
        // Namespaces that need a signature are refused without an identity.
        let error = store_request(&to, Namespace::USER_PROFILE, b"x", 86_400_000, NOW).unwrap_err();
        assert!(
            matches!(error, NetworkError::InvalidRequest { .. }),
            "{error}"
        );
    }

    #[test]
    fn stores_break_no_rule_the_node_enforces() {
        let to = account(2);
        let big = vec![0u8; MAX_DATA_BYTES + 1];
        assert!(store_request(&to, Namespace::DEFAULT, &big, 86_400_000, NOW).is_err());
        assert!(store_request(&to, Namespace::DEFAULT, &big[1..], 86_400_000, NOW).is_ok());
        assert!(store_request(&to, Namespace::DEFAULT, b"x", MIN_TTL_MS - 1, NOW).is_err());
        assert!(store_request(&to, Namespace::DEFAULT, b"x", MAX_TTL_PUBLIC_MS + 1, NOW).is_err());
        let me = identity(1);
        // 30 days is fine in a private namespace, not in a public one.
        assert!(
            signed_store_request(&me, Namespace::CONTACTS, b"x", MAX_TTL_PRIVATE_MS, NOW, NOW)
                .is_ok()
        );
        assert!(
            signed_store_request(&me, Namespace::DEFAULT, b"x", MAX_TTL_PRIVATE_MS, NOW, NOW)
                .is_err()
        );
    }

    #[test]
    fn own_namespace_stores_carry_a_verifiable_owner_signature() {
        let me = identity(1);
        let request = signed_store_request(
            &me,
            Namespace::USER_PROFILE,
            b"cfg",
            2_592_000_000,
            NOW,
            NOW,
        )
        .unwrap();
        let params = &request.params;
        assert_eq!(
            keys(params),
            [
                "data",
                "namespace",
                "pubkey",
                "pubkey_ed25519",
                "signature",
                "timestamp",
                "ttl"
            ]
        );
        let signed = SignedRequest::Store {
            namespace: Namespace::USER_PROFILE,
            sig_timestamp_ms: NOW,
        };
        assert!(verify_request_signature(&auth_of(params), &signed).is_ok());

        // After a clock refresh the signature timestamp differs: it is sent as sig_timestamp.
        let later = NOW + 90_000;
        let request = signed_store_request(
            &me,
            Namespace::USER_PROFILE,
            b"cfg",
            2_592_000_000,
            NOW,
            later,
        )
        .unwrap();
        assert_eq!(request.params["timestamp"], NOW);
        assert_eq!(request.params["sig_timestamp"], later);
        let signed = SignedRequest::Store {
            namespace: Namespace::USER_PROFILE,
            sig_timestamp_ms: later,
        };
        assert!(verify_request_signature(&auth_of(&request.params), &signed).is_ok());

        // Our own namespace 0 (sync copies) is a public inbox: no signature.
        let request =
            signed_store_request(&me, Namespace::DEFAULT, b"sync", 86_400_000, NOW, NOW).unwrap();
        assert!(request.params.get("signature").is_none());
        assert_eq!(request.params["pubkey"], me.account_id().to_string());
    }

    #[test]
    fn retrieves_are_signed_with_namespace_zero_as_the_empty_string() {
        let me = identity(1);
        let hash = MessageHash::compute(&account(1), Namespace::DEFAULT, b"m");
        let request = retrieve_request(&me, Namespace::DEFAULT, Some(&hash), -2, NOW);
        let params = &request.params;
        assert_eq!(
            keys(params),
            [
                "last_hash",
                "max_size",
                "namespace",
                "pubkey",
                "pubkey_ed25519",
                "signature",
                "timestamp"
            ]
        );
        assert_eq!(params["last_hash"], hash.as_str());
        assert_eq!(params["namespace"], 0);
        assert_eq!(params["max_size"], -2);
        assert_eq!(params["timestamp"], NOW);
        let signed = SignedRequest::Retrieve {
            namespace: Namespace::DEFAULT,
            timestamp_ms: NOW,
        };
        assert_eq!(signed.message(), format!("retrieve{NOW}").into_bytes());
        assert!(verify_request_signature(&auth_of(params), &signed).is_ok());

        let first = retrieve_request(&me, Namespace::CONTACTS, None, -8, NOW);
        assert_eq!(first.params["last_hash"], "");
        // The legacy closed-group namespace is read without a signature.
        let legacy = retrieve_request(&me, Namespace::LEGACY_CLOSED_GROUP, None, -1, NOW);
        assert!(legacy.params.get("signature").is_none());
    }

    #[test]
    fn max_size_is_split_as_desktop_splits_it() {
        let ns = |n: &[i16]| n.iter().map(|&n| Namespace::new(n)).collect::<Vec<_>>();
        assert_eq!(
            retrieve_max_sizes(&ns(&[0, 2, 3, 5, 4])),
            vec![-2, -8, -8, -8, -8]
        );
        assert_eq!(
            retrieve_max_sizes(&ns(&[-11, 11, 13, 14, 12])),
            vec![-8, -2, -8, -8, -8]
        );
        assert_eq!(retrieve_max_sizes(&ns(&[0])), vec![-1]);
        assert_eq!(retrieve_max_sizes(&ns(&[2, 3])), vec![-2, -2]);
        assert_eq!(retrieve_max_sizes(&ns(&[0, 2])), vec![-2, -2]);
        assert!(retrieve_max_sizes(&[]).is_empty());
    }

    #[test]
    fn batches_hold_one_to_twenty_plain_requests() {
        let one = info_request();
        let batch = wrap(Meta::Batch, std::slice::from_ref(&one)).unwrap();
        assert_eq!(
            batch.to_body(),
            json!({"method": "batch", "params": {"requests": [{"method": "info", "params": {}}]}})
                .to_string()
                .into_bytes()
        );
        assert!(wrap(Meta::Batch, &[]).is_err());
        assert!(wrap(Meta::Sequence, &vec![one.clone(); 21]).is_err());
        assert!(wrap(Meta::Sequence, &vec![one; 20]).is_ok());
        assert!(wrap(Meta::Batch, &[batch]).is_err());
    }

    fn results(entries: Value) -> RpcReply {
        RpcReply::from_http(200, json!({ "results": entries }).to_string().as_bytes())
    }

    #[test]
    fn results_must_answer_what_was_sent() {
        let ok = json!({"code": 200, "body": {"t": NOW}});
        let bad = json!({"code": 406, "body": "Timestamp error: check your clock"});
        let parsed = parse_results(&results(json!([ok, bad])), Meta::Batch, 2).unwrap();
        assert_eq!(parsed[0].network_time(), Some(NOW));
        assert_eq!(parsed[1].status, 406);
        assert_eq!(parsed[1].text(), "Timestamp error: check your clock");
        assert!(parse_results(&results(json!([ok])), Meta::Batch, 2).is_err());
        // A sequence stops after its first failure, which is then last.
        assert_eq!(
            parse_results(&results(json!([ok, bad])), Meta::Sequence, 3)
                .unwrap()
                .len(),
            2
        );
        assert!(parse_results(&results(json!([ok])), Meta::Sequence, 3).is_err());
        assert!(parse_results(&results(json!([bad, ok])), Meta::Sequence, 2).is_err());
        for hostile in [
            json!({"results": {}}),
            json!({"result": []}),
            json!({"results": [{"body": {}}]}),
            json!({"results": [{"code": 99999, "body": {}}]}),
            json!({"results": [{"code": "200", "body": {}}]}),
        ] {
            let reply = RpcReply::from_http(200, hostile.to_string().as_bytes());
            assert!(parse_results(&reply, Meta::Batch, 1).is_err(), "{hostile}");
        }
        let text = RpcReply::from_http(200, b"not json");
        assert_eq!(
            parse_results(&text, Meta::Batch, 1),
            Err(Malformed::NotJson)
        );
        // A 421 body is the swarm object, kept as JSON.
        let wrong = parse_results(
            &results(json!([{"code": 421, "body": {"snodes": [], "swarm": "1"}}])),
            Meta::Sequence,
            1,
        )
        .unwrap();
        assert!(wrong[0].json().unwrap().get("snodes").is_some());
    }

    #[test]
    fn a_store_answer_must_name_the_hash_of_what_was_sent() {
        let expected = MessageHash::compute(&account(2), Namespace::DEFAULT, b"hello");
        let body = json!({"hash": expected.as_str(), "swarm": {}, "t": NOW, "hf": [19, 4]});
        assert_eq!(parse_store(&body, &expected).unwrap(), expected);
        let other = MessageHash::compute(&account(2), Namespace::DEFAULT, b"other");
        assert!(parse_store(&json!({"hash": other.as_str()}), &expected).is_err());
        assert!(parse_store(&json!({"hash": 5}), &expected).is_err());
        assert!(parse_store(&json!({}), &expected).is_err());
    }

    #[test]
    fn retrieved_messages_are_checked_against_their_hash() {
        let owner = account(1);
        let ns = Namespace::DEFAULT;
        let message = |data: &[u8]| {
            json!({"hash": MessageHash::compute(&owner, ns, data).as_str(), "timestamp": NOW,
                   "expiration": NOW + 1000, "data": STANDARD.encode(data)})
        };
        let mut forged = message(b"real");
        forged["data"] = json!(STANDARD.encode(b"forged"));
        let mut unpadded = message(b"ab");
        unpadded["data"] = json!("YWI");
        let body = json!({"messages": [message(b"one"), forged, {"hash": 1}, unpadded,
                                       message(b"two")], "more": true, "t": NOW, "hf": [19, 4]});
        let retrieved = parse_retrieve(&body, &owner, ns).unwrap();
        assert!(retrieved.more);
        assert_eq!(retrieved.skipped, 2);
        let data: Vec<&[u8]> = retrieved.messages.iter().map(|m| &m.data[..]).collect();
        assert_eq!(data, vec![&b"one"[..], b"ab", b"two"]);
        assert_eq!(retrieved.messages[0].timestamp_ms, NOW);
        assert_eq!(retrieved.messages[0].expires_at_ms, NOW + 1000);
        // The same bytes in another namespace have another hash.
        assert_eq!(
            parse_retrieve(&body, &owner, Namespace::CONTACTS)
                .unwrap()
                .messages
                .len(),
            0
        );
        let empty = parse_retrieve(&json!({"messages": []}), &owner, ns).unwrap();
        assert!(!empty.more && empty.messages.is_empty());
        assert!(parse_retrieve(&json!({"more": false}), &owner, ns).is_err());
        assert!(parse_retrieve(&json!({"messages": [], "more": 1}), &owner, ns).is_err());
        assert!(!format!("{:?}", retrieved.messages[0]).contains("one"));
    }

    #[test]
    fn info_gives_the_node_clock() {
        assert_eq!(node_time(&json!({"t": NOW, "timestamp": 5})), Some(NOW));
        assert_eq!(node_time(&json!({"timestamp": NOW})), Some(NOW));
        assert_eq!(node_time(&json!({"version": [2, 8, 0]})), None);
    }
}
