//! The file backend: every account's secrets in one file, for headless servers.
//!
//! It exists because a server usually has no Secret Service and must come back after a
//! reboot without anyone typing into it. The file (typically `<data_dir>/keystore`) is the
//! only persistent copy of the secrets besides the recovery phrases, so it is:
//!
//! - private: created with mode 0600; a file accessible to group or others is refused
//!   ([`KeystoreError::InsecurePermissions`]) rather than used;
//! - replaced atomically: each change writes a temporary file in the same directory,
//!   fsyncs it, renames it over the old one and fsyncs the directory, so a crash leaves
//!   either the old or the new file, never a torn one;
//! - optionally encrypted: with a passphrase, the payload is sealed with XChaCha20-Poly1305
//!   under a key derived by Argon2id (64 MiB, 3 passes, 1 lane by default; the parameters
//!   and the 16-byte salt are in the header, so they can change without breaking old
//!   files), with a fresh random 24-byte nonce at every write and the header as associated
//!   data. Without a passphrase the secrets are on disk in plain text, protected only by
//!   the file mode: the user asked for that explicitly, and a warning is logged at open.
//!
//! A plain-text file opened with a passphrase is encrypted on the spot; an encrypted file
//! is never decrypted back to plain text. One process at a time uses the file (the daemon
//! is single-instance); within the process a mutex serializes the read-modify-write cycles.
//!
//! # Format (version 1)
//!
//! ```text
//! magic "SESSKEYS" | version u8 = 1 | cipher u8
//! cipher 0 (plain):  payload
//! cipher 1 (sealed): m_cost_kib u32le | t_cost u32le | p_cost u32le | salt_len u8 = 16
//!                    | salt [16] | nonce [24] | XChaCha20-Poly1305(payload) with tag,
//!                    associated data = every header byte before the ciphertext
//! payload: count u32le, then per secret:
//!          id_len u8 = 66 | Account ID (lowercase hex) | kind u8 (1 seed, 2 db-key)
//!          | len u32le | secret bytes
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use chacha20poly1305::aead::AeadInOut as _;
use chacha20poly1305::{KeyInit as _, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use super::{Keystore, KeystoreError, KeystoreKind, KeystoreStatus, SecretKind, check_account_id};

const BACKEND: KeystoreKind = KeystoreKind::File;
const MAGIC: &[u8; 8] = b"SESSKEYS";
const FORMAT_VERSION: u8 = 1;
const CIPHER_NONE: u8 = 0;
const CIPHER_ARGON2ID_XCHACHA20POLY1305: u8 = 1;
/// magic + version + cipher.
const PREFIX_LEN: usize = MAGIC.len() + 2;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;
/// The header of a sealed file: prefix, three u32 KDF parameters, salt length, salt, nonce.
const SEALED_HEADER_LEN: usize = PREFIX_LEN + 12 + 1 + SALT_LEN + NONCE_LEN;
/// Far more than any number of accounts needs; refuses to read a huge file into memory.
const MAX_FILE_LEN: u64 = 16 * 1024 * 1024;
const ACCOUNT_ID_LEN: usize = 66;

/// Argon2id cost parameters, stored in the header of every sealed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Number of passes.
    pub t_cost: u32,
    /// Degree of parallelism (lanes).
    pub p_cost: u32,
}

impl KdfParams {
    /// What new files get: 64 MiB, 3 passes, 1 lane (about a quarter of a second).
    pub const DEFAULT: KdfParams = KdfParams {
        m_cost_kib: 64 * 1024,
        t_cost: 3,
        p_cost: 1,
    };

    /// Upper bounds accepted when reading a file, so that a crafted header cannot make
    /// the daemon allocate gigabytes or spin for hours.
    const MAX: KdfParams = KdfParams {
        m_cost_kib: 2 * 1024 * 1024,
        t_cost: 64,
        p_cost: 64,
    };

    fn within_bounds(self) -> bool {
        (1..=Self::MAX.m_cost_kib).contains(&self.m_cost_kib)
            && (1..=Self::MAX.t_cost).contains(&self.t_cost)
            && (1..=Self::MAX.p_cost).contains(&self.p_cost)
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams::DEFAULT
    }
}

