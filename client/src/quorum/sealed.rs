//! Sealed attestations on the client (specs/policy.md, "Sealed attestations").
//!
//! A commitment names a release and a reviewer, never content: it certifies and vetoes
//! nothing, and is shown per package as a count until revealed. A reveal counts only when
//! proto's [`verify_reveal`] opens a commitment that itself counts (proven included under
//! the witness and freshness rules, trusted reviewer, not withdrawn, not distrusted);
//! otherwise it is refused with the reason and counts for nothing.
//!
//! A revealed finding is dated from its commitment's log entry, which changes two things:
//! - the same reviewer key's certifications of a version the revealed violation covers,
//!   made after the commitment (a later index in the commitment's log, or elsewhere a
//!   claimed `time` not before the commitment's), are set aside: the key certified what
//!   it had already sealed a violation of, so that certification was cover, not a review;
//!   earlier certifications are untouched, as for any violation;
//! - withdrawing the commitment withdraws its reveal too (they are one finding).

use quorate_proto::attestation::{Verdict, verify_reveal};

use super::explain::{Rejection, SealedCommitment};
use super::{Evaluator, Inclusion, range_matches};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Evaluator<'_> {
    /// For a reveal entry: the commitment it opens (an entry index), or why it is refused.
    pub(super) fn reveal_status(&self, i: usize, now: u64) -> Result<usize, Rejection> {
        let e = &self.entries[i];
        let Some(link) = &e.att.attestation().reveal else {
            return Err(Rejection::BadReveal {
                reason: "not a reveal".into(),
            });
        };
        let Some(candidates) = self.by_leaf.get(&link.commitment_leaf_hash) else {
            return Err(Rejection::BadReveal {
                reason: format!(
                    "its commitment {} is in none of the policy's logs",
                    hex(&link.commitment_leaf_hash)
                ),
            });
        };
        let mut first_err = None;
        for &c in candidates {
            let outcome = match verify_reveal(&self.entries[c].att, &e.att) {
                Err(err) => Err(Rejection::BadReveal {
                    reason: err.to_string(),
                }),
                Ok(()) => match self.rejection(c, now) {
                    None => Ok(c),
                    Some(r @ Rejection::Withdrawn { .. }) => Err(r),
                    Some(r) => Err(Rejection::BadReveal {
                        reason: format!("its commitment is set aside: {r}"),
                    }),
                },
            };
            match outcome {
                Ok(c) => return Ok(c),
                Err(r) => {
                    first_err.get_or_insert(r);
                }
            }
        }
        Err(first_err.unwrap_or(Rejection::BadReveal {
            reason: "no commitment".into(),
        }))
    }

    /// `origin#index` of an entry, for explanations.
    pub(super) fn position(&self, i: usize) -> String {
        let e = &self.entries[i];
        match &e.inclusion {
            Inclusion::Proven(inc) => format!("{}#{}", e.origin, inc.index()),
            Inclusion::NotProven(_) => format!("{} (index unknown)", e.origin),
        }
    }

    fn index_of(&self, i: usize) -> Option<u64> {
        match &self.entries[i].inclusion {
            Inclusion::Proven(inc) => Some(inc.index()),
            Inclusion::NotProven(_) => None,
        }
    }

    /// Whether entry `later` was logged after commitment `c`: a later index in the same
    /// log; across logs (no common order), the signer's own claimed times, which bind
    /// the key since the same key signed both.
    fn logged_after(&self, later: usize, c: usize) -> bool {
        let (l, ce) = (&self.entries[later], &self.entries[c]);
        if l.origin == ce.origin
            && let (Some(a), Some(b)) = (self.index_of(later), self.index_of(c))
        {
            return a > b;
        }
        l.att.attestation().time >= ce.att.attestation().time
    }

    /// For a certification: the revealed violation by the same key that it contradicts,
    /// if the key had sealed it before certifying.
    pub(super) fn sealed_contradiction(&self, i: usize, now: u64) -> Option<Rejection> {
        let e = &self.entries[i];
        let a = e.att.attestation();
        let reveals = self.reveals_by_key.get(e.att.reviewer_key())?;
        let certified = a
            .criteria
            .iter()
            .flat_map(|c| self.policy.implied_by(c))
            .collect::<std::collections::BTreeSet<_>>();
        for &r in reveals {
            let ra = self.entries[r].att.attestation();
            let Verdict::Violation { range } = &ra.verdict else {
                continue;
            };
            if ra.ecosystem != a.ecosystem
                || ra.package != a.package
                || !range_matches(range, &a.version).0
                || !ra.criteria.iter().any(|c| certified.contains(c))
            {
                continue;
            }
            // The reveal must count itself (not withdrawn, distrusted, excluded, unproven).
            if self.rejection(r, now).is_none()
                && let Ok(c) = self.reveal_status(r, now)
                && self.logged_after(i, c)
            {
                return Some(Rejection::CertifiedAfterSealing {
                    commitment: format!("commitment at {}", self.position(c)),
                });
            }
        }
        None
    }

    /// Commitments of the package at `ids` that count but have no verified reveal.
    pub(super) fn unrevealed(&self, ids: &[usize], now: u64) -> Vec<SealedCommitment> {
        let mut opened = std::collections::HashSet::new();
        for &i in ids {
            // Only a reveal the client accepts reveals anything.
            if self.entries[i].att.attestation().reveal.is_some()
                && self.rejection(i, now).is_none()
                && let Ok(c) = self.reveal_status(i, now)
            {
                opened.insert(*self.entries[c].att.leaf_hash());
            }
        }
        ids.iter()
            .copied()
            .filter(|&i| {
                let e = &self.entries[i];
                matches!(e.att.attestation().verdict, Verdict::Sealed { .. })
                    && e.jurisdiction.is_some()
                    && !opened.contains(e.att.leaf_hash())
                    && self.rejection(i, now).is_none()
            })
            .map(|i| {
                let e = &self.entries[i];
                SealedCommitment {
                    jurisdiction: e.jurisdiction.clone().unwrap_or_default(),
                    version: e.att.attestation().version.clone(),
                    origin: e.origin.clone(),
                    index: self.index_of(i),
                }
            })
            .collect()
    }
}
