//! OpenSSF security-reviews (github.com/ossf/security-reviews) as Quorate attestations
//! (`quorate import ossf-security-reviews DIR`). Each `*.md` review starts with YAML front
//! matter between `---` lines; every purl in `Package-URLs` is one release reviewed.
//!
//! Mapping, per purl:
//!
//! | front matter | attestation |
//! |---|---|
//! | `Publication-State` other than `Active` | skipped: drafts (the Omega reviews) say not to rely on them |
//! | purl type other than npm, cargo, pypi, golang, maven, generic | skipped (github, nuget: no reviews checked for them) |
//! | purl without a version | skipped: a review of a project is not a review of a release |
//! | `Issues-Identified: Severe` (any scope) | violation of `safe-to-run` for `=VERSION` |
//! | `Scope: Implementation/Full`, issues `None` or `Non-Severe`, methodology with `Code-Review` or `External-Review` | certify `safe-to-deploy` |
//! | the same with only `Static-Analysis`, `Dynamic-Analysis`, `Fuzzing`, `Web-Search` | certify `safe-to-run` |
//! | `Scope: Implementation/Partial` or `Non-Implementation`, not severe | skipped: a partial review certifies nothing |
//! | `Issues-Identified: Not-Examined` | skipped |
//!
//! The reviewer name is the reviewers' names (or organisations), the organisation the first
//! reviewer's `Organization` (else the importer's `--org`), the time `Review-Date`, the
//! notes the scope, methodology, issues and the file's path. OpenSSF reviews name no
//! artifact, so the digest is `unknown` (crates.io releases take the caller's digest where
//! known): they count only under a policy with `accept-unknown-digests`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use quorate_proto::attestation::{
    Attestation, Digest, Evidence, MAX_NOTES_BYTES, MAX_ORGANISATION_BYTES,
    MAX_REVIEWER_NAME_BYTES, Reviewer, ReviewerKind, Scope, Verdict,
};
use yaml_rust2::Yaml;

use crate::lockfile::{Ecosystem, PackageId};
use crate::policy::{SAFE_TO_DEPLOY, SAFE_TO_RUN};
use crate::yaml;

/// Review files larger than this are refused unread.
pub const MAX_FILE_BYTES: u64 = 4 << 20;
pub const MAX_FILES: usize = 100_000;

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct OssfError {
    pub path: String,
    pub source: std::io::Error,
}

/// One review file's front matter.
#[derive(Debug, Clone)]
pub struct Review {
    /// Path relative to the directory read.
    pub path: String,
    pub front: Yaml,
}

/// Every review file under a directory, and the files that could not be read with why.
#[derive(Debug, Default)]
pub struct ReviewSet {
    pub reviews: Vec<Review>,
    pub refused: Vec<(String, String)>,
}

/// The YAML between the leading `---` line and the next `---` line.
pub fn front_matter(text: &str) -> Result<Yaml, String> {
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return Err("no front matter (the file does not start with `---`)".into());
    }
    let mut body = String::new();
    for l in lines {
        if l.trim_end() == "---" {
            let y = yaml::parse(&body)?;
            if y.as_hash().is_none() {
                return Err("front matter is not a mapping".into());
            }
            return Ok(y);
        }
        body.push_str(l);
        body.push('\n');
    }
    Err("front matter is not closed by `---`".into())
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), OssfError> {
    let io = |source| OssfError {
        path: dir.display().to_string(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let ty = e.file_type().map_err(io)?;
        if ty.is_dir() {
            walk(&e.path(), out)?;
        } else if ty.is_file()
            && e.path().extension().is_some_and(|x| x == "md")
            && out.len() < MAX_FILES
        {
            out.push(e.path());
        }
    }
    Ok(())
}

/// Reads every `*.md` under `dir` that has front matter with `Package-URLs`. Markdown
/// files without front matter (READMEs, the template's prose) are refused with the reason.
pub fn read_dir(dir: &Path) -> Result<ReviewSet, OssfError> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    let mut set = ReviewSet::default();
    for f in files {
        let rel = f.strip_prefix(dir).unwrap_or(&f).display().to_string();
        let io = |source| OssfError {
            path: f.display().to_string(),
            source,
        };
        if std::fs::metadata(&f).map_err(io)?.len() > MAX_FILE_BYTES {
            set.refused
                .push((rel, format!("over {MAX_FILE_BYTES} bytes, not read")));
            continue;
        }
        let Ok(text) = String::from_utf8(std::fs::read(&f).map_err(io)?) else {
            set.refused.push((rel, "not UTF-8".into()));
            continue;
        };
        match front_matter(&text) {
            Ok(front) if !front["Package-URLs"].is_badvalue() => {
                set.reviews.push(Review { path: rel, front })
            }
            Ok(_) => set
                .refused
                .push((rel, "front matter has no Package-URLs".into())),
            Err(e) => set.refused.push((rel, e)),
        }
    }
    Ok(set)
}

/// The crates.io (name, version) pairs the reviews name, for digest lookup.
pub fn named_crates(set: &ReviewSet) -> BTreeSet<(String, String)> {
    set.reviews
        .iter()
        .flat_map(|r| yaml::list(&r.front, "Package-URLs"))
        .filter_map(|p| PackageId::from_purl(&p).ok())
        .filter(|id| id.ecosystem() == Ecosystem::Cargo)
        .map(|id| (id.name().to_owned(), id.version().to_owned()))
        .collect()
}

