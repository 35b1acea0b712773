//! Gossip events: messages, requests from peers, and catching up with a peer that
//! connects.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use quorate_proto::merkle::{self, Hash};
use quorate_proto::note::NoteSignature;
use quorate_witness::{AddCheckpointRequest, WitnessError};
use tokio::sync::Semaphore;

use super::detect::Heard;
use super::evidence::evidence_origin;
use super::{Inner, WORKERS};
use crate::gossip::{GossipEvent, GossipMessage, Request, Response, Validation};

impl Inner {
    pub(super) async fn event_loop(
        self: Arc<Self>,
        mut events: tokio::sync::mpsc::Receiver<GossipEvent>,
    ) {
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
                id,
                source,
                author,
                msg,
            } => {
                let verdict = match msg {
                    GossipMessage::Checkpoint { origin, note } => {
                        match self.publisher_of(&origin) {
                            None => Validation::Ignore,
                            // Only a log's own node publishes its checkpoints; everyone
                            // else relays that message. A copy published by anyone else
                            // (a replay, or a variant with appended lines) is its
                            // publisher's doing: rejected here, and by every other node,
                            // so only that publisher is penalised.
                            Some(p) if author != Some(p) => {
                                tracing::debug!(
                                    origin,
                                    ?author,
                                    "checkpoint not published by its log"
                                );
                                Validation::Reject
                            }
                            Some(_) => self.observe(&origin, &note, Heard::Gossip).await,
                        }
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
                    self.observe(&origin, &note, Heard::Cosigned).await;
                }
            }
            GossipEvent::PeerConnected(peer) => self.catch_up(peer).await,
            GossipEvent::PeerDisconnected(_) => {}
        }
    }

    /// The libp2p identity that publishes checkpoints of `origin` (its log's node), if
    /// this node follows that log.
    fn publisher_of(&self, origin: &str) -> Option<libp2p::PeerId> {
        if origin == self.origin {
            return Some(self.gossip.local_peer_id());
        }
        self.peer_by_origin(origin).map(|p| p.info.peer_id)
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
                    let _ = self.record_evidence(e).await;
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
                self.observe(&origin, &note, Heard::Fetched).await;
            }
        }
    }

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
                            Response::Checkpoint(self.shared.latest_at(size).unwrap_or(note)),
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
                let req = AddCheckpointRequest::new(old_size, proof, note.clone());
                let started = std::time::Instant::now();
                let r = self.witness.add_checkpoint_request_async(req).await;
                tracing::debug!(
                    origin,
                    us = started.elapsed().as_micros(),
                    "witness: add-checkpoint answered"
                );
                match r {
                    Ok(sigs) => {
                        self.shared.cosign_served.fetch_add(1, Ordering::Relaxed);
                        self.shared.record_witnessed(&origin, &note);
                        let lines: String = sigs.iter().map(NoteSignature::to_line).collect();
                        (Response::Cosigned(lines.into_bytes()), Some((origin, note)))
                    }
                    Err(WitnessError::Conflict { latest_size }) => {
                        (Response::Conflict { size: latest_size }, None)
                    }
                    Err(e) => {
                        self.shared.cosign_refused.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(origin, status = e.status(), "refused to cosign: {e}");
                        (Response::error(e.status(), e.to_string()), None)
                    }
                }
            }
            Request::Equivocations => {
                let w = self.witness.clone();
                // The first page: what a peer that just connected must not miss (the
                // witness holds a few items per followed log at most).
                let page = move || w.equivocations_page(None, quorate_witness::PAGE_MAX);
                match tokio::task::spawn_blocking(page).await {
                    Ok(Ok((list, _))) => {
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
}
