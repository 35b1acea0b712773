//! The federation transport: moves checkpoint notes, equivocation evidence and fetch
//! requests between configured peers over libp2p (TCP + Noise + Yamux).
//!
//! This module decides nothing about logs: it checks only the *shape* of what arrives
//! ([`wire`]) and hands it to the node glue, which verifies signatures with
//! `quorate_proto`, reports the verdict with [`GossipHandle::report_validation`] and
//! answers requests through the `reply` sender in [`GossipEvent::Request`].
//!
//! # Pieces
//!
//! - **Identity** ([`identity`]): Ed25519 keypair = SHA-256(`"quorate/libp2p-identity/v1"`
//!   ‖ log key seed). Only PeerIds in [`GossipConfig::peers`] may connect (libp2p
//!   allow-list); everything else is refused after the Noise handshake.
//! - **Gossip**: gossipsub topic [`TOPIC`], signed messages (strict validation), message id
//!   from what the verdict depends on ([`wire::message_id`]: for a checkpoint, its author,
//!   body and the log's own signature line, not cosignature or junk lines), so a copy that
//!   differs only in lines the node strips is deduplicated for
//!   [`GossipLimits::duplicate_cache_time`]. Messages are not forwarded until the node
//!   reports `Accept`; `Reject` penalises the sender (and every peer that delivered the
//!   same id while it was being validated) through peer scoring, and a peer that keeps
//!   sending rejected messages falls below the graylist threshold, after which nothing it
//!   sends is processed. So the node must report `Reject` only for messages invalid by
//!   their content alone (whatever the receiver knows): malformed, not signed by the log,
//!   published by someone other than the log. Stale, unknown-origin or merely
//!   uninteresting messages are `Ignore`d, and lines the node cannot verify are stripped,
//!   never a reason to reject, since honest relayers of a message are penalised too.
//! - **Rate limit without poisoning the duplicate cache**: gossipsub remembers a message
//!   id before the node sees the message, so a copy dropped for the rate limit would block
//!   the honest copy from another peer for the whole duplicate-cache period. Instead, a
//!   peer whose bucket runs dry is paused (gossipsub's blacklist: its messages are
//!   dropped before deduplication, unpenalised) until a token is back, and each RPC may
//!   carry one message, so everything that reaches the cache is handled.
//! - **Fetch** ([`codec::FETCH_PROTOCOL`]): one request and one response per stream,
//!   length-prefixed, size-capped, with timeouts and a per-peer token bucket.
//! - **Liveness**: configured peers are dialled at start and redialled with exponential
//!   backoff while disconnected, so a partitioned or restarted node rejoins by itself.
//! - **Bounded everything**: the event channel is bounded; when it is full, gossip is
//!   ignored (not forwarded, not penalised), requests are answered 503, and the drop is
//!   counted in [`GossipMetrics`].

pub mod codec;
pub mod identity;
pub mod metrics;
pub mod wire;

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use libp2p::gossipsub::{
    self, IdentTopic, MessageAcceptance, MessageAuthenticity, PeerScoreParams, PeerScoreThresholds,
    TopicScoreParams, ValidationMode,
};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, allow_block_list, connection_limits, identify, noise};
use libp2p::{tcp, yamux};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use identity::{
    IdentityError, PeerInfo, identity_from_seed, identity_from_skey, peer_id_from_ed25519_public,
    peer_id_from_skey,
};
pub use libp2p::gossipsub::MessageId;
pub use libp2p::identity::Keypair;
pub use metrics::{GossipMetrics, MetricsSnapshot, RateLimit};
pub use wire::{GossipMessage, Request, Response, WireError, WireLimits};

use metrics::{Backoff, Bucket, inc};

/// The gossipsub topic carrying checkpoints and equivocation evidence.
pub const TOPIC: &str = "quorate/checkpoints/v1";
/// Sent in identify.
pub const PROTOCOL_VERSION: &str = "/quorate/1.0.0";

