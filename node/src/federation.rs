//! Federation glue: the embedded witness, cross-witnessing over the gossip transport,
//! relaying checkpoints, and catching equivocation.
//!
//! Started by [`crate::server`] when the config has a `[gossip]` section.
//!
//! - **Log side.** A task polls the store (every [`POLL`]); when the latest checkpoint
//!   changes, every [`RECOSIGN`](crate::config::Config::recosign_interval_ms) interval, and
//!   when a peer connects, it asks every connected peer's witness (`Request::Cosign`) and
//!   every external C2SP witness (HTTP `add-checkpoint`) to cosign it, with a consistency
//!   proof from the size that witness last cosigned (learned from 409/Conflict after a
//!   restart). Returned lines are verified against that witness's configured vkey before
//!   they are kept. The checkpoint with the gathered cosignatures is served at
//!   `GET /checkpoint`, persisted (`cosigned.note`), and gossiped.
//! - **Witness side.** A `Cosign` request from a configured peer for its own origin goes
//!   to the embedded [`Witness`] (durable, C2SP semantics); its HTTP router is mounted in
//!   the node's (`POST /add-checkpoint`, `GET/POST /v1/equivocations`).
//! - **Relay and detection.** Every checkpoint heard (gossip, cosign requests, catch-up
//!   fetches) is verified with its log's configured key and compared with the latest one
//!   seen for that log (`seen.json`). Same size and different root, or a consistency proof
//!   (fetched from the log) that fails, yields `quorate-equivocation/v1` evidence, which
//!   is verified, stored by the witness for good (it then refuses that log), gossiped and
//!   served. Two checkpoints both cosigned by our own witness are consistent by
//!   construction, so the common case needs no proof request.
//! - **Catch-up.** On connecting to a peer: fetch its evidence and the latest checkpoint
//!   it holds of every log, and re-push our checkpoint for cosigning.
//!
//! Everything is bounded: gossip events are handled by at most [`WORKERS`] concurrent
//! tasks (the transport drops events when its bounded channel is full), detection is
//! serialized per origin, and every outbound request has a timeout.
//!
//! Modules: [`shared`] (state shared with the HTTP API), [`events`] (gossip events and
//! peer requests), [`detect`] (relay and fork detection), [`evidence`] (storing and
//! publishing evidence), [`cosign`] (the log side's cosigning rounds), [`view`] (what the
//! web pages read).

mod cosign;
mod detect;
mod events;
mod evidence;
mod older;
mod peer_http;
mod relay;
mod shared;
mod view;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use quorate_proto::cosignature::CosignatureVerifier;
use quorate_proto::note::{Ed25519Verifier, NoteVerifier};
use quorate_witness::{SystemClock, Witness, WitnessClient};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::datadir::DataDir;
use crate::gossip::{
    Gossip, GossipConfig, GossipHandle, GossipLimits, PeerInfo, identity_from_skey,
};
use crate::store::Store;
use cosign::{External, Target, load_cosigned};
use detect::{Seen, load_seen, merge_witnessed};
use evidence::evidence_channel;
pub use shared::FedShared;
pub use view::{CosignatureInfo, FedView, LogInfo, WitnessInfo, WitnessOperator};

/// How often the log side looks for a new checkpoint when not notified by the sequencer.
pub const POLL: Duration = Duration::from_millis(200);
/// Most gossip events handled at once.
pub const WORKERS: usize = 64;
/// How often evidence that could not be published yet (no gossip mesh) is tried again.
pub const EVIDENCE_RETRY: Duration = Duration::from_secs(2);

/// A configured peer.
struct Peer {
    origin: String,
    log: Ed25519Verifier,
    witness: CosignatureVerifier,
    info: PeerInfo,
    http: Option<Arc<peer_http::PeerHttp>>,
}

