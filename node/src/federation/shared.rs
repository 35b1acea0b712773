//! State the federation shares with the HTTP API: the cosigned checkpoint and the
//! federation's Prometheus counters.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long `/checkpoint` may stay behind a newer signed checkpoint that has not reached
/// its cosigning target. A witness that withholds its cosignature (a captured peer) would
/// otherwise hold every other log's served checkpoint for good, until its cosignature
/// timestamps age past clients' `max-checkpoint-age` and the honest log loses its vote.
/// After this long the newest checkpoint is served with the cosignatures it has: clients
/// whose policy needs fewer witnesses than the target keep deciding, and a mirror that
/// needs more keeps the older cosigned checkpoint it already holds.
pub const SERVE_STALL: Duration = Duration::from_secs(30);

/// State shared with the HTTP API: the served and the newest checkpoint, and counters.
///
/// A checkpoint has reached its *cosigning target* when it carries verified cosignatures
/// by at least `target` distinct witnesses (by default every configured peer and external
/// witness; `cosign_target` in the config lowers it). `GET /checkpoint` serves the newest
/// checkpoint that reached the target, so a client never adopts one its witnesses have not
/// cosigned yet; the previous one stays served (its tiles and entry bundles stay available:
/// the store serves every tile of any smaller tree) until a newer one reaches the target.
/// `GET /checkpoint/latest` serves the newest signed checkpoint with the cosignatures
/// gathered so far, for witnesses and monitors. With a target of 0 (no witnesses
/// configured) both serve the newest signed checkpoint.
#[derive(Debug, Default)]
pub struct FedShared {
    /// Cosignatures a checkpoint needs before it is served at `/checkpoint`.
    target: usize,
    /// The newest checkpoint that reached the target: (size, note with cosignatures).
    served: RwLock<Option<(u64, Vec<u8>)>>,
    /// The newest checkpoint of a cosigning round, with the cosignatures gathered so far.
    latest: RwLock<Option<(u64, Vec<u8>)>>,
    /// When `served` last changed, and how long it may lag `latest` ([`SERVE_STALL`]).
    served_at: RwLock<Option<Instant>>,
    stall: Duration,
    pub(super) equivocations: AtomicU64,
    cosignatures: AtomicU64,
    served_size: AtomicU64,
    pub(super) gossip_accept: AtomicU64,
    pub(super) gossip_reject: AtomicU64,
    pub(super) gossip_ignore: AtomicU64,
    pub(super) cosign_served: AtomicU64,
    pub(super) cosign_refused: AtomicU64,
    pub(super) gossip_lines_stripped: AtomicU64,
    pub(super) proof_requests: AtomicU64,
    /// Older checkpoints from gossip left unchecked: their log's budget was spent.
    pub(super) older_unchecked: AtomicU64,
    /// Per peer origin: the tree size this node's witness last cosigned for it and when
    /// (POSIX seconds), for the web pages. In memory: peers recosign every few seconds.
    witnessed: RwLock<BTreeMap<String, (u64, u64)>>,
    /// Told of every cosignature gathered (`/healthz` freshness), when set.
    freshness: std::sync::OnceLock<std::sync::Arc<crate::health::Freshness>>,
}

impl FedShared {
    /// Shared state for a log whose checkpoints need `target` cosignatures to be served.
    pub fn new(target: usize) -> FedShared {
        FedShared::with_stall(target, SERVE_STALL)
    }

    /// As [`FedShared::new`], with `stall` instead of [`SERVE_STALL`].
    pub fn with_stall(target: usize, stall: Duration) -> FedShared {
        FedShared {
            target,
            stall,
            ..FedShared::default()
        }
    }

    /// Reports every gathered cosignature to `f` from now on (set once).
    pub fn set_freshness(&self, f: std::sync::Arc<crate::health::Freshness>) {
        let _ = self.freshness.set(f);
    }

    /// The cosigning target (distinct witness cosignatures).
    pub fn target(&self) -> usize {
        self.target
    }

    /// The newest checkpoint that reached the cosigning target, with its cosignatures:
    /// what `GET /checkpoint` serves. `None` when the target is 0 (serve the newest signed
    /// one) or no checkpoint reached it yet.
    ///
    /// When a newer checkpoint has waited for its target longer than the stall limit
    /// since the served one last changed, the newer one is served from then on with the
    /// cosignatures it has gathered ([`SERVE_STALL`]).
    pub fn served(&self) -> Option<(u64, Vec<u8>)> {
        if self.target == 0 {
            return None;
        }
        let served = self.served.read().ok()?.clone();
        let stalled = self
            .served_at
            .read()
            .ok()
            .and_then(|t| *t)
            .is_some_and(|t| t.elapsed() >= self.stall);
        if stalled {
            let latest = self.latest.read().ok()?.clone();
            if let Some((size, note)) = latest
                && served.as_ref().is_none_or(|(s, _)| size > *s)
            {
                self.set_served(size, note.clone());
                return Some((size, note));
            }
        }
        served
    }

