//! The storage-RPC methods: parsing each method's parameters (as `client_rpc_endpoints.cpp`
//! does) and executing it on a node (as `request_handler.cpp` does): swarm check, time windows,
//! signature, then the database, then per-node signed results for recursive methods.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use sessiond_protocol::Namespace;
use sessiond_protocol::message_hash::MessageHash;
use sessiond_protocol::storage_auth::{
    ExpireMode, SignedRequest, SubaccountAccess, SubaccountToken,
};

use super::auth::{Verdict, verify};
use super::params::{
    Auth, NamespaceVar, Owner, Params, ParseError, Parsed, decode_base64_any, decode_token,
    is_valid_message_hash, load_auth, load_owner, opt_bool, opt_int, opt_namespace,
    opt_namespace_var, opt_string, opt_string_list, opt_stringified, opt_timestamp,
    opt_timestamp_list, require,
};
use super::swarm::{fan_out, finish, swarm_json, wrong_swarm};
use super::{HARDFORK, RpcResponse, VERSION};
use crate::node::Node;
use crate::store::StoredMessage;

/// Largest message body (raw bytes); 102 400 base64 characters.
pub(crate) const MAX_MESSAGE_BODY: usize = 76_800;
/// Shortest TTL.
const TTL_MINIMUM: i64 = 10_000;
/// Longest TTL in public (÷10) namespaces: 14 days.
const TTL_MAXIMUM: i64 = 14 * 24 * 3_600_000;
/// Longest TTL elsewhere: 30 days.
const TTL_MAXIMUM_PRIVATE: i64 = 30 * 24 * 3_600_000;
/// How far in the future a store `timestamp` (or in the past its expiry) may be.
const STORE_TOLERANCE: i64 = 10_000;
/// Signature timestamp window.
const SIGNATURE_TOLERANCE: i64 = 60_000;
/// Signature timestamp window for copies forwarded by a swarm peer.
const SIGNATURE_TOLERANCE_FORWARDED: i64 = 70_000;
/// The largest retrieve answer, in bytes (a negative `max_size` is a fraction of it).
const RETRIEVE_MAX_SIZE: i64 = 7_800_000;
/// Most tokens one revoke may carry.
const MAX_SUBACCOUNT_TOKENS: usize = 50;

// ----- parsed requests -----
//
// Each holds the validated parameters; recursive methods also keep the original `params`
// object, which is what the swarm peers receive (they re-validate and re-verify it).

/// `store`.
#[derive(Debug)]
pub(crate) struct Store {
    /// Whose mailbox (`pubkey`).
    owner: Owner,
    /// Present when a `signature` was sent (required for non-public namespaces).
    auth: Option<Auth>,
    /// Target namespace (default 0).
    namespace: i16,
    /// The sender's `timestamp` (stored, returned by `retrieve`).
    timestamp: i64,
    /// `expiry`, or `timestamp + ttl`.
    expiry: i64,
    /// `sig_timestamp`, defaulting to `timestamp` (what the signature covers).
    sig_timestamp: i64,
    /// The decoded message.
    data: Vec<u8>,
    /// Forwarded to swarm peers.
    params: Params,
}

/// `retrieve`.
#[derive(Debug)]
pub(crate) struct Retrieve {
    /// Whose mailbox.
    owner: Owner,
    /// Present when the signature is to be checked, with its `timestamp`.
    auth: Option<(Auth, i64)>,
    /// Namespace polled (default 0).
    namespace: i16,
    /// Return what was stored after this hash (unknown: from the start).
    last_hash: Option<String>,
    /// `max_count` as sent (0 = unset).
    max_count: Option<i64>,
    /// `max_size` as sent (negative = fraction of the maximum, 0 = unset).
    max_size: Option<i64>,
}

/// `delete`.
#[derive(Debug)]
pub(crate) struct Delete {
    /// Owner and signature.
    auth: Auth,
    /// Hashes to delete, in the order signed.
    messages: Vec<String>,
    /// 404 when nothing was deleted anywhere.
    required: bool,
    /// Forwarded to swarm peers.
    params: Params,
}

/// `delete_all`.
#[derive(Debug)]
pub(crate) struct DeleteAll {
    /// Owner and signature.
    auth: Auth,
    /// One namespace or all.
    namespace: NamespaceVar,
    /// Signed timestamp (±60 s).
    timestamp: i64,
    /// Forwarded to swarm peers.
    params: Params,
}

/// `delete_before`.
#[derive(Debug)]
pub(crate) struct DeleteBefore {
    /// Owner and signature.
    auth: Auth,
    /// One namespace or all.
    namespace: NamespaceVar,
    /// Delete messages whose `timestamp` is at most this.
    before: i64,
    /// Forwarded to swarm peers.
    params: Params,
}

