//! How a [`Report`] is shown: the cargo-style table and one JSON document (packages by
//! purl). The `gaps` work list is `crate::gaps`.

use std::fmt::Write as _;

use serde_json::json;

use super::{EntryVerdict, Report};
use crate::lockfile::Resolution;
use crate::policy::Policy;
use crate::quorum::PackageVerdict;

/// How much of the table to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Failing packages only, with reasons.
    FailuresOnly,
    /// Every package; reasons for failing ones; the entries not checked.
    Normal,
    /// Every package with every reason.
    Verbose,
}

fn label(e: &EntryVerdict, mixed: bool) -> String {
    if mixed {
        e.entry.id.purl()
    } else {
        format!("{} {}", e.entry.id.name(), e.entry.id.version())
    }
}

pub fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// `3 jurisdictions certify (2 needed): DE, FR, JP; missing CA`.
fn certify_line(v: &PackageVerdict) -> String {
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
    format!(
        "{n} {} certif{} ({} needed){by}{missing}",
        plural(n, "jurisdiction", "jurisdictions"),
        if n == 1 { "ies" } else { "y" },
        v.required
    )
}

fn explain(out: &mut String, v: &PackageVerdict, pad: &str, all: bool) {
    for r in &v.requirements {
        if !r.pass || all {
            let _ = writeln!(
                out,
                "{pad}requirement {}: {r}",
                if r.pass { "met" } else { "FAILED" }
            );
        }
    }
    for n in &v.notices {
        let _ = writeln!(out, "{pad}notice: {n}");
    }
    if !v.sealed_unrevealed.is_empty() {
        let _ = writeln!(
            out,
            "{pad}{}",
            crate::quorum::sealed_line(&v.sealed_unrevealed)
        );
    }
    for f in &v.violations {
        let _ = writeln!(
            out,
            "{pad}{} vetoes: {} violates {} for {}",
            f.jurisdiction,
            f.entry,
            f.criteria.join(", "),
            f.range
        );
    }
    if !v.pass || all {
        for m in &v.missing {
            for why in &m.reasons {
                let _ = writeln!(out, "{pad}{}: {why}", m.jurisdiction);
            }
        }
    }
}

/// The cargo-style table: the warnings first (unproven logs and why), then one status
/// line per entry (which jurisdictions certify it, which are missing; for an entry of
/// several files, how many are covered and each uncovered one), then why each missing
/// jurisdiction does not count; the entries that cannot be checked; then a summary line.
pub fn render_table(r: &Report, policy: &Policy, detail: Detail) -> String {
    let mut out = String::new();
    // Before the table: a log that is unproven explains every row it is missing from.
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let mixed = r.ecosystems().len() > 1;
    let width = r
        .entries
        .iter()
        .map(|e| label(e, mixed).len())
        .max()
        .unwrap_or(0);
    let pad = format!("{:>6} {:<width$}    ", "", "");
    let verbose = detail == Detail::Verbose;
    for e in &r.entries {
        if e.pass && detail == Detail::FailuresOnly {
            continue;
        }
        let id = label(e, mixed);
        let status = if e.pass { "ok" } else { "FAIL" };
        let accepted = if e.unknown_digest && e.pass {
            "; no digest in the lockfile: accepted by accept-unknown-digests"
        } else {
            ""
        };
        if e.files.len() == 1 {
            let f = &e.files[0];
            match f.verdict.map(|i| &r.verdicts[i]) {
                Some(v) => {
                    let _ = writeln!(
                        out,
                        "{status:>6} {id:<width$}  {}{accepted}",
                        certify_line(v)
                    );
                    if e.unknown_digest && !e.pass {
                        let _ = writeln!(out, "{pad}{}", e.reason.as_deref().unwrap_or_default());
                    }
                    explain(&mut out, v, &pad, verbose);
                }
                None => {
                    let _ = writeln!(
                        out,
                        "{status:>6} {id:<width$}  {}",
                        e.reason.as_deref().unwrap_or_default()
                    );
                }
            }
            continue;
        }
        let _ = writeln!(
            out,
            "{status:>6} {id:<width$}  {}/{} files covered",
            e.covered(),
            e.files.len()
        );
        for f in &e.files {
            if f.pass && !verbose {
                continue;
            }
            if let Some(u) = f.unusable.as_deref().filter(|_| !f.pass) {
                let _ = writeln!(out, "{pad}{}: not covered: {u}", f.label);
            } else if let Some(v) = f.verdict.map(|i| &r.verdicts[i]) {
                let _ = writeln!(
                    out,
                    "{pad}{}: {}{}",
                    f.label,
                    if f.pass { "" } else { "not covered: " },
                    certify_line(v)
                );
                explain(&mut out, v, &format!("{pad}  "), verbose);
            }
        }
    }
    if detail != Detail::FailuresOnly {
        for (p, n) in &r.not_checkable {
            let id = if mixed {
                p.id.purl()
            } else {
                format!("{} {}", p.id.name(), p.id.version())
            };
            let _ = writeln!(out, "{:>6} {id}: not reviewable: {n}", "skip");
        }
    }
    for b in &r.bundle {
        let _ = writeln!(out, "bundle: {b}");
    }
    let _ = writeln!(out, "{}", summary_line(r, policy));
    out
}

