//! Parsing storage-RPC parameters the way the storage server does
//! (`oxenss/rpc/client_rpc_endpoints.cpp`): the same accepted types, the same defaults, and the
//! same error texts, which reach clients as `400 invalid request: <text>`.
//!
//! Authentication fields are decoded here ([`load_auth`]); whether the signature verifies is
//! decided later, with a clock and the node's database, in [`super::auth`].

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::Value;
use sessiond_protocol::storage_auth::{
    SubaccountAuth, SubaccountToken, SwarmPubkey, decode_signature_base64,
};

/// A request's `params` object.
pub(crate) type Params = serde_json::Map<String, Value>;

/// A parameter error: the text after `invalid request: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError(pub String);

impl ParseError {
    pub fn new(text: impl Into<String>) -> ParseError {
        ParseError(text.into())
    }
}

/// Result of parsing.
pub(crate) type Parsed<T> = Result<T, ParseError>;

/// Timestamps below this many milliseconds were almost surely sent in seconds.
const MIN_TIMESTAMP_MS: i64 = 1_000_000_000;

fn invalid(name: &str, expected: &str) -> ParseError {
    ParseError(format!(
        "Invalid value given for '{name}': expected {expected}"
    ))
}

/// The value of `name`, treating JSON `null` as absent.
fn get<'a>(params: &'a Params, name: &str) -> Option<&'a Value> {
    params.get(name).filter(|v| !v.is_null())
}

/// `Required field '<name>' missing` unless present.
pub(crate) fn require<T>(name: &str, value: Option<T>) -> Parsed<T> {
    value.ok_or_else(|| ParseError(format!("Required field '{name}' missing")))
}

pub(crate) fn opt_string(params: &Params, name: &str) -> Parsed<Option<String>> {
    get(params, name)
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid(name, "string"))
        })
        .transpose()
}

pub(crate) fn opt_bool(params: &Params, name: &str) -> Parsed<Option<bool>> {
    get(params, name)
        .map(|v| v.as_bool().ok_or_else(|| invalid(name, "boolean")))
        .transpose()
}

/// A signed integer (`max_count`, `max_size`, conditions).
pub(crate) fn opt_int(params: &Params, name: &str) -> Parsed<Option<i64>> {
    get(params, name)
        .map(|v| v.as_i64().ok_or_else(|| invalid(name, "integer")))
        .transpose()
}

/// A non-negative integer timestamp in milliseconds.
pub(crate) fn opt_timestamp(params: &Params, name: &str) -> Parsed<Option<i64>> {
    get(params, name)
        .map(|v| {
            let ms = v
                .as_u64()
                .and_then(|n| i64::try_from(n).ok())
                .ok_or_else(|| invalid(name, "integer timestamp (in milliseconds)"))?;
            if ms < MIN_TIMESTAMP_MS {
                return Err(ParseError(format!(
                    "Invalid timestamp for '{name}': timestamp must be in milliseconds"
                )));
            }
            Ok(ms)
        })
        .transpose()
}

/// One timestamp or a list of them (`expire`'s `expiry`).
pub(crate) fn opt_timestamp_list(params: &Params, name: &str) -> Parsed<Option<Vec<i64>>> {
    let expected = || invalid(name, "timestamp array");
    let one = |v: &Value| v.as_u64().and_then(|n| i64::try_from(n).ok());
    get(params, name)
        .map(|v| match v {
            Value::Array(items) => items.iter().map(|i| one(i).ok_or_else(expected)).collect(),
            other => one(other).map(|n| vec![n]).ok_or_else(expected),
        })
        .transpose()
}

/// One string or a list of strings.
pub(crate) fn opt_string_list(params: &Params, name: &str) -> Parsed<Option<Vec<String>>> {
    let expected = || invalid(name, "string array");
    get(params, name)
        .map(|v| match v {
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned).ok_or_else(expected))
                .collect(),
            Value::String(s) => Ok(vec![s.clone()]),
            _ => Err(expected()),
        })
        .transpose()
}

/// A namespace: an integer in `-32768..=32767`.
pub(crate) fn opt_namespace(params: &Params, name: &str) -> Parsed<Option<i16>> {
    get(params, name)
        .map(|v| {
            let n = v.as_i64().ok_or_else(|| invalid(name, "16-bit integer"))?;
            i16::try_from(n).map_err(|_| {
                ParseError(format!(
                    "Invalid value given for '{name}': value out of range"
                ))
            })
        })
        .transpose()
}

/// `namespace` of the "all namespaces" methods: an integer or `"all"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NamespaceVar {
    /// One namespace.
    One(i16),
    /// Every namespace.
    All,
}

impl NamespaceVar {
    /// As written in signed strings (pitfall 1: namespace 0 is empty).
    pub fn selector(self) -> sessiond_protocol::NamespaceSelector {
        match self {
            NamespaceVar::One(n) => sessiond_protocol::NamespaceSelector::One(n.into()),
            NamespaceVar::All => sessiond_protocol::NamespaceSelector::All,
        }
    }

