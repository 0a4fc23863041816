//! Signing and verifying storage-RPC requests (protocol.md §3.5).
//!
//! Every storage-server method that reads or changes an account's or group's messages is
//! authorized by an Ed25519 signature over a short ASCII string built from the method name and
//! its parameters — `"retrieve" + NS + timestamp`, `"delete" + hash0 + hash1 + …`, and so on,
//! with namespace 0 written as the empty string (pitfall 1). [`SignedRequest`] holds exactly those
//! parameters and builds the string; [`sign_as_account`] and [`sign_as_group_admin`] produce the
//! [`RequestAuth`] fields (`signature`, `pubkey_ed25519`, …) as plain values that the network layer
//! serializes; [`verify_request_signature`] is the server side, for the devnet.
//!
//! Who signs:
//! - a `05` account signs with its Ed25519 key and must send that key as `pubkey_ed25519`, whose
//!   X25519 form must equal the Account ID (pitfall 2);
//! - a `03` group's admin signs with the group key itself and sends no `pubkey_ed25519`;
//! - a group member signs with a *subaccount* key and sends the admin-signed token
//!   ([`SubaccountAuth`], built in the groups code); the `signature` is still over the same
//!   string.
//!
//! Timestamp windows (±60 s and the like) are the server's business and need a clock: they are
//! not checked here.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};

use crate::account_id::{AccountId, IdPrefix};
use crate::error_kind::{ErrorKind, HasKind};
use crate::group_id::GroupId;
use crate::identity::{Identity, ed25519_public_to_x25519};
use crate::message::sealed::ed25519_verify;
use crate::message_hash::MessageHash;
use crate::namespace::{Namespace, NamespaceSelector};

/// The owner of a swarm mailbox: the `pubkey` parameter of every storage RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SwarmPubkey {
    /// A `05` account.
    Account(AccountId),
    /// A `03` groups-v2 group.
    Group(GroupId),
}

impl SwarmPubkey {
    /// The 33-byte form (prefix and key), as hashed in message hashes.
    pub fn to_bytes(&self) -> [u8; 33] {
        match self {
            SwarmPubkey::Account(id) => *id.as_bytes(),
            SwarmPubkey::Group(id) => *id.as_bytes(),
        }
    }

    /// The prefix byte (`0x05` or `0x03`), the "network id" of subaccount tokens and hashes.
    pub fn prefix(&self) -> u8 {
        match self {
            SwarmPubkey::Account(_) => IdPrefix::Standard.byte(),
            SwarmPubkey::Group(_) => IdPrefix::Group.byte(),
        }
    }
}

impl fmt::Display for SwarmPubkey {
    /// The 66-digit hex form sent as `pubkey`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwarmPubkey::Account(id) => id.fmt(f),
            SwarmPubkey::Group(id) => id.fmt(f),
        }
    }
}

impl FromStr for SwarmPubkey {
    type Err = AuthError;

    /// Parses a `pubkey` parameter: a `05…` Account ID or a `03…` group ID.
    fn from_str(s: &str) -> Result<SwarmPubkey, AuthError> {
        if s.starts_with("03") {
            s.parse()
                .map(SwarmPubkey::Group)
                .map_err(|_| AuthError::InvalidPubkey)
        } else {
            s.parse()
                .map(SwarmPubkey::Account)
                .map_err(|_| AuthError::InvalidPubkey)
        }
    }
}

impl From<AccountId> for SwarmPubkey {
    fn from(id: AccountId) -> SwarmPubkey {
        SwarmPubkey::Account(id)
    }
}

impl From<GroupId> for SwarmPubkey {
    fn from(id: GroupId) -> SwarmPubkey {
        SwarmPubkey::Group(id)
    }
}

/// The permission bits of a subaccount token (byte 1 of the token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubaccountAccess(u8);

