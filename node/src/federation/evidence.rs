//! Equivocation evidence: storing it through the embedded witness, publishing it over
//! gossip, and accepting it from peers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use quorate_proto::equivocation::Equivocation;
use quorate_proto::merkle::Hash;
use quorate_witness::{Witness, WitnessError};

use super::{EVIDENCE_RETRY, Inner};
use crate::gossip::{GossipError, GossipMessage, Validation};

/// The witness's routes; after every POST (add-checkpoint, evidence) the federation
/// looks for new evidence to gossip (a refused add-checkpoint may have proven a fork).
pub(super) fn witness_router(witness: Arc<Witness>, inner: Arc<Inner>) -> axum::Router {
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

/// The origin named by a piece of evidence (first line of its first checkpoint).
pub(super) fn evidence_origin(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let line = text.lines().nth(1)?.strip_prefix("checkpoint ")?;
    let note = B64.decode(line).ok()?;
    let note = String::from_utf8(note).ok()?;
    note.lines().next().map(str::to_owned)
}

impl Inner {
    pub(super) async fn on_gossip_evidence(self: &Arc<Self>, evidence: &[u8]) -> Validation {
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
    pub(super) async fn record_evidence(
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
    pub(super) async fn flush_loop(self: Arc<Self>) {
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
    pub(super) async fn flush_witness_evidence(self: &Arc<Self>) {
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
        if let Err(err) = self.record_evidence(e.to_text().into_bytes(), true).await {
            tracing::warn!(origin, "could not store evidence: {err}");
        }
    }
}