/// The running federation. Dropping it does not stop it; call [`Federation::shutdown`].
pub struct Federation {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

struct Inner {
    origin: String,
    log: Ed25519Verifier,
    own_witness: CosignatureVerifier,
    store: Arc<Store>,
    data: DataDir,
    witness: Arc<Witness>,
    gossip: GossipHandle,
    peers: Vec<Peer>,
    targets: Vec<Target>,
    logs: HashMap<String, Ed25519Verifier>,
    origin_locks: HashMap<String, tokio::sync::Mutex<()>>,
    seen: Mutex<BTreeMap<String, Seen>>,
    /// Checkpoints held before the current ones, and the budget for checking older ones.
    older: older::OlderCheckpoints,
    seen_write: tokio::sync::Mutex<()>,
    /// Set when the seen map changed and `seen.json` is to be written behind.
    seen_dirty: Notify,
    shared: Arc<FedShared>,
    kick: Notify,
    quorum_wait: Duration,
    recosign: Duration,
    cosign_timeout: Duration,
}

/// What `start` hands back to the server.
pub struct Started {
    pub federation: Federation,
    /// The embedded witness's HTTP routes (`/add-checkpoint`, `/v1/equivocations`).
    pub witness_router: axum::Router,
    pub shared: Arc<FedShared>,
}

fn parse_peers(config: &Config, own_origin: &str) -> anyhow::Result<Vec<Peer>> {
    let mut peers: Vec<Peer> = Vec::new();
    let roots = crate::outbound::ureq_roots(config.ca_file.as_deref())?;
    for (i, p) in config.peer.iter().enumerate() {
        let ctx = || format!("[[peer]] #{} ({})", i + 1, p.origin);
        let log = Ed25519Verifier::from_vkey(p.log_vkey.trim()).with_context(ctx)?;
        if log.name() != p.origin {
            bail!(
                "{}: log_vkey is named {:?}, not the origin",
                ctx(),
                log.name()
            );
        }
        if p.origin == own_origin {
            bail!("{}: that is this node's own origin", ctx());
        }
        if peers.iter().any(|q| q.origin == p.origin) {
            bail!("{}: origin configured twice", ctx());
        }
        let witness = CosignatureVerifier::from_vkey(p.witness_vkey.trim()).with_context(ctx)?;
        let info = PeerInfo::parse(&p.peer_id, &p.addr, &p.origin).with_context(ctx)?;
        if peers.iter().any(|q| q.info.peer_id == info.peer_id) {
            bail!("{}: peer_id configured twice", ctx());
        }
        let http = p.url.as_deref().map(|u| {
            Arc::new(peer_http::PeerHttp::new(
                u,
                Duration::from_millis(config.cosign_timeout_ms.max(1000)),
                roots.clone(),
            ))
        });
        peers.push(Peer {
            origin: p.origin.clone(),
            log,
            witness,
            info,
            http,
        });
    }
    Ok(peers)
}

impl Federation {
    /// Opens the embedded witness, starts the transport and the federation tasks.
    pub async fn start(
        data: DataDir,
        config: &Config,
        store: Arc<Store>,
        log: Ed25519Verifier,
        committed: Option<tokio::sync::watch::Receiver<u64>>,
    ) -> anyhow::Result<Started> {
        // External witnesses alone (no [gossip]) still need the log side; the transport
        // then listens on a loopback port with no peers.
        let default_gossip = crate::config::GossipSection {
            listen: "/ip4/127.0.0.1/tcp/0".into(),
            heartbeat_ms: None,
        };
        let gossip_cfg = config.gossip.as_ref().unwrap_or(&default_gossip);
        let origin = log.name().to_owned();
        let peers = parse_peers(config, &origin)?;
        let signer = data.load_or_create_witness_key(&origin)?;
        let own_witness = signer.verifier();
        let mut logs: HashMap<String, Ed25519Verifier> = HashMap::new();
        logs.insert(origin.clone(), log.clone());
        for p in &peers {
            logs.insert(p.origin.clone(), p.log.clone());
        }
        // The witness follows every peer's log, and ours too so that evidence against
        // this log (from a fork of it) is verified, stored and served like any other. This
        // node never asks its own witness to cosign its own log.
        let wlogs: Vec<Ed25519Verifier> = logs.values().cloned().collect();
        let wpath = data.witness_state_path();
        let witness = Arc::new(
            tokio::task::spawn_blocking(move || Witness::open(signer, wlogs, &wpath, SystemClock))
                .await?
                .context("opening the witness state")?,
        );

        let mut targets: Vec<Target> = (0..peers.len()).map(Target::Peer).collect();
        let witness_tls = crate::outbound::witness_tls(config.ca_file.as_deref())?;
        for (i, w) in config.external_witness.iter().enumerate() {
            let verifier = CosignatureVerifier::from_vkey(w.vkey.trim())
                .with_context(|| format!("[[external_witness]] #{} vkey", i + 1))?;
            let client = WitnessClient::with_tls(&w.url, witness_tls.clone())
                .with_context(|| format!("[[external_witness]] #{} url", i + 1))?
                .with_timeout(Duration::from_millis(config.cosign_timeout_ms));
            targets.push(Target::External(Box::new(External {
                url: w.url.clone(),
                client,
                verifier,
            })));
        }

        let mut seen = load_seen(&data, &logs);
        merge_witnessed(&mut seen, &witness, &logs, &origin);
        let shared = Arc::new(FedShared::new(
            config.cosign_target.unwrap_or(targets.len()),
        ));
        if let Some((size, note)) = load_cosigned(&data, &store, &log)
            && shared.reaches_target(&note)
        {
            shared.set_served(size, note);
        }
        shared
            .equivocations
            .store(witness.evidence_count().unwrap_or(0), Ordering::Relaxed);
        let new_evidence = evidence_channel(&witness, &shared);

        let skey = data.log_skey()?;
        let keypair = identity_from_skey(&skey).context("deriving the libp2p identity")?;
        drop(skey);
        let mut limits = GossipLimits::default();
        if let Some(h) = gossip_cfg.heartbeat_ms {
            limits.heartbeat = Duration::from_millis(h.max(10));
        }
        limits.request_timeout = Duration::from_millis(config.cosign_timeout_ms.max(1000));
        let listen = gossip_cfg
            .listen
            .parse()
            .with_context(|| format!("[gossip] listen {:?}", gossip_cfg.listen))?;
        let (gossip, events) = Gossip::start(
            GossipConfig {
                listen,
                peers: peers.iter().map(|p| p.info.clone()).collect(),
                limits,
            },
            keypair,
        )
        .await
        .context("starting the gossip transport")?;

        let origin_locks = logs
            .keys()
            .map(|o| (o.clone(), tokio::sync::Mutex::new(())))
            .collect();
        let inner = Arc::new(Inner {
            origin,
            log,
            own_witness,
            store,
            data,
            witness: witness.clone(),
            gossip,
            peers,
            targets,
            logs,
            origin_locks,
            seen: Mutex::new(seen),
            older: older::OlderCheckpoints::default(),
            seen_write: tokio::sync::Mutex::new(()),
            seen_dirty: Notify::new(),
            shared: shared.clone(),
            kick: Notify::new(),
            quorum_wait: Duration::from_millis(config.witness_quorum_wait_ms),
            recosign: Duration::from_millis(config.recosign_interval_ms),
            cosign_timeout: Duration::from_millis(config.cosign_timeout_ms),
        });
        let tasks = vec![
            tokio::spawn(inner.clone().event_loop(events)),
            tokio::spawn(inner.clone().cosign_loop(committed)),
            tokio::spawn(inner.clone().publish_loop(new_evidence)),
            tokio::spawn(inner.clone().seen_writer()),
        ];
        let witness_router = quorate_witness::router(witness);
        Ok(Started {
            federation: Federation { inner, tasks },
            witness_router,
            shared,
        })
    }