/// Limits and timings. [`Default`] suits production; tests shorten the timings.
#[derive(Debug, Clone)]
pub struct GossipLimits {
    /// Size caps on gossip, requests and responses. The gossipsub transmit limit is
    /// derived from these ([`WireLimits::max_gossip_bytes`] plus envelope room).
    pub wire: WireLimits,
    /// Capacity of the event channel to the node.
    pub event_channel: usize,
    /// Capacity of the command channel from handles.
    pub command_channel: usize,
    /// Inbound requests per peer.
    pub inbound_requests: RateLimit,
    /// Inbound gossip messages per propagating peer; a peer out of tokens is paused
    /// (its messages dropped before deduplication, not penalised) until one is back.
    pub inbound_gossip: RateLimit,
    /// Most inbound requests waiting for the node's answer at once; beyond it, 503.
    pub max_pending_inbound: usize,
    /// Concurrent request streams per connection (each direction).
    pub max_concurrent_streams: usize,
    /// Time for a whole outbound request (dial, send, response).
    pub request_timeout: Duration,
    /// Time the node has to answer an inbound request before 504 is sent.
    pub reply_timeout: Duration,
    /// Redial backoff while a configured peer is disconnected.
    pub redial_min: Duration,
    pub redial_max: Duration,
    /// How long a message id is remembered for deduplication.
    pub duplicate_cache_time: Duration,
    /// Gossipsub heartbeat.
    pub heartbeat: Duration,
    /// Close connections idle (no streams) for this long; redial reopens them.
    pub idle_connection_timeout: Duration,
    /// Peer scoring. See [`default_peer_score`].
    pub score: PeerScoreParams,
    pub thresholds: PeerScoreThresholds,
}

impl Default for GossipLimits {
    fn default() -> Self {
        let (score, thresholds) = default_peer_score();
        GossipLimits {
            wire: WireLimits::default(),
            event_channel: 1024,
            command_channel: 256,
            inbound_requests: RateLimit {
                burst: 32,
                per_second: 16.0,
            },
            inbound_gossip: RateLimit {
                burst: 64,
                per_second: 32.0,
            },
            max_pending_inbound: 256,
            max_concurrent_streams: 32,
            request_timeout: Duration::from_secs(10),
            reply_timeout: Duration::from_secs(5),
            redial_min: Duration::from_millis(500),
            redial_max: Duration::from_secs(30),
            duplicate_cache_time: Duration::from_secs(600),
            heartbeat: Duration::from_millis(700),
            idle_connection_timeout: Duration::from_secs(300),
            score,
            thresholds,
        }
    }
}

/// Scoring for a small federation of allow-listed peers with low, bursty traffic.
///
/// Only invalid messages (P4) and gossipsub protocol misbehaviour (P7) cost score. Mesh
/// delivery-rate penalties (P3, P3b) are off because a quiet log is not a fault, and the
/// IP-colocation penalty (P6) is off because peers are allow-listed (and tests share
/// 127.0.0.1). P4 is `-10 × invalid²` with topic weight 1: four rejected messages
/// (−160) pass the graylist threshold (−80) even with the full positive cap (+10). The
/// counter decays by 0.998 per second (half-life about six minutes).
pub fn default_peer_score() -> (PeerScoreParams, PeerScoreThresholds) {
    let topic = TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 300.0,
        first_message_deliveries_weight: 0.5,
        first_message_deliveries_decay: 0.99,
        first_message_deliveries_cap: 20.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.998,
        ..TopicScoreParams::default()
    };
    let mut params = PeerScoreParams {
        topic_score_cap: 10.0,
        app_specific_weight: 1.0,
        ip_colocation_factor_weight: 0.0,
        decay_interval: Duration::from_secs(1),
        retain_score: Duration::from_secs(3600),
        ..PeerScoreParams::default()
    };
    params.topics.insert(IdentTopic::new(TOPIC).hash(), topic);
    let thresholds = PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 1000.0,
        opportunistic_graft_threshold: 5.0,
    };
    (params, thresholds)
}

