//! The evidence part of the policy: what must stand behind a verdict beyond the review
//! quorum. Lines (specs/policy.md, "Evidence requirements"):
//!
//! ```text
//! require CRITERION EVIDENCE-KIND any|all|K [REVIEWER-KIND...] [partial]
//! exclude-reviewer-kind human|tool|llm-agent
//! accept-partial-scope no|yes
//! distrust LEAF-HASH
//! ```
//!
//! A policy without these lines decides exactly as before: only full-scope source reviews
//! by any reviewer kind make the quorum, and nothing else is required.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use quorate_proto::attestation::{EvidenceKind, ReviewerKind, Scope};

use super::parse::{once, parse_bool, parse_decimal};
use super::{Policy, PolicyError, check_criterion, err};

/// Most `require` lines and `distrust` lines a policy may hold.
pub const MAX_REQUIREMENTS: usize = 256;
pub const MAX_DISTRUSTED: usize = 65_536;

/// How many distinct jurisdictions a requirement needs, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// At least one.
    Any,
    /// Every jurisdiction the policy defines.
    All,
    /// At least K (1 ≤ K ≤ the number of jurisdictions).
    AtLeast(usize),
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Count::Any => f.write_str("any"),
            Count::All => f.write_str("all"),
            Count::AtLeast(k) => write!(f, "{k}"),
        }
    }
}

/// `require CRITERION EVIDENCE-KIND COUNT [REVIEWER-KIND...] [partial]`: certifying for
/// CRITERION (or anything that implies it) also needs COUNT distinct jurisdictions to hold
/// EVIDENCE-KIND for the exact release, from reviewers of the listed kinds (all kinds the
/// policy does not exclude when none are listed), full scope unless `partial` is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub criterion: String,
    pub evidence: EvidenceKind,
    pub count: Count,
    /// Reviewer kinds that count; empty = every kind the policy does not exclude.
    pub kinds: BTreeSet<ReviewerKind>,
    /// Whether partial-scope attestations count for it.
    pub partial: bool,
    /// The line it was written on (0 when built from text that did not come from a file).
    pub line: usize,
}

impl Requirement {
    /// Whether an attestation by a reviewer of `kind` may count (the policy's global
    /// exclusions are applied before this, to every attestation).
    pub fn counts_kind(&self, kind: ReviewerKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }

    /// Whether an attestation with this scope may count.
    pub fn counts_scope(&self, scope: Option<&Scope>) -> bool {
        match scope {
            Some(Scope::Full) => true,
            Some(Scope::Partial { .. }) => self.partial,
            None => false,
        }
    }

    /// The number of jurisdictions needed, given how many the policy defines.
    pub fn needed(&self, jurisdictions: usize) -> usize {
        match self.count {
            Count::Any => 1,
            Count::All => jurisdictions.max(1),
            Count::AtLeast(k) => k,
        }
    }

    /// `source-review by human` / `archive-matches-source` / `fuzzing by tool, partial allowed`.
    pub fn describe(&self) -> String {
        let mut s = self.evidence.as_str().to_owned();
        if !self.kinds.is_empty() {
            let k: Vec<&str> = self.kinds.iter().map(|k| k.as_str()).collect();
            s.push_str(&format!(" by {}", k.join(" or ")));
        }
        if self.partial {
            s.push_str(" (partial scope counts)");
        }
        s
    }

    /// The policy line, canonical.
    pub fn to_line(&self) -> String {
        let mut s = format!(
            "require {} {} {}",
            self.criterion, self.evidence, self.count
        );
        for k in &self.kinds {
            s.push(' ');
            s.push_str(k.as_str());
        }
        if self.partial {
            s.push_str(" partial");
        }
        s
    }
}

/// The evidence settings of a policy, filled by the parser. Equality ignores the line
/// numbers kept for error messages, so a policy equals its canonical text's parse.
#[derive(Debug, Clone, Default, Eq)]
pub struct EvidencePolicy {
    pub(super) requirements: Vec<Requirement>,
    /// Kind -> the line that excluded it.
    pub(super) excluded: BTreeMap<ReviewerKind, usize>,
    pub(super) accept_partial_scope: Option<bool>,
    /// Leaf hash -> the line that distrusts it.
    pub(super) distrusted: BTreeMap<[u8; 32], usize>,
}