    /// The transport's bound addresses.
    pub fn listen_addrs(&self) -> Vec<String> {
        self.inner
            .gossip
            .listen_addrs()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// A read-only view for the public web pages ([`crate::web`]).
    pub fn view(&self) -> FedView {
        FedView::new(self.inner.clone())
    }

    /// This node's libp2p PeerId.
    pub fn peer_id(&self) -> String {
        self.inner.gossip.local_peer_id().to_string()
    }

    /// Stops the tasks and the transport.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        // What the write-behind has not written yet.
        self.inner.write_seen().await;
        self.inner.gossip.shutdown().await;
    }
}

impl Inner {
    fn peer_by_id(&self, id: &libp2p::PeerId) -> Option<&Peer> {
        self.peers.iter().find(|p| p.info.peer_id == *id)
    }

    fn peer_by_origin(&self, origin: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.origin == origin)
    }
}

#[cfg(test)]
mod tests {
    use super::cosign::parse_signature_lines;
    use super::evidence::evidence_origin;
    use super::shared::count_signature_lines;
    use quorate_proto::checkpoint::Checkpoint;
    use quorate_proto::cosignature::CosignatureSigner;
    use quorate_proto::equivocation::Equivocation;
    use quorate_proto::merkle::Hash;
    use quorate_proto::note::{self, Signer};

    fn cp(signer: &Signer, size: u64, root: Hash) -> Vec<u8> {
        let text = Checkpoint::new(signer.name(), size, root, vec![])
            .unwrap()
            .to_text();
        note::sign(&text, &[signer]).unwrap().into_bytes()
    }

    #[test]
    fn signature_lines_and_evidence_origin() {
        let log = Signer::generate("o.example/log", [1; 32]).unwrap();
        let w = CosignatureSigner::generate("o.example/w", [2; 32]).unwrap();
        let note = cp(&log, 3, [4; 32]);
        let text = std::str::from_utf8(&note).unwrap();
        let body = format!("{}\n", text.split_once("\n\n").unwrap().0);
        let sig = w.cosign(&body, 1_700_000_000);
        let sig = sig.unwrap();
        let lines = format!("{}garbage\n\u{2014} bad !!!\n", sig.to_line());
        let parsed = parse_signature_lines(lines.as_bytes());
        assert_eq!(parsed, vec![sig]);
        assert!(parse_signature_lines(&[0xff, 0xfe]).is_empty());

        let e = Equivocation::same_size(&note, &cp(&log, 3, [5; 32]));
        assert_eq!(
            evidence_origin(e.to_text().as_bytes()).as_deref(),
            Some("o.example/log")
        );
        assert_eq!(evidence_origin(b"nope"), None);
        assert_eq!(count_signature_lines(&note), 1);
    }
}