/// `expire`.
#[derive(Debug)]
pub(crate) struct Expire {
    /// Owner and signature.
    auth: Auth,
    /// One expiry for all messages, or one per message.
    expiry: Vec<i64>,
    /// Hashes, in the order signed.
    messages: Vec<String>,
    /// Only make expiries earlier.
    shorten: bool,
    /// Only make expiries later.
    extend: bool,
    /// Forwarded to swarm peers.
    params: Params,
}

/// `expire_all`.
#[derive(Debug)]
pub(crate) struct ExpireAll {
    /// Owner and signature.
    auth: Auth,
    /// One namespace or all.
    namespace: NamespaceVar,
    /// New (earlier) expiry.
    expiry: i64,
    /// Forwarded to swarm peers.
    params: Params,
}

/// `get_expiries`.
#[derive(Debug)]
pub(crate) struct GetExpiries {
    /// Owner and signature.
    auth: Auth,
    /// Signed timestamp (±60 s).
    timestamp: i64,
    /// Hashes asked about, in the order signed.
    messages: Vec<String>,
}

/// `revoke_subaccount` / `unrevoke_subaccount`.
#[derive(Debug)]
pub(crate) struct Revocation {
    /// Owner and signature (no subaccount: owner only).
    auth: Auth,
    /// Signed timestamp (±60 s).
    timestamp: i64,
    /// Raw 36-byte tokens, in the order signed.
    tokens: Vec<[u8; 36]>,
    /// Revoke (true) or unrevoke.
    revoke: bool,
    /// Forwarded to swarm peers.
    params: Params,
}

/// `oxend_request`.
#[derive(Debug)]
pub(crate) struct Oxend {
    /// `get_service_nodes` or `ons_resolve`.
    endpoint: String,
    /// Passed to the endpoint.
    params: Option<Value>,
}

// ----- parsing -----

pub(crate) fn parse_store(params: Params) -> Parsed<Store> {
    let p = &params;
    let data = opt_string(p, "data")?;
    let expiry = opt_timestamp(p, "expiry")?;
    let namespace = opt_namespace(p, "namespace")?;
    let signature = opt_string(p, "signature")?;
    let sig_timestamp = opt_timestamp(p, "sig_timestamp")?;
    let timestamp = opt_stringified(p, "timestamp", true)?;
    let ttl = opt_stringified(p, "ttl", false)?;
    let timestamp = require("timestamp", timestamp)?;
    let expiry = match (expiry, ttl) {
        (Some(_), Some(_)) => {
            return Err(ParseError::new("Cannot specify both 'expiry' and 'ttl'"));
        }
        (None, None) => return Err(ParseError::new("Required field 'expiry' or 'ttl' missing")),
        (Some(expiry), None) => expiry,
        (None, Some(ttl)) => timestamp.saturating_add(ttl),
    };
    let owner = load_owner(p, true)?;
    let auth = match signature {
        Some(_) => Some(load_auth(p, owner)?),
        None => None,
    };
    let data = require("data", data)?;
    let data = decode_base64_any(&data)
        .ok_or_else(|| ParseError::new("Invalid 'data' value: not base64 encoded"))?;
    if data.len() > MAX_MESSAGE_BODY {
        return Err(ParseError(format!(
            "Message body exceeds maximum allowed length of {MAX_MESSAGE_BODY} bytes"
        )));
    }
    Ok(Store {
        owner,
        auth,
        namespace: namespace.unwrap_or(0),
        timestamp,
        expiry,
        sig_timestamp: sig_timestamp.unwrap_or(timestamp),
        data,
        params,
    })
}

pub(crate) fn parse_retrieve(params: Params) -> Parsed<Retrieve> {
    let p = &params;
    let last_hash_alt = opt_string(p, "lastHash")?;
    let last_hash = opt_string(p, "last_hash")?;
    let max_count = opt_int(p, "max_count")?;
    let max_size = opt_int(p, "max_size")?;
    let namespace = opt_namespace(p, "namespace")?;
    let pk_ed = opt_string(p, "pubkey_ed25519")?;
    let signature = opt_string(p, "signature")?;
    let timestamp = opt_timestamp(p, "timestamp")?;
    let owner = load_owner(p, true)?;
    let needs_auth = pk_ed.is_some()
        || signature.is_some()
        || timestamp.is_some()
        || namespace.is_some_and(|n| Namespace::new(n).retrieve_requires_auth());
    let auth = if needs_auth {
        let auth = load_auth(p, owner)?;
        Some((auth, require("timestamp", timestamp)?))
    } else {
        None
    };
    if last_hash.is_some() && last_hash_alt.is_some() {
        return Err(ParseError::new(
            "Cannot specify both 'last_hash' and 'lastHash'",
        ));
    }
    let last_hash = match last_hash.or(last_hash_alt) {
        None => None,
        Some(hash) if hash.is_empty() => None,
        Some(hash) if hash.len() == 43 => {
            if !is_valid_message_hash(&hash) {
                return Err(ParseError::new("Invalid last_hash: not base64"));
            }
            Some(hash)
        }
        Some(_) => {
            return Err(ParseError::new(
                "Invalid last_hash: expected base64 (43 chars)",
            ));
        }
    };
    Ok(Retrieve {
        owner,
        auth,
        namespace: namespace.unwrap_or(0),
        last_hash,
        max_count,
        max_size,
    })
}

