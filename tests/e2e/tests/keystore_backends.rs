//! The keystore backends against the real things: gnome-keyring on a private bus, the
//! kernel keyring in a fresh session keyring, and the file keystore on disk.
//!
//! Tests that need their own environment (a bus address, a passphrase variable, a session
//! keyring) run their body in a child process; see `sessiond_e2e::SelfTest`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use sessiond::keystore::{
    self, Keystore, KeystoreConfig, KeystoreError, KeystoreKind, KeystoreStatus, PassphraseSource,
    SecretKind,
};
use sessiond_e2e::{GnomeKeyring, PrivateBus, SelfTest, is_child, keyutils, skip};
use sessiond_protocol::{ErrorKind, HasKind as _};

const SEED_A: &[u8] = b"seed of account A: 32 bytes.....";
const SEED_B: &[u8] = &[0, 1, 2, 0xff, 0xfe, 0, 0x80, 10, 13];
const DB_KEY_A: &[u8] = b"database key of account A";

fn account(n: u8) -> String {
    format!("05{}", hex_byte(n).repeat(32))
}

fn hex_byte(n: u8) -> String {
    format!("{n:02x}")
}

fn config(kind: Option<KeystoreKind>) -> KeystoreConfig {
    KeystoreConfig {
        kind,
        file_path: PathBuf::from("/nonexistent/keystore"),
        passphrase: None,
    }
}

fn file_config(path: &Path, passphrase: Option<PassphraseSource>) -> KeystoreConfig {
    KeystoreConfig {
        kind: Some(KeystoreKind::File),
        file_path: path.to_owned(),
        passphrase,
    }
}

fn bus_address() -> String {
    std::env::var("DBUS_SESSION_BUS_ADDRESS").expect("the parent sets the bus address")
}

/// Store, load, overwrite and delete two accounts' secrets, checking every answer.
fn exercise(ks: &dyn Keystore) {
    let (a, b) = (account(0xa1), account(0xb2));
    for id in [&a, &b] {
        for what in SecretKind::ALL {
            match ks.delete(id, what) {
                Ok(()) | Err(KeystoreError::NotFound { .. }) => {}
                Err(e) => panic!("cleaning up before the test: {e}"),
            }
        }
    }
    let missing = ks
        .load(&a, SecretKind::Seed)
        .expect_err("nothing stored yet");
    assert!(
        matches!(missing, KeystoreError::NotFound { .. }),
        "{missing:?}"
    );
    assert_eq!(missing.kind(), ErrorKind::NotFound);

    ks.store(&a, SecretKind::Seed, b"first seed")
        .expect("store A seed");
    ks.store(&a, SecretKind::Seed, SEED_A)
        .expect("overwrite A seed");
    ks.store(&a, SecretKind::DatabaseKey, DB_KEY_A)
        .expect("store A db key");
    ks.store(&b, SecretKind::Seed, SEED_B)
        .expect("store B seed");

    assert_eq!(
        &ks.load(&a, SecretKind::Seed).expect("load A seed")[..],
        SEED_A
    );
    assert_eq!(
        &ks.load(&a, SecretKind::DatabaseKey).expect("load A key")[..],
        DB_KEY_A
    );
    assert_eq!(
        &ks.load(&b, SecretKind::Seed).expect("load B seed")[..],
        SEED_B
    );
    assert!(matches!(
        ks.load(&b, SecretKind::DatabaseKey),
        Err(KeystoreError::NotFound { .. })
    ));

    ks.delete(&a, SecretKind::Seed).expect("delete A seed");
    assert!(matches!(
        ks.load(&a, SecretKind::Seed),
        Err(KeystoreError::NotFound { .. })
    ));
    assert!(matches!(
        ks.delete(&a, SecretKind::Seed),
        Err(KeystoreError::NotFound { .. })
    ));
    // The other secrets are untouched.
    assert_eq!(
        &ks.load(&a, SecretKind::DatabaseKey).expect("load A key")[..],
        DB_KEY_A
    );
    assert_eq!(
        &ks.load(&b, SecretKind::Seed).expect("load B seed")[..],
        SEED_B
    );

    assert!(matches!(
        ks.store("not an account", SecretKind::Seed, SEED_A),
        Err(KeystoreError::InvalidAccountId { .. })
    ));
}

