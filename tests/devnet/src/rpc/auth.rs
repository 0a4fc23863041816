//! Server-side request authentication: does a request's signature verify, is its subaccount
//! token revoked.
//!
//! The signed strings and the signature/token checks are `sessiond_protocol::storage_auth`'s
//! (`SignedRequest`, `verify_request_signature`), the same code clients sign with. What is
//! server-only lives here: owners with a prefix other than `05`/`03` (the storage server takes
//! any prefix and then verifies against the raw key), and the revocation list, which needs the
//! node's database.

use ed25519_dalek::{Signature, VerifyingKey};
use sessiond_protocol::storage_auth::{
    AuthError, RequestAuth, SignedRequest, VerifiedSigner, verify_request_signature,
};

use super::params::Auth;
use crate::node::Node;

/// The outcome of checking a request's authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The signature verifies (and a subaccount token is not revoked).
    Accepted,
    /// 401: the signature (or token) does not verify, or the token is revoked.
    Denied,
    /// `expire` with `shorten` by a subaccount without delete access (the server answers 400).
    ShortenWithoutDelete,
}

/// Checks `auth` for `request` as the storage server's `verify_signature` does.
/// `skip_revocation`: retrieving from a namespace that ignores revocation.
pub(crate) fn verify(
    node: &Node,
    auth: &Auth,
    request: &SignedRequest<'_>,
    skip_revocation: bool,
) -> Verdict {
    let Some(pubkey) = auth.owner.swarm_pubkey() else {
        return verify_raw(auth, request);
    };
    let protocol_auth = RequestAuth {
        pubkey,
        pubkey_ed25519: auth.pubkey_ed25519,
        signature: auth.signature,
        subaccount: auth.subaccount,
    };
    match verify_request_signature(&protocol_auth, request) {
        Ok(VerifiedSigner::Owner) => Verdict::Accepted,
        Ok(VerifiedSigner::Subaccount(token)) => {
            if skip_revocation {
                return Verdict::Accepted;
            }
            match node.store.is_revoked(node.now(), &auth.owner.0, &token.0) {
                Ok(false) => Verdict::Accepted,
                Ok(true) | Err(_) => Verdict::Denied,
            }
        }
        Err(AuthError::SubaccountPermissions {
            method: "expire (shorten)",
            ..
        }) => Verdict::ShortenWithoutDelete,
        Err(_) => Verdict::Denied,
    }
}

/// An owner whose prefix is neither `05` nor `03`: the 32 key bytes are used as the Ed25519
/// key, as the storage server does. Subaccounts are not accepted for such owners.
fn verify_raw(auth: &Auth, request: &SignedRequest<'_>) -> Verdict {
    if auth.subaccount.is_some() || auth.pubkey_ed25519.is_some() {
        return Verdict::Denied;
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&auth.owner.0[1..]);
    let verified = VerifyingKey::from_bytes(&key).is_ok_and(|key| {
        key.verify_strict(&request.message(), &Signature::from_bytes(&auth.signature))
            .is_ok()
    });
    if verified {
        Verdict::Accepted
    } else {
        Verdict::Denied
    }
}
