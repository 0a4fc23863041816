//! The network around the nodes: the seed (pinned), `oxend_request`, swarm mapping as clients
//! compute it, the control socket, and the `sessiond-devnet` binary itself.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    missing_docs
)]

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use sessiond_devnet::HttpsClient;
use sessiond_protocol::swarm::swarm_for_id;

#[tokio::test]
async fn the_seed_lists_every_node_with_the_fields_clients_ask_for() {
    timed(async {
        let net = start(6, 2).await;
        let seed = HttpsClient::pinned(net.devnet.seed_pin()).unwrap();
        let desktop = json!({"jsonrpc": "2.0", "method": "get_n_service_nodes", "params": {
            "active_only": true,
            "fields": {"public_ip": true, "storage_port": true, "pubkey_x25519": true,
                       "pubkey_ed25519": true, "requested_unlock_height": true, "height": true}}});
        let answer = seed
            .post(net.devnet.seed_url(), &[("User-Agent", "WhatsApp")], desktop.to_string(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.content_type(), Some("application/json"));
        let body = answer.json().unwrap();
        let states = body["result"]["service_node_states"].as_array().unwrap();
        assert_eq!(states.len(), 6);
        let mut keys: Vec<&str> = states[0].as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["pubkey_ed25519", "pubkey_x25519", "public_ip", "requested_unlock_height", "storage_port"]
        );
        assert!(body["result"]["height"].is_u64());
        assert_eq!(states[0]["public_ip"], "127.0.0.1");

        // With swarm ids, a client maps a pubkey to its swarm as the nodes do.
        let all = json!({"jsonrpc": "2.0", "id": 7, "method": "get_n_service_nodes", "params": {
            "fields": {"pubkey_ed25519": true, "swarm_id": true}}});
        let body = seed
            .post(net.devnet.seed_url(), &[], all.to_string(), Duration::from_secs(5))
            .await
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(body["id"], 7);
        let ids: Vec<u64> = body["result"]["service_node_states"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["swarm_id"].as_u64().unwrap())
            .collect();
        for n in 0..20u8 {
            let who = identity(100 + n);
            let computed = swarm_for_id(who.account_id().as_bytes(), &ids).unwrap();
            assert_eq!(Some(computed), net.devnet.swarm_for(who.account_id().as_bytes()));
            let node = net.devnet.nodes()[usize::from(n) % 6].clone();
            let (_, swarm) = net
                .rpc(&node, &json!({"method": "get_swarm", "params": {"pubkey": who.account_id().to_string()}}))
                .await;
            assert_eq!(swarm["swarm"], format!("{computed:x}"));
        }

        // A client pinning another certificate refuses the seed.
        let other = HttpsClient::pinned(&format!("sha256:{}", "00".repeat(32))).unwrap();
        assert!(other.post(net.devnet.seed_url(), &[], desktop.to_string(), Duration::from_secs(5)).await.is_err());

        // Nodes answer oxend_request get_service_nodes (what desktop refreshes its pool with).
        let node = net.devnet.nodes()[0].clone();
        let request = json!({"method": "oxend_request", "params": {"endpoint": "get_service_nodes",
            "params": {"active_only": true, "fields": {"public_ip": true, "storage_port": true}}}});
        let (status, body) = net.rpc(&node, &request).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["service_node_states"].as_array().unwrap().len(), 6);
        assert!(body["t"].is_i64() && body["hf"].is_array());
        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_control_socket_steers_faults() {
    timed(async {
        let net = start(4, 2).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let client = net.client.clone();
        let devnet = std::sync::Arc::new(net.devnet);
        let server = tokio::spawn({
            let devnet = devnet.clone();
            let path = path.clone();
            async move { sessiond_devnet::serve_control(&path, devnet, stop_rx).await }
        });
        let mut tries = 0;
        while !path.exists() && tries < 100 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            tries += 1;
        }
        let path2 = path.clone();
        let answers = tokio::task::spawn_blocking(move || {
            let stream = std::os::unix::net::UnixStream::connect(&path2).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            let mut ask = |line: &str| {
                writeln!(writer, "{line}").unwrap();
                let mut answer = String::new();
                reader.read_line(&mut answer).unwrap();
                answer.trim_end().to_owned()
            };
            vec![
                ask("fail 1 503"),
                ask("slow 2 5"),
                ask("skew 3 -1000"),
                ask("drop 0 0"),
                ask("stop 3"),
                ask("move 2 0"),
                ask("advance 1000"),
                ask("status"),
                ask("explode"),
                ask("stop 99"),
                ask("heal 3"),
            ]
        })
        .await
        .unwrap();
        assert_eq!(&answers[..7], ["ok"; 7]);
        let status: Value = serde_json::from_str(answers[7].strip_prefix("ok ").unwrap()).unwrap();
        assert_eq!(status["nodes"][1]["fail"], 503);
        assert_eq!(status["nodes"][3]["running"], false);
        assert_eq!(status["nodes"][3]["skew_ms"], -1000);
        assert!(answers[8].starts_with("error: "));
        assert!(answers[9].starts_with("error: no node 99"));
        assert_eq!(answers[10], "ok");
        assert!(devnet.is_running(3).await.unwrap());
        assert_eq!(devnet.swarm_of(2).unwrap(), devnet.swarm_ids()[0]);

        // The failing node answers 503 to everything.
        let node1 = devnet.nodes()[1].clone();
        let answer = client
            .post(
                &format!("{}/storage_rpc/v1", node1.base_url()),
                &[],
                "{}",
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 503);

        stop.send(true).unwrap();
        server.await.unwrap().unwrap();
        assert!(!path.exists());
        let devnet = std::sync::Arc::try_unwrap(devnet).unwrap();
        devnet.shutdown().await;
    })
    .await;
}

/// Reads the first line of the child's stdout within 20 s (killing the child otherwise).
fn first_line(child: &mut std::process::Child) -> String {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(line) => line.trim_end().to_owned(),
        Err(_) => {
            let _ = child.kill();
            panic!("sessiond-devnet printed nothing within 20 s");
        }
    }
}

