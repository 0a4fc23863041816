//! Seed nodes: where a client with an empty pool learns the service-node list (protocol.md §3.1).
//!
//! A seed is an oxend JSON-RPC endpoint. Unlike service nodes, whose self-signed certificates
//! are not checked (onion encryption authenticates them), a seed's answer decides which nodes we
//! trust, so its TLS is verified: with the system's root certificates, or with a pin on the
//! exact certificate ([`CertPin`]). The mainnet seeds serve self-signed certificates on port
//! 4443 and are pinned ([`SeedNode::mainnet`]). Plain `http` is accepted only for loopback
//! addresses (a devnet on this machine).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use rand::CryptoRng;
use rand::seq::SliceRandom;
use reqwest::Url;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::clock::Clock;
use crate::error::{Malformed, NetworkError, Peer};
use crate::node::{ServiceNode, parse_node_list};
use crate::policy::Policy;
use crate::transport::Transport;

/// A pin on a seed's TLS certificate: the SHA-256 of the end-entity certificate's DER encoding.
///
/// That is the value `openssl x509 -noout -fingerprint -sha256` prints (and the official
/// desktop client's `cert256`). Pinning the whole certificate rather than its public key
/// (SPKI) means a renewed certificate needs a new pin even with the same key; in exchange the
/// pin is what every tool shows, and the devnet writes it from the DER it generated. Written
/// `sha256:<64 hex digits>`; colons between bytes and upper case are accepted when parsing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertPin(pub [u8; 32]);

impl CertPin {
    /// The pin of a DER-encoded certificate.
    pub fn of_certificate(der: &[u8]) -> CertPin {
        CertPin(Sha256::digest(der).into())
    }

    /// Whether `der` is the pinned certificate.
    pub fn matches(&self, der: &[u8]) -> bool {
        CertPin::of_certificate(der) == *self
    }
}

impl FromStr for CertPin {
    type Err = NetworkError;

    fn from_str(text: &str) -> Result<CertPin, NetworkError> {
        let bad = |reason: &str| NetworkError::Config {
            what: "certificate pin",
            reason: reason.to_owned(),
        };
        let digits = text
            .strip_prefix("sha256:")
            .ok_or_else(|| bad("expected sha256:<64 hex digits>"))?;
        let digits: String = digits.chars().filter(|&c| c != ':').collect();
        let mut pin = [0u8; 32];
        hex::decode_to_slice(&digits, &mut pin)
            .map_err(|_| bad("expected sha256:<64 hex digits>"))?;
        Ok(CertPin(pin))
    }
}

impl fmt::Display for CertPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for CertPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertPin({self})")
    }
}

/// How a seed's TLS certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeedTrust {
    /// A certificate chain to the system's root certificates, for the URL's host name.
    SystemRoots,
    /// Exactly this certificate (self-signed seeds: mainnet's, the devnet's). The host name and
    /// validity dates are not checked: the pin names the one certificate accepted.
    Pinned(CertPin),
}

/// A seed node: its JSON-RPC URL and how its certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedNode {
    /// The full JSON-RPC URL (`…/json_rpc`).
    url: Url,
    /// How its certificate is checked (`http` loopback seeds have none).
    trust: SeedTrust,
}

/// The mainnet seeds and their certificate pins (from the official desktop client,
/// `ts/session/apis/seed_node_api/SeedNodeAPI.ts`; the certificates expire in April 2033).
const MAINNET_SEEDS: [(&str, &str); 3] = [
    (
        "https://seed1.getsession.org:4443/json_rpc",
        "sha256:36ea0b253537988551ee856e4fd20d55011e9c8b27eaa2f34b8f32a0bdf04f2d",
    ),
    (
        "https://seed2.getsession.org:4443/json_rpc",
        "sha256:c5908dd4139acd96aedd1e45576597650809c8a5ea02af556d4853d45396e0e7",
    ),
    (
        "https://seed3.getsession.org:4443/json_rpc",
        "sha256:8a0af2c712342f22ce00e53c1601410ef8d84156aee0a9809c32f6f7efbe556e",
    ),
];