    /// `None` for all namespaces.
    pub fn one(self) -> Option<i16> {
        match self {
            NamespaceVar::One(n) => Some(n),
            NamespaceVar::All => None,
        }
    }
}

pub(crate) fn opt_namespace_var(params: &Params, name: &str) -> Parsed<Option<NamespaceVar>> {
    match get(params, name) {
        None => Ok(None),
        Some(Value::String(s)) if s == "all" => Ok(Some(NamespaceVar::All)),
        Some(v) if v.is_i64() || v.is_u64() => {
            opt_namespace(params, name).map(|n| n.map(NamespaceVar::One))
        }
        Some(_) => Err(ParseError(format!(
            "Invalid value given for '{name}': expected integer or \"all\""
        ))),
    }
}

/// `timestamp`/`ttl` of `store`: an integer or (backwards compatibility) a decimal string.
pub(crate) fn opt_stringified(params: &Params, name: &str, signed: bool) -> Parsed<Option<i64>> {
    match get(params, name) {
        Some(Value::String(s)) => s
            .parse::<i64>()
            .ok()
            .filter(|n| signed || *n >= 0)
            .map(Some)
            .ok_or_else(|| {
                ParseError(format!(
                    "Invalid value given for '{name}': {}",
                    Value::String(s.clone())
                ))
            }),
        Some(v) => {
            let n = if signed {
                v.as_i64()
            } else {
                v.as_u64().and_then(|n| i64::try_from(n).ok())
            };
            n.map(Some).ok_or_else(|| {
                invalid(
                    name,
                    if signed {
                        "integer"
                    } else {
                        "positive integer"
                    },
                )
            })
        }
        None => Ok(None),
    }
}

/// The mailbox owner (`pubkey`): 33 bytes, any network prefix (the storage server does not
/// restrict the prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner(pub [u8; 33]);

impl Owner {
    /// Parses 66 hex digits.
    pub fn parse(text: &str) -> Option<Owner> {
        let mut bytes = [0u8; 33];
        if text.len() != 66 {
            return None;
        }
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Owner(bytes))
    }

    /// The prefix byte (`0x05` accounts, `0x03` groups, …).
    pub fn netid(&self) -> u8 {
        self.0[0]
    }

    /// The 66-character prefixed hex (what node signatures cover).
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The protocol's view of it, for `05` and `03` owners.
    pub fn swarm_pubkey(&self) -> Option<SwarmPubkey> {
        use sessiond_protocol::{AccountId, GroupId};
        match self.netid() {
            0x05 => AccountId::from_bytes(&self.0)
                .ok()
                .map(SwarmPubkey::Account),
            0x03 => GroupId::from_bytes(&self.0).ok().map(SwarmPubkey::Group),
            _ => None,
        }
    }
}

/// `pubkey` (or `pubKey`, where the server accepts the alias): required, 66 hex digits.
pub(crate) fn load_owner(params: &Params, alias: bool) -> Parsed<Owner> {
    let main = opt_string(params, "pubkey")?;
    let alt = if alias {
        opt_string(params, "pubKey")?
    } else {
        None
    };
    if main.is_some() && alt.is_some() {
        return Err(ParseError::new("Cannot specify both 'pubkey' and 'pubKey'"));
    }
    let text = require("pubkey", main.or(alt))?;
    Owner::parse(&text)
        .ok_or_else(|| ParseError::new("Pubkey must be 66 hex digits (33 bytes) long"))
}

/// The authentication fields of a signed request.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    /// Whose mailbox.
    pub owner: Owner,
    /// `pubkey_ed25519` (05 owners).
    pub pubkey_ed25519: Option<[u8; 32]>,
    /// `signature`.
    pub signature: [u8; 64],
    /// `subaccount` and `subaccount_sig`.
    pub subaccount: Option<SubaccountAuth>,
}

/// Decodes `pubkey_ed25519`, `signature`, `subaccount` and `subaccount_sig` for `owner`
/// (`load_pk_signature` + `load_subaccount` in the storage server).
pub(crate) fn load_auth(params: &Params, owner: Owner) -> Parsed<Auth> {
    let pk_ed = opt_string(params, "pubkey_ed25519")?;
    let signature = require("signature", opt_string(params, "signature")?)?;
    let pubkey_ed25519 = match pk_ed {
        None => None,
        Some(_) if owner.netid() != 0x05 => {
            return Err(ParseError::new(
                "pubkey_ed25519 is only permitted for 05[...] pubkeys",
            ));
        }
        Some(text) if text.len() == 64 => {
            let mut key = [0u8; 32];
            hex::decode_to_slice(&text, &mut key)
                .map_err(|_| ParseError::new("invalid pubkey_ed25519: value is not hex"))?;
            Some(key)
        }
        Some(text) if text.len() == 32 => {
            let mut key = [0u8; 32];
            key.copy_from_slice(text.as_bytes());
            Some(key)
        }
        Some(_) => {
            return Err(ParseError::new(
                "Invalid pubkey_ed25519: expected 64 hex char or 32 byte pubkey",
            ));
        }
    };
    let signature = decode_signature_base64(&signature).map_err(|_| {
        ParseError::new("invalid signature: expected base64 encoded Ed25519 signature")
    })?;
    let subaccount = load_subaccount(params)?;
    Ok(Auth {
        owner,
        pubkey_ed25519,
        signature,
        subaccount,
    })
}

