//! The control socket: a Unix socket on which a test harness or a person steers a running
//! `sessiond-devnet` with one command per line, answered with one line each.
//!
//! ```text
//! stop <node>            start <node>           heal <node>
//! slow <node> <ms>       fail <node> <status>   fail <node> off
//! skew <node> <ms>       drop <node> <fraction> move <node> <swarm>
//! advance <ms>           status                 help
//! ```
//!
//! `<node>` is an index or an Ed25519 key in hex; `<swarm>` is an index into the starting swarm
//! list or a hex id (`0x…`). Answers are `ok`, `ok <json>` (status) or `error: <why>`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixListener;
use tokio::sync::watch;

use crate::error::DevnetError;
use crate::network::Devnet;

/// Longest command line accepted.
const MAX_LINE: usize = 1024;

/// A parsed control command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Stop a node.
    Stop(String),
    /// Start a stopped node.
    Start(String),
    /// Delay a node's answers (milliseconds).
    Slow(String, u64),
    /// Answer everything with a status (`None`: stop failing).
    Fail(String, Option<u16>),
    /// Move a node to a swarm (index or `0x` hex id).
    Move(String, String),
    /// Skew a node's clock (milliseconds).
    Skew(String, i64),
    /// Drop a fraction of a node's requests.
    Drop(String, f64),
    /// Clear a node's faults, return it to its swarm, start it.
    Heal(String),
    /// Move the devnet clock forward (milliseconds).
    Advance(i64),
    /// Every node's state, as JSON.
    Status,
    /// The command list.
    Help,
}

impl Command {
    /// Parses one line.
    pub fn parse(line: &str) -> Result<Command, DevnetError> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = |why: &str| DevnetError::Command(format!("{why} (try `help`)"));
        let number = |text: &str| {
            text.parse::<i64>()
                .map_err(|_| bad(&format!("{text:?} is not a number")))
        };
        Ok(match words.as_slice() {
            ["stop", node] => Command::Stop((*node).to_owned()),
            ["start", node] => Command::Start((*node).to_owned()),
            ["heal", node] => Command::Heal((*node).to_owned()),
            ["slow", node, ms] => Command::Slow(
                (*node).to_owned(),
                u64::try_from(number(ms)?).map_err(|_| bad("delay must be positive"))?,
            ),
            ["fail", node, "off" | "none" | "0"] => Command::Fail((*node).to_owned(), None),
            ["fail", node, status] => Command::Fail(
                (*node).to_owned(),
                Some(u16::try_from(number(status)?).map_err(|_| bad("not an HTTP status"))?),
            ),
            ["move", node, swarm] => Command::Move((*node).to_owned(), (*swarm).to_owned()),
            ["skew", node, ms] => Command::Skew((*node).to_owned(), number(ms)?),
            ["drop", node, fraction] => Command::Drop(
                (*node).to_owned(),
                fraction
                    .parse::<f64>()
                    .map_err(|_| bad(&format!("{fraction:?} is not a fraction")))?,
            ),
            ["advance", ms] => Command::Advance(number(ms)?),
            ["status"] => Command::Status,
            ["help"] => Command::Help,
            [] => return Err(bad("empty command")),
            _ => return Err(bad(&format!("unknown command {line:?}"))),
        })
    }
}