impl SubaccountAccess {
    /// No permission (the owner-only methods require this "access" from nobody).
    pub const NONE: SubaccountAccess = SubaccountAccess(0);
    /// May retrieve and get expiries.
    pub const READ: SubaccountAccess = SubaccountAccess(1);
    /// May store and extend expiries.
    pub const WRITE: SubaccountAccess = SubaccountAccess(2);
    /// May delete (and shorten expiries).
    pub const DELETE: SubaccountAccess = SubaccountAccess(4);
    /// Valid for an account of any prefix.
    pub const ANY_PREFIX: SubaccountAccess = SubaccountAccess(8);

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Access from raw bits.
    pub const fn from_bits(bits: u8) -> SubaccountAccess {
        SubaccountAccess(bits)
    }

    /// Every bit of `required` is set in `self`.
    pub const fn contains(self, required: SubaccountAccess) -> bool {
        self.0 & required.0 == required.0
    }

    /// Both sets of bits.
    pub const fn union(self, other: SubaccountAccess) -> SubaccountAccess {
        SubaccountAccess(self.0 | other.0)
    }
}

/// A 36-byte subaccount token: `prefix(1) || flags(1) || 0x00 0x00 || subaccount Ed25519 key(32)`
/// (protocol.md §9.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubaccountToken(pub [u8; 36]);

impl SubaccountToken {
    /// The network prefix the token is for (`0x03` for groups).
    pub fn prefix(&self) -> u8 {
        self.0[0]
    }

    /// The permission bits.
    pub fn access(&self) -> SubaccountAccess {
        SubaccountAccess(self.0[1])
    }

    /// The subaccount's Ed25519 key (`kT`), which signs the requests.
    pub fn ed25519_public(&self) -> [u8; 32] {
        let mut key = [0u8; 32];
        key.copy_from_slice(&self.0[4..]);
        key
    }
}

impl fmt::Debug for SubaccountToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubaccountToken({})", hex::encode(self.0))
    }
}

/// The subaccount fields of a request made by a group member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubaccountAuth {
    /// The token (`subaccount` parameter).
    pub token: SubaccountToken,
    /// The group owner's signature of the token (`subaccount_sig` parameter).
    pub token_signature: [u8; 64],
}

/// Whether `expire` may only shorten, only extend, or set expiries either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpireMode {
    /// No flag: set the expiry whether it is earlier or later.
    Either,
    /// `shorten: true`: only make expiries earlier.
    Shorten,
    /// `extend: true`: only make expiries later.
    Extend,
}

impl ExpireMode {
    /// As written in the signed string.
    fn signature_text(self) -> &'static str {
        match self {
            ExpireMode::Either => "",
            ExpireMode::Shorten => "shorten",
            ExpireMode::Extend => "extend",
        }
    }
}

/// A storage RPC's signed parameters. Timestamps and expiries are network-time milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedRequest<'a> {
    /// `retrieve`: `"retrieve" + NS + timestamp`.
    Retrieve {
        /// Namespace polled.
        namespace: Namespace,
        /// `timestamp` parameter.
        timestamp_ms: u64,
    },
    /// `store` to a namespace that needs auth: `"store" + NS + sig_timestamp`.
    Store {
        /// Namespace stored to.
        namespace: Namespace,
        /// `sig_timestamp` parameter (desktop sends it as `timestamp`).
        sig_timestamp_ms: u64,
    },
    /// `delete`: `"delete" + hash0 + hash1 + …`.
    Delete {
        /// `messages` parameter, in the order sent.
        hashes: &'a [MessageHash],
    },
    /// `delete_all`: `"delete_all" + NS + timestamp`.
    DeleteAll {
        /// Namespace(s) emptied.
        namespace: NamespaceSelector,
        /// `timestamp` parameter.
        timestamp_ms: u64,
    },
    /// `delete_before`: `"delete_before" + NS + before`.
    DeleteBefore {
        /// Namespace(s).
        namespace: NamespaceSelector,
        /// `before` parameter.
        before_ms: u64,
    },
    /// `expire`: `"expire" + mode + expiry… + hash0 + hash1 + …`.
    Expire {
        /// `shorten`/`extend` flags.
        mode: ExpireMode,
        /// `expiry`: one value, or one per hash (their decimals are concatenated).
        expiries_ms: &'a [u64],
        /// `messages` parameter, in the order sent.
        hashes: &'a [MessageHash],
    },
    /// `expire_all`: `"expire_all" + NS + expiry`.
    ExpireAll {
        /// Namespace(s).
        namespace: NamespaceSelector,
        /// `expiry` parameter.
        expiry_ms: u64,
    },
    /// `get_expiries`: `"get_expiries" + timestamp + hash0 + …`.
    GetExpiries {
        /// `timestamp` parameter.
        timestamp_ms: u64,
        /// `messages` parameter, in the order sent.
        hashes: &'a [MessageHash],
    },
    /// `revoke_subaccount` (group owner only): `"revoke_subaccount" + timestamp + tokens…`.
    RevokeSubaccount {
        /// `timestamp` parameter.
        timestamp_ms: u64,
        /// `revoke` parameter (raw 36-byte tokens are signed).
        tokens: &'a [SubaccountToken],
    },
    /// `unrevoke_subaccount` (group owner only): `"unrevoke_subaccount" + timestamp + tokens…`.
    UnrevokeSubaccount {
        /// `timestamp` parameter.
        timestamp_ms: u64,
        /// `unrevoke` parameter (raw 36-byte tokens are signed).
        tokens: &'a [SubaccountToken],
    },
}