/// Transport configuration.
#[derive(Debug, Clone)]
pub struct GossipConfig {
    /// Where to listen, e.g. `/ip4/127.0.0.1/tcp/7001`.
    pub listen: Multiaddr,
    /// The federation: the only peers this node connects to or accepts.
    pub peers: Vec<PeerInfo>,
    pub limits: GossipLimits,
}

/// The node's verdict on a gossip message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// Valid: forward it to other peers.
    Accept,
    /// Invalid regardless of local state: drop it and penalise the peers that sent it.
    Reject,
    /// Not useful here (stale, unknown origin, duplicate): drop it without penalty.
    Ignore,
}

/// What the transport tells the node.
#[derive(Debug)]
pub enum GossipEvent {
    /// A gossip message of valid shape. Report a verdict with
    /// [`GossipHandle::report_validation`]`(id, source, ..)`; until then it is not forwarded.
    Message {
        id: MessageId,
        /// The peer it arrived from (which is penalised on `Reject`).
        source: PeerId,
        /// The peer that published it (signed by that peer's libp2p key).
        author: Option<PeerId>,
        msg: GossipMessage,
    },
    /// A fetch request from a configured peer. Answer through `reply` within
    /// [`GossipLimits::reply_timeout`]; dropping `reply` answers 500.
    Request {
        peer: PeerId,
        req: Request,
        reply: oneshot::Sender<Response>,
    },
    PeerConnected(PeerId),
    PeerDisconnected(PeerId),
}

/// Transport failures returned to handle callers.
#[derive(Debug, thiserror::Error)]
pub enum GossipError {
    #[error("the gossip task has stopped")]
    Stopped,
    #[error("peer {0} is not configured")]
    UnknownPeer(PeerId),
    #[error("message does not encode: {0}")]
    Encode(#[from] WireError),
    #[error("this content was already published or received recently")]
    Duplicate,
    #[error("no connected peer is subscribed to the topic")]
    NoPeers,
    #[error("publish failed: {0}")]
    Publish(String),
    #[error("request to {peer} failed: {reason}")]
    Request { peer: PeerId, reason: String },
    #[error("request timed out")]
    Timeout,
    #[error("listening on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("building the swarm: {0}")]
    Build(String),
}

enum Command {
    Publish {
        data: Vec<u8>,
        done: oneshot::Sender<Result<MessageId, GossipError>>,
    },
    Request {
        peer: PeerId,
        req: Request,
        done: oneshot::Sender<Result<Response, GossipError>>,
    },
    Validate {
        id: MessageId,
        source: PeerId,
        verdict: Validation,
    },
    ConnectedPeers(oneshot::Sender<Vec<PeerId>>),
    TopicPeers(oneshot::Sender<Vec<PeerId>>),
    PeerScore(PeerId, oneshot::Sender<Option<f64>>),
    Shutdown,
}

/// A cheap, cloneable handle to the running transport.
#[derive(Clone)]
pub struct GossipHandle {
    cmd: mpsc::Sender<Command>,
    local_peer_id: PeerId,
    listen_addrs: Vec<Multiaddr>,
    metrics: Arc<GossipMetrics>,
    wire: WireLimits,
    request_timeout: Duration,
    task: Arc<tokio::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for GossipHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GossipHandle")
            .field("local_peer_id", &self.local_peer_id)
            .field("listen_addrs", &self.listen_addrs)
            .finish_non_exhaustive()
    }
}

