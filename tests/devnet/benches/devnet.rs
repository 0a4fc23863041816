//! Devnet throughput and latency on loopback: direct `store`/`retrieve` to a swarm node and the
//! same requests as 3-hop onion requests, each at concurrency 1 (latency) and 16 (throughput).
//! 12 nodes in swarms of 4: every store is replicated to 3 peers before it is answered; every
//! retrieve returns the same ten 100-byte messages.
//!
//! Run: `cargo bench -p sessiond-devnet --bench devnet` (`DEVNET_BENCH_REQUESTS=N` to change the
//! number of requests per scenario, default 2000). Client-side work (signing, building the onion
//! layers, decrypting the answer) is included in each request's latency, as a client pays it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use sessiond_protocol::onion::{Destination, OnionResponse};

/// One scenario's figures.
struct Figures {
    name: String,
    requests: usize,
    concurrency: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index.min(sorted.len() - 1)]
    }

    fn row(&self) -> String {
        format!(
            "| {:<28} | {:>8} | {:>4} | {:>9.0} | {:>8.2} | {:>8.2} |",
            self.name,
            self.requests,
            self.concurrency,
            self.requests as f64 / self.elapsed.as_secs_f64(),
            self.percentile(0.50).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
        )
    }
}

/// Runs `requests` calls of `make(i)` with `concurrency` workers.
async fn run<F, Fut>(name: &str, requests: usize, concurrency: usize, make: F) -> Figures
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let make = make.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let t = Instant::now();
                make(i).await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    Figures {
        name: name.to_owned(),
        requests,
        concurrency,
        elapsed: started.elapsed(),
        latencies,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let requests: usize = std::env::var("DEVNET_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let net = Arc::new(start(12, 4).await);
    // Stores go to alice; retrieves read bob's ten messages (a fixed-size answer).
    let alice = Arc::new(identity(1));
    let bob = Arc::new(identity(2));
    let target = net.swarm_nodes(&alice)[0].clone();
    let bob_node = net.swarm_nodes(&bob)[0].clone();
    let path: Vec<_> = net
        .devnet
        .nodes()
        .into_iter()
        .filter(|n| n.index != target.index && n.index != bob_node.index)
        .take(3)
        .collect();
    let now = net.now();
    // Something to retrieve.
    for i in 0..10u32 {
        let data = [i.to_le_bytes().as_slice(), &[0u8; 96]].concat();
        net.rpc(&bob_node, &store(&bob, 0, &data, now, 3_600_000))
            .await;
    }

    let mut figures = Vec::new();
    for concurrency in [1, 16] {
        let (n, a, t) = (net.clone(), alice.clone(), target.clone());
        figures.push(
            run("direct store", requests, concurrency, move |i| {
                let (n, a, t) = (n.clone(), a.clone(), t.clone());
                async move {
                    let data = format!("direct {concurrency} {i}");
                    let (status, _) = n
                        .rpc(&t, &store(&a, 0, data.as_bytes(), now, 3_600_000))
                        .await;
                    assert_eq!(status, 200);
                }
            })
            .await,
        );
        let (n, a, t) = (net.clone(), bob.clone(), bob_node.clone());
        figures.push(
            run("direct retrieve", requests, concurrency, move |_| {
                let (n, a, t) = (n.clone(), a.clone(), t.clone());
                async move {
                    let (status, _) = n.rpc(&t, &retrieve(&a, 0, now, None)).await;
                    assert_eq!(status, 200);
                }
            })
            .await,
        );
        let (n, a, t, p) = (net.clone(), alice.clone(), target.clone(), path.clone());
        figures.push(
            run("3-hop onion store", requests, concurrency, move |i| {
                let (n, a, t, p) = (n.clone(), a.clone(), t.clone(), p.clone());
                async move {
                    let data = format!("onion {concurrency} {i}");
                    let body = store(&a, 0, data.as_bytes(), now, 3_600_000).to_string();
                    let reply = n
                        .onion(&p, &Destination::ServiceNode(hop(&t)), body.as_bytes())
                        .await;
                    assert!(matches!(reply, OnionResponse::ServiceNode(r) if r.status == 200));
                }
            })
            .await,
        );
        let (n, a, t, p) = (net.clone(), bob.clone(), bob_node.clone(), path.clone());
        figures.push(
            run("3-hop onion retrieve", requests, concurrency, move |_| {
                let (n, a, t, p) = (n.clone(), a.clone(), t.clone(), p.clone());
                async move {
                    let body = retrieve(&a, 0, now, None).to_string();
                    let reply = n
                        .onion(&p, &Destination::ServiceNode(hop(&t)), body.as_bytes())
                        .await;
                    assert!(matches!(reply, OnionResponse::ServiceNode(r) if r.status == 200));
                }
            })
            .await,
        );
    }

    println!(
        "| scenario                     | requests | conc |   req/s   | p50 (ms) | p99 (ms) |"
    );
    println!(
        "|------------------------------|----------|------|-----------|----------|----------|"
    );
    for f in &figures {
        println!("{}", f.row());
    }
    if let Ok(net) = Arc::try_unwrap(net) {
        net.devnet.shutdown().await;
    }
}
