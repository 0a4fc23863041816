//! TLS for the devnet: self-signed certificates for every service node and the seed (as on the
//! real network), rustls configurations for the listeners, and the two client policies.
//!
//! - Toward service nodes a client does not verify certificates (they are self-signed; the
//!   onion layers encrypted to the node's X25519 key give authenticity) — [`insecure_client`].
//! - Toward the seed a client pins the certificate: [`pinned_client`] accepts exactly the
//!   certificate whose DER encoding hashes to the pin.
//!
//! A pin is written `sha256:<hex>` where `<hex>` is the SHA-256 of the **certificate's DER
//! encoding** (the usual certificate fingerprint), see [`CertKey::pin`].
//!
//! Everything uses rustls' *ring* provider explicitly.

use std::path::Path;
use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::SignatureScheme;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use sha2::{Digest as _, Sha256};

use crate::error::DevnetError;

/// A certificate and its private key.
pub struct CertKey {
    /// The certificate, DER.
    cert: CertificateDer<'static>,
    /// Its PKCS#8 private key, DER.
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for CertKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CertKey({})", self.pin())
    }
}

impl Clone for CertKey {
    fn clone(&self) -> CertKey {
        CertKey {
            cert: self.cert.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl CertKey {
    /// A new self-signed certificate for `127.0.0.1` and `localhost` (ECDSA P-256).
    pub fn generate() -> Result<CertKey, DevnetError> {
        let certified = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .map_err(|e| DevnetError::KeyMaterial {
            path: "self-signed certificate".into(),
            reason: e.to_string(),
        })?;
        let key = PrivateKeyDer::try_from(certified.signing_key.serialize_der()).map_err(|e| {
            DevnetError::KeyMaterial {
                path: "self-signed certificate key".into(),
                reason: e.to_string(),
            }
        })?;
        Ok(CertKey {
            cert: certified.cert.der().clone(),
            key,
        })
    }

    /// Loads `cert.pem` and `key.pem` from `dir`, or generates them and stores them there.
    pub fn load_or_generate(dir: &Path) -> Result<CertKey, DevnetError> {
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        if cert_path.exists() && key_path.exists() {
            let bad = |path: &Path, e: rustls::pki_types::pem::Error| DevnetError::KeyMaterial {
                path: path.display().to_string(),
                reason: e.to_string(),
            };
            let cert = CertificateDer::from_pem_file(&cert_path).map_err(|e| bad(&cert_path, e))?;
            let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| bad(&key_path, e))?;
            return Ok(CertKey { cert, key });
        }
        let generated = CertKey::generate()?;
        let cert_pem = pem_block("CERTIFICATE", generated.cert.as_ref());
        let key_pem = pem_block("PRIVATE KEY", generated.key.secret_der());
        crate::fsutil::write_private(&key_path, key_pem.as_bytes())?;
        crate::fsutil::write_atomic(&cert_path, cert_pem.as_bytes())?;
        Ok(generated)
    }

    /// `sha256:<hex>` of the certificate's DER encoding.
    pub fn pin(&self) -> String {
        pin_of(self.cert.as_ref())
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        self.cert.as_ref()
    }

    /// A rustls server configuration serving this certificate (HTTP/1.1).
    pub(crate) fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, DevnetError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| DevnetError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], self.key.clone_key())
            .map_err(|e| DevnetError::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// `sha256:<hex>` of `der`.
pub fn pin_of(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

/// PEM text of one DER block.
fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// rustls' ring provider.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration that accepts any server certificate: right toward service nodes only.
pub fn insecure_client() -> Result<rustls::ClientConfig, DevnetError> {
    client_with(Verifier {
        pin: None,
        provider: provider(),
    })
}

/// A client configuration that accepts exactly the certificate pinned by `pin`
/// (`sha256:<hex of the certificate DER>`), whatever its name: how clients reach the seed.
pub fn pinned_client(pin: &str) -> Result<rustls::ClientConfig, DevnetError> {
    let hex_part = pin
        .strip_prefix("sha256:")
        .ok_or_else(|| DevnetError::Tls(format!("pin {pin:?} does not start with sha256:")))?;
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut digest)
        .map_err(|_| DevnetError::Tls(format!("pin {pin:?} is not 32 bytes of hex")))?;
    client_with(Verifier {
        pin: Some(digest),
        provider: provider(),
    })
}

fn client_with(verifier: Verifier) -> Result<rustls::ClientConfig, DevnetError> {
    // ALPN is left to the connector (it announces the HTTP versions it speaks).
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| DevnetError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// Accepts any certificate (`pin: None`) or exactly the pinned one; handshake signatures are
/// always checked against the presented certificate.
#[derive(Debug)]
struct Verifier {
    /// SHA-256 of the accepted certificate's DER.
    pin: Option<[u8; 32]>,
    /// For checking handshake signatures.
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.pin {
            None => Ok(ServerCertVerified::assertion()),
            Some(pin) if Sha256::digest(end_entity.as_ref()).as_slice() == pin => {
                Ok(ServerCertVerified::assertion())
            }
            Some(_) => Err(rustls::Error::General(
                "server certificate does not match the pin".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
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
    fn certificates_persist_and_pins_are_sha256_of_the_der() {
        let dir = tempfile::tempdir().unwrap();
        let a = CertKey::load_or_generate(dir.path()).unwrap();
        let b = CertKey::load_or_generate(dir.path()).unwrap();
        assert_eq!(a.pin(), b.pin());
        assert_eq!(a.pin(), pin_of(b.cert_der()));
        assert!(a.pin().starts_with("sha256:") && a.pin().len() == 7 + 64);
        assert!(a.server_config().is_ok());
        assert!(pinned_client(&a.pin()).is_ok());
        assert!(pinned_client("md5:00").is_err());
        assert!(pinned_client("sha256:00").is_err());
    }
}
