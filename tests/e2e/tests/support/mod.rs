//! Shared by the messaging tests and the daemon benchmark: a devnet on its own runtime in the
//! calling process (`Net`), `sessiond` daemons with one account each on it (`Peer`), and
//! messages planted straight into a swarm as another client would store them.
#![allow(dead_code)]

use anyhow::{Context as _, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sessiond_devnet::{Devnet, DevnetConfig, HttpsClient, Timeouts};
use sessiond_e2e::daemon::{Daemon, DaemonOptions, RawSocket};
use sessiond_e2e::wait_until;
use sessiond_protocol::{AccountId, Identity, Seed, proto};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

/// The daemons' poll interval in tests (`poll_interval_ms` in their config file).
pub const POLL_INTERVAL_MS: u64 = 200;
/// Longest wait for messages to be delivered (normally well under a few seconds).
pub const DELIVERY: Duration = Duration::from_secs(40);
/// Swarm TTL of planted messages (14 days, as clients send).
pub const TTL_MS: i64 = 14 * 24 * 3_600_000;

// ---------------------------------------------------------------------------------------------
// The network

/// A devnet running on its own runtime in this process, and its `network.json`.
pub struct Net {
    pub devnet: Option<Devnet>,
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    pub network_json: PathBuf,
    pub http: HttpsClient,
}

impl Net {
    /// 9 nodes in 3 swarms of 3, on the system clock, with short relay timeouts.
    pub fn start() -> Net {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let devnet = rt
            .block_on(Devnet::start(DevnetConfig {
                nodes: 9,
                swarm_size: 3,
                timeouts: Timeouts {
                    swarm: Duration::from_secs(2),
                    onion_hop: Duration::from_secs(3),
                    server: Duration::from_secs(3),
                },
                cleanup_interval: Duration::from_secs(3600),
                ..DevnetConfig::default()
            }))
            .expect("the devnet starts");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let network_json = dir.path().join("network.json");
        devnet
            .write_network_json(&network_json, None)
            .expect("network.json written");
        let http = HttpsClient::insecure().expect("an HTTPS client");
        Net {
            devnet: Some(devnet),
            rt,
            dir,
            network_json,
            http,
        }
    }

    pub fn devnet(&self) -> &Devnet {
        self.devnet
            .as_ref()
            .expect("the devnet runs until the test ends")
    }

    /// Indexes of the nodes that store `account`'s messages now.
    pub fn swarm_of(&self, account: &str) -> Vec<usize> {
        let id: AccountId = account.parse().expect("an Account ID");
        let swarm = self
            .devnet()
            .swarm_for(id.as_bytes())
            .expect("the devnet has swarms");
        self.devnet()
            .swarm_members(swarm)
            .iter()
            .map(|n| n.index)
            .collect()
    }

    /// The `storage_rpc` URL of a member of `to`'s swarm.
    fn store_url(&self, to: &str) -> Result<String> {
        let node = self.swarm_of(to)[0];
        Ok(format!(
            "{}/storage_rpc/v1",
            self.devnet().node(node)?.base_url()
        ))
    }

    /// Store `data` for `to` directly at a member of its swarm (a plain `store` RPC, as any
    /// client may do); returns the swarm's hash.
    pub fn store_direct(&self, to: &str, data: &[u8]) -> Result<String> {
        let url = self.store_url(to)?;
        let now = self.devnet().clock().now_ms();
        self.rt.block_on(store_at(&self.http, &url, to, now, data))
    }

    /// [`Net::store_direct`] for many messages, `concurrency` requests at a time.
    pub fn store_many(&self, to: &str, payloads: Vec<Vec<u8>>, concurrency: usize) -> Result<()> {
        let url = self.store_url(to)?;
        let now = self.devnet().clock().now_ms();
        let payloads = std::sync::Arc::new(payloads);
        let tasks: Vec<_> = (0..concurrency.max(1))
            .map(|k| {
                let (http, url, to) = (self.http.clone(), url.clone(), to.to_owned());
                let payloads = std::sync::Arc::clone(&payloads);
                self.rt.spawn(async move {
                    for data in payloads.iter().skip(k).step_by(concurrency.max(1)) {
                        store_at(&http, &url, &to, now, data).await?;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        for task in tasks {
            self.rt.block_on(task)??;
        }
        Ok(())
    }

    pub fn stop_node(&self, index: usize) {
        self.rt
            .block_on(self.devnet().stop_node(index))
            .expect("node stops");
    }

    pub fn heal(&self, index: usize) {
        self.rt
            .block_on(self.devnet().heal(index))
            .expect("node heals");
    }
}

/// One `store` RPC; returns the swarm's hash.
async fn store_at(
    http: &HttpsClient,
    url: &str,
    to: &str,
    now_ms: i64,
    data: &[u8],
) -> Result<String> {
    let body = json!({"method": "store", "params": {
        "pubkey": to,
        "timestamp": now_ms,
        "ttl": TTL_MS,
        "data": B64.encode(data),
        "namespace": 0,
    }});
    let answer = http
        .post(
            url,
            &[("content-type", "application/json")],
            body.to_string(),
            Duration::from_secs(10),
        )
        .await?;
    ensure!(
        answer.status == 200,
        "store answered {}: {}",
        answer.status,
        answer.text()
    );
    let json = answer.json().context("store answer is not JSON")?;
    Ok(json["hash"].as_str().context("no hash")?.to_owned())
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Some(devnet) = self.devnet.take() {
            self.rt.block_on(devnet.shutdown());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The daemons

/// A message as `message.list` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub id: i64,
    pub direction: String,
    pub sender: String,
    pub sent_at_ms: i64,
    pub text: String,
    pub state: String,
}

impl Msg {
    pub fn parse(v: &Value) -> Msg {
        Msg {
            id: v["id"].as_i64().expect("id"),
            direction: v["direction"].as_str().expect("direction").to_owned(),
            sender: v["sender"].as_str().expect("sender").to_owned(),
            sent_at_ms: v["sent_at_ms"].as_i64().expect("sent_at_ms"),
            text: v["text"].as_str().unwrap_or_default().to_owned(),
            state: v["state"].as_str().expect("state").to_owned(),
        }
    }
}

/// A JSON-RPC connection that numbers its requests.
pub struct Api {
    pub socket: RawSocket,
    pub next_id: u64,
}

impl Api {
    pub fn connect(d: &Daemon) -> Result<Api> {
        Ok(Api {
            socket: RawSocket::connect(&d.socket_path())?,
            next_id: 1,
        })
    }

    /// The call's `result`, or an error quoting the JSON-RPC error.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        self.next_id += 1;
        let r = self.socket.call(self.next_id, method, params)?;
        match r.get("result") {
            Some(result) => Ok(result.clone()),
            None => bail!("{method} failed: {r}"),
        }
    }
}

/// One `sessiond` with one account, restartable on the same data.
pub struct Peer {
    pub name: &'static str,
    pub root: PathBuf,
    pub opts: DaemonOptions,
    pub daemon: Option<Daemon>,
    pub api: Option<Api>,
    /// Its Account ID.
    pub id: String,
    /// Logs of earlier runs of this daemon.
    pub old_logs: String,
}

impl Peer {
    /// Start a daemon on `net` (log filter `log`, polling every [`POLL_INTERVAL_MS`]) and
    /// create its account.
    pub fn start(net: &Net, name: &'static str, log: &str) -> Result<Peer> {
        let config = format!("poll_interval_ms = {POLL_INTERVAL_MS}\n");
        Peer::start_with(net, name, &config, &[("RUST_LOG", log)])
    }

    /// Start a daemon on `net` with `config` as its config file and `env` added to its
    /// environment, and create its account.
    pub fn start_with(
        net: &Net,
        name: &'static str,
        config: &str,
        env: &[(&str, &str)],
    ) -> Result<Peer> {
        let root = net.dir.path().join(name);
        std::fs::create_dir_all(&root)?;
        let config_path = root.join("sessiond.toml");
        std::fs::write(&config_path, config)?;
        let opts = DaemonOptions {
            network: vec![
                "--network-file".into(),
                net.network_json.display().to_string(),
            ],
            args: vec!["--config".into(), config_path.display().to_string()],
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..DaemonOptions::default()
        };
        let mut peer = Peer {
            name,
            root,
            opts,
            daemon: None,
            api: None,
            id: String::new(),
            old_logs: String::new(),
        };
        peer.run()?;
        let created = peer.call("account.create", json!({ "name": name }))?;
        peer.id = created["account_id"]
            .as_str()
            .context("account_id")?
            .to_owned();
        Ok(peer)
    }

    /// (Re)start the daemon on the same data directory.
    pub fn run(&mut self) -> Result<()> {
        ensure!(self.daemon.is_none(), "{} is already running", self.name);
        let daemon = Daemon::start(&self.root, &self.opts)?;
        self.api = Some(Api::connect(&daemon)?);
        self.daemon = Some(daemon);
        Ok(())
    }

    pub fn retire(&mut self, d: &Daemon) {
        self.api = None;
        self.old_logs += &d.stderr_text();
        self.old_logs += "\n--- (restarted) ---\n";
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> Result<()> {
        let d = self.daemon.take().context("not running")?;
        self.retire(&d);
        let status = d.stop()?;
        ensure!(status.success(), "{} exited with {status}", self.name);
        Ok(())
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) -> Result<()> {
        let d = self.daemon.take().context("not running")?;
        self.retire(&d);
        d.kill9()
    }

    pub fn daemon(&self) -> &Daemon {
        self.daemon.as_ref().expect("the daemon is running")
    }

    /// Everything this daemon logged, over all its runs.
    pub fn log(&self) -> String {
        let now = self.daemon.as_ref().map(Daemon::stderr_text);
        format!("{}{}", self.old_logs, now.unwrap_or_default())
    }

    pub fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        self.api
            .as_mut()
            .context("the daemon is not running")?
            .call(method, params)
    }

    /// `message.send`; returns the message id.
    pub fn send(&mut self, to: &str, text: &str) -> Result<i64> {
        let r = self.call("message.send", json!({"to": to, "text": text}))?;
        ensure!(r["state"] == "pending", "{r}");
        r["id"].as_i64().context("id")
    }

    /// The whole conversation with `peer`, newest first (every page of `message.list`).
    pub fn history(&mut self, peer: &str) -> Result<Vec<Msg>> {
        let mut all = Vec::new();
        let mut before: Option<i64> = None;
        loop {
            let page = self.call(
                "message.list",
                json!({"conversation": peer, "before": before, "limit": 500}),
            )?;
            let page = page.as_array().context("a list")?;
            all.extend(page.iter().map(Msg::parse));
            match page.last() {
                Some(last) if page.len() == 500 => before = last["id"].as_i64(),
                _ => return Ok(all),
            }
        }
    }

    /// Wait until the conversation with `peer` satisfies `done`; returns it.
    pub fn wait_history(
        &mut self,
        peer: &str,
        what: &str,
        done: impl Fn(&[Msg]) -> bool,
    ) -> Result<Vec<Msg>> {
        let name = self.name;
        let got = wait_until(DELIVERY, &format!("{name}: {what}"), || {
            let h = self.history(peer)?;
            Ok(done(&h).then_some(h))
        });
        got.with_context(|| self.context())
    }

    /// What to print when a wait fails: the end of this daemon's log.
    pub fn context(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "{}'s log (last 60 lines):\n{}",
            self.name,
            lines[lines.len().saturating_sub(60)..].join("\n")
        )
    }
}

/// Wait until `network.status` of `peer` satisfies `done`.
pub fn wait_for_status(peer: &mut Peer, what: &str, done: impl Fn(&Value) -> bool) -> Result<()> {
    let got = wait_until(DELIVERY, what, || {
        let status = peer.call("network.status", json!({}))?;
        Ok(done(&status).then_some(()))
    });
    got.with_context(|| peer.context())
}

/// Texts in a history, with how often each appears.
pub fn counts(history: &[Msg]) -> HashMap<&str, usize> {
    let mut c = HashMap::new();
    for m in history {
        *c.entry(m.text.as_str()).or_default() += 1;
    }
    c
}

/// Panics naming the first text seen more than once.
pub fn assert_no_duplicates(who: &str, history: &[Msg]) {
    let dups: Vec<_> = counts(history)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(dups.is_empty(), "{who} stored messages twice: {dups:?}");
    let ids: HashSet<i64> = history.iter().map(|m| m.id).collect();
    assert_eq!(
        ids.len(),
        history.len(),
        "{who}: a message id is listed twice"
    );
}

// ---------------------------------------------------------------------------------------------
// Messages planted directly in a swarm

pub fn identity(byte: u8) -> Identity {
    Identity::from_seed(&Seed::from_bytes(&[byte; 16]).expect("16 bytes"))
}

/// A 1:1 text message from `from` to `to`, as a Session client stores it.
pub fn encode_text(from: &Identity, to: &str, text: &str, sent_ms: i64) -> Vec<u8> {
    let to: AccountId = to.parse().expect("an Account ID");
    let content = proto::Content {
        data_message: Some(proto::DataMessage {
            body: Some(text.to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
    sessiond_protocol::encode_1o1(from, &to, &content, sent_ms as u64, &mut rng)
        .expect("the message encodes")
}
