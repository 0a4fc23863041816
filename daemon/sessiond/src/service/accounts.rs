//! Accounts: create, restore, list, inspect, export the phrase, delete.
//!
//! On disk an account is a directory `accounts/<Account ID>/` holding `account.meta` (which
//! keystore holds its secrets and when it was added: nothing secret) and `account.db` (the
//! encrypted store). Its seed and database key live in the keystore. Creation writes the
//! secrets first and the directory last, and undoes what it did on failure, so a half-created
//! account never appears.

use super::{Change, Service, ServiceError};
use crate::clock;
use crate::keystore::{Keystore, KeystoreError, KeystoreKind, SecretKind};
use crate::store::{self, AccountRow, Store};
use sessiond_protocol::account_id::AccountId;
use sessiond_protocol::identity::{Identity, Seed};
use sessiond_protocol::{ErrorKind, HasKind, mnemonic};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::Instrument;
use zeroize::Zeroizing;

const META_FILE: &str = "account.meta";
const DB_FILE: &str = "account.db";

/// Whether an account can be used right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    /// Keys loaded and database open.
    Ready,
    /// The keyring is locked.
    Locked,
    /// Keys or database failed to load; see [`Account::detail`].
    Unavailable,
}

/// An account as the service reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The Account ID.
    pub account_id: AccountId,
    /// Display name (unknown while not ready).
    pub name: Option<String>,
    /// Which keystore holds its secrets.
    pub keystore: KeystoreKind,
    /// Whether it is usable.
    pub state: AccountState,
    /// When it was added to this daemon (Unix ms).
    pub created_at_ms: i64,
    /// Why it is not ready, if it is not.
    pub detail: Option<String>,
}

/// An account plus, when ready, its keys and store.
pub(super) struct AccountSlot {
    /// What the API shows.
    info: Account,
    /// Present when ready.
    loaded: Option<Loaded>,
}

/// The live parts of a ready account.
struct Loaded {
    /// Its keys.
    identity: Identity,
    /// Its database.
    store: Arc<Store>,
}

/// What `account.meta` records.
struct Meta {
    keystore: KeystoreKind,
    created_at_ms: i64,
}

impl Meta {
    fn encode(&self) -> String {
        format!(
            "# sessiond account metadata (no secrets)\nkeystore={}\ncreated_at_ms={}\n",
            self.keystore.as_str(),
            self.created_at_ms
        )
    }

    fn decode(text: &str) -> Result<Meta, String> {
        let mut keystore = None;
        let mut created_at_ms = None;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("malformed line `{line}`"))?;
            match k {
                "keystore" => {
                    keystore = Some(v.parse::<KeystoreKind>().map_err(|e| e.to_string())?)
                }
                "created_at_ms" => {
                    created_at_ms = Some(
                        v.parse::<i64>()
                            .map_err(|e| format!("created_at_ms: {e}"))?,
                    )
                }
                _ => {} // Unknown keys come from newer versions; ignore them.
            }
        }
        Ok(Meta {
            keystore: keystore.ok_or("missing keystore")?,
            created_at_ms: created_at_ms.ok_or("missing created_at_ms")?,
        })
    }
}

fn parse_account_id(s: &str) -> Result<AccountId, ServiceError> {
    s.parse::<AccountId>()
        .map_err(|e| ServiceError::InvalidAccountId {
            reason: e.to_string(),
        })
}

/// How long a keystore read may take before the account is reported unavailable (a Secret
/// Service that hangs must not hang the API).
const KEYSTORE_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Run blocking keystore reads off the async threads, giving up after
/// [`KEYSTORE_READ_TIMEOUT`]. Only for work that is safe to abandon (it has no effects).
async fn blocking_read<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    match tokio::time::timeout(KEYSTORE_READ_TIMEOUT, blocking(f)).await {
        Ok(r) => r,
        Err(_) => Err(ServiceError::KeystoreTimeout {
            after: KEYSTORE_READ_TIMEOUT,
        }),
    }
}

/// Run blocking keystore/store work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::internal(format!("blocking task failed: {e}")))?
}

impl Service {
    fn accounts_dir(&self) -> PathBuf {
        self.config.data_dir.join("accounts")
    }

    fn account_dir(&self, id: &AccountId) -> PathBuf {
        self.accounts_dir().join(id.to_string())
    }

