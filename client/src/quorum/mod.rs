//! Quorum evaluation: does a quorum of independent jurisdictions, as the client's own
//! [`Policy`] defines them, certify this exact release? Pure: no I/O, the clock is a
//! parameter. Semantics in `specs/policy.md` ("Evaluation").
//!
//! Inputs are verified by type: attestations are [`VerifiedAttestation`]s (signature
//! checked), inclusion is an [`Inclusion`] that only this module builds, from a proto
//! `VerifiedInclusion` / `TlogProof` / checkpoint note re-checked against the policy's
//! own log and witness keys, and equivocation evidence is re-verified against the policy's
//! log key. A jurisdiction is only ever taken from the policy's `review-log` line for the
//! log whose key signed the checkpoint; the attestation's `organisation` and anything a
//! node claims never decide it. A reviewer key counts for at most one jurisdiction per
//! package ([`keys`]).
//!
//! Parts: [`inclusion`] (proofs), [`rejection`] (why one entry does not count),
//! [`chain`] (the chain search), [`keys`] (one key, one vote), [`counted`] (what a
//! passing verdict rests on, for VSAs), [`diagnose`] (why a
//! jurisdiction's chain does not reach the release), [`evidence`] (`require` lines,
//! negative evidence, notices), [`sealed`] (commitments, reveals, dating), [`explain`]
//! (reasons and their text); this file classifies entries and decides.

mod chain;
mod counted;
mod diagnose;
mod evidence;
mod explain;
mod inclusion;
mod keys;
mod listing;
mod rejection;
mod sealed;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use quorate_proto::attestation::{
    Digest, EvidenceKind, SupersedeKind, Verdict, VerifiedAttestation,
};
use quorate_proto::equivocation::VerifiedEquivocation;
use quorate_proto::merkle::Hash;

use crate::policy::{Policy, Veto};

use chain::{ANY, Bits, CriteriaTable, Edge, ForeignState, Reach, reach};
pub use counted::Counted;
pub use explain::{
    EntryRef, Missing, NegativeEvidence, Notice, PackageVerdict, Rejection, RequirementOutcome,
    SealedCommitment, ViolationFound, Why, sealed_line,
};
pub use inclusion::{Included, Inclusion, MAX_FUTURE_SKEW, NotProven, TrustedCheckpoint};
pub use keys::MAX_ASSIGNMENTS;
pub use listing::{EntryStatus, ListedEntry};

/// Errors in the evaluator's inputs (as opposed to reasons a package fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("log {0:?} is not in the policy")]
    UnknownLog(String),
    #[error("entry submitted for log {given:?} is proven included in log {proven:?}")]
    WrongLog { given: String, proven: String },
    #[error(
        "equivocation evidence for log {origin:?} does not verify under the policy's key: {reason}"
    )]
    BadEquivocation { origin: String, reason: String },
}

/// The release being checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub ecosystem: String,
    pub package: String,
    pub version: String,
    /// The artifact's digest (crates.io: the Cargo.lock checksum).
    pub digest: Digest,
}

struct Entry {
    origin: String,
    jurisdiction: Option<String>,
    att: VerifiedAttestation,
    inclusion: Inclusion,
}

impl Entry {
    fn describe(&self) -> EntryRef {
        let a = self.att.attestation();
        let what = match (&a.verdict, &a.delta_from) {
            (Verdict::Violation { range }, _) => format!("violation {range}"),
            (Verdict::Certify, Some(d)) => format!("{} -> {}", d.version, a.version),
            (Verdict::Certify, None) => match a.evidence.as_ref().map(|e| e.kind()) {
                Some(EvidenceKind::SourceReview) | None => a.version.clone(),
                Some(k) => format!("{} ({k})", a.version),
            },
            (Verdict::Informational, _) => match a.evidence.as_ref().map(|e| e.kind()) {
                Some(k) => format!("{} ({k}, informational)", a.version),
                None => format!("{} (informational)", a.version),
            },
            (Verdict::Sealed { .. }, _) => format!("{} (sealed commitment)", a.version),
        };
        EntryRef {
            origin: self.origin.clone(),
            reviewer: a.reviewer.name.clone(),
            what,
        }
    }
}