/// `messages`: required, non-empty, each a valid hash.
fn message_list(messages: Option<Vec<String>>) -> Parsed<Vec<String>> {
    let messages = require("messages", messages)?;
    if messages.is_empty() {
        return Err(ParseError::new(
            "messages does not contain any message hashes",
        ));
    }
    if let Some(bad) = messages.iter().find(|m| !is_valid_message_hash(m)) {
        return Err(ParseError(format!("invalid message hash: {bad}")));
    }
    Ok(messages)
}

pub(crate) fn parse_delete(params: Params) -> Parsed<Delete> {
    let messages = opt_string_list(&params, "messages")?;
    let required = opt_bool(&params, "required")?;
    let auth = load_auth(&params, load_owner(&params, false)?)?;
    Ok(Delete {
        auth,
        messages: message_list(messages)?,
        required: required.unwrap_or(false),
        params,
    })
}

pub(crate) fn parse_delete_all(params: Params) -> Parsed<DeleteAll> {
    let namespace = opt_namespace_var(&params, "namespace")?;
    let timestamp = opt_timestamp(&params, "timestamp")?;
    let auth = load_auth(&params, load_owner(&params, false)?)?;
    Ok(DeleteAll {
        auth,
        namespace: namespace.unwrap_or(NamespaceVar::One(0)),
        timestamp: require("timestamp", timestamp)?,
        params,
    })
}

pub(crate) fn parse_delete_before(params: Params) -> Parsed<DeleteBefore> {
    let before = opt_timestamp(&params, "before")?;
    let namespace = opt_namespace_var(&params, "namespace")?;
    let auth = load_auth(&params, load_owner(&params, false)?)?;
    Ok(DeleteBefore {
        auth,
        namespace: namespace.unwrap_or(NamespaceVar::One(0)),
        before: require("before", before)?,
        params,
    })
}

pub(crate) fn parse_expire_all(params: Params) -> Parsed<ExpireAll> {
    let expiry = opt_timestamp(&params, "expiry")?;
    let namespace = opt_namespace_var(&params, "namespace")?;
    let auth = load_auth(&params, load_owner(&params, false)?)?;
    Ok(ExpireAll {
        auth,
        namespace: namespace.unwrap_or(NamespaceVar::One(0)),
        expiry: require("expiry", expiry)?,
        params,
    })
}

pub(crate) fn parse_expire(params: Params) -> Parsed<Expire> {
    let expiry = opt_timestamp_list(&params, "expiry")?;
    let extend = opt_bool(&params, "extend")?;
    let messages = opt_string_list(&params, "messages")?;
    let shorten = opt_bool(&params, "shorten")?;
    let auth = load_auth(&params, load_owner(&params, false)?)?;
    let expiry = require("expiry", expiry)?;
    if expiry.is_empty() {
        return Err(ParseError::new(
            "'expiry' does not contain any expiration timestamps",
        ));
    }
    let (shorten, extend) = (shorten.unwrap_or(false), extend.unwrap_or(false));
    if shorten && extend {
        return Err(ParseError::new(
            "cannot specify both 'shorten' and 'extend'",
        ));
    }
    let messages = require("messages", messages)?;
    if messages.is_empty() {
        return Err(ParseError::new(
            "messages does not contain any message hashes",
        ));
    }
    if expiry.len() > 1 && expiry.len() != messages.len() {
        return Err(ParseError::new(
            "'expiry' must be a single expiry, or the same length as 'messages'",
        ));
    }
    let messages = message_list(Some(messages))?;
    Ok(Expire {
        auth,
        expiry,
        messages,
        shorten,
        extend,
        params,
    })
}

pub(crate) fn parse_get_expiries(params: Params) -> Parsed<GetExpiries> {
    let messages = opt_string_list(&params, "messages")?;
    let timestamp = opt_timestamp(&params, "timestamp")?;
    let auth = load_auth(&params, load_owner(&params, false)?)?;
    let timestamp = require("timestamp", timestamp)?;
    let messages = require("messages", messages)?;
    if messages.is_empty() {
        return Err(ParseError::new(
            "messages does not contain any message hashes",
        ));
    }
    Ok(GetExpiries {
        auth,
        timestamp,
        messages,
    })
}