/// Secrets in one file, optionally sealed with a passphrase.
pub struct FileKeystore {
    /// The keystore file.
    path: PathBuf,
    /// Whether a passphrase seals the file (fixed at open; shown by `Debug`).
    sealed: bool,
    /// Everything a read-modify-write cycle needs, behind the one lock that serializes them.
    state: Mutex<State>,
    /// Test hook: fail every write after the temporary file is synced, before the rename.
    #[cfg(test)]
    fail_before_rename: std::sync::atomic::AtomicBool,
}

struct State {
    /// The passphrase, kept so that a file re-sealed with another salt can still be read.
    passphrase: Option<Zeroizing<Vec<u8>>>,
    /// KDF parameters for a file this keystore seals for the first time.
    new_params: KdfParams,
    /// The key for the file's current salt and parameters (Argon2 is slow: derive once).
    key: Option<DerivedKey>,
}

/// A key derived from the passphrase, with what it was derived for.
struct DerivedKey {
    /// The Argon2id parameters used.
    params: KdfParams,
    /// The salt used (the file's).
    salt: [u8; SALT_LEN],
    /// The XChaCha20-Poly1305 key.
    key: Zeroizing<[u8; KEY_LEN]>,
}

/// The decrypted contents: one secret per (Account ID, kind). Wiped on drop.
type Secrets = BTreeMap<(String, SecretKind), Zeroizing<Vec<u8>>>;

impl std::fmt::Debug for FileKeystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKeystore")
            .field("path", &self.path)
            .field("sealed", &self.sealed)
            .finish_non_exhaustive()
    }
}

impl FileKeystore {
    /// Open (or create) the keystore file at `path`, sealed with `passphrase` if given.
    ///
    /// Creates the file (mode 0600, no secrets) when it does not exist; its directory must.
    /// Fails with [`KeystoreError::InsecurePermissions`], [`KeystoreError::Corrupt`],
    /// [`KeystoreError::PassphraseRequired`] or [`KeystoreError::WrongPassphrase`] when
    /// the existing file cannot be used as it is.
    pub fn open(
        path: &Path,
        passphrase: Option<Zeroizing<Vec<u8>>>,
    ) -> Result<Self, KeystoreError> {
        Self::open_with_params(path, passphrase, KdfParams::DEFAULT)
    }

    /// Like [`open`](Self::open), with the Argon2id parameters to use if this call seals
    /// the file for the first time (an existing sealed file keeps its own parameters).
    /// Tests use it with cheap parameters; production uses [`KdfParams::DEFAULT`].
    pub fn open_with_params(
        path: &Path,
        passphrase: Option<Zeroizing<Vec<u8>>>,
        new_params: KdfParams,
    ) -> Result<Self, KeystoreError> {
        if path.file_name().is_none() {
            return Err(KeystoreError::Corrupt {
                path: path.to_owned(),
                reason: "the keystore path does not name a file".to_owned(),
            });
        }
        let sealed = passphrase.is_some();
        let keystore = FileKeystore {
            path: path.to_owned(),
            sealed,
            state: Mutex::new(State {
                passphrase,
                new_params,
                key: None,
            }),
            #[cfg(test)]
            fail_before_rename: std::sync::atomic::AtomicBool::new(false),
        };
        {
            let mut state = keystore.lock();
            match keystore.read(&mut state)? {
                None => {
                    keystore.write(&mut state, &Secrets::new())?;
                    tracing::info!(path = %keystore.path.display(), sealed, "created the keystore file");
                }
                Some((secrets, was_sealed)) => {
                    if sealed && !was_sealed {
                        keystore.write(&mut state, &secrets)?;
                        tracing::info!(
                            path = %keystore.path.display(),
                            "encrypted the plain-text keystore file with the configured passphrase"
                        );
                    }
                }
            }
        }
        if !sealed {
            tracing::warn!(
                path = %keystore.path.display(),
                "the keystore file is not encrypted: account seeds are protected only by its \
                 file mode (0600); configure a passphrase to encrypt it"
            );
        }
        Ok(keystore)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a passphrase and a key cache, both valid whatever a panicking
        // holder was doing.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn io_error(&self, op: &'static str) -> impl FnOnce(std::io::Error) -> KeystoreError + '_ {
        move |source| KeystoreError::Io {
            path: self.path.clone(),
            op,
            source,
        }
    }

