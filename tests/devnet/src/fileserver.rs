//! The file server (protocol.md §5.1): upload, download, info and extend of opaque (already
//! encrypted) files up to 10 000 000 bytes, each kept until it expires. Like the production
//! server it is reachable only through onion requests: its plain-HTTP listener on loopback
//! answers the onion endpoints (`/oxen/v4/lsrpc`, and the legacy v3 `/loki/v3/lsrpc` and
//! `/oxen/v3/lsrpc`), which the last hop of a path POSTs to.
//!
//! File ids are content-addressed as in the open-source server:
//! `urlsafe_b64(BLAKE2b-33(body, salt = "SessionFileSvr\0\0"))`, 44 characters, so identical
//! uploads share an id (a re-upload refreshes the expiry). Errors are JSON `{"status_code": N}`
//! with that status.

use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use blake2::Blake2bVarCore;
use blake2::digest::block_api::{Buffer, UpdateCore as _, VariableOutputCore as _};
use rusqlite::{Connection, OptionalExtension as _, params};
use serde_json::{Value, json};
use sessiond_protocol::onion::peel::open_layer;
use sessiond_protocol::onion::{LayerKey, V3Request, V4Request, V4Response};

use crate::clock::Clock;
use crate::config::FileServerConfig;
use crate::error::DevnetError;
use crate::http::{Handler, Outcome, Reply, Request};
use crate::keys::ServerKeys;

/// The salt of file ids.
const FILE_ID_SALT: &[u8; 16] = b"SessionFileSvr\0\0";

/// The content-addressed id of `body`.
pub fn file_id(body: &[u8]) -> String {
    let mut core = Blake2bVarCore::new_with_params(FILE_ID_SALT, &[], 0, 33);
    let mut buffer: Buffer<Blake2bVarCore> = Default::default();
    buffer.digest_blocks(body, |blocks| core.update_blocks(blocks));
    let mut full = Default::default();
    core.finalize_variable_core(&mut buffer, &mut full);
    URL_SAFE.encode(&full[..33])
}

/// A file's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileMeta {
    size: usize,
    uploaded_ms: i64,
    expiry_ms: i64,
}

/// The file server.
pub(crate) struct FileServer {
    /// Its onion keys (X25519 half is the destination key clients encrypt to).
    pub keys: ServerKeys,
    /// Files.
    db: Mutex<Connection>,
    /// Where the database lives (error messages).
    db_path: String,
    /// Shared with the network.
    clock: Clock,
    /// Limits.
    config: FileServerConfig,
}

impl std::fmt::Debug for FileServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileServer({:?})", self.keys)
    }
}

