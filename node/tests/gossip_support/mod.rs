//! Shared helpers for the gossip integration tests: loopback federations and a test
//! "node glue" that validates with quorate_proto and answers fetch requests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quorate_node::gossip::{
    Gossip, GossipConfig, GossipEvent, GossipHandle, GossipLimits, GossipMessage, Keypair,
    MessageId, PeerInfo, Request, Response, Validation, identity_from_seed,
};
use quorate_proto::checkpoint::{Checkpoint, verify_checkpoint};
use quorate_proto::note::{self, Ed25519Verifier, Signer};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub const T: Duration = Duration::from_secs(30);

pub fn origin(i: usize) -> String {
    format!("example.org/log{i}")
}

pub fn seed(i: usize) -> [u8; 32] {
    [i as u8 + 1; 32]
}

pub fn signer(i: usize) -> Signer {
    Signer::generate(&origin(i), seed(i)).unwrap()
}

pub fn keypair(i: usize) -> Keypair {
    identity_from_seed(&seed(i))
}

/// A signed checkpoint note of log `i` at `size` (root derived from size).
pub fn checkpoint_note(i: usize, size: u64) -> Vec<u8> {
    let mut root = [0u8; 32];
    root[..8].copy_from_slice(&size.to_be_bytes());
    root[8] = i as u8;
    let text = Checkpoint::new(&origin(i), size, root, vec![])
        .unwrap()
        .to_text();
    note::sign(&text, &[&signer(i)]).unwrap().into_bytes()
}

/// The same checkpoint text signed by the wrong key (shape-valid, signature-invalid).
pub fn forged_note(i: usize, size: u64) -> Vec<u8> {
    let text = Checkpoint::new(&origin(i), size, [9; 32], vec![])
        .unwrap()
        .to_text();
    let wrong = Signer::generate(&origin(i), [0xee; 32]).unwrap();
    note::sign(&text, &[&wrong]).unwrap().into_bytes()
}

pub fn checkpoint_msg(i: usize, size: u64) -> GossipMessage {
    GossipMessage::Checkpoint {
        origin: origin(i),
        note: checkpoint_note(i, size),
    }
}

pub fn free_port() -> u16 {
    quorate_node::fedbench::free_port().unwrap()
}

pub fn addr(port: u16) -> libp2p::Multiaddr {
    format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
}

pub fn test_limits() -> GossipLimits {
    GossipLimits {
        heartbeat: Duration::from_millis(200),
        redial_min: Duration::from_millis(100),
        redial_max: Duration::from_millis(800),
        request_timeout: Duration::from_secs(5),
        reply_timeout: Duration::from_secs(2),
        ..GossipLimits::default()
    }
}

pub fn peer_info(i: usize, port: u16) -> PeerInfo {
    PeerInfo {
        peer_id: keypair(i).public().to_peer_id(),
        addr: addr(port),
        log_origin: origin(i),
    }
}

/// What the test glue saw.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub id: MessageId,
    pub source: libp2p::PeerId,
    pub msg: GossipMessage,
    pub verdict: Validation,
    pub at: Instant,
}

/// How the test glue judges messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Verify checkpoint signatures with quorate_proto: Accept valid, Reject forged,
    /// Ignore unknown origins.
    Verify,
    /// Ignore everything (deliver but never forward).
    IgnoreAll,
    /// As `Verify`, but each verdict is reported only after this long (a slow relayer).
    SlowVerify(Duration),
}

pub struct TestNode {
    pub index: usize,
    pub port: u16,
    pub handle: GossipHandle,
    pub delivered: mpsc::Receiver<Delivered>,
    pub requests: Arc<std::sync::atomic::AtomicU64>,
    glue: JoinHandle<()>,
}

impl TestNode {
    pub fn peer_id(&self) -> libp2p::PeerId {
        self.handle.local_peer_id()
    }

    pub async fn shutdown(self) {
        self.handle.shutdown().await;
        self.glue.abort();
        let _ = self.glue.await;
    }

    /// Next delivered message, or None after `within`.
    pub async fn next_delivered(&mut self, within: Duration) -> Option<Delivered> {
        tokio::time::timeout(within, self.delivered.recv())
            .await
            .ok()
            .flatten()
    }
}