    /// Scan the data directory and load every account.
    pub(super) async fn load_accounts(&self) -> Result<(), ServiceError> {
        let dir = self.accounts_dir();
        std::fs::create_dir_all(&dir).map_err(|e| ServiceError::io("creating", &dir, e))?;
        set_private(&dir)?;
        let entries = std::fs::read_dir(&dir).map_err(|e| ServiceError::io("reading", &dir, e))?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| ServiceError::io("reading", &dir, e))?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.parse::<AccountId>().ok()) else {
                tracing::warn!(entry = ?entry.path(), "ignoring unexpected entry in accounts directory");
                continue;
            };
            found.push((id, entry.path()));
        }
        let mut accounts = self.accounts.write().await;
        for (id, path) in found {
            let slot = self.open_account(id, path).await;
            match slot.info.state {
                AccountState::Ready => tracing::info!(account = %id, "account loaded"),
                _ => {
                    tracing::warn!(account = %id, state = ?slot.info.state, detail = ?slot.info.detail, "account not ready")
                }
            }
            accounts.insert(id.to_string(), slot);
        }
        Ok(())
    }

    /// Load one account's keys and store; never fails, reports the state instead.
    async fn open_account(&self, id: AccountId, dir: PathBuf) -> AccountSlot {
        let meta_path = dir.join(META_FILE);
        let meta = std::fs::read_to_string(&meta_path)
            .map_err(|e| e.to_string())
            .and_then(|t| Meta::decode(&t));
        let meta = match meta {
            Ok(m) => m,
            Err(reason) => {
                return AccountSlot::unavailable(
                    id,
                    self.keystore.kind(),
                    0,
                    format!("cannot read {}: {reason}", meta_path.display()),
                );
            }
        };
        if meta.keystore != self.keystore.kind() {
            return AccountSlot::unavailable(
                id,
                meta.keystore,
                meta.created_at_ms,
                format!(
                    "its keys are in the {} keystore but this daemon runs with --keystore {}",
                    meta.keystore.as_str(),
                    self.keystore.kind().as_str()
                ),
            );
        }
        let keystore = Arc::clone(&self.keystore);
        let db_path = dir.join(DB_FILE);
        let loaded = blocking_read(move || load_keys_and_store(&*keystore, id, &db_path)).await;
        match loaded {
            Ok(loaded) => {
                let name = loaded.store.account().ok().and_then(|r| r.name);
                AccountSlot {
                    info: Account {
                        account_id: id,
                        name,
                        keystore: meta.keystore,
                        state: AccountState::Ready,
                        created_at_ms: meta.created_at_ms,
                        detail: None,
                    },
                    loaded: Some(loaded),
                }
            }
            Err(e) => {
                let mut slot =
                    AccountSlot::unavailable(id, meta.keystore, meta.created_at_ms, e.to_string());
                if e.kind() == ErrorKind::KeyringLocked {
                    slot.info.state = AccountState::Locked;
                }
                slot
            }
        }
    }

    /// Create an account with a fresh random seed.
    pub async fn create_account(&self, name: Option<String>) -> Result<Account, ServiceError> {
        let mut bytes = Zeroizing::new([0u8; 16]);
        clock::random_bytes(&mut bytes[..])
            .map_err(|e| ServiceError::internal(format!("OS random source failed: {e}")))?;
        let seed = Seed::from_bytes(&bytes[..])
            .map_err(|e| ServiceError::internal(format!("seed from 16 random bytes: {e}")))?;
        self.add_account(seed, name, "account created")
            .instrument(tracing::info_span!("create_account"))
            .await
    }

    /// Restore an account from its recovery phrase.
    pub async fn restore_account(
        &self,
        phrase: &str,
        name: Option<String>,
    ) -> Result<Account, ServiceError> {
        let seed = mnemonic::decode(phrase).map_err(|e| ServiceError::InvalidPhrase {
            reason: e.to_string(),
        })?;
        self.add_account(seed, name, "account restored")
            .instrument(tracing::info_span!("restore_account"))
            .await
    }

    async fn add_account(
        &self,
        seed: Seed,
        name: Option<String>,
        what: &'static str,
    ) -> Result<Account, ServiceError> {
        if let Some(n) = &name {
            validate_name(n)?;
        }
        let identity = Identity::from_seed(&seed);
        let id = identity.account_id();
        let mut accounts = self.accounts.write().await;
        if accounts.contains_key(&id.to_string()) {
            return Err(ServiceError::AccountExists {
                account_id: id.to_string(),
            });
        }
        let dir = self.account_dir(&id);
        if dir.exists() {
            return Err(ServiceError::AccountExists {
                account_id: id.to_string(),
            });
        }
        let created_at_ms = clock::now_ms();
        let keystore = Arc::clone(&self.keystore);
        let kind = keystore.kind();
        let row = AccountRow {
            account_id: id.to_string(),
            name: name.clone(),
            created_at_ms,
        };
        let loaded = blocking(move || {
            let result = provision(&*keystore, &seed, &dir, &row, kind);
            if result.is_err() {
                undo_provision(&*keystore, &id, &dir);
            }
            result.map(|store| Loaded { identity, store })
        })
        .await?;
        let info = Account {
            account_id: id,
            name,
            keystore: kind,
            state: AccountState::Ready,
            created_at_ms,
            detail: None,
        };
        if let Err(e) = loaded.store.append_event(
            "account.added",
            &format!("{{\"account_id\":\"{id}\"}}"),
            created_at_ms,
        ) {
            tracing::warn!(error = %e, "could not append account.added event");
        }
        accounts.insert(
            id.to_string(),
            AccountSlot {
                info: info.clone(),
                loaded: Some(loaded),
            },
        );
        drop(accounts);
        tracing::info!(account = %id, "{what}");
        self.announce(Change::AccountAdded(info.clone()));
        self.poll_wake.notify_one();
        Ok(info)
    }

    /// Every account, with accounts that were locked retried first.
    pub async fn list_accounts(&self) -> Vec<Account> {
        self.retry_unready().await;
        self.accounts
            .read()
            .await
            .values()
            .map(|s| s.info.clone())
            .collect()
    }

    /// One account.
    pub async fn get_account(&self, account_id: &str) -> Result<Account, ServiceError> {
        let id = parse_account_id(account_id)?;
        self.retry_unready().await;
        self.accounts
            .read()
            .await
            .get(&id.to_string())
            .map(|s| s.info.clone())
            .ok_or(ServiceError::AccountNotFound {
                account_id: id.to_string(),
            })
    }

    /// Try again to load accounts that are locked (the user may have unlocked the keyring).
    async fn retry_unready(&self) {
        let locked: Vec<AccountId> = self
            .accounts
            .read()
            .await
            .values()
            .filter(|s| s.info.state == AccountState::Locked)
            .map(|s| s.info.account_id)
            .collect();
        for id in locked {
            let slot = self.open_account(id, self.account_dir(&id)).await;
            if slot.info.state != AccountState::Locked {
                let info = slot.info.clone();
                self.accounts.write().await.insert(id.to_string(), slot);
                self.announce(Change::AccountChanged(info));
            }
        }
    }

    /// The account's recovery phrase. Needs `confirm`.
    pub async fn export_phrase(
        &self,
        account_id: &str,
        confirm: bool,
    ) -> Result<Zeroizing<String>, ServiceError> {
        let id = parse_account_id(account_id)?;
        if !self.accounts.read().await.contains_key(&id.to_string()) {
            return Err(ServiceError::AccountNotFound {
                account_id: id.to_string(),
            });
        }
        if !confirm {
            return Err(ServiceError::ConfirmationRequired {
                what: "exporting the recovery phrase",
            });
        }
        let keystore = Arc::clone(&self.keystore);
        let seed = blocking_read(move || {
            let bytes = keystore.load(&id.to_string(), SecretKind::Seed)?;
            Seed::from_bytes(&bytes)
                .map_err(|e| ServiceError::internal(format!("stored seed is invalid: {e}")))
        })
        .await?;
        tracing::info!(account = %id, "recovery phrase exported");
        Ok(mnemonic::encode(&seed))
    }

    /// Delete the account: its keys, its database and its directory. Needs `confirm`.
    pub async fn delete_account(
        &self,
        account_id: &str,
        confirm: bool,
    ) -> Result<(), ServiceError> {
        let id = parse_account_id(account_id)?;
        let mut accounts = self.accounts.write().await;
        let Some(slot) = accounts.get(&id.to_string()) else {
            return Err(ServiceError::AccountNotFound {
                account_id: id.to_string(),
            });
        };
        if !confirm {
            return Err(ServiceError::ConfirmationRequired {
                what: "deleting an account",
            });
        }
        let keystore = Arc::clone(&self.keystore);
        let same_keystore = slot.info.keystore == keystore.kind();
        let dir = self.account_dir(&id);
        // Close the database before removing its files.
        accounts.remove(&id.to_string());
        drop(accounts);
        blocking(move || {
            if same_keystore {
                for what in [SecretKind::Seed, SecretKind::DatabaseKey] {
                    match keystore.delete(&id.to_string(), what) {
                        Ok(()) | Err(KeystoreError::NotFound { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(ServiceError::io("removing", &dir, e)),
            }
        })
        .await?;
        tracing::info!(account = %id, "account deleted");
        self.announce(Change::AccountRemoved {
            account_id: id.to_string(),
        });
        Ok(())
    }

    /// The keys, store and display name of a ready account.
    pub(crate) async fn ready(
        &self,
        id: &AccountId,
    ) -> Result<(Identity, Arc<Store>, Option<String>), ServiceError> {
        let store = self.account_store(&id.to_string()).await?;
        let accounts = self.accounts.read().await;
        let slot = accounts
            .get(&id.to_string())
            .ok_or(ServiceError::AccountNotFound {
                account_id: id.to_string(),
            })?;
        let loaded = slot
            .loaded
            .as_ref()
            .ok_or_else(|| ServiceError::internal("ready account without keys"))?;
        Ok((loaded.identity.clone(), store, slot.info.name.clone()))
    }

    /// Every ready account's keys and store (for the send worker and pollers).
    pub(crate) async fn ready_accounts(&self) -> Vec<(Identity, Arc<Store>)> {
        self.accounts
            .read()
            .await
            .values()
            .filter_map(|s| {
                s.loaded
                    .as_ref()
                    .map(|l| (l.identity.clone(), Arc::clone(&l.store)))
            })
            .collect()
    }

    /// The store of a ready account (for later layers and tests).
    pub async fn account_store(&self, account_id: &str) -> Result<Arc<Store>, ServiceError> {
        let id = parse_account_id(account_id)?;
        let accounts = self.accounts.read().await;
        let slot = accounts
            .get(&id.to_string())
            .ok_or(ServiceError::AccountNotFound {
                account_id: id.to_string(),
            })?;
        match &slot.loaded {
            Some(l) => Ok(Arc::clone(&l.store)),
            None => Err(ServiceError::AccountUnavailable {
                account_id: id.to_string(),
                reason: slot.info.detail.clone().unwrap_or_default(),
                kind: if slot.info.state == AccountState::Locked {
                    ErrorKind::KeyringLocked
                } else {
                    ErrorKind::StorageCorrupt
                },
            }),
        }
    }
}

impl AccountSlot {
    fn unavailable(
        id: AccountId,
        keystore: KeystoreKind,
        created_at_ms: i64,
        detail: String,
    ) -> Self {
        AccountSlot {
            info: Account {
                account_id: id,
                name: None,
                keystore,
                state: AccountState::Unavailable,
                created_at_ms,
                detail: Some(detail),
            },
            loaded: None,
        }
    }
}

fn validate_name(name: &str) -> Result<(), ServiceError> {
    // The official clients cap display names at 100 characters.
    if name.trim().is_empty() {
        return Err(ServiceError::InvalidInput("display name is empty".into()));
    }
    if name.chars().count() > 100 {
        return Err(ServiceError::InvalidInput(
            "display name is longer than 100 characters".into(),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ServiceError::InvalidInput(
            "display name contains control characters".into(),
        ));
    }
    Ok(())
}

/// Load an existing account's seed and database key and open its store.
fn load_keys_and_store(
    keystore: &dyn Keystore,
    id: AccountId,
    db_path: &Path,
) -> Result<Loaded, ServiceError> {
    let seed_bytes = keystore.load(&id.to_string(), SecretKind::Seed)?;
    let seed = Seed::from_bytes(&seed_bytes)
        .map_err(|e| ServiceError::internal(format!("stored seed is invalid: {e}")))?;
    let identity = Identity::from_seed(&seed);
    if identity.account_id() != id {
        return Err(ServiceError::AccountUnavailable {
            account_id: id.to_string(),
            reason: "the keystore holds a seed for a different account".into(),
            kind: ErrorKind::StorageCorrupt,
        });
    }
    let key = keystore.load(&id.to_string(), SecretKind::DatabaseKey)?;
    let store = Store::open(db_path, &key)?;
    Ok(Loaded {
        identity,
        store: Arc::new(store),
    })
}

/// Write a new account's secrets, directory, database and metadata.
fn provision(
    keystore: &dyn Keystore,
    seed: &Seed,
    dir: &Path,
    row: &AccountRow,
    kind: KeystoreKind,
) -> Result<Arc<Store>, ServiceError> {
    let mut db_key = Zeroizing::new([0u8; store::KEY_LEN]);
    clock::random_bytes(&mut db_key[..])
        .map_err(|e| ServiceError::internal(format!("OS random source failed: {e}")))?;
    keystore.store(&row.account_id, SecretKind::Seed, seed.as_bytes())?;
    keystore.store(&row.account_id, SecretKind::DatabaseKey, &db_key[..])?;
    std::fs::create_dir(dir).map_err(|e| ServiceError::io("creating", dir, e))?;
    set_private(dir)?;
    let store = Store::open(&dir.join(DB_FILE), &db_key[..])?;
    store.init_account(row)?;
    let meta = Meta {
        keystore: kind,
        created_at_ms: row.created_at_ms,
    };
    crate::fsutil::write_atomic(&dir.join(META_FILE), meta.encode().as_bytes(), 0o600)
        .map_err(|e| ServiceError::io(e.op, &e.path, e.source))?;
    Ok(Arc::new(store))
}

/// Best-effort removal of what [`provision`] may have written.
fn undo_provision(keystore: &dyn Keystore, id: &AccountId, dir: &Path) {
    for what in [SecretKind::Seed, SecretKind::DatabaseKey] {
        let _ = keystore.delete(&id.to_string(), what);
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn set_private(dir: &Path) -> Result<(), ServiceError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| ServiceError::io("setting permissions of", dir, e))
}