impl GossipHandle {
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// The addresses actually bound (useful when listening on port 0).
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen_addrs
    }

    /// Live counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, GossipError> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(make(tx))
            .await
            .map_err(|_| GossipError::Stopped)?;
        rx.await.map_err(|_| GossipError::Stopped)
    }

    /// Publishes to all connected subscribed peers. Fails with [`GossipError::NoPeers`]
    /// when nobody is connected (the node should retry or rely on peers fetching) and
    /// with [`GossipError::Duplicate`] for content seen recently.
    pub async fn publish(&self, msg: &GossipMessage) -> Result<MessageId, GossipError> {
        let data = msg.encode(&self.wire)?;
        self.publish_raw(data).await
    }

    /// Publishes bytes without encoding checks (gossipsub's size cap still applies).
    /// For tests that play a misbehaving peer.
    #[doc(hidden)]
    pub async fn publish_raw(&self, data: Vec<u8>) -> Result<MessageId, GossipError> {
        self.call(|done| Command::Publish { data, done }).await?
    }

    /// Sends a fetch request to a configured peer (dialling it if needed) and waits for
    /// the response, at most [`GossipLimits::request_timeout`].
    pub async fn request(&self, peer: PeerId, req: Request) -> Result<Response, GossipError> {
        req.encode(&self.wire)?;
        let fut = self.call(|done| Command::Request { peer, req, done });
        match tokio::time::timeout(self.request_timeout + Duration::from_secs(1), fut).await {
            Ok(r) => r?,
            Err(_) => Err(GossipError::Timeout),
        }
    }

    /// Reports the node's verdict on a [`GossipEvent::Message`].
    pub async fn report_validation(
        &self,
        id: MessageId,
        source: PeerId,
        verdict: Validation,
    ) -> Result<(), GossipError> {
        self.cmd
            .send(Command::Validate {
                id,
                source,
                verdict,
            })
            .await
            .map_err(|_| GossipError::Stopped)
    }

    /// Peers with an open connection.
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, GossipError> {
        self.call(Command::ConnectedPeers).await
    }

    /// Connected peers subscribed to [`TOPIC`] (i.e. that a publication will reach).
    pub async fn topic_peers(&self) -> Result<Vec<PeerId>, GossipError> {
        self.call(Command::TopicPeers).await
    }

    /// A peer's gossipsub score (below [`PeerScoreThresholds::graylist_threshold`] means
    /// graylisted), if known.
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, GossipError> {
        self.call(|tx| Command::PeerScore(peer, tx)).await
    }

    /// Stops the swarm (closing all connections) and waits for its task to end. Other
    /// clones of the handle then fail with [`GossipError::Stopped`].
    pub async fn shutdown(&self) {
        let _ = self.cmd.send(Command::Shutdown).await;
        if let Some(task) = self.task.lock().await.take() {
            let _ = task.await;
        }
    }
}

#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
struct Behaviour {
    allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    limits: connection_limits::Behaviour,
    gossipsub: gossipsub::Behaviour,
    fetch: request_response::Behaviour<codec::FetchCodec>,
    identify: identify::Behaviour,
}

/// Entry point; see [`Gossip::start`].
pub struct Gossip;

impl Gossip {
    /// Builds the swarm, binds `config.listen`, starts dialling the configured peers and
    /// runs everything in a tokio task. Returns once the listener is bound.
    pub async fn start(
        config: GossipConfig,
        keypair: Keypair,
    ) -> Result<(GossipHandle, mpsc::Receiver<GossipEvent>), GossipError> {
        let limits = config.limits.clone();
        let topic = IdentTopic::new(TOPIC);
        let mut swarm = build_swarm(&config, keypair)?;
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| GossipError::Build(e.to_string()))?;

        swarm
            .listen_on(config.listen.clone())
            .map_err(|e| GossipError::Listen {
                addr: config.listen.clone(),
                reason: e.to_string(),
            })?;
        let listen_addrs = wait_for_listen(&mut swarm, &config.listen).await?;

        let now = Instant::now();
        let mut peers = HashMap::new();
        for p in &config.peers {
            swarm.add_peer_address(p.peer_id, p.addr.clone());
            peers.insert(
                p.peer_id,
                PeerState {
                    info: p.clone(),
                    backoff: Backoff::new(now.into_std(), limits.redial_min),
                    requests: Bucket::new(&limits.inbound_requests, now.into_std()),
                    gossip: Bucket::new(&limits.inbound_gossip, now.into_std()),
                    paused_until: None,
                },
            );
        }