impl SignedRequest<'_> {
    /// The RPC method name.
    pub fn method(&self) -> &'static str {
        match self {
            SignedRequest::Retrieve { .. } => "retrieve",
            SignedRequest::Store { .. } => "store",
            SignedRequest::Delete { .. } => "delete",
            SignedRequest::DeleteAll { .. } => "delete_all",
            SignedRequest::DeleteBefore { .. } => "delete_before",
            SignedRequest::Expire { .. } => "expire",
            SignedRequest::ExpireAll { .. } => "expire_all",
            SignedRequest::GetExpiries { .. } => "get_expiries",
            SignedRequest::RevokeSubaccount { .. } => "revoke_subaccount",
            SignedRequest::UnrevokeSubaccount { .. } => "unrevoke_subaccount",
        }
    }

    /// The exact bytes that are signed (ASCII, except the raw tokens of (un)revoke).
    pub fn message(&self) -> Vec<u8> {
        let mut out = self.method().as_bytes().to_vec();
        let hashes = |out: &mut Vec<u8>, hashes: &[MessageHash]| {
            for hash in hashes {
                out.extend_from_slice(hash.as_str().as_bytes());
            }
        };
        match self {
            SignedRequest::Retrieve {
                namespace,
                timestamp_ms: value,
            }
            | SignedRequest::Store {
                namespace,
                sig_timestamp_ms: value,
            } => {
                out.extend_from_slice(namespace.signature_text().as_bytes());
                out.extend_from_slice(value.to_string().as_bytes());
            }
            SignedRequest::Delete { hashes: list } => hashes(&mut out, list),
            SignedRequest::DeleteAll {
                namespace,
                timestamp_ms: value,
            }
            | SignedRequest::DeleteBefore {
                namespace,
                before_ms: value,
            }
            | SignedRequest::ExpireAll {
                namespace,
                expiry_ms: value,
            } => {
                out.extend_from_slice(namespace.signature_text().as_bytes());
                out.extend_from_slice(value.to_string().as_bytes());
            }
            SignedRequest::Expire {
                mode,
                expiries_ms,
                hashes: list,
            } => {
                out.extend_from_slice(mode.signature_text().as_bytes());
                for expiry in *expiries_ms {
                    out.extend_from_slice(expiry.to_string().as_bytes());
                }
                hashes(&mut out, list);
            }
            SignedRequest::GetExpiries {
                timestamp_ms,
                hashes: list,
            } => {
                out.extend_from_slice(timestamp_ms.to_string().as_bytes());
                hashes(&mut out, list);
            }
            SignedRequest::RevokeSubaccount {
                timestamp_ms,
                tokens,
            }
            | SignedRequest::UnrevokeSubaccount {
                timestamp_ms,
                tokens,
            } => {
                out.extend_from_slice(timestamp_ms.to_string().as_bytes());
                for token in *tokens {
                    out.extend_from_slice(&token.0);
                }
            }
        }
        out
    }

    /// The token bits a subaccount needs for this request, or `None` if only the owner may make
    /// it (storage server `request_handler.cpp`).
    pub fn subaccount_access(&self) -> Option<SubaccountAccess> {
        Some(match self {
            SignedRequest::Retrieve { .. } | SignedRequest::GetExpiries { .. } => {
                SubaccountAccess::READ
            }
            SignedRequest::Store { namespace, .. } if namespace.is_public_outbox() => {
                // Storing to a public outbox replaces what is there.
                SubaccountAccess::WRITE.union(SubaccountAccess::DELETE)
            }
            SignedRequest::Store { .. } | SignedRequest::Expire { .. } => SubaccountAccess::WRITE,
            SignedRequest::Delete { .. }
            | SignedRequest::DeleteAll { .. }
            | SignedRequest::DeleteBefore { .. }
            | SignedRequest::ExpireAll { .. } => SubaccountAccess::DELETE,
            SignedRequest::RevokeSubaccount { .. } | SignedRequest::UnrevokeSubaccount { .. } => {
                return None;
            }
        })
    }
}

