//! Checkpoints older than the one held: late copies, replays, or the other side of a fork.
//!
//! A fork at two sizes is only decidable where the *larger* checkpoint's history can be
//! read: a node holding the honest, smaller checkpoint cannot get a proof up to the forked
//! size from the honest log. So the node holding the larger (forked) checkpoint must check
//! the smaller one when it arrives, even though it is older than what it holds: dropping
//! every older checkpoint lets a fork pass unnoticed whenever the forked side's checkpoint
//! reaches a node before the honest one (found by the flaky
//! `fork_at_different_sizes_is_caught_through_tiles`).
//!
//! Checking costs a proof request to the log, and anyone in the mesh can replay the log's
//! genuine old checkpoints. So the checkpoints a node held before its current one are
//! remembered (a late copy of one of them costs nothing, and a same-size conflict with one
//! is evidence without any request), and the rest are checked within a small per-log
//! budget, far below what the log grants each peer, so replays cannot spend the requests
//! that newer checkpoints need.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use quorate_proto::checkpoint::VerifiedCheckpoint;
use quorate_proto::merkle::Hash;

use crate::gossip::metrics::{Bucket, RateLimit};

/// Checkpoints remembered per log after they stopped being the one held.
pub(super) const RECENT: usize = 32;

/// Proof requests per log spent on older checkpoints nobody here held: 8 at once, then one
/// every 4 s (the log grants each peer 16/s).
pub(super) const OLDER_CHECKS: RateLimit = RateLimit {
    burst: 8,
    per_second: 0.25,
};

/// What to do with a verified checkpoint older than the one held.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Older {
    /// A checkpoint this node held before: consistent, nothing to do.
    Known,
    /// Same size as a checkpoint held before, different root: this is that one's note.
    Conflict(Vec<u8>),
    /// Unknown here; a proof request may be spent on it.
    Check,
    /// Unknown here, and this log's budget for such checks is spent.
    OverBudget,
}

struct Held {
    size: u64,
    root: Hash,
    note: Vec<u8>,
}

#[derive(Default)]
struct PerLog {
    recent: VecDeque<Held>,
    budget: Option<Bucket>,
}

/// Per log: the checkpoints held before the current one, and the budget for checking
/// older checkpoints that are not among them.
#[derive(Default)]
pub(super) struct OlderCheckpoints {
    logs: Mutex<HashMap<String, PerLog>>,
}

impl OlderCheckpoints {
    /// Remembers `v` (with its note) of `origin`: one it held, or one checked consistent.
    pub(super) fn remember(&self, origin: &str, v: &VerifiedCheckpoint) {
        let Ok(mut logs) = self.logs.lock() else {
            return;
        };
        let log = logs.entry(origin.to_owned()).or_default();
        let (size, root) = (v.checkpoint().size(), *v.checkpoint().root_hash());
        if log.recent.iter().any(|h| h.size == size && h.root == root) {
            return;
        }
        if log.recent.len() == RECENT {
            log.recent.pop_front();
        }
        log.recent.push_back(Held {
            size,
            root,
            note: v.note_bytes().to_vec(),
        });
    }

    /// Classifies `v`, a checkpoint of `origin` older than the one held. When `budgeted`
    /// (it came from gossip, where anyone can replay), answering [`Older::Check`] takes a
    /// token of the log's budget; otherwise (fetched by us, or cosigned by our witness) an
    /// unknown checkpoint is always checked.
    pub(super) fn classify(
        &self,
        origin: &str,
        v: &VerifiedCheckpoint,
        budgeted: bool,
        now: Instant,
    ) -> Older {
        let Ok(mut logs) = self.logs.lock() else {
            return Older::OverBudget;
        };
        let log = logs.entry(origin.to_owned()).or_default();
        let (size, root) = (v.checkpoint().size(), v.checkpoint().root_hash());
        if let Some(h) = log.recent.iter().find(|h| h.size == size) {
            return if h.root == *root {
                Older::Known
            } else {
                Older::Conflict(h.note.clone())
            };
        }
        if !budgeted {
            return Older::Check;
        }
        let bucket = log
            .budget
            .get_or_insert_with(|| Bucket::new(&OLDER_CHECKS, now));
        if bucket.take(&OLDER_CHECKS, now) {
            Older::Check
        } else {
            Older::OverBudget
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quorate_proto::checkpoint::{Checkpoint, verify_checkpoint};
    use quorate_proto::note::{Signer, sign};
    use std::time::Duration;

    fn signed(size: u64, root: u8) -> (VerifiedCheckpoint, Vec<u8>) {
        let s = Signer::generate("example.org/log", [3; 32]).unwrap();
        let cp = Checkpoint::new("example.org/log", size, [root; 32], vec![]).unwrap();
        let note = sign(&cp.to_text(), &[&s]).unwrap().into_bytes();
        let v = verify_checkpoint(&note, &s.verifier(), &[]).unwrap();
        (v, note)
    }

    #[test]
    fn held_checkpoints_cost_nothing_and_conflicts_are_found() {
        let o = OlderCheckpoints::default();
        let now = Instant::now();
        let (v5, n5) = signed(5, 1);
        o.remember("example.org/log", &v5);
        // The same checkpoint again: known, however often, without spending the budget.
        for _ in 0..100 {
            assert_eq!(o.classify("example.org/log", &v5, true, now), Older::Known);
        }
        // Same size, another root: the note held before is the other half of the evidence.
        let (f5, _) = signed(5, 2);
        assert_eq!(
            o.classify("example.org/log", &f5, true, now),
            Older::Conflict(n5.clone())
        );
    }

    #[test]
    fn unknown_checkpoints_spend_a_bounded_budget_that_refills() {
        let o = OlderCheckpoints::default();
        let now = Instant::now();
        let burst = OLDER_CHECKS.burst as u64;
        for size in 0..burst {
            let (v, _) = signed(size + 1, 0);
            assert_eq!(o.classify("example.org/log", &v, true, now), Older::Check);
        }
        let (v, _) = signed(1000, 0);
        assert_eq!(
            o.classify("example.org/log", &v, true, now),
            Older::OverBudget
        );
        // What this node fetched itself is not budgeted.
        assert_eq!(o.classify("example.org/log", &v, false, now), Older::Check);
        // Another log has its own budget.
        assert_eq!(o.classify("example.org/other", &v, true, now), Older::Check);
        let later = now + Duration::from_secs_f64(1.0 / OLDER_CHECKS.per_second);
        assert_eq!(o.classify("example.org/log", &v, true, later), Older::Check);
        assert_eq!(
            o.classify("example.org/log", &v, true, later),
            Older::OverBudget
        );
    }

    #[test]
    fn memory_is_bounded_per_log() {
        let o = OlderCheckpoints::default();
        for size in 1..=(RECENT as u64 * 3) {
            let (v, _) = signed(size, 0);
            o.remember("example.org/log", &v);
            o.remember("example.org/log", &v);
        }
        let logs = o.logs.lock().unwrap();
        let recent = &logs["example.org/log"].recent;
        assert_eq!(recent.len(), RECENT);
        // The newest are kept.
        assert_eq!(recent.back().map(|h| h.size), Some(RECENT as u64 * 3));
    }
}