/// `   Checked 474 crates.io packages: all pass (3 of 5 jurisdictions required for
/// safe-to-deploy)` or `    Failed 473 of 474 npm packages lack a quorum (1 passes; 3 of 5
/// jurisdictions required for safe-to-deploy)`, then what passed without a digest and
/// what was not reviewable.
pub fn summary_line(r: &Report, policy: &Policy) -> String {
    let total = r.entries.len();
    let passed = r.passed();
    let failed = total - passed;
    let noun = r.noun();
    let noun = if total == 1 {
        noun.strip_suffix('s').unwrap_or(&noun).to_owned()
    } else {
        noun
    };
    let required = format!(
        "{} of {} jurisdictions required for {}",
        policy.review_quorum().max(1),
        policy.jurisdictions().len(),
        policy.criteria()
    );
    let head = if failed == 0 {
        format!(
            "   Checked {total} {noun}: {} ({required})",
            if total == 1 { "it passes" } else { "all pass" }
        )
    } else {
        format!(
            "    Failed {failed} of {total} {noun} {} a quorum ({passed} {}; {required})",
            if failed == 1 { "lacks" } else { "lack" },
            if passed == 1 { "passes" } else { "pass" }
        )
    };
    let unknown = r
        .entries
        .iter()
        .filter(|e| e.unknown_digest && e.pass)
        .count();
    let unknown = if unknown == 0 {
        String::new()
    } else {
        format!("; {unknown} passed without a digest (accept-unknown-digests)")
    };
    let skipped = if r.not_checkable.is_empty() {
        String::new()
    } else {
        format!(
            "; {} not reviewable (git, path, workspace, editable, link or other source), not checked",
            r.not_checkable.len()
        )
    };
    format!("{head}{unknown}{skipped}")
}

pub(crate) fn verdict_json(v: &PackageVerdict) -> serde_json::Value {
    json!({
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
            "sealed_at": f.sealed_at,
        })).collect::<Vec<_>>(),
        "requirements": v.requirements.iter().map(requirement_json).collect::<Vec<_>>(),
        "notices": v.notices.iter().map(|n| json!({
            "jurisdiction": n.jurisdiction,
            "evidence": n.evidence.as_str(),
            "entry": n.entry.to_string(),
            "text": n.text,
        })).collect::<Vec<_>>(),
        "sealed_unrevealed": v.sealed_unrevealed.len(),
        "sealed_unrevealed_by": v.sealed_unrevealed.iter().map(|c| json!({
            "jurisdiction": c.jurisdiction,
            "version": c.version,
        })).collect::<Vec<_>>(),
    })
}