/// The authentication fields of a request, as plain values; the network layer puts them in the
/// JSON (`signature` and `subaccount_sig` base64, `pubkey_ed25519` hex, `subaccount` base64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestAuth {
    /// The `pubkey` parameter: whose mailbox this is.
    pub pubkey: SwarmPubkey,
    /// The `pubkey_ed25519` parameter: present exactly for `05` accounts.
    pub pubkey_ed25519: Option<[u8; 32]>,
    /// The `signature` parameter.
    pub signature: [u8; 64],
    /// The `subaccount` and `subaccount_sig` parameters of a group member's request.
    pub subaccount: Option<SubaccountAuth>,
}

impl RequestAuth {
    /// The `signature` parameter: standard base64 with padding (88 characters).
    pub fn signature_base64(&self) -> String {
        STANDARD.encode(self.signature)
    }

    /// The `pubkey_ed25519` parameter, if it is to be sent: 64 lower-case hex digits.
    pub fn pubkey_ed25519_hex(&self) -> Option<String> {
        self.pubkey_ed25519.map(hex::encode)
    }

    /// A group member's request: `signature` made by the subaccount key over
    /// [`SignedRequest::message`], and the admin-signed token.
    pub fn subaccount(
        group: GroupId,
        signature: [u8; 64],
        subaccount: SubaccountAuth,
    ) -> RequestAuth {
        RequestAuth {
            pubkey: SwarmPubkey::Group(group),
            pubkey_ed25519: None,
            signature,
            subaccount: Some(subaccount),
        }
    }
}

/// Signs `request` for the account's own mailbox: `pubkey` = its Account ID, `pubkey_ed25519` =
/// its Ed25519 key.
pub fn sign_as_account(identity: &Identity, request: &SignedRequest<'_>) -> RequestAuth {
    RequestAuth {
        pubkey: SwarmPubkey::Account(identity.account_id()),
        pubkey_ed25519: Some(identity.ed25519_public()),
        signature: identity.sign(&request.message()),
        subaccount: None,
    }
}

/// Signs `request` for a group's mailbox with the group's own Ed25519 key (admins), given as its
/// 32-byte seed: `pubkey` = the `03` group ID, no `pubkey_ed25519`.
pub fn sign_as_group_admin(group_seed: &[u8; 32], request: &SignedRequest<'_>) -> RequestAuth {
    let key = SigningKey::from_bytes(group_seed);
    RequestAuth {
        pubkey: SwarmPubkey::Group(GroupId::from_ed25519_public(key.verifying_key().to_bytes())),
        pubkey_ed25519: None,
        signature: key.sign(&request.message()).to_bytes(),
        subaccount: None,
    }
}

/// Who a verified request was signed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifiedSigner {
    /// The mailbox owner (account key or group key).
    Owner,
    /// A subaccount; the caller still checks that this token is not revoked (unless the namespace
    /// [ignores revocation](Namespace::ignores_subaccount_revocation)).
    Subaccount(SubaccountToken),
}

