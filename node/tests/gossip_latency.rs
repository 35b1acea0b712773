//! Measurements (run with `--nocapture` to see them): publish-to-delivery latency across
//! five loopback nodes, and fetch round-trip latency. Delivery is timed when the test glue
//! has verified the checkpoint signature and reported Accept.

mod gossip_support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use gossip_support::*;
use quorate_node::gossip::{GossipMessage, RateLimit, Request, Response};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn summary(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{name}: n={} p50={:?} p99={:?} max={:?}",
        v.len(),
        percentile(&v, 0.50),
        percentile(&v, 0.99),
        v.last().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_five_nodes() {
    tokio::time::timeout(Duration::from_secs(120), async {
        const N: usize = 5;
        const MESSAGES: u64 = 200;
        let mut limits = test_limits();
        limits.inbound_requests = RateLimit {
            burst: 10_000,
            per_second: 10_000.0,
        };
        let mut nodes = start_full_mesh(N, limits).await;
        let handles: Vec<_> = nodes.iter().map(|n| n.handle.clone()).collect();
        wait_topic_peers(&handles.iter().collect::<Vec<_>>(), N - 1).await;
        tokio::time::sleep(Duration::from_secs(1)).await;

        // Publish from rotating nodes, 20 ms apart.
        let mut sent: HashMap<(String, Vec<u8>), Instant> = HashMap::new();
        for k in 0..MESSAGES {
            let i = (k as usize) % N;
            let msg = checkpoint_msg(i, 1000 + k);
            let GossipMessage::Checkpoint { origin, note } = &msg else {
                unreachable!()
            };
            sent.insert((origin.clone(), note.clone()), Instant::now());
            handles[i].publish(&msg).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut lat = Vec::new();
        for n in &mut nodes {
            for _ in 0..(MESSAGES as usize * (N - 1) / N) {
                let d = n.next_delivered(T).await.expect("every message arrives");
                let GossipMessage::Checkpoint { origin, note } = d.msg else {
                    panic!("unexpected message")
                };
                lat.push(d.at - sent[&(origin, note)]);
            }
            assert!(n.next_delivered(Duration::from_millis(50)).await.is_none());
        }
        summary("publish-to-delivery (5 nodes, loopback)", lat);

        // Fetch round trips, sequential.
        let p0 = nodes[0].peer_id();
        let h1 = nodes[1].handle.clone();
        let mut rtt = Vec::new();
        for _ in 0..500 {
            let t = Instant::now();
            let r = h1
                .request(p0, Request::Checkpoint { origin: origin(0) })
                .await
                .unwrap();
            rtt.push(t.elapsed());
            assert!(matches!(r, Response::Checkpoint(_)));
        }
        summary("fetch round trip (Checkpoint)", rtt);

        for n in nodes {
            n.shutdown().await;
        }
    })
    .await
    .expect("test timed out");
}
