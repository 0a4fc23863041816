//! The production transport against real HTTPS servers on loopback: which certificates it
//! accepts (service nodes: any; seeds: the pinned one, or a chain to the system roots), body
//! limits, timeouts, and the SOCKS5 proxy.
//!
//! These tests use real sockets, so they run on real (not paused) tokio time, each bounded by
//! `TEST_TIMEOUT`.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sessiond_network::seed::fetch_from_seed;
use sessiond_network::transport::{HttpsTransport, Socks5Proxy, Transport, TransportConfig};
use sessiond_network::{
    CertPin, Clock, NetworkError, NodeId, SeedNode, SeedTrust, ServiceNode, TransportError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TEST_TIMEOUT: Duration = Duration::from_secs(20);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What the fake server does once a request has arrived.
#[derive(Clone)]
enum Behaviour {
    /// Answer 200 with this body.
    Answer(Vec<u8>),
    /// Never answer.
    Hang,
}

/// An HTTPS server on 127.0.0.1 with a fresh self-signed certificate. Returns its port and
/// the certificate's DER.
async fn https_server(behaviour: Behaviour) -> (u16, Vec<u8>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_der = certified.cert.der().to_vec();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![CertificateDer::from(cert_der.clone())], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let behaviour = behaviour.clone();
            tokio::spawn(async move {
                // A refused handshake is what some tests expect: just drop the connection.
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    if read_request(&mut tls).await.is_none() {
                        return;
                    }
                    match behaviour {
                        Behaviour::Answer(body) => {
                            let head = format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            );
                            let _ = tls.write_all(head.as_bytes()).await;
                            let _ = tls.write_all(&body).await;
                            let _ = tls.shutdown().await;
                        }
                        Behaviour::Hang => std::future::pending::<()>().await,
                    }
                }
            });
        }
    });
    (port, cert_der)
}

/// Reads one HTTP/1.1 request (headers and a Content-Length body); returns the body.
async fn read_request<S: AsyncReadExt + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let n = stream.read(&mut buf).await.ok()?;
                if n == 0 {
                    return None;
                }
                data.extend_from_slice(&buf[..n]);
            }
            return Some(data[end + 4..end + 4 + length].to_vec());
        }
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
}

fn node_at(port: u16) -> ServiceNode {
    ServiceNode {
        ip: Ipv4Addr::LOCALHOST,
        storage_port: port,
        ed25519: NodeId([1; 32]),
        x25519: [2; 32],
        swarm_id: None,
    }
}

fn transport(config: TransportConfig) -> HttpsTransport {
    HttpsTransport::new(config, Clock::system()).unwrap()
}

fn seed_list_body() -> Vec<u8> {
    serde_json::json!({"result": {"service_node_states": [{
        "public_ip": "1.2.3.4", "storage_port": 22021,
        "pubkey_ed25519": "11".repeat(32), "pubkey_x25519": "22".repeat(32),
        "swarm_id": 18446744073709551614u64
    }]}})
    .to_string()
    .into_bytes()
}

async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("test timed out");
}

#[tokio::test]
async fn a_service_nodes_self_signed_certificate_is_accepted() {
    bounded(async {
        let (port, _) = https_server(Behaviour::Answer(b"{\"t\":1}".to_vec())).await;
        let response = transport(TransportConfig::default())
            .post_node(
                &node_at(port),
                "/storage_rpc/v1",
                b"{}".to_vec(),
                REQUEST_TIMEOUT,
            )
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"{\"t\":1}");
    })
    .await;
}

#[tokio::test]
async fn a_pinned_seed_with_the_right_pin_answers() {
    bounded(async {
        let (port, cert) = https_server(Behaviour::Answer(seed_list_body())).await;
        let pin = CertPin::of_certificate(&cert);
        // The pin as the devnet writes it, parsed back.
        let pin: CertPin = pin.to_string().parse().unwrap();
        let seed = SeedNode::new(
            &format!("https://127.0.0.1:{port}/json_rpc"),
            SeedTrust::Pinned(pin),
        )
        .unwrap();
        let nodes = fetch_from_seed(
            &transport(TransportConfig::default()),
            &seed,
            REQUEST_TIMEOUT,
        )
        .await
        .unwrap();
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].swarm_id, Some(u64::MAX - 1));
    })
    .await;
}

#[tokio::test]
async fn a_pinned_seed_with_a_wrong_pin_is_refused() {
    bounded(async {
        let (port, cert) = https_server(Behaviour::Answer(seed_list_body())).await;
        let mut wrong = CertPin::of_certificate(&cert);
        wrong.0[0] ^= 1;
        let seed = SeedNode::new(
            &format!("https://127.0.0.1:{port}/json_rpc"),
            SeedTrust::Pinned(wrong),
        )
        .unwrap();
        let error = fetch_from_seed(
            &transport(TransportConfig::default()),
            &seed,
            REQUEST_TIMEOUT,
        )
        .await
        .unwrap_err();
        match &error {
            NetworkError::Transport {
                source: TransportError::Certificate { reason },
                ..
            } => assert!(reason.contains("pinned"), "{reason}"),
            other => panic!("expected a refused certificate, got {other:?}"),
        }
        assert_eq!(
            sessiond_protocol::HasKind::kind(&error),
            sessiond_protocol::ErrorKind::BadSignature
        );
    })
    .await;
}

