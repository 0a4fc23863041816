//! What can go wrong talking to the Session network, with enough context to act on it.
//!
//! Every fallible operation of this crate returns [`NetworkError`]. Its variants say which peer
//! (service node or seed) and which request were involved, never which account: Account IDs stay
//! out of error text (they reach logs). Each error maps to an [`ErrorKind`] for the API layer
//! ([`HasKind`]) and says whether and when retrying makes sense ([`NetworkError::retry_after`]).
//! There is deliberately no `From<io::Error>` or `From<reqwest::Error>`: the code that sees a
//! low-level error also knows what it was doing and adds that.

use std::fmt;
use std::net::SocketAddrV4;
use std::panic::Location;
use std::time::Duration;

use sessiond_protocol::onion::OnionError;
use sessiond_protocol::{ErrorKind, HasKind};

use crate::node::NodeId;

/// Who we were talking to when something went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// A service node, by address and identity.
    Node {
        /// Where it was reached.
        addr: SocketAddrV4,
        /// Its Ed25519 key.
        id: NodeId,
    },
    /// A seed node, by URL.
    Seed {
        /// The seed's JSON-RPC URL.
        url: String,
    },
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Node { addr, id } => write!(f, "service node {} ({addr})", id.short()),
            Peer::Seed { url } => write!(f, "seed {url}"),
        }
    }
}

/// Why an HTTP exchange did not produce a response (below the level of HTTP statuses).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No complete answer within the time allowed.
    #[error("no answer within {after:?}")]
    Timeout {
        /// The timeout that expired.
        after: Duration,
    },
    /// The peer could not be reached: refused, reset, unreachable, proxy failure.
    #[error("could not connect: {reason}")]
    Connect {
        /// What the connector said.
        reason: String,
    },
    /// The peer's TLS certificate was refused (a seed's pin or chain did not check out).
    #[error("certificate refused: {reason}")]
    Certificate {
        /// What the verifier said.
        reason: String,
    },
    /// The response body is bigger than any answer of the protocol can be.
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The request failed after connecting (broken connection, bad HTTP).
    #[error("request failed: {reason}")]
    Request {
        /// What the HTTP client said.
        reason: String,
    },
    /// The fake network of a test has no node at this address.
    #[error("no such peer in the fake network")]
    NoSuchPeer,
}

/// What is wrong with a response that arrived but does not follow the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The body is not JSON (or not UTF-8).
    #[error("body is not JSON")]
    NotJson,
    /// A required field is absent.
    #[error("missing field {field:?}")]
    MissingField {
        /// Dotted path of the field.
        field: &'static str,
    },
    /// A field has the wrong JSON type or an impossible value.
    #[error("field {field:?} is not {expected}")]
    BadField {
        /// Dotted path of the field.
        field: &'static str,
        /// What it should have been.
        expected: &'static str,
    },
    /// The answer parsed but holds nothing usable (for example no valid node).
    #[error("no usable {what}")]
    Empty {
        /// What was expected.
        what: &'static str,
    },
}