impl SeedNode {
    /// A seed at `url` (`https://host:port/json_rpc`; a URL without a path gets `/json_rpc`).
    ///
    /// Refused: schemes other than `https`, except `http` to a loopback IP address (a local
    /// devnet); a pin on an `http` URL (there is no certificate to pin); credentials, query or
    /// fragment in the URL.
    pub fn new(url: &str, trust: SeedTrust) -> Result<SeedNode, NetworkError> {
        let bad = |reason: String| NetworkError::Config {
            what: "seed URL",
            reason,
        };
        let mut url = Url::parse(url).map_err(|e| bad(format!("{url:?}: {e}")))?;
        let host = url
            .host_str()
            .ok_or_else(|| bad(format!("{url}: no host")))?
            .to_owned();
        match url.scheme() {
            "https" => {}
            "http" => {
                let ip: Option<IpAddr> = host.trim_matches(['[', ']']).parse().ok();
                if !ip.is_some_and(|ip| ip.is_loopback()) {
                    return Err(bad(format!(
                        "{url}: plain http is only allowed to a loopback address"
                    )));
                }
                if matches!(trust, SeedTrust::Pinned(_)) {
                    return Err(bad(format!("{url}: a certificate pin needs https")));
                }
            }
            other => return Err(bad(format!("{url}: unsupported scheme {other:?}"))),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("credentials in a seed URL are not supported".to_owned()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad(format!("{url}: query or fragment not allowed")));
        }
        if url.path().is_empty() || url.path() == "/" {
            url.set_path("/json_rpc");
        }
        Ok(SeedNode { url, trust })
    }

    /// The three mainnet seeds, pinned.
    pub fn mainnet() -> Vec<SeedNode> {
        MAINNET_SEEDS
            .iter()
            .filter_map(|(url, pin)| {
                let pin = pin.parse().ok()?;
                SeedNode::new(url, SeedTrust::Pinned(pin)).ok()
            })
            .collect()
    }

    /// The JSON-RPC URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// How its certificate is checked.
    pub fn trust(&self) -> SeedTrust {
        self.trust
    }

    /// The peer label used in errors about this seed.
    pub fn peer(&self) -> Peer {
        Peer::Seed {
            url: self.url.to_string(),
        }
    }
}

/// The `get_n_service_nodes` request body (§3.1): active nodes, every field the pool keeps,
/// including `swarm_id` to compute swarms locally. No `limit`: the whole list is wanted.
pub fn get_n_service_nodes_body() -> Vec<u8> {
    serde_json::json!({
        "jsonrpc": "2.0",
        "method": "get_n_service_nodes",
        "params": {
            "active_only": true,
            "fields": {
                "public_ip": true,
                "storage_port": true,
                "pubkey_x25519": true,
                "pubkey_ed25519": true,
                "swarm_id": true,
            }
        }
    })
    .to_string()
    .into_bytes()
}

/// Asks one seed for the node list. Needs HTTP 200 and at least one usable node.
pub async fn fetch_from_seed<T: Transport>(
    transport: &T,
    seed: &SeedNode,
    timeout: Duration,
) -> Result<Vec<ServiceNode>, NetworkError> {
    const REQUEST: &str = "get_n_service_nodes";
    let response = transport
        .post_seed(seed, get_n_service_nodes_body(), timeout)
        .await
        .map_err(|source| NetworkError::Transport {
            peer: seed.peer(),
            request: REQUEST,
            source,
        })?;
    if response.status != 200 {
        return Err(NetworkError::status(
            seed.peer(),
            REQUEST,
            response.status,
            &response.body,
        ));
    }
    let malformed = |problem| NetworkError::Malformed {
        peer: seed.peer(),
        request: REQUEST,
        problem,
    };
    let list = parse_node_list(&response.body).map_err(malformed)?;
    if list.skipped > 0 {
        tracing::info!(skipped = list.skipped, "seed list had unusable entries");
    }
    if list.nodes.is_empty() {
        return Err(malformed(Malformed::Empty {
            what: "service node",
        }));
    }
    Ok(list.nodes)
}

