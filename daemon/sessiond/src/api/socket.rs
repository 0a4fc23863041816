//! The JSON-RPC socket: `$XDG_RUNTIME_DIR/sessiond/api.sock`.
//!
//! Why it exists: the language-neutral surface for scripts, bots and frontends. Trust model:
//! only processes of the daemon's own user may connect — the directory is 0700, the socket
//! 0600, and every connection's peer uid is checked with `SO_PEERCRED`. The number of clients
//! at once is capped; each connection is served by its own task, and a broken client can only
//! break its own connection.

use super::framing::{Frame, LineFrames};
use super::jsonrpc;
use crate::service::Service;
use futures_util::StreamExt;
use serde_json::Value;
use sessiond_ipc::jsonrpc::Response;
use sessiond_ipc::{ApiError, ErrorCode, MAX_LINE_BYTES};
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};
use tokio_util::codec::FramedRead;

/// Most clients served at once; further connections wait for a slot.
pub const MAX_CLIENTS: usize = 256;

/// Why the socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// Another daemon already answers on the socket path.
    #[error("another sessiond is already listening on {0}")]
    InUse(PathBuf),
    /// Creating the directory or socket failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What we were doing.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Create `dir` (0700) and bind `dir/api.sock` (0600), replacing a stale socket file.
pub async fn bind(dir: &Path) -> Result<(UnixListener, PathBuf), SocketError> {
    fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SocketError + 'a {
        move |source| SocketError::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io("setting permissions of", dir))?;
    let path = dir.join("api.sock");
    if path.exists() {
        if UnixStream::connect(&path).await.is_ok() {
            return Err(SocketError::InUse(path));
        }
        std::fs::remove_file(&path).map_err(io("removing stale socket", &path))?;
    }
    let listener = UnixListener::bind(&path).map_err(io("binding", &path))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(io("setting permissions of", &path))?;
    Ok((listener, path))
}

/// Serve connections on `listener` until `shutdown` resolves; then stop accepting and wait
/// for the open connections to finish their current request.
pub async fn serve(
    listener: UnixListener,
    service: Weak<Service>,
    shutdown: impl Future<Output = ()>,
) {
    let limit = Arc::new(Semaphore::new(MAX_CLIENTS));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = Arc::clone(&limit).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a socket connection failed");
                    continue;
                }
            },
        };
        let service = service.clone();
        let stop = stop_rx.clone();
        tasks.spawn(async move {
            let _permit = permit;
            serve_connection(stream, service, stop).await;
        });
        // Reap finished connections so the set does not grow.
        while tasks.try_join_next().is_some() {}
    }
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
}

fn peer_allowed(stream: &UnixStream) -> Result<(), String> {
    let cred = stream
        .peer_cred()
        .map_err(|e| format!("cannot read peer credentials: {e}"))?;
    let own = nix::unistd::geteuid().as_raw();
    if cred.uid() == own {
        Ok(())
    } else {
        Err(format!(
            "peer uid {} is not the daemon's uid {own}",
            cred.uid()
        ))
    }
}

async fn serve_connection(
    stream: UnixStream,
    service: Weak<Service>,
    mut stop: watch::Receiver<bool>,
) {
    if let Err(why) = peer_allowed(&stream) {
        tracing::warn!(%why, "refusing socket client");
        let err = ApiError::new(
            ErrorCode::InvalidRequest,
            format!("connection refused: {why}"),
        );
        let mut stream = stream;
        let _ = write_value(
            &mut stream,
            &serde_json::to_value(Response::err(Value::Null, &err)).unwrap_or_default(),
        )
        .await;
        return;
    }
    let (read, mut write) = stream.into_split();
    let mut frames = FramedRead::new(read, LineFrames::new(MAX_LINE_BYTES));
    loop {
        let frame = tokio::select! {
            _ = stop.changed() => break,
            f = frames.next() => f,
        };
        let reply = match frame {
            None => break,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "socket client read failed");
                break;
            }
            Some(Ok(Frame::TooLong)) => {
                let err = ApiError::new(
                    ErrorCode::RequestTooLarge,
                    format!("request line exceeds {MAX_LINE_BYTES} bytes"),
                );
                serde_json::to_value(Response::err(Value::Null, &err)).ok()
            }
            Some(Ok(Frame::Line(line))) if line.iter().all(u8::is_ascii_whitespace) => continue,
            Some(Ok(Frame::Line(line))) => {
                let Some(svc) = service.upgrade() else {
                    let err = ApiError::new(ErrorCode::ShuttingDown, "sessiond is shutting down");
                    let _ = write_value(
                        &mut write,
                        &serde_json::to_value(Response::err(Value::Null, &err)).unwrap_or_default(),
                    )
                    .await;
                    break;
                };
                jsonrpc::handle_line(&svc, &line).await
            }
        };
        if let Some(v) = reply
            && let Err(e) = write_value(&mut write, &v).await
        {
            tracing::debug!(error = %e, "socket client write failed");
            break;
        }
    }
}

async fn write_value(w: &mut (impl AsyncWriteExt + Unpin), v: &Value) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    w.write_all(&bytes).await
}
