//! HTTP(S) server plumbing shared by the service nodes, the seed and the file server:
//! accept loop with a stop signal, TLS handshake, HTTP/1.1, the 10 MiB body limit (413), and a
//! small request/reply model the handlers use.
//!
//! A handler may also answer [`Outcome::Drop`]: the connection is closed without a response
//! (the `drop` fault), which a client sees as a reset or an early EOF.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument as _, debug, info_span};

/// Largest request body accepted anywhere (the storage server's `MAX_REQUEST_BODY_SIZE`);
/// bigger bodies get 413 `Request body too large`.
pub const MAX_BODY_LEN: usize = 10 * 1024 * 1024;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A request with its whole body read.
#[derive(Debug)]
pub(crate) struct Request {
    /// HTTP method.
    pub method: Method,
    /// Path without the query string.
    pub path: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// The body (at most [`MAX_BODY_LEN`] bytes).
    pub body: Bytes,
}

/// An answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers (name, value), `content-type` among them.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// A `text/plain` answer (what the storage server sends for every error).
    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply::bytes(status, "text/plain", Bytes::from(body.into()))
    }

    /// An `application/json` answer.
    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply::bytes(status, "application/json", Bytes::from(body.to_string()))
    }

    /// An answer with the given content type.
    pub fn bytes(status: u16, content_type: &str, body: Bytes) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body,
        }
    }
}

/// What a handler does with a request.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Answer it.
    Reply(Reply),
    /// Close the connection without answering.
    Drop,
}

/// Something that answers requests of one listener.
pub(crate) trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, request: Request) -> impl Future<Output = Outcome> + Send;
}

/// Why a connection was closed without an answer (the `drop` fault).
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// Resolves once `stop` is true (or its sender is gone).
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Serves `listener` until `stop` turns true; every open connection is closed then too.
/// `tls` = `None` serves plain HTTP (the file server).
pub(crate) async fn serve<H: Handler>(
    name: String,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    handler: Arc<H>,
    stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(stop.clone()) => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                debug!(listener = %name, error = %e, "accept failed");
                // EMFILE and the like: back off a little instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let tls = tls.clone();
        let stop = stop.clone();
        let span = info_span!("conn", listener = %name, %peer);
        tokio::spawn(
            async move {
                let work = async move {
                    match tls {
                        Some(acceptor) => {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                                .await
                            {
                                Ok(Ok(tls_stream)) => {
                                    serve_connection(TokioIo::new(tls_stream), handler, peer).await;
                                }
                                Ok(Err(e)) => debug!(error = %e, "TLS handshake failed"),
                                Err(_) => debug!("TLS handshake timed out"),
                            }
                        }
                        None => serve_connection(TokioIo::new(stream), handler, peer).await,
                    }
                };
                tokio::select! {
                    () = work => {}
                    () = stopped(stop) => {}
                }
            }
            .instrument(span),
        );
    }
}

async fn serve_connection<I, H>(io: TokioIo<I>, handler: Arc<H>, peer: SocketAddr)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    H: Handler,
{
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        let handler = handler.clone();
        async move { answer(handler, request).await }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service)
        .await
    {
        debug!(%peer, error = %e, "connection ended");
    }
}

/// Reads the body within the limit, runs the handler and builds the hyper response.
async fn answer<H: Handler>(
    handler: Arc<H>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()));
    let reply = match declared {
        Some(None) => Some(Reply::text(400, "invalid Content-Length")),
        Some(Some(len)) if len > MAX_BODY_LEN as u64 => {
            Some(Reply::text(413, "Request body too large"))
        }
        _ => None,
    };
    let reply = match reply {
        Some(reply) => reply,
        None => match Limited::new(body, MAX_BODY_LEN).collect().await {
            Ok(collected) => {
                let request = Request {
                    method: parts.method,
                    path: parts.uri.path().to_owned(),
                    headers: parts.headers,
                    body: collected.to_bytes(),
                };
                match handler.handle(request).await {
                    Outcome::Reply(reply) => reply,
                    Outcome::Drop => return Err(Dropped),
                }
            }
            Err(e) => {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    Reply::text(413, "Request body too large")
                } else {
                    // The client went away mid-body: nobody to answer.
                    return Err(Dropped);
                }
            }
        },
    };
    Ok(to_hyper(reply))
}

fn to_hyper(reply: Reply) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(reply.body));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }
    headers.insert(
        http::header::SERVER,
        http::HeaderValue::from_static("sessiond-devnet"),
    );
    response
}

/// Binds `ip:port` on loopback (port 0 = any free port).
pub(crate) async fn bind(
    what: &str,
    ip: std::net::Ipv4Addr,
    port: u16,
) -> Result<TcpListener, crate::DevnetError> {
    let addr = SocketAddr::from((ip, port));
    TcpListener::bind(addr)
        .await
        .map_err(|source| crate::DevnetError::Bind {
            what: what.to_owned(),
            addr: addr.to_string(),
            source,
        })
}