pub(crate) fn parse_get_swarm(params: Params) -> Parsed<Owner> {
    let main = opt_string(&params, "pubkey")?;
    let alt = opt_string(&params, "pubKey")?;
    if main.is_some() && alt.is_some() {
        return Err(ParseError::new("Cannot specify both 'pubkey' and 'pubKey'"));
    }
    let text = require("pubkey", main.or(alt))?;
    Owner::parse(&text).ok_or_else(|| ParseError::new("Pubkey must be 66 hex digits/33 bytes long"))
}

pub(crate) fn parse_revocation(params: Params, revoke: bool) -> Parsed<Revocation> {
    let field = if revoke { "revoke" } else { "unrevoke" };
    let tokens = opt_string_list(&params, field)?;
    let timestamp = opt_timestamp(&params, "timestamp")?;
    let mut auth = load_auth(&params, load_owner(&params, false)?)?;
    // The owner key only: subaccount fields are not even read.
    auth.subaccount = None;
    let tokens = require(field, tokens)?;
    if revoke && tokens.len() > MAX_SUBACCOUNT_TOKENS {
        return Err(ParseError(format!(
            "invalid revoke: cannot revoke more than {MAX_SUBACCOUNT_TOKENS} subaccounts at once"
        )));
    }
    let tokens = tokens
        .iter()
        .map(|t| {
            decode_token(t).ok_or_else(|| {
                ParseError(format!(
                    "invalid {field}: expected base64 or hex-encoded subaccount tag"
                ))
            })
        })
        .collect::<Parsed<Vec<_>>>()?;
    Ok(Revocation {
        auth,
        timestamp: require("timestamp", timestamp)?,
        tokens,
        revoke,
        params,
    })
}

pub(crate) fn parse_oxend(params: Params) -> Parsed<Oxend> {
    let endpoint = require("endpoint", opt_string(&params, "endpoint")?)?;
    if endpoint != "get_service_nodes" && endpoint != "ons_resolve" {
        return Err(ParseError(format!("Invalid oxend endpoint '{endpoint}'")));
    }
    Ok(Oxend {
        endpoint,
        params: params.get("params").filter(|v| !v.is_null()).cloned(),
    })
}

// ----- helpers -----

fn namespace(n: i16) -> Namespace {
    Namespace::new(n)
}

/// Parsed hashes for signed strings; `None` if one is not in the standard alphabet.
fn hashes(list: &[String]) -> Option<Vec<MessageHash>> {
    list.iter().map(|h| h.parse().ok()).collect()
}

fn b64(signature: [u8; 64]) -> String {
    STANDARD.encode(signature)
}

fn unauthorized(text: &str) -> RpcResponse {
    RpcResponse::text(401, text)
}

fn not_acceptable(text: &str) -> RpcResponse {
    RpcResponse::text(406, text)
}

/// A node entry for a local database failure.
fn failed_entry() -> Value {
    json!({"failed": true, "query_failure": true})
}

/// Checks `auth` for `request`; `None` when accepted, else the answer to give.
fn check(
    node: &Node,
    auth: &Auth,
    request: Option<SignedRequest<'_>>,
    skip_revocation: bool,
    denied: &str,
) -> Option<RpcResponse> {
    let Some(request) = request else {
        return Some(unauthorized(denied));
    };
    match verify(node, auth, &request, skip_revocation) {
        Verdict::Accepted => None,
        Verdict::Denied => Some(unauthorized(denied)),
        Verdict::ShortenWithoutDelete => Some(RpcResponse::text(
            400,
            "expire: shorten parameter cannot be used with this subaccount token (missing delete access)",
        )),
    }
}

/// The node's signed entry for an action on (namespace, hash) rows: sorted hashes under `key`
/// (a `{ns: [...]}` map for all namespaces), signed after `prefix`.
fn action_entry(
    node: &Node,
    key: &str,
    mut rows: Vec<(i16, String)>,
    all: bool,
    prefix: String,
) -> Value {
    rows.sort_by(|a, b| a.1.cmp(&b.1));
    let mut signed = prefix.into_bytes();
    for (_, hash) in &rows {
        signed.extend_from_slice(hash.as_bytes());
    }
    let signature = b64(node.keys.sign(&signed));
    let value = if all {
        let mut by_ns: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (ns, hash) in rows {
            by_ns.entry(ns.to_string()).or_default().push(hash);
        }
        json!(by_ns)
    } else {
        json!(rows.into_iter().map(|(_, h)| h).collect::<Vec<_>>())
    };
    json!({ key: value, "signature": signature })
}

