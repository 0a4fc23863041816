//! "POST these bytes to this peer": the one seam between the client's policy and the wire.
//!
//! Everything above this module (seed bootstrap, guard tests, storage RPCs, onion requests)
//! talks to [`Transport`], so tests run it over `testing::FakeNetwork`. In production
//! it is [`HttpsTransport`]: reqwest over rustls with the *ring* provider, HTTP/1.1, no
//! redirects, and an optional SOCKS5 proxy for every connection it makes.
//!
//! **TLS trust.** This module holds the crate's only TLS decisions:
//! - service nodes: certificates are **not** verified (`NodeCertVerifier`). Their
//!   certificates are self-signed and carry no identity; what authenticates a node is that only
//!   it can decrypt the onion layer encrypted to its X25519 key. This is the only place TLS
//!   verification is off. (The handshake signature is still checked against the presented
//!   certificate.)
//! - seeds: verified with the system's roots, or pinned to one certificate
//!   ([`crate::seed::SeedTrust`]); `http` seeds exist only on loopback.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::Url;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use crate::clock::Clock;
use crate::error::{NetworkError, TransportError};
use crate::node::ServiceNode;
use crate::seed::{CertPin, SeedNode, SeedTrust};

/// An HTTP answer: status and body. Headers are not used by the protocol.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body, whole.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HttpResponse({}, {} bytes)",
            self.status,
            self.body.len()
        )
    }
}

