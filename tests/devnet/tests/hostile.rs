//! Hostile input to every endpoint: garbage, huge bodies, bad base64, wrong onion layers. Each
//! gets the status the real network gives, and the devnet keeps answering afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use sessiond_devnet::{HttpAnswer, NodeInfo};

async fn post(net: &Net, url: &str, body: impl Into<bytes::Bytes>) -> HttpAnswer {
    net.client
        .post(url, &[], body, Duration::from_secs(10))
        .await
        .expect("an answer")
}

async fn rpc_text(net: &Net, node: &NodeInfo, body: &str) -> (u16, String) {
    let answer = post(
        net,
        &format!("{}/storage_rpc/v1", node.base_url()),
        body.to_owned(),
    )
    .await;
    (answer.status, answer.text())
}

#[tokio::test]
async fn storage_rpc_rejects_garbage_with_400_and_huge_bodies_with_413() {
    timed(async {
        let net = start(3, 3).await;
        let node = net.devnet.nodes()[0].clone();
        let pubkey = identity(20).account_id().to_string();
        let cases: Vec<(String, u16, String)> = vec![
            ("garbage".into(), 400, "invalid json".into()),
            ("[1,2]".into(), 400, "invalid json: no `method` field".into()),
            (r#"{"method":"info"}"#.into(), 400, "invalid json: no `params` field".into()),
            (r#"{"method":"info","params":[]}"#.into(), 400, "invalid json: no `params` field".into()),
            (r#"{"method":"explode","params":{}}"#.into(), 400, "no method explode".into()),
            (
                json!({"method":"store","params":{"pubkey": pubkey, "timestamp": 1_700_000_000_000u64, "ttl": 60000, "data": "!!!"}}).to_string(),
                400,
                "invalid request: Invalid 'data' value: not base64 encoded".into(),
            ),
            (
                json!({"method":"store","params":{"pubkey": "05zz", "timestamp": 1, "ttl": 60000, "data": ""}}).to_string(),
                400,
                "invalid request: Pubkey must be 66 hex digits (33 bytes) long".into(),
            ),
            (
                json!({"method":"store","params":{"pubkey": pubkey, "timestamp": 1, "data": ""}}).to_string(),
                400,
                "invalid request: Required field 'expiry' or 'ttl' missing".into(),
            ),
            (
                json!({"method":"store","params":{"pubkey": pubkey, "timestamp": 1, "ttl": 1, "data": "A".repeat(102_404)}}).to_string(),
                400,
                "invalid request: Message body exceeds maximum allowed length of 76800 bytes".into(),
            ),
            (
                json!({"method":"retrieve","params":{"pubkey": pubkey, "timestamp": 999_999_999u64, "signature": "A".repeat(86)}}).to_string(),
                400,
                "invalid request: Invalid timestamp for 'timestamp': timestamp must be in milliseconds".into(),
            ),
            (
                json!({"method":"retrieve","params":{"pubkey": pubkey, "timestamp": 1_700_000_000_000u64, "signature": "not base64"}}).to_string(),
                400,
                "invalid request: invalid signature: expected base64 encoded Ed25519 signature".into(),
            ),
            (
                json!({"method":"retrieve","params":{"pubkey": pubkey, "namespace": 40000}}).to_string(),
                400,
                "invalid request: Invalid value given for 'namespace': value out of range".into(),
            ),
            (
                json!({"method":"delete","params":{"pubkey": pubkey, "signature": "A".repeat(86), "messages": []}}).to_string(),
                400,
                "invalid request: messages does not contain any message hashes".into(),
            ),
            (
                json!({"method":"oxend_request","params":{"endpoint": "get_block"}}).to_string(),
                400,
                "invalid request: Invalid oxend endpoint 'get_block'".into(),
            ),
            (
                json!({"method":"batch","params":{"requests": []}}).to_string(),
                400,
                "invalid request: Invalid batch request: no valid \"requests\" field".into(),
            ),
            (
                json!({"method":"batch","params":{"requests": [{"method": "nope", "params": {}}]}}).to_string(),
                400,
                "invalid request: Invalid batch subrequest: invalid method \"nope\"".into(),
            ),
        ];
        for (body, status, text) in cases {
            let (got_status, got_text) = rpc_text(&net, &node, &body).await;
            assert_eq!((got_status, got_text.as_str()), (status, text.as_str()), "{}", &body[..body.len().min(80)]);
        }

        // More than 10 MiB: 413 before anything is parsed, on both endpoints.
        let huge = vec![b'a'; sessiond_devnet::MAX_BODY_LEN + 1];
        for path in ["/storage_rpc/v1", "/onion_req/v2"] {
            let answer = post(&net, &format!("{}{path}", node.base_url()), huge.clone()).await;
            assert_eq!((answer.status, answer.text().as_str()), (413, "Request body too large"));
        }

        // Wrong method or path: 404 plaintext.
        let answer = net
            .client
            .get(&format!("{}/storage_rpc/v1", node.base_url()), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!((answer.status, answer.text().as_str()), (404, "GET /storage_rpc/v1 Not Found"));

        // Long polling is gone.
        let answer = net
            .client
            .post(
                &format!("{}/storage_rpc/v1", node.base_url()),
                &[("X-Loki-Long-Poll", "true")],
                "{}",
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 410);

        // The swarm-replication endpoint refuses non-recursive methods.
        let answer = post(
            &net,
            &format!("{}/devnet/storage_cc", node.base_url()),
            r#"{"method":"info","params":{}}"#,
        )
        .await;
        assert_eq!(answer.status, 400);

        // Still alive.
        let (status, _) = net.rpc(&node, &json!({"method": "info", "params": {}})).await;
        assert_eq!(status, 200);
        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn onion_endpoint_rejects_bad_framing_bad_keys_and_bad_layers() {
    timed(async {
        let net = start(3, 3).await;
        let guard = net.devnet.nodes()[0].clone();
        let url = format!("{}/onion_req/v2", guard.base_url());

        for garbage in [
            b"".to_vec(),
            b"\x01".to_vec(),
            b"\xff\xff\xff\xff{}".to_vec(),
            b"\x00\x00\x00\x00not json".to_vec(),
            b"\x00\x00\x00\x00{}".to_vec(),
            b"\x00\x00\x00\x00{\"ephemeral_key\":\"zz\"}".to_vec(),
            format!(
                "\x00\x00\x00\x00{{\"ephemeral_key\":\"{}\",\"enc_type\":\"rot13\"}}",
                "11".repeat(32)
            )
            .into_bytes(),
        ] {
            let answer = post(&net, &url, garbage.clone()).await;
            assert_eq!(answer.status, 400, "{garbage:?}");
            assert!(
                answer.text().starts_with("Error parsing onion request: "),
                "{}",
                answer.text()
            );
        }

        // Well framed, but not encrypted to this node: "Invalid ciphertext".
        let other = net.devnet.nodes()[1].clone();
        let (body, _) = raw_layer(&other, b"anything");
        let answer = post(&net, &url, body).await;
        assert_eq!(
            (answer.status, answer.text().as_str()),
            (400, "Invalid ciphertext")
        );

        // A small-order ephemeral key: also "Invalid ciphertext".
        let body = sessiond_protocol::onion::layer::join(
            &[0u8; 64],
            &json!({"ephemeral_key": "00".repeat(32)}).to_string(),
        )
        .unwrap();
        let answer = post(&net, &url, body).await;
        assert_eq!(
            (answer.status, answer.text().as_str()),
            (400, "Invalid ciphertext")
        );

        // Decrypts, but the instructions are nonsense: encrypted "Invalid json", HTTP 200.
        for inner in [
            &b"nonsense"[..],
            b"\x00\x00\x00\x00{}",
            b"\x00\x00\x00\x00{\"destination\":\"12\"}",
        ] {
            let (body, key) = raw_layer(&guard, inner);
            let answer = post(&net, &url, body).await;
            assert_eq!(answer.status, 200);
            assert_eq!(
                open_reply(&key, &answer.body),
                json!({"body": "Invalid json", "status": 400})
            );
        }

        // hop_no beyond the longest path.
        let (body, _) = raw_layer(&guard, b"x");
        let (blob, _) = sessiond_protocol::onion::layer::split(&body).unwrap();
        let (_, meta) = sessiond_protocol::onion::layer::split(&body).unwrap();
        let mut meta: Value = serde_json::from_slice(meta).unwrap();
        meta["hop_no"] = json!(16);
        let body = sessiond_protocol::onion::layer::join(blob, &meta.to_string()).unwrap();
        let answer = post(&net, &url, body).await;
        assert_eq!(
            (answer.status, answer.text().as_str()),
            (400, "onion request max path length exceeded")
        );

        let (status, _) = net
            .rpc(&guard, &json!({"method": "info", "params": {}}))
            .await;
        assert_eq!(status, 200);
        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn seed_and_file_server_survive_garbage() {
    timed(async {
        let net = start(3, 3).await;
        let seed = sessiond_devnet::HttpsClient::pinned(net.devnet.seed_pin()).unwrap();
        for body in [
            "",
            "garbage",
            "[]",
            r#"{"method": 5}"#,
            r#"{"jsonrpc":"2.0","method":"get_block"}"#,
        ] {
            let answer = seed
                .post(
                    net.devnet.seed_url(),
                    &[],
                    body.to_owned(),
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
            assert_eq!(answer.status, 200);
            assert!(answer.json().unwrap().get("error").is_some(), "{body}");
        }
        let fs = net.devnet.file_server().url();
        // Not reachable except through onion requests.
        let answer = net
            .client
            .get(&format!("{fs}/file/abc"), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(answer.status, 404);
        let answer = post(&net, &format!("{fs}/oxen/v4/lsrpc"), "garbage").await;
        assert_eq!(answer.status, 400);
        let answer = post(
            &net,
            &format!("{fs}/oxen/v4/lsrpc"),
            vec![0u8; 11 * 1024 * 1024],
        )
        .await;
        assert_eq!(answer.status, 413);
        // Still serving.
        let answer = seed
            .post(
                net.devnet.seed_url(),
                &[],
                r#"{"jsonrpc":"2.0","id":1,"method":"get_n_service_nodes","params":{}}"#,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn final_hop_options_json_and_raw_replies() {
    timed(async {
        let net = start(3, 3).await;
        let node = net.devnet.nodes()[0].clone();
        let url = format!("{}/onion_req/v2", node.base_url());
        let info = br#"{"method":"info","params":{}}"#;

        // "json": true embeds the body as JSON instead of a string.
        let inner =
            sessiond_protocol::onion::layer::join(info, r#"{"headers":{},"json":true}"#).unwrap();
        let (body, key) = raw_layer(&node, &inner);
        let reply = open_reply(&key, &post(&net, &url, body).await.body);
        assert_eq!(reply["status"], 200);
        assert_eq!(reply["body"]["version"], json!([2, 8, 0]));

        // Default: the body is a JSON string.
        let inner = sessiond_protocol::onion::layer::join(info, r#"{"headers":{}}"#).unwrap();
        let (body, key) = raw_layer(&node, &inner);
        let reply = open_reply(&key, &post(&net, &url, body).await.body);
        assert!(reply["body"].is_string());

        // "base64": false sends the encrypted bytes raw.
        let inner = sessiond_protocol::onion::layer::join(info, r#"{"headers":"","base64":false}"#)
            .unwrap();
        let (body, key) = raw_layer(&node, &inner);
        let answer = post(&net, &url, body).await;
        let plain: Value = serde_json::from_slice(&key.decrypt(&answer.body).unwrap()).unwrap();
        assert_eq!(plain["status"], 200);
        net.devnet.shutdown().await;
    })
    .await;
}
