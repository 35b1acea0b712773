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

mod peer_http;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use quorate_proto::checkpoint::{VerifiedCheckpoint, verify_checkpoint};
use quorate_proto::cosignature::CosignatureVerifier;
use quorate_proto::equivocation::Equivocation;
use quorate_proto::merkle::{self, Hash};
use quorate_proto::note::{self, Ed25519Verifier, NoteSignature, NoteVerifier};
use quorate_witness::{
    AddCheckpointRequest, CosignOutcome, SystemClock, Witness, WitnessClient, WitnessError,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::datadir::{DataDir, write_atomic};
use crate::gossip::{
    Gossip, GossipConfig, GossipError, GossipEvent, GossipHandle, GossipLimits, GossipMessage,
    PeerInfo, Request, Response, Validation, identity_from_skey,
};
use crate::store::Store;

/// How often the log side looks for a new checkpoint when not notified by the sequencer.
pub const POLL: Duration = Duration::from_millis(200);
/// Most gossip events handled at once.
pub const WORKERS: usize = 64;
/// How often evidence that could not be published yet is tried again.
pub const EVIDENCE_RETRY: Duration = Duration::from_secs(2);

/// State shared with the HTTP API: the cosigned checkpoint and counters.
#[derive(Debug, Default)]
pub struct FedShared {
    cosigned: RwLock<Option<(u64, Vec<u8>)>>,
    equivocations: AtomicU64,
    cosignatures: AtomicU64,
    gossip_accept: AtomicU64,
    gossip_reject: AtomicU64,
    gossip_ignore: AtomicU64,
    cosign_served: AtomicU64,
    cosign_refused: AtomicU64,
}

impl FedShared {
    /// The checkpoint of tree size `size` with gathered cosignatures, if there is one.
    pub fn cosigned_at(&self, size: u64) -> Option<Vec<u8>> {
        let g = self.cosigned.read().ok()?;
        match &*g {
            Some((s, n)) if *s == size => Some(n.clone()),
            _ => None,
        }
    }

    fn set_cosigned(&self, size: u64, note: Vec<u8>) {
        let n = count_signature_lines(&note).saturating_sub(1);
        self.cosignatures.store(n as u64, Ordering::Relaxed);
        if let Ok(mut g) = self.cosigned.write() {
            *g = Some((size, note));
        }
    }

    /// Prometheus text for the federation metrics.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let mut g = |name: &str, kind: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        };
        g(
            "quorate_equivocations",
            "gauge",
            "Equivocation evidence items held (GET /v1/equivocations).",
            &self.equivocations,
        );
        g(
            "quorate_checkpoint_cosignatures",
            "gauge",
            "Witness cosignatures on the served checkpoint.",
            &self.cosignatures,
        );
        g(
            "quorate_gossip_accepted_total",
            "counter",
            "Gossip messages accepted (and relayed).",
            &self.gossip_accept,
        );
        g(
            "quorate_gossip_rejected_total",
            "counter",
            "Gossip messages rejected as invalid (sender penalised).",
            &self.gossip_reject,
        );
        g(
            "quorate_gossip_ignored_total",
            "counter",
            "Gossip messages ignored (stale, unknown origin, undecidable).",
            &self.gossip_ignore,
        );
        g(
            "quorate_witness_cosigned_total",
            "counter",
            "Cosign requests from peers answered with a cosignature.",
            &self.cosign_served,
        );
        g(
            "quorate_witness_refused_total",
            "counter",
            "Cosign requests from peers refused.",
            &self.cosign_refused,
        );
        out
    }
}

fn count_signature_lines(note: &[u8]) -> usize {
    let s = String::from_utf8_lossy(note);
    match s.rfind("\n\n") {
        Some(i) => s[i + 2..].lines().count(),
        None => 0,
    }
}

/// A configured peer.
struct Peer {
    origin: String,
    log: Ed25519Verifier,
    witness: CosignatureVerifier,
    info: PeerInfo,
    http: Option<Arc<peer_http::PeerHttp>>,
}

/// Someone asked to cosign our checkpoints.
enum Target {
    Peer(usize),
    External(Box<External>),
}

/// A standalone C2SP witness reached over HTTP.
struct External {
    url: String,
    client: WitnessClient,
    verifier: CosignatureVerifier,
}

