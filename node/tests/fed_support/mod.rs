//! Helpers for the federation process tests: a cluster of real `quorate-node` processes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use quorate_node::fedbench::{NodeSpec, Proc, cosigners};
use quorate_proto::checkpoint::verify_checkpoint;
use quorate_proto::cosignature::CosignatureVerifier;
use quorate_proto::equivocation::Equivocation;

pub const BIN: &str = env!("CARGO_BIN_EXE_quorate-node");

pub fn bin() -> &'static Path {
    Path::new(BIN)
}

pub fn reviewer() -> SigningKey {
    SigningKey::from_bytes(&[0x42; 32])
}

pub fn envelope(tag: &str, k: u64) -> Vec<u8> {
    quorate_node::bench::sample_envelope(&reviewer(), tag, &format!("1.0.{k}"))
}

/// Initialised nodes in a temp dir.
pub struct Fed {
    pub tmp: tempfile::TempDir,
    pub specs: Vec<NodeSpec>,
}

/// A failing test prints every node's log (the processes are gone by then: `Fed` is
/// created first, so dropped last).
impl Drop for Fed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            dump_logs(self.tmp.path());
        }
    }
}

impl Fed {
    pub fn init(n: usize, tag: &str) -> Fed {
        let tmp = tempfile::tempdir().unwrap();
        let specs = (0..n)
            .map(|i| {
                NodeSpec::init(
                    &tmp.path().join(format!("n{i}")),
                    &format!("{tag}.example/log{i}"),
                    &reviewer(),
                )
                .unwrap()
            })
            .collect();
        Fed { tmp, specs }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Config of node `i` peering with every other node.
    pub fn full_config(&self, i: usize, extra: &str) -> String {
        let peers: Vec<&NodeSpec> = self
            .specs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, p)| p)
            .collect();
        self.specs[i].config(&peers, extra)
    }

    pub fn start_full(&self, i: usize, extra: &str) -> Proc {
        Proc::spawn(bin(), &self.specs[i], &self.full_config(i, extra)).unwrap()
    }

    pub fn witnesses_except(&self, i: usize) -> Vec<CosignatureVerifier> {
        self.specs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, s)| s.witness_verifier())
            .collect()
    }
}

/// Polls `f` every 50 ms until it returns `Some`, at most `secs` seconds.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The node's /checkpoint, its size and how many of `witnesses` cosigned it.
pub fn cosigned(p: &Proc, spec: &NodeSpec, witnesses: &[CosignatureVerifier]) -> (u64, usize) {
    let (status, body) = p.get("/checkpoint").unwrap();
    assert_eq!(status, 200);
    cosigners(&body, &spec.log_verifier(), witnesses).expect("checkpoint verifies")
}

/// Whether `p`'s newest checkpoint (`/checkpoint/latest`, which runs ahead of the served
/// one while its cosigning target is not reached) of size >= `min_size` carries a valid
/// cosignature by `w`.
pub fn has_cosig(p: &Proc, spec: &NodeSpec, w: &CosignatureVerifier, min_size: u64) -> bool {
    let (_, body) = p.get("/checkpoint/latest").unwrap();
    verify_checkpoint(&body, &spec.log_verifier(), std::slice::from_ref(w))
        .is_ok_and(|v| v.checkpoint().size() >= min_size && v.cosignatures().len() == 1)
}

/// The value of metric `name` on `p`'s `/metrics` (0 when absent).
pub fn metric(p: &Proc, name: &str) -> u64 {
    let (_, m) = p.get("/metrics").unwrap();
    String::from_utf8(m)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The size of the latest checkpoint of `origin` that `p` holds, read from its
/// federation page (the `size` cell of the log's row).
pub fn seen_size(p: &Proc, origin: &str) -> Option<u64> {
    let (status, body) = p.get("/federation").unwrap();
    assert_eq!(status, 200);
    let html = String::from_utf8(body).unwrap();
    let row = html.split(&format!("data-origin=\"{origin}\"")).nth(1)?;
    let cell = row.split("<td class=\"size\">").nth(1)?;
    cell.split('<').next()?.parse().ok()
}

/// GET /v1/equivocations as evidence texts.
pub fn equivocations(p: &Proc) -> Vec<String> {
    let (status, body) = p.get("/v1/equivocations").unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

pub fn parse_evidence(text: &str) -> Equivocation {
    Equivocation::parse(text.as_bytes()).unwrap()
}

/// An add-checkpoint body.
pub fn add_checkpoint_body(old: u64, proof: &[[u8; 32]], note: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let mut b = format!("old {old}\n").into_bytes();
    for h in proof {
        b.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(h)
                .as_bytes(),
        );
        b.push(b'\n');
    }
    b.push(b'\n');
    b.extend_from_slice(note);
    b
}

pub fn dump_logs(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "log") {
            eprintln!(
                "==== {} ====\n{}",
                e.path().display(),
                std::fs::read_to_string(e.path()).unwrap_or_default()
            );
        }
    }
}

/// Plays node `spec`'s gossip identity from the test process (a scripted, possibly
/// hostile peer): a transport connected to `peers` that answers every request with 404
/// and delivers nothing to the test. It forgets what it published after 50 ms, so it may
/// publish variants that its own ids would call duplicates. Shut it down with
/// `shutdown()`.
pub async fn play_peer(spec: &NodeSpec, peers: &[&NodeSpec]) -> quorate_node::gossip::GossipHandle {
    use quorate_node::gossip::{
        Gossip, GossipConfig, GossipEvent, GossipLimits, PeerInfo, Response, identity_from_skey,
    };
    let key = identity_from_skey(
        &quorate_node::datadir::DataDir::new(&spec.dir)
            .log_skey()
            .unwrap(),
    )
    .unwrap();
    let limits = GossipLimits {
        heartbeat: Duration::from_millis(200),
        redial_min: Duration::from_millis(100),
        redial_max: Duration::from_millis(800),
        request_timeout: Duration::from_secs(5),
        duplicate_cache_time: Duration::from_millis(50),
        ..GossipLimits::default()
    };
    let peers = peers
        .iter()
        .map(|p| PeerInfo::parse(&p.peer_id, &p.gossip_addr(), &p.origin).unwrap())
        .collect();
    let (h, mut events) = Gossip::start(
        GossipConfig {
            listen: spec.gossip_addr().parse().unwrap(),
            peers,
            limits,
        },
        key,
    )
    .await
    .unwrap();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let GossipEvent::Request { reply, .. } = ev {
                let _ = reply.send(Response::error(404, "nothing here"));
            }
        }
    });
    h
}

/// Publishes from a played peer, retrying while its mesh forms.
pub async fn publish_retrying(
    h: &quorate_node::gossip::GossipHandle,
    msg: &quorate_node::gossip::GossipMessage,
) {
    for _ in 0..200 {
        if h.publish(msg).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not publish");
}