impl Devnet {
    /// Carries out a control command; the answer line's payload (empty for plain `ok`).
    pub async fn apply(&self, command: Command) -> Result<String, DevnetError> {
        match command {
            Command::Stop(node) => self.stop_node(self.resolve_node(&node)?).await?,
            Command::Start(node) => self.start_node(self.resolve_node(&node)?).await?,
            Command::Heal(node) => self.heal(self.resolve_node(&node)?).await?,
            Command::Slow(node, ms) => {
                self.set_slow(self.resolve_node(&node)?, Duration::from_millis(ms))?;
            }
            Command::Fail(node, status) => self.set_fail(self.resolve_node(&node)?, status)?,
            Command::Skew(node, ms) => self.set_skew(self.resolve_node(&node)?, ms)?,
            Command::Drop(node, fraction) => self.set_drop(self.resolve_node(&node)?, fraction)?,
            Command::Move(node, swarm) => {
                let index = self.resolve_node(&node)?;
                let id = match swarm.strip_prefix("0x") {
                    Some(hex_id) => u64::from_str_radix(hex_id, 16)
                        .map_err(|_| DevnetError::UnknownSwarm(swarm.clone()))?,
                    None => swarm
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| self.swarm_ids().get(i).copied())
                        .ok_or_else(|| DevnetError::UnknownSwarm(swarm.clone()))?,
                };
                self.move_node(index, id)?;
            }
            Command::Advance(ms) => self.clock().advance(ms),
            Command::Status => {
                let mut nodes = Vec::new();
                for node in self.nodes() {
                    let faults = self.faults(node.index)?;
                    nodes.push(json!({
                        "index": node.index,
                        "port": node.port,
                        "pubkey_ed25519": node.ed25519_hex(),
                        "swarm": format!("{:x}", self.swarm_of(node.index)?),
                        "running": self.is_running(node.index).await?,
                        "slow_ms": faults.slow.as_millis(),
                        "fail": faults.fail_status,
                        "skew_ms": faults.skew_ms,
                        "drop_ppm": faults.drop_ppm,
                    }));
                }
                return Ok(json!({"now": self.clock().now_ms(), "nodes": nodes}).to_string());
            }
            Command::Help => {
                return Ok(
                    "stop|start|heal <node>; slow <node> <ms>; fail <node> <status|off>; \
                           skew <node> <ms>; drop <node> <fraction>; move <node> <swarm>; \
                           advance <ms>; status"
                        .to_owned(),
                );
            }
        }
        Ok(String::new())
    }
}

/// Serves the control socket at `path` until `stop` turns true. A stale socket file is
/// replaced.
pub async fn serve_control(
    path: &Path,
    devnet: Arc<Devnet>,
    stop: watch::Receiver<bool>,
) -> Result<(), DevnetError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(DevnetError::io("removing stale control socket", path, e)),
    }
    let listener =
        UnixListener::bind(path).map_err(|e| DevnetError::io("binding control socket", path, e))?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| DevnetError::io("restricting control socket", path, e))?;
    }
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = crate::http::stopped(stop.clone()) => break,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let devnet = devnet.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read.take(1 << 20)).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let answer = if line.len() > MAX_LINE {
                    "error: line too long".to_owned()
                } else {
                    match Command::parse(&line) {
                        Ok(command) => match devnet.apply(command).await {
                            Ok(payload) if payload.is_empty() => "ok".to_owned(),
                            Ok(payload) => format!("ok {payload}"),
                            Err(e) => format!("error: {e}"),
                        },
                        Err(e) => format!("error: {e}"),
                    }
                };
                if write
                    .write_all(format!("{answer}\n").as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
    }
    let _ = std::fs::remove_file(path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(Command::parse("stop 3").unwrap(), Command::Stop("3".into()));
        assert_eq!(
            Command::parse("slow 1 250").unwrap(),
            Command::Slow("1".into(), 250)
        );
        assert_eq!(
            Command::parse("fail 2 503").unwrap(),
            Command::Fail("2".into(), Some(503))
        );
        assert_eq!(
            Command::parse("fail 2 off").unwrap(),
            Command::Fail("2".into(), None)
        );
        assert_eq!(
            Command::parse("skew 0 -90000").unwrap(),
            Command::Skew("0".into(), -90_000)
        );
        assert_eq!(
            Command::parse("drop 0 0.5").unwrap(),
            Command::Drop("0".into(), 0.5)
        );
        assert_eq!(
            Command::parse("move 4 0x10").unwrap(),
            Command::Move("4".into(), "0x10".into())
        );
        assert!(Command::parse("").is_err());
        assert!(Command::parse("slow 1").is_err());
        assert!(Command::parse("slow 1 -5").is_err());
        assert!(Command::parse("explode 1").is_err());
    }
}
