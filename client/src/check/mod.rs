//! `quorate check`, `gaps` and `export`: evaluate every entry of a lockfile of any format
//! and present the verdicts (a cargo-style table, JSON, SARIF, or a ranked work list).
//!
//! An entry allows the installer one or more files (a PyPI sdist and its wheels); each file
//! is one query per usable digest, and the entry passes only when every file is covered.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use quorate_proto::attestation::Digest;

use crate::lockfile::{
    Ecosystem, FileDigest, LockEntry, NotReviewable, ParsedLockfile, Resolution,
};
use crate::quorum::{Evaluator, PackageVerdict, Query, Why};

mod render;
pub mod sarif;

pub use render::{Detail, plural, render_json, render_table, requirement_json, summary_line};

pub const CRATES_IO: &str = "crates.io";

/// One file of an entry: the queries for its usable digests (any one passing covers it),
/// or why none of its digests can be checked.
#[derive(Debug, Clone)]
pub struct FilePlan {
    /// The file name, or its first digest where the lockfile names no file.
    pub label: String,
    pub queries: Vec<usize>,
    pub unusable: Option<String>,
}

/// A lockfile entry and the files the installer may use for it.
#[derive(Debug, Clone)]
pub struct EntryPlan {
    pub entry: LockEntry,
    pub files: Vec<FilePlan>,
    /// The lockfile pins no digest (Gradle): the query's digest is `unknown`.
    pub unknown_digest: bool,
}

/// What a lockfile asks about: distinct queries, the entries they decide, and the
/// entries that cannot be checked against reviews at all.
#[derive(Debug, Clone, Default)]
pub struct Queries {
    pub queries: Vec<Query>,
    pub entries: Vec<EntryPlan>,
    pub not_checkable: Vec<(LockEntry, NotReviewable)>,
}

