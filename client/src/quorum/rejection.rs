//! Why one attestation does not count: the per-entry rules of specs/policy.md
//! ("Evaluation", rules 1-8), plus distrust, excluded reviewer kinds, reveals and sealed
//! dating.

use quorate_proto::attestation::{Digest, Verdict};

use super::{Evaluator, Inclusion, MAX_FUTURE_SKEW, Rejection};

impl Evaluator<'_> {
    /// Why entry `i` does not count, or `None` if it does (for its own jurisdiction).
    pub(super) fn rejection(&self, i: usize, now: u64) -> Option<Rejection> {
        let e = &self.entries[i];
        let a = e.att.attestation();
        if self.equivocated.contains(&e.origin) {
            return Some(Rejection::LogEquivocated);
        }
        if self.policy.distrusts(e.att.leaf_hash()) {
            return Some(Rejection::Distrusted);
        }
        if self.policy.excludes_kind(a.reviewer.kind) {
            return Some(Rejection::ExcludedReviewerKind(a.reviewer.kind));
        }
        if let Some(j) = &e.jurisdiction {
            if !self.policy.reviewer_trusted(j, e.att.reviewer_key()) {
                return Some(Rejection::UntrustedReviewer);
            }
            // One key, one vote: a key the policy pins to another jurisdiction counts
            // only there, even in a jurisdiction that admits any key.
            if let Some(pinned) = self.policy.reviewer_jurisdiction(e.att.reviewer_key())
                && pinned != j
            {
                return Some(Rejection::PinnedElsewhere {
                    jurisdiction: pinned.to_owned(),
                });
            }
        }
        // Withdrawal: an entry naming this leaf, signed by the same reviewer key (in any
        // log: a key's withdrawal takes its attestation back wherever it was carried), or
        // in the same log and claiming the same non-empty organisation.
        if let Some(ws) = self.supersedes.get(e.att.leaf_hash()) {
            for &w in ws {
                let we = &self.entries[w];
                let wa = we.att.attestation();
                // An entry the policy distrusts takes nothing away either.
                if self.policy.distrusts(we.att.leaf_hash()) {
                    continue;
                }
                if (we.att.reviewer_key() == e.att.reviewer_key()
                    || (we.origin == e.origin
                        && !wa.organisation.is_empty()
                        && wa.organisation == a.organisation))
                    && let Some(s) = &wa.supersedes
                {
                    return Some(Rejection::Withdrawn {
                        by: wa.reviewer.name.clone(),
                        kind: s.kind,
                    });
                }
            }
        }
        if a.reveal.is_some()
            && let Err(r) = self.reveal_status(i, now)
        {
            return Some(r);
        }
        if matches!(a.verdict, Verdict::Certify)
            && let Some(r) = self.sealed_contradiction(i, now)
        {
            return Some(r);
        }
        if !self.policy.accept_unknown_digests()
            && matches!(a.verdict, Verdict::Certify)
            && (a.digest == Digest::Unknown
                || a.delta_from
                    .as_ref()
                    .is_some_and(|d| d.digest == Digest::Unknown))
        {
            return Some(Rejection::UnknownDigest);
        }
        let inc = match &e.inclusion {
            Inclusion::NotProven(n) => return Some(Rejection::NotIncluded(n.clone())),
            Inclusion::Proven(inc) => inc,
        };
        let valid: Vec<(&str, u64)> = inc
            .cosignatures
            .iter()
            .filter(|(_, t)| *t <= now.saturating_add(MAX_FUTURE_SKEW))
            .map(|(n, t)| (n.as_str(), *t))
            .collect();
        let names: Vec<&str> = valid.iter().map(|(n, _)| *n).collect();
        if !self.policy.witnesses_satisfied(&names) {
            return Some(Rejection::TooFewWitnesses {
                cosigned: names.iter().map(|s| (*s).to_owned()).collect(),
            });
        }
        if let Some(max) = self.policy.max_checkpoint_age() {
            let fresh: Vec<&str> = valid
                .iter()
                .filter(|(_, t)| t.saturating_add(max) >= now)
                .map(|(n, _)| *n)
                .collect();
            if !self.policy.witnesses_satisfied(&fresh) {
                let newest = valid.iter().map(|(_, t)| *t).max().unwrap_or(0);
                return Some(Rejection::StaleCheckpoint {
                    age: now.saturating_sub(newest),
                    max,
                });
            }
        }
        None
    }
}
