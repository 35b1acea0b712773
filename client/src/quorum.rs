//! Quorum evaluation: does a quorum of independent jurisdictions, as the client's own
//! [`Policy`] defines them, certify this exact release? Pure: no I/O, the clock is a
//! parameter. Semantics in `specs/policy.md` ("Evaluation").
//!
//! Inputs are verified by type: attestations are [`VerifiedAttestation`]s (signature
//! checked), inclusion is an [`Inclusion`] that only this module builds, from a proto
//! [`VerifiedInclusion`] / [`TlogProof`] / checkpoint note re-checked against the policy's
//! own log and witness keys, and equivocation evidence is re-verified against the policy's
//! log key. A jurisdiction is only ever taken from the policy's `review-log` line for the
//! log whose key signed the checkpoint; the attestation's `organisation` and anything a
//! node claims never decide it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use quorate_proto::attestation::{Digest, SupersedeKind, Verdict, VerifiedAttestation};
use quorate_proto::checkpoint::{VerifiedCheckpoint, verify_checkpoint};
use quorate_proto::equivocation::VerifiedEquivocation;
use quorate_proto::merkle::{self, Hash};
use quorate_proto::tlog_proof::{TlogProof, VerifiedInclusion};

use crate::policy::{Policy, Veto};

/// Cosignatures dated more than this far after `now` do not count (clock skew allowance).
pub const MAX_FUTURE_SKEW: u64 = 600;

/// Why an entry's inclusion is not proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotProven {
    /// The caller had no proof (e.g. fetching it failed); the text says why.
    Unavailable(String),
    /// The checkpoint names a log the policy does not list.
    UnknownLog { origin: String },
    /// The checkpoint did not verify under the policy's key for its log.
    BadCheckpoint(String),
    /// The inclusion proof did not verify, or proves a different leaf.
    BadInclusion(String),
}

impl fmt::Display for NotProven {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotProven::Unavailable(s) => write!(f, "no inclusion proof ({s})"),
            NotProven::UnknownLog { origin } => write!(f, "checkpoint from unknown log {origin:?}"),
            NotProven::BadCheckpoint(s) => write!(f, "checkpoint does not verify: {s}"),
            NotProven::BadInclusion(s) => write!(f, "inclusion proof does not verify: {s}"),
        }
    }
}

/// An entry proven included in a checkpoint signed by the policy's key for `origin`.
/// Witness quorum and freshness are judged at evaluation time, against `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Included {
    origin: String,
    index: u64,
    tree_size: u64,
    /// (policy witness name, cosignature timestamp) of every valid policy cosignature.
    cosignatures: Vec<(String, u64)>,
}

impl Included {
    pub fn origin(&self) -> &str {
        &self.origin
    }
    pub fn index(&self) -> u64 {
        self.index
    }
    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }
    pub fn cosignatures(&self) -> &[(String, u64)] {
        &self.cosignatures
    }
}

/// Inclusion status of one attestation. `Proven` can only be made by this module's
/// constructors, each of which verifies against the policy's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inclusion {
    Proven(Included),
    NotProven(NotProven),
}

/// A checkpoint verified under the policy's key for its log, with the policy's witnesses.
/// Verify once per log, then prove many entries against it with [`Self::inclusion`].
#[derive(Debug, Clone)]
pub struct TrustedCheckpoint {
    origin: String,
    size: u64,
    root: Hash,
    cosignatures: Vec<(String, u64)>,
}

fn origin_of_note(note: &[u8]) -> Option<&str> {
    let end = note.iter().position(|&b| b == b'\n')?;
    std::str::from_utf8(&note[..end]).ok()
}

impl TrustedCheckpoint {
    /// Verifies a signed checkpoint note against the policy: the log must be listed, its
    /// key must have signed, and cosignatures are kept only from policy witnesses.
    pub fn verify(policy: &Policy, note: &[u8]) -> Result<TrustedCheckpoint, NotProven> {
        let origin = origin_of_note(note)
            .ok_or_else(|| NotProven::BadCheckpoint("no origin line".into()))?;
        let log = policy.log(origin).ok_or_else(|| NotProven::UnknownLog {
            origin: origin.to_owned(),
        })?;
        let vc = verify_checkpoint(note, log.verifier(), &policy.witness_verifiers())
            .map_err(|e| NotProven::BadCheckpoint(e.to_string()))?;
        Ok(Self::from_checkpoint(policy, &vc))
    }

