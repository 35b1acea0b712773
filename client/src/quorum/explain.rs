//! What an evaluation says: why a jurisdiction does not count, why an attestation was
//! set aside, which violations matched; and how each is printed.

use std::collections::BTreeSet;
use std::fmt;

use quorate_proto::attestation::{Digest, EvidenceKind, ReviewerKind, SupersedeKind};

use super::{NotProven, Query};

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
    /// The jurisdiction's log could not be mirrored now; `cached_size`: an older
    /// checkpoint's entries were used instead (absent: nothing from the log was seen).
    LogUnreachable {
        origin: String,
        why: String,
        cached_size: Option<u64>,
    },
    /// It certifies only with a reviewer key that another jurisdiction also carries for
    /// this package, and the key is counted there (one key, one vote).
    KeyCountedElsewhere {
        reviewer: String,
        /// The first 8 bytes of the key, hex.
        key: String,
        counted_for: String,
        /// Decided by the bounded greedy pass, not the exhaustive search.
        greedy: bool,
    },
}

/// A short, stable name for a reviewer key: its first 8 bytes in hex.
pub fn key_id(k: &[u8; 32]) -> String {
    k[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a single attestation does not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    NotIncluded(NotProven),
    TooFewWitnesses {
        cosigned: Vec<String>,
    },
    StaleCheckpoint {
        age: u64,
        max: u64,
    },
    LogEquivocated,
    Withdrawn {
        by: String,
        kind: SupersedeKind,
    },
    UntrustedReviewer,
    /// The policy pins the reviewer key to another jurisdiction (`reviewer J KEY`).
    PinnedElsewhere {
        jurisdiction: String,
    },
    UnknownDigest,
    /// The policy distrusts this very entry (`distrust LEAF-HASH`).
    Distrusted,
    /// The policy excludes attestations by reviewers of this kind (`exclude-reviewer-kind`).
    ExcludedReviewerKind(ReviewerKind),
    /// A reveal that does not open its sealed commitment (or whose commitment does not
    /// count): it counts for nothing.
    BadReveal {
        reason: String,
    },
    /// The same reviewer key had sealed a violation of this release before certifying it,
    /// and has revealed it: the certification was made while the key knew otherwise.
    CertifiedAfterSealing {
        commitment: String,
    },
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
            Rejection::PinnedElsewhere { jurisdiction } => write!(
                f,
                "reviewer key is pinned to {jurisdiction} by the policy; a key counts for one jurisdiction"
            ),
            Rejection::UnknownDigest => {
                f.write_str("records no digest, and the policy does not accept unknown digests")
            }
            Rejection::Distrusted => f.write_str("the policy distrusts this entry (distrust line)"),
            Rejection::ExcludedReviewerKind(k) => write!(
                f,
                "made by a reviewer of kind {k}, which the policy excludes"
            ),
            Rejection::BadReveal { reason } => {
                write!(f, "reveal refused: {reason}; it counts for nothing")
            }
            Rejection::CertifiedAfterSealing { commitment } => write!(
                f,
                "certified after the same key sealed a violation of it ({commitment}), since revealed"
            ),
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
            Why::LogUnreachable {
                origin,
                why,
                cached_size,
            } => match cached_size {
                None => write!(
                    f,
                    "log unreachable: {origin} could not be mirrored ({why}), so its reviews are unknown"
                ),
                Some(n) => write!(
                    f,
                    "log unreachable: {origin} could not be refreshed ({why}); decided from its cached checkpoint of size {n}"
                ),
            },
            Why::LogEquivocated { origin } => {
                write!(f, "log {origin} equivocated: nothing from it counts")
            }
            Why::KeyCountedElsewhere {
                reviewer,
                key,
                counted_for,
                greedy,
            } => write!(
                f,
                "reviewer {reviewer:?} (key {key}) also reviews this package for {counted_for}; \
                 one key counts for one jurisdiction per package, and it counts for {counted_for}{}",
                if *greedy {
                    " (too many shared keys to search every assignment: settled in jurisdiction order)"
                } else {
                    ""
                }
            ),
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
    /// A revealed violation: where its sealed commitment was logged, which dates it.
    pub sealed_at: Option<String>,
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
    /// When it passes: the attestations the certifying jurisdictions' chains to the
    /// release are made of (empty when it fails).
    pub counted: Vec<super::Counted>,
    /// Each `require` line that applies to the criterion, and how it fared.
    pub requirements: Vec<RequirementOutcome>,
    /// Facts about the release that decide nothing by themselves (maintainer changes,
    /// benchmark deltas, fuzzing, evidence not required by the policy).
    pub notices: Vec<Notice>,
    /// Sealed commitments against the package (any version) not yet revealed: shown as a
    /// count, since their content is hidden.
    pub sealed_unrevealed: Vec<SealedCommitment>,
}

/// One `require` line, evaluated for a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementOutcome {
    /// The criterion the line names.
    pub criterion: String,
    pub evidence: EvidenceKind,
    /// The evidence kind with its reviewer kinds and scope option (`source-review by human`).
    pub describe: String,
    /// As written: `any`, `all` or K.
    pub count: String,
    pub needed: usize,
    /// The jurisdictions whose evidence counts (one key, one vote).
    pub counted: Vec<String>,
    /// Negative evidence of this kind about the exact file, from any jurisdiction.
    pub refused_by: Vec<NegativeEvidence>,
    /// The attestations the counted jurisdictions' evidence is made of (named in VSAs).
    pub inputs: Vec<super::Counted>,
    pub pass: bool,
}

