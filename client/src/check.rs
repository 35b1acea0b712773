//! `quorate check`, `gaps` and `export`: evaluate every crates.io package of a lockfile
//! and present the verdicts (a cargo-style table, JSON, or a ranked work list).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use serde_json::json;

use crate::lockfile::{LockPackage, Lockfile, NotCheckable};
use crate::policy::Policy;
use quorate_proto::attestation::Digest;

use crate::quorum::{Evaluator, PackageVerdict, Query, Why};

pub const CRATES_IO: &str = "crates.io";

/// What a lockfile asks about.
#[derive(Debug, Clone, Default)]
pub struct Queries {
    pub queries: Vec<Query>,
    pub not_checkable: Vec<(LockPackage, NotCheckable)>,
}

impl Queries {
    pub fn from_lockfile(lock: &Lockfile) -> Queries {
        let mut q = Queries::default();
        let mut seen = HashSet::new();
        for p in &lock.packages {
            match p.checkable() {
                Ok(digest) => {
                    if seen.insert((p.name.clone(), p.version.clone())) {
                        q.queries.push(Query {
                            ecosystem: CRATES_IO.into(),
                            package: p.name.clone(),
                            version: p.version.clone(),
                            digest,
                        });
                    }
                }
                Err(n) => q.not_checkable.push((p.clone(), n)),
            }
        }
        q
    }

    /// The (ecosystem, package) pairs to load entries for.
    pub fn wanted(&self) -> HashSet<(String, String)> {
        self.queries
            .iter()
            .map(|q| (q.ecosystem.clone(), q.package.clone()))
            .collect()
    }
}

/// All verdicts for a lockfile.
#[derive(Debug, Clone)]
pub struct Report {
    pub verdicts: Vec<PackageVerdict>,
    pub not_checkable: Vec<(LockPackage, NotCheckable)>,
    pub warnings: Vec<String>,
    /// From a bundle: what it cannot prove, and who vouches for its completeness.
    pub bundle: Vec<String>,
    /// For each failing package (ecosystem, name): per jurisdiction, the versions (and
    /// digests) it already certifies, the bases a delta review can start from.
    pub bases: BTreeMap<(String, String), CertifiedStates>,
}

/// Per jurisdiction, the (version, digest) states it certifies (see
/// [`Evaluator::certified_states`]).
pub type CertifiedStates = BTreeMap<String, Vec<(String, Digest)>>;

impl Report {
    pub fn evaluate(ev: &Evaluator<'_>, q: &Queries, now: u64, warnings: Vec<String>) -> Report {
        let verdicts: Vec<PackageVerdict> = q.queries.iter().map(|x| ev.evaluate(x, now)).collect();
        let mut bases = BTreeMap::new();
        for v in verdicts.iter().filter(|v| !v.pass) {
            let k = (v.query.ecosystem.clone(), v.query.package.clone());
            if let std::collections::btree_map::Entry::Vacant(e) = bases.entry(k) {
                let (eco, pkg) = e.key().clone();
                e.insert(ev.certified_states(&eco, &pkg, now));
            }
        }
        Report {
            verdicts,
            not_checkable: q.not_checkable.clone(),
            warnings,
            bundle: Vec::new(),
            bases,
        }
    }

    pub fn all_pass(&self) -> bool {
        self.verdicts.iter().all(|v| v.pass)
    }

    pub fn passed(&self) -> usize {
        self.verdicts.iter().filter(|v| v.pass).count()
    }
}

/// The first (most telling) reason a jurisdiction is missing.
pub fn top_reason(reasons: &[Why]) -> String {
    // Structural reasons come last in the list; a rejection is usually what to fix first.
    reasons
        .first()
        .map(ToString::to_string)
        .unwrap_or_else(|| "no reason recorded".into())
}

/// How much of the table to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Failing packages only, with reasons.
    FailuresOnly,
    /// Every package; reasons for failing ones.
    Normal,
    /// Every package with every reason, and the packages not checked.
    Verbose,
}