pub struct ImportOptions<'a> {
    /// Used when a review names no organisation.
    pub organisation: String,
    pub reviewer_key: [u8; 32],
    pub digests: &'a BTreeMap<(String, String), Digest>,
}

#[derive(Debug, Default)]
pub struct Imported {
    pub attestations: Vec<Attestation>,
    /// `(file purl, why)`.
    pub skipped: Vec<(String, String)>,
}

fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// Converts reviews by the table in the module docs.
pub fn to_attestations(set: &ReviewSet, opts: &ImportOptions<'_>) -> Imported {
    let mut out = Imported::default();
    for r in &set.reviews {
        let f = &r.front;
        let state = yaml::field(f, "Publication-State").unwrap_or_default();
        let scope = yaml::field(f, "Scope").unwrap_or_default();
        let issues = yaml::field(f, "Issues-Identified").unwrap_or_default();
        let methods = yaml::list(f, "Methodology");
        let reviewers: Vec<&Yaml> = f["Reviewers"]
            .as_vec()
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        let names: Vec<String> = reviewers
            .iter()
            .filter_map(|x| yaml::field(x, "Name").or_else(|| yaml::field(x, "Organization")))
            .collect();
        let org = reviewers
            .iter()
            .find_map(|x| yaml::field(x, "Organization"))
            .unwrap_or_else(|| opts.organisation.clone());
        let date = yaml::field(f, "Review-Date").unwrap_or_default();
        let time = yaml::unix_time(&date);
        for purl in yaml::list(f, "Package-URLs") {
            let what = format!("{} {purl}", r.path);
            let mut skip = |why: String| out.skipped.push((what.clone(), why));
            if state != "Active" {
                skip(format!(
                    "Publication-State {state:?}: only Active reviews are imported"
                ));
                continue;
            }
            let Some(time) = time else {
                skip(format!("Review-Date {date:?} is not a date"));
                continue;
            };
            if purl.strip_prefix("pkg:").is_some_and(|r| !r.contains('@')) {
                skip("no version: a review of a project is not a review of a release".into());
                continue;
            }
            let id = match PackageId::from_purl(&purl) {
                Ok(id) => id,
                Err(e) => {
                    skip(e.to_string());
                    continue;
                }
            };
            let (verdict, criteria) = if issues == "Severe" {
                let core = id
                    .version()
                    .split('+')
                    .next()
                    .unwrap_or(id.version())
                    .to_owned();
                (
                    Verdict::Violation {
                        range: format!("={core}"),
                    },
                    SAFE_TO_RUN,
                )
            } else if !matches!(issues.as_str(), "None" | "Non-Severe") {
                skip(format!("Issues-Identified {issues:?}"));
                continue;
            } else if scope != "Implementation/Full" {
                skip(format!(
                    "Scope {scope:?}: a partial review certifies nothing"
                ));
                continue;
            } else if methods
                .iter()
                .any(|m| m == "Code-Review" || m == "External-Review")
            {
                (Verdict::Certify, SAFE_TO_DEPLOY)
            } else {
                (Verdict::Certify, SAFE_TO_RUN)
            };
            let digest = if id.ecosystem() == Ecosystem::Cargo && verdict == Verdict::Certify {
                opts.digests
                    .get(&(id.name().to_owned(), id.version().to_owned()))
                    .copied()
                    .unwrap_or(Digest::Unknown)
            } else {
                Digest::Unknown
            };
            let reviewer = if names.is_empty() {
                org.clone()
            } else {
                names.join(", ")
            };
            let notes = format!(
                "OpenSSF security review {}: scope {scope}, methodology {}, issues identified {issues}, reviewed {date}",
                r.path,
                methods.join(", ")
            );
            let version = match &verdict {
                Verdict::Violation { range } => range.trim_start_matches('=').to_owned(),
                _ => id.version().to_owned(),
            };
            let att = Attestation {
                artifacts: vec![],
                scope: Some(Scope::Full),
                evidence: Some(Evidence::SourceReview),
                reveal: None,
                ecosystem: id.ecosystem().attestation_name().to_owned(),
                package: id.name().to_owned(),
                version,
                digest,
                delta_from: None,
                criteria: vec![criteria.to_owned()],
                verdict,
                reviewer: Reviewer {
                    kind: ReviewerKind::Human,
                    name: clip(
                        if reviewer.is_empty() {
                            "OpenSSF reviewer".into()
                        } else {
                            reviewer
                        },
                        MAX_REVIEWER_NAME_BYTES,
                    ),
                    public_key: opts.reviewer_key,
                },
                organisation: clip(org.clone(), MAX_ORGANISATION_BYTES),
                time,
                notes: clip(notes, MAX_NOTES_BYTES),
                links: Vec::new(),
                supersedes: None,
            };
            match att.validate() {
                Ok(()) => out.attestations.push(att),
                Err(e) => out
                    .skipped
                    .push((what, format!("not a valid attestation: {e}"))),
            }
        }
    }
    out
}