fn load_subaccount(params: &Params) -> Parsed<Option<SubaccountAuth>> {
    let token = opt_string(params, "subaccount")?;
    let token_sig = opt_string(params, "subaccount_sig")?;
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let Some(token_sig) = token_sig else {
        return Err(ParseError::new(
            "invalid subaccount: subaccount_sig is required when using subaccount",
        ));
    };
    let token = decode_token(&token).ok_or_else(|| {
        ParseError::new("invalid subaccount: expected base64 or hex-encoded subaccount token")
    })?;
    let token_signature = decode_signature_base64(&token_sig).map_err(|_| {
        ParseError::new("invalid subaccount signature: expected base64 encoded Ed25519 signature")
    })?;
    Ok(Some(SubaccountAuth {
        token: SubaccountToken(token),
        token_signature,
    }))
}

/// A 36-byte subaccount token in base64 (48 characters) or hex (72).
pub(crate) fn decode_token(text: &str) -> Option<[u8; 36]> {
    let bytes = match text.len() {
        48 => decode_base64_any(text)?,
        72 => hex::decode(text).ok()?,
        _ => return None,
    };
    bytes.try_into().ok()
}

/// Base64 in any of the alphabets and paddings the storage server's `oxenc` accepts.
pub(crate) fn decode_base64_any(text: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(text)
        .or_else(|_| STANDARD_NO_PAD.decode(text))
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .ok()
}

/// A message hash as the server accepts it: 43 base64 characters.
pub(crate) fn is_valid_message_hash(hash: &str) -> bool {
    hash.len() == 43 && decode_base64_any(hash).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> Params {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn timestamps_must_be_unsigned_milliseconds() {
        let p = params(
            json!({"a": 1_700_000_000_000u64, "b": 999_999_999u64, "c": -1, "d": "x", "e": null}),
        );
        assert_eq!(opt_timestamp(&p, "a").unwrap(), Some(1_700_000_000_000));
        assert_eq!(
            opt_timestamp(&p, "b").unwrap_err().0,
            "Invalid timestamp for 'b': timestamp must be in milliseconds"
        );
        assert!(
            opt_timestamp(&p, "c")
                .unwrap_err()
                .0
                .contains("expected integer timestamp")
        );
        assert!(opt_timestamp(&p, "d").is_err());
        assert_eq!(opt_timestamp(&p, "e").unwrap(), None);
        assert_eq!(opt_timestamp(&p, "missing").unwrap(), None);
    }

    #[test]
    fn namespaces_lists_and_stringified_values() {
        let p = params(
            json!({"n": -11, "big": 40000, "all": "all", "s": "3", "l": ["a", "b"], "one": "a", "bad": [1]}),
        );
        assert_eq!(opt_namespace(&p, "n").unwrap(), Some(-11));
        assert!(
            opt_namespace(&p, "big")
                .unwrap_err()
                .0
                .contains("out of range")
        );
        assert_eq!(
            opt_namespace_var(&p, "all").unwrap(),
            Some(NamespaceVar::All)
        );
        assert_eq!(
            opt_namespace_var(&p, "n").unwrap(),
            Some(NamespaceVar::One(-11))
        );
        assert!(opt_namespace_var(&p, "s").is_err());
        assert_eq!(opt_stringified(&p, "s", false).unwrap(), Some(3));
        assert_eq!(opt_string_list(&p, "l").unwrap().unwrap().len(), 2);
        assert_eq!(opt_string_list(&p, "one").unwrap().unwrap(), ["a"]);
        assert!(opt_string_list(&p, "bad").is_err());
        assert_eq!(
            require::<i32>("x", None).unwrap_err().0,
            "Required field 'x' missing"
        );
    }

    #[test]
    fn owners_and_auth_fields() {
        let hex66 = format!("05{}", "ab".repeat(32));
        assert_eq!(Owner::parse(&hex66).unwrap().netid(), 5);
        assert!(Owner::parse("05ab").is_none());
        let owner = Owner::parse(&format!("03{}", "cd".repeat(32))).unwrap();
        let p = params(json!({"signature": "A".repeat(86), "pubkey_ed25519": "00".repeat(32)}));
        assert!(
            load_auth(&p, owner)
                .unwrap_err()
                .0
                .contains("only permitted for 05")
        );
        let p = params(json!({"signature": "A".repeat(85)}));
        assert!(
            load_auth(&p, owner)
                .unwrap_err()
                .0
                .contains("invalid signature")
        );
        let p = params(json!({"signature": "A".repeat(86), "subaccount": "00".repeat(36)}));
        assert!(
            load_auth(&p, owner)
                .unwrap_err()
                .0
                .contains("subaccount_sig is required")
        );
        assert!(is_valid_message_hash(&"A".repeat(43)));
        assert!(!is_valid_message_hash(&"A".repeat(44)));
        assert!(!is_valid_message_hash(&"!".repeat(43)));
    }
}
