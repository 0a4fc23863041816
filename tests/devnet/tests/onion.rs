//! Onion requests through the devnet: 3-hop paths to a service node and to the file server,
//! and the errors each hop gives on the real network.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use serde_json::{Value, json};
use sessiond_protocol::onion::{
    Destination, Hop, OnionResponse, Scheme, V3_TARGET, V4_TARGET, V4Request,
};

/// Three nodes outside `exclude`, guard first.
fn path(net: &Net, exclude: &[usize]) -> Vec<sessiond_devnet::NodeInfo> {
    net.devnet
        .nodes()
        .into_iter()
        .filter(|n| !exclude.contains(&n.index))
        .take(3)
        .collect()
}

fn file_server(net: &Net) -> Destination {
    let fs = net.devnet.file_server();
    Destination::Server {
        host: fs.host.clone(),
        target: V4_TARGET.into(),
        scheme: Scheme::Http,
        port: fs.port,
        x25519: fs.x25519,
    }
}

#[tokio::test]
async fn three_hop_storage_requests_reach_the_swarm() {
    timed(async {
        let net = start(8, 4).await;
        let alice = identity(11);
        let target = net.swarm_nodes(&alice)[0].clone();
        let hops = path(&net, &[target.index]);
        let now = net.now();
        let destination = Destination::ServiceNode(hop(&target));

        let request = store(&alice, 0, b"via onion", now, 60_000).to_string();
        let OnionResponse::ServiceNode(reply) =
            net.onion(&hops, &destination, request.as_bytes()).await
        else {
            panic!("expected a service-node reply");
        };
        assert_eq!(reply.status, 200, "{}", reply.body);
        let body: Value = serde_json::from_str(&reply.body).unwrap();
        assert!(body["hash"].is_string());

        // Desktop wraps everything in a batch.
        let batch =
            json!({"method": "batch", "params": {"requests": [retrieve(&alice, 0, now, None)]}});
        let OnionResponse::ServiceNode(reply) = net
            .onion(&hops, &destination, batch.to_string().as_bytes())
            .await
        else {
            panic!("expected a service-node reply");
        };
        let body: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["results"][0]["code"], 200);
        assert_eq!(
            datas(&body["results"][0]["body"]),
            vec![b"via onion".to_vec()]
        );

        // Errors of the storage RPC come back encrypted, with their status.
        let OnionResponse::ServiceNode(reply) = net.onion(&hops, &destination, b"{not json").await
        else {
            panic!("expected a service-node reply");
        };
        assert_eq!((reply.status, reply.body.as_str()), (400, "invalid json"));
        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn files_upload_and_download_through_three_hops() {
    timed(async {
        // A small upload limit keeps the 413 case fast; the 10 000 000-byte default is checked
        // in the file server's unit tests.
        let mut config = config(6, 3);
        config.file_server.max_size = 200_000;
        let net = start_with(config).await;
        let hops = path(&net, &[]);
        let destination = file_server(&net);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let upload = V4Request {
            method: "POST".into(),
            endpoint: "/file".into(),
            headers: vec![],
            body: Some(data.clone()),
        };
        let OnionResponse::Server(reply) = net
            .onion(&hops, &destination, &upload.encode().unwrap())
            .await
        else {
            panic!("expected a server reply");
        };
        assert_eq!(reply.code, 200);
        assert_eq!(reply.content_type(), Some("application/json"));
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        let id = body["id"].as_str().unwrap().to_owned();
        assert_eq!(id, sessiond_devnet::fileserver::file_id(&data));
        assert_eq!(id.len(), 44);
        assert!(body["expires"].is_f64());
        assert_eq!(body["size"], data.len());

        let download = V4Request {
            method: "GET".into(),
            endpoint: format!("/file/{id}"),
            headers: vec![],
            body: None,
        };
        let OnionResponse::Server(reply) = net
            .onion(&hops, &destination, &download.encode().unwrap())
            .await
        else {
            panic!("expected a server reply");
        };
        assert_eq!(reply.code, 200);
        assert_eq!(reply.body, data);
        assert!(reply.header("expires").unwrap().ends_with("GMT"));

        let info = V4Request {
            endpoint: format!("/file/{id}/info"),
            ..download.clone()
        };
        let OnionResponse::Server(reply) = net
            .onion(&hops, &destination, &info.encode().unwrap())
            .await
        else {
            panic!("expected a server reply");
        };
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["size"], data.len());

        // Unknown ids are 404 with a JSON status body; expired files are gone.
        let missing = V4Request {
            endpoint: "/file/nope".into(),
            ..download.clone()
        };
        let OnionResponse::Server(reply) = net
            .onion(&hops, &destination, &missing.encode().unwrap())
            .await
        else {
            panic!("expected a server reply");
        };
        assert_eq!(reply.code, 404);
        assert_eq!(
            serde_json::from_slice::<Value>(&reply.body).unwrap(),
            json!({"status_code": 404})
        );
        net.devnet.clock().advance(15 * 24 * 3_600_000);
        let OnionResponse::Server(reply) = net
            .onion(&hops, &destination, &download.encode().unwrap())
            .await
        else {
            panic!("expected a server reply");
        };
        assert_eq!(reply.code, 404);

        // Too big: 413 from the file server.
        let huge = V4Request {
            body: Some(vec![0u8; 200_001]),
            ..upload.clone()
        };
        let OnionResponse::Server(reply) = net
            .onion(&hops, &destination, &huge.encode().unwrap())
            .await
        else {
            panic!("expected a server reply");
        };
        assert_eq!(reply.code, 413);

        // A v4 body the server cannot parse: 400 text/plain inside the encrypted reply.
        let OnionResponse::Server(reply) = net.onion(&hops, &destination, b"l3:abce").await else {
            panic!("expected a server reply");
        };
        assert_eq!(reply.code, 400);
        assert_eq!(reply.body, b"Invalid v4 onion request");
        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn legacy_v3_requests_reach_the_file_server() {
    timed(async {
        let net = start(3, 3).await;
        let hops = path(&net, &[]);
        let fs = net.devnet.file_server();
        let destination = Destination::Server {
            host: fs.host.clone(),
            target: V3_TARGET.into(),
            scheme: Scheme::Http,
            port: fs.port,
            x25519: fs.x25519,
        };
        let request = sessiond_protocol::onion::V3Request {
            method: "GET".into(),
            endpoint: "/file/unknown".into(),
            headers: vec![],
            body: None,
        };
        let OnionResponse::LegacyServer(body) = net
            .onion(&hops, &destination, &request.encode().unwrap())
            .await
        else {
            panic!("expected a legacy reply");
        };
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"status_code": 404})
        );
        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn path_failures_are_plaintext_with_the_real_status_codes() {
    timed(async {
        let mut config = config(6, 3);
        config.timeouts.onion_hop = std::time::Duration::from_millis(800);
        let net = start_with(config).await;
        let alice = identity(12);
        let target = net.swarm_nodes(&alice)[0].clone();
        let hops = path(&net, &[target.index]);
        let destination = Destination::ServiceNode(hop(&target));
        let info = br#"{"method":"info","params":{}}"#;

        // A hop that is not on the network.
        let ghost = Hop {
            ed25519: [0x42; 32],
            x25519: hops[1].x25519,
        };
        let response = net
            .onion_hops(
                &[hop(&hops[0]), ghost, hop(&hops[2])],
                &hops[0],
                &destination,
                info,
            )
            .await;
        let OnionResponse::PlaintextError(error) = response else {
            panic!("expected a plaintext error, got {response:?}");
        };
        assert_eq!(error.status, 502);
        assert_eq!(
            error.body,
            format!("Next node not found: {}", "42".repeat(32))
        );
        assert_eq!(error.unreachable_node(), Some([0x42; 32]));

        // A hop that is down: 504 after the relay gives up.
        net.devnet.stop_node(hops[1].index).await.unwrap();
        let OnionResponse::PlaintextError(error) = net.onion(&hops, &destination, info).await
        else {
            panic!("expected a plaintext error");
        };
        assert_eq!(
            (error.status, error.body.as_str()),
            (504, "Request time out")
        );
        net.devnet.start_node(hops[1].index).await.unwrap();

        // A node told to fail: its status comes back unchanged through the path.
        net.devnet.set_fail(hops[2].index, Some(503)).unwrap();
        let OnionResponse::PlaintextError(error) = net.onion(&hops, &destination, info).await
        else {
            panic!("expected a plaintext error");
        };
        assert_eq!(error.status, 503);
        net.devnet.heal(hops[2].index).await.unwrap();

        // A slow hop beyond the relay timeout: 504.
        net.devnet
            .set_slow(hops[2].index, std::time::Duration::from_millis(1_500))
            .unwrap();
        let OnionResponse::PlaintextError(error) = net.onion(&hops, &destination, info).await
        else {
            panic!("expected a plaintext error");
        };
        assert_eq!(error.status, 504);
        net.devnet.heal(hops[2].index).await.unwrap();

        // A server target the last hop refuses: "Invalid url" encrypted by that hop (the
        // client builder will not make such a layer, so it is made by hand, one hop long).
        let inner = sessiond_protocol::onion::layer::join(
            b"l2:{}e",
            r#"{"host":"127.0.0.1","target":"/not/allowed","protocol":"http","port":80}"#,
        )
        .unwrap();
        let (body, key) = raw_layer(&hops[0], &inner);
        let answer = net
            .client
            .post(
                &format!("{}/onion_req/v2", hops[0].base_url()),
                &[],
                body,
                std::time::Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(
            open_reply(&key, &answer.body),
            json!({"body": "Invalid url", "status": 400})
        );

        // A last hop told to reach a host off this machine refuses (the devnet never does).
        let inner = sessiond_protocol::onion::layer::join(
            b"x",
            r#"{"host":"example.org","target":"/oxen/v4/lsrpc","protocol":"http","port":80}"#,
        )
        .unwrap();
        let (body, _) = raw_layer(&hops[0], &inner);
        let answer = net
            .client
            .post(
                &format!("{}/onion_req/v2", hops[0].base_url()),
                &[],
                body,
                std::time::Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 502);

        // Healthy again.
        let OnionResponse::ServiceNode(reply) = net.onion(&hops, &destination, info).await else {
            panic!("expected a reply");
        };
        assert_eq!(reply.status, 200);
        net.devnet.shutdown().await;
    })
    .await;
}
