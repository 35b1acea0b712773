//! Evidence requirements (`require` lines) and what else stands behind a verdict.
//!
//! Each requirement on criterion C (applying to every criterion that implies C) is met
//! when at least its count of distinct jurisdictions hold evidence of its kind for the
//! exact file, counted under the same one-key-one-vote rule as the review quorum
//! ([`super::keys`]):
//! - `source-review`: the jurisdiction's own chain (full reviews and deltas) certifies the
//!   version and digest for C using only attestations by the listed reviewer kinds, and
//!   full scope unless the line says `partial`;
//! - every other kind: a `certify` attestation of that kind names the version, covers the
//!   file's digest, states a criterion that implies C, and passes the same kind and scope
//!   filter.
//!
//! **Negative evidence refuses.** An attestation of a required kind that says the file is
//! not what its source says (an `archive-matches-source` whose trees differ, or any
//! `violation` of a non-source-review kind) refuses the file for that requirement, from
//! any jurisdiction, whatever other jurisdictions logged, and whatever the `veto` line
//! says. Why one jurisdiction may block here: such evidence names what differs (the paths)
//! and anyone can re-run the comparison on the same public archive and tag, so a false
//! claim is cheap to expose and stays signed in a log forever; a captured institute can
//! use it only to deny (never to grant), and the client's answer to one false claim is
//! `distrust LEAF-HASH`, which removes exactly that entry. A match from other
//! jurisdictions cannot outvote a verifiable difference: the xz archive matched its tag
//! everywhere but in one file.
//!
//! Maintainer changes, benchmark deltas, fuzzing results and evidence no line requires
//! are notices: shown, never a pass by themselves.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use quorate_proto::attestation::{Attestation, Digest, Evidence, EvidenceKind, Verdict};

use super::chain::{Bits, CriteriaTable, reach};
use super::explain::{NegativeEvidence, Notice, RequirementOutcome};
use super::{Evaluator, Query, keys};
use crate::policy::Requirement;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What negative evidence says, or `None` when the attestation is not negative.
pub(super) fn negative(a: &Attestation) -> Option<String> {
    let ev = a.evidence.as_ref()?;
    match ev {
        Evidence::SourceReview | Evidence::MaintainerChange(_) => None,
        Evidence::ArchiveMatchesSource(m) if !m.matches() => {
            let shown = m.differing_paths.join(", ");
            Some(format!(
                "that the archive differs from its source at {} ({} {} differ{}: {shown})",
                m.source_revision,
                m.differing_count,
                if m.differing_count == 1 {
                    "path"
                } else {
                    "paths"
                },
                if m.differing_count == 1 { "s" } else { "" }
            ))
        }
        _ if matches!(a.verdict, Verdict::Violation { .. }) => {
            Some(format!("a {} violation", ev.kind()))
        }
        _ => None,
    }
}

/// One line about an evidence attestation, for notices.
fn notice_text(a: &Attestation) -> Option<String> {
    let ev = a.evidence.as_ref()?;
    let verdict = match a.verdict {
        Verdict::Certify => "certify",
        Verdict::Violation { .. } => "violation",
        Verdict::Informational => "informational",
        Verdict::Sealed { .. } => return None,
    };
    Some(match ev {
        Evidence::SourceReview => return None,
        Evidence::MaintainerChange(m) => format!(
            "{} {:?} (source {}); informational, never a pass",
            m.kind.as_str(),
            m.subject,
            m.source
        ),
        Evidence::BenchmarkDelta(b) => format!(
            "benchmark {:?} against {}: {}.{:06}x ({verdict})",
            b.benchmark,
            b.baseline_version,
            b.ratio_ppm / 1_000_000,
            b.ratio_ppm % 1_000_000
        ),
        Evidence::Fuzzing(z) => format!(
            "{} harness(es) for {} s, {} finding(s) ({verdict})",
            z.harnesses.len(),
            z.duration_seconds,
            z.findings
        ),
        Evidence::ReproducibleBuild(r) => format!(
            "rebuilt from {} by {:?} ({verdict})",
            r.source_revision, r.builder
        ),
        Evidence::ArchiveMatchesSource(m) => match negative(a) {
            Some(n) => format!("says {n}"),
            None => format!(
                "archive matches its source at {} ({verdict})",
                m.source_revision
            ),
        },
    })
}