    fn from_checkpoint(policy: &Policy, vc: &VerifiedCheckpoint) -> TrustedCheckpoint {
        let cp = vc.checkpoint();
        TrustedCheckpoint {
            origin: cp.origin().to_owned(),
            size: cp.size(),
            root: *cp.root_hash(),
            cosignatures: vc
                .cosignatures()
                .iter()
                .filter_map(|c| Some((policy.witness_name_for(c)?, c.timestamp())))
                // A log's own jurisdiction cannot witness it (see `review-witness`).
                .filter(|(name, _)| policy.witness_counts_for(name, cp.origin()))
                .map(|(name, t)| (name.to_owned(), t))
                .collect(),
        }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Proves `att` is entry `index` of this checkpoint's tree with an RFC 6962 inclusion
    /// proof (leaf sibling first).
    pub fn inclusion(&self, att: &VerifiedAttestation, index: u64, proof: &[Hash]) -> Inclusion {
        match merkle::check_record(proof, self.size, &self.root, index, att.leaf_hash()) {
            Ok(()) => Inclusion::Proven(Included {
                origin: self.origin.clone(),
                index,
                tree_size: self.size,
                cosignatures: self.cosignatures.clone(),
            }),
            Err(e) => Inclusion::NotProven(NotProven::BadInclusion(e.to_string())),
        }
    }
}

impl Inclusion {
    /// The caller has no proof for this entry.
    pub fn unavailable(reason: impl Into<String>) -> Inclusion {
        Inclusion::NotProven(NotProven::Unavailable(reason.into()))
    }

    /// Verifies a C2SP tlog-proof for `att` under the policy's log and witness keys.
    pub fn from_proof(policy: &Policy, att: &VerifiedAttestation, proof: &TlogProof) -> Inclusion {
        let Some(origin) = origin_of_note(&proof.checkpoint) else {
            return Inclusion::NotProven(NotProven::BadCheckpoint("no origin line".into()));
        };
        let Some(log) = policy.log(origin) else {
            return Inclusion::NotProven(NotProven::UnknownLog {
                origin: origin.to_owned(),
            });
        };
        match proof.verify(
            att.leaf_hash(),
            log.verifier(),
            &policy.witness_verifiers(),
            0,
        ) {
            Ok(vi) => Self::proven(policy, &vi),
            Err(e) => Inclusion::NotProven(NotProven::BadInclusion(e.to_string())),
        }
    }

    /// Accepts a proto [`VerifiedInclusion`] for `att`, re-verifying its checkpoint under
    /// the policy's keys (the caller may have verified it under any key).
    pub fn from_verified(
        policy: &Policy,
        att: &VerifiedAttestation,
        vi: &VerifiedInclusion,
    ) -> Inclusion {
        if vi.leaf_hash() != att.leaf_hash() {
            return Inclusion::NotProven(NotProven::BadInclusion(
                "the proof is for a different leaf".into(),
            ));
        }
        match TrustedCheckpoint::verify(policy, vi.checkpoint().note_bytes()) {
            Ok(_) => Self::proven(policy, vi),
            Err(e) => Inclusion::NotProven(e),
        }
    }

    fn proven(policy: &Policy, vi: &VerifiedInclusion) -> Inclusion {
        let tc = TrustedCheckpoint::from_checkpoint(policy, vi.checkpoint());
        Inclusion::Proven(Included {
            origin: tc.origin,
            index: vi.index(),
            tree_size: tc.size,
            cosignatures: tc.cosignatures,
        })
    }
}

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

/// What one attestation says, for explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRef {
    pub origin: String,
    pub reviewer: String,
    /// `1.2.3`, `1.2.0 -> 1.2.3`, or `violation <range>`.
    pub what: String,
}

impl fmt::Display for EntryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} by {:?} in {}", self.what, self.reviewer, self.origin)
    }
}