/// Bootstraps: asks the seeds, in random order and cycling through them, until one gives a
/// usable node list or `policy.seed_attempts` requests have failed (waiting 1 s, then 2 s, …
/// between rounds, as desktop does). The answer is returned, not stored: the caller puts it
/// in the pool (which resets failure counters) and persists it.
pub async fn fetch_from_seeds<T: Transport, R: CryptoRng + ?Sized>(
    transport: &T,
    seeds: &[SeedNode],
    policy: &Policy,
    clock: &Clock,
    rng: &mut R,
) -> Result<Vec<ServiceNode>, NetworkError> {
    let mut order: Vec<&SeedNode> = seeds.iter().collect();
    order.shuffle(rng);
    let Some(first) = order.first() else {
        return Err(NetworkError::Config {
            what: "seed list",
            reason: "no seed nodes configured".to_owned(),
        });
    };
    let mut last = NetworkError::internal("no seed attempt made");
    let mut backoff = Duration::from_secs(1);
    for attempt in 0..policy.seed_attempts.max(1) {
        let seed = order.get(attempt % order.len()).unwrap_or(first);
        let span = tracing::info_span!("seed_request", seed = %seed.url(), attempt);
        match fetch_from_seed(transport, seed, policy.seed_timeout)
            .instrument(span)
            .await
        {
            Ok(nodes) => {
                tracing::info!(seed = %seed.url(), nodes = nodes.len(), "service-node list from seed");
                return Ok(nodes);
            }
            Err(error) => {
                tracing::warn!(%error, "seed request failed");
                last = error;
            }
        }
        if attempt + 1 < policy.seed_attempts {
            clock.sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
    Err(NetworkError::SeedsUnavailable {
        attempts: policy.seed_attempts.max(1),
        last: Box::new(last),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeNetwork, FakeReply, TestRng, node_state_json, test_node};

    /// Virtual (paused tokio time): bounds stuck futures without waiting.
    const TEST_TIMEOUT: Duration = Duration::from_secs(3600);

    fn seeds() -> Vec<SeedNode> {
        (1..=3)
            .map(|n| {
                SeedNode::new(
                    &format!("https://seed{n}.example:4443/json_rpc"),
                    SeedTrust::Pinned(CertPin([n; 32])),
                )
                .unwrap()
            })
            .collect()
    }

    fn list_reply(count: u8) -> FakeReply {
        let states: Vec<serde_json::Value> =
            (0..count).map(|n| node_state_json(&test_node(n))).collect();
        FakeReply::json(
            200,
            &serde_json::json!({"result": {"service_node_states": states, "height": 1}}),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn bootstrap_moves_past_seeds_that_hang_or_answer_garbage() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let clock = Clock::manual(1_700_000_000_000);
            let net = FakeNetwork::new(clock.clone());
            let seeds = seeds();
            net.add_seed(&seeds[0], |_| FakeReply::Hang);
            net.add_seed(&seeds[1], |_| FakeReply::text(200, "<html>"));
            net.add_seed(&seeds[2], |_| list_reply(12));
            let nodes = fetch_from_seeds(
                &net,
                &seeds,
                &Policy::mainnet(),
                &clock,
                &mut TestRng::new(3),
            )
            .await
            .unwrap();
            assert_eq!(nodes, (0..12).map(test_node).collect::<Vec<_>>());
            let request = net.log().last().unwrap().1.clone();
            assert_eq!(request.json().unwrap()["method"], "get_n_service_nodes");
        })
        .await
        .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn bootstrap_gives_up_after_four_attempts_with_backoff() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let clock = Clock::manual(1_700_000_000_000);
            let net = FakeNetwork::new(clock.clone());
            let seeds = seeds();
            net.add_seed(&seeds[0], |_| FakeReply::text(503, "busy"));
            net.add_seed(&seeds[1], |_| list_reply(0));
            // seeds[2] refuses connections (not on the network).
            let started = clock.instant();
            let error = fetch_from_seeds(
                &net,
                &seeds,
                &Policy::mainnet(),
                &clock,
                &mut TestRng::new(3),
            )
            .await
            .unwrap_err();
            assert!(
                matches!(error, NetworkError::SeedsUnavailable { attempts: 4, .. }),
                "{error}"
            );
            assert_eq!(net.log().len(), 4);
            // Waited 1 + 2 + 4 s between the four attempts.
            assert_eq!(clock.instant() - started, Duration::from_secs(7));
            assert!(
                fetch_from_seeds(&net, &[], &Policy::mainnet(), &clock, &mut TestRng::new(3))
                    .await
                    .is_err()
            );
        })
        .await
        .unwrap();
    }

    #[test]
    fn mainnet_has_three_pinned_https_seeds() {
        let seeds = SeedNode::mainnet();
        assert_eq!(seeds.len(), 3);
        for seed in &seeds {
            assert_eq!(seed.url().scheme(), "https");
            assert_eq!(seed.url().port(), Some(4443));
            assert_eq!(seed.url().path(), "/json_rpc");
            assert!(matches!(seed.trust(), SeedTrust::Pinned(_)));
        }
        // seed1's pin is the desktop client's `cert256` for it.
        assert_eq!(
            seeds[0].trust(),
            SeedTrust::Pinned(
                "sha256:36:EA:0B:25:35:37:98:85:51:EE:85:6E:4F:D2:0D:55:01:1E:9C:8B:27:EA:A2:F3:4B:8F:32:A0:BD:F0:4F:2D"
                    .parse()
                    .unwrap()
            )
        );
    }

    #[test]
    fn pins_parse_with_or_without_colons_and_print_canonically() {
        let pin: CertPin = format!("sha256:{}", "AB".repeat(32)).parse().unwrap();
        assert_eq!(pin, CertPin([0xab; 32]));
        assert_eq!(pin.to_string(), format!("sha256:{}", "ab".repeat(32)));
        for bad in [
            "",
            "ab",
            "sha1:abcd",
            "sha256:abcd",
            &format!("sha256:{}", "g".repeat(64)),
        ] {
            assert!(bad.parse::<CertPin>().is_err(), "{bad}");
        }
        assert!(CertPin::of_certificate(b"der").matches(b"der"));
        assert!(!CertPin::of_certificate(b"der").matches(b"other"));
    }

    #[test]
    fn plain_http_is_only_for_loopback_seeds() {
        let pin = SeedTrust::Pinned(CertPin([1; 32]));
        let ok = SeedNode::new("http://127.0.0.1:38157", SeedTrust::SystemRoots).unwrap();
        assert_eq!(ok.url().as_str(), "http://127.0.0.1:38157/json_rpc");
        assert!(SeedNode::new("http://[::1]:1/json_rpc", SeedTrust::SystemRoots).is_ok());
        assert!(SeedNode::new("https://127.0.0.1:4443", pin).is_ok());
        for refused in [
            "http://seed2.getsession.org:38157",
            "http://localhost:1",
            "http://10.0.0.1:1",
            "ftp://127.0.0.1/",
            "https://user:pw@seed.example/json_rpc",
            "https://seed.example/json_rpc?x=1",
            "not a url",
        ] {
            assert!(
                SeedNode::new(refused, SeedTrust::SystemRoots).is_err(),
                "{refused}"
            );
        }
        assert!(SeedNode::new("http://127.0.0.1:1", pin).is_err());
    }

    #[test]
    fn the_seed_request_asks_for_all_fields_and_no_limit() {
        let body: serde_json::Value = serde_json::from_slice(&get_n_service_nodes_body()).unwrap();
        assert_eq!(body["method"], "get_n_service_nodes");
        assert_eq!(body["params"]["active_only"], true);
        assert!(body["params"].get("limit").is_none());
        for field in [
            "public_ip",
            "storage_port",
            "pubkey_x25519",
            "pubkey_ed25519",
            "swarm_id",
        ] {
            assert_eq!(body["params"]["fields"][field], true, "{field}");
        }
    }
}
