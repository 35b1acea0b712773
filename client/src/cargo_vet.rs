//! cargo-vet `audits.toml` import (each audit becomes a Quorate [`Attestation`] to sign and
//! publish) and export (quorum-certified releases as an `audits.toml` cargo-vet can
//! import).
//!
//! Import mapping, per `[[audits.NAME]]` entry:
//!
//! | cargo-vet | attestation |
//! |---|---|
//! | `version = "v"` | `version` v, full review |
//! | `delta = "a -> b"` | `version` b, `delta_from` a |
//! | `violation = "<range>"` | verdict `Violation { range }`; `version` is the range without spaces (the proto requires one; evaluation ignores it) |
//! | `criteria` (string or list) | `criteria`, duplicates dropped |
//! | `who` (string or list, optional) | `reviewer.name` (joined with ", "; the organisation when absent), key from the caller |
//! | `notes` | `notes` (truncated to the proto limit) |
//! | `aggregated-from` | `links` (http(s) URLs only) |
//! | `importable = false` | skipped: the organisation did not want it shared |
//!
//! Digests come from the caller's `(name, version) -> checksum` map (e.g. a Cargo.lock);
//! otherwise `Digest::Unknown`. `wildcard-audits` and `trusted` entries vouch for
//! publishers, not releases, and are counted but not converted.

use std::collections::{BTreeMap, BTreeSet};

use quorate_proto::attestation::{
    Attestation, DeltaBase, Digest, Evidence, MAX_LINKS, MAX_NOTES_BYTES, MAX_REVIEWER_NAME_BYTES,
    Reviewer, ReviewerKind, Scope, Verdict,
};
use serde::{Deserialize, Serialize};

use crate::policy::{Policy, SAFE_TO_DEPLOY, SAFE_TO_RUN};
use crate::quorum::PackageVerdict;

/// Files larger than this are refused unread.
pub const MAX_AUDITS_BYTES: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditsError {
    #[error("audits.toml is {0} bytes, over the {MAX_AUDITS_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("audits.toml: {0}")]
    Toml(String),
}

/// A string or a list of strings (cargo-vet accepts both for `who`, `criteria`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// One `[[audits.NAME]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuditEntry {
    pub who: Option<OneOrMany>,
    pub criteria: OneOrMany,
    pub version: Option<String>,
    pub delta: Option<String>,
    pub violation: Option<String>,
    pub notes: Option<String>,
    pub importable: Option<bool>,
    pub aggregated_from: Option<OneOrMany>,
}

/// One `[criteria.NAME]` definition.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CriteriaDef {
    pub description: Option<String>,
    pub description_url: Option<String>,
    pub implies: Option<OneOrMany>,
    pub aggregated_from: Option<OneOrMany>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawAudits {
    #[serde(default)]
    criteria: BTreeMap<String, CriteriaDef>,
    #[serde(default)]
    wildcard_audits: BTreeMap<String, Vec<toml::Value>>,
    #[serde(default)]
    audits: BTreeMap<String, Vec<AuditEntry>>,
    #[serde(default)]
    trusted: BTreeMap<String, Vec<toml::Value>>,
}

/// A parsed `audits.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditsFile {
    pub criteria: BTreeMap<String, CriteriaDef>,
    pub audits: BTreeMap<String, Vec<AuditEntry>>,
    /// Number of `[[wildcard-audits.*]]` entries (not converted).
    pub wildcard_audits: usize,
    /// Number of `[[trusted.*]]` entries (not converted).
    pub trusted: usize,
}

impl AuditsFile {
    pub fn parse(text: &str) -> Result<AuditsFile, AuditsError> {
        if text.len() > MAX_AUDITS_BYTES {
            return Err(AuditsError::TooLarge(text.len()));
        }
        let raw: RawAudits = toml::from_str(text).map_err(|e| AuditsError::Toml(e.to_string()))?;
        Ok(AuditsFile {
            criteria: raw.criteria,
            audits: raw.audits,
            wildcard_audits: raw.wildcard_audits.values().map(Vec::len).sum(),
            trusted: raw.trusted.values().map(Vec::len).sum(),
        })
    }