    fn corrupt(&self, reason: impl Into<String>) -> KeystoreError {
        KeystoreError::Corrupt {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// Read and open the file: `None` if it does not exist, else the secrets and whether
    /// the file was sealed.
    fn read(&self, state: &mut State) -> Result<Option<(Secrets, bool)>, KeystoreError> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io_error("open the keystore file")(e)),
        };
        let meta = file
            .metadata()
            .map_err(self.io_error("inspect the keystore file"))?;
        if !meta.is_file() {
            return Err(self.corrupt("it is not a regular file"));
        }
        check_mode(&self.path, meta.mode())?;
        if meta.len() > MAX_FILE_LEN {
            return Err(self.corrupt(format!("it is larger than {MAX_FILE_LEN} bytes")));
        }
        // Sized up front so that the buffer holding a plain-text file never reallocates
        // (a reallocation would leave an unwiped copy behind).
        let capacity = usize::try_from(meta.len()).unwrap_or(0) + 1;
        let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
        (&mut file)
            .take(MAX_FILE_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(self.io_error("read the keystore file"))?;
        self.decode(state, &bytes).map(Some)
    }

    fn decode(&self, state: &mut State, bytes: &[u8]) -> Result<(Secrets, bool), KeystoreError> {
        if bytes.len() < PREFIX_LEN || &bytes[..MAGIC.len()] != MAGIC {
            return Err(self.corrupt("it is not a sessiond keystore file"));
        }
        let version = bytes[MAGIC.len()];
        if version != FORMAT_VERSION {
            return Err(self.corrupt(format!(
                "format version {version} is not supported by this version of sessiond"
            )));
        }
        match bytes[MAGIC.len() + 1] {
            CIPHER_NONE => {
                let secrets = parse_payload(&bytes[PREFIX_LEN..]).map_err(|r| self.corrupt(r))?;
                Ok((secrets, false))
            }
            CIPHER_ARGON2ID_XCHACHA20POLY1305 => {
                if bytes.len() < SEALED_HEADER_LEN + TAG_LEN {
                    return Err(self.corrupt("it is truncated"));
                }
                let (header, sealed) = bytes.split_at(SEALED_HEADER_LEN);
                let u32_at = |at: usize| {
                    let mut word = [0u8; 4];
                    word.copy_from_slice(&header[at..at + 4]);
                    u32::from_le_bytes(word)
                };
                let params = KdfParams {
                    m_cost_kib: u32_at(PREFIX_LEN),
                    t_cost: u32_at(PREFIX_LEN + 4),
                    p_cost: u32_at(PREFIX_LEN + 8),
                };
                if !params.within_bounds() {
                    return Err(self.corrupt("its key derivation parameters are out of range"));
                }
                if usize::from(header[PREFIX_LEN + 12]) != SALT_LEN {
                    return Err(self.corrupt("its salt length is not 16"));
                }
                let salt_at = PREFIX_LEN + 13;
                let mut salt = [0u8; SALT_LEN];
                salt.copy_from_slice(&header[salt_at..salt_at + SALT_LEN]);
                let nonce = XNonce::try_from(&header[salt_at + SALT_LEN..SEALED_HEADER_LEN])
                    .map_err(|_| self.corrupt("its nonce is malformed"))?;

                let cipher = self.cipher_for(state, params, salt)?;
                let mut plain = Zeroizing::new(Vec::with_capacity(sealed.len()));
                plain.extend_from_slice(sealed);
                cipher
                    .decrypt_in_place(&nonce, header, &mut *plain)
                    .map_err(|_| KeystoreError::WrongPassphrase {
                        path: self.path.clone(),
                    })?;
                let secrets = parse_payload(&plain).map_err(|r| self.corrupt(r))?;
                Ok((secrets, true))
            }
            other => Err(self.corrupt(format!("its cipher {other} is unknown"))),
        }
    }