/// The evaluator: the policy plus every verified input. Add entries and evidence, then
/// [`Evaluator::evaluate`] releases.
pub struct Evaluator<'p> {
    policy: &'p Policy,
    entries: Vec<Entry>,
    by_package: HashMap<(String, String), Vec<usize>>,
    /// leaf hash -> entries whose `supersedes` names it.
    supersedes: HashMap<Hash, Vec<usize>>,
    /// leaf hash -> entries with it (a commitment a reveal names; copies in several logs).
    by_leaf: HashMap<Hash, Vec<usize>>,
    /// reviewer key -> its reveal entries (to date its certifications against them).
    reveals_by_key: HashMap<[u8; 32], Vec<usize>>,
    equivocated: BTreeSet<String>,
    /// Logs the source could not bring up to date: origin -> (why, size of the cached
    /// checkpoint used instead, if any). Explains a missing jurisdiction as "log
    /// unreachable" rather than "no review", which would be a claim about the log.
    unreachable: BTreeMap<String, (String, Option<u64>)>,
}

impl<'p> Evaluator<'p> {
    pub fn new(policy: &'p Policy) -> Evaluator<'p> {
        Evaluator {
            policy,
            entries: Vec::new(),
            by_package: HashMap::new(),
            supersedes: HashMap::new(),
            by_leaf: HashMap::new(),
            reveals_by_key: HashMap::new(),
            equivocated: BTreeSet::new(),
            unreachable: BTreeMap::new(),
        }
    }

    pub fn policy(&self) -> &'p Policy {
        self.policy
    }

    /// Adds an attestation fetched from the log `origin`. A `Proven` inclusion must be in
    /// that same log.
    pub fn add(
        &mut self,
        origin: &str,
        att: VerifiedAttestation,
        inclusion: Inclusion,
    ) -> Result<(), InputError> {
        let log = self
            .policy
            .log(origin)
            .ok_or_else(|| InputError::UnknownLog(origin.to_owned()))?;
        if let Inclusion::Proven(inc) = &inclusion
            && inc.origin != origin
        {
            return Err(InputError::WrongLog {
                given: origin.to_owned(),
                proven: inc.origin.clone(),
            });
        }
        let idx = self.entries.len();
        let a = att.attestation();
        self.by_package
            .entry((a.ecosystem.clone(), a.package.clone()))
            .or_default()
            .push(idx);
        if let Some(s) = &a.supersedes {
            self.supersedes.entry(s.leaf_hash).or_default().push(idx);
        }
        if a.reveal.is_some() {
            self.reveals_by_key
                .entry(*att.reviewer_key())
                .or_default()
                .push(idx);
        }
        self.by_leaf.entry(*att.leaf_hash()).or_default().push(idx);
        self.entries.push(Entry {
            origin: origin.to_owned(),
            jurisdiction: log.jurisdiction.clone(),
            att,
            inclusion,
        });
        Ok(())
    }

    /// Records verified equivocation evidence, re-checking it under the policy's key for
    /// its log. From then on nothing from that log counts.
    pub fn add_equivocation(&mut self, ev: &VerifiedEquivocation) -> Result<(), InputError> {
        let origin = ev.origin();
        let log = self
            .policy
            .log(origin)
            .ok_or_else(|| InputError::UnknownLog(origin.to_owned()))?;
        ev.evidence()
            .verify_log(log.log_keys())
            .map_err(|e| InputError::BadEquivocation {
                origin: origin.to_owned(),
                reason: e.to_string(),
            })?;
        self.equivocated.insert(origin.to_owned());
        Ok(())
    }

    /// Records that the log `origin` could not be mirrored now (`why`); `cached_size` is
    /// the size of the older checkpoint whose entries were added instead, if any. Changes
    /// no verdict, only the explanations of jurisdictions that do not count.
    pub fn mark_unreachable(&mut self, origin: &str, why: &str, cached_size: Option<u64>) {
        self.unreachable
            .insert(origin.to_owned(), (why.to_owned(), cached_size));
    }

    /// Evaluates one release for the policy's criterion at time `now` (POSIX seconds).
    pub fn evaluate(&self, q: &Query, now: u64) -> PackageVerdict {
        self.evaluate_for(q, self.policy.criteria(), now)
    }