    /// Number of `[[audits.*]]` entries.
    pub fn audit_count(&self) -> usize {
        self.audits.values().map(Vec::len).sum()
    }

    /// The file's custom implications (`[criteria.A] implies = B`), as policy `implies`
    /// lines would state them.
    pub fn implications(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, def) in &self.criteria {
            for b in def.implies.iter().flat_map(OneOrMany::to_vec) {
                out.push((name.clone(), b));
            }
        }
        out
    }
}

/// What the caller supplies for an import.
#[derive(Debug, Clone)]
pub struct ImportOptions<'a> {
    /// `organisation` of every attestation (informational: never decides jurisdiction).
    pub organisation: String,
    /// The signing key's public half (`reviewer.public_key`).
    pub reviewer_key: [u8; 32],
    /// `time` of every attestation (POSIX seconds).
    pub time: u64,
    /// Known archive digests, `(name, version) -> checksum`.
    pub digests: &'a BTreeMap<(String, String), Digest>,
}

/// An audit that was not converted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub package: String,
    /// 1-based position among the package's `[[audits.NAME]]` entries.
    pub entry: usize,
    pub reason: String,
}

/// The result of an import: attestations ready to [`quorate_proto::attestation::sign`].
#[derive(Debug, Clone, Default)]
pub struct Imported {
    pub attestations: Vec<Attestation>,
    pub skipped: Vec<Skipped>,
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Control characters other than newline and tab are not allowed in notes; `\r` is common
/// in files edited on Windows, so it is dropped rather than failing the entry.
fn clean_notes(s: &str) -> String {
    let kept: String = s
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect();
    truncate(&kept, MAX_NOTES_BYTES)
}

/// Converts every audit of `file` into an attestation (unsigned). Entries that cannot be
/// represented are listed in [`Imported::skipped`] with the reason.
pub fn import(file: &AuditsFile, opts: &ImportOptions<'_>) -> Imported {
    let mut out = Imported::default();
    for (package, entries) in &file.audits {
        for (k, a) in entries.iter().enumerate() {
            match convert(package, a, opts) {
                Ok(att) => out.attestations.push(att),
                Err(reason) => out.skipped.push(Skipped {
                    package: package.clone(),
                    entry: k + 1,
                    reason,
                }),
            }
        }
    }
    out
}

fn digest_of(opts: &ImportOptions<'_>, package: &str, version: &str) -> Digest {
    opts.digests
        .get(&(package.to_owned(), version.to_owned()))
        .copied()
        .unwrap_or(Digest::Unknown)
}

fn convert(package: &str, a: &AuditEntry, opts: &ImportOptions<'_>) -> Result<Attestation, String> {
    if a.importable == Some(false) {
        return Err("importable = false".into());
    }
    let (version, delta_from, verdict) = match (&a.version, &a.delta, &a.violation) {
        (Some(v), None, None) => (v.trim().to_owned(), None, Verdict::Certify),
        (None, Some(d), None) => {
            let (from, to) = d
                .split_once("->")
                .ok_or_else(|| format!("delta {d:?} is not \"FROM -> TO\""))?;
            let (from, to) = (from.trim(), to.trim());
            if from.is_empty() || to.is_empty() {
                return Err(format!("delta {d:?} has an empty version"));
            }
            (
                to.to_owned(),
                Some(DeltaBase {
                    version: from.to_owned(),
                    digest: digest_of(opts, package, from),
                }),
                Verdict::Certify,
            )
        }
        (None, None, Some(r)) => (
            r.chars().filter(|c| !c.is_whitespace()).collect(),
            None,
            Verdict::Violation { range: r.clone() },
        ),
        _ => return Err("needs exactly one of version, delta, violation".into()),
    };
    let mut criteria: Vec<String> = Vec::new();
    for c in a.criteria.to_vec() {
        if !criteria.contains(&c) {
            criteria.push(c);
        }
    }
    let who = a.who.as_ref().map(OneOrMany::to_vec).unwrap_or_default();
    let name = if who.is_empty() {
        opts.organisation.clone()
    } else {
        who.join(", ")
    };
    let links: Vec<String> = a
        .aggregated_from
        .iter()
        .flat_map(OneOrMany::to_vec)
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .take(MAX_LINKS)
        .collect();
    let digest = match verdict {
        Verdict::Certify => digest_of(opts, package, &version),
        _ => Digest::Unknown,
    };
    let att = Attestation {
        artifacts: vec![],
        scope: Some(Scope::Full),
        evidence: Some(Evidence::SourceReview),
        reveal: None,
        ecosystem: "cargo".into(),
        package: package.to_owned(),
        version,
        digest,
        delta_from,
        criteria,
        verdict,
        reviewer: Reviewer {
            kind: ReviewerKind::Human,
            name: truncate(&name, MAX_REVIEWER_NAME_BYTES),
            public_key: opts.reviewer_key,
        },
        organisation: opts.organisation.clone(),
        time: opts.time,
        notes: a.notes.as_deref().map(clean_notes).unwrap_or_default(),
        links,
        supersedes: None,
    };
    att.validate().map_err(|e| e.to_string())?;
    Ok(att)
}

#[derive(Serialize)]
struct ExportAudit {
    who: String,
    criteria: String,
    version: String,
    notes: String,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct ExportCriteria {
    description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    implies: Vec<String>,
}

#[derive(Serialize)]
struct ExportFile {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    criteria: BTreeMap<String, ExportCriteria>,
    audits: BTreeMap<String, Vec<ExportAudit>>,
}

/// An `audits.toml` that cargo-vet can import, with one full audit per passing verdict
/// (`who = "Quorate quorum (DE, FR, JP)"`); failing verdicts are left out. Custom
/// criteria get a `[criteria.NAME]` definition with the policy's implications.
pub fn export(verdicts: &[PackageVerdict], policy: &Policy) -> String {
    let mut audits: BTreeMap<String, Vec<ExportAudit>> = BTreeMap::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for v in verdicts.iter().filter(|v| v.pass) {
        used.insert(v.criteria.clone());
        audits
            .entry(v.query.package.clone())
            .or_default()
            .push(ExportAudit {
                who: format!("Quorate quorum ({})", v.certified_by.join(", ")),
                criteria: v.criteria.clone(),
                version: v.query.version.clone(),
                notes: format!(
                    "Certified by {} of {} required independent jurisdictions for {} (artifact {}).",
                    v.certified_by.len(),
                    v.required,
                    v.criteria,
                    v.query.digest
                ),
            });
    }
    // Define every custom criterion used, and the custom ones those imply.
    let mut criteria = BTreeMap::new();
    let mut todo: Vec<String> = used.into_iter().collect();
    while let Some(c) = todo.pop() {
        if c == SAFE_TO_DEPLOY || c == SAFE_TO_RUN || criteria.contains_key(&c) {
            continue;
        }
        let implies: Vec<String> = policy
            .implications()
            .iter()
            .filter(|(a, _)| *a == c)
            .map(|(_, b)| b.clone())
            .collect();
        todo.extend(implies.iter().cloned());
        criteria.insert(
            c.clone(),
            ExportCriteria {
                description: format!(
                    "Criterion {c:?} as certified by a Quorate quorum of independent jurisdictions."
                ),
                implies,
            },
        );
    }
    let body = toml::to_string(&ExportFile { criteria, audits })
        .unwrap_or_else(|e| format!("# export failed: {e}\n"));
    format!("# Generated by Quorate from quorum-certified releases.\n\n{body}")
}