impl PartialEq for EvidencePolicy {
    fn eq(&self, o: &Self) -> bool {
        let reqs = |p: &Self| -> Vec<Requirement> {
            p.requirements
                .iter()
                .map(|r| Requirement {
                    line: 0,
                    ..r.clone()
                })
                .collect()
        };
        reqs(self) == reqs(o)
            && self.excluded.keys().eq(o.excluded.keys())
            && self.accept_partial_scope == o.accept_partial_scope
            && self.distrusted.keys().eq(o.distrusted.keys())
    }
}

fn evidence_kind(line: usize, s: &str) -> Result<EvidenceKind, PolicyError> {
    EvidenceKind::parse(s).ok_or_else(|| {
        let known: Vec<&str> = EvidenceKind::ALL.iter().map(|k| k.as_str()).collect();
        err(
            line,
            format!("unknown evidence kind {s:?} (known: {})", known.join(", ")),
        )
    })
}

fn reviewer_kind(line: usize, s: &str) -> Result<ReviewerKind, PolicyError> {
    ReviewerKind::parse(s).ok_or_else(|| err(line, unknown_reviewer_kind(s, false)))
}

fn unknown_reviewer_kind(s: &str, or_option: bool) -> String {
    let known: Vec<&str> = ReviewerKind::ALL.iter().map(|k| k.as_str()).collect();
    if or_option {
        format!(
            "unknown reviewer kind or option {s:?} (reviewer kinds: {}; option: partial)",
            known.join(", ")
        )
    } else {
        format!("unknown reviewer kind {s:?} (known: {})", known.join(", "))
    }
}