/// Checks a request's authentication as the storage server does (`verify_signature` in
/// `oxenss/rpc/request_handler.cpp`), except for the timestamp windows and subaccount revocation,
/// which need server state.
pub fn verify_request_signature(
    auth: &RequestAuth,
    request: &SignedRequest<'_>,
) -> Result<VerifiedSigner, AuthError> {
    let owner_key = match (&auth.pubkey, auth.pubkey_ed25519) {
        (SwarmPubkey::Account(_), None) => return Err(AuthError::MissingEd25519Key),
        (SwarmPubkey::Account(id), Some(ed)) => {
            if ed25519_public_to_x25519(&ed).ok() != Some(id.x25519_public()) {
                return Err(AuthError::Ed25519KeyMismatch);
            }
            ed
        }
        (SwarmPubkey::Group(_), Some(_)) => return Err(AuthError::Ed25519KeyForGroup),
        (SwarmPubkey::Group(id), None) => id.ed25519_public(),
    };

    let (signing_key, signer) = match &auth.subaccount {
        None => (owner_key, VerifiedSigner::Owner),
        Some(subaccount) => {
            let required = request
                .subaccount_access()
                .ok_or(AuthError::SubaccountNotAllowed {
                    method: request.method(),
                })?;
            let token = subaccount.token;
            if token.prefix() != auth.pubkey.prefix()
                && !token.access().contains(SubaccountAccess::ANY_PREFIX)
            {
                return Err(AuthError::SubaccountWrongPrefix {
                    prefix: token.prefix(),
                });
            }
            if !token.access().contains(required) {
                return Err(AuthError::SubaccountPermissions {
                    method: request.method(),
                    has: token.access().bits(),
                    needs: required.bits(),
                });
            }
            if !ed25519_verify(&owner_key, &token.0, &subaccount.token_signature) {
                return Err(AuthError::SubaccountTokenSignature);
            }
            if matches!(
                request,
                SignedRequest::Expire {
                    mode: ExpireMode::Shorten,
                    ..
                }
            ) && !token.access().contains(SubaccountAccess::DELETE)
            {
                return Err(AuthError::SubaccountPermissions {
                    method: "expire (shorten)",
                    has: token.access().bits(),
                    needs: SubaccountAccess::DELETE.bits(),
                });
            }
            (token.ed25519_public(), VerifiedSigner::Subaccount(token))
        }
    };

    if ed25519_verify(&signing_key, &request.message(), &auth.signature) {
        Ok(signer)
    } else {
        Err(AuthError::BadSignature {
            method: request.method(),
        })
    }
}

/// Decodes a base64 `signature` or `subaccount_sig` parameter in the forms the storage server
/// accepts: 86 characters unpadded or 88 with `==`.
pub fn decode_signature_base64(text: &str) -> Result<[u8; 64], AuthError> {
    let decoded = match text.len() {
        86 => STANDARD_NO_PAD.decode(text),
        88 => STANDARD.decode(text),
        _ => return Err(AuthError::SignatureEncoding),
    }
    .map_err(|_| AuthError::SignatureEncoding)?;
    decoded.try_into().map_err(|_| AuthError::SignatureEncoding)
}

/// Why a request's authentication was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The `pubkey` is not a `05` Account ID or a `03` group ID.
    #[error("pubkey is not a 05 Account ID or a 03 group ID")]
    InvalidPubkey,
    /// A `05` request without `pubkey_ed25519` (the server answers 401).
    #[error("a 05 account must send pubkey_ed25519")]
    MissingEd25519Key,
    /// `pubkey_ed25519` does not convert to the Account ID's X25519 key (401).
    #[error("pubkey_ed25519 does not belong to this Account ID")]
    Ed25519KeyMismatch,
    /// `pubkey_ed25519` sent for a `03` group (the server answers 400).
    #[error("pubkey_ed25519 is only permitted for 05 pubkeys")]
    Ed25519KeyForGroup,
    /// A subaccount used for an owner-only method.
    #[error("{method} cannot be made by a subaccount")]
    SubaccountNotAllowed {
        /// The method.
        method: &'static str,
    },
    /// The token is for another kind of account.
    #[error("subaccount token is for prefix {prefix:02x}")]
    SubaccountWrongPrefix {
        /// The token's prefix.
        prefix: u8,
    },
    /// The token lacks a permission the method needs.
    #[error("subaccount token has access {has:#x}, {method} needs {needs:#x}")]
    SubaccountPermissions {
        /// The method.
        method: &'static str,
        /// The token's bits.
        has: u8,
        /// The bits needed.
        needs: u8,
    },
    /// The token is not signed by the owner.
    #[error("subaccount token is not signed by the owner")]
    SubaccountTokenSignature,
    /// The request signature does not verify.
    #[error("{method} signature verification failed")]
    BadSignature {
        /// The method.
        method: &'static str,
    },
    /// A signature parameter that is not 64 bytes of base64.
    #[error("invalid signature: expected base64 encoded Ed25519 signature")]
    SignatureEncoding,
}