        let (cmd_tx, cmd_rx) = mpsc::channel(limits.command_channel.max(1));
        let (ev_tx, ev_rx) = mpsc::channel(limits.event_channel.max(1));
        let metrics = Arc::new(GossipMetrics::default());
        let local_peer_id = *swarm.local_peer_id();
        let task = Task {
            swarm,
            peers,
            limits: limits.clone(),
            metrics: metrics.clone(),
            events: ev_tx,
            pending_outbound: HashMap::new(),
            pending_inbound: FuturesUnordered::new(),
        };
        let join = tokio::spawn(task.run(cmd_rx));
        Ok((
            GossipHandle {
                cmd: cmd_tx,
                local_peer_id,
                listen_addrs,
                metrics,
                wire: limits.wire,
                request_timeout: limits.request_timeout,
                task: Arc::new(tokio::sync::Mutex::new(Some(join))),
            },
            ev_rx,
        ))
    }
}

/// The id gossipsub deduplicates by; see [`wire::message_id`].
fn message_id(msg: &gossipsub::Message, limits: &WireLimits) -> MessageId {
    let author = msg.source.map(|p| p.to_bytes());
    MessageId::new(&wire::message_id(author.as_deref(), &msg.data, limits))
}

fn build_swarm(config: &GossipConfig, keypair: Keypair) -> Result<Swarm<Behaviour>, GossipError> {
    let limits = &config.limits;
    let max_transmit = limits.wire.max_gossip_bytes() + 4096;
    let wire = limits.wire;
    let gs_config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(limits.heartbeat)
        .validation_mode(ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(move |m| message_id(m, &wire))
        // gossipsub sends one message per RPC; allowing only that means each message is
        // handed to us (and can pause its peer) before the next one is deduplicated.
        .max_publish_messages(1)
        .max_transmit_size(max_transmit)
        .duplicate_cache_time(limits.duplicate_cache_time)
        .flood_publish(true)
        .build()
        .map_err(|e| GossipError::Build(e.to_string()))?;
    let mut gossipsub =
        gossipsub::Behaviour::new(MessageAuthenticity::Signed(keypair.clone()), gs_config)
            .map_err(|e| GossipError::Build(e.to_string()))?;
    gossipsub
        .with_peer_score(limits.score.clone(), limits.thresholds.clone())
        .map_err(GossipError::Build)?;

    let mut allow = allow_block_list::Behaviour::<allow_block_list::AllowedPeers>::default();
    for p in &config.peers {
        allow.allow_peer(p.peer_id);
    }
    // Unknown peers are refused only after their handshake; cap how many may be
    // handshaking at once, and connections per allowed peer.
    let conn_limits = connection_limits::ConnectionLimits::default()
        .with_max_pending_incoming(Some(32))
        .with_max_established_per_peer(Some(2))
        .with_max_established(Some(2 * config.peers.len() as u32 + 4));

    let fetch = request_response::Behaviour::with_codec(
        codec::FetchCodec {
            limits: limits.wire,
        },
        [(codec::FETCH_PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(limits.request_timeout)
            .with_max_concurrent_streams(limits.max_concurrent_streams),
    );
    let identify = identify::Behaviour::new(identify::Config::new(
        PROTOCOL_VERSION.to_owned(),
        keypair.public(),
    ));
    let behaviour = Behaviour {
        allow,
        limits: connection_limits::Behaviour::new(conn_limits),
        gossipsub,
        fetch,
        identify,
    };
    let idle = limits.idle_connection_timeout;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| GossipError::Build(e.to_string()))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| GossipError::Build(e.to_string()))?
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(idle)
                .with_notify_handler_buffer_size(NonZeroUsize::new(64).expect("non-zero"))
        })
        .build();
    Ok(swarm)
}