impl fmt::Display for RequirementOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.counted.len();
        if let Some(neg) = self.refused_by.first() {
            return write!(
                f,
                "{}: {}: refused: {} logged {}, by {:?} in {}{}",
                self.criterion,
                self.describe,
                neg.jurisdiction,
                neg.what,
                neg.entry.reviewer,
                neg.entry.origin,
                if self.refused_by.len() > 1 {
                    format!(" and {} more", self.refused_by.len() - 1)
                } else {
                    String::new()
                }
            );
        }
        write!(
            f,
            "{}: {}: {n} of {} {} (required {}){}",
            self.criterion,
            self.describe,
            self.needed,
            if self.needed == 1 {
                "jurisdiction"
            } else {
                "jurisdictions"
            },
            self.count,
            if self.counted.is_empty() {
                String::new()
            } else {
                format!(": {}", self.counted.join(", "))
            }
        )
    }
}

/// Evidence that the release is not what its source says (an archive that differs from
/// its tagged source, a failed rebuild).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegativeEvidence {
    pub jurisdiction: String,
    pub entry: EntryRef,
    /// `that the archive differs from its source (1 path: build-to-host.m4)`.
    pub what: String,
    pub leaf_hash: String,
}

/// A fact shown beside the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub jurisdiction: String,
    pub evidence: EvidenceKind,
    pub entry: EntryRef,
    pub text: String,
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {} ({})",
            self.evidence, self.jurisdiction, self.text, self.entry
        )
    }
}

/// A sealed commitment without a verified reveal: who sealed, which version, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedCommitment {
    pub jurisdiction: String,
    pub version: String,
    pub origin: String,
    pub index: Option<u64>,
}

impl PackageVerdict {
    /// The requirements that do not hold.
    pub fn failed_requirements(&self) -> impl Iterator<Item = &RequirementOutcome> {
        self.requirements.iter().filter(|r| !r.pass)
    }

    /// Whether the review quorum alone (before `require` lines) is met.
    pub fn quorum_met(&self) -> bool {
        self.certified_by.len() >= self.required
    }

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
        let n = self.certified_by.len();
        writeln!(
            f,
            "{} {}/{}@{} ({}): {n} {} {} {} ({} needed){}",
            if self.pass { "PASS" } else { "FAIL" },
            q.ecosystem,
            q.package,
            q.version,
            q.digest,
            if n == 1 {
                "jurisdiction"
            } else {
                "jurisdictions"
            },
            if n == 1 { "certifies" } else { "certify" },
            self.criteria,
            self.required,
            if self.certified_by.is_empty() {
                String::new()
            } else {
                format!(": {}", self.certified_by.join(", "))
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
        for r in &self.requirements {
            writeln!(
                f,
                "  requirement {}: {r}",
                if r.pass { "met" } else { "FAILED" }
            )?;
        }
        for n in &self.notices {
            writeln!(f, "  notice: {n}")?;
        }
        if !self.sealed_unrevealed.is_empty() {
            writeln!(f, "  {}", sealed_line(&self.sealed_unrevealed))?;
        }
        for m in &self.missing {
            for r in &m.reasons {
                writeln!(f, "  {}: {r}", m.jurisdiction)?;
            }
        }
        Ok(())
    }
}

/// `2 sealed commitments not yet revealed (DE: 1.0.0; FR: 1.0.0); content hidden until revealed`.
pub fn sealed_line(s: &[SealedCommitment]) -> String {
    let who: Vec<String> = s
        .iter()
        .map(|c| format!("{}: {}", c.jurisdiction, c.version))
        .collect();
    format!(
        "{} sealed commitment{} not yet revealed ({}); content hidden until revealed",
        s.len(),
        if s.len() == 1 { "" } else { "s" },
        who.join("; ")
    )
}
