//! A read-only view of the running federation for the public web pages ([`crate::web`]):
//! who this node witnesses, who witnesses it, the latest checkpoint seen of every log with
//! the cosignatures that verify on it, and the evidence held.
//!
//! Everything here is re-verified from what the federation already holds (its `seen`
//! checkpoints, the embedded witness's state, the gathered cosignatures), so a page never
//! shows a cosignature that does not verify against a configured witness key.

use std::collections::BTreeMap;
use std::sync::Arc;

use quorate_proto::checkpoint::{VerifiedCheckpoint, verify_checkpoint};
use quorate_proto::cosignature::CosignatureVerifier;
use quorate_proto::note::NoteVerifier;

use super::Inner;
use super::cosign::Target;

/// Most evidence items read to count evidence per origin (the witness keeps a few per
/// followed origin, so this is never reached by an honest state).
const MAX_EVIDENCE_READ: usize = 1024;

/// A handle the web pages keep; cheap to clone.
#[derive(Clone)]
pub struct FedView {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FedView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FedView")
            .field("origin", &self.inner.origin)
            .finish_non_exhaustive()
    }
}

/// A witness that cosigns logs of the federation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessInfo {
    /// The witness's key name.
    pub name: String,
    pub vkey: String,
    /// Whose witness it is: a log's origin (a peer's, or this node's), or an external
    /// witness's URL.
    pub operator: WitnessOperator,
}

/// Who runs a witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessOperator {
    /// The embedded witness of the node running this log.
    Log(String),
    /// A standalone C2SP witness reached over HTTP.
    External(String),
}

/// A cosignature that verified on a log's latest known checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureInfo {
    /// The witness's key name.
    pub witness: String,
    /// When it cosigned (POSIX seconds, the witness's claim).
    pub timestamp: u64,
}

/// What this node knows about one log of the federation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogInfo {
    pub origin: String,
    pub vkey: String,
    /// True for this node's own log.
    pub own: bool,
    /// The latest checkpoint known (for peers: the latest seen; for this log: the newest
    /// with the cosignatures gathered), as (size, note text).
    pub latest: Option<(u64, String)>,
    /// The cosignatures that verify on `latest`, by configured witnesses.
    pub cosignatures: Vec<CosignatureInfo>,
    /// The size this node's witness last cosigned (peers only).
    pub witnessed_size: Option<u64>,
    /// When this node's witness last cosigned this log (POSIX seconds, since this process
    /// started; peers only).
    pub witnessed_at: Option<u64>,
    /// Evidence items held against this log.
    pub evidence: u64,
    /// Whether this node's witness holds evidence that the log forked (and refuses it).
    pub equivocating: bool,
}

impl FedView {
    pub(super) fn new(inner: Arc<Inner>) -> FedView {
        FedView { inner }
    }

    /// This node's origin.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// The embedded witness's vkey.
    pub fn own_witness_vkey(&self) -> String {
        self.inner.own_witness.vkey()
    }

    /// Every witness key this node knows: its own, each peer's, each external one.
    pub fn witnesses(&self) -> Vec<WitnessInfo> {
        let i = &self.inner;
        let mut out = vec![WitnessInfo {
            name: i.own_witness.name().to_owned(),
            vkey: i.own_witness.vkey(),
            operator: WitnessOperator::Log(i.origin.clone()),
        }];
        for p in &i.peers {
            out.push(WitnessInfo {
                name: p.witness.name().to_owned(),
                vkey: p.witness.vkey(),
                operator: WitnessOperator::Log(p.origin.clone()),
            });
        }
        for t in &i.targets {
            if let Target::External(e) = t {
                out.push(WitnessInfo {
                    name: e.verifier.name().to_owned(),
                    vkey: e.verifier.vkey(),
                    operator: WitnessOperator::External(e.url.clone()),
                });
            }
        }
        out
    }

    fn all_witness_verifiers(&self) -> Vec<CosignatureVerifier> {
        let i = &self.inner;
        let mut v = vec![i.own_witness.clone()];
        v.extend(i.peers.iter().map(|p| p.witness.clone()));
        v.extend(i.targets.iter().filter_map(|t| match t {
            Target::External(e) => Some(e.verifier.clone()),
            Target::Peer(_) => None,
        }));
        v
    }

    /// This node's log first, then every peer log, each with what is known of it. Blocking
    /// (reads the witness state): call it on a blocking thread.
    pub fn logs(&self, own_latest: Option<(u64, Vec<u8>)>) -> Vec<LogInfo> {
        let i = &self.inner;
        let verifiers = self.all_witness_verifiers();
        let evidence = self.evidence_counts();
        let seen: BTreeMap<String, String> = match i.seen.lock() {
            Ok(g) => g.iter().map(|(o, s)| (o.clone(), s.note.clone())).collect(),
            Err(p) => p
                .into_inner()
                .iter()
                .map(|(o, s)| (o.clone(), s.note.clone()))
                .collect(),
        };
        let describe = |origin: &str, log: &dyn NoteVerifier, note: Option<&[u8]>| {
            let verified: Option<VerifiedCheckpoint> =
                note.and_then(|n| verify_checkpoint(n, log, &verifiers).ok());
            let (latest, cosignatures) = match verified {
                Some(v) => (
                    Some((
                        v.checkpoint().size(),
                        String::from_utf8_lossy(v.note_bytes()).into_owned(),
                    )),
                    v.cosignatures()
                        .iter()
                        .map(|c| CosignatureInfo {
                            witness: c.name().to_owned(),
                            timestamp: c.timestamp(),
                        })
                        .collect(),
                ),
                None => (None, Vec::new()),
            };
            (
                latest,
                cosignatures,
                evidence.get(origin).copied().unwrap_or(0),
            )
        };
        let mut out = Vec::with_capacity(1 + i.peers.len());
        let (latest, cosignatures, ev) =
            describe(&i.origin, &i.log, own_latest.map(|x| x.1).as_deref());
        out.push(LogInfo {
            origin: i.origin.clone(),
            vkey: i.log.vkey(),
            own: true,
            latest,
            cosignatures,
            witnessed_size: None,
            witnessed_at: None,
            evidence: ev,
            equivocating: i.witness.is_equivocating(&i.origin),
        });
        for p in &i.peers {
            let note = seen.get(&p.origin).map(String::as_bytes);
            let (latest, cosignatures, ev) = describe(&p.origin, &p.log, note);
            let witnessed_size = i.witness.latest(&p.origin).ok().flatten().map(|c| c.size);
            out.push(LogInfo {
                origin: p.origin.clone(),
                vkey: p.log.vkey(),
                own: false,
                latest,
                cosignatures,
                witnessed_size,
                witnessed_at: i.shared.witnessed(&p.origin).map(|w| w.1),
                evidence: ev,
                equivocating: i.witness.is_equivocating(&p.origin),
            });
        }
        out
    }

    /// Evidence items held per origin (bounded read of the witness's evidence table).
    fn evidence_counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        if let Ok((items, _)) = self
            .inner
            .witness
            .equivocations_page(None, MAX_EVIDENCE_READ)
        {
            for e in items {
                *counts.entry(e.origin).or_insert(0) += 1;
            }
        }
        counts
    }
}