/// Sends one HTTP POST to a service node or a seed and returns the whole answer.
///
/// Implementations enforce `timeout` on the whole exchange (connect, send, read) and a bound on
/// the body size. They know nothing of the protocol: statuses are returned, not interpreted.
pub trait Transport: Send + Sync {
    /// POSTs `body` to `path` (`/storage_rpc/v1`, `/onion_req/v2`) on the node's storage
    /// server, over HTTPS without certificate verification (see the module docs).
    fn post_node(
        &self,
        node: &ServiceNode,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> + Send;

    /// POSTs the JSON `body` to the seed's URL, checking its certificate as its
    /// [`SeedTrust`] says.
    fn post_seed(
        &self,
        seed: &SeedNode,
        body: Vec<u8>,
        timeout: Duration,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> + Send;
}

impl<T: Transport + ?Sized> Transport for Arc<T> {
    fn post_node(
        &self,
        node: &ServiceNode,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> + Send {
        (**self).post_node(node, path, body, timeout)
    }

    fn post_seed(
        &self,
        seed: &SeedNode,
        body: Vec<u8>,
        timeout: Duration,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> + Send {
        (**self).post_seed(seed, body, timeout)
    }
}

/// A SOCKS5 proxy through which every connection goes (for example Tor's `127.0.0.1:9050`).
#[derive(Clone, PartialEq, Eq)]
pub struct Socks5Proxy {
    /// `socks5h://[user:pass@]host:port` or `socks5://…`.
    url: Url,
}

impl Socks5Proxy {
    /// Parses `socks5h://host:port` (host names resolved by the proxy: what Tor needs) or
    /// `socks5://host:port` (resolved locally). `user:pass@` is passed to the proxy (Tor uses it
    /// to isolate streams).
    pub fn parse(text: &str) -> Result<Socks5Proxy, NetworkError> {
        let bad = |reason: &str| NetworkError::Config {
            what: "SOCKS5 proxy",
            reason: reason.to_owned(),
        };
        let url = Url::parse(text).map_err(|_| bad("expected socks5h://host:port"))?;
        if !matches!(url.scheme(), "socks5" | "socks5h") {
            return Err(bad("the scheme must be socks5h:// or socks5://"));
        }
        if url.host_str().is_none() || url.port().is_none() {
            return Err(bad("expected socks5h://host:port"));
        }
        Ok(Socks5Proxy { url })
    }
}

impl std::fmt::Debug for Socks5Proxy {
    /// Without the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Socks5Proxy({}://{}:{})",
            self.url.scheme(),
            self.url.host_str().unwrap_or(""),
            self.url.port().unwrap_or(0)
        )
    }
}

/// Settings of [`HttpsTransport`].
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Route every connection (nodes and seeds) through this proxy.
    pub proxy: Option<Socks5Proxy>,
    /// Larger bodies are refused ([`TransportError::BodyTooLarge`]).
    pub max_response_bytes: usize,
}

/// The largest answer accepted by default: a full `retrieve` (7.8 MB of messages) is ~10.4 MB
/// of JSON, ~14 MB once encrypted and base64-encoded by an onion response.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

impl Default for TransportConfig {
    fn default() -> TransportConfig {
        TransportConfig {
            proxy: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// The production [`Transport`]: HTTPS with rustls (ring), one HTTP client per trust policy.
pub struct HttpsTransport {
    /// For service nodes: certificates not verified.
    nodes: reqwest::Client,
    /// For seeds, one client per trust policy, made on first use.
    seeds: Mutex<HashMap<SeedTrust, reqwest::Client>>,
    /// Proxy and limits.
    config: TransportConfig,
    /// Timeouts.
    clock: Clock,
}

impl std::fmt::Debug for HttpsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsTransport")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HttpsTransport {
    /// A transport with the given proxy and limits; `clock` bounds every exchange.
    pub fn new(config: TransportConfig, clock: Clock) -> Result<HttpsTransport, NetworkError> {
        let provider = ring_provider();
        let verifier = Arc::new(NodeCertVerifier {
            provider: provider.clone(),
        });
        let nodes = http_client(tls_config(provider, verifier)?, &config)?;
        Ok(HttpsTransport {
            nodes,
            seeds: Mutex::new(HashMap::new()),
            config,
            clock,
        })
    }

    fn seed_client(&self, trust: SeedTrust) -> Result<reqwest::Client, TransportError> {
        let mut seeds = self.seeds.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = seeds.get(&trust) {
            return Ok(client.clone());
        }
        let provider = ring_provider();
        let verifier: Arc<dyn ServerCertVerifier> = match trust {
            SeedTrust::Pinned(pin) => Arc::new(PinnedCertVerifier {
                pin,
                provider: provider.clone(),
            }),
            SeedTrust::SystemRoots => Arc::new(
                rustls_platform_verifier::Verifier::new(provider.clone()).map_err(|e| {
                    TransportError::Certificate {
                        reason: format!("no system root certificates: {e}"),
                    }
                })?,
            ),
        };
        let client = tls_config(provider, verifier)
            .and_then(|tls| http_client(tls, &self.config))
            .map_err(|e| TransportError::Request {
                reason: e.to_string(),
            })?;
        seeds.insert(trust, client.clone());
        Ok(client)
    }

    async fn post(
        &self,
        client: reqwest::Client,
        url: Url,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<HttpResponse, TransportError> {
        let limit = self.config.max_response_bytes;
        let exchange = async move {
            let mut response = client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .map_err(transport_error)?;
            let status = response.status().as_u16();
            if response
                .content_length()
                .is_some_and(|len| len > limit as u64)
            {
                return Err(TransportError::BodyTooLarge { limit });
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
                if body.len() + chunk.len() > limit {
                    return Err(TransportError::BodyTooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpResponse { status, body })
        };
        self.clock
            .timeout(timeout, exchange)
            .await
            .unwrap_or(Err(TransportError::Timeout { after: timeout }))
    }
}

impl Transport for HttpsTransport {
    async fn post_node(
        &self,
        node: &ServiceNode,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<HttpResponse, TransportError> {
        let url = Url::parse(&format!("https://{}{path}", node.addr())).map_err(|e| {
            TransportError::Request {
                reason: format!("bad path {path:?}: {e}"),
            }
        })?;
        self.post(self.nodes.clone(), url, body, timeout).await
    }

    async fn post_seed(
        &self,
        seed: &SeedNode,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<HttpResponse, TransportError> {
        let client = self.seed_client(seed.trust())?;
        self.post(client, seed.url().clone(), body, timeout).await
    }
}

fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_config(
    provider: Arc<CryptoProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
) -> Result<rustls::ClientConfig, NetworkError> {
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NetworkError::Config {
            what: "TLS",
            reason: e.to_string(),
        })?
        .dangerous() // a custom verifier: see NodeCertVerifier and PinnedCertVerifier
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

fn http_client(
    tls: rustls::ClientConfig,
    config: &TransportConfig,
) -> Result<reqwest::Client, NetworkError> {
    let mut headers = reqwest::header::HeaderMap::new();
    // What the official desktop client sends, so that our requests look like its (§11 #23).
    headers.insert(
        reqwest::header::ACCEPT_LANGUAGE,
        reqwest::header::HeaderValue::from_static("en-us"),
    );
    let builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .user_agent("WhatsApp")
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none());
    let builder = match &config.proxy {
        Some(proxy) => builder.proxy(reqwest::Proxy::all(proxy.url.clone()).map_err(|e| {
            NetworkError::Config {
                what: "SOCKS5 proxy",
                reason: e.to_string(),
            }
        })?),
        // Not even the environment's proxy variables: the proxy is a decision, made here.
        None => builder.no_proxy(),
    };
    builder.build().map_err(|e| NetworkError::Config {
        what: "HTTP client",
        reason: e.to_string(),
    })
}

/// Turns a reqwest error into a [`TransportError`], keeping the underlying reasons and
/// recognising a refused certificate.
fn transport_error(error: reqwest::Error) -> TransportError {
    let error = error.without_url();
    if let Some(reason) = certificate_problem(&error) {
        return TransportError::Certificate { reason };
    }
    let reason = error_chain(&error);
    if error.is_connect() {
        TransportError::Connect { reason }
    } else {
        TransportError::Request { reason }
    }
}

/// "outer: inner: innermost".
fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.ends_with(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

/// The rustls certificate error somewhere in `error`'s chain, if any. `io::Error`s are looked
/// into (hyper nests them, and their `source()` skips the error they wrap).
fn certificate_problem(error: &(dyn StdError + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(
            tls @ (rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented),
        ) = e.downcast_ref::<rustls::Error>()
        {
            return Some(match tls {
                rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
                    other.0.to_string()
                }
                _ => tls.to_string(),
            });
        }
        current = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    None
}

/// Service nodes: any certificate is accepted (self-signed, no identity in it). Authenticity
/// comes from the onion layer encrypted to the node's X25519 key, which only the real node
/// can open. The handshake signature is still checked against the presented certificate.
#[derive(Debug)]
struct NodeCertVerifier {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NodeCertVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Pinned seeds: exactly one certificate (by the SHA-256 of its DER) is accepted, and the
/// server must prove it holds that certificate's key (handshake signature). Host name and
/// validity dates are not checked: the pin designates the one certificate we accept.
#[derive(Debug)]
struct PinnedCertVerifier {
    pin: CertPin,
    provider: Arc<CryptoProvider>,
}

/// Why a pinned seed's certificate was refused.
#[derive(Debug, thiserror::Error)]
#[error("certificate does not match the pinned {pin} (got {got})")]
struct PinMismatch {
    pin: CertPin,
    got: CertPin,
}

impl ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pin.matches(end_entity) {
            Ok(ServerCertVerified::assertion())
        } else {
            let mismatch = PinMismatch {
                pin: self.pin,
                got: CertPin::of_certificate(end_entity),
            };
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(mismatch)),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socks5_proxies_need_a_socks_scheme_host_and_port() {
        assert!(Socks5Proxy::parse("socks5h://127.0.0.1:9050").is_ok());
        assert!(Socks5Proxy::parse("socks5://user:pw@proxy.example:1080").is_ok());
        for bad in [
            "127.0.0.1:9050",
            "http://127.0.0.1:9050",
            "socks5h://127.0.0.1",
            "",
        ] {
            assert!(Socks5Proxy::parse(bad).is_err(), "{bad}");
        }
        let proxy = Socks5Proxy::parse("socks5h://user:secret@127.0.0.1:9050").unwrap();
        assert!(!format!("{proxy:?}").contains("secret"));
    }

    #[test]
    fn error_chains_keep_every_reason_once() {
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let outer = std::io::Error::other(inner);
        assert_eq!(error_chain(&outer), "refused");
    }
}
