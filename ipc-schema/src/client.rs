//! A typed async client for the socket surface, used by every frontend.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sessiond_ipc::client::ClientError> {
//! use sessiond_ipc::{client::SocketClient, methods::DaemonVersion, types::NoParams};
//! let mut client = SocketClient::connect(&SocketClient::default_path()?).await?;
//! let version = client.call::<DaemonVersion>(&NoParams {}).await?;
//! println!("sessiond {}", version.version);
//! # Ok(()) }
//! ```

use crate::error::ApiError;
use crate::jsonrpc::{Request, Response};
use crate::methods::Method;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// Why a call did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon is listening at the socket path.
    #[error("no sessiond is running (nothing listens on {path}): start it with `sessiond`")]
    NotRunning {
        /// The socket path tried.
        path: PathBuf,
    },
    /// Connecting or talking to the socket failed.
    #[error("talking to sessiond at {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The daemon closed the connection before answering.
    #[error("sessiond closed the connection")]
    Closed,
    /// The daemon answered something that is not a valid response.
    #[error("invalid response from sessiond: {0}")]
    Protocol(String),
    /// No runtime directory is known, so the default socket path cannot be formed.
    #[error("XDG_RUNTIME_DIR is not set: pass the socket path explicitly")]
    NoRuntimeDir,
    /// The daemon answered with an error.
    #[error("{0}")]
    Api(#[from] ApiError),
}

/// A connection to the daemon's socket.
pub struct SocketClient {
    path: PathBuf,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
}

impl SocketClient {
    /// `$XDG_RUNTIME_DIR/sessiond/api.sock`.
    pub fn default_path() -> Result<PathBuf, ClientError> {
        let dir = std::env::var_os("XDG_RUNTIME_DIR").ok_or(ClientError::NoRuntimeDir)?;
        Ok(PathBuf::from(dir).join("sessiond").join("api.sock"))
    }

    /// Connect to the socket at `path`.
    pub async fn connect(path: &Path) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    ClientError::NotRunning {
                        path: path.to_owned(),
                    }
                }
                _ => ClientError::Io {
                    path: path.to_owned(),
                    source: e,
                },
            })?;
        let (r, w) = stream.into_split();
        Ok(SocketClient {
            path: path.to_owned(),
            reader: BufReader::new(r),
            writer: w,
            next_id: 1,
        })
    }

    /// Call method `M` and wait for its result.
    pub async fn call<M: Method>(&mut self, params: &M::Params) -> Result<M::Result, ClientError> {
        let params =
            serde_json::to_value(params).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let value = self.call_raw(M::NAME, params).await?;
        serde_json::from_value(value).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Call a method by name with untyped parameters (for generic tools).
    pub async fn call_raw(
        &mut self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let request = Request {
            jsonrpc: "2.0".into(),
            method: method.into(),
            params: Some(params),
            id: Some(id.into()),
        };
        let mut line =
            serde_json::to_vec(&request).map_err(|e| ClientError::Protocol(e.to_string()))?;
        line.push(b'\n');
        self.writer.write_all(&line).await.map_err(|e| self.io(e))?;
        loop {
            let mut buf = String::new();
            let n = self
                .reader
                .read_line(&mut buf)
                .await
                .map_err(|e| self.io(e))?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
            let response: Response =
                serde_json::from_str(&buf).map_err(|e| ClientError::Protocol(e.to_string()))?;
            if response.id != id {
                // Not ours (e.g. a notification); later API versions route these to subscribers.
                continue;
            }
            return match (response.result, response.error) {
                (_, Some(err)) => Err(ClientError::Api(err.to_api_error())),
                (Some(result), None) => Ok(result),
                (None, None) => Err(ClientError::Protocol(
                    "response has neither result nor error".into(),
                )),
            };
        }
    }

    fn io(&self, source: std::io::Error) -> ClientError {
        ClientError::Io {
            path: self.path.clone(),
            source,
        }
    }
}
