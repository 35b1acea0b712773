//! Log side: gathering cosignatures on our checkpoints from peer witnesses (over gossip)
//! and external C2SP witnesses (over HTTP).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use quorate_proto::checkpoint::verify_checkpoint;
use quorate_proto::cosignature::CosignatureVerifier;
use quorate_proto::merkle::{self, Hash};
use quorate_proto::note::{self, Ed25519Verifier, NoteSignature, NoteVerifier};
use quorate_witness::{CosignOutcome, WitnessClient};

use super::{Inner, POLL};
use crate::datadir::{DataDir, write_atomic};
use crate::gossip::{GossipMessage, Request, Response};
use crate::store::Store;

/// Someone asked to cosign our checkpoints.
pub(super) enum Target {
    Peer(usize),
    External(Box<External>),
}

/// A standalone C2SP witness reached over HTTP.
pub(super) struct External {
    pub(super) url: String,
    pub(super) client: WitnessClient,
    pub(super) verifier: CosignatureVerifier,
}

/// The persisted served checkpoint (it reached the cosigning target when it was written),
/// if it is signed by our key and is the checkpoint the store holds at its size.
pub(super) fn load_cosigned(
    data: &DataDir,
    store: &Store,
    log: &Ed25519Verifier,
) -> Option<(u64, Vec<u8>)> {
    let note = std::fs::read(data.cosigned_path()).ok()?;
    let v = verify_checkpoint(&note, log, &[]).ok()?;
    let size = v.checkpoint().size();
    let stored = store.checkpoint_at(size).ok()??;
    let sv = verify_checkpoint(&stored, log, &[]).ok()?;
    (sv.note_text() == v.note_text()).then_some((size, note))
}

/// Parses `— <name> <base64(key ID || signature)>` lines.
pub(super) fn parse_signature_lines(bytes: &[u8]) -> Vec<NoteSignature> {
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

impl Inner {
    pub(super) async fn cosign_loop(
        self: Arc<Self>,
        committed: Option<tokio::sync::watch::Receiver<u64>>,
    ) {
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
        let started = Instant::now();
        // Our own note, checked once: each witness's answer is then one signature check.
        let text = match verify_checkpoint(&note, &self.log, &[]) {
            Ok(v) => v.note_text().to_owned(),
            Err(e) => {
                tracing::error!(size, "our latest checkpoint does not verify: {e}");
                return;
            }
        };
        let mut pending = FuturesUnordered::new();
        for (i, t) in self.targets.iter().enumerate() {
            if let Target::Peer(p) = t
                && !connected.contains(&self.peers[*p].info.peer_id)
            {
                continue;
            }
            let old = witness_sizes.get(&i).copied().unwrap_or(0);
            let me = self.clone();
            let (note, text) = (note.clone(), text.clone());
            pending.push(async move {
                let one = me.cosign_one(i, size, &note, &text, old);
                let r = tokio::time::timeout(me.cosign_timeout * 2, one)
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
            .latest_at(size)
            .and_then(|n| String::from_utf8(n).ok())
            .unwrap_or(note_str);
        let deadline = tokio::time::sleep(self.quorum_wait);
        tokio::pin!(deadline);
        let mut published = false;
        let mut changed_since_publish = false;
        let mut watch_alive = true;
        let mut reached = false;
        // When each cosignature arrived (for the debug log that profiles a round).
        let mut arrivals_us: Vec<u128> = Vec::new();
        loop {
            tokio::select! {
                next = pending.next() => {
                    let Some((i, r)) = next else { break };
                    match r {
                        Ok(sig) => {
                            arrivals_us.push(started.elapsed().as_micros());
                            witness_sizes.insert(i, size);
                            match note::add_signatures(&full, &[sig]) {
                                Ok(n) => {
                                    full = n;
                                    reached |= self.shared.set_gathered(size, full.clone().into_bytes());
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
        tracing::debug!(
            size,
            ?arrivals_us,
            "cosigning round: cosignatures arrived after"
        );
        if !published || changed_since_publish {
            self.publish_cosigned(&full).await;
        }
        if !reached {
            // Not served at /checkpoint, so not what a restart should serve either.
            return;
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
        text: &str,
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
                    return self.verify_cosignature(i, text, &sigs).ok_or_else(|| {
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

    /// The first of `sigs` that is a valid cosignature of `text` (the checkpoint text of
    /// a note verified with our log key) by witness `i`'s key. One signature check per
    /// line: the log signature was checked once for the whole round.
    fn verify_cosignature(
        &self,
        i: usize,
        text: &str,
        sigs: &[NoteSignature],
    ) -> Option<NoteSignature> {
        let verifier = self.target_verifier(i);
        sigs.iter()
            .filter(|s| s.name() == verifier.name() && s.key_id() == verifier.key_id())
            .find(|s| verifier.verify(text.as_bytes(), s.signature()))
            .cloned()
    }
}

enum CosignFail {
    /// The witness's size for our log (learned from a conflict), nothing cosigned.
    Learned(u64),
    Other(String),
}