/// Starts node `i` listening on `port` with `peers` and the test glue.
pub async fn start_node(
    i: usize,
    port: u16,
    peers: Vec<PeerInfo>,
    limits: GossipLimits,
    policy: Policy,
) -> TestNode {
    let config = GossipConfig {
        listen: addr(port),
        peers,
        limits,
    };
    let (handle, events) = Gossip::start(config, keypair(i)).await.unwrap();
    let (tx, delivered) = mpsc::channel(10_000);
    let requests = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let glue = tokio::spawn(glue(
        i,
        handle.clone(),
        events,
        tx,
        policy,
        requests.clone(),
    ));
    TestNode {
        index: i,
        port,
        handle,
        delivered,
        requests,
        glue,
    }
}

/// `n` nodes, each configured with every other.
pub async fn start_full_mesh(n: usize, limits: GossipLimits) -> Vec<TestNode> {
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let mut nodes = Vec::new();
    for i in 0..n {
        let peers = (0..n)
            .filter(|&j| j != i)
            .map(|j| peer_info(j, ports[j]))
            .collect();
        nodes.push(start_node(i, ports[i], peers, limits.clone(), Policy::Verify).await);
    }
    nodes
}

/// Waits until every node sees `want` peers subscribed to the topic.
pub async fn wait_topic_peers(nodes: &[&GossipHandle], want: usize) {
    for h in nodes {
        wait_for(T, || async { h.topic_peers().await.unwrap().len() >= want }).await;
    }
}

pub async fn wait_for<F, Fut>(within: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    tokio::time::timeout(within, async {
        loop {
            if cond().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await
    .expect("condition not met in time");
}

fn verifiers() -> HashMap<String, Ed25519Verifier> {
    (0..8).map(|i| (origin(i), signer(i).verifier())).collect()
}

async fn glue(
    me: usize,
    handle: GossipHandle,
    mut events: mpsc::Receiver<GossipEvent>,
    out: mpsc::Sender<Delivered>,
    policy: Policy,
    requests: Arc<std::sync::atomic::AtomicU64>,
) {
    let verifiers = verifiers();
    while let Some(ev) = events.recv().await {
        match ev {
            GossipEvent::Message {
                id, source, msg, ..
            } => {
                if let Policy::SlowVerify(d) = policy {
                    tokio::time::sleep(d).await;
                }
                let verdict = match (&msg, policy) {
                    (_, Policy::IgnoreAll) => Validation::Ignore,
                    (
                        GossipMessage::Checkpoint { origin, note },
                        Policy::Verify | Policy::SlowVerify(_),
                    ) => match verifiers.get(origin) {
                        None => Validation::Ignore,
                        Some(v) => match verify_checkpoint(note, v, &[]) {
                            Ok(_) => Validation::Accept,
                            Err(_) => Validation::Reject,
                        },
                    },
                    (GossipMessage::Equivocation { .. }, _) => Validation::Accept,
                };
                let _ = handle.report_validation(id.clone(), source, verdict).await;
                let _ = out.try_send(Delivered {
                    id,
                    source,
                    msg,
                    verdict,
                    at: Instant::now(),
                });
            }
            GossipEvent::Request { req, reply, .. } => {
                requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let resp = match req {
                    Request::Checkpoint { origin: o } if o == origin(me) => {
                        Response::Checkpoint(checkpoint_note(me, 10))
                    }
                    Request::Checkpoint { .. } => Response::error(404, "unknown log"),
                    Request::ConsistencyProof { old, new, .. } => {
                        Response::Proof(vec![[old as u8; 32], [new as u8; 32]])
                    }
                    Request::Cosign { old_size, .. } if old_size != 10 => {
                        Response::Conflict { size: 10 }
                    }
                    Request::Cosign { .. } => {
                        Response::Cosigned(format!("\u{2014} witness{me} AAAA\n").into_bytes())
                    }
                    Request::Equivocations => Response::Evidence(vec![]),
                };
                let _ = reply.send(resp);
            }
            GossipEvent::PeerConnected(_) | GossipEvent::PeerDisconnected(_) => {}
        }
    }
}

/// Publishes, retrying while the mesh is still forming (`NoPeers` under a loaded
/// machine); any other outcome is returned as is.
#[allow(dead_code)]
pub async fn publish_when_meshed(
    h: &GossipHandle,
    msg: &quorate_node::gossip::GossipMessage,
) -> Result<quorate_node::gossip::MessageId, quorate_node::gossip::GossipError> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        match h.publish(msg).await {
            Err(quorate_node::gossip::GossipError::NoPeers)
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}
