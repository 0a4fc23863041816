//! The echo account answers every text message it receives with "echo: <text>".
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{config, identity, retrieve, rng, timed};
use serde_json::{Value, json};
use sessiond_devnet::{Devnet, HttpsClient, echo};
use sessiond_protocol::proto;
use std::sync::Arc;
use std::time::Duration;

async fn rpc(client: &HttpsClient, devnet: &Devnet, who: &[u8; 33], body: &Value) -> Value {
    let swarm = devnet.swarm_for(who).unwrap();
    let node = &devnet.swarm_members(swarm)[0];
    let url = format!("{}/storage_rpc/v1", node.base_url());
    let answer = client
        .post(&url, &[], body.to_string(), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json().unwrap()
}

#[tokio::test]
async fn echo_account_answers_a_text_message_with_its_text() {
    timed(async {
        let devnet = Arc::new(Devnet::start(config(6, 3)).await.unwrap());
        let client = HttpsClient::insecure().unwrap();
        let bot = echo::start(Arc::clone(&devnet)).unwrap();
        assert_eq!(bot.account_id(), echo::Echo::fixed_account_id());
        let me = identity(9);
        let now = devnet.clock().now_ms();
        let content = proto::Content {
            data_message: Some(proto::DataMessage {
                body: Some("ping through the devnet".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let wire =
            sessiond_protocol::encode_1o1(&me, &bot.account_id(), &content, now as u64, &mut rng())
                .unwrap();
        let store = json!({"method": "store", "params": {
            "pubkey": bot.account_id().to_string(), "timestamp": now, "ttl": 600_000,
            "data": STANDARD.encode(&wire), "namespace": 0}});
        rpc(&client, &devnet, bot.account_id().as_bytes(), &store).await;

        let reply = loop {
            let now = devnet.clock().now_ms();
            let body = rpc(
                &client,
                &devnet,
                me.account_id().as_bytes(),
                &retrieve(&me, 0, now, None),
            )
            .await;
            if let Some(m) = body["messages"].as_array().and_then(|m| m.first()) {
                let data = STANDARD.decode(m["data"].as_str().unwrap()).unwrap();
                break sessiond_protocol::decode_1o1(&me, &data).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(reply.sender, bot.account_id());
        let data = reply.content.data_message.unwrap();
        assert_eq!(data.body.as_deref(), Some("echo: ping through the devnet"));
        assert_eq!(data.profile.unwrap().display_name.as_deref(), Some("Echo"));
    })
    .await;
}