    /// The cipher for a file sealed with `params` and `salt`, deriving the key unless the
    /// cached one matches.
    fn cipher_for(
        &self,
        state: &mut State,
        params: KdfParams,
        salt: [u8; SALT_LEN],
    ) -> Result<XChaCha20Poly1305, KeystoreError> {
        let cached = state
            .key
            .as_ref()
            .is_some_and(|k| k.params == params && k.salt == salt);
        if !cached {
            let Some(passphrase) = state.passphrase.as_ref() else {
                return Err(KeystoreError::PassphraseRequired {
                    path: self.path.clone(),
                });
            };
            state.key = Some(derive_key(passphrase, params, salt)?);
        }
        let key = state
            .key
            .as_ref()
            .map(|k| &k.key)
            .ok_or_else(|| self.corrupt("internal error: no key after derivation"))?;
        XChaCha20Poly1305::new_from_slice(&key[..]).map_err(|_| KeystoreError::Backend {
            backend: BACKEND,
            op: "set up the cipher",
            reason: "the derived key has the wrong length".to_owned(),
        })
    }

    /// Serialize (and seal, with a passphrase) `secrets` into the bytes of a file.
    fn encode(
        &self,
        state: &mut State,
        secrets: &Secrets,
    ) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        let payload = serialize_payload(secrets);
        if state.passphrase.is_none() {
            let mut out = Zeroizing::new(Vec::with_capacity(PREFIX_LEN + payload.len()));
            out.extend_from_slice(MAGIC);
            out.extend_from_slice(&[FORMAT_VERSION, CIPHER_NONE]);
            out.extend_from_slice(&payload);
            return Ok(out);
        }
        // Keep the file's salt and parameters (and so the cached key); a fresh nonce per
        // write is what XChaCha20's 192-bit random nonces are made for.
        let (params, salt) = match state.key.as_ref() {
            Some(k) => (k.params, k.salt),
            None => {
                let mut salt = [0u8; SALT_LEN];
                fill_random(&mut salt, "generate a salt")?;
                (state.new_params, salt)
            }
        };
        let cipher = self.cipher_for(state, params, salt)?;
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce, "generate a nonce")?;

        let mut out = Zeroizing::new(Vec::with_capacity(
            SEALED_HEADER_LEN + payload.len() + TAG_LEN,
        ));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[FORMAT_VERSION, CIPHER_ARGON2ID_XCHACHA20POLY1305]);
        out.extend_from_slice(&params.m_cost_kib.to_le_bytes());
        out.extend_from_slice(&params.t_cost.to_le_bytes());
        out.extend_from_slice(&params.p_cost.to_le_bytes());
        out.push(SALT_LEN as u8);
        out.extend_from_slice(&salt);
        out.extend_from_slice(&nonce);

        let mut sealed = Zeroizing::new(Vec::with_capacity(payload.len() + TAG_LEN));
        sealed.extend_from_slice(&payload);
        cipher
            .encrypt_in_place(&XNonce::from(nonce), &out, &mut *sealed)
            .map_err(|_| KeystoreError::Backend {
                backend: BACKEND,
                op: "encrypt the keystore",
                reason: "the payload is too long".to_owned(),
            })?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Replace the file with `secrets`, atomically and durably.
    fn write(&self, state: &mut State, secrets: &Secrets) -> Result<(), KeystoreError> {
        let bytes = self.encode(state, secrets)?;
        crate::fsutil::write_atomic_with_hook(&self.path, &bytes, 0o600, |tmp| {
            self.before_rename(tmp)
        })
        .map_err(|e| KeystoreError::Io {
            path: e.path,
            op: e.op,
            source: e.source,
        })
    }

    #[cfg(not(test))]
    fn before_rename(&self, _tmp: &Path) -> std::io::Result<()> {
        Ok(())
    }

    #[cfg(test)]
    fn before_rename(&self, _tmp: &Path) -> std::io::Result<()> {
        if self
            .fail_before_rename
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(std::io::Error::other("injected failure"));
        }
        Ok(())
    }
}