/// A latest verified checkpoint of one log, as persisted in `seen.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Seen {
    note: String,
    /// Cosigned by our own witness (so consistent with every other such checkpoint).
    ours: bool,
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
    seen_write: tokio::sync::Mutex<()>,
    published: Mutex<HashSet<Hash>>,
    shared: Arc<FedShared>,
    kick: Notify,
    /// Something may have stored evidence through the witness's HTTP routes.
    flush: Notify,
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
        for (i, w) in config.external_witness.iter().enumerate() {
            let verifier = CosignatureVerifier::from_vkey(w.vkey.trim())
                .with_context(|| format!("[[external_witness]] #{} vkey", i + 1))?;
            let client = WitnessClient::new(&w.url)
                .with_context(|| format!("[[external_witness]] #{} url", i + 1))?
                .with_timeout(Duration::from_millis(config.cosign_timeout_ms));
            targets.push(Target::External(Box::new(External {
                url: w.url.clone(),
                client,
                verifier,
            })));
        }

        let seen = load_seen(&data, &logs);
        let shared = Arc::new(FedShared::default());
        if let Some((size, note)) = load_cosigned(&data, &store, &log) {
            shared.set_cosigned(size, note);
        }
        shared.equivocations.store(
            witness.equivocations().map(|v| v.len() as u64).unwrap_or(0),
            Ordering::Relaxed,
        );

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

        let published = witness
            .equivocations()
            .map(|v| v.into_iter().map(|e| e.id).collect())
            .unwrap_or_default();
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
            seen_write: tokio::sync::Mutex::new(()),
            published: Mutex::new(published),
            shared: shared.clone(),
            kick: Notify::new(),
            flush: Notify::new(),
            quorum_wait: Duration::from_millis(config.witness_quorum_wait_ms),
            recosign: Duration::from_millis(config.recosign_interval_ms),
            cosign_timeout: Duration::from_millis(config.cosign_timeout_ms),
        });
        let tasks = vec![
            tokio::spawn(inner.clone().event_loop(events)),
            tokio::spawn(inner.clone().cosign_loop(committed)),
            tokio::spawn(inner.clone().flush_loop()),
        ];
        let witness_router = witness_router(witness, inner.clone());
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

    /// This node's libp2p PeerId.
    pub fn peer_id(&self) -> String {
        self.inner.gossip.local_peer_id().to_string()
    }

    /// Stops the tasks and the transport.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.inner.gossip.shutdown().await;
    }
}

/// The witness's routes; after every POST (add-checkpoint, evidence) the federation
/// looks for new evidence to gossip (a refused add-checkpoint may have proven a fork).
fn witness_router(witness: Arc<Witness>, inner: Arc<Inner>) -> axum::Router {
    let weak = Arc::downgrade(&inner);
    drop(inner);
    quorate_witness::router(witness).layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let weak = weak.clone();
            async move {
                let post = req.method() == axum::http::Method::POST;
                let resp = next.run(req).await;
                if post && let Some(inner) = weak.upgrade() {
                    inner.flush.notify_one();
                }
                resp
            }
        },
    ))
}

fn load_seen(data: &DataDir, logs: &HashMap<String, Ed25519Verifier>) -> BTreeMap<String, Seen> {
    let path = data.seen_path();
    let Ok(text) = std::fs::read(&path) else {
        return BTreeMap::new();
    };
    let map: BTreeMap<String, Seen> = match serde_json::from_slice(&text) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!("ignoring unreadable {}: {e}", path.display());
            return BTreeMap::new();
        }
    };
    map.into_iter()
        .filter(|(o, s)| {
            logs.get(o)
                .is_some_and(|l| verify_checkpoint(s.note.as_bytes(), l, &[]).is_ok())
        })
        .collect()
}

/// The persisted cosigned checkpoint, if it is signed by our key and is the checkpoint
/// the store holds at its size.
fn load_cosigned(data: &DataDir, store: &Store, log: &Ed25519Verifier) -> Option<(u64, Vec<u8>)> {
    let note = std::fs::read(data.cosigned_path()).ok()?;
    let v = verify_checkpoint(&note, log, &[]).ok()?;
    let size = v.checkpoint().size();
    let stored = store.checkpoint_at(size).ok()??;
    let sv = verify_checkpoint(&stored, log, &[]).ok()?;
    (sv.note_text() == v.note_text()).then_some((size, note))
}

/// Parses `— <name> <base64(key ID || signature)>` lines.
fn parse_signature_lines(bytes: &[u8]) -> Vec<NoteSignature> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("\u{2014} ")?;
            let (name, b64) = rest.split_once(' ')?;
            let raw = B64.decode(b64).ok()?;
            let (id, sig) = raw.split_first_chunk::<4>()?;
            NoteSignature::new(name, u32::from_be_bytes(*id), sig.to_vec()).ok()
        })
        .take(16)
        .collect()
}

