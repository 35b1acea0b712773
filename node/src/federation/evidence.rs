//! Equivocation evidence: storing it through the embedded witness, publishing it over
//! gossip, and accepting it from peers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use quorate_proto::equivocation::Equivocation;
use quorate_witness::{Recorded, Witness, WitnessError};

use super::{EVIDENCE_RETRY, FedShared, Inner};
use crate::gossip::{GossipError, GossipMessage, Validation};

/// The origin named by a piece of evidence (first line of its first checkpoint).
pub(super) fn evidence_origin(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let line = text.lines().nth(1)?.strip_prefix("checkpoint ")?;
    let note = B64.decode(line).ok()?;
    let note = String::from_utf8(note).ok()?;
    note.lines().next().map(str::to_owned)
}

/// Newly stored evidence, sent by the witness's hook to [`Inner::publish_loop`]. Unbounded
/// on purpose: the witness stores (and so sends) at most `MAX_EVIDENCE_PER_ORIGIN` items
/// per followed log, so the channel cannot hold more than that.
pub(super) type NewEvidence = tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>;

/// Connects the witness's new-evidence hook to a channel for [`Inner::publish_loop`], and
/// counts each new item in the `quorate_equivocations` gauge in the storing thread, so the
/// gauge has moved by the time the witness refuses the log (it did not when the publish
/// loop updated it later: metrics scraped right after a refusal could still read 0).
pub(super) fn evidence_channel(witness: &Witness, shared: &Arc<FedShared>) -> NewEvidence {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let shared = shared.clone();
    witness.on_new_evidence(move |e| {
        shared.equivocations.fetch_add(1, Ordering::Relaxed);
        let _ = tx.send(e.evidence.clone().into_bytes());
    });
    rx
}

impl Inner {
    pub(super) async fn on_gossip_evidence(self: &Arc<Self>, evidence: &[u8]) -> Validation {
        let Some(origin) = evidence_origin(evidence) else {
            return Validation::Reject;
        };
        if !self.logs.contains_key(&origin) {
            return Validation::Ignore;
        }
        match self.record_evidence(evidence.to_vec()).await {
            // Relayed when new here, and when it is exactly the canonical form this node
            // publishes itself: a copy that arrives while this node stores the same
            // evidence from its own detection takes that publish's message id, so the
            // publish is refused as a duplicate, and only relaying this copy sends it on
            // (two honest nodes found the fork at once and nobody else heard of it).
            // Other copies of known evidence (junk lines) and evidence beyond the
            // per-origin bound go no further.
            Ok(Recorded::New) => Validation::Accept,
            Ok(Recorded::Known) if self.is_canonical(&origin, evidence) => Validation::Accept,
            Ok(Recorded::Known | Recorded::Enough) => Validation::Ignore,
            Err(WitnessError::InvalidEvidence(e)) => {
                tracing::warn!(origin, "invalid equivocation evidence from gossip: {e}");
                Validation::Reject
            }
            Err(_) => Validation::Ignore,
        }
    }

    /// Whether `evidence` (of `origin`, already verified and stored) is byte for byte its
    /// own canonical form.
    fn is_canonical(&self, origin: &str, evidence: &[u8]) -> bool {
        let Some(log) = self.logs.get(origin) else {
            return false;
        };
        Equivocation::parse(evidence)
            .and_then(|e| e.verify(log))
            .is_ok_and(|v| v.canonical().to_text().as_bytes() == evidence)
    }

    /// Verifies and stores evidence (the witness then refuses its log). Evidence new to
    /// the witness is published by [`Inner::publish_loop`], through the witness's hook.
    pub(super) async fn record_evidence(
        self: &Arc<Self>,
        evidence: Vec<u8>,
    ) -> Result<Recorded, WitnessError> {
        let w = self.witness.clone();
        tokio::task::spawn_blocking(move || w.record_equivocation(&evidence))
            .await
            .map_err(|e| WitnessError::Internal(e.to_string()))?
    }

    /// Publishes every piece of evidence the witness newly stores (from gossip, from
    /// detection, from its HTTP routes, from a refused cosign request): each exactly once,
    /// in canonical form. A publish fails while the gossip mesh is still forming, so what
    /// could not be sent is kept in memory and tried again every [`EVIDENCE_RETRY`] until
    /// it is out; nothing rereads the evidence table. Peers that connect later fetch the
    /// evidence on catch-up.
    pub(super) async fn publish_loop(self: Arc<Self>, mut new: NewEvidence) {
        let mut pending: Vec<Vec<u8>> = Vec::new();
        loop {
            tokio::select! {
                e = new.recv() => {
                    let Some(e) = e else { return };
                    tracing::error!(
                        origin = evidence_origin(&e).unwrap_or_default(),
                        "EQUIVOCATION: stored evidence that a log signed two histories; publishing"
                    );
                    pending.push(e);
                }
                _ = tokio::time::sleep(EVIDENCE_RETRY), if !pending.is_empty() => {}
            }
            let mut unsent = Vec::new();
            for e in pending.drain(..) {
                if !self
                    .publish(GossipMessage::Equivocation {
                        evidence: e.clone(),
                    })
                    .await
                {
                    unsent.push(e);
                }
            }
            pending = unsent;
        }
    }

    /// Publishes; true when the message is out (or already was: a duplicate).
    pub(super) async fn publish(&self, msg: GossipMessage) -> bool {
        match self.gossip.publish(&msg).await {
            Ok(_) | Err(GossipError::Duplicate) => true,
            Err(e) => {
                tracing::debug!("publish: {e}");
                false
            }
        }
    }

    pub(super) async fn found(self: &Arc<Self>, origin: &str, e: Equivocation) {
        if let Err(err) = e.verify(&self.logs[origin]) {
            tracing::warn!(origin, "built evidence does not verify: {err}");
            return;
        }
        if let Err(err) = self.record_evidence(e.to_text().into_bytes()).await {
            tracing::warn!(origin, "could not store evidence: {err}");
        }
    }
}