/// A leaf hash as 64 hex digits (either case).
fn leaf_hash(line: usize, s: &str) -> Result<[u8; 32], PolicyError> {
    let bad = || {
        err(
            line,
            format!("distrust takes a log entry's leaf hash as 64 hex digits, got {s:?}"),
        )
    };
    if s.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

impl EvidencePolicy {
    /// Parses one of this part's lines; `Ok(false)` when `kw` is not one of them.
    pub(super) fn parse_line(
        &mut self,
        n: usize,
        kw: &str,
        args: &[&str],
    ) -> Result<bool, PolicyError> {
        match kw {
            "require" => {
                if args.len() < 3 {
                    return Err(err(
                        n,
                        format!(
                            "`require` takes CRITERION EVIDENCE-KIND any|all|K [REVIEWER-KIND...] [partial]; got {} argument(s)",
                            args.len()
                        ),
                    ));
                }
                check_criterion(args[0]).map_err(|m| err(n, m))?;
                let evidence = evidence_kind(n, args[1])?;
                if evidence == EvidenceKind::MaintainerChange {
                    return Err(err(
                        n,
                        "maintainer-change is informational: it is shown beside the verdict, never required or counted",
                    ));
                }
                let count = match args[2] {
                    "any" => Count::Any,
                    "all" => Count::All,
                    t => {
                        let k = parse_decimal(n, "the jurisdiction count", t)?;
                        if k == 0 {
                            return Err(err(
                                n,
                                "the jurisdiction count must be at least 1 (or `any`, `all`)",
                            ));
                        }
                        Count::AtLeast(usize::try_from(k).unwrap_or(usize::MAX))
                    }
                };
                let mut kinds = BTreeSet::new();
                let mut partial = false;
                for t in &args[3..] {
                    if *t == "partial" {
                        if partial {
                            return Err(err(n, "option `partial` is given twice"));
                        }
                        partial = true;
                        continue;
                    }
                    let k = ReviewerKind::parse(t)
                        .ok_or_else(|| err(n, unknown_reviewer_kind(t, true)))?;
                    if !kinds.insert(k) {
                        return Err(err(n, format!("reviewer kind {t:?} is listed twice")));
                    }
                }
                if let Some(prev) = self
                    .requirements
                    .iter()
                    .find(|r| r.criterion == args[0] && r.evidence == evidence)
                {
                    return Err(err(
                        n,
                        format!(
                            "duplicate requirement of {evidence} for {} (first on line {})",
                            args[0], prev.line
                        ),
                    ));
                }
                if self.requirements.len() == MAX_REQUIREMENTS {
                    return Err(err(n, format!("more than {MAX_REQUIREMENTS} requirements")));
                }
                self.requirements.push(Requirement {
                    criterion: args[0].to_owned(),
                    evidence,
                    count,
                    kinds,
                    partial,
                    line: n,
                });
            }
            "exclude-reviewer-kind" => {
                if args.len() != 1 {
                    return Err(err(
                        n,
                        format!(
                            "`exclude-reviewer-kind` takes human|tool|llm-agent; got {} argument(s)",
                            args.len()
                        ),
                    ));
                }
                let k = reviewer_kind(n, args[0])?;
                if let Some(prev) = self.excluded.insert(k, n) {
                    return Err(err(
                        n,
                        format!("reviewer kind {k} is already excluded on line {prev}"),
                    ));
                }
            }
            "accept-partial-scope" => {
                if args.len() != 1 {
                    return Err(err(
                        n,
                        format!(
                            "`accept-partial-scope` takes no|yes; got {} argument(s)",
                            args.len()
                        ),
                    ));
                }
                once(&self.accept_partial_scope, n, kw)?;
                self.accept_partial_scope = Some(parse_bool(n, kw, args[0])?);
            }
            "distrust" => {
                if args.len() != 1 {
                    return Err(err(
                        n,
                        format!("`distrust` takes LEAF-HASH; got {} argument(s)", args.len()),
                    ));
                }
                let h = leaf_hash(n, args[0])?;
                if let Some(prev) = self.distrusted.get(&h) {
                    return Err(err(
                        n,
                        format!("leaf hash {} is already distrusted on line {prev}", args[0]),
                    ));
                }
                if self.distrusted.len() == MAX_DISTRUSTED {
                    return Err(err(n, format!("more than {MAX_DISTRUSTED} distrust lines")));
                }
                self.distrusted.insert(h, n);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Rules between lines, checked once the whole file is read.
    pub(super) fn finish(&self, jurisdictions: usize) -> Result<(), PolicyError> {
        if self.excluded.len() == ReviewerKind::ALL.len() {
            let last = self.excluded.values().max().copied().unwrap_or(0);
            return Err(err(
                last,
                "every reviewer kind is excluded: no attestation could ever count",
            ));
        }
        for r in &self.requirements {
            if let Count::AtLeast(k) = r.count
                && k > jurisdictions
            {
                return Err(err(
                    r.line,
                    format!(
                        "requirement count {k} is out of range: the policy defines {jurisdictions} jurisdiction(s)"
                    ),
                ));
            }
            if jurisdictions == 0 {
                return Err(err(
                    r.line,
                    "`require` needs review logs: evidence is counted per jurisdiction",
                ));
            }
            if let Some((k, line)) = r
                .kinds
                .iter()
                .find_map(|k| self.excluded.get(k).map(|l| (k, l)))
            {
                return Err(err(
                    r.line,
                    format!(
                        "reviewer kind {k} is excluded by `exclude-reviewer-kind` on line {line}, so it can never count here"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The canonical lines, in the order [`Policy::to_text`] writes them.
    pub(super) fn to_text(&self, o: &mut String) {
        for k in self.excluded.keys() {
            o.push_str(&format!("exclude-reviewer-kind {k}\n"));
        }
        if let Some(b) = self.accept_partial_scope {
            o.push_str(&format!(
                "accept-partial-scope {}\n",
                if b { "yes" } else { "no" }
            ));
        }
        for r in &self.requirements {
            o.push_str(&r.to_line());
            o.push('\n');
        }
        for h in self.distrusted.keys() {
            let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
            o.push_str(&format!("distrust {hex}\n"));
        }
    }
}

impl Policy {
    /// Every `require` line, in file order.
    pub fn requirements(&self) -> &[Requirement] {
        &self.evidence.requirements
    }

    /// The requirements that apply when certifying for `criterion`: those of every
    /// criterion it implies (certifying for it certifies for those too).
    pub fn requirements_for(&self, criterion: &str) -> Vec<&Requirement> {
        let closure = self.implied_by(criterion);
        self.evidence
            .requirements
            .iter()
            .filter(|r| closure.contains(&r.criterion))
            .collect()
    }

    /// Whether attestations by reviewers of this kind are excluded everywhere.
    pub fn excludes_kind(&self, kind: ReviewerKind) -> bool {
        self.evidence.excluded.contains_key(&kind)
    }

    /// Whether partial-scope source reviews count toward the review quorum.
    pub fn accept_partial_scope(&self) -> bool {
        self.evidence.accept_partial_scope.unwrap_or(false)
    }

    /// Whether the policy distrusts the log entry with this leaf hash.
    pub fn distrusts(&self, leaf_hash: &[u8; 32]) -> bool {
        self.evidence.distrusted.contains_key(leaf_hash)
    }
}