fn cleanup(ks: &dyn Keystore) {
    for id in [account(0xa1), account(0xb2)] {
        for what in SecretKind::ALL {
            let _ = ks.delete(&id, what);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Secret Service

#[test]
fn secret_service_round_trip_on_gnome_keyring() -> Result<()> {
    const NAME: &str = "secret_service_round_trip_on_gnome_keyring";
    if is_child(NAME) {
        let ks = keystore::open(&config(None)).expect("auto picks the Secret Service");
        assert_eq!(ks.kind(), KeystoreKind::SecretService);
        assert_eq!(ks.status(), KeystoreStatus::Available);
        exercise(ks.as_ref());

        // Other Secret Service clients find the items by the documented attributes.
        let lookup = Command::new("secret-tool")
            .args(["lookup", "service", "sessiond", "username"])
            .arg(format!("{}/seed", account(0xb2)))
            .output()
            .expect("run secret-tool (package libsecret-tools)");
        assert!(
            lookup.status.success(),
            "secret-tool lookup failed: {lookup:?}"
        );
        assert_eq!(lookup.stdout, SEED_B);

        // An explicitly chosen Secret Service sees the same items.
        let explicit = keystore::open(&config(Some(KeystoreKind::SecretService)))
            .expect("explicit Secret Service");
        assert_eq!(
            &explicit
                .load(&account(0xb2), SecretKind::Seed)
                .expect("load")[..],
            SEED_B
        );
        cleanup(ks.as_ref());
        return Ok(());
    }
    let bus = PrivateBus::start()?;
    let _keyring = GnomeKeyring::start(&bus)?;
    SelfTest::new(NAME)
        .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
        .run()
}

#[test]
fn secret_service_locked_keyring_is_a_state_not_a_crash() -> Result<()> {
    const NAME: &str = "secret_service_locked_keyring_is_a_state_not_a_crash";
    if is_child(NAME) {
        let address = bus_address();
        let id = account(0xa1);
        let ks = keystore::open(&config(None)).expect("open while unlocked");
        ks.store(&id, SecretKind::Seed, SEED_A)
            .expect("store while unlocked");

        sessiond_e2e::gnome_keyring::lock_default_collection(&address).expect("lock");
        assert_eq!(ks.status(), KeystoreStatus::Locked);
        for err in [
            ks.load(&id, SecretKind::Seed)
                .expect_err("load while locked"),
            ks.store(&id, SecretKind::Seed, SEED_B)
                .expect_err("store while locked"),
            ks.delete(&id, SecretKind::Seed)
                .expect_err("delete while locked"),
        ] {
            assert!(
                matches!(
                    err,
                    KeystoreError::Locked {
                        backend: KeystoreKind::SecretService
                    }
                ),
                "{err:?}"
            );
            assert_eq!(err.kind(), ErrorKind::KeyringLocked);
        }
        // Opening while locked works too: the daemon starts and shows the state.
        let reopened = keystore::open(&config(None)).expect("open while locked");
        assert_eq!(reopened.status(), KeystoreStatus::Locked);

        // Once the user unlocks, the same keystore works again, with the secret intact.
        sessiond_e2e::gnome_keyring::unlock_default_collection(&address, GnomeKeyring::PASSWORD)
            .expect("unlock");
        assert_eq!(ks.status(), KeystoreStatus::Available);
        assert_eq!(
            &ks.load(&id, SecretKind::Seed).expect("load after unlock")[..],
            SEED_A
        );
        cleanup(ks.as_ref());
        return Ok(());
    }
    let bus = PrivateBus::start()?;
    let _keyring = GnomeKeyring::start(&bus)?;
    SelfTest::new(NAME)
        .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
        .run()
}

#[test]
fn no_secret_service_on_the_bus_gives_no_backend() -> Result<()> {
    const NAME: &str = "no_secret_service_on_the_bus_gives_no_backend";
    if is_child(NAME) {
        let err = keystore::open(&config(None))
            .err()
            .expect("auto must not pick anything");
        assert!(matches!(err, KeystoreError::NoBackend { .. }), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::KeyringUnavailable);
        let message = err.to_string();
        assert!(message.contains("--keystore file"), "{message}");
        assert!(message.contains("--keystore keyutils"), "{message}");

        let err = keystore::open(&config(Some(KeystoreKind::SecretService)))
            .err()
            .expect("explicit Secret Service without one");
        assert!(
            matches!(
                err,
                KeystoreError::Unavailable {
                    backend: KeystoreKind::SecretService,
                    ..
                }
            ),
            "{err:?}"
        );
        return Ok(());
    }
    // A bus without a Secret Service (and nothing activatable)…
    let bus = PrivateBus::start()?;
    SelfTest::new(NAME)
        .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
        .run()?;
    // …and no bus at all.
    let empty_runtime_dir = tempfile::tempdir()?;
    SelfTest::new(NAME)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", empty_runtime_dir.path())
        .run()
}

#[test]
fn secret_service_that_goes_away_reports_unavailable() -> Result<()> {
    const NAME: &str = "secret_service_that_goes_away_reports_unavailable";
    if is_child(NAME) {
        let address = bus_address();
        let ks = keystore::open(&config(None)).expect("open");
        assert_eq!(ks.status(), KeystoreStatus::Available);

        let pid: i32 = std::env::var("SESSIOND_E2E_KEYRING_PID")
            .expect("keyring pid")
            .parse()
            .expect("pid");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL)
            .expect("kill gnome-keyring");
        sessiond_e2e::wait_until(
            Duration::from_secs(10),
            "gnome-keyring to leave the bus",
            || {
                let owned =
                    sessiond_e2e::dbus::name_has_owner(&address, "org.freedesktop.secrets")?;
                Ok((!owned).then_some(()))
            },
        )
        .expect("gnome-keyring goes away");

        assert!(
            matches!(ks.status(), KeystoreStatus::Unavailable { .. }),
            "{:?}",
            ks.status()
        );
        let err = ks
            .load(&account(0xa1), SecretKind::Seed)
            .expect_err("no service");
        assert!(matches!(err, KeystoreError::Unavailable { .. }), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::KeyringUnavailable);
        return Ok(());
    }
    let bus = PrivateBus::start()?;
    let keyring = GnomeKeyring::start(&bus)?;
    let pid = keyring.pid().context("gnome-keyring pid")?;
    SelfTest::new(NAME)
        .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
        .env("SESSIOND_E2E_KEYRING_PID", pid.to_string())
        .run()
}

// ---------------------------------------------------------------------------------------
// Kernel keyutils

#[test]
fn keyutils_round_trip_in_a_fresh_session_keyring() -> Result<()> {
    const NAME: &str = "keyutils_round_trip_in_a_fresh_session_keyring";
    if is_child(NAME) {
        let ks = keystore::open(&config(Some(KeystoreKind::Keyutils))).expect("open keyutils");
        assert_eq!(ks.kind(), KeystoreKind::Keyutils);
        assert_eq!(ks.status(), KeystoreStatus::Available);
        exercise(ks.as_ref());

        // The secret is a `user` key in the session keyring, under the documented name.
        let description = format!("sessiond:{}/seed", account(0xb2));
        let raw = keyutils::read_user_key(&description)
            .expect("keyctl")
            .expect("the key is in the session keyring");
        assert_eq!(raw, SEED_B);
        cleanup(ks.as_ref());
        assert_eq!(keyutils::read_user_key(&description).expect("keyctl"), None);
        return Ok(());
    }
    if let Some(reason) = keyutils::session_keyring_unavailable()? {
        skip(
            NAME,
            &format!("the kernel keyring cannot be used here: {reason}"),
        );
        return Ok(());
    }
    SelfTest::new(NAME).in_new_session_keyring().run()
}

// ---------------------------------------------------------------------------------------
// File

#[test]
fn file_keystore_without_passphrase_round_trip() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("keystore");
    let ks = keystore::open(&file_config(&path, None))?;
    assert_eq!(ks.kind(), KeystoreKind::File);
    assert_eq!(ks.status(), KeystoreStatus::Available);
    exercise(ks.as_ref());
    drop(ks);

    let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
    ensure!(mode == 0o600, "keystore created with mode {mode:o}");
    let reopened = keystore::open(&file_config(&path, None))?;
    assert_eq!(
        &reopened.load(&account(0xb2), SecretKind::Seed)?[..],
        SEED_B
    );
    Ok(())
}

#[test]
fn file_keystore_with_passphrase_file() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("keystore");
    let pass_file = dir.path().join("passphrase");
    std::fs::write(&pass_file, "s3cret passphrase\n")?;
    let source = PassphraseSource::File(pass_file.clone());

    let ks = keystore::open(&file_config(&path, Some(source.clone())))?;
    exercise(ks.as_ref());
    drop(ks);
    let raw = std::fs::read(&path)?;
    ensure!(
        !raw.windows(DB_KEY_A.len()).any(|w| w == DB_KEY_A),
        "the sealed file contains a secret in clear"
    );

    // The trailing newline is not part of the passphrase.
    let same = dir.path().join("same");
    std::fs::write(&same, "s3cret passphrase")?;
    let reopened = keystore::open(&file_config(&path, Some(PassphraseSource::File(same))))?;
    assert_eq!(
        &reopened.load(&account(0xa1), SecretKind::DatabaseKey)?[..],
        DB_KEY_A
    );
    drop(reopened);

    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "another passphrase\n")?;
    let err = keystore::open(&file_config(&path, Some(PassphraseSource::File(wrong))))
        .err()
        .context("a wrong passphrase must fail")?;
    assert!(
        matches!(err, KeystoreError::WrongPassphrase { .. }),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("another passphrase"));

    let err = keystore::open(&file_config(&path, None))
        .err()
        .context("no passphrase must fail")?;
    assert!(
        matches!(err, KeystoreError::PassphraseRequired { .. }),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn file_keystore_with_passphrase_from_env() -> Result<()> {
    const NAME: &str = "file_keystore_with_passphrase_from_env";
    const VAR: &str = "SESSIOND_E2E_KEYSTORE_PASSPHRASE";
    if is_child(NAME) {
        let path = PathBuf::from(std::env::var("SESSIOND_E2E_KEYSTORE").expect("path"));
        let from_env = Some(PassphraseSource::Env(VAR.to_owned()));
        let ks = keystore::open(&file_config(&path, from_env)).expect("open with env passphrase");
        exercise(ks.as_ref());
        drop(ks);

        // The same passphrase given as a file opens it.
        let pass_file = path.with_file_name("passphrase");
        std::fs::write(&pass_file, "from the environment\n").expect("write passphrase file");
        let reopened = keystore::open(&file_config(&path, Some(PassphraseSource::File(pass_file))))
            .expect("open with the same passphrase from a file");
        assert_eq!(
            &reopened
                .load(&account(0xb2), SecretKind::Seed)
                .expect("load")[..],
            SEED_B
        );

        // An unset variable is a clear error naming the variable.
        let unset = Some(PassphraseSource::Env(
            "SESSIOND_E2E_UNSET_VARIABLE".to_owned(),
        ));
        let err = keystore::open(&file_config(&path, unset))
            .err()
            .expect("unset variable");
        assert!(
            matches!(err, KeystoreError::PassphraseUnavailable { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("SESSIOND_E2E_UNSET_VARIABLE"));
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    SelfTest::new(NAME)
        .env(VAR, "from the environment")
        .env("SESSIOND_E2E_KEYSTORE", dir.path().join("keystore"))
        .run()
}

#[test]
fn file_keystore_refuses_a_world_readable_file() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("keystore");
    keystore::open(&file_config(&path, None))?.store(&account(1), SecretKind::Seed, SEED_A)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    let err = keystore::open(&file_config(&path, None))
        .err()
        .context("0644 must be refused")?;
    assert!(
        matches!(err, KeystoreError::InsecurePermissions { mode: 0o644, .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::StorageFailure);
    Ok(())
}