#[tokio::test]
async fn a_seed_checked_against_system_roots_refuses_a_self_signed_certificate() {
    bounded(async {
        let (port, _) = https_server(Behaviour::Answer(seed_list_body())).await;
        let seed = SeedNode::new(
            &format!("https://localhost:{port}/json_rpc"),
            SeedTrust::SystemRoots,
        )
        .unwrap();
        let error = transport(TransportConfig::default())
            .post_seed(&seed, b"{}".to_vec(), REQUEST_TIMEOUT)
            .await
            .unwrap_err();
        assert!(
            matches!(error, TransportError::Certificate { .. }),
            "{error:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    bounded(async {
        let (port, _) = https_server(Behaviour::Answer(vec![b'x'; 10_000])).await;
        let config = TransportConfig {
            max_response_bytes: 1000,
            ..TransportConfig::default()
        };
        let error = transport(config)
            .post_node(
                &node_at(port),
                "/storage_rpc/v1",
                b"{}".to_vec(),
                REQUEST_TIMEOUT,
            )
            .await
            .unwrap_err();
        assert_eq!(error, TransportError::BodyTooLarge { limit: 1000 });
    })
    .await;
}

#[tokio::test]
async fn a_node_that_never_answers_times_out() {
    bounded(async {
        let (port, _) = https_server(Behaviour::Hang).await;
        let timeout = Duration::from_millis(300);
        let error = transport(TransportConfig::default())
            .post_node(&node_at(port), "/storage_rpc/v1", b"{}".to_vec(), timeout)
            .await
            .unwrap_err();
        assert_eq!(error, TransportError::Timeout { after: timeout });
    })
    .await;
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    bounded(async {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let error = transport(TransportConfig::default())
            .post_node(
                &node_at(port),
                "/storage_rpc/v1",
                b"{}".to_vec(),
                REQUEST_TIMEOUT,
            )
            .await
            .unwrap_err();
        assert!(matches!(error, TransportError::Connect { .. }), "{error:?}");
    })
    .await;
}

/// A minimal SOCKS5 proxy (no authentication, CONNECT to IPv4 only) that counts connections.
async fn socks5_proxy(connections: Arc<AtomicUsize>) -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut greeting = [0u8; 2];
                client.read_exact(&mut greeting).await.ok()?;
                let mut methods = vec![0u8; usize::from(greeting[1])];
                client.read_exact(&mut methods).await.ok()?;
                client.write_all(&[5, 0]).await.ok()?;
                let mut request = [0u8; 4];
                client.read_exact(&mut request).await.ok()?;
                if request[1] != 1 || request[3] != 1 {
                    return None;
                }
                let mut addr = [0u8; 6];
                client.read_exact(&mut addr).await.ok()?;
                let target = SocketAddr::from((
                    Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]),
                    u16::from_be_bytes([addr[4], addr[5]]),
                ));
                let mut upstream = TcpStream::connect(target).await.ok()?;
                client
                    .write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])
                    .await
                    .ok()?;
                tokio::io::copy_bidirectional(&mut client, &mut upstream)
                    .await
                    .ok()?;
                Some(())
            });
        }
    });
    port
}

#[tokio::test]
async fn with_a_socks5_proxy_nodes_and_seeds_are_reached_through_it() {
    bounded(async {
        let (node_port, _) = https_server(Behaviour::Answer(b"{}".to_vec())).await;
        let (seed_port, seed_cert) = https_server(Behaviour::Answer(seed_list_body())).await;
        let connections = Arc::new(AtomicUsize::new(0));
        let proxy_port = socks5_proxy(connections.clone()).await;
        let config = TransportConfig {
            proxy: Some(Socks5Proxy::parse(&format!("socks5h://127.0.0.1:{proxy_port}")).unwrap()),
            ..TransportConfig::default()
        };
        let transport = transport(config);
        let response = transport
            .post_node(
                &node_at(node_port),
                "/storage_rpc/v1",
                b"{}".to_vec(),
                REQUEST_TIMEOUT,
            )
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(connections.load(Ordering::SeqCst), 1);
        let seed = SeedNode::new(
            &format!("https://127.0.0.1:{seed_port}/json_rpc"),
            SeedTrust::Pinned(CertPin::of_certificate(&seed_cert)),
        )
        .unwrap();
        fetch_from_seed(&transport, &seed, REQUEST_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(connections.load(Ordering::SeqCst), 2);
    })
    .await;
}