impl HasKind for AuthError {
    fn kind(&self) -> ErrorKind {
        match self {
            AuthError::InvalidPubkey
            | AuthError::Ed25519KeyForGroup
            | AuthError::SubaccountNotAllowed { .. }
            | AuthError::SignatureEncoding => ErrorKind::Malformed,
            AuthError::MissingEd25519Key
            | AuthError::Ed25519KeyMismatch
            | AuthError::SubaccountWrongPrefix { .. }
            | AuthError::SubaccountPermissions { .. }
            | AuthError::SubaccountTokenSignature
            | AuthError::BadSignature { .. } => ErrorKind::BadSignature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Seed;

    fn identity() -> Identity {
        Identity::from_seed(&Seed::from_bytes(&[7; 16]).unwrap())
    }

    fn hashes() -> Vec<MessageHash> {
        [
            "4sMyAuaZlMwww3oFvfhazfw7ASx/7TDtO+TVc8aAjHs",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ]
        .iter()
        .map(|h| h.parse().unwrap())
        .collect()
    }

    fn text(request: SignedRequest<'_>) -> String {
        String::from_utf8(request.message()).unwrap()
    }

    #[test]
    fn signed_strings_follow_the_spec_table() {
        let h = hashes();
        let (h0, h1) = (h[0].as_str(), h[1].as_str());
        let ns0 = Namespace::DEFAULT;
        let ns = Namespace::new(-11);
        let cases = [
            (
                SignedRequest::Retrieve {
                    namespace: ns0,
                    timestamp_ms: 1,
                },
                "retrieve1".to_owned(),
            ),
            (
                SignedRequest::Retrieve {
                    namespace: ns,
                    timestamp_ms: 1,
                },
                "retrieve-111".to_owned(),
            ),
            (
                SignedRequest::Store {
                    namespace: Namespace::USER_PROFILE,
                    sig_timestamp_ms: 9,
                },
                "store29".to_owned(),
            ),
            (
                SignedRequest::Delete { hashes: &h },
                format!("delete{h0}{h1}"),
            ),
            (
                SignedRequest::DeleteAll {
                    namespace: NamespaceSelector::All,
                    timestamp_ms: 5,
                },
                "delete_allall5".to_owned(),
            ),
            (
                SignedRequest::DeleteAll {
                    namespace: ns0.into(),
                    timestamp_ms: 5,
                },
                "delete_all5".to_owned(),
            ),
            (
                SignedRequest::DeleteBefore {
                    namespace: Namespace::CONTACTS.into(),
                    before_ms: 5,
                },
                "delete_before35".to_owned(),
            ),
            (
                SignedRequest::Expire {
                    mode: ExpireMode::Shorten,
                    expiries_ms: &[7],
                    hashes: &h[..1],
                },
                format!("expireshorten7{h0}"),
            ),
            (
                SignedRequest::Expire {
                    mode: ExpireMode::Either,
                    expiries_ms: &[7, 8],
                    hashes: &h,
                },
                format!("expire78{h0}{h1}"),
            ),
            (
                SignedRequest::Expire {
                    mode: ExpireMode::Extend,
                    expiries_ms: &[7],
                    hashes: &h[..1],
                },
                format!("expireextend7{h0}"),
            ),
            (
                SignedRequest::ExpireAll {
                    namespace: ns0.into(),
                    expiry_ms: 3,
                },
                "expire_all3".to_owned(),
            ),
            (
                SignedRequest::GetExpiries {
                    timestamp_ms: 4,
                    hashes: &h,
                },
                format!("get_expiries4{h0}{h1}"),
            ),
        ];
        for (request, expected) in cases {
            assert_eq!(text(request), expected);
        }
        let token = SubaccountToken([0x41; 36]);
        let revoke = SignedRequest::RevokeSubaccount {
            timestamp_ms: 1,
            tokens: &[token],
        };
        assert_eq!(
            revoke.message(),
            [b"revoke_subaccount1".as_slice(), &[0x41; 36]].concat()
        );
        let unrevoke = SignedRequest::UnrevokeSubaccount {
            timestamp_ms: 1,
            tokens: &[token],
        };
        assert!(unrevoke.message().starts_with(b"unrevoke_subaccount1"));
    }

    #[test]
    fn account_signatures_carry_the_ed25519_key_and_verify() {
        let me = identity();
        let request = SignedRequest::Retrieve {
            namespace: Namespace::DEFAULT,
            timestamp_ms: 1_700_000_000_000,
        };
        let auth = sign_as_account(&me, &request);
        assert_eq!(auth.pubkey, SwarmPubkey::Account(me.account_id()));
        assert_eq!(
            auth.pubkey_ed25519_hex(),
            Some(hex::encode(me.ed25519_public()))
        );
        assert_eq!(auth.signature_base64().len(), 88);
        assert_eq!(
            verify_request_signature(&auth, &request),
            Ok(VerifiedSigner::Owner)
        );
        assert_eq!(
            decode_signature_base64(&auth.signature_base64()),
            Ok(auth.signature)
        );
        let unpadded = auth.signature_base64().trim_end_matches('=').to_owned();
        assert_eq!(decode_signature_base64(&unpadded), Ok(auth.signature));

        // Signed for namespace 0, not valid for namespace 1 or another timestamp.
        let other = SignedRequest::Retrieve {
            namespace: Namespace::new(1),
            timestamp_ms: 1_700_000_000_000,
        };
        assert_eq!(
            verify_request_signature(&auth, &other),
            Err(AuthError::BadSignature { method: "retrieve" })
        );
        let missing = RequestAuth {
            pubkey_ed25519: None,
            ..auth
        };
        assert_eq!(
            verify_request_signature(&missing, &request),
            Err(AuthError::MissingEd25519Key)
        );
        let wrong = RequestAuth {
            pubkey_ed25519: Some(identity_of(8).ed25519_public()),
            ..auth
        };
        assert_eq!(
            verify_request_signature(&wrong, &request),
            Err(AuthError::Ed25519KeyMismatch)
        );
    }

    fn identity_of(byte: u8) -> Identity {
        Identity::from_seed(&Seed::from_bytes(&[byte; 16]).unwrap())
    }

    #[test]
    fn group_admin_signatures_send_no_ed25519_key() {
        let seed = [3u8; 32];
        let request = SignedRequest::Store {
            namespace: Namespace::GROUP_INFO,
            sig_timestamp_ms: 5,
        };
        let auth = sign_as_group_admin(&seed, &request);
        assert!(matches!(auth.pubkey, SwarmPubkey::Group(_)));
        assert_eq!(auth.pubkey_ed25519, None);
        assert_eq!(
            verify_request_signature(&auth, &request),
            Ok(VerifiedSigner::Owner)
        );
        let with_key = RequestAuth {
            pubkey_ed25519: Some([1; 32]),
            ..auth
        };
        let err = verify_request_signature(&with_key, &request).unwrap_err();
        assert_eq!(err, AuthError::Ed25519KeyForGroup);
        assert_eq!(err.kind(), ErrorKind::Malformed);
    }

    /// A subaccount whose key is an ordinary Ed25519 key (real ones are blinded, §9.1; the
    /// server cannot tell the difference).
    fn subaccount(group_seed: &[u8; 32], flags: u8, member: &SigningKey) -> SubaccountAuth {
        let mut token = [0u8; 36];
        token[0] = 0x03;
        token[1] = flags;
        token[4..].copy_from_slice(member.verifying_key().as_bytes());
        let owner = SigningKey::from_bytes(group_seed);
        SubaccountAuth {
            token: SubaccountToken(token),
            token_signature: owner.sign(&token).to_bytes(),
        }
    }

    #[test]
    fn subaccount_requests_check_token_permissions_and_signatures() {
        let group_seed = [3u8; 32];
        let group = GroupId::from_ed25519_public(
            SigningKey::from_bytes(&group_seed)
                .verifying_key()
                .to_bytes(),
        );
        let member = SigningKey::from_bytes(&[4u8; 32]);
        let read_write = subaccount(&group_seed, 0x03, &member);
        let make = |request: &SignedRequest<'_>, sub: SubaccountAuth| {
            RequestAuth::subaccount(group, member.sign(&request.message()).to_bytes(), sub)
        };

        let retrieve = SignedRequest::Retrieve {
            namespace: Namespace::GROUP_MESSAGES,
            timestamp_ms: 1,
        };
        assert_eq!(
            verify_request_signature(&make(&retrieve, read_write), &retrieve),
            Ok(VerifiedSigner::Subaccount(read_write.token))
        );

        let h = hashes();
        let delete = SignedRequest::Delete { hashes: &h };
        assert!(matches!(
            verify_request_signature(&make(&delete, read_write), &delete),
            Err(AuthError::SubaccountPermissions { .. })
        ));
        let shorten = SignedRequest::Expire {
            mode: ExpireMode::Shorten,
            expiries_ms: &[1],
            hashes: &h,
        };
        assert!(matches!(
            verify_request_signature(&make(&shorten, read_write), &shorten),
            Err(AuthError::SubaccountPermissions { .. })
        ));
        let revoke = SignedRequest::RevokeSubaccount {
            timestamp_ms: 1,
            tokens: &[read_write.token],
        };
        assert_eq!(
            verify_request_signature(&make(&revoke, read_write), &revoke),
            Err(AuthError::SubaccountNotAllowed {
                method: "revoke_subaccount"
            })
        );

        let forged = SubaccountAuth {
            token_signature: [0; 64],
            ..read_write
        };
        assert_eq!(
            verify_request_signature(&make(&retrieve, forged), &retrieve),
            Err(AuthError::SubaccountTokenSignature)
        );
        let mut wrong_prefix = read_write;
        wrong_prefix.token.0[0] = 0x05;
        assert!(matches!(
            verify_request_signature(&make(&retrieve, wrong_prefix), &retrieve),
            Err(AuthError::SubaccountWrongPrefix { prefix: 5 })
        ));
        // Signed by the owner instead of the subaccount key.
        let by_owner = RequestAuth {
            signature: sign_as_group_admin(&group_seed, &retrieve).signature,
            ..make(&retrieve, read_write)
        };
        assert_eq!(
            verify_request_signature(&by_owner, &retrieve),
            Err(AuthError::BadSignature { method: "retrieve" })
        );
    }

    #[test]
    fn swarm_pubkeys_parse_both_prefixes() {
        let account = identity().account_id();
        assert_eq!(
            account.to_string().parse::<SwarmPubkey>(),
            Ok(SwarmPubkey::Account(account))
        );
        let group = GroupId::from_ed25519_public([9; 32]);
        let parsed: SwarmPubkey = group.to_string().parse().unwrap();
        assert_eq!(parsed, SwarmPubkey::Group(group));
        assert_eq!(parsed.prefix(), 3);
        assert_eq!("15ab".parse::<SwarmPubkey>(), Err(AuthError::InvalidPubkey));
    }

    #[test]
    fn signature_decoding_rejects_other_lengths_and_alphabets() {
        for text in [
            "",
            "AAAA",
            &"A".repeat(87),
            &format!("{}-=", "A".repeat(86)),
        ] {
            assert_eq!(
                decode_signature_base64(text),
                Err(AuthError::SignatureEncoding),
                "{text}"
            );
        }
    }
}