#[test]
fn the_binary_prints_the_seed_writes_network_json_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sessiond-devnet"))
            .args(["--nodes", "4", "--swarm-size", "2", "--dir"])
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The first line is the seed URL (printed once everything listens).
        let seed_url = first_line(&mut child);
        assert!(
            seed_url.starts_with("https://127.0.0.1:") && seed_url.ends_with("/json_rpc"),
            "{seed_url}"
        );
        let network: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("network.json")).unwrap())
                .unwrap();
        assert_eq!(network["seed"]["url"], seed_url);
        assert!(
            network["seed"]["pin"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        assert_eq!(network["nodes"].as_array().unwrap().len(), 4);
        assert_eq!(
            network["file_server"]["pubkey_x25519"]
                .as_str()
                .unwrap()
                .len(),
            64
        );
        assert!(
            network["control_socket"]
                .as_str()
                .unwrap()
                .ends_with("control.sock")
        );

        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(exit) = child.try_wait().unwrap() {
                assert!(exit.success(), "{exit:?}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "devnet did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        network
    };
    let first = run();
    let second = run();
    // Same identities, certificates and ports across restarts.
    assert_eq!(first["nodes"], second["nodes"]);
    assert_eq!(first["seed"], second["seed"]);
    assert_eq!(first["file_server"], second["file_server"]);
}

#[tokio::test]
async fn a_dropping_node_closes_connections_without_answering() {
    timed(async {
        let net = start(4, 4).await;
        let nodes = net.devnet.nodes();
        net.devnet.set_drop(nodes[1].index, 1.0).unwrap();
        let direct = net
            .client
            .post(
                &format!("{}/storage_rpc/v1", nodes[1].base_url()),
                &[],
                r#"{"method":"info","params":{}}"#,
                Duration::from_secs(5),
            )
            .await;
        assert!(
            matches!(direct, Err(sessiond_devnet::ClientError::Transport(_))),
            "{direct:?}"
        );

        // Relaying through it: the previous hop gives up with 504.
        let destination = sessiond_protocol::onion::Destination::ServiceNode(hop(&nodes[3]));
        let reply = net
            .onion(
                &nodes[..3],
                &destination,
                br#"{"method":"info","params":{}}"#,
            )
            .await;
        let sessiond_protocol::onion::OnionResponse::PlaintextError(error) = reply else {
            panic!("expected a plaintext error, got {reply:?}");
        };
        assert_eq!(
            (error.status, error.body.as_str()),
            (504, "Request time out")
        );

        // Replication to it fails; the entry marks it.
        let alice = identity(30);
        let (status, body) = net
            .rpc(&nodes[0], &store(&alice, 0, b"x", net.now(), 60_000))
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["swarm"][nodes[1].ed25519_hex()]["failed"], true);

        assert!(net.devnet.set_drop(nodes[1].index, 1.5).is_err());
        net.devnet.set_drop(nodes[1].index, 0.0).unwrap();
        let (status, _) = net
            .rpc(&nodes[1], &json!({"method": "info", "params": {}}))
            .await;
        assert_eq!(status, 200);
        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn nodes_can_sit_on_distinct_loopback_subnets() {
    timed(async {
        let mut config = config(4, 4);
        config.distinct_subnets = true;
        let net = start_with(config).await;
        let nodes = net.devnet.nodes();
        let subnets: std::collections::BTreeSet<[u8; 3]> = nodes
            .iter()
            .map(|n| {
                let o = n.ip.octets();
                [o[0], o[1], o[2]]
            })
            .collect();
        assert_eq!(subnets.len(), 4);
        assert!(nodes.iter().all(|n| n.ip.is_loopback()));
        let alice = identity(31);
        let (status, body) = net
            .rpc(&nodes[0], &store(&alice, 0, b"spread", net.now(), 60_000))
            .await;
        assert_eq!(status, 200);
        assert!(
            body["swarm"]
                .as_object()
                .unwrap()
                .values()
                .all(|e| e.get("failed").is_none())
        );
        let destination = sessiond_protocol::onion::Destination::ServiceNode(hop(&nodes[3]));
        let reply = net
            .onion(
                &nodes[..3],
                &destination,
                retrieve(&alice, 0, net.now(), None).to_string().as_bytes(),
            )
            .await;
        let sessiond_protocol::onion::OnionResponse::ServiceNode(reply) = reply else {
            panic!("expected a reply, got {reply:?}");
        };
        assert_eq!(reply.status, 200);
        net.devnet.shutdown().await;
    })
    .await;
}