/// Why a jurisdiction does not count toward the quorum for a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// No attestation at all for this package in the jurisdiction's logs.
    NoReview,
    /// Reviews exist for other versions only, and no chain reaches this one.
    NoReviewOfVersion { reviewed: Vec<String> },
    /// A chain reaches this version, but for different bytes.
    WrongDigest {
        reviewed: Vec<Digest>,
        artifact: Digest,
    },
    /// Deltas lead to this version from `never_fully_reviewed`, which has no full review
    /// (or no usable one) in the jurisdiction.
    ChainGap {
        never_fully_reviewed: String,
        delta: String,
    },
    /// A delta's base digest differs from the digest the base version was reviewed at.
    ChainDigestMismatch {
        delta: String,
        base_digest: Digest,
        reviewed: Vec<Digest>,
    },
    /// The version is certified, but not for the required criterion.
    InsufficientCriteria {
        required: String,
        certified: Vec<String>,
    },
    /// An attestation of the jurisdiction was set aside; `why` says why.
    Rejected { entry: EntryRef, why: Rejection },
    /// The jurisdiction's log signed two conflicting histories: nothing from it counts.
    LogEquivocated { origin: String },
}

/// Why a single attestation does not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    NotIncluded(NotProven),
    TooFewWitnesses { cosigned: Vec<String> },
    StaleCheckpoint { age: u64, max: u64 },
    LogEquivocated,
    Withdrawn { by: String, kind: SupersedeKind },
    UntrustedReviewer,
    UnknownDigest,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NotIncluded(n) => write!(f, "not proven included: {n}"),
            Rejection::TooFewWitnesses { cosigned } => write!(
                f,
                "checkpoint cosigned by too few witnesses for the policy's quorum (cosigned: {})",
                if cosigned.is_empty() {
                    "none".to_owned()
                } else {
                    cosigned.join(", ")
                }
            ),
            Rejection::StaleCheckpoint { age, max } => write!(
                f,
                "checkpoint is stale: newest witnessing is {age}s old, policy allows {max}s"
            ),
            Rejection::LogEquivocated => f.write_str("its log equivocated"),
            Rejection::Withdrawn { by, kind } => match kind {
                SupersedeKind::Withdraw => write!(f, "withdrawn by {by:?}"),
                SupersedeKind::Replace => write!(f, "replaced by a later review by {by:?}"),
            },
            Rejection::UntrustedReviewer => {
                f.write_str("reviewer key is not listed for this jurisdiction in the policy")
            }
            Rejection::UnknownDigest => {
                f.write_str("records no digest, and the policy does not accept unknown digests")
            }
        }
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::NoReview => f.write_str("no review of this package"),
            Why::NoReviewOfVersion { reviewed } => write!(
                f,
                "no review reaches this version (reviewed: {})",
                reviewed.join(", ")
            ),
            Why::WrongDigest { reviewed, artifact } => write!(
                f,
                "reviewed a different artifact: reviewed {}, lockfile has {artifact}",
                reviewed
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Why::ChainGap {
                never_fully_reviewed,
                delta,
            } => write!(
                f,
                "chain gap: delta {delta} starts from {never_fully_reviewed}, which was never fully reviewed"
            ),
            Why::ChainDigestMismatch {
                delta,
                base_digest,
                reviewed,
            } => write!(
                f,
                "chain broken: delta {delta} starts from {base_digest}, but the base was reviewed as {}",
                reviewed
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Why::InsufficientCriteria {
                required,
                certified,
            } => write!(
                f,
                "insufficient criteria: certified for {}, policy requires {required}",
                certified.join(", ")
            ),
            Why::Rejected { entry, why } => write!(f, "review {entry} set aside: {why}"),
            Why::LogEquivocated { origin } => {
                write!(f, "log {origin} equivocated: nothing from it counts")
            }
        }
    }
}

/// A jurisdiction that does not count, and every reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub jurisdiction: String,
    pub reasons: Vec<Why>,
}

