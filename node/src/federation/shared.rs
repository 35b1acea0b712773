//! State the federation shares with the HTTP API: the cosigned checkpoint and the
//! federation's Prometheus counters.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// State shared with the HTTP API: the cosigned checkpoint and counters.
#[derive(Debug, Default)]
pub struct FedShared {
    cosigned: RwLock<Option<(u64, Vec<u8>)>>,
    pub(super) equivocations: AtomicU64,
    cosignatures: AtomicU64,
    pub(super) gossip_accept: AtomicU64,
    pub(super) gossip_reject: AtomicU64,
    pub(super) gossip_ignore: AtomicU64,
    pub(super) cosign_served: AtomicU64,
    pub(super) cosign_refused: AtomicU64,
    pub(super) gossip_lines_stripped: AtomicU64,
    pub(super) proof_requests: AtomicU64,
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

    pub(super) fn set_cosigned(&self, size: u64, note: Vec<u8>) {
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
            "quorate_gossip_lines_stripped_total",
            "counter",
            "Signature lines stripped from relayed checkpoints because they did not verify \
             against a known witness key (never a reason to reject).",
            &self.gossip_lines_stripped,
        );
        g(
            "quorate_gossip_proof_requests_total",
            "counter",
            "Consistency proofs requested from logs to check a checkpoint heard from a peer.",
            &self.proof_requests,
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

pub(super) fn count_signature_lines(note: &[u8]) -> usize {
    let s = String::from_utf8_lossy(note);
    match s.rfind("\n\n") {
        Some(i) => s[i + 2..].lines().count(),
        None => 0,
    }
}