impl Evaluator<'_> {
    /// Whether attestation `a` is about the queried file: same version, and it covers the
    /// file's digest (or, under `accept-unknown-digests`, either is unknown).
    fn about_file(&self, a: &Attestation, q: &Query) -> bool {
        a.version == q.version
            && (a.covers(&q.digest)
                || (self.policy.accept_unknown_digests()
                    && (q.digest == Digest::Unknown || !a.digest.is_recorded())))
    }

    /// Evaluates every requirement that applies to `criterion` and gathers notices.
    /// `usable`: per jurisdiction, the package's entries that count (not set aside, not
    /// withdrawals).
    pub(super) fn requirements(
        &self,
        q: &Query,
        criterion: &str,
        usable: &BTreeMap<&str, Vec<usize>>,
        table: &mut CriteriaTable,
        closures: &mut HashMap<String, Bits>,
    ) -> (Vec<RequirementOutcome>, Vec<Notice>) {
        let mut outcomes = Vec::new();
        let applying = self.policy.requirements_for(criterion);
        for r in &applying {
            outcomes.push(self.requirement(q, r, usable, table, closures));
        }
        let required: BTreeSet<EvidenceKind> = applying.iter().map(|r| r.evidence).collect();
        let mut notices = Vec::new();
        for (j, ids) in usable {
            for &i in ids {
                let e = &self.entries[i];
                let a = e.att.attestation();
                let Some(kind) = a.evidence.as_ref().map(Evidence::kind) else {
                    continue;
                };
                // Required kinds already speak through their requirement (negative ones
                // as its refusal).
                if required.contains(&kind)
                    || !(a.version == q.version || kind == EvidenceKind::MaintainerChange)
                {
                    continue;
                }
                if let Some(text) = notice_text(a) {
                    notices.push(Notice {
                        jurisdiction: (*j).to_owned(),
                        evidence: kind,
                        entry: e.describe(),
                        text,
                    });
                }
            }
        }
        (outcomes, notices)
    }

    fn requirement(
        &self,
        q: &Query,
        r: &Requirement,
        usable: &BTreeMap<&str, Vec<usize>>,
        table: &mut CriteriaTable,
        closures: &mut HashMap<String, Bits>,
    ) -> RequirementOutcome {
        let jurisdictions = self.policy.jurisdictions();
        let counts = |i: usize| {
            let a = self.entries[i].att.attestation();
            r.counts_kind(a.reviewer.kind)
                && a.evidence.as_ref().map(Evidence::kind) == Some(r.evidence)
        };
        // Negative evidence about this file, from any jurisdiction.
        let mut refused_by = Vec::new();
        for (j, ids) in usable {
            for &i in ids.iter().filter(|&&i| counts(i)) {
                let e = &self.entries[i];
                let a = e.att.attestation();
                if self.about_file(a, q)
                    && let Some(what) = negative(a)
                {
                    refused_by.push(NegativeEvidence {
                        jurisdiction: (*j).to_owned(),
                        entry: e.describe(),
                        what,
                        leaf_hash: hex(e.att.leaf_hash()),
                    });
                }
            }
        }
        let bit = table.bit(&r.criterion);
        // What the requirement rests on, for Verification Summary Attestations.
        let mut inputs = Vec::new();
        // An entry of the required kind that certifies, in a scope the requirement takes.
        let certifies_here = |i: usize| {
            let a = self.entries[i].att.attestation();
            counts(i) && matches!(a.verdict, Verdict::Certify) && r.counts_scope(a.scope.as_ref())
        };
        // Candidates per jurisdiction, then one key, one vote.
        let counted: Vec<String> = if r.evidence == EvidenceKind::SourceReview {
            let edges: BTreeMap<&str, Vec<_>> = usable
                .iter()
                .map(|(j, ids)| {
                    let es: Vec<_> = ids
                        .iter()
                        .copied()
                        .filter(|&i| certifies_here(i))
                        .flat_map(|i| self.edges(i, table, closures))
                        .collect();
                    (*j, es)
                })
                .collect();
            let certifies = |j: &str, allowed: &dyn Fn(&keys::Key) -> bool| {
                edges.get(j).is_some_and(|es| {
                    let rc = reach(es.iter().filter(|e| allowed(e.key)), &[]);
                    self.certifies(&rc, q, bit)
                })
            };
            let keys_of: BTreeMap<&str, BTreeSet<keys::Key>> = jurisdictions
                .iter()
                .filter(|j| certifies(j, &|_| true))
                .map(|j| (*j, edges[*j].iter().map(|e| *e.key).collect()))
                .collect();
            let a = keys::assign(&keys_of, certifies);
            for j in &a.certified {
                let ids = self.counted(&edges[*j], &[], q, bit);
                inputs.extend(ids.into_iter().filter_map(|i| self.to_counted(j, i)));
            }
            a.certified.iter().map(|j| (*j).to_owned()).collect()
        } else {
            let cands: BTreeMap<&str, Vec<usize>> = usable
                .iter()
                .map(|(j, ids)| {
                    let c: Vec<usize> = ids
                        .iter()
                        .copied()
                        .filter(|&i| {
                            let a = self.entries[i].att.attestation();
                            certifies_here(i)
                                && self.about_file(a, q)
                                && a.criteria
                                    .iter()
                                    .any(|c| self.policy.implied_by(c).contains(&r.criterion))
                        })
                        .collect();
                    (*j, c)
                })
                .collect();
            let certifies = |j: &str, allowed: &dyn Fn(&keys::Key) -> bool| {
                cands.get(j).is_some_and(|c| {
                    c.iter()
                        .any(|&i| allowed(self.entries[i].att.reviewer_key()))
                })
            };
            let keys_of: BTreeMap<&str, BTreeSet<keys::Key>> = jurisdictions
                .iter()
                .filter(|j| certifies(j, &|_| true))
                .map(|j| {
                    (
                        *j,
                        cands[*j]
                            .iter()
                            .map(|&i| *self.entries[i].att.reviewer_key())
                            .collect(),
                    )
                })
                .collect();
            let a = keys::assign(&keys_of, certifies);
            for j in &a.certified {
                inputs.extend(cands[*j].iter().filter_map(|&i| self.to_counted(j, i)));
            }
            a.certified.iter().map(|j| (*j).to_owned()).collect()
        };
        let needed = r.needed(jurisdictions.len());
        RequirementOutcome {
            criterion: r.criterion.clone(),
            evidence: r.evidence,
            describe: r.describe(),
            count: r.count.to_string(),
            needed,
            pass: refused_by.is_empty() && counted.len() >= needed,
            inputs: if refused_by.is_empty() {
                inputs
            } else {
                Vec::new()
            },
            counted,
            refused_by,
        }
    }
}