/// Sleeps until `t`, or forever without one.
async fn sleep_until(t: Option<std::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

async fn wait_for_listen(
    swarm: &mut Swarm<Behaviour>,
    addr: &Multiaddr,
) -> Result<Vec<Multiaddr>, GossipError> {
    let fut = async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr { address, .. } => return Ok(vec![address]),
                SwarmEvent::ListenerClosed { reason, .. } => {
                    return Err(GossipError::Listen {
                        addr: addr.clone(),
                        reason: format!("{reason:?}"),
                    });
                }
                SwarmEvent::ListenerError { error, .. } => {
                    return Err(GossipError::Listen {
                        addr: addr.clone(),
                        reason: error.to_string(),
                    });
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| {
            Err(GossipError::Listen {
                addr: addr.clone(),
                reason: "timed out".into(),
            })
        })
}

struct PeerState {
    info: PeerInfo,
    backoff: Backoff,
    requests: Bucket,
    gossip: Bucket,
    /// Paused (blacklisted in gossipsub) until then, its gossip bucket being empty.
    paused_until: Option<std::time::Instant>,
}

type PendingReply = BoxFuture<'static, (ResponseChannel<Response>, Response, bool)>;

struct Task {
    swarm: Swarm<Behaviour>,
    peers: HashMap<PeerId, PeerState>,
    limits: GossipLimits,
    metrics: Arc<GossipMetrics>,
    events: mpsc::Sender<GossipEvent>,
    pending_outbound: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, GossipError>>>,
    pending_inbound: FuturesUnordered<PendingReply>,
}

impl Task {
    async fn run(mut self, mut cmds: mpsc::Receiver<Command>) {
        let mut redial = tokio::time::interval(Duration::from_millis(250));
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let resume = self.next_resume();
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm_event(ev),
                cmd = cmds.recv() => match cmd {
                    None | Some(Command::Shutdown) => break,
                    Some(cmd) => self.on_command(cmd),
                },
                Some((channel, resp, answered)) = self.pending_inbound.next(),
                    if !self.pending_inbound.is_empty() =>
                {
                    if !answered {
                        inc(&self.metrics.requests_unanswered);
                    }
                    // Fails only when the peer has gone or the stream timed out.
                    let _ = self.swarm.behaviour_mut().fetch.send_response(channel, resp);
                }
                _ = redial.tick() => self.redial(),
                _ = sleep_until(resume) => self.resume_paused(),
            }
        }
        for (_, done) in self.pending_outbound.drain() {
            let _ = done.send(Err(GossipError::Stopped));
        }
    }

    fn redial(&mut self) {
        let now = std::time::Instant::now();
        let mut to_dial = Vec::new();
        for (id, p) in &mut self.peers {
            if self.swarm.is_connected(id) || p.backoff.next_attempt > now {
                continue;
            }
            // Assume failure until the connection is established; a success resets this.
            p.backoff.failed(now, self.limits.redial_max);
            to_dial.push((*id, p.info.addr.clone()));
        }
        for (id, addr) in to_dial {
            inc(&self.metrics.dials);
            let opts = DialOpts::peer_id(id)
                .addresses(vec![addr])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(peer = %id, error = %e, "gossip dial not started");
            }
        }
    }

    /// The earliest time a paused peer gets a token back.
    fn next_resume(&self) -> Option<std::time::Instant> {
        self.peers.values().filter_map(|p| p.paused_until).min()
    }

    /// Lets paused peers whose bucket has a token again send gossip.
    fn resume_paused(&mut self) {
        let now = std::time::Instant::now();
        for (id, p) in &mut self.peers {
            if p.paused_until.is_some_and(|t| t <= now) {
                p.paused_until = None;
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .remove_blacklisted_peer(id);
            }
        }
    }

    /// Hands an event to the node without waiting; false (and counted) when the channel
    /// is full or closed.
    fn emit(&self, ev: GossipEvent) -> bool {
        let sent = self.events.try_send(ev).is_ok();
        if !sent {
            inc(&self.metrics.events_dropped);
        }
        sent
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish { data, done } => {
                let r = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(IdentTopic::new(TOPIC), data);
                let r = match r {
                    Ok(id) => {
                        inc(&self.metrics.gossip_published);
                        Ok(id)
                    }
                    Err(e) => {
                        inc(&self.metrics.gossip_publish_failed);
                        Err(match e {
                            gossipsub::PublishError::Duplicate => GossipError::Duplicate,
                            gossipsub::PublishError::NoPeersSubscribedToTopic => {
                                GossipError::NoPeers
                            }
                            e => GossipError::Publish(e.to_string()),
                        })
                    }
                };
                let _ = done.send(r);
            }
            Command::Request { peer, req, done } => {
                if !self.peers.contains_key(&peer) {
                    let _ = done.send(Err(GossipError::UnknownPeer(peer)));
                    return;
                }
                inc(&self.metrics.requests_sent);
                let id = self.swarm.behaviour_mut().fetch.send_request(&peer, req);
                self.pending_outbound.insert(id, done);
            }
            Command::Validate {
                id,
                source,
                verdict,
            } => {
                let (acceptance, counter) = match verdict {
                    Validation::Accept => (
                        MessageAcceptance::Accept,
                        &self.metrics.gossip_validation_accept,
                    ),
                    Validation::Reject => (
                        MessageAcceptance::Reject,
                        &self.metrics.gossip_validation_reject,
                    ),
                    Validation::Ignore => (
                        MessageAcceptance::Ignore,
                        &self.metrics.gossip_validation_ignore,
                    ),
                };
                inc(counter);
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&id, &source, acceptance);
            }
            Command::ConnectedPeers(tx) => {
                let _ = tx.send(self.swarm.connected_peers().copied().collect());
            }
            Command::TopicPeers(tx) => {
                let topic = IdentTopic::new(TOPIC).hash();
                let peers = self
                    .swarm
                    .behaviour()
                    .gossipsub
                    .all_peers()
                    .filter(|(_, topics)| topics.contains(&&topic))
                    .map(|(p, _)| *p)
                    .collect();
                let _ = tx.send(peers);
            }
            Command::PeerScore(peer, tx) => {
                let _ = tx.send(self.swarm.behaviour().gossipsub.peer_score(&peer));
            }
            Command::Shutdown => {}
        }
    }

    fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(ev)) => self.on_gossip(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Fetch(ev)) => self.on_fetch(ev),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                inc(&self.metrics.connections_established);
                let now = std::time::Instant::now();
                if let Some(p) = self.peers.get_mut(&peer_id) {
                    p.backoff.reset(now, self.limits.redial_min);
                }
                if num_established.get() == 1 {
                    self.emit(GossipEvent::PeerConnected(peer_id));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                inc(&self.metrics.connections_closed);
                if num_established == 0 {
                    // gossipsub ignores a blacklisted peer's new connection (it would never
                    // learn our subscription), so a pause must not outlive the connection.
                    if let Some(p) = self.peers.get_mut(&peer_id)
                        && p.paused_until.take().is_some()
                    {
                        self.swarm
                            .behaviour_mut()
                            .gossipsub
                            .remove_blacklisted_peer(&peer_id);
                    }
                    self.emit(GossipEvent::PeerDisconnected(peer_id));
                }
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                if matches!(error, libp2p::swarm::ListenError::Denied { .. }) {
                    inc(&self.metrics.connections_denied);
                }
                tracing::debug!(error = %error, "gossip inbound connection failed");
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                if matches!(error, libp2p::swarm::DialError::Denied { .. }) {
                    inc(&self.metrics.connections_denied);
                }
                tracing::debug!(peer = ?peer_id, error = %error, "gossip dial failed");
            }
            _ => {}
        }
    }

    fn on_gossip(&mut self, ev: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = ev
        else {
            return;
        };
        inc(&self.metrics.gossip_received);
        let msg = match self.screen(&propagation_source, &message.data) {
            Ok(msg) => msg,
            Err(acceptance) => {
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
                return;
            }
        };
        let ev = GossipEvent::Message {
            id: message_id.clone(),
            source: propagation_source,
            author: message.source,
            msg,
        };
        if self.emit(ev) {
            inc(&self.metrics.gossip_delivered);
        } else {
            // Not forwarded and not penalised: the fault is ours.
            inc(&self.metrics.gossip_dropped_channel_full);
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    MessageAcceptance::Ignore,
                );
        }
    }

    /// Rate limit and decode; `Err` carries the verdict to report without the node.
    fn screen(&mut self, source: &PeerId, data: &[u8]) -> Result<GossipMessage, MessageAcceptance> {
        let now = std::time::Instant::now();
        let limit = self.limits.inbound_gossip;
        // Only allow-listed peers can be connected, so a missing entry means a race with
        // config; treat it as over the limit.
        let Some(peer) = self.peers.get_mut(source) else {
            inc(&self.metrics.gossip_dropped_rate_limited);
            return Err(MessageAcceptance::Ignore);
        };
        if !peer.gossip.take(&limit, now) {
            // Only reachable if the pause below did not take effect in time; the id is
            // already cached, which is what the pause exists to avoid.
            inc(&self.metrics.gossip_dropped_rate_limited);
            return Err(MessageAcceptance::Ignore);
        }
        let wait = peer.gossip.until_next(&limit, now);
        if !wait.is_zero() && peer.paused_until.is_none() {
            // The bucket is dry: drop this peer's next messages before gossipsub caches
            // their ids, so an honest copy from another peer still gets through.
            peer.paused_until = Some(now + wait);
            inc(&self.metrics.gossip_peer_paused);
            self.swarm.behaviour_mut().gossipsub.blacklist_peer(source);
        }
        GossipMessage::decode(data, &self.limits.wire).map_err(|e| {
            inc(&self.metrics.gossip_rejected_decode);
            tracing::debug!(peer = %source, error = %e, "gossip message rejected");
            MessageAcceptance::Reject
        })
    }

    fn on_fetch(&mut self, ev: request_response::Event<Request, Response>) {
        match ev {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.on_inbound_request(peer, request, channel),
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(done) = self.pending_outbound.remove(&request_id) {
                    let _ = done.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                inc(&self.metrics.requests_failed);
                if let Some(done) = self.pending_outbound.remove(&request_id) {
                    let _ = done.send(Err(GossipError::Request {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                inc(&self.metrics.requests_inbound_failed);
                tracing::debug!(peer = %peer, error = %error, "gossip inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_inbound_request(
        &mut self,
        peer: PeerId,
        req: Request,
        channel: ResponseChannel<Response>,
    ) {
        inc(&self.metrics.requests_received);
        let now = std::time::Instant::now();
        let fetch = &mut self.swarm.behaviour_mut().fetch;
        let within = self
            .peers
            .get_mut(&peer)
            .is_some_and(|p| p.requests.take(&self.limits.inbound_requests, now));
        if !within {
            inc(&self.metrics.requests_rate_limited);
            let _ = fetch.send_response(channel, Response::error(429, "rate limited"));
            return;
        }
        if self.pending_inbound.len() >= self.limits.max_pending_inbound {
            inc(&self.metrics.requests_dropped_overloaded);
            let _ = fetch.send_response(channel, Response::error(503, "overloaded"));
            return;
        }
        let (tx, rx) = oneshot::channel();
        if !self.emit(GossipEvent::Request {
            peer,
            req,
            reply: tx,
        }) {
            inc(&self.metrics.requests_dropped_overloaded);
            let fetch = &mut self.swarm.behaviour_mut().fetch;
            let _ = fetch.send_response(channel, Response::error(503, "overloaded"));
            return;
        }
        let timeout = self.limits.reply_timeout;
        let wire = self.limits.wire;
        self.pending_inbound.push(Box::pin(async move {
            let (resp, answered) = match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(resp)) => (resp, true),
                Ok(Err(_)) => (Response::error(500, "request dropped"), false),
                Err(_) => (Response::error(504, "no answer in time"), false),
            };
            // Never send something the peer's codec would refuse.
            let resp = match resp.encode(&wire) {
                Ok(_) => resp,
                Err(e) => Response::error(500, format!("response does not encode: {e}")),
            };
            (channel, resp, answered)
        }));
    }
}