impl Queries {
    /// Plans the queries for every entry. The same release at two install paths (npm)
    /// with the same files is decided once.
    pub fn from_parsed(lock: &ParsedLockfile) -> Queries {
        let mut q = Queries::default();
        let mut index: HashMap<(String, String, String, Digest), usize> = HashMap::new();
        let mut seen_entries = HashSet::new();
        for e in &lock.entries {
            let files = match &e.resolution {
                Resolution::NotReviewable(n) => {
                    q.not_checkable.push((e.clone(), n.clone()));
                    continue;
                }
                Resolution::Files(f) => Some(f),
                Resolution::UnknownDigest => None,
            };
            if !seen_entries.insert((e.id.clone(), e.resolution.clone())) {
                continue;
            }
            let mut query = |digest: Digest| {
                let key = (
                    e.id.ecosystem().attestation_name().to_owned(),
                    e.id.name().to_owned(),
                    e.id.version().to_owned(),
                    digest,
                );
                *index.entry(key).or_insert_with(|| {
                    q.queries.push(Query {
                        ecosystem: e.id.ecosystem().attestation_name().to_owned(),
                        package: e.id.name().to_owned(),
                        version: e.id.version().to_owned(),
                        digest,
                    });
                    q.queries.len() - 1
                })
            };
            let plan = match files {
                None => EntryPlan {
                    entry: e.clone(),
                    files: vec![FilePlan {
                        label: "(no digest in the lockfile)".into(),
                        queries: vec![query(Digest::Unknown)],
                        unusable: None,
                    }],
                    unknown_digest: true,
                },
                Some(files) => EntryPlan {
                    entry: e.clone(),
                    files: files
                        .iter()
                        .map(|f| {
                            let label = f.name.clone().unwrap_or_else(|| {
                                f.digests
                                    .first()
                                    .map(ToString::to_string)
                                    .unwrap_or_default()
                            });
                            let strong: Vec<&FileDigest> =
                                f.digests.iter().filter(|d| !d.is_weak()).collect();
                            let queries: Vec<usize> = strong
                                .iter()
                                .map(|d| d.to_attestation())
                                .map(&mut query)
                                .collect();
                            let unusable = queries.is_empty().then(|| {
                                "only a weak SHA-1 digest, which is never enough".to_owned()
                            });
                            FilePlan {
                                label,
                                queries,
                                unusable,
                            }
                        })
                        .collect(),
                    unknown_digest: false,
                },
            };
            q.entries.push(plan);
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

/// The decision for one file of an entry.
#[derive(Debug, Clone)]
pub struct FileVerdict {
    pub label: String,
    pub pass: bool,
    /// The verdict shown for it (the passing one, else the first): index into
    /// [`Report::verdicts`]; `None` when no digest could be checked.
    pub verdict: Option<usize>,
    pub unusable: Option<String>,
}

/// The decision for one lockfile entry: it passes only when every file it allows is
/// covered by reviews that meet the quorum.
#[derive(Debug, Clone)]
pub struct EntryVerdict {
    pub entry: LockEntry,
    pub pass: bool,
    pub files: Vec<FileVerdict>,
    pub unknown_digest: bool,
    /// Why it fails, in one line.
    pub reason: Option<String>,
}

impl EntryVerdict {
    /// The verdict that explains the entry: its first failing file's, else its first.
    pub fn shown(&self) -> Option<usize> {
        self.files
            .iter()
            .find(|f| !f.pass)
            .or(self.files.first())
            .and_then(|f| f.verdict)
    }

    pub fn covered(&self) -> usize {
        self.files.iter().filter(|f| f.pass).count()
    }
}

/// All verdicts for a lockfile.
#[derive(Debug, Clone)]
pub struct Report {
    /// One per distinct query.
    pub verdicts: Vec<PackageVerdict>,
    pub entries: Vec<EntryVerdict>,
    pub not_checkable: Vec<(LockEntry, NotReviewable)>,
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
        // Each query is judged on its own: on all cores.
        let verdicts: Vec<PackageVerdict> =
            crate::mirror::par_map(&q.queries, |x| ev.evaluate(x, now));
        let mut bases = BTreeMap::new();
        for v in verdicts.iter().filter(|v| !v.pass) {
            let k = (v.query.ecosystem.clone(), v.query.package.clone());
            if let std::collections::btree_map::Entry::Vacant(e) = bases.entry(k) {
                let (eco, pkg) = e.key().clone();
                e.insert(ev.certified_states(&eco, &pkg, now));
            }
        }
        let accept_unknown = ev.policy().accept_unknown_digests();
        let entries = q
            .entries
            .iter()
            .map(|p| {
                let files: Vec<FileVerdict> = p
                    .files
                    .iter()
                    .map(|f| {
                        let passing = f.queries.iter().copied().find(|&i| verdicts[i].pass);
                        FileVerdict {
                            label: f.label.clone(),
                            pass: passing.is_some(),
                            verdict: passing.or(f.queries.first().copied()),
                            unusable: f.unusable.clone(),
                        }
                    })
                    .collect();
                let pass = !files.is_empty() && files.iter().all(|f| f.pass);
                let mut v = EntryVerdict {
                    entry: p.entry.clone(),
                    pass,
                    files,
                    unknown_digest: p.unknown_digest,
                    reason: None,
                };
                if !pass {
                    v.reason = Some(entry_reason(&v, &verdicts, accept_unknown));
                }
                v
            })
            .collect();
        Report {
            verdicts,
            entries,
            not_checkable: q.not_checkable.clone(),
            warnings,
            bundle: Vec::new(),
            bases,
        }
    }

    pub fn all_pass(&self) -> bool {
        self.entries.iter().all(|v| v.pass)
    }

    pub fn passed(&self) -> usize {
        self.entries.iter().filter(|v| v.pass).count()
    }

    pub(crate) fn ecosystems(&self) -> BTreeSet<Ecosystem> {
        self.entries
            .iter()
            .map(|e| e.entry.id.ecosystem())
            .chain(self.not_checkable.iter().map(|(e, _)| e.id.ecosystem()))
            .collect()
    }

    /// "packages" (crates, as ever), "npm packages", "PyPI packages", or "packages" when mixed.
    pub(crate) fn noun(&self) -> String {
        let ecos = self.ecosystems();
        match (ecos.len(), ecos.first()) {
            (1, Some(Ecosystem::Cargo)) => "packages".into(),
            (1, Some(Ecosystem::Pypi)) => "PyPI packages".into(),
            (1, Some(Ecosystem::Golang)) => "Go modules".into(),
            (1, Some(Ecosystem::Maven)) => "Maven packages".into(),
            (1, Some(e)) => format!("{e} packages"),
            _ => "packages".into(),
        }
    }
}

/// One line saying why an entry fails: a file not covered, a digest that cannot be
/// checked, no digest at all, or the shown verdict's first reason.
fn entry_reason(v: &EntryVerdict, verdicts: &[PackageVerdict], accept_unknown: bool) -> String {
    if v.unknown_digest && !accept_unknown {
        return "the lockfile pins no digest for it; it can pass only under the policy's \
                `accept-unknown-digests`"
            .into();
    }
    let failing: Vec<&FileVerdict> = v.files.iter().filter(|f| !f.pass).collect();
    if let Some(u) = failing
        .iter()
        .find_map(|f| f.unusable.as_ref().map(|u| (f, u)))
    {
        return format!("{}: {}", u.0.label, u.1);
    }
    let first = |f: &FileVerdict| -> String {
        let Some(pv) = f.verdict.map(|i| &verdicts[i]) else {
            return "not checked".into();
        };
        if !pv.vetoed_by().is_empty() {
            return format!("vetoed by {}", pv.vetoed_by().join(", "));
        }
        // The quorum is met but a `require` line is not: say which one.
        if pv.quorum_met()
            && let Some(r) = pv.failed_requirements().next()
        {
            return r.to_string();
        }
        pv.missing
            .first()
            .map(|m| format!("{}: {}", m.jurisdiction, top_reason(&m.reasons)))
            .unwrap_or_else(|| "no quorum".into())
    };
    if v.files.len() > 1 && failing.len() < v.files.len() {
        let names: Vec<&str> = failing.iter().map(|f| f.label.as_str()).collect();
        return format!(
            "partial coverage: {} of {} files covered; not covered: {} ({})",
            v.covered(),
            v.files.len(),
            names.join(", "),
            failing.first().map(|f| first(f)).unwrap_or_default()
        );
    }
    match failing.first() {
        Some(f) if v.files.len() > 1 => {
            format!("none of {} files covered ({})", v.files.len(), first(f))
        }
        Some(f) => first(f),
        None => "no files".into(),
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