    /// As [`Self::evaluate`], for a given criterion.
    pub fn evaluate_for(&self, q: &Query, criterion: &str, now: u64) -> PackageVerdict {
        let policy = self.policy;
        let empty = Vec::new();
        let ids = self
            .by_package
            .get(&(q.ecosystem.clone(), q.package.clone()))
            .unwrap_or(&empty);
        let mut table = CriteriaTable::default();
        let want = table.bit(criterion);
        let mut closures: HashMap<String, Bits> = HashMap::new();
        // Classify every entry of the package once.
        let mut usable: BTreeMap<&str, Vec<Edge<'_>>> = BTreeMap::new();
        let mut rejected: BTreeMap<&str, Vec<(usize, Rejection)>> = BTreeMap::new();
        // Every entry that counts, per jurisdiction: the evidence requirements' input.
        let mut counting: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut refused_reveals = Vec::new();
        let mut violations = Vec::new();
        let required_closure = policy.implied_by(criterion);
        for &i in ids {
            let e = &self.entries[i];
            let Some(j) = e.jurisdiction.as_deref() else {
                continue; // plain `log` lines count for no jurisdiction
            };
            let a = e.att.attestation();
            // A withdrawal only takes away: nothing replaces what it withdraws, so it
            // neither certifies nor vetoes (a replacement counts on its own merits).
            if a.supersedes
                .as_ref()
                .is_some_and(|s| s.kind == SupersedeKind::Withdraw)
            {
                continue;
            }
            let rejection = self.rejection(i, now);
            if rejection.is_none() {
                counting.entry(j).or_default().push(i);
            }
            if let Some(Rejection::BadReveal { reason }) = &rejection {
                // A reveal that does not open its commitment is worth seeing even when
                // its jurisdiction certifies: someone claims a sealed finding.
                refused_reveals.push(Notice {
                    jurisdiction: j.to_owned(),
                    evidence: a
                        .evidence
                        .as_ref()
                        .map_or(EvidenceKind::SourceReview, |e| e.kind()),
                    entry: e.describe(),
                    text: format!("reveal refused: {reason}; it counts for nothing"),
                });
            }
            match rejection {
                Some(r) => rejected.entry(j).or_default().push((i, r)),
                None => match &a.verdict {
                    // Only source reviews make the quorum's chains, and only full-scope
                    // ones unless the policy says `accept-partial-scope yes`.
                    Verdict::Certify if self.makes_chain(a) => usable
                        .entry(j)
                        .or_default()
                        .extend(self.edges(i, &mut table, &mut closures)),
                    Verdict::Violation { range } => {
                        // A violation of X blocks a requirement that implies X.
                        if !a.criteria.iter().any(|c| required_closure.contains(c)) {
                            continue;
                        }
                        let (matches, unparsed) = range_matches(range, &q.version);
                        if matches {
                            violations.push(ViolationFound {
                                jurisdiction: j.to_owned(),
                                entry: e.describe(),
                                range: range.clone(),
                                criteria: a.criteria.clone(),
                                blocking: policy.veto() == Veto::Any,
                                unparsed_range: unparsed,
                                sealed_at: a
                                    .reveal
                                    .as_ref()
                                    .and_then(|_| self.reveal_status(i, now).ok())
                                    .map(|c| self.position(c)),
                            });
                        }
                    }
                    // Other evidence, partial scopes, facts and sealed commitments certify
                    // nothing by themselves.
                    Verdict::Certify | Verdict::Informational | Verdict::Sealed { .. } => {}
                },
            }
        }
        let jurisdictions = policy.jurisdictions();
        let no_edges = Vec::new();
        let edges_of = |j: &str| usable.get(j).unwrap_or(&no_edges);
        // Each jurisdiction's own reach, every criterion at once; with
        // `delta-across-jurisdictions yes` the others' certified states are bases.
        let own: BTreeMap<&str, Reach<'_>> = jurisdictions
            .iter()
            .map(|j| (*j, reach(edges_of(j), &[])))
            .collect();
        let foreign: BTreeMap<&str, Vec<ForeignState<'_>>> = jurisdictions
            .iter()
            .map(|j| {
                let f = if policy.delta_across_jurisdictions() {
                    own.iter()
                        .filter(|(k, _)| *k != j)
                        .flat_map(|(_, r)| r.own_bits())
                        .collect()
                } else {
                    Vec::new()
                };
                (*j, f)
            })
            .collect();
        let certifies = |j: &str, allowed: &dyn Fn(&keys::Key) -> bool| {
            let r = reach(edges_of(j).iter().filter(|e| allowed(e.key)), &foreign[j]);
            self.certifies(&r, q, want)
        };
        // One key, one vote: among the jurisdictions that certify with everything they
        // have, settle which of them may use a key that several of them carry.
        let keys_of: BTreeMap<&str, BTreeSet<keys::Key>> = jurisdictions
            .iter()
            .filter(|j| {
                if foreign[*j].is_empty() {
                    self.certifies(&own[*j], q, want) // the same reach, already made
                } else {
                    certifies(j, &|_| true)
                }
            })
            .map(|j| (*j, edges_of(j).iter().map(|e| *e.key).collect()))
            .collect();
        let assignment = keys::assign(&keys_of, certifies);
        let mut certified_by = Vec::new();
        let mut missing = Vec::new();
        for j in &jurisdictions {
            if assignment.certified.contains(j) {
                certified_by.push((*j).to_owned());
                continue;
            }
            let mut reasons = self.set_aside(j, rejected.get(j));
            match assignment.counted_elsewhere.get(j) {
                Some(lost) => {
                    reasons.extend(lost.iter().map(|(k, other)| Why::KeyCountedElsewhere {
                        reviewer: self.reviewer_name(ids, k),
                        key: explain::key_id(k),
                        counted_for: (*other).to_owned(),
                        greedy: assignment.greedy,
                    }))
                }
                None => reasons = self.diagnose(q, criterion, edges_of(j), &table, reasons),
            }
            missing.push(Missing {
                jurisdiction: (*j).to_owned(),
                reasons,
            });
        }
        let required = policy.review_quorum().max(1);
        let (requirements, mut notices) =
            self.requirements(q, criterion, &counting, &mut table, &mut closures);
        notices.extend(refused_reveals);
        let pass = certified_by.len() >= required
            && !violations.iter().any(|v| v.blocking)
            && requirements.iter().all(|r| r.pass);
        // What a passing verdict rests on, for Verification Summary Attestations.
        let counted = if pass {
            let mut c = self.counted_all(&certified_by, &edges_of, &foreign, q, want, certifies);
            // And what each `require` line counted (an archive comparison, a rebuild),
            // each entry named once.
            c.extend(requirements.iter().flat_map(|r| r.inputs.iter().cloned()));
            c.sort();
            c.dedup_by(|a, b| a.origin == b.origin && a.index == b.index);
            c
        } else {
            Vec::new()
        };
        PackageVerdict {
            counted,
            query: q.clone(),
            criteria: criterion.to_owned(),
            required,
            pass,
            certified_by,
            missing,
            violations,
            requirements,
            notices,
            sealed_unrevealed: self.unrevealed(ids, now),
        }
    }