/// The message hash the storage server gives `data` for `owner` in `ns` (§3.7).
fn message_hash(owner: &Owner, ns: i16, data: &[u8]) -> String {
    match owner.swarm_pubkey() {
        Some(pubkey) => MessageHash::compute(&pubkey, namespace(ns), data)
            .as_str()
            .to_owned(),
        None => {
            // Other prefixes: the same formula over the raw 33 bytes.
            use base64::engine::general_purpose::STANDARD_NO_PAD;
            let mut hash = match sessiond_protocol::hash::Blake2b::new(32, None) {
                Ok(hash) => hash,
                Err(_) => return String::new(),
            };
            hash.update(&owner.0)
                .update(namespace(ns).signature_text().as_bytes())
                .update(data);
            STANDARD_NO_PAD.encode(hash.finalize())
        }
    }
}

// ----- execution -----

pub(crate) async fn store(node: Arc<Node>, req: Store, recurse: bool) -> RpcResponse {
    if !node.owns(&req.owner) {
        return wrong_swarm(&node, &req.owner);
    }
    let ns = namespace(req.namespace);
    let ttl = req.expiry.saturating_sub(req.timestamp);
    let max_ttl = if ns.is_public_inbox() {
        TTL_MAXIMUM
    } else {
        TTL_MAXIMUM_PRIVATE
    };
    if !(TTL_MINIMUM..=max_ttl).contains(&ttl) {
        return RpcResponse::text(403, "Provided expiry/TTL is not valid.");
    }
    let now = node.now();
    if req.timestamp > now + STORE_TOLERANCE || req.expiry < now - STORE_TOLERANCE {
        return not_acceptable("Timestamp error: check your clock");
    }
    if !ns.is_public_inbox() {
        let Some(auth) = &req.auth else {
            return unauthorized(&format!(
                "store: signature required to store to namespace {}",
                req.namespace
            ));
        };
        if (req.sig_timestamp - now).abs() > SIGNATURE_TOLERANCE {
            return not_acceptable("store signature timestamp too far from current time");
        }
        let signed = SignedRequest::Store {
            namespace: ns,
            sig_timestamp_ms: u64::try_from(req.sig_timestamp).unwrap_or(0),
        };
        if let Some(denied) = check(
            &node,
            auth,
            Some(signed),
            false,
            "store signature verification failed",
        ) {
            return denied;
        }
    }
    let fanout = recurse.then(|| fan_out(&node, "store", &req.params));
    let hash = message_hash(&req.owner, req.namespace, &req.data);
    let message = StoredMessage {
        hash: hash.clone(),
        namespace: req.namespace,
        timestamp: req.timestamp,
        expiry: req.expiry,
        data: req.data,
    };
    let mut mine = match node
        .store
        .store(now, &req.owner.0, &message, ns.is_public_outbox())
    {
        Ok(stored) => {
            let mut entry = json!({
                "hash": hash,
                "signature": b64(node.keys.sign(hash.as_bytes())),
                "expiry": stored.expiry,
            });
            if !stored.new {
                entry["already"] = json!(true);
            }
            entry
        }
        Err(e) => {
            tracing::warn!(error = %e, "store failed");
            failed_entry()
        }
    };
    let mut top = Map::new();
    if recurse {
        // Deprecated fields the real server still sends from the node the client reached.
        mine["t"] = json!(now);
        if mine.get("failed").is_none() {
            top.insert("hash".into(), json!(hash));
        }
    }
    finish(&node, mine, fanout, top, now).await
}

pub(crate) async fn retrieve(node: Arc<Node>, req: Retrieve) -> RpcResponse {
    if !node.owns(&req.owner) {
        return wrong_swarm(&node, &req.owner);
    }
    let now = node.now();
    let ns = namespace(req.namespace);
    match &req.auth {
        None if ns.retrieve_requires_auth() => {
            return unauthorized("retrieve: request signature required");
        }
        None => {}
        Some((auth, timestamp)) => {
            if (timestamp - now).abs() > SIGNATURE_TOLERANCE {
                return not_acceptable("retrieve timestamp too far from current time");
            }
            let signed = SignedRequest::Retrieve {
                namespace: ns,
                timestamp_ms: u64::try_from(*timestamp).unwrap_or(0),
            };
            if let Some(denied) = check(
                &node,
                auth,
                Some(signed),
                ns.ignores_subaccount_revocation(),
                "retrieve signature verification failed",
            ) {
                return denied;
            }
        }
    }
    let max_count = req.max_count.filter(|&n| n != 0);
    let mut max_size = req.max_size.filter(|&n| n != 0);
    if max_count.is_none() && max_size.is_none() {
        max_size = Some(-5);
    }
    let max_size = match max_size {
        Some(n) if n < 0 => RETRIEVE_MAX_SIZE / n.saturating_neg(),
        Some(n) if n <= RETRIEVE_MAX_SIZE => n,
        _ => RETRIEVE_MAX_SIZE,
    };
    let max_count = max_count.map(|n| usize::try_from(n).unwrap_or(1));
    let max_size = usize::try_from(max_size).ok();
    match node.store.retrieve(
        now,
        &req.owner.0,
        req.namespace,
        req.last_hash.as_deref(),
        max_count,
        max_size,
    ) {
        Ok((messages, more)) => {
            let messages: Vec<Value> = messages
                .into_iter()
                .map(|m| {
                    json!({
                        "hash": m.hash,
                        "timestamp": m.timestamp,
                        "expiration": m.expiry,
                        "data": STANDARD.encode(&m.data),
                    })
                })
                .collect();
            RpcResponse::json(
                200,
                json!({"messages": messages, "more": more, "t": now, "hf": HARDFORK}),
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "retrieve failed");
            RpcResponse::text(500, "Internal Server Error. Could not retrieve messages")
        }
    }
}