/// Everything that can go wrong in the network client.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// The HTTP exchange itself failed: no connection, no answer, refused certificate.
    #[error("{request} to {peer}: {source}")]
    Transport {
        /// Who we were talking to.
        peer: Peer,
        /// What we asked (`"get_swarm"`, `"guard test"`, `"onion request"`, …).
        request: &'static str,
        /// What went wrong.
        #[source]
        source: TransportError,
    },
    /// The peer answered with a status that means the request failed.
    #[error("{request} to {peer}: HTTP {status}: {body}")]
    Status {
        /// Who answered.
        peer: Peer,
        /// What we asked.
        request: &'static str,
        /// The HTTP (or storage RPC) status.
        status: u16,
        /// The start of the (plain-text) body, control characters removed.
        body: String,
    },
    /// The peer answered, but not in the protocol's format.
    #[error("{request} from {peer}: malformed answer: {problem}")]
    Malformed {
        /// Who answered.
        peer: Peer,
        /// What we asked.
        request: &'static str,
        /// What is wrong with the answer.
        problem: Malformed,
    },
    /// Building an onion request, or reading its answer, failed (a request too large to send,
    /// an answer no layer key opens, a reply malformed inside its encryption).
    #[error("{request} via {peer}: {source}")]
    Onion {
        /// The path's guard (for a build failure: the destination).
        peer: Peer,
        /// What we asked.
        request: &'static str,
        /// What went wrong.
        #[source]
        source: OnionError,
    },
    /// The peer refused our timestamp (406/425): our clock is off from the network's.
    #[error("{request} to {peer}: our clock is out of sync with the network")]
    ClockSkew {
        /// Who refused it.
        peer: Peer,
        /// What we asked.
        request: &'static str,
    },
    /// Too few service nodes to do what was asked (pool too small, swarm empty, …).
    #[error("not enough service nodes for {what}: have {have}, need {need}")]
    NotEnoughNodes {
        /// What needed them.
        what: &'static str,
        /// How many there are.
        have: usize,
        /// How many are needed.
        need: usize,
    },
    /// No seed answered with a usable service-node list.
    #[error("no seed node gave a usable service-node list ({attempts} attempts); last: {last}")]
    SeedsUnavailable {
        /// How many seed requests were made.
        attempts: usize,
        /// The last failure.
        last: Box<NetworkError>,
    },
    /// The service nodes asked for the node list did not agree on enough nodes.
    #[error("service nodes agree on only {common} nodes, {needed} needed")]
    NoAgreement {
        /// Nodes common to every answer.
        common: usize,
        /// The agreement required.
        needed: usize,
    },
    /// Guard selection tested candidates and found too few that answer.
    #[error("found {found} working guard nodes of {needed} after testing {tested}")]
    NoGuards {
        /// Guards found.
        found: usize,
        /// Guards wanted.
        needed: usize,
        /// Candidates tested.
        tested: usize,
    },
    /// No onion path is available for this request.
    #[error("no onion path available{}", if *.excluding_destination { " that avoids the destination" } else { "" })]
    NoPath {
        /// Paths existed, but each contains the destination node.
        excluding_destination: bool,
    },
    /// A configuration value (seed URL, pin, proxy) is unusable.
    #[error("invalid {what}: {reason}")]
    Config {
        /// Which setting.
        what: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// A request this client refuses to send: it breaks a rule the node would enforce (data
    /// too large, TTL out of range, a namespace that needs a signature, a bad `last_hash`).
    #[error("invalid {what}: {reason}")]
    InvalidRequest {
        /// What was refused.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The node asked for is not (or no longer) in the pool: pick another one.
    #[error("service node {} is not in the pool", .id.short())]
    UnknownNode {
        /// Its key.
        id: NodeId,
    },
    /// The client was shut down.
    #[error("the network client is shut down")]
    ShutDown,
    /// A bug: something that cannot happen did.
    #[error("internal error in the network client: {what} (at {location})")]
    Internal {
        /// What was being done.
        what: &'static str,
        /// Where the error was created.
        location: &'static Location<'static>,
    },
}

/// Longest body excerpt kept in an error (bodies come from the network: keep them short).
const BODY_EXCERPT_CHARS: usize = 160;

impl NetworkError {
    /// A "can't happen" error, recording the caller's source location.
    #[track_caller]
    pub fn internal(what: &'static str) -> NetworkError {
        NetworkError::Internal {
            what,
            location: Location::caller(),
        }
    }

    /// A [`NetworkError::Status`] whose body excerpt is cut and cleaned for logging.
    pub fn status(peer: Peer, request: &'static str, status: u16, body: &[u8]) -> NetworkError {
        NetworkError::Status {
            peer,
            request,
            status,
            body: body_excerpt(body),
        }
    }

    /// Whether and when retrying can help:
    /// - `Some(Duration::ZERO)`: at once, on another node or path;
    /// - `Some(d)`: after waiting `d` (the network as a whole looks unreachable, or we were
    ///   rate-limited);
    /// - `None`: retrying the same request will fail the same way (a bug, a refused
    ///   signature, a clock that must be fixed first, bad configuration).
    pub fn retry_after(&self) -> Option<Duration> {
        const SOON: Duration = Duration::from_secs(5);
        match self {
            NetworkError::Transport { .. }
            | NetworkError::Malformed { .. }
            | NetworkError::UnknownNode { .. } => Some(Duration::ZERO),
            NetworkError::Status { status, .. } => match status {
                429 => Some(Duration::from_secs(10)),
                421 | 500 | 502 | 503 | 504 => Some(Duration::ZERO),
                400..=499 => None,
                _ => Some(Duration::ZERO),
            },
            NetworkError::NotEnoughNodes { .. }
            | NetworkError::SeedsUnavailable { .. }
            | NetworkError::NoAgreement { .. }
            | NetworkError::NoGuards { .. }
            | NetworkError::NoPath { .. } => Some(SOON),
            NetworkError::Onion { source, .. } => match source.kind() {
                // We built something no node accepts: the same request fails again.
                ErrorKind::InvalidInput | ErrorKind::Internal => None,
                // A garbled or undecryptable answer: another path may do.
                _ => Some(Duration::ZERO),
            },
            NetworkError::ClockSkew { .. }
            | NetworkError::Config { .. }
            | NetworkError::InvalidRequest { .. }
            | NetworkError::ShutDown
            | NetworkError::Internal { .. } => None,
        }
    }

    /// Shorthand for `retry_after().is_some()`.
    pub fn is_retriable(&self) -> bool {
        self.retry_after().is_some()
    }
}

impl HasKind for NetworkError {
    fn kind(&self) -> ErrorKind {
        match self {
            NetworkError::Transport {
                source: TransportError::Certificate { .. },
                ..
            } => ErrorKind::BadSignature,
            NetworkError::Transport { .. }
            | NetworkError::NotEnoughNodes { .. }
            | NetworkError::SeedsUnavailable { .. }
            | NetworkError::NoAgreement { .. }
            | NetworkError::NoGuards { .. }
            | NetworkError::NoPath { .. }
            | NetworkError::UnknownNode { .. } => ErrorKind::NetworkUnreachable,
            NetworkError::Status { status, .. } => match status {
                // The node refused what we sent: our bug (or protocol drift), not the user's.
                400 | 401 | 403 => ErrorKind::Internal,
                404 => ErrorKind::NotFound,
                406 | 425 => ErrorKind::ClockSkew,
                _ => ErrorKind::NetworkUnreachable,
            },
            NetworkError::Malformed { .. } => ErrorKind::Malformed,
            NetworkError::Onion { source, .. } => source.kind(),
            NetworkError::ClockSkew { .. } => ErrorKind::ClockSkew,
            NetworkError::Config { .. } | NetworkError::InvalidRequest { .. } => {
                ErrorKind::InvalidInput
            }
            NetworkError::ShutDown => ErrorKind::ShuttingDown,
            NetworkError::Internal { .. } => ErrorKind::Internal,
        }
    }
}

/// The start of a network-supplied body, lossily decoded, without control characters.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .take(BODY_EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(BODY_EXCERPT_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_peer() -> Peer {
        Peer::Node {
            addr: "1.2.3.4:22021".parse().unwrap(),
            id: NodeId([0xab; 32]),
        }
    }

    #[test]
    fn body_excerpt_is_short_and_has_no_control_characters() {
        let long = format!("bad\n\u{1b}[31m{}", "x".repeat(1000));
        let excerpt = body_excerpt(long.as_bytes());
        assert!(excerpt.chars().count() <= BODY_EXCERPT_CHARS + 1);
        assert!(!excerpt.chars().any(char::is_control));
        assert!(excerpt.ends_with('…'));
        assert_eq!(body_excerpt(b"\xff\xfeok"), "\u{fffd}\u{fffd}ok");
    }

    #[test]
    fn errors_name_the_peer_and_the_request() {
        let e = NetworkError::status(node_peer(), "get_swarm", 503, b"Snode not ready");
        let text = e.to_string();
        assert!(text.contains("get_swarm"), "{text}");
        assert!(text.contains("1.2.3.4:22021"), "{text}");
        assert!(text.contains("503"), "{text}");
    }

    #[test]
    fn kinds_and_retry_hints_follow_what_the_caller_can_do() {
        let transport = NetworkError::Transport {
            peer: node_peer(),
            request: "onion request",
            source: TransportError::Timeout {
                after: Duration::from_secs(10),
            },
        };
        assert_eq!(transport.kind(), ErrorKind::NetworkUnreachable);
        assert_eq!(transport.retry_after(), Some(Duration::ZERO));

        let pin = NetworkError::Transport {
            peer: Peer::Seed {
                url: "https://seed".into(),
            },
            request: "get_n_service_nodes",
            source: TransportError::Certificate {
                reason: "pin".into(),
            },
        };
        assert_eq!(pin.kind(), ErrorKind::BadSignature);

        let skew = NetworkError::ClockSkew {
            peer: node_peer(),
            request: "store",
        };
        assert_eq!(skew.kind(), ErrorKind::ClockSkew);
        assert_eq!(skew.retry_after(), None);

        let unauthorized = NetworkError::status(node_peer(), "retrieve", 401, b"");
        assert_eq!(unauthorized.retry_after(), None);
        let limited = NetworkError::status(node_peer(), "retrieve", 429, b"");
        assert!(limited.retry_after().unwrap() > Duration::ZERO);
        let busy = NetworkError::status(node_peer(), "retrieve", 503, b"");
        assert_eq!(busy.retry_after(), Some(Duration::ZERO));

        let bug = NetworkError::internal("test");
        assert_eq!(bug.kind(), ErrorKind::Internal);
        assert!(bug.to_string().contains("error.rs"), "{bug}");
    }
}
