//! Relay and detection: every checkpoint heard is verified with its log's key and
//! compared with the latest one seen of that log; a fork becomes evidence.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use quorate_proto::checkpoint::{VerifiedCheckpoint, verify_checkpoint};
use quorate_proto::cosignature::CosignatureVerifier;
use quorate_proto::equivocation::Equivocation;
use quorate_proto::merkle;
use quorate_proto::note::Ed25519Verifier;
use serde::{Deserialize, Serialize};

use super::older::Older;
use super::{Inner, relay};
use crate::datadir::{DataDir, write_atomic};
use crate::gossip::{Request, Response, Validation};

/// A latest verified checkpoint of one log, as persisted in `seen.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Seen {
    pub(super) note: String,
    /// Cosigned by our own witness (so consistent with every other such checkpoint).
    pub(super) ours: bool,
    /// `note`, as verified when it was stored (in memory only): every checkpoint heard of
    /// this log is compared with it, and checking its signatures again each time was a
    /// sixth of the node's signature checks in a busy federation
    /// (`bench/profile-federation.txt`).
    #[serde(skip)]
    pub(super) verified: Option<VerifiedCheckpoint>,
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
        .filter_map(|(o, mut s)| {
            let v = verify_checkpoint(s.note.as_bytes(), logs.get(&o)?, &[]).ok()?;
            s.verified = Some(v);
            Some((o, s))
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
            self.set_seen(origin, v, ours, Persist::unless_ours(ours))
                .await;
            return Validation::Accept;
        };
        let held = match prev.verified.clone() {
            Some(pv) => Ok(pv),
            None => verify_checkpoint(prev.note.as_bytes(), log, &[]),
        };
        let Ok(pv) = held else {
            self.set_seen(origin, v, ours, Persist::Now).await;
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
                self.set_seen(origin, v, ours || prev.ours, Persist::Behind)
                    .await;
            }
            return Validation::Accept;
        }
        let newer = c.size() > p.size();
        if !newer {
            // Older than what we hold: a late copy, a replay, or the honest side of a fork
            // whose other side we hold (only we can decide that one: see `older`).
            let budgeted = heard == Heard::Gossip;
            match self
                .older
                .classify(origin, v, budgeted, std::time::Instant::now())
            {
                Older::Known => return Validation::Ignore,
                Older::Conflict(held) => {
                    let e = Equivocation::same_size(&held, note);
                    self.found(origin, e).await;
                    return Validation::Accept;
                }
                // Dropped unpenalised: its sender already paid a rate-limit token.
                Older::OverBudget => {
                    self.shared.older_unchecked.fetch_add(1, Ordering::Relaxed);
                    return Validation::Ignore;
                }
                Older::Check => {}
            }
        }
        if !(ours && prev.ours) {
            let (small, large) = if newer { (&pv, v) } else { (v, &pv) };
            match self.consistent(origin, small, large).await {
                Some(true) => {}
                Some(false) => return Validation::Accept,
                // Undecidable here (an honest log proves every pair of its own
                // checkpoints, so this is a fork's other side or a log out of reach):
                // relayed, older or newer, so a node that can read the larger tree
                // decides it. Older ones reach this only within `older`'s budget.
                None => return Validation::Accept,
            }
        }
        if newer {
            self.older.remember(origin, &pv);
            self.set_seen(origin, v, ours, Persist::unless_ours(ours))
                .await;
            Validation::Accept
        } else {
            // Consistent with what we hold: its copies cost nothing from now on.
            self.older.remember(origin, v);
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

    /// Holds `v` (its note as verified) as the latest checkpoint of `origin`.
    async fn set_seen(&self, origin: &str, v: &VerifiedCheckpoint, ours: bool, persist: Persist) {
        let Ok(text) = String::from_utf8(v.note_bytes().to_vec()) else {
            return;
        };
        if let Ok(mut s) = self.seen.lock() {
            let verified = Some(v.clone());
            s.insert(
                origin.to_owned(),
                Seen {
                    note: text,
                    ours,
                    verified,
                },
            );
        } else {
            return;
        }
        match persist {
            Persist::Now => self.write_seen().await,
            Persist::Behind => self.seen_dirty.notify_one(),
        }
    }

    /// Writes the whole map to `seen.json` (atomically). Writers queue on `seen_write`
    /// and each takes its snapshot once it holds it, so the file only moves forward.
    pub(super) async fn write_seen(&self) {
        let _w = self.seen_write.lock().await;
        let snapshot = {
            let Ok(s) = self.seen.lock() else { return };
            serde_json::to_vec_pretty(&*s).unwrap_or_default()
        };
        let path = self.data.seen_path();
        let r = tokio::task::spawn_blocking(move || write_atomic(&path, &snapshot)).await;
        if let Ok(Err(e)) = r {
            tracing::warn!("persisting seen checkpoints: {e:#}");
        }
    }

    /// The write-behind of `seen.json`: after an update marked [`Persist::Behind`], one
    /// write, then at least [`SEEN_FLUSH`] until the next, so the updates of a busy
    /// federation (every cosigning round changes the entry of its log at every node, twice)
    /// share writes instead of costing two fsyncs each. Idle, it waits without timers.
    pub(super) async fn seen_writer(self: Arc<Self>) {
        loop {
            self.seen_dirty.notified().await;
            self.write_seen().await;
            tokio::time::sleep(SEEN_FLUSH).await;
        }
    }
}

/// Least time between two write-behinds of `seen.json`.
pub(super) const SEEN_FLUSH: Duration = Duration::from_millis(500);

/// Whether an update of the seen map must be on disk before it is acted on.
///
/// `seen.json` is what fork detection compares new checkpoints with after a restart.
/// An update whose loss in a crash could hide a fork is written before the checkpoint is
/// relayed (`Now`): a log's first or newer checkpoint that our witness did not cosign.
/// The rest is written behind (`Behind`): more cosignature lines on a checkpoint already
/// held (same size and root: nothing to compare differently), and checkpoints our
/// witness cosigned, which the witness state already holds durably and
/// [`merge_witnessed`] restores into the map at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Persist {
    Now,
    Behind,
}

impl Persist {
    fn unless_ours(ours: bool) -> Persist {
        if ours { Persist::Behind } else { Persist::Now }
    }
}

/// Adds to `seen` the latest checkpoint our witness cosigned of every peer log where it
/// is larger than the one held (or none is held), so a write-behind lost in a crash is
/// recovered from the witness's durable state. Lines other than the log's signature are
/// dropped, as for every relayed note.
pub(super) fn merge_witnessed(
    seen: &mut BTreeMap<String, Seen>,
    witness: &quorate_witness::Witness,
    logs: &HashMap<String, Ed25519Verifier>,
    own_origin: &str,
) {
    for (origin, log) in logs {
        if origin == own_origin {
            continue;
        }
        let Ok(Some(stored)) = witness.latest(origin) else {
            continue;
        };
        let Ok(r) = relay::canonicalize(origin, &stored.note, log, &[]) else {
            continue;
        };
        let held = seen
            .get(origin)
            .and_then(|s| verify_checkpoint(s.note.as_bytes(), log, &[]).ok())
            .map(|v| v.checkpoint().size());
        if held.is_some_and(|h| h >= r.verified.checkpoint().size()) {
            continue;
        }
        let Ok(note) = String::from_utf8(r.kept) else {
            continue;
        };
        seen.insert(
            origin.clone(),
            Seen {
                note,
                ours: true,
                verified: Some(r.verified),
            },
        );
    }
}