/// A violation that matched the release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViolationFound {
    pub jurisdiction: String,
    pub entry: EntryRef,
    pub range: String,
    pub criteria: Vec<String>,
    /// Whether it blocks (policy `veto any`).
    pub blocking: bool,
    /// The range did not parse as a semver requirement and was treated as matching.
    pub unparsed_range: bool,
}

/// The decision for one release, with its explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageVerdict {
    pub query: Query,
    pub criteria: String,
    pub required: usize,
    pub pass: bool,
    pub certified_by: Vec<String>,
    pub missing: Vec<Missing>,
    pub violations: Vec<ViolationFound>,
}

impl PackageVerdict {
    /// Jurisdictions whose violations block this release.
    pub fn vetoed_by(&self) -> Vec<&str> {
        let s: BTreeSet<&str> = self
            .violations
            .iter()
            .filter(|v| v.blocking)
            .map(|v| v.jurisdiction.as_str())
            .collect();
        s.into_iter().collect()
    }
}

impl fmt::Display for PackageVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = &self.query;
        writeln!(
            f,
            "{} {}/{}@{} ({}): {} of {} jurisdictions certify {}{}",
            if self.pass { "PASS" } else { "FAIL" },
            q.ecosystem,
            q.package,
            q.version,
            q.digest,
            self.certified_by.len(),
            self.required,
            self.criteria,
            if self.certified_by.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.certified_by.join(", "))
            }
        )?;
        for v in &self.violations {
            writeln!(
                f,
                "  {} by {}: {} violates {} for {}",
                if v.blocking {
                    "vetoed"
                } else {
                    "violation (not blocking)"
                },
                v.jurisdiction,
                v.entry,
                v.criteria.join(", "),
                v.range
            )?;
        }
        for m in &self.missing {
            for r in &m.reasons {
                writeln!(f, "  {}: {r}", m.jurisdiction)?;
            }
        }
        Ok(())
    }
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
            (Verdict::Certify, None) => a.version.clone(),
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
    equivocated: BTreeSet<String>,
}