/// The origin named by a piece of evidence (first line of its first checkpoint).
fn evidence_origin(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let line = text.lines().nth(1)?.strip_prefix("checkpoint ")?;
    let note = B64.decode(line).ok()?;
    let note = String::from_utf8(note).ok()?;
    note.lines().next().map(str::to_owned)
}

impl Inner {
    fn peer_by_id(&self, id: &libp2p::PeerId) -> Option<&Peer> {
        self.peers.iter().find(|p| p.info.peer_id == *id)
    }

    fn peer_by_origin(&self, origin: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.origin == origin)
    }

    // -----------------------------------------------------------------------------------
    // Events

    async fn event_loop(self: Arc<Self>, mut events: tokio::sync::mpsc::Receiver<GossipEvent>) {
        let workers = Arc::new(Semaphore::new(WORKERS));
        while let Some(ev) = events.recv().await {
            let Ok(permit) = workers.clone().acquire_owned().await else {
                break;
            };
            let me = self.clone();
            tokio::spawn(async move {
                me.on_event(ev).await;
                drop(permit);
            });
        }
    }

    async fn on_event(self: &Arc<Self>, ev: GossipEvent) {
        match ev {
            GossipEvent::Message {
                id, source, msg, ..
            } => {
                let verdict = match msg {
                    GossipMessage::Checkpoint { origin, note } => {
                        self.observe(&origin, &note, false).await
                    }
                    GossipMessage::Equivocation { evidence } => {
                        self.on_gossip_evidence(&evidence).await
                    }
                };
                let counter = match verdict {
                    Validation::Accept => &self.shared.gossip_accept,
                    Validation::Reject => &self.shared.gossip_reject,
                    Validation::Ignore => &self.shared.gossip_ignore,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let _ = self.gossip.report_validation(id, source, verdict).await;
            }
            GossipEvent::Request { peer, req, reply } => {
                let (resp, follow) = self.on_request(peer, req).await;
                let _ = reply.send(resp);
                if let Some((origin, note)) = follow {
                    self.observe(&origin, &note, true).await;
                }
            }
            GossipEvent::PeerConnected(peer) => self.catch_up(peer).await,
            GossipEvent::PeerDisconnected(_) => {}
        }
    }

    async fn catch_up(self: &Arc<Self>, peer: libp2p::PeerId) {
        tracing::debug!(%peer, "peer connected: catching up");
        // Re-push our checkpoint for cosigning (the peer's witness may have restarted).
        self.kick.notify_one();
        if let Ok(Response::Evidence(items)) =
            self.gossip.request(peer, Request::Equivocations).await
        {
            for e in items {
                if evidence_origin(&e).is_some_and(|o| self.logs.contains_key(&o)) {
                    let _ = self.record_evidence(e, false).await;
                }
            }
        }
        let mut origins: Vec<String> = self.logs.keys().cloned().collect();
        origins.sort();
        for origin in origins {
            let req = Request::Checkpoint {
                origin: origin.clone(),
            };
            if let Ok(Response::Checkpoint(note)) = self.gossip.request(peer, req).await {
                self.observe(&origin, &note, false).await;
            }
        }
    }

    async fn on_gossip_evidence(self: &Arc<Self>, evidence: &[u8]) -> Validation {
        let Some(origin) = evidence_origin(evidence) else {
            return Validation::Reject;
        };
        if !self.logs.contains_key(&origin) {
            return Validation::Ignore;
        }
        match self.record_evidence(evidence.to_vec(), false).await {
            Ok(_) => Validation::Accept,
            Err(WitnessError::InvalidEvidence(e)) => {
                tracing::warn!(origin, "invalid equivocation evidence from gossip: {e}");
                Validation::Reject
            }
            Err(_) => Validation::Ignore,
        }
    }

    /// Verifies and stores evidence (the witness then refuses its log); publishes it if
    /// `publish` and not yet published.
    async fn record_evidence(
        self: &Arc<Self>,
        evidence: Vec<u8>,
        publish: bool,
    ) -> Result<bool, WitnessError> {
        let w = self.witness.clone();
        let bytes = evidence.clone();
        let new = tokio::task::spawn_blocking(move || w.record_equivocation(&bytes))
            .await
            .map_err(|e| WitnessError::Internal(e.to_string()))??;
        if new {
            tracing::error!(
                origin = evidence_origin(&evidence).unwrap_or_default(),
                "EQUIVOCATION: stored evidence that a log signed two histories"
            );
        }
        self.refresh_equivocation_count();
        let id: Hash = sha2::Digest::finalize(sha2::Digest::chain_update(
            sha2::Sha256::default(),
            &evidence,
        ))
        .into();
        let first = self
            .published
            .lock()
            .map(|mut p| p.insert(id))
            .unwrap_or(false);
        if publish && first && !self.publish(GossipMessage::Equivocation { evidence }).await {
            // Not sent (no mesh yet): forget it was published so the flush loop retries.
            self.unmark_published(&id);
        }
        Ok(new)
    }

    fn refresh_equivocation_count(&self) {
        if let Ok(list) = self.witness.equivocations() {
            self.shared
                .equivocations
                .store(list.len() as u64, Ordering::Relaxed);
        }
    }

    fn unmark_published(&self, id: &Hash) {
        if let Ok(mut p) = self.published.lock() {
            p.remove(id);
        }
    }

    /// Publishes new witness evidence when notified, and retries every few seconds what
    /// could not be sent (a publish fails while the gossip mesh is still forming): evidence
    /// must reach every peer, not only those connected at the instant it was found.
    async fn flush_loop(self: Arc<Self>) {
        let mut retry = tokio::time::interval(EVIDENCE_RETRY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.flush.notified() => {}
                _ = retry.tick() => {}
            }
            self.flush_witness_evidence().await;
        }
    }

    /// Publishes evidence the witness built by itself (from a refused cosign request).
    async fn flush_witness_evidence(self: &Arc<Self>) {
        let w = self.witness.clone();
        let Ok(Ok(list)) = tokio::task::spawn_blocking(move || w.equivocations()).await else {
            return;
        };
        self.refresh_equivocation_count();
        for e in list {
            let first = self
                .published
                .lock()
                .map(|mut p| p.insert(e.id))
                .unwrap_or(false);
            if first {
                tracing::error!(origin = e.origin, "EQUIVOCATION evidence held; publishing");
                let sent = self
                    .publish(GossipMessage::Equivocation {
                        evidence: e.evidence.into_bytes(),
                    })
                    .await;
                if !sent {
                    self.unmark_published(&e.id);
                }
            }
        }
    }

    /// Publishes; true when the message is out (or already was: a duplicate).
    async fn publish(&self, msg: GossipMessage) -> bool {
        match self.gossip.publish(&msg).await {
            Ok(_) | Err(GossipError::Duplicate) => true,
            Err(e) => {
                tracing::debug!("publish: {e}");
                false
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Detection

    /// Verifies a checkpoint of `origin` and compares it with the latest one seen. `ours`:
    /// our witness just cosigned it.
    async fn observe(self: &Arc<Self>, origin: &str, note: &[u8], ours: bool) -> Validation {
        let Some(log) = self.logs.get(origin) else {
            return Validation::Ignore;
        };
        let v = match verify_checkpoint(note, log, std::slice::from_ref(&self.own_witness)) {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(origin, "dropping checkpoint: {e}");
                return Validation::Reject;
            }
        };
        if v.checkpoint().origin() != origin {
            return Validation::Reject;
        }
        if self.witness.is_equivocating(origin) {
            return Validation::Ignore;
        }
        let ours = ours || !v.cosignatures().is_empty();
        let Some(lock) = self.origin_locks.get(origin) else {
            return Validation::Ignore;
        };
        let _guard = lock.lock().await;
        if origin == self.origin {
            return self.check_own(&v).await;
        }
        let prev = self.seen.lock().ok().and_then(|s| s.get(origin).cloned());
        let Some(prev) = prev else {
            self.set_seen(origin, note, ours).await;
            return Validation::Accept;
        };
        let Ok(pv) = verify_checkpoint(prev.note.as_bytes(), log, &[]) else {
            self.set_seen(origin, note, ours).await;
            return Validation::Accept;
        };
        let (p, c) = (pv.checkpoint(), v.checkpoint());
        if p.size() == c.size() {
            if p.root_hash() != c.root_hash() {
                let e = Equivocation::same_size(prev.note.as_bytes(), note);
                self.found(origin, e).await;
                return Validation::Accept;
            }
            if prev.note.as_bytes() == note {
                return Validation::Ignore;
            }
            // Same checkpoint, other signature lines: keep the fresher copy.
            self.set_seen(origin, note, ours || prev.ours).await;
            return Validation::Accept;
        }
        let newer = c.size() > p.size();
        if !(ours && prev.ours) {
            let (small, large) = if newer { (&pv, &v) } else { (&v, &pv) };
            match self.consistent(origin, small, large).await {
                Some(true) => {}
                Some(false) => return Validation::Accept,
                None => {
                    return if newer {
                        Validation::Accept
                    } else {
                        Validation::Ignore
                    };
                }
            }
        }
        if newer {
            self.set_seen(origin, note, ours).await;
            Validation::Accept
        } else {
            Validation::Ignore
        }
    }

    /// Whether `small` and `large` (of a peer's log) are consistent, asking the log for a
    /// proof; `Some(false)` after recording evidence, `None` when it cannot be decided.
    async fn consistent(
        self: &Arc<Self>,
        origin: &str,
        small: &VerifiedCheckpoint,
        large: &VerifiedCheckpoint,
    ) -> Option<bool> {
        let (cs, cl) = (small.checkpoint(), large.checkpoint());
        if cs.size() == 0 {
            if *cs.root_hash() == merkle::empty_root() {
                return Some(true);
            }
            let e = Equivocation::from_consistency_proof(small, large, &[]).ok()??;
            self.found(origin, e).await;
            return Some(false);
        }
        let peer = self.peer_by_origin(origin)?;
        let req = Request::ConsistencyProof {
            origin: origin.to_owned(),
            old: cs.size(),
            new: cl.size(),
        };
        match self.gossip.request(peer.info.peer_id, req).await {
            Ok(Response::Proof(proof)) => {
                if merkle::check_tree(&proof, cl.size(), cl.root_hash(), cs.size(), cs.root_hash())
                    .is_ok()
                {
                    return Some(true);
                }
                if let Ok(Some(e)) = Equivocation::from_consistency_proof(small, large, &proof) {
                    self.found(origin, e).await;
                    return Some(false);
                }
            }
            Ok(other) => tracing::debug!(origin, "no consistency proof: {other:?}"),
            Err(e) => tracing::debug!(origin, "no consistency proof: {e}"),
        }
        // The log's proof cannot decide it: read the larger tree's tiles, if we may.
        let Some(http) = peer.http.clone() else {
            tracing::warn!(
                origin,
                small = cs.size(),
                large = cl.size(),
                "cannot check these checkpoints for consistency (no proof, no peer url); \
                 keeping the older one"
            );
            return None;
        };
        let (s2, l2) = (small.clone(), large.clone());
        match tokio::task::spawn_blocking(move || http.prefix_evidence(&s2, &l2)).await {
            Ok(Ok(None)) => Some(true),
            Ok(Ok(Some(e))) => {
                self.found(origin, e).await;
                Some(false)
            }
            Ok(Err(e)) => {
                tracing::warn!(
                    origin,
                    small = cs.size(),
                    large = cl.size(),
                    "cannot check these checkpoints for consistency ({e}); keeping the older one"
                );
                None
            }
            Err(_) => None,
        }
    }

    /// A checkpoint of our own origin: it must be one our store agrees with.
    async fn check_own(self: &Arc<Self>, v: &VerifiedCheckpoint) -> Validation {
        let store = self.store.clone();
        let (size, root) = (v.checkpoint().size(), *v.checkpoint().root_hash());
        let note = v.note_bytes().to_vec();
        let r = tokio::task::spawn_blocking(move || -> anyhow::Result<Option<Equivocation>> {
            let snap = store.snapshot()?;
            if size > snap.size() {
                anyhow::bail!("a checkpoint of our own log larger than our tree ({size})");
            }
            let ours_root = if size == snap.size() {
                snap.root()
            } else {
                merkle::tree_hash(size, &snap)?
            };
            if ours_root == root {
                return Ok(None);
            }
            let (_, latest) = snap.latest_checkpoint()?;
            if size == snap.size() {
                return Ok(Some(Equivocation::same_size(&latest, &note)));
            }
            let proof = merkle::prove_tree(snap.size(), size, &snap)?;
            Ok(Some(Equivocation::with_prefix(
                &note, &latest, ours_root, proof,
            )))
        })
        .await;
        match r {
            Ok(Ok(None)) => Validation::Ignore,
            Ok(Ok(Some(e))) => {
                let origin = self.origin.clone();
                self.found(&origin, e).await;
                Validation::Accept
            }
            Ok(Err(e)) => {
                tracing::warn!("{e}");
                Validation::Ignore
            }
            Err(_) => Validation::Ignore,
        }
    }

    async fn found(self: &Arc<Self>, origin: &str, e: Equivocation) {
        if let Err(err) = e.verify(&self.logs[origin]) {
            tracing::warn!(origin, "built evidence does not verify: {err}");
            return;
        }
        if let Err(err) = self.record_evidence(e.to_text().into_bytes(), true).await {
            tracing::warn!(origin, "could not store evidence: {err}");
        }
    }

    async fn set_seen(&self, origin: &str, note: &[u8], ours: bool) {
        let Ok(text) = String::from_utf8(note.to_vec()) else {
            return;
        };
        let _w = self.seen_write.lock().await;
        let snapshot = {
            let Ok(mut s) = self.seen.lock() else { return };
            s.insert(origin.to_owned(), Seen { note: text, ours });
            serde_json::to_vec_pretty(&*s).unwrap_or_default()
        };
        let path = self.data.seen_path();
        let r = tokio::task::spawn_blocking(move || write_atomic(&path, &snapshot)).await;
        if let Ok(Err(e)) = r {
            tracing::warn!("persisting seen checkpoints: {e:#}");
        }
    }

    // -----------------------------------------------------------------------------------
    // Requests from peers

    async fn on_request(
        self: &Arc<Self>,
        peer: libp2p::PeerId,
        req: Request,
    ) -> (Response, Option<(String, Vec<u8>)>) {
        let Some(p) = self.peer_by_id(&peer) else {
            return (Response::error(403, "unknown peer"), None);
        };
        match req {
            Request::ConsistencyProof { origin, old, new } => {
                if origin != self.origin {
                    return (Response::error(404, "not this node's log"), None);
                }
                let store = self.store.clone();
                let r = tokio::task::spawn_blocking(move || -> Result<Vec<Hash>, String> {
                    let snap = store.snapshot().map_err(|e| e.to_string())?;
                    if old == 0 || old > new || new > snap.size() {
                        return Err(format!(
                            "need 1 <= old <= new <= {}, got {old}, {new}",
                            snap.size()
                        ));
                    }
                    merkle::prove_tree(new, old, &snap).map_err(|e| e.to_string())
                })
                .await;
                match r {
                    Ok(Ok(p)) => (Response::Proof(p), None),
                    Ok(Err(e)) => (Response::error(400, e), None),
                    Err(e) => (Response::error(500, e.to_string()), None),
                }
            }
            Request::Checkpoint { origin } => {
                if origin == self.origin {
                    let store = self.store.clone();
                    return match tokio::task::spawn_blocking(move || store.latest_checkpoint())
                        .await
                    {
                        Ok(Ok((size, note))) => (
                            Response::Checkpoint(self.shared.cosigned_at(size).unwrap_or(note)),
                            None,
                        ),
                        _ => (Response::error(500, "store"), None),
                    };
                }
                let seen = self.seen.lock().ok().and_then(|s| s.get(&origin).cloned());
                match seen {
                    Some(s) => (Response::Checkpoint(s.note.into_bytes()), None),
                    None => (Response::error(404, "no checkpoint of that log"), None),
                }
            }
            Request::Cosign {
                origin,
                old_size,
                proof,
                note,
            } => {
                if origin != p.origin {
                    return (
                        Response::error(403, "a peer may only ask to cosign its own log"),
                        None,
                    );
                }
                let w = self.witness.clone();
                let req = AddCheckpointRequest::new(old_size, proof, note.clone());
                let r = tokio::task::spawn_blocking(move || w.add_checkpoint_request(&req)).await;
                match r {
                    Ok(Ok(sigs)) => {
                        self.shared.cosign_served.fetch_add(1, Ordering::Relaxed);
                        let lines: String = sigs.iter().map(NoteSignature::to_line).collect();
                        (Response::Cosigned(lines.into_bytes()), Some((origin, note)))
                    }
                    Ok(Err(WitnessError::Conflict { latest_size })) => {
                        (Response::Conflict { size: latest_size }, None)
                    }
                    Ok(Err(e)) => {
                        self.shared.cosign_refused.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(origin, status = e.status(), "refused to cosign: {e}");
                        self.flush_witness_evidence().await;
                        (Response::error(e.status(), e.to_string()), None)
                    }
                    Err(e) => (Response::error(500, e.to_string()), None),
                }
            }
            Request::Equivocations => {
                let w = self.witness.clone();
                match tokio::task::spawn_blocking(move || w.equivocations()).await {
                    Ok(Ok(list)) => {
                        let mut total = 0usize;
                        let items = list
                            .into_iter()
                            .map(|e| e.evidence.into_bytes())
                            .take_while(|e| {
                                total += e.len() + 8;
                                total < 3 * 1024 * 1024
                            })
                            .take(64)
                            .collect();
                        (Response::Evidence(items), None)
                    }
                    _ => (Response::error(500, "witness state"), None),
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Log side: gathering cosignatures

    async fn cosign_loop(self: Arc<Self>, committed: Option<tokio::sync::watch::Receiver<u64>>) {
        let (_keep, mut committed) = match committed {
            Some(c) => (None, c),
            None => {
                let (tx, rx) = tokio::sync::watch::channel(0);
                (Some(tx), rx)
            }
        };
        let mut last_size: Option<u64> = None;
        let mut last_round = Instant::now();
        let mut witness_sizes: HashMap<usize, u64> = HashMap::new();
        loop {
            let kicked = tokio::select! {
                _ = tokio::time::sleep(POLL) => false,
                _ = self.kick.notified() => true,
                r = committed.changed() => {
                    if r.is_err() {
                        // The sequencer stopped: fall back to polling.
                        tokio::time::sleep(POLL).await;
                    }
                    false
                }
            };
            let store = self.store.clone();
            let Ok(Ok((size, note))) =
                tokio::task::spawn_blocking(move || store.latest_checkpoint()).await
            else {
                continue;
            };
            let due = kicked || Some(size) != last_size || last_round.elapsed() >= self.recosign;
            if !due || self.targets.is_empty() {
                continue;
            }
            last_size = Some(size);
            last_round = Instant::now();
            self.cosign_round(size, note, &mut witness_sizes, &mut committed)
                .await;
        }
    }

    async fn cosign_round(
        self: &Arc<Self>,
        size: u64,
        note: Vec<u8>,
        witness_sizes: &mut HashMap<usize, u64>,
        committed: &mut tokio::sync::watch::Receiver<u64>,
    ) {
        let connected: HashSet<libp2p::PeerId> = self
            .gossip
            .connected_peers()
            .await
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut pending = FuturesUnordered::new();
        for (i, t) in self.targets.iter().enumerate() {
            if let Target::Peer(p) = t
                && !connected.contains(&self.peers[*p].info.peer_id)
            {
                continue;
            }
            let old = witness_sizes.get(&i).copied().unwrap_or(0);
            let me = self.clone();
            let note = note.clone();
            pending.push(async move {
                let r =
                    tokio::time::timeout(me.cosign_timeout * 2, me.cosign_one(i, size, &note, old))
                        .await
                        .unwrap_or(Err(CosignFail::Other("timed out".into())));
                (i, r)
            });
        }
        if pending.is_empty() {
            return;
        }
        let Ok(note_str) = String::from_utf8(note) else {
            return;
        };
        let mut full = self
            .shared
            .cosigned_at(size)
            .and_then(|n| String::from_utf8(n).ok())
            .unwrap_or(note_str);
        let deadline = tokio::time::sleep(self.quorum_wait);
        tokio::pin!(deadline);
        let mut published = false;
        let mut changed_since_publish = false;
        let mut watch_alive = true;
        loop {
            tokio::select! {
                next = pending.next() => {
                    let Some((i, r)) = next else { break };
                    match r {
                        Ok(sig) => {
                            witness_sizes.insert(i, size);
                            match note::add_signatures(&full, &[sig]) {
                                Ok(n) => {
                                    full = n;
                                    self.shared.set_cosigned(size, full.clone().into_bytes());
                                    changed_since_publish = true;
                                }
                                Err(e) => tracing::warn!("adding a cosignature: {e}"),
                            }
                        }
                        Err(CosignFail::Learned(s)) => {
                            witness_sizes.insert(i, s);
                        }
                        Err(CosignFail::Other(e)) => {
                            tracing::debug!(witness = self.target_name(i), size, "no cosignature: {e}");
                        }
                    }
                }
                _ = &mut deadline, if !published => {
                    published = true;
                    changed_since_publish = false;
                    self.publish_cosigned(&full).await;
                }
                // Once published, a newer checkpoint does not wait for slow witnesses of
                // this one (they learn the size from the next round's 409 if needed).
                r = committed.changed(), if published && watch_alive => {
                    if r.is_ok() {
                        self.kick.notify_one();
                        break;
                    }
                    watch_alive = false;
                }
            }
        }
        if !published || changed_since_publish {
            self.publish_cosigned(&full).await;
        }
        let path = self.data.cosigned_path();
        let bytes = full.into_bytes();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || write_atomic(&path, &bytes)).await {
            tracing::warn!("persisting the cosigned checkpoint: {e:#}");
        }
    }

    async fn publish_cosigned(&self, full: &str) {
        self.publish(GossipMessage::Checkpoint {
            origin: self.origin.clone(),
            note: full.as_bytes().to_vec(),
        })
        .await;
    }

    fn target_name(&self, i: usize) -> String {
        match &self.targets[i] {
            Target::Peer(p) => self.peers[*p].witness.name().to_owned(),
            Target::External(e) => e.url.clone(),
        }
    }

    fn target_verifier(&self, i: usize) -> &CosignatureVerifier {
        match &self.targets[i] {
            Target::Peer(p) => &self.peers[*p].witness,
            Target::External(e) => &e.verifier,
        }
    }

    /// Asks witness `i` to cosign `note` (size `size`) from `old`, retrying once from the
    /// size it reports on conflict. Returns its verified cosignature.
    async fn cosign_one(
        &self,
        i: usize,
        size: u64,
        note: &[u8],
        mut old: u64,
    ) -> Result<NoteSignature, CosignFail> {
        let mut learned = None;
        for attempt in 0..2 {
            let proof = if old == 0 || old >= size {
                Vec::new()
            } else {
                let store = self.store.clone();
                tokio::task::spawn_blocking(move || -> Result<Vec<Hash>, String> {
                    let snap = store.snapshot().map_err(|e| e.to_string())?;
                    merkle::prove_tree(size, old, &snap).map_err(|e| e.to_string())
                })
                .await
                .map_err(|e| CosignFail::Other(e.to_string()))?
                .map_err(CosignFail::Other)?
            };
            let outcome = match &self.targets[i] {
                Target::Peer(p) => {
                    let req = Request::Cosign {
                        origin: self.origin.clone(),
                        old_size: old,
                        proof,
                        note: note.to_vec(),
                    };
                    match self.gossip.request(self.peers[*p].info.peer_id, req).await {
                        Ok(Response::Cosigned(lines)) => {
                            CosignOutcome::Cosigned(parse_signature_lines(&lines))
                        }
                        Ok(Response::Conflict { size }) => CosignOutcome::Conflict { size },
                        Ok(other) => return Err(CosignFail::Other(format!("{other:?}"))),
                        Err(e) => return Err(CosignFail::Other(e.to_string())),
                    }
                }
                Target::External(e) => e
                    .client
                    .add_checkpoint(old, &proof, note)
                    .await
                    .map_err(|e| CosignFail::Other(e.to_string()))?,
            };
            match outcome {
                CosignOutcome::Cosigned(sigs) => {
                    return self.verify_cosignature(i, note, &sigs).ok_or_else(|| {
                        CosignFail::Other("no valid cosignature by the configured key".into())
                    });
                }
                CosignOutcome::Conflict { size: s } if attempt == 0 && s <= size && s != old => {
                    learned = Some(s);
                    old = s;
                }
                CosignOutcome::Conflict { size: s } => {
                    if s > size {
                        tracing::error!(
                            witness = self.target_name(i),
                            witness_size = s,
                            size,
                            "witness holds a larger checkpoint of this log than the log has"
                        );
                    }
                    return Err(match learned {
                        Some(l) => CosignFail::Learned(l),
                        None => CosignFail::Other(format!("conflict at {s}")),
                    });
                }
            }
        }
        Err(learned.map_or(CosignFail::Other("conflict".into()), CosignFail::Learned))
    }

    /// The first of `sigs` that is a valid cosignature of `note` by witness `i`'s key.
    fn verify_cosignature(
        &self,
        i: usize,
        note: &[u8],
        sigs: &[NoteSignature],
    ) -> Option<NoteSignature> {
        let verifier = self.target_verifier(i);
        let note = std::str::from_utf8(note).ok()?;
        sigs.iter()
            .filter(|s| s.name() == verifier.name() && s.key_id() == verifier.key_id())
            .find(|s| {
                note::add_signatures(note, std::slice::from_ref(*s))
                    .ok()
                    .and_then(|n| {
                        verify_checkpoint(n.as_bytes(), &self.log, std::slice::from_ref(verifier))
                            .ok()
                    })
                    .is_some_and(|v| v.cosignatures().len() == 1)
            })
            .cloned()
    }
}

enum CosignFail {
    /// The witness's size for our log (learned from a conflict), nothing cosigned.
    Learned(u64),
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use quorate_proto::checkpoint::Checkpoint;
    use quorate_proto::cosignature::CosignatureSigner;
    use quorate_proto::note::Signer;

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