/// The cargo-style table: the warnings first (unproven logs and why), then one status
/// line per package (which jurisdictions certify it, which are missing), then why each
/// missing jurisdiction does not count; then a summary line.
pub fn render_table(r: &Report, policy: &Policy, detail: Detail) -> String {
    let mut out = String::new();
    // Before the table: a log that is unproven explains every row it is missing from.
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let width = r
        .verdicts
        .iter()
        .map(|v| v.query.package.len() + v.query.version.len() + 1)
        .max()
        .unwrap_or(0);
    for v in &r.verdicts {
        if v.pass && detail == Detail::FailuresOnly {
            continue;
        }
        let id = format!("{} {}", v.query.package, v.query.version);
        let status = if v.pass { "ok" } else { "FAIL" };
        let by = if v.certified_by.is_empty() {
            String::new()
        } else {
            format!(": {}", v.certified_by.join(", "))
        };
        let missing = if v.missing.is_empty() {
            String::new()
        } else {
            format!(
                "; missing {}",
                v.missing
                    .iter()
                    .map(|m| m.jurisdiction.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let n = v.certified_by.len();
        let _ = writeln!(
            out,
            "{status:>6} {id:<width$}  {n} {} certif{} ({} needed){by}{missing}",
            plural(n, "jurisdiction", "jurisdictions"),
            if n == 1 { "ies" } else { "y" },
            v.required
        );
        for f in &v.violations {
            let _ = writeln!(
                out,
                "{:>6} {:<width$}    {} vetoes: {} violates {} for {}",
                "",
                "",
                f.jurisdiction,
                f.entry,
                f.criteria.join(", "),
                f.range
            );
        }
        if !v.pass || detail == Detail::Verbose {
            for m in &v.missing {
                for why in &m.reasons {
                    let _ = writeln!(out, "{:>6} {:<width$}    {}: {why}", "", "", m.jurisdiction);
                }
            }
        }
    }
    for (p, n) in &r.not_checkable {
        if detail == Detail::Verbose {
            let _ = writeln!(out, "{:>6} {} {}: {n}", "skip", p.name, p.version);
        }
    }
    for b in &r.bundle {
        let _ = writeln!(out, "bundle: {b}");
    }
    let _ = writeln!(out, "{}", summary_line(r, policy));
    out
}

/// `   Checked 474 packages: all pass (3 of 5 jurisdictions required for
/// safe-to-deploy)` or `    Failed 473 of 474 packages lack a quorum (1 passes; 3 of 5
/// jurisdictions required for safe-to-deploy)`.
pub fn summary_line(r: &Report, policy: &Policy) -> String {
    let total = r.verdicts.len();
    let passed = r.passed();
    let failed = total - passed;
    let required = format!(
        "{} of {} jurisdictions required for {}",
        policy.review_quorum().max(1),
        policy.jurisdictions().len(),
        policy.criteria()
    );
    let head = if failed == 0 {
        format!(
            "   Checked {total} {}: {} ({required})",
            plural(total, "package", "packages"),
            if total == 1 { "it passes" } else { "all pass" }
        )
    } else {
        format!(
            "    Failed {failed} of {total} {} {} a quorum ({passed} {}; {required})",
            plural(total, "package", "packages"),
            if failed == 1 { "lacks" } else { "lack" },
            if passed == 1 { "passes" } else { "pass" }
        )
    };
    let skipped = if r.not_checkable.is_empty() {
        String::new()
    } else {
        format!(
            "; {} not from crates.io or without checksum, not checked",
            r.not_checkable.len()
        )
    };
    format!("{head}{skipped}")
}

pub(crate) fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

fn verdict_json(v: &PackageVerdict) -> serde_json::Value {
    json!({
        "name": v.query.package,
        "version": v.query.version,
        "ecosystem": v.query.ecosystem,
        "digest": v.query.digest.to_string(),
        "criteria": v.criteria,
        "pass": v.pass,
        "required": v.required,
        "certified_by": v.certified_by,
        "missing": v.missing.iter().map(|m| json!({
            "jurisdiction": m.jurisdiction,
            "reasons": m.reasons.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "violations": v.violations.iter().map(|f| json!({
            "jurisdiction": f.jurisdiction,
            "entry": f.entry.to_string(),
            "range": f.range,
            "criteria": f.criteria,
            "blocking": f.blocking,
        })).collect::<Vec<_>>(),
    })
}

/// One JSON document: `packages` (name, version, pass, certified_by, missing...),
/// `not_checked`, `summary`, `warnings`.
pub fn render_json(r: &Report, policy: &Policy) -> serde_json::Value {
    json!({
        "policy": {
            "jurisdictions": policy.jurisdictions(),
            "quorum": policy.review_quorum().max(1),
            "criteria": policy.criteria(),
        },
        "packages": r.verdicts.iter().map(verdict_json).collect::<Vec<_>>(),
        "not_checked": r.not_checkable.iter().map(|(p, n)| json!({
            "name": p.name, "version": p.version, "reason": n.to_string(),
        })).collect::<Vec<_>>(),
        "summary": {
            "checked": r.verdicts.len(),
            "pass": r.passed(),
            "fail": r.verdicts.len() - r.passed(),
            "not_checked": r.not_checkable.len(),
            "all_pass": r.all_pass(),
        },
        "warnings": r.warnings,
        "bundle": r.bundle,
    })
}