impl FileServer {
    /// Opens (creating) the file database under `dir`, or in memory.
    pub fn open(
        keys: ServerKeys,
        dir: Option<&Path>,
        clock: Clock,
        config: FileServerConfig,
    ) -> Result<FileServer, DevnetError> {
        let path = dir.map(|d| d.join("files.db"));
        let db_path = path
            .as_ref()
            .map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string());
        let err = |source| DevnetError::Database {
            path: db_path.clone(),
            source,
        };
        let conn = match &path {
            Some(p) => Connection::open(p),
            None => Connection::open_in_memory(),
        }
        .map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS files (
                 id TEXT PRIMARY KEY,
                 data BLOB NOT NULL,
                 uploaded INTEGER NOT NULL,
                 expiry INTEGER NOT NULL
             );",
        )
        .map_err(err)?;
        Ok(FileServer {
            keys,
            db: Mutex::new(conn),
            db_path,
            clock,
            config,
        })
    }

    /// Runs `f` on the database after removing expired files.
    fn with<T>(
        &self,
        f: impl FnOnce(&Connection, i64) -> rusqlite::Result<T>,
    ) -> Result<T, DevnetError> {
        let now = self.clock.now_ms();
        let conn = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let run = || {
            conn.execute("DELETE FROM files WHERE expiry <= ?1", params![now])?;
            f(&conn, now)
        };
        run().map_err(|source| DevnetError::Database {
            path: self.db_path.clone(),
            source,
        })
    }

    /// Removes expired files.
    pub fn clean_expired(&self) -> Result<(), DevnetError> {
        self.with(|_, _| Ok(()))
    }

    /// The lifetime asked for by `X-FS-TTL` (seconds), else the default; `None` if the header
    /// is not a positive integer.
    fn ttl_ms(&self, headers: &[(String, String)]) -> Option<i64> {
        let max = i64::try_from(self.config.max_ttl.as_millis()).unwrap_or(i64::MAX);
        match header(headers, "x-fs-ttl") {
            None => Some(i64::try_from(self.config.default_ttl.as_millis()).unwrap_or(max)),
            Some(text) => {
                let secs = text.trim().parse::<i64>().ok().filter(|&s| s > 0)?;
                Some(secs.saturating_mul(1000).min(max))
            }
        }
    }

    /// Answers one file-server request (what the onion endpoints unwrap).
    fn api(
        &self,
        method: &str,
        endpoint: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> V4Response {
        let path = endpoint.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let result = match (method, segments.as_slice()) {
            ("POST", ["file"]) => self.upload(headers, body),
            ("GET", ["file", id]) => self.download(id),
            ("GET", ["file", id, "info"]) => self.info(id),
            ("POST", ["file", id, "extend"]) => self.extend(id, headers),
            (_, ["file"] | ["file", _] | ["file", _, "info" | "extend"]) => Ok(error(405)),
            _ => Ok(error(404)),
        };
        result.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "file server database error");
            error(500)
        })
    }

    fn upload(&self, headers: &[(String, String)], body: &[u8]) -> Result<V4Response, DevnetError> {
        if body.is_empty() || body.len() > self.config.max_size {
            return Ok(error(413));
        }
        let Some(ttl) = self.ttl_ms(headers) else {
            return Ok(error(400));
        };
        let id = file_id(body);
        let meta = self.with(|conn, now| {
            let expiry = now.saturating_add(ttl);
            let updated = conn.execute(
                "UPDATE files SET uploaded = ?1, expiry = ?2 WHERE id = ?3",
                params![now, expiry, id],
            )?;
            if updated == 0 {
                conn.execute(
                    "INSERT INTO files (id, data, uploaded, expiry) VALUES (?1, ?2, ?3, ?4)",
                    params![id, body, now, expiry],
                )?;
            }
            Ok(FileMeta {
                size: body.len(),
                uploaded_ms: now,
                expiry_ms: expiry,
            })
        })?;
        Ok(ok_json(&json!({
            "id": id,
            "expires": secs(meta.expiry_ms),
            "uploaded": secs(meta.uploaded_ms),
            "size": meta.size,
        })))
    }

    fn download(&self, id: &str) -> Result<V4Response, DevnetError> {
        let found: Option<(Vec<u8>, i64)> = self.with(|conn, _| {
            conn.query_row(
                "SELECT data, expiry FROM files WHERE id = ?1",
                params![id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
        })?;
        Ok(match found {
            Some((data, expiry)) => V4Response {
                code: 200,
                headers: vec![
                    ("content-type".into(), "application/octet-stream".into()),
                    ("expires".into(), http_date(expiry)),
                ],
                body: data,
            },
            None => error(404),
        })
    }

    fn meta(&self, id: &str) -> Result<Option<FileMeta>, DevnetError> {
        self.with(|conn, _| {
            conn.query_row(
                "SELECT length(data), uploaded, expiry FROM files WHERE id = ?1",
                params![id],
                |row| {
                    Ok(FileMeta {
                        size: usize::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                        uploaded_ms: row.get(1)?,
                        expiry_ms: row.get(2)?,
                    })
                },
            )
            .optional()
        })
    }

    fn info(&self, id: &str) -> Result<V4Response, DevnetError> {
        Ok(match self.meta(id)? {
            Some(meta) => ok_json(&json!({
                "size": meta.size,
                "uploaded": secs(meta.uploaded_ms),
                "expires": secs(meta.expiry_ms),
            })),
            None => error(404),
        })
    }

    fn extend(&self, id: &str, headers: &[(String, String)]) -> Result<V4Response, DevnetError> {
        let Some(ttl) = self.ttl_ms(headers) else {
            return Ok(error(400));
        };
        let changed = self.with(|conn, now| {
            conn.execute(
                "UPDATE files SET expiry = MAX(expiry, ?1) WHERE id = ?2",
                params![now.saturating_add(ttl), id],
            )
        })?;
        if changed == 0 {
            return Ok(error(404));
        }
        Ok(match self.meta(id)? {
            Some(meta) => ok_json(&json!({
                "expires": secs(meta.expiry_ms),
                "uploaded": secs(meta.uploaded_ms),
                "size": meta.size,
            })),
            None => error(404),
        })
    }

    /// An onion v4 request: open the layer, answer the inner request, encrypt the v4 response
    /// (raw bytes, not base64).
    fn onion_v4(&self, body: &[u8]) -> Reply {
        let secret = self.keys.x25519_secret();
        let Ok(layer) = open_layer(&secret, body) else {
            return Reply::text(400, "Bad Request");
        };
        let response = match V4Request::decode(layer.plaintext()) {
            Ok(request) if request.endpoint.starts_with('/') => self.api(
                &request.method,
                &request.endpoint,
                &request.headers,
                request.body.as_deref().unwrap_or_default(),
            ),
            _ => V4Response {
                code: 400,
                headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
                body: b"Invalid v4 onion request".to_vec(),
            },
        };
        match encrypt(layer.reply_key(), &response.encode()) {
            Some(sealed) => Reply::bytes(200, "application/octet-stream", sealed.into()),
            None => Reply::text(500, "Internal Server Error"),
        }
    }

    /// A legacy v3 request: the endpoint's body on success, else `{"status_code": N}`;
    /// encrypted and base64-encoded.
    fn onion_v3(&self, body: &[u8]) -> Reply {
        let secret = self.keys.x25519_secret();
        let Ok(layer) = open_layer(&secret, body) else {
            return Reply::text(400, "Bad Request");
        };
        let reply = match V3Request::decode(layer.plaintext()) {
            Ok(request) => {
                let body = request.body.unwrap_or_default();
                let body = match request.method.as_str() {
                    // Uploads through v3 carry the file as base64 text.
                    "POST" | "PUT" => STANDARD
                        .decode(body.as_bytes())
                        .unwrap_or_else(|_| body.into_bytes()),
                    _ => Vec::new(),
                };
                let response =
                    self.api(&request.method, &request.endpoint, &request.headers, &body);
                if response.code == 200 {
                    response.body
                } else {
                    json!({"status_code": response.code})
                        .to_string()
                        .into_bytes()
                }
            }
            Err(_) => json!({"status_code": 400}).to_string().into_bytes(),
        };
        match encrypt(layer.reply_key(), &reply) {
            Some(sealed) => Reply::text(200, STANDARD.encode(sealed)),
            None => Reply::text(500, "Internal Server Error"),
        }
    }
}

/// The file server's HTTP handler (plain HTTP on loopback).
pub(crate) struct FileServerHandler {
    /// The server.
    pub server: Arc<FileServer>,
}

impl Handler for FileServerHandler {
    async fn handle(&self, request: Request) -> Outcome {
        let span = tracing::debug_span!("file_server", path = %request.path);
        let _entered = span.enter();
        let reply = match (request.method == http::Method::POST, request.path.as_str()) {
            (true, "/oxen/v4/lsrpc") => self.server.onion_v4(&request.body),
            (true, "/oxen/v3/lsrpc" | "/loki/v3/lsrpc") => self.server.onion_v3(&request.body),
            _ => Reply::text(404, "Not Found"),
        };
        Outcome::Reply(reply)
    }
}

fn encrypt(key: &LayerKey, plain: &[u8]) -> Option<Vec<u8>> {
    let mut rng = crate::rng::fresh().ok()?;
    key.encrypt(plain, &mut rng).ok()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn ok_json(value: &Value) -> V4Response {
    V4Response {
        code: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: value.to_string().into_bytes(),
    }
}

fn error(code: u16) -> V4Response {
    V4Response {
        code,
        headers: vec![("content-type".into(), "application/json".into())],
        body: json!({"status_code": code}).to_string().into_bytes(),
    }
}

/// Unix milliseconds as float seconds.
fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        day,
        MONTHS[(month - 1).clamp(0, 11) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_and_ids() {
        assert_eq!(http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        let id = file_id(b"hello");
        assert_eq!(id.len(), 44);
        assert_eq!(id, file_id(b"hello"));
        assert_ne!(id, file_id(b"hello!"));
    }

    #[test]
    fn file_api_upload_download_info_extend_and_expiry() {
        let clock = Clock::manual(1_700_000_000_000);
        let server = FileServer::open(
            ServerKeys::generate().unwrap(),
            None,
            clock.clone(),
            FileServerConfig::default(),
        )
        .unwrap();
        let up = server.api("POST", "/file", &[], b"data");
        assert_eq!(up.code, 200);
        let body: Value = serde_json::from_slice(&up.body).unwrap();
        let id = body["id"].as_str().unwrap().to_owned();
        assert_eq!(body["size"], 4);
        assert_eq!(
            server.api("GET", &format!("/file/{id}"), &[], b"").body,
            b"data"
        );
        assert_eq!(
            server
                .api("GET", &format!("/file/{id}/info"), &[], b"")
                .code,
            200
        );
        let ttl = [("X-FS-TTL".to_owned(), "30".to_owned())];
        assert_eq!(
            server
                .api("POST", &format!("/file/{id}/extend"), &ttl, b"")
                .code,
            200
        );
        assert_eq!(server.api("GET", "/file/nope", &[], b"").code, 404);
        assert_eq!(server.api("POST", "/file", &[], b"").code, 413);
        let limit = FileServerConfig::default().max_size;
        assert_eq!(limit, 10_000_000);
        assert_eq!(
            server.api("POST", "/file", &[], &vec![1u8; limit + 1]).code,
            413
        );
        assert_eq!(
            server.api("POST", "/file", &[], &vec![1u8; limit]).code,
            200
        );
        let short = server.api("POST", "/file", &ttl, b"short-lived");
        let short: Value = serde_json::from_slice(&short.body).unwrap();
        let short_id = short["id"].as_str().unwrap();
        clock.advance(31_000);
        assert_eq!(
            server
                .api("GET", &format!("/file/{short_id}"), &[], b"")
                .code,
            404
        );
        assert_eq!(
            server.api("GET", &format!("/file/{id}"), &[], b"").code,
            200
        );
        let bad_ttl = [("X-FS-TTL".to_owned(), "soon".to_owned())];
        assert_eq!(server.api("POST", "/file", &bad_ttl, b"x").code, 400);
        assert_eq!(server.api("DELETE", "/file", &[], b"").code, 405);
    }
}