pub(crate) async fn delete(node: Arc<Node>, req: Delete, recurse: bool) -> RpcResponse {
    let owner = req.auth.owner;
    if !node.owns(&owner) {
        return wrong_swarm(&node, &owner);
    }
    let parsed = hashes(&req.messages);
    let signed = parsed
        .as_deref()
        .map(|h| SignedRequest::Delete { hashes: h });
    if let Some(denied) = check(
        &node,
        &req.auth,
        signed,
        false,
        "delete_msgs signature verification failed",
    ) {
        return denied;
    }
    let now = node.now();
    let fanout = recurse.then(|| fan_out(&node, "delete", &req.params));
    let mine = match node.store.delete_by_hash(now, &owner.0, &req.messages) {
        Ok(mut deleted) => {
            deleted.sort();
            let mut signed = owner.hex().into_bytes();
            for hash in req.messages.iter().chain(&deleted) {
                signed.extend_from_slice(hash.as_bytes());
            }
            json!({"deleted": deleted, "signature": b64(node.keys.sign(&signed))})
        }
        Err(_) => failed_entry(),
    };
    let mut response = finish(&node, mine, fanout, Map::new(), now).await;
    if recurse && req.required && response.status == 200 {
        let deleted_some = response
            .json_body()
            .and_then(|b| b.get("swarm"))
            .is_some_and(|swarm| {
                swarm.as_object().is_some_and(|entries| {
                    entries.values().any(|entry| {
                        entry
                            .get("deleted")
                            .and_then(Value::as_array)
                            .is_some_and(|d| !d.is_empty())
                    })
                })
            });
        if !deleted_some {
            response.status = 404;
        }
    }
    response
}

pub(crate) async fn delete_all(node: Arc<Node>, req: DeleteAll, recurse: bool) -> RpcResponse {
    let owner = req.auth.owner;
    if !node.owns(&owner) {
        return wrong_swarm(&node, &owner);
    }
    let now = node.now();
    let tolerance = if recurse {
        SIGNATURE_TOLERANCE
    } else {
        SIGNATURE_TOLERANCE_FORWARDED
    };
    if (req.timestamp - now).abs() > tolerance {
        return not_acceptable("delete_all timestamp too far from current time");
    }
    let signed = SignedRequest::DeleteAll {
        namespace: req.namespace.selector(),
        timestamp_ms: u64::try_from(req.timestamp).unwrap_or(0),
    };
    if let Some(denied) = check(
        &node,
        &req.auth,
        Some(signed),
        false,
        "delete_all signature verification failed",
    ) {
        return denied;
    }
    let fanout = recurse.then(|| fan_out(&node, "delete_all", &req.params));
    let mine = match node.store.delete_all(now, &owner.0, req.namespace.one()) {
        Ok(rows) => action_entry(
            &node,
            "deleted",
            rows,
            req.namespace == NamespaceVar::All,
            format!("{}{}", owner.hex(), req.timestamp),
        ),
        Err(_) => failed_entry(),
    };
    finish(&node, mine, fanout, Map::new(), now).await
}

pub(crate) async fn delete_before(
    node: Arc<Node>,
    req: DeleteBefore,
    recurse: bool,
) -> RpcResponse {
    let owner = req.auth.owner;
    if !node.owns(&owner) {
        return wrong_swarm(&node, &owner);
    }
    let now = node.now();
    if req.before > now + SIGNATURE_TOLERANCE {
        return unauthorized("delete_before timestamp too far in the future");
    }
    let signed = SignedRequest::DeleteBefore {
        namespace: req.namespace.selector(),
        before_ms: u64::try_from(req.before).unwrap_or(0),
    };
    if let Some(denied) = check(
        &node,
        &req.auth,
        Some(signed),
        false,
        "delete_before signature verification failed",
    ) {
        return denied;
    }
    let fanout = recurse.then(|| fan_out(&node, "delete_before", &req.params));
    let mine = match node
        .store
        .delete_before(now, &owner.0, req.namespace.one(), req.before)
    {
        Ok(rows) => action_entry(
            &node,
            "deleted",
            rows,
            req.namespace == NamespaceVar::All,
            format!("{}{}", owner.hex(), req.before),
        ),
        Err(_) => failed_entry(),
    };
    finish(&node, mine, fanout, Map::new(), now).await
}

