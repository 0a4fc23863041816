//! Daemon configuration: command-line flags over a TOML file over XDG defaults.
//!
//! Why it exists: one place decides every path and backend the daemon uses, and reports a
//! clear error for a bad file. The resolved [`Config`] is what the rest of the daemon sees.

use crate::keystore::{KeystoreConfig, KeystoreKind, PassphraseSource};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The config file as written by the user. Every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Where account data lives.
    pub data_dir: Option<PathBuf>,
    /// Where the API socket is created.
    pub runtime_dir: Option<PathBuf>,
    /// `secret-service`, `keyutils` or `file`.
    pub keystore: Option<String>,
    /// The file keystore's path.
    pub keystore_file: Option<PathBuf>,
    /// File holding the file keystore's passphrase.
    pub keystore_passphrase_file: Option<PathBuf>,
    /// Environment variable holding the file keystore's passphrase.
    pub keystore_passphrase_env: Option<String>,
    /// Whether to publish the API on the D-Bus session bus (default: when a bus is available).
    pub dbus: Option<bool>,
    /// Log filter, as `RUST_LOG` (`RUST_LOG` wins when set).
    pub log: Option<String>,
    /// `mainnet` (default) or `local` (an embedded local network).
    pub network: Option<String>,
    /// A `network.json` written by `sessiond-devnet` to join.
    pub network_file: Option<PathBuf>,
    /// Seed URLs of another network (`https://host:port/json_rpc`, optionally followed by
    /// `#sha256:<hex>` to pin a self-signed certificate).
    pub seeds: Option<Vec<String>>,
    /// How often to poll the swarm normally, in milliseconds (default 5000).
    pub poll_interval_ms: Option<u64>,
    /// A SOCKS5 proxy for all network traffic, e.g. `socks5h://127.0.0.1:9050` (Tor).
    pub proxy: Option<String>,
}

/// Flags from the command line that override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--runtime-dir`
    pub runtime_dir: Option<PathBuf>,
    /// `--keystore`
    pub keystore: Option<String>,
    /// `--keystore-file`
    pub keystore_file: Option<PathBuf>,
    /// `--passphrase-file`
    pub passphrase_file: Option<PathBuf>,
    /// `--passphrase-env`
    pub passphrase_env: Option<String>,
    /// `--passphrase-prompt`
    pub passphrase_prompt: bool,
    /// `--no-dbus` gives `Some(false)`.
    pub dbus: Option<bool>,
    /// `--local`
    pub local: bool,
    /// `--offline`: no network at all.
    pub offline: bool,
    /// `--network-file`
    pub network_file: Option<PathBuf>,
    /// `--seed` (repeatable)
    pub seeds: Vec<String>,
    /// `--proxy`
    pub proxy: Option<String>,
}

/// Which Session network to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkChoice {
    /// The real Session network, from its seed nodes.
    Mainnet,
    /// An embedded local network (`sessiond-devnet`) with its state under the data directory.
    Local,
    /// The network described by a `network.json` file.
    File(PathBuf),
    /// Another network, from these seeds (`URL[#sha256:<hex>]`).
    Seeds(Vec<String>),
    /// No network: accounts and the API only.
    Offline,
}

/// Whether to publish on D-Bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbusMode {
    /// Publish; failing to is an error.
    Required,
    /// Publish if a session bus is reachable, otherwise run socket-only with a warning.
    IfAvailable,
    /// Do not publish.
    Off,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Account data.
    pub data_dir: PathBuf,
    /// The API socket's directory.
    pub runtime_dir: PathBuf,
    /// The keystore to open.
    pub keystore: KeystoreConfig,
    /// D-Bus publishing.
    pub dbus: DbusMode,
    /// Log filter from the file, if any.
    pub log: Option<String>,
    /// The network to join.
    pub network: NetworkChoice,
    /// Normal poll interval.
    pub poll_interval: std::time::Duration,
    /// SOCKS5 proxy for all outbound connections.
    pub proxy: Option<String>,
}

/// Why the configuration could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("reading config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The config file is not valid.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// A value is invalid.
    #[error("{0}")]
    Invalid(String),
}

/// The default config file: `$XDG_CONFIG_HOME/sessiond/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("sessiond").join("config.toml"))
}

/// Read the config file at `path`. A missing default file is not an error; a missing
/// explicitly named one is.
pub fn load_file(path: &Path, explicit: bool) -> Result<FileConfig, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(FileConfig::default());
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