/// One `require` line's outcome: which requirement, how many jurisdictions it needed and
/// got, what refused it, and its one-line explanation.
pub fn requirement_json(r: &crate::quorum::RequirementOutcome) -> serde_json::Value {
    json!({
        "criterion": r.criterion,
        "evidence": r.evidence.as_str(),
        "requirement": r.describe,
        "count": r.count,
        "needed": r.needed,
        "counted": r.counted,
        "pass": r.pass,
        "refused_by": r.refused_by.iter().map(|n| json!({
            "jurisdiction": n.jurisdiction,
            "entry": n.entry.to_string(),
            "what": n.what,
            "leaf_hash": n.leaf_hash,
        })).collect::<Vec<_>>(),
        "explanation": r.to_string(),
    })
}

fn entry_json(r: &Report, e: &EntryVerdict) -> serde_json::Value {
    let id = &e.entry.id;
    // The explaining verdict's fields at the top level (what a single-file entry is),
    // then the entry's own decision over every file.
    let mut o = match e.shown().map(|i| verdict_json(&r.verdicts[i])) {
        Some(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let digests_of = |label: &str| -> Vec<String> {
        match &e.entry.resolution {
            Resolution::Files(fs) => fs
                .iter()
                .find(|f| {
                    f.name.as_deref() == Some(label)
                        || f.digests.first().map(ToString::to_string).as_deref() == Some(label)
                })
                .map(|f| f.digests.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    };
    let files: Vec<serde_json::Value> = e
        .files
        .iter()
        .map(|f| {
            let mut fo = match f.verdict.map(|i| verdict_json(&r.verdicts[i])) {
                Some(serde_json::Value::Object(m)) => m,
                _ => serde_json::Map::new(),
            };
            fo.insert("file".into(), json!(f.label));
            fo.insert("digests".into(), json!(digests_of(&f.label)));
            fo.insert("pass".into(), json!(f.pass));
            if let Some(u) = &f.unusable {
                fo.insert("unusable".into(), json!(u));
            }
            serde_json::Value::Object(fo)
        })
        .collect();
    for (k, v) in [
        ("purl", json!(id.purl())),
        ("name", json!(id.name())),
        ("version", json!(id.version())),
        ("ecosystem", json!(id.ecosystem().attestation_name())),
        ("locator", json!(e.entry.locator)),
        ("pass", json!(e.pass)),
        ("reason", json!(e.reason)),
        ("unknown_digest", json!(e.unknown_digest)),
        ("files", json!(files)),
    ] {
        o.insert(k.into(), v);
    }
    serde_json::Value::Object(o)
}

/// One JSON document: `packages` (purl, name, version, pass, reason, files, and the
/// explaining verdict's certified_by/missing...), `not_checked`, `summary`, `warnings`.
pub fn render_json(r: &Report, policy: &Policy) -> serde_json::Value {
    json!({
        "policy": {
            "jurisdictions": policy.jurisdictions(),
            "quorum": policy.review_quorum().max(1),
            "criteria": policy.criteria(),
            "accept_unknown_digests": policy.accept_unknown_digests(),
        },
        "packages": r.entries.iter().map(|e| entry_json(r, e)).collect::<Vec<_>>(),
        "not_checked": r.not_checkable.iter().map(|(p, n)| json!({
            "purl": p.id.purl(),
            "name": p.id.name(),
            "version": p.id.version(),
            "locator": p.locator,
            "reason": n.to_string(),
        })).collect::<Vec<_>>(),
        "summary": {
            "checked": r.entries.len(),
            "pass": r.passed(),
            "fail": r.entries.len() - r.passed(),
            "not_checked": r.not_checkable.len(),
            "all_pass": r.all_pass(),
        },
        "warnings": r.warnings,
        "bundle": r.bundle,
    })
}