    /// Per jurisdiction, the (version, digest) states of a package its own usable
    /// attestations certify for the policy's criterion at `now`: the bases a delta
    /// review can start from (`gaps` proposes the cheapest review with them).
    pub fn certified_states(
        &self,
        ecosystem: &str,
        package: &str,
        now: u64,
    ) -> BTreeMap<String, Vec<(String, Digest)>> {
        let empty = Vec::new();
        let ids = self
            .by_package
            .get(&(ecosystem.to_owned(), package.to_owned()))
            .unwrap_or(&empty);
        let mut table = CriteriaTable::default();
        let want = table.bit(self.policy.criteria());
        let mut closures: HashMap<String, Bits> = HashMap::new();
        let mut usable: BTreeMap<&str, Vec<Edge<'_>>> = BTreeMap::new();
        for &i in ids {
            let e = &self.entries[i];
            let Some(j) = e.jurisdiction.as_deref() else {
                continue;
            };
            let a = e.att.attestation();
            if a.supersedes
                .as_ref()
                .is_some_and(|s| s.kind == SupersedeKind::Withdraw)
                || !matches!(a.verdict, Verdict::Certify)
                || !self.makes_chain(a)
                || self.rejection(i, now).is_some()
            {
                continue;
            }
            usable
                .entry(j)
                .or_default()
                .extend(self.edges(i, &mut table, &mut closures));
        }
        usable
            .iter()
            .map(|(j, edges)| {
                let r = reach(edges, &[]);
                let states = r.own_states(want).map(|(v, d)| (v.to_owned(), d)).collect();
                ((*j).to_owned(), states)
            })
            .collect()
    }

