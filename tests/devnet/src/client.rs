//! A minimal HTTP(S) client: how nodes reach each other (onion relays, swarm replication) and
//! the file server, and what the devnet's own tests and benchmark use to talk to it.
//!
//! It is deliberately *not* a Session client network stack: it POSTs bytes to a URL and hands
//! back status, headers and body. TLS follows [`crate::tls`]: no verification toward service
//! nodes, a pin toward the seed. Connections are pooled (keep-alive).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use http_body_util::{BodyExt as _, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::DevnetError;

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No answer within the timeout.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// Connecting, TLS, or the exchange itself failed (refused, reset, closed early).
    #[error("{0}")]
    Transport(String),
    /// The URL or request could not be built.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl HttpAnswer {
    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The `content-type` header, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }
}

/// A pooled HTTP/1.1 client over rustls (ring).
#[derive(Clone, Debug)]
pub struct HttpsClient {
    /// hyper's pooling client.
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpsClient {
    /// A client that accepts any server certificate: for service nodes (self-signed) and plain
    /// `http://` URLs.
    pub fn insecure() -> Result<HttpsClient, DevnetError> {
        Ok(HttpsClient::with_config(crate::tls::insecure_client()?))
    }

    /// A client that accepts only the certificate pinned by `pin` (`sha256:<hex of DER>`): for
    /// the seed.
    pub fn pinned(pin: &str) -> Result<HttpsClient, DevnetError> {
        Ok(HttpsClient::with_config(crate::tls::pinned_client(pin)?))
    }

    fn with_config(config: rustls::ClientConfig) -> HttpsClient {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        HttpsClient { inner }
    }

    /// POSTs `body` to `url` with `headers`, waiting at most `timeout`.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<HttpAnswer, ClientError> {
        self.request(Method::POST, url, headers, body.into(), timeout)
            .await
    }

    /// GETs `url`, waiting at most `timeout`.
    pub async fn get(&self, url: &str, timeout: Duration) -> Result<HttpAnswer, ClientError> {
        self.request(Method::GET, url, &[], Bytes::new(), timeout)
            .await
    }

    /// Any request.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<HttpAnswer, ClientError> {
        let mut builder = hyper::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
        let exchange = async {
            let response = self
                .inner
                .request(request)
                .await
                .map_err(|e| ClientError::Transport(error_chain(&e)))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| ClientError::Transport(error_chain(&e)))?
                .to_bytes();
            Ok(HttpAnswer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
    }
}

/// An error and its sources, `: `-separated (hyper's own Display is terse).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