pub(crate) async fn expire_all(node: Arc<Node>, req: ExpireAll, recurse: bool) -> RpcResponse {
    let owner = req.auth.owner;
    if !node.owns(&owner) {
        return wrong_swarm(&node, &owner);
    }
    let now = node.now();
    let tolerance = if recurse {
        SIGNATURE_TOLERANCE
    } else {
        SIGNATURE_TOLERANCE_FORWARDED
    };
    if req.expiry < now - tolerance {
        return not_acceptable("expire_all timestamp should be >= current time");
    }
    let signed = SignedRequest::ExpireAll {
        namespace: req.namespace.selector(),
        expiry_ms: u64::try_from(req.expiry).unwrap_or(0),
    };
    if let Some(denied) = check(
        &node,
        &req.auth,
        Some(signed),
        false,
        "expire_all signature verification failed",
    ) {
        return denied;
    }
    let fanout = recurse.then(|| fan_out(&node, "expire_all", &req.params));
    let mine = match node
        .store
        .update_all_expiries(now, &owner.0, req.namespace.one(), req.expiry)
    {
        Ok(rows) => action_entry(
            &node,
            "updated",
            rows,
            req.namespace == NamespaceVar::All,
            format!("{}{}", owner.hex(), req.expiry),
        ),
        Err(_) => failed_entry(),
    };
    finish(&node, mine, fanout, Map::new(), now).await
}

pub(crate) async fn expire(node: Arc<Node>, req: Expire, recurse: bool) -> RpcResponse {
    let owner = req.auth.owner;
    if !node.owns(&owner) {
        return wrong_swarm(&node, &owner);
    }
    let now = node.now();
    let mut applied = Vec::with_capacity(req.expiry.len());
    for &expiry in &req.expiry {
        if expiry < now - SIGNATURE_TOLERANCE {
            return unauthorized("expire: timestamp should be >= current time");
        }
        applied.push(expiry.min(now + TTL_MAXIMUM_PRIVATE));
    }
    let mode = if req.shorten {
        ExpireMode::Shorten
    } else if req.extend {
        ExpireMode::Extend
    } else {
        ExpireMode::Either
    };
    let requested: Vec<u64> = req
        .expiry
        .iter()
        .map(|&e| u64::try_from(e).unwrap_or(0))
        .collect();
    let parsed = hashes(&req.messages);
    let signed = parsed.as_deref().map(|h| SignedRequest::Expire {
        mode,
        expiries_ms: &requested,
        hashes: h,
    });
    if let Some(denied) = check(
        &node,
        &req.auth,
        signed,
        false,
        "expire: signature verification failed",
    ) {
        return denied;
    }
    // A subaccount without delete access may only extend.
    let extend_only = req.extend
        || req
            .auth
            .subaccount
            .is_some_and(|s| !SubaccountToken::access(&s.token).contains(SubaccountAccess::DELETE));
    let fanout = recurse.then(|| fan_out(&node, "expire", &req.params));
    let mine = match expire_locally(&node, &req, &applied, extend_only, now) {
        Ok(entry) => entry,
        Err(_) => failed_entry(),
    };
    finish(&node, mine, fanout, Map::new(), now).await
}

fn expire_locally(
    node: &Node,
    req: &Expire,
    applied: &[i64],
    extend_only: bool,
    now: i64,
) -> Result<Value, crate::DevnetError> {
    let owner = req.auth.owner;
    let mut updated = node.store.update_expiry(
        now,
        &owner.0,
        &req.messages,
        applied,
        extend_only,
        req.shorten,
    )?;
    updated.sort_by(|a, b| a.0.cmp(&b.0));
    let unchanged = if req.shorten || req.extend {
        let rest: Vec<String> = req
            .messages
            .iter()
            .filter(|m| !updated.iter().any(|(h, _)| h == *m))
            .cloned()
            .collect();
        if rest.is_empty() {
            BTreeMap::new()
        } else {
            node.store.get_expiries(now, &owner.0, &rest)?
        }
    } else {
        BTreeMap::new()
    };
    let multi = req.expiry.len() > 1;
    let signed_expiries: Vec<i64> = if multi {
        updated.iter().map(|(_, e)| *e).collect()
    } else {
        applied.first().copied().into_iter().collect()
    };
    let mut signed = owner.hex().into_bytes();
    for expiry in &signed_expiries {
        signed.extend_from_slice(expiry.to_string().as_bytes());
    }
    for hash in &req.messages {
        signed.extend_from_slice(hash.as_bytes());
    }
    for (hash, _) in &updated {
        signed.extend_from_slice(hash.as_bytes());
    }
    for (hash, expiry) in &unchanged {
        signed.extend_from_slice(hash.as_bytes());
        signed.extend_from_slice(expiry.to_string().as_bytes());
    }
    let mut entry = json!({
        "expiry": if multi { json!(signed_expiries) } else { json!(signed_expiries.first()) },
        "updated": updated.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>(),
        "signature": b64(node.keys.sign(&signed)),
    });
    if req.shorten || req.extend {
        entry["unchanged"] = json!(unchanged);
    }
    Ok(entry)
}