    /// Whether a `certify` attestation is a step of the review quorum's chains: a source
    /// review, of full scope unless the policy says `accept-partial-scope yes`. Other
    /// evidence kinds count only through `require` lines.
    fn makes_chain(&self, a: &quorate_proto::attestation::Attestation) -> bool {
        a.scope
            .as_ref()
            .is_some_and(|s| s.is_full() || self.policy.accept_partial_scope())
            && a.evidence
                .as_ref()
                .is_some_and(|e| e.kind() == EvidenceKind::SourceReview)
    }

    /// The name an attestation of this package by key `k` gives its reviewer.
    fn reviewer_name(&self, ids: &[usize], k: &keys::Key) -> String {
        ids.iter()
            .map(|&i| &self.entries[i].att)
            .find(|a| a.reviewer_key() == k)
            .map(|a| a.attestation().reviewer.name.clone())
            .unwrap_or_default()
    }

    /// The chain steps entry `i` makes, one per file digest it covers (a review of a
    /// PyPI sdist and its wheels reaches each of them); its criteria are everything they
    /// imply. Weak (SHA-1) digests reach nothing.
    fn edges(
        &self,
        i: usize,
        table: &mut CriteriaTable,
        closures: &mut HashMap<String, Bits>,
    ) -> Vec<Edge<'_>> {
        let e = &self.entries[i];
        let a = e.att.attestation();
        let mut criteria = Bits::default();
        criteria.set(ANY);
        for c in &a.criteria {
            let b = closures.entry(c.clone()).or_insert_with(|| {
                let mut b = Bits::default();
                for x in self.policy.implied_by(c) {
                    b.set(table.bit(&x));
                }
                b
            });
            criteria.absorb(b);
        }
        let from = a
            .delta_from
            .as_ref()
            .map(|d| (d.version.as_str(), d.digest));
        let mut tos: Vec<Digest> = a
            .covered_digests()
            .filter(|d| !d.is_weak())
            .copied()
            .collect();
        if !a.digest.is_recorded() {
            tos.push(Digest::Unknown);
        }
        tos.into_iter()
            .map(|d| Edge {
                from,
                to: (a.version.as_str(), d),
                criteria: criteria.clone(),
                key: e.att.reviewer_key(),
                entry: i,
            })
            .collect()
    }

    fn digest_ok(&self, reviewed: Digest, artifact: Digest) -> bool {
        reviewed == artifact
            || (self.policy.accept_unknown_digests()
                && (reviewed == Digest::Unknown || artifact == Digest::Unknown))
    }

    /// Certified for criterion `bit` when a state the jurisdiction's own attestations
    /// reach is the queried version at the artifact's digest.
    fn certifies(&self, r: &Reach<'_>, q: &Query, bit: usize) -> bool {
        r.at_version(&q.version)
            .any(|s| s.own.has(bit) && self.digest_ok(s.digest, q.digest))
    }

    /// The jurisdiction's equivocated logs and every attestation set aside, with why.
    fn set_aside(&self, j: &str, rejected: Option<&Vec<(usize, Rejection)>>) -> Vec<Why> {
        let mut out = Vec::new();
        for l in self.policy.logs() {
            if l.jurisdiction.as_deref() == Some(j) && self.equivocated.contains(l.origin()) {
                out.push(Why::LogEquivocated {
                    origin: l.origin().to_owned(),
                });
            }
            if l.jurisdiction.as_deref() == Some(j)
                && let Some((why, cached_size)) = self.unreachable.get(l.origin())
            {
                out.push(Why::LogUnreachable {
                    origin: l.origin().to_owned(),
                    why: why.clone(),
                    cached_size: *cached_size,
                });
            }
        }
        for (i, why) in rejected.into_iter().flatten() {
            if *why == Rejection::LogEquivocated {
                continue; // said once above
            }
            out.push(Why::Rejected {
                entry: self.entries[*i].describe(),
                why: why.clone(),
            });
        }
        out
    }
}

/// Whether a violation `range` (a semver requirement, cargo-vet syntax) matches `version`.
/// Returns (matches, range_or_version_unparsed); anything that does not parse is treated as
/// matching, so an unreadable violation blocks rather than being ignored.
pub fn range_matches(range: &str, version: &str) -> (bool, bool) {
    match (
        semver::VersionReq::parse(range),
        semver::Version::parse(version),
    ) {
        (Ok(req), Ok(v)) => (req.matches(&v), false),
        _ => (true, true),
    }
}