/// One step of a chain: `from` is `None` for a full review.
struct Edge<'a> {
    from: Option<(&'a str, Digest)>,
    to: (&'a str, Digest),
    criteria: BTreeSet<String>,
}

impl<'p> Evaluator<'p> {
    pub fn new(policy: &'p Policy) -> Evaluator<'p> {
        Evaluator {
            policy,
            entries: Vec::new(),
            by_package: HashMap::new(),
            supersedes: HashMap::new(),
            equivocated: BTreeSet::new(),
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
            .verify(log.verifier())
            .map_err(|e| InputError::BadEquivocation {
                origin: origin.to_owned(),
                reason: e.to_string(),
            })?;
        self.equivocated.insert(origin.to_owned());
        Ok(())
    }

    /// Why entry `i` does not count, or `None` if it does (for its own jurisdiction).
    fn rejection(&self, i: usize, now: u64) -> Option<Rejection> {
        let e = &self.entries[i];
        let a = e.att.attestation();
        if self.equivocated.contains(&e.origin) {
            return Some(Rejection::LogEquivocated);
        }
        if let Some(j) = &e.jurisdiction
            && !self.policy.reviewer_trusted(j, e.att.reviewer_key())
        {
            return Some(Rejection::UntrustedReviewer);
        }
        // Withdrawal: a later entry of the same log naming this leaf, signed by the same
        // reviewer key or claiming the same non-empty organisation.
        if let Some(ws) = self.supersedes.get(e.att.leaf_hash()) {
            for &w in ws {
                let we = &self.entries[w];
                let wa = we.att.attestation();
                if we.origin == e.origin
                    && (we.att.reviewer_key() == e.att.reviewer_key()
                        || (!wa.organisation.is_empty() && wa.organisation == a.organisation))
                    && let Some(s) = &wa.supersedes
                {
                    return Some(Rejection::Withdrawn {
                        by: wa.reviewer.name.clone(),
                        kind: s.kind,
                    });
                }
            }
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
        // Classify every entry of the package once.
        let mut usable: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut rejected: BTreeMap<&str, Vec<(usize, Rejection)>> = BTreeMap::new();
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
            match self.rejection(i, now) {
                Some(r) => rejected.entry(j).or_default().push((i, r)),
                None => match &a.verdict {
                    Verdict::Certify => usable.entry(j).or_default().push(i),
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
                            });
                        }
                    }
                },
            }
        }
        let edges_of = |j: &str| -> Vec<Edge<'_>> {
            usable
                .get(j)
                .map(|v| v.iter().map(|&i| self.edge(i)).collect())
                .unwrap_or_default()
        };
        let jurisdictions = policy.jurisdictions();
        let all_edges: BTreeMap<&str, Vec<Edge<'_>>> =
            jurisdictions.iter().map(|j| (*j, edges_of(j))).collect();
        // Each jurisdiction's own reach for the criterion (used as delta bases across
        // jurisdictions when the policy allows it).
        let own: BTreeMap<&str, Reach<'_>> = all_edges
            .iter()
            .map(|(j, es)| (*j, reach(es, Some(criterion), &[])))
            .collect();
        let mut certified_by = Vec::new();
        let mut missing = Vec::new();
        for j in &jurisdictions {
            let edges = &all_edges[j];
            let r = if policy.delta_across_jurisdictions() {
                let foreign: Vec<(&str, Digest)> = own
                    .iter()
                    .filter(|(k, _)| *k != j)
                    .flat_map(|(_, r)| r.states.keys().copied())
                    .collect();
                reach(edges, Some(criterion), &foreign)
            } else {
                own[j].clone()
            };
            if self.certifies(&r, q) {
                certified_by.push((*j).to_owned());
                continue;
            }
            let reasons = self.diagnose(j, q, criterion, edges, rejected.get(j));
            missing.push(Missing {
                jurisdiction: (*j).to_owned(),
                reasons,
            });
        }
        let required = policy.review_quorum().max(1);
        let pass = certified_by.len() >= required && !violations.iter().any(|v| v.blocking);
        PackageVerdict {
            query: q.clone(),
            criteria: criterion.to_owned(),
            required,
            pass,
            certified_by,
            missing,
            violations,
        }
    }

    fn edge(&self, i: usize) -> Edge<'_> {
        let a = self.entries[i].att.attestation();
        let mut criteria = BTreeSet::new();
        for c in &a.criteria {
            criteria.extend(self.policy.implied_by(c));
        }
        Edge {
            from: a
                .delta_from
                .as_ref()
                .map(|d| (d.version.as_str(), d.digest)),
            to: (a.version.as_str(), a.digest),
            criteria,
        }
    }

    fn digest_ok(&self, reviewed: Digest, artifact: Digest) -> bool {
        reviewed == artifact
            || (self.policy.accept_unknown_digests()
                && (reviewed == Digest::Unknown || artifact == Digest::Unknown))
    }

    /// Certified when a state produced by the jurisdiction's own review is the queried
    /// version at the artifact's digest.
    fn certifies(&self, r: &Reach<'_>, q: &Query) -> bool {
        r.states
            .iter()
            .any(|(&(v, d), &own)| own && v == q.version && self.digest_ok(d, q.digest))
    }

    fn diagnose(
        &self,
        j: &str,
        q: &Query,
        criterion: &str,
        edges: &[Edge<'_>],
        rejected: Option<&Vec<(usize, Rejection)>>,
    ) -> Vec<Why> {
        let mut out = Vec::new();
        for l in self.policy.logs() {
            if l.jurisdiction.as_deref() == Some(j) && self.equivocated.contains(l.origin()) {
                out.push(Why::LogEquivocated {
                    origin: l.origin().to_owned(),
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
        if edges.is_empty() {
            if out.is_empty() {
                out.push(Why::NoReview);
            }
            return out;
        }
        // Reach with any criteria: separates "wrong criteria" from "no chain at all".
        let any = reach(edges, None, &[]);
        let at_version = sorted_digests(
            any.states
                .keys()
                .filter(|(v, _)| *v == q.version)
                .map(|(_, d)| *d),
        );
        if at_version.iter().any(|d| self.digest_ok(*d, q.digest)) {
            // Which criteria do reach it?
            let mut names: BTreeSet<&str> = BTreeSet::new();
            for e in edges {
                names.extend(e.criteria.iter().map(String::as_str));
            }
            let certified: Vec<String> = names
                .into_iter()
                .filter(|c| {
                    let rc = reach(edges, Some(c), &[]);
                    self.certifies(&rc, q)
                })
                .map(str::to_owned)
                .collect();
            out.push(Why::InsufficientCriteria {
                required: criterion.to_owned(),
                certified,
            });
            return out;
        }
        if !at_version.is_empty() {
            out.push(Why::WrongDigest {
                reviewed: at_version,
                artifact: q.digest,
            });
            return out;
        }
        // Nothing reaches the version. Walk deltas backward from it to find the gap.
        let into_target = edges.iter().any(|e| e.to.0 == q.version);
        if !into_target {
            let reviewed: BTreeSet<String> = edges.iter().map(|e| describe_edge(e)).collect();
            out.push(Why::NoReviewOfVersion {
                reviewed: reviewed.into_iter().collect(),
            });
            return out;
        }
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut stack = vec![q.version.as_str()];
        while let Some(v) = stack.pop() {
            if !seen.insert(v) {
                continue;
            }
            for e in edges.iter().filter(|e| e.to.0 == v) {
                let Some((from, base_digest)) = e.from else {
                    continue;
                };
                let reached = sorted_digests(
                    any.states
                        .keys()
                        .filter(|(x, _)| *x == from)
                        .map(|(_, d)| *d),
                );
                if !reached.is_empty() {
                    // The base is certified, but not at this delta's base digest.
                    out.push(Why::ChainDigestMismatch {
                        delta: format!("{from} -> {v}"),
                        base_digest,
                        reviewed: reached,
                    });
                } else if !edges.iter().any(|x| x.to.0 == from) {
                    out.push(Why::ChainGap {
                        never_fully_reviewed: from.to_owned(),
                        delta: format!("{from} -> {v}"),
                    });
                } else {
                    stack.push(from);
                }
            }
        }
        out
    }
}

fn sorted_digests(it: impl Iterator<Item = Digest>) -> Vec<Digest> {
    let mut v: Vec<Digest> = it.collect();
    v.sort_by_key(ToString::to_string);
    v.dedup();
    v
}

fn describe_edge(e: &Edge<'_>) -> String {
    match e.from {
        Some((f, _)) => format!("{f} -> {}", e.to.0),
        None => e.to.0.to_owned(),
    }
}

/// Reachable (version, digest) states; the bool says whether the jurisdiction's own
/// review produced it (as opposed to a foreign base).
#[derive(Clone, Default)]
struct Reach<'a> {
    states: HashMap<(&'a str, Digest), bool>,
}

/// Digest compatibility along a chain: equal, or either side unknown (attestations with
/// unknown digests only get here when the policy accepts them).
fn chain_compatible(a: Digest, b: Digest) -> bool {
    a == b || a == Digest::Unknown || b == Digest::Unknown
}

fn reach<'a>(
    edges: &[Edge<'a>],
    criterion: Option<&str>,
    foreign: &[(&'a str, Digest)],
) -> Reach<'a> {
    let mut r = Reach::default();
    for s in foreign {
        r.states.insert(*s, false);
    }
    let carries = |e: &Edge<'_>| criterion.is_none_or(|c| e.criteria.contains(c));
    for e in edges.iter().filter(|e| e.from.is_none() && carries(e)) {
        r.states.insert(e.to, true);
    }
    let deltas: Vec<&Edge<'a>> = edges
        .iter()
        .filter(|e| e.from.is_some() && carries(e))
        .collect();
    let mut done = vec![false; deltas.len()];
    loop {
        let mut changed = false;
        for (k, e) in deltas.iter().enumerate() {
            if done[k] {
                continue;
            }
            let Some((fv, fd)) = e.from else { continue };
            let base = r
                .states
                .keys()
                .any(|&(v, d)| v == fv && chain_compatible(d, fd));
            if base {
                done[k] = true;
                let own = r.states.entry(e.to).or_insert(true);
                *own = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    r
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