pub(crate) async fn get_expiries(node: Arc<Node>, req: GetExpiries) -> RpcResponse {
    let owner = req.auth.owner;
    if !node.owns(&owner) {
        return wrong_swarm(&node, &owner);
    }
    let now = node.now();
    if (req.timestamp - now).abs() > SIGNATURE_TOLERANCE {
        return not_acceptable("get_expiries timestamp too far from current time");
    }
    let parsed = hashes(&req.messages);
    let signed = parsed.as_deref().map(|h| SignedRequest::GetExpiries {
        timestamp_ms: u64::try_from(req.timestamp).unwrap_or(0),
        hashes: h,
    });
    if let Some(denied) = check(
        &node,
        &req.auth,
        signed,
        false,
        "get_expiries signature verification failed",
    ) {
        return denied;
    }
    match node.store.get_expiries(now, &owner.0, &req.messages) {
        Ok(expiries) => RpcResponse::json(200, json!({ "expiries": expiries })),
        Err(_) => RpcResponse::text(500, "request failed"),
    }
}

pub(crate) async fn revocation(node: Arc<Node>, req: Revocation, recurse: bool) -> RpcResponse {
    let owner = req.auth.owner;
    let method = if req.revoke {
        "revoke_subaccount"
    } else {
        "unrevoke_subaccount"
    };
    if !node.owns(&owner) {
        return wrong_swarm(&node, &owner);
    }
    let now = node.now();
    if (req.timestamp - now).abs() > SIGNATURE_TOLERANCE {
        return not_acceptable(&format!("{method} timestamp too far from current time"));
    }
    let tokens: Vec<SubaccountToken> = req.tokens.iter().map(|t| SubaccountToken(*t)).collect();
    let timestamp_ms = u64::try_from(req.timestamp).unwrap_or(0);
    let signed = if req.revoke {
        SignedRequest::RevokeSubaccount {
            timestamp_ms,
            tokens: &tokens,
        }
    } else {
        SignedRequest::UnrevokeSubaccount {
            timestamp_ms,
            tokens: &tokens,
        }
    };
    if let Some(denied) = check(
        &node,
        &req.auth,
        Some(signed),
        false,
        &format!("{method} signature verification failed"),
    ) {
        return denied;
    }
    let fanout = recurse.then(|| fan_out(&node, method, &req.params));
    let mut signed = format!("{}{}", owner.hex(), req.timestamp).into_bytes();
    for token in &req.tokens {
        signed.extend_from_slice(token);
    }
    let signature = b64(node.keys.sign(&signed));
    let mine = if req.revoke {
        match node.store.revoke(now, &owner.0, &req.tokens) {
            Ok(()) => json!({ "signature": signature }),
            Err(_) => failed_entry(),
        }
    } else {
        match node.store.unrevoke(now, &owner.0, &req.tokens) {
            Ok(count) => json!({ "count": count, "signature": signature }),
            Err(_) => failed_entry(),
        }
    };
    finish(&node, mine, fanout, Map::new(), now).await
}

pub(crate) fn get_swarm(node: &Node, owner: &Owner) -> RpcResponse {
    let mut body = swarm_json(node, owner);
    body.insert("t".into(), json!(node.now()));
    body.insert("hf".into(), json!(HARDFORK));
    RpcResponse::json(200, Value::Object(body))
}

pub(crate) fn info(node: &Node) -> RpcResponse {
    let now = node.now();
    RpcResponse::json(
        200,
        json!({"version": VERSION, "timestamp": now, "t": now, "hf": HARDFORK}),
    )
}

pub(crate) fn oxend(node: &Node, req: Oxend) -> RpcResponse {
    if req.endpoint != "get_service_nodes" {
        // The devnet has no name system: answer as oxend does for a name it cannot resolve.
        return RpcResponse::text(400, "devnet: ons_resolve is not supported (no ONS records)");
    }
    let result = crate::seed::service_node_states(&node.net, req.params.as_ref());
    RpcResponse::json(
        200,
        json!({"result": result, "t": node.now(), "hf": HARDFORK}),
    )
}
