//! Ed25519/X25519 key pairs of service nodes and the file server, persisted so that a restarted
//! devnet keeps its identities.
//!
//! A node's X25519 key is the Montgomery form of its Ed25519 key, as on the real network (the
//! onion layer a client encrypts to a node uses the X25519 key listed next to its Ed25519 key).
//! The derivation is `sessiond_protocol::Identity`'s, from a random 32-byte seed.

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use sessiond_protocol::{Identity, Seed};
use zeroize::Zeroizing;

use crate::error::DevnetError;

/// A server's key pairs (service node or file server).
#[derive(Clone)]
pub struct ServerKeys {
    /// Signs per-node results; its X25519 half opens onion layers.
    identity: Identity,
}

impl ServerKeys {
    /// Keys from a 32-byte Ed25519 seed.
    pub fn from_seed(seed: &[u8; 32]) -> Result<ServerKeys, DevnetError> {
        let seed = Seed::from_bytes(seed).map_err(|e| DevnetError::KeyMaterial {
            path: "seed".into(),
            reason: e.to_string(),
        })?;
        Ok(ServerKeys {
            identity: Identity::from_seed(&seed),
        })
    }

    /// Fresh random keys.
    pub fn generate() -> Result<ServerKeys, DevnetError> {
        let seed = Zeroizing::new(crate::rng::bytes::<32>()?);
        ServerKeys::from_seed(&seed)
    }

    /// Loads the seed stored at `path` (64 hex digits), or generates keys and stores their seed
    /// there (mode 0600).
    pub fn load_or_generate(path: &Path) -> Result<ServerKeys, DevnetError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let mut seed = Zeroizing::new([0u8; 32]);
                hex::decode_to_slice(text.trim(), seed.as_mut_slice()).map_err(|e| {
                    DevnetError::KeyMaterial {
                        path: path.display().to_string(),
                        reason: format!("not a 32-byte hex seed: {e}"),
                    }
                })?;
                ServerKeys::from_seed(&seed)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let seed = Zeroizing::new(crate::rng::bytes::<32>()?);
                let keys = ServerKeys::from_seed(&seed)?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| DevnetError::io("creating key file", path, e))?;
                let text = Zeroizing::new(hex::encode(seed.as_slice()));
                file.write_all(text.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| DevnetError::io("writing key file", path, e))?;
                Ok(keys)
            }
            Err(e) => Err(DevnetError::io("reading key file", path, e)),
        }
    }

    /// The Ed25519 public key (how nodes are named: `destination`, swarm maps, …).
    pub fn ed25519_public(&self) -> [u8; 32] {
        self.identity.ed25519_public()
    }

    /// The X25519 public key (what onion layers are encrypted to).
    pub fn x25519_public(&self) -> [u8; 32] {
        self.identity.x25519_public()
    }

    /// The X25519 secret key, for opening onion layers.
    pub(crate) fn x25519_secret(&self) -> Zeroizing<[u8; 32]> {
        self.identity.x25519_secret_key()
    }

    /// An Ed25519 signature by this server (per-node results of recursive requests).
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.identity.sign(message)
    }
}

impl fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerKeys({})", hex::encode(self.ed25519_public()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_across_loads_and_x25519_matches_the_ed25519_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let a = ServerKeys::load_or_generate(&path).unwrap();
        let b = ServerKeys::load_or_generate(&path).unwrap();
        assert_eq!(a.ed25519_public(), b.ed25519_public());
        assert_eq!(
            sessiond_protocol::ed25519_public_to_x25519(&a.ed25519_public()).unwrap(),
            a.x25519_public()
        );
        std::fs::write(&path, "zz").unwrap();
        assert!(ServerKeys::load_or_generate(&path).is_err());
    }
}