    /// The checkpoint of tree size `size` with the cosignatures gathered so far, if a
    /// cosigning round for that size has started.
    pub fn latest_at(&self, size: u64) -> Option<Vec<u8>> {
        let g = self.latest.read().ok()?;
        match &*g {
            Some((s, n)) if *s == size => Some(n.clone()),
            _ => None,
        }
    }

    /// Records the cosignatures gathered so far on the checkpoint of size `size` (every
    /// line verified). Returns true when it reached the target and is now served.
    pub(super) fn set_gathered(&self, size: u64, note: Vec<u8>) -> bool {
        if count_signature_lines(&note) > 1
            && let Some(f) = self.freshness.get()
        {
            f.touch(crate::health::Activity::Cosigned);
        }
        let reached = self.reaches_target(&note);
        if reached {
            self.set_served(size, note.clone());
        }
        if let Ok(mut g) = self.latest.write() {
            *g = Some((size, note));
        }
        reached
    }

    /// Whether `note` (a log signature line followed by verified cosignature lines)
    /// carries enough cosignatures.
    pub(super) fn reaches_target(&self, note: &[u8]) -> bool {
        self.target > 0 && count_signature_lines(note).saturating_sub(1) >= self.target
    }

    /// Serves `note` (which reached the target) unless a larger checkpoint is served:
    /// `/checkpoint` never goes back to a smaller tree.
    pub(super) fn set_served(&self, size: u64, note: Vec<u8>) {
        let Ok(mut g) = self.served.write() else {
            return;
        };
        if g.as_ref().is_some_and(|(s, _)| *s > size) {
            return;
        }
        let n = count_signature_lines(&note).saturating_sub(1);
        self.cosignatures.store(n as u64, Ordering::Relaxed);
        self.served_size.store(size, Ordering::Relaxed);
        *g = Some((size, note));
        if let Ok(mut t) = self.served_at.write() {
            *t = Some(Instant::now());
        }
    }

    /// Records that this node's witness cosigned `note` (a checkpoint of `origin`) now.
    pub(super) fn record_witnessed(&self, origin: &str, note: &[u8]) {
        let size = String::from_utf8_lossy(note)
            .lines()
            .nth(1)
            .and_then(|l| l.parse::<u64>().ok());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if let (Some(size), Ok(mut g)) = (size, self.witnessed.write()) {
            g.insert(origin.to_owned(), (size, now));
        }
    }

    /// The size this node's witness last cosigned for `origin` and when (POSIX seconds),
    /// since this process started.
    pub fn witnessed(&self, origin: &str) -> Option<(u64, u64)> {
        self.witnessed.read().ok()?.get(origin).copied()
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
            "Witness cosignatures on the checkpoint served at /checkpoint.",
            &self.cosignatures,
        );
        g(
            "quorate_checkpoint_served_size",
            "gauge",
            "Tree size of the checkpoint served at /checkpoint (reached its cosigning target).",
            &self.served_size,
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
            "quorate_gossip_older_unchecked_total",
            "counter",
            "Checkpoints heard from peers, older than the one held and never held here, \
             dropped unchecked because their log's budget for such proof requests was spent \
             (a replay, or a fork check lost: compare with quorate_equivocations).",
            &self.older_unchecked,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn note(size: u64, cosigners: usize) -> Vec<u8> {
        let mut n = format!("log.example\n{size}\nroot\n\n\u{2014} log.example sig\n");
        for i in 0..cosigners {
            n.push_str(&format!("\u{2014} w{i} cosig\n"));
        }
        n.into_bytes()
    }

    #[test]
    fn a_withheld_cosignature_delays_the_served_checkpoint_but_does_not_freeze_it() {
        // Target 2: size 1 reaches it; size 2 gets one cosignature (a peer withholds).
        let patient = FedShared::new(2);
        assert!(patient.set_gathered(1, note(1, 2)));
        assert!(!patient.set_gathered(2, note(2, 1)));
        assert_eq!(
            patient.served().map(|(s, _)| s),
            Some(1),
            "within the stall limit"
        );

        let stalled = FedShared::with_stall(2, Duration::ZERO);
        assert!(stalled.set_gathered(1, note(1, 2)));
        assert!(!stalled.set_gathered(2, note(2, 1)));
        let (size, served) = stalled.served().unwrap();
        assert_eq!((size, served), (2, note(2, 1)), "past the stall limit");
        // Never back to a smaller tree, even if an older round completes late.
        stalled.set_served(1, note(1, 2));
        assert_eq!(stalled.served().map(|(s, _)| s), Some(2));
        // A later checkpoint that reaches the target is served as before.
        assert!(stalled.set_gathered(3, note(3, 2)));
        assert_eq!(stalled.served().map(|(s, _)| s), Some(3));
    }

    #[test]
    fn target_zero_serves_the_newest_signed_checkpoint() {
        let s = FedShared::with_stall(0, Duration::ZERO);
        s.set_gathered(1, note(1, 0));
        assert!(s.served().is_none());
    }
}