impl Config {
    /// Combine flags, file and defaults.
    pub fn resolve(file: FileConfig, o: Overrides) -> Result<Config, ConfigError> {
        let data_dir = o
            .data_dir
            .or(file.data_dir)
            .or_else(|| dirs::data_dir().map(|d| d.join("sessiond")))
            .ok_or_else(|| {
                ConfigError::Invalid(
                    "no data directory: set XDG_DATA_HOME or HOME, or pass --data-dir".into(),
                )
            })?;
        let runtime_dir = o
            .runtime_dir
            .or(file.runtime_dir)
            .or_else(|| dirs::runtime_dir().map(|d| d.join("sessiond")))
            .ok_or_else(|| {
                ConfigError::Invalid(
                    "no runtime directory: XDG_RUNTIME_DIR is not set; pass --runtime-dir".into(),
                )
            })?;
        let kind = match o.keystore.or(file.keystore).as_deref() {
            None | Some("auto") => None,
            Some(s) => Some(
                s.parse::<KeystoreKind>()
                    .map_err(|e| ConfigError::Invalid(e.to_string()))?,
            ),
        };
        let passphrase = match (
            o.passphrase_file.or(file.keystore_passphrase_file),
            o.passphrase_env.or(file.keystore_passphrase_env),
        ) {
            _ if o.passphrase_prompt => Some(PassphraseSource::Terminal),
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid(
                    "give the keystore passphrase by a file or by an environment variable, not both".into(),
                ));
            }
            (Some(f), None) => Some(PassphraseSource::File(f)),
            (None, Some(v)) => Some(PassphraseSource::Env(v)),
            (None, None) => None,
        };
        let file_path = o
            .keystore_file
            .or(file.keystore_file)
            .unwrap_or_else(|| data_dir.join("keystore"));
        let dbus = match (o.dbus, file.dbus) {
            (Some(false), _) => DbusMode::Off,
            (None, Some(false)) => DbusMode::Off,
            (None, Some(true)) => DbusMode::Required,
            _ => DbusMode::IfAvailable,
        };
        let network = if o.offline {
            NetworkChoice::Offline
        } else if o.local {
            NetworkChoice::Local
        } else if let Some(f) = o.network_file {
            NetworkChoice::File(f)
        } else if !o.seeds.is_empty() {
            NetworkChoice::Seeds(o.seeds)
        } else if let Some(f) = file.network_file {
            NetworkChoice::File(f)
        } else if let Some(seeds) = file.seeds.filter(|s| !s.is_empty()) {
            NetworkChoice::Seeds(seeds)
        } else {
            match file.network.as_deref() {
                None | Some("mainnet") => NetworkChoice::Mainnet,
                Some("local") => NetworkChoice::Local,
                Some("offline") => NetworkChoice::Offline,
                Some(other) => {
                    return Err(ConfigError::Invalid(format!(
                        "network = \"{other}\": expected \"mainnet\", \"local\" or \"offline\" \
                         (or set network_file / seeds)"
                    )));
                }
            }
        };
        let poll_interval =
            std::time::Duration::from_millis(file.poll_interval_ms.unwrap_or(5_000).max(100));
        Ok(Config {
            proxy: o.proxy.or(file.proxy),
            network,
            poll_interval,
            data_dir,
            runtime_dir,
            keystore: KeystoreConfig {
                kind,
                file_path,
                passphrase,
            },
            dbus,
            log: file.log,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file() {
        let file: FileConfig = toml::from_str(
            "data_dir = \"/from/file\"\nruntime_dir = \"/run/file\"\nkeystore = \"keyutils\"\n",
        )
        .unwrap();
        let c = Config::resolve(
            file,
            Overrides {
                data_dir: Some("/flag".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/flag"));
        assert_eq!(c.runtime_dir, PathBuf::from("/run/file"));
        assert_eq!(c.keystore.kind, Some(KeystoreKind::Keyutils));
        assert_eq!(c.keystore.file_path, PathBuf::from("/flag/keystore"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "data_dri = \"/x\"\n").unwrap();
        let e = load_file(&p, true).unwrap_err();
        assert!(e.to_string().contains("data_dri"), "{e}");
        let e = Config::resolve(
            FileConfig {
                keystore: Some("floppy".into()),
                runtime_dir: Some("/r".into()),
                data_dir: Some("/d".into()),
                ..Default::default()
            },
            Overrides::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("floppy"), "{e}");
    }

    #[test]
    fn network_choice_and_proxy_come_from_flags_over_the_file() {
        let file: FileConfig = toml::from_str(
            "data_dir = \"/d\"\nruntime_dir = \"/r\"\nnetwork = \"local\"\nproxy = \"socks5h://127.0.0.1:9050\"\n",
        )
        .unwrap();
        let c = Config::resolve(file, Overrides::default()).unwrap();
        assert_eq!(c.network, NetworkChoice::Local);
        assert_eq!(c.proxy.as_deref(), Some("socks5h://127.0.0.1:9050"));
        let c = Config::resolve(
            FileConfig {
                data_dir: Some("/d".into()),
                runtime_dir: Some("/r".into()),
                ..Default::default()
            },
            Overrides {
                seeds: vec!["https://s:1/json_rpc".into()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            c.network,
            NetworkChoice::Seeds(vec!["https://s:1/json_rpc".into()])
        );
        let c = Config::resolve(
            FileConfig {
                data_dir: Some("/d".into()),
                runtime_dir: Some("/r".into()),
                ..Default::default()
            },
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.network, NetworkChoice::Mainnet, "mainnet is the default");
        let bad: FileConfig =
            toml::from_str("network = \"moon\"\ndata_dir = \"/d\"\nruntime_dir = \"/r\"\n")
                .unwrap();
        assert!(Config::resolve(bad, Overrides::default()).is_err());
    }

    #[test]
    fn missing_explicit_config_file_is_an_error_but_missing_default_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("none.toml");
        assert!(load_file(&p, true).is_err());
        assert!(load_file(&p, false).is_ok());
    }
}
