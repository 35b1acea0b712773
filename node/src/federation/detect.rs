//! Relay and detection: every checkpoint heard is verified with its log's key and
//! compared with the latest one seen of that log; a fork becomes evidence.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use std::sync::atomic::Ordering;

use quorate_proto::checkpoint::{VerifiedCheckpoint, verify_checkpoint};
use quorate_proto::cosignature::CosignatureVerifier;
use quorate_proto::equivocation::Equivocation;
use quorate_proto::merkle;
use quorate_proto::note::Ed25519Verifier;
use serde::{Deserialize, Serialize};

use super::{Inner, relay};
use crate::datadir::{DataDir, write_atomic};
use crate::gossip::{Request, Response, Validation};

/// A latest verified checkpoint of one log, as persisted in `seen.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Seen {
    pub(super) note: String,
    /// Cosigned by our own witness (so consistent with every other such checkpoint).
    pub(super) ours: bool,
}

/// How a checkpoint reached this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Heard {
    /// Gossip from a peer; the verdict is reported to the transport.
    Gossip,
    /// Our witness just cosigned it for its log.
    Cosigned,
    /// Fetched from a peer while catching up.
    Fetched,
}

pub(super) fn load_seen(
    data: &DataDir,
    logs: &HashMap<String, Ed25519Verifier>,
) -> BTreeMap<String, Seen> {
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

impl Inner {
    /// Verifies a checkpoint of `origin` with the log key alone (stripping lines that do
    /// not verify, [`relay::canonicalize`]) and compares it with the latest one seen.
    pub(super) async fn observe(
        self: &Arc<Self>,
        origin: &str,
        note: &[u8],
        heard: Heard,
    ) -> Validation {
        let Some(log) = self.logs.get(origin) else {
            return Validation::Ignore;
        };
        let witnesses: Vec<CosignatureVerifier> = std::iter::once(&self.own_witness)
            .chain(self.peers.iter().map(|p| &p.witness))
            .cloned()
            .collect();
        let relayed = match relay::canonicalize(origin, note, log, &witnesses) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(origin, "dropping checkpoint: {e}");
                return Validation::Reject;
            }
        };
        if relayed.stripped > 0 {
            self.shared
                .gossip_lines_stripped
                .fetch_add(relayed.stripped as u64, Ordering::Relaxed);
        }
        if self.witness.is_equivocating(origin) {
            return Validation::Ignore;
        }
        let ours = heard == Heard::Cosigned || relay::cosigned_by(&relayed, &self.own_witness);
        let (v, note) = (&relayed.verified, relayed.kept.as_slice());
        let Some(lock) = self.origin_locks.get(origin) else {
            return Validation::Ignore;
        };
        let _guard = lock.lock().await;
        if origin == self.origin {
            return self.check_own(v).await;
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
            // The checkpoint we hold (perhaps our witness cosigned it before its log's
            // gossip arrived): still valid, so relay it; keep the copy with more
            // verified cosignatures. Copies differing only in stripped lines share one
            // message id, so this relays each checkpoint once.
            if (ours && !prev.ours) || note.len() > prev.note.len() {
                self.set_seen(origin, note, ours || prev.ours).await;
            }
            return Validation::Accept;
        }
        if c.size() < p.size() && heard == Heard::Gossip {
            // Older than what we hold: a replay or a late copy. Checking it would cost the
            // log a proof request per message, so whoever replays could spend the log's
            // request budget at this node; it is dropped unpenalised instead (its sender
            // already paid a rate-limit token). Forks still surface as same-size
            // conflicts here, and as newer checkpoints at the nodes that hold older ones.
            return Validation::Ignore;
        }
        let newer = c.size() > p.size();
        if !(ours && prev.ours) {
            let (small, large) = if newer { (&pv, v) } else { (v, &pv) };
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
        self.shared.proof_requests.fetch_add(1, Ordering::Relaxed);
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
}