/// Refuse a file that group or others can access in any way.
fn check_mode(path: &Path, mode: u32) -> Result<(), KeystoreError> {
    if mode & 0o077 != 0 {
        return Err(KeystoreError::InsecurePermissions {
            path: path.to_owned(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

fn derive_key(
    passphrase: &[u8],
    params: KdfParams,
    salt: [u8; SALT_LEN],
) -> Result<DerivedKey, KeystoreError> {
    let kdf_error = |e: argon2::Error| KeystoreError::Backend {
        backend: BACKEND,
        op: "derive the key from the passphrase",
        reason: e.to_string(),
    };
    let argon_params = argon2::Params::new(
        params.m_cost_kib,
        params.t_cost,
        params.p_cost,
        Some(KEY_LEN),
    )
    .map_err(kdf_error)?;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon_params,
    );
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    argon
        .hash_password_into(passphrase, &salt, &mut key[..])
        .map_err(kdf_error)?;
    Ok(DerivedKey { params, salt, key })
}

fn fill_random(buf: &mut [u8], op: &'static str) -> Result<(), KeystoreError> {
    getrandom::fill(buf).map_err(|e| KeystoreError::Backend {
        backend: BACKEND,
        op,
        reason: format!("the OS random number generator failed: {e}"),
    })
}

fn kind_code(kind: SecretKind) -> u8 {
    match kind {
        SecretKind::Seed => 1,
        SecretKind::DatabaseKey => 2,
    }
}

fn serialize_payload(secrets: &Secrets) -> Zeroizing<Vec<u8>> {
    let len = 4 + secrets
        .values()
        .map(|secret| 1 + ACCOUNT_ID_LEN + 1 + 4 + secret.len())
        .sum::<usize>();
    // Exact capacity: no reallocation, so no stray copy of a secret.
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    out.extend_from_slice(
        &u32::try_from(secrets.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    for ((account_id, kind), secret) in secrets {
        out.push(ACCOUNT_ID_LEN as u8);
        out.extend_from_slice(account_id.as_bytes());
        out.push(kind_code(*kind));
        out.extend_from_slice(
            &u32::try_from(secret.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        out.extend_from_slice(secret);
    }
    out
}

/// Parse a payload; the error is a reason for [`KeystoreError::Corrupt`].
fn parse_payload(mut bytes: &[u8]) -> Result<Secrets, String> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if bytes.len() < n {
            return Err("its payload is truncated".to_owned());
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Ok(head)
    }
    fn take_u32(bytes: &mut &[u8]) -> Result<u32, String> {
        let mut word = [0u8; 4];
        word.copy_from_slice(take(bytes, 4)?);
        Ok(u32::from_le_bytes(word))
    }

    let count = take_u32(&mut bytes)?;
    let mut secrets = Secrets::new();
    for _ in 0..count {
        let id_len = usize::from(take(&mut bytes, 1)?[0]);
        let id = take(&mut bytes, id_len)?;
        let account_id = std::str::from_utf8(id)
            .ok()
            .filter(|id| check_account_id(id).is_ok())
            .ok_or("it holds an invalid Account ID")?
            .to_owned();
        let kind = match take(&mut bytes, 1)?[0] {
            1 => SecretKind::Seed,
            2 => SecretKind::DatabaseKey,
            other => return Err(format!("it holds a secret of unknown kind {other}")),
        };
        let len = usize::try_from(take_u32(&mut bytes)?).map_err(|_| "a secret is too long")?;
        let secret = Zeroizing::new(take(&mut bytes, len)?.to_vec());
        if secrets.insert((account_id, kind), secret).is_some() {
            return Err(format!("it holds the {kind} of one account twice"));
        }
    }
    if !bytes.is_empty() {
        return Err("it has trailing bytes after its payload".to_owned());
    }
    Ok(secrets)
}

impl Keystore for FileKeystore {
    fn kind(&self) -> KeystoreKind {
        BACKEND
    }

    fn status(&self) -> KeystoreStatus {
        match std::fs::metadata(&self.path) {
            Ok(meta) => match check_mode(&self.path, meta.mode()) {
                Ok(()) => KeystoreStatus::Available,
                Err(err) => KeystoreStatus::Unavailable {
                    reason: err.to_string(),
                },
            },
            // Written again at the next store.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => KeystoreStatus::Available,
            Err(e) => KeystoreStatus::Unavailable {
                reason: self.io_error("inspect the keystore file")(e).to_string(),
            },
        }
    }

    fn store(
        &self,
        account_id: &str,
        what: SecretKind,
        secret: &[u8],
    ) -> Result<(), KeystoreError> {
        check_account_id(account_id)?;
        let mut state = self.lock();
        let mut secrets = self.read(&mut state)?.map(|(s, _)| s).unwrap_or_default();
        secrets.insert(
            (account_id.to_owned(), what),
            Zeroizing::new(secret.to_vec()),
        );
        self.write(&mut state, &secrets)
    }

    fn load(
        &self,
        account_id: &str,
        what: SecretKind,
    ) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        check_account_id(account_id)?;
        let mut state = self.lock();
        let secrets = self.read(&mut state)?.map(|(s, _)| s).unwrap_or_default();
        secrets
            .get(&(account_id.to_owned(), what))
            .map(|secret| Zeroizing::new(secret.to_vec()))
            .ok_or_else(|| KeystoreError::NotFound {
                account_id: account_id.to_owned(),
                what,
            })
    }

    fn delete(&self, account_id: &str, what: SecretKind) -> Result<(), KeystoreError> {
        check_account_id(account_id)?;
        let mut state = self.lock();
        let mut secrets = self.read(&mut state)?.map(|(s, _)| s).unwrap_or_default();
        if secrets.remove(&(account_id.to_owned(), what)).is_none() {
            return Err(KeystoreError::NotFound {
                account_id: account_id.to_owned(),
                what,
            });
        }
        self.write(&mut state, &secrets)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    /// Cheap parameters so the tests do not spend seconds in Argon2.
    const FAST: KdfParams = KdfParams {
        m_cost_kib: 64,
        t_cost: 1,
        p_cost: 1,
    };
    const PASSPHRASE: &[u8] = b"correct horse battery staple";
    const SEED: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn account(n: u8) -> String {
        format!("05{}", hex::encode([n; 32]))
    }

    fn pass(p: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        Some(Zeroizing::new(p.to_vec()))
    }

    fn open(path: &Path, passphrase: Option<&[u8]>) -> Result<FileKeystore, KeystoreError> {
        FileKeystore::open_with_params(path, passphrase.and_then(pass), FAST)
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn round_trip(passphrase: Option<&[u8]>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keystore");
        let ks = open(&path, passphrase).expect("open");
        assert_eq!(ks.status(), KeystoreStatus::Available);

        ks.store(&account(1), SecretKind::Seed, SEED)
            .expect("store seed");
        ks.store(&account(1), SecretKind::DatabaseKey, b"db key one")
            .expect("store db key");
        ks.store(&account(2), SecretKind::Seed, b"seed two")
            .expect("store");
        ks.store(&account(2), SecretKind::Seed, b"seed two, replaced")
            .expect("overwrite");

        assert_eq!(
            &ks.load(&account(1), SecretKind::Seed).expect("load")[..],
            SEED
        );
        assert_eq!(
            &ks.load(&account(1), SecretKind::DatabaseKey).expect("load")[..],
            b"db key one"
        );
        assert_eq!(
            &ks.load(&account(2), SecretKind::Seed).expect("load")[..],
            b"seed two, replaced"
        );
        assert!(matches!(
            ks.load(&account(2), SecretKind::DatabaseKey),
            Err(KeystoreError::NotFound { .. })
        ));

        ks.delete(&account(1), SecretKind::Seed).expect("delete");
        assert!(matches!(
            ks.load(&account(1), SecretKind::Seed),
            Err(KeystoreError::NotFound { .. })
        ));
        assert!(matches!(
            ks.delete(&account(1), SecretKind::Seed),
            Err(KeystoreError::NotFound { .. })
        ));
        drop(ks);

        // A new instance (a restarted daemon) sees the same contents.
        let ks = open(&path, passphrase).expect("reopen");
        assert_eq!(
            &ks.load(&account(1), SecretKind::DatabaseKey).expect("load")[..],
            b"db key one"
        );
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let raw = std::fs::read(&path).expect("read raw");
        assert_eq!(contains(&raw, b"db key one"), passphrase.is_none());
        // No temporary files are left behind.
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn plain_file_round_trip() {
        round_trip(None);
    }

    #[test]
    fn sealed_file_round_trip_hides_secrets() {
        round_trip(Some(PASSPHRASE));
    }

    #[test]
    fn default_kdf_params_round_trip_and_are_recorded_in_the_header() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keystore");
        let ks = FileKeystore::open(&path, pass(PASSPHRASE)).expect("open");
        ks.store(&account(7), SecretKind::Seed, SEED)
            .expect("store");
        let raw = std::fs::read(&path).expect("read");
        assert_eq!(&raw[..8], MAGIC);
        assert_eq!(&raw[10..14], &(64 * 1024u32).to_le_bytes());
        assert_eq!(&raw[14..18], &3u32.to_le_bytes());
        assert_eq!(&raw[18..22], &1u32.to_le_bytes());
        drop(ks);
        // Opening with other defaults still reads the file with its recorded parameters.
        let ks = open(&path, Some(PASSPHRASE)).expect("reopen");
        assert_eq!(
            &ks.load(&account(7), SecretKind::Seed).expect("load")[..],
            SEED
        );
    }

    #[test]
    fn every_write_uses_a_fresh_nonce() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keystore");
        let ks = open(&path, Some(PASSPHRASE)).expect("open");
        ks.store(&account(1), SecretKind::Seed, SEED)
            .expect("store");
        let first = std::fs::read(&path).expect("read");
        ks.store(&account(1), SecretKind::Seed, SEED)
            .expect("store");
        let second = std::fs::read(&path).expect("read");
        let nonce = SEALED_HEADER_LEN - NONCE_LEN..SEALED_HEADER_LEN;
        assert_eq!(
            first[..nonce.start],
            second[..nonce.start],
            "same salt and params"
        );
        assert_ne!(first[nonce.clone()], second[nonce]);
    }

    #[test]
    fn wrong_passphrase_is_reported_without_the_passphrase() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keystore");
        open(&path, Some(PASSPHRASE))
            .expect("create")
            .store(&account(1), SecretKind::Seed, SEED)
            .expect("store");
        let err = open(&path, Some(b"not the passphrase")).expect_err("wrong passphrase");
        assert!(
            matches!(err, KeystoreError::WrongPassphrase { .. }),
            "{err:?}"
        );
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("not the passphrase"));
        assert_eq!(
            sessiond_protocol::HasKind::kind(&err),
            sessiond_protocol::ErrorKind::StorageCorrupt
        );
    }

    #[test]
    fn sealed_file_without_passphrase_asks_for_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keystore");
        open(&path, Some(PASSPHRASE)).expect("create");
        assert!(matches!(
            open(&path, None),
            Err(KeystoreError::PassphraseRequired { .. })
        ));
    }

    #[test]
    fn plain_file_is_sealed_when_a_passphrase_is_configured() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keystore");
        open(&path, None)
            .expect("create")
            .store(&account(3), SecretKind::Seed, SEED)
            .expect("store");
        let ks = open(&path, Some(PASSPHRASE)).expect("open with passphrase");
        assert!(!contains(&std::fs::read(&path).expect("read"), SEED));
        assert_eq!(
            &ks.load(&account(3), SecretKind::Seed).expect("load")[..],
            SEED
        );
        assert!(matches!(
            open(&path, None),
            Err(KeystoreError::PassphraseRequired { .. })
        ));
    }

    #[test]
    fn file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keystore");
        let ks = open(&path, None).expect("create");
        ks.store(&account(1), SecretKind::Seed, SEED)
            .expect("store");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");

        let err = open(&path, None).expect_err("0644 refused");
        assert!(
            matches!(err, KeystoreError::InsecurePermissions { mode: 0o644, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("chmod 600"));
        // An open keystore refuses too, and says so in its status.
        assert!(matches!(
            ks.load(&account(1), SecretKind::Seed),
            Err(KeystoreError::InsecurePermissions { .. })
        ));
        assert!(matches!(ks.status(), KeystoreStatus::Unavailable { .. }));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        assert!(matches!(
            open(&path, None),
            Err(KeystoreError::InsecurePermissions { mode: 0o640, .. })
        ));
    }

    #[test]
    fn corrupt_files_are_reported_as_corrupt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keystore");
        let write = |bytes: &[u8]| {
            std::fs::write(&path, bytes).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        };
        let is_corrupt = |r: Result<FileKeystore, KeystoreError>| {
            matches!(r, Err(KeystoreError::Corrupt { .. }))
        };

        write(b"");
        assert!(is_corrupt(open(&path, None)));
        write(b"{\"not\": \"a keystore\"}");
        assert!(is_corrupt(open(&path, None)));
        write(b"SESSKEYS\x02\x00\x00\x00\x00\x00");
        assert!(is_corrupt(open(&path, None)), "unknown version");
        write(b"SESSKEYS\x01\x07");
        assert!(is_corrupt(open(&path, None)), "unknown cipher");
        write(b"SESSKEYS\x01\x00\x01\x00\x00\x00");
        assert!(is_corrupt(open(&path, None)), "truncated payload");

        // A valid plain file with a trailing byte.
        std::fs::remove_file(&path).expect("rm");
        open(&path, None)
            .expect("create")
            .store(&account(1), SecretKind::Seed, SEED)
            .expect("store");
        let mut raw = std::fs::read(&path).expect("read");
        raw.push(0);
        write(&raw);
        assert!(is_corrupt(open(&path, None)), "trailing byte");

        // A sealed file: truncation is corrupt, a flipped bit fails authentication.
        std::fs::remove_file(&path).expect("rm");
        open(&path, Some(PASSPHRASE))
            .expect("create")
            .store(&account(1), SecretKind::Seed, SEED)
            .expect("store");
        let raw = std::fs::read(&path).expect("read");
        write(&raw[..SEALED_HEADER_LEN + 3]);
        assert!(is_corrupt(open(&path, Some(PASSPHRASE))), "truncated");
        let mut flipped = raw.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        write(&flipped);
        assert!(matches!(
            open(&path, Some(PASSPHRASE)),
            Err(KeystoreError::WrongPassphrase { .. })
        ));
        // Absurd KDF parameters are refused before any allocation.
        let mut greedy = raw;
        greedy[PREFIX_LEN..PREFIX_LEN + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        write(&greedy);
        assert!(is_corrupt(open(&path, Some(PASSPHRASE))), "huge m_cost");
    }

    #[test]
    fn failed_replace_keeps_the_old_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keystore");
        let ks = open(&path, Some(PASSPHRASE)).expect("open");
        ks.store(&account(1), SecretKind::Seed, b"old seed")
            .expect("store");
        let before = std::fs::read(&path).expect("read");

        ks.fail_before_rename
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let err = ks
            .store(&account(1), SecretKind::Seed, b"new seed")
            .expect_err("injected failure");
        assert!(matches!(err, KeystoreError::Io { .. }), "{err:?}");
        ks.fail_before_rename
            .store(false, std::sync::atomic::Ordering::SeqCst);

        assert_eq!(std::fs::read(&path).expect("read"), before);
        assert_eq!(
            &ks.load(&account(1), SecretKind::Seed).expect("load")[..],
            b"old seed"
        );
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn missing_directory_is_an_io_error_naming_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("no-such-dir").join("keystore");
        let err = open(&path, None).expect_err("no directory");
        assert!(matches!(err, KeystoreError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("no-such-dir"));
    }

    #[test]
    fn invalid_account_id_is_rejected_before_touching_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = open(&dir.path().join("keystore"), None).expect("open");
        assert!(matches!(
            ks.store("05ABC", SecretKind::Seed, SEED),
            Err(KeystoreError::InvalidAccountId { .. })
        ));
    }

    #[test]
    fn debug_output_shows_no_passphrase() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = open(&dir.path().join("keystore"), Some(PASSPHRASE)).expect("open");
        let shown = format!("{ks:?}");
        assert!(shown.contains("sealed: true"), "{shown}");
        assert!(!shown.contains("horse"));
    }

    #[test]
    fn file_deleted_while_open_is_recreated_at_the_next_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keystore");
        let ks = open(&path, Some(PASSPHRASE)).expect("open");
        std::fs::remove_file(&path).expect("rm");
        assert_eq!(ks.status(), KeystoreStatus::Available);
        assert!(matches!(
            ks.load(&account(1), SecretKind::Seed),
            Err(KeystoreError::NotFound { .. })
        ));
        ks.store(&account(1), SecretKind::Seed, SEED)
            .expect("store");
        let reopened = open(&path, Some(PASSPHRASE)).expect("reopen");
        assert_eq!(
            &reopened.load(&account(1), SecretKind::Seed).expect("load")[..],
            SEED
        );
    }
}
