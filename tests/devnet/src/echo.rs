//! An echo account living in the devnet: whatever it receives, it answers "echo: <text>".
//!
//! Why it exists: a newcomer running `sessiond --local` needs someone to talk to, and tests
//! need a remote party that is not another copy of the daemon. It is a minimal Session client
//! written only with `sessiond-protocol` (signed `retrieve`, `decode_1o1`, `encode_1o1`,
//! `store`) talking straight to its swarm's nodes over HTTPS — it lives inside the network, so
//! it needs no onion path — and shares no code with the daemon's network client.

use crate::client::HttpsClient;
use crate::network::Devnet;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sessiond_protocol::identity::{Identity, Seed};
use sessiond_protocol::proto;
use sessiond_protocol::storage_auth::{SignedRequest, sign_as_account};
use sessiond_protocol::{AccountId, Namespace};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The echo account's fixed seed, so its Account ID is the same on every run.
const ECHO_SEED: [u8; 16] = *b"sessiond-echo-01";
/// How often it polls.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// TTL of its replies (14 days, like every client's messages).
const REPLY_TTL_MS: i64 = 14 * 24 * 3_600_000;
/// Its display name.
const NAME: &str = "Echo";

/// A running echo account.
pub struct Echo {
    /// Its Account ID.
    account_id: AccountId,
    /// The polling task.
    task: JoinHandle<()>,
}

impl Echo {
    /// The echo account's Account ID.
    pub fn account_id(&self) -> AccountId {
        self.account_id
    }

    /// Stop it and wait until its task (and its handle on the devnet) is gone.
    pub async fn stop(mut self) {
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        task.abort();
        let _ = task.await;
    }

    /// The Account ID the echo account always has.
    pub fn fixed_account_id() -> AccountId {
        identity().account_id()
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn identity() -> Identity {
    #[allow(clippy::expect_used)]
    let seed = Seed::from_bytes(&ECHO_SEED).expect("a 16-byte seed is always valid");
    Identity::from_seed(&seed)
}

/// Start the echo account on `devnet`.
pub fn start(devnet: Arc<Devnet>) -> Result<Echo, crate::DevnetError> {
    let me = identity();
    let account_id = me.account_id();
    let client = HttpsClient::insecure()?;
    let task = tokio::spawn(async move {
        let mut last_hash: Option<String> = None;
        loop {
            if let Err(e) = round(&devnet, &client, &me, &mut last_hash).await {
                tracing::debug!(error = %e, "echo round failed");
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    });
    Ok(Echo { account_id, task })
}

/// One poll of the echo account's swarm and the replies to what came in.
async fn round(
    devnet: &Devnet,
    client: &HttpsClient,
    me: &Identity,
    last_hash: &mut Option<String>,
) -> Result<(), String> {
    let members = member_urls(devnet, &me.account_id());
    let Some(node) = members.first() else {
        return Err("no swarm".into());
    };
    let now = devnet.clock().now_ms();
    let auth = sign_as_account(
        me,
        &SignedRequest::Retrieve {
            namespace: Namespace::DEFAULT,
            timestamp_ms: now as u64,
        },
    );
    let mut params = json!({
        "pubkey": me.account_id().to_string(),
        "pubkey_ed25519": auth.pubkey_ed25519_hex(),
        "signature": auth.signature_base64(),
        "timestamp": now,
        "namespace": 0,
    });
    if let Some(h) = last_hash.as_ref() {
        params["last_hash"] = json!(h);
    }
    let body = rpc(
        client,
        node,
        json!({"method": "retrieve", "params": params}),
    )
    .await?;
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    for m in messages {
        let hash = m["hash"].as_str().unwrap_or_default().to_owned();
        let data = m["data"]
            .as_str()
            .and_then(|d| STANDARD.decode(d).ok())
            .unwrap_or_default();
        *last_hash = Some(hash);
        let Ok(received) = sessiond_protocol::decode_1o1(me, &data) else {
            continue;
        };
        if received.sender == me.account_id() {
            continue;
        }
        let Some(text) = received
            .content
            .data_message
            .as_ref()
            .and_then(|d| d.body.clone())
        else {
            continue;
        };
        reply(
            devnet,
            client,
            me,
            &received.sender,
            &format!("echo: {text}"),
        )
        .await?;
    }
    Ok(())
}

async fn reply(
    devnet: &Devnet,
    client: &HttpsClient,
    me: &Identity,
    to: &AccountId,
    text: &str,
) -> Result<(), String> {
    let now = devnet.clock().now_ms();
    let content = proto::Content {
        data_message: Some(proto::DataMessage {
            body: Some(text.to_owned()),
            profile: Some(proto::LokiProfile {
                display_name: Some(NAME.to_owned()),
                last_update_seconds: Some((now / 1000) as u64),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut rng = crate::rng::fresh().map_err(|e| e.to_string())?;
    let wire = sessiond_protocol::encode_1o1(me, to, &content, now as u64, &mut rng)
        .map_err(|e| e.to_string())?;
    let members = member_urls(devnet, to);
    let Some(node) = members.first() else {
        return Err("recipient has no swarm".into());
    };
    let params = json!({
        "pubkey": to.to_string(),
        "timestamp": now,
        "ttl": REPLY_TTL_MS,
        "data": STANDARD.encode(&wire),
        "namespace": 0,
    });
    rpc(client, node, json!({"method": "store", "params": params}))
        .await
        .map(|_| ())
}

fn member_urls(devnet: &Devnet, who: &AccountId) -> Vec<String> {
    let Some(swarm) = devnet.swarm_for(who.as_bytes()) else {
        return Vec::new();
    };
    devnet
        .swarm_members(swarm)
        .iter()
        .map(|n| format!("{}/storage_rpc/v1", n.base_url()))
        .collect()
}

async fn rpc(client: &HttpsClient, url: &str, body: Value) -> Result<Value, String> {
    let answer = client
        .post(
            url,
            &[("content-type", "application/json")],
            body.to_string(),
            Duration::from_secs(10),
        )
        .await
        .map_err(|e| e.to_string())?;
    if answer.status != 200 {
        return Err(format!("{} {}", answer.status, answer.text()));
    }
    answer.json().ok_or_else(|| "not JSON".to_owned())
}
