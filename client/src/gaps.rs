//! `quorate gaps`: the review work list. Releases without a quorum, ranked as
//! `cargo vet suggest` ranks them (most depended-upon first, since one review there
//! closes the most gaps), each with the cheapest review per missing jurisdiction: a
//! delta from the nearest lower version that jurisdiction already certifies (the base
//! named), else a full review.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use quorate_proto::attestation::Digest;
use serde_json::json;

use crate::check::{Report, top_reason};

/// The cheapest review that would bring one missing jurisdiction in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proposal {
    /// A delta review from `from` (already certified by the jurisdiction, at `digest`).
    Delta { from: String, digest: Digest },
    /// No lower version is certified there: a full review.
    Full,
}

/// One line of the work list.
#[derive(Debug, Clone)]
pub struct Gap {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
    /// Jurisdictions still needed to reach the quorum.
    pub needed: usize,
    pub missing: Vec<String>,
    /// Packages of the lockfile that depend on it, directly or not.
    pub dependents: usize,
    pub top_reason: String,
    /// Per missing jurisdiction, the cheapest review.
    pub proposals: Vec<(String, Proposal)>,
}

/// The nearest version below `version` among `certified` (semver order; versions that do
/// not parse are not proposed as bases).
fn nearest_base(version: &str, certified: &[(String, Digest)]) -> Option<(String, Digest)> {
    let target = semver::Version::parse(version).ok()?;
    certified
        .iter()
        .filter_map(|(v, d)| Some((semver::Version::parse(v).ok()?, v, d)))
        .filter(|(p, _, _)| *p < target)
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, v, d)| (v.clone(), *d))
}

/// Releases without quorum: most dependents first, then most jurisdictions short, then
/// by name and version. `dependents` comes from [`crate::dependents::count`].
pub fn gaps(r: &Report, dependents: &BTreeMap<(String, String), usize>) -> Vec<Gap> {
    let none = BTreeMap::new();
    let mut out: Vec<Gap> = r
        .verdicts
        .iter()
        .filter(|v| !v.pass)
        .map(|v| {
            let q = &v.query;
            let needed = v.required.saturating_sub(v.certified_by.len());
            let top = if !v.vetoed_by().is_empty() {
                format!("vetoed by {}", v.vetoed_by().join(", "))
            } else {
                v.missing
                    .first()
                    .map(|m| format!("{}: {}", m.jurisdiction, top_reason(&m.reasons)))
                    .unwrap_or_default()
            };
            let bases = r
                .bases
                .get(&(q.ecosystem.clone(), q.package.clone()))
                .unwrap_or(&none);
            let proposals = v
                .missing
                .iter()
                .map(|m| {
                    let p = match bases
                        .get(&m.jurisdiction)
                        .and_then(|c| nearest_base(&q.version, c))
                    {
                        Some((from, digest)) => Proposal::Delta { from, digest },
                        None => Proposal::Full,
                    };
                    (m.jurisdiction.clone(), p)
                })
                .collect();
            Gap {
                ecosystem: q.ecosystem.clone(),
                name: q.package.clone(),
                version: q.version.clone(),
                needed,
                missing: v.missing.iter().map(|m| m.jurisdiction.clone()).collect(),
                dependents: dependents
                    .get(&(q.package.clone(), q.version.clone()))
                    .copied()
                    .unwrap_or(0),
                top_reason: top,
                proposals,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.dependents
            .cmp(&a.dependents)
            .then(b.needed.cmp(&a.needed))
            .then(b.missing.len().cmp(&a.missing.len()))
            .then(a.name.cmp(&b.name))
            .then(a.version.cmp(&b.version))
    });
    out
}

fn describe(version: &str, p: &Proposal) -> String {
    match p {
        Proposal::Delta { from, .. } => {
            format!("delta review {from} -> {version} (certified {from} already)")
        }
        Proposal::Full => format!("full review of {version} (no lower version certified)"),
    }
}

/// The table: warnings (unreachable logs) first, then one line per release and one per
/// proposed review, then a summary line.
pub fn render(warnings: &[String], gs: &[Gap]) -> String {
    let mut out = String::new();
    for w in warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let w = gs
        .iter()
        .map(|g| g.name.len() + g.version.len() + 1)
        .max()
        .unwrap_or(0);
    for g in gs {
        let id = format!("{} {}", g.name, g.version);
        let _ = writeln!(
            out,
            "{id:<w$}  needs {} more (missing: {}); {} {} on it  {}",
            g.needed,
            g.missing.join(", "),
            g.dependents,
            if g.dependents == 1 {
                "package depends"
            } else {
                "packages depend"
            },
            g.top_reason
        );
        for (j, p) in &g.proposals {
            let _ = writeln!(out, "{:w$}    {j}: {}", "", describe(&g.version, p));
        }
    }
    let crates: BTreeSet<&str> = gs.iter().map(|g| g.name.as_str()).collect();
    let _ = writeln!(
        out,
        "{} {} ({} {}) {} a quorum",
        gs.len(),
        if gs.len() == 1 { "release" } else { "releases" },
        crates.len(),
        if crates.len() == 1 { "crate" } else { "crates" },
        if gs.len() == 1 { "lacks" } else { "lack" }
    );
    out
}

/// One JSON document: `warnings`, `gaps` (in rank order) and `summary`.
pub fn render_json(warnings: &[String], gs: &[Gap]) -> serde_json::Value {
    let crates: BTreeSet<&str> = gs.iter().map(|g| g.name.as_str()).collect();
    json!({
        "warnings": warnings,
        "gaps": gs.iter().map(|g| json!({
            "ecosystem": g.ecosystem,
            "name": g.name,
            "version": g.version,
            "needed": g.needed,
            "missing": g.missing,
            "dependents": g.dependents,
            "reason": g.top_reason,
            "proposals": g.proposals.iter().map(|(j, p)| match p {
                Proposal::Delta { from, digest } => json!({
                    "jurisdiction": j, "review": "delta", "from": from,
                    "from_digest": digest.to_string(),
                }),
                Proposal::Full => json!({"jurisdiction": j, "review": "full"}),
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "summary": {"releases": gs.len(), "crates": crates.len()},
    })
}
