//! What stands behind a verdict: the reviewer's kind, how much was examined (scope), and
//! the kind of evidence with its small typed body.

use std::fmt;

use super::digest::Digest;
use super::identity::Ecosystem;
use super::validation::{
    check_count, check_len, validate_link_as, validate_rel_path, validate_single_line,
    validate_token,
};
use super::{AttestationError, MAX_TIME, Result, missing, pb};

/// `scope.omitted`: entries.
pub const MAX_SCOPE_OMITTED: usize = 64;
/// Each `scope.omitted` entry.
pub const MAX_SCOPE_ITEM_BYTES: usize = 256;
/// `scope.reason`.
pub const MAX_SCOPE_REASON_BYTES: usize = 1024;
/// `source_revision` (a commit id or tag).
pub const MAX_REVISION_BYTES: usize = 128;
/// `source_uri`, `maintainer_change.source`.
pub const MAX_URI_BYTES: usize = 2048;
/// `reproducible_build.builder`, `maintainer_change.subject`, `benchmark_delta.benchmark`.
pub const MAX_NAME_BYTES: usize = 256;
/// `archive_matches_source.differing_paths` and `.allowed_generated`: entries each.
pub const MAX_DIFFERING_PATHS: usize = 64;
/// Each path in those lists.
pub const MAX_PATH_BYTES: usize = 512;
/// `fuzzing.harnesses`: entries.
pub const MAX_HARNESSES: usize = 32;
/// Each harness name.
pub const MAX_HARNESS_BYTES: usize = 128;
/// `fuzzing.findings` and `archive_matches_source.differing_count`.
pub const MAX_COUNT: u64 = 1_000_000_000;
/// `benchmark_delta.ratio_ppm`: a million-fold change.
pub const MAX_RATIO_PPM: u64 = 1_000_000_000_000;

/// Who or what made the review. Policy can exclude kinds (see specs/policy.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReviewerKind {
    Human,
    /// An automated tool (scanner, rebuilder, fuzzing farm).
    Tool,
    /// A language-model agent.
    LlmAgent,
}

impl ReviewerKind {
    pub const ALL: [ReviewerKind; 3] = [
        ReviewerKind::Human,
        ReviewerKind::Tool,
        ReviewerKind::LlmAgent,
    ];

    /// `human`, `tool`, `llm-agent`: the names used in policy files and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewerKind::Human => "human",
            ReviewerKind::Tool => "tool",
            ReviewerKind::LlmAgent => "llm-agent",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewerKind> {
        ReviewerKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub(super) fn to_pb(self) -> i32 {
        (match self {
            ReviewerKind::Human => pb::ReviewerKind::Human,
            ReviewerKind::Tool => pb::ReviewerKind::Tool,
            ReviewerKind::LlmAgent => pb::ReviewerKind::LlmAgent,
        }) as i32
    }

    pub(super) fn from_pb(v: i32) -> Result<ReviewerKind> {
        match pb::ReviewerKind::try_from(v) {
            Ok(pb::ReviewerKind::Human) => Ok(ReviewerKind::Human),
            Ok(pb::ReviewerKind::Tool) => Ok(ReviewerKind::Tool),
            Ok(pb::ReviewerKind::LlmAgent) => Ok(ReviewerKind::LlmAgent),
            Ok(pb::ReviewerKind::Unspecified) | Err(_) => Err(AttestationError::UnsupportedEnum {
                field: "reviewer.kind".into(),
                got: v,
            }),
        }
    }
}

impl fmt::Display for ReviewerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much of the covered artifacts was examined.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Full,
    /// Parts were left out: what (`omitted`, 1–64 entries) and why (`reason`).
    Partial {
        omitted: Vec<String>,
        reason: String,
    },
}

impl Scope {
    pub fn is_full(&self) -> bool {
        matches!(self, Scope::Full)
    }

    pub(super) fn validate(&self) -> Result<()> {
        if let Scope::Partial { omitted, reason } = self {
            if omitted.is_empty() {
                return Err(missing("scope.omitted"));
            }
            check_count("scope.omitted", omitted.len(), MAX_SCOPE_OMITTED)?;
            for (i, o) in omitted.iter().enumerate() {
                let f = format!("scope.omitted[{i}]");
                if o.is_empty() {
                    return Err(missing(&f));
                }
                validate_single_line(&f, o, MAX_SCOPE_ITEM_BYTES)?;
            }
            if reason.is_empty() {
                return Err(missing("scope.reason"));
            }
            validate_single_line("scope.reason", reason, MAX_SCOPE_REASON_BYTES)?;
        }
        Ok(())
    }

    pub(super) fn to_pb(&self) -> pb::Scope {
        match self {
            Scope::Full => pb::Scope {
                kind: pb::ScopeKind::Full as i32,
                omitted: Vec::new(),
                reason: String::new(),
            },
            Scope::Partial { omitted, reason } => pb::Scope {
                kind: pb::ScopeKind::Partial as i32,
                omitted: omitted.clone(),
                reason: reason.clone(),
            },
        }
    }

    pub(super) fn from_pb(s: pb::Scope) -> Result<Scope> {
        match pb::ScopeKind::try_from(s.kind) {
            Ok(pb::ScopeKind::Full) => {
                if !s.omitted.is_empty() || !s.reason.is_empty() {
                    return Err(AttestationError::Invalid {
                        field: "scope".into(),
                        reason: "a full scope lists nothing omitted and no reason",
                    });
                }
                Ok(Scope::Full)
            }
            Ok(pb::ScopeKind::Partial) => Ok(Scope::Partial {
                omitted: s.omitted,
                reason: s.reason,
            }),
            Ok(pb::ScopeKind::Unspecified) | Err(_) => Err(AttestationError::UnsupportedEnum {
                field: "scope.kind".into(),
                got: s.kind,
            }),
        }
    }
}

/// The evidence kinds, by the names policy files and the CLI use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EvidenceKind {
    SourceReview,
    ReproducibleBuild,
    ArchiveMatchesSource,
    Fuzzing,
    BenchmarkDelta,
    MaintainerChange,
}

impl EvidenceKind {
    pub const ALL: [EvidenceKind; 6] = [
        EvidenceKind::SourceReview,
        EvidenceKind::ReproducibleBuild,
        EvidenceKind::ArchiveMatchesSource,
        EvidenceKind::Fuzzing,
        EvidenceKind::BenchmarkDelta,
        EvidenceKind::MaintainerChange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::SourceReview => "source-review",
            EvidenceKind::ReproducibleBuild => "reproducible-build",
            EvidenceKind::ArchiveMatchesSource => "archive-matches-source",
            EvidenceKind::Fuzzing => "fuzzing",
            EvidenceKind::BenchmarkDelta => "benchmark-delta",
            EvidenceKind::MaintainerChange => "maintainer-change",
        }
    }

    pub fn parse(s: &str) -> Option<EvidenceKind> {
        EvidenceKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for EvidenceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The artifact digest was rebuilt from `source_revision` of `source_uri`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReproducibleBuild {
    pub source_revision: String,
    pub source_uri: String,
    pub builder: String,
    /// Digest of the build environment (container image, Nix closure); must be recorded.
    pub build_environment: Digest,
}

/// The release archive's file tree compared with the tagged source tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArchiveMatchesSource {
    pub source_revision: String,
    pub source_uri: String,
    /// Sorted, distinct relative paths that differ; empty when the trees match. At most
    /// [`MAX_DIFFERING_PATHS`] (the first in sorting order) when more differ.
    pub differing_paths: Vec<String>,
    /// How many paths differ in all.
    pub differing_count: u32,
    /// Paths explicitly allowed to differ as generated files (not in `differing_paths`).
    pub allowed_generated: Vec<String>,
}

impl ArchiveMatchesSource {
    pub fn matches(&self) -> bool {
        self.differing_count == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fuzzing {
    pub harnesses: Vec<String>,
    pub duration_seconds: u64,
    pub findings: u64,
}

/// A benchmark of this version against `baseline_version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BenchmarkDelta {
    pub benchmark: String,
    pub baseline_version: String,
    /// This version's measurement over the baseline's, in parts per million.
    pub ratio_ppm: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaintainerChangeKind {
    NewMaintainer,
    OwnershipTransfer,
    PublisherKeyChange,
}

impl MaintainerChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MaintainerChangeKind::NewMaintainer => "new-maintainer",
            MaintainerChangeKind::OwnershipTransfer => "ownership-transfer",
            MaintainerChangeKind::PublisherKeyChange => "publisher-key-change",
        }
    }

    pub fn parse(s: &str) -> Option<MaintainerChangeKind> {
        [
            MaintainerChangeKind::NewMaintainer,
            MaintainerChangeKind::OwnershipTransfer,
            MaintainerChangeKind::PublisherKeyChange,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Informational only: a maintainer change seen at `source`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MaintainerChange {
    pub kind: MaintainerChangeKind,
    pub subject: String,
    pub source: String,
}

/// The kind of check behind the verdict, with its body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Evidence {
    /// The source of the covered artifacts was read.
    SourceReview,
    ReproducibleBuild(ReproducibleBuild),
    ArchiveMatchesSource(ArchiveMatchesSource),
    Fuzzing(Fuzzing),
    BenchmarkDelta(BenchmarkDelta),
    MaintainerChange(MaintainerChange),
}

fn bad(field: &str, reason: &'static str) -> AttestationError {
    AttestationError::Invalid {
        field: field.into(),
        reason,
    }
}

fn required_text(field: &str, s: &str, limit: usize) -> Result<()> {
    if s.is_empty() {
        return Err(missing(field));
    }
    validate_single_line(field, s, limit)
}

fn sorted_paths(field: &str, paths: &[String]) -> Result<()> {
    check_count(field, paths.len(), MAX_DIFFERING_PATHS)?;
    for (i, p) in paths.iter().enumerate() {
        validate_rel_path(&format!("{field}[{i}]"), p, MAX_PATH_BYTES)?;
        if i > 0 && paths[i - 1] >= *p {
            return Err(bad(field, "paths must be sorted and distinct"));
        }
    }
    Ok(())
}

impl Evidence {
    pub fn kind(&self) -> EvidenceKind {
        match self {
            Evidence::SourceReview => EvidenceKind::SourceReview,
            Evidence::ReproducibleBuild(_) => EvidenceKind::ReproducibleBuild,
            Evidence::ArchiveMatchesSource(_) => EvidenceKind::ArchiveMatchesSource,
            Evidence::Fuzzing(_) => EvidenceKind::Fuzzing,
            Evidence::BenchmarkDelta(_) => EvidenceKind::BenchmarkDelta,
            Evidence::MaintainerChange(_) => EvidenceKind::MaintainerChange,
        }
    }

    /// Field rules of the body on its own; the rules that tie it to the rest of the
    /// attestation are in `Attestation::validate`.
    pub(super) fn validate(&self, ecosystem: Option<Ecosystem>) -> Result<()> {
        match self {
            Evidence::SourceReview => {}
            Evidence::ReproducibleBuild(b) => {
                validate_token(
                    "evidence.reproducible_build.source_revision",
                    &b.source_revision,
                    MAX_REVISION_BYTES,
                )?;
                validate_source_uri("evidence.reproducible_build.source_uri", &b.source_uri)?;
                required_text(
                    "evidence.reproducible_build.builder",
                    &b.builder,
                    MAX_NAME_BYTES,
                )?;
                if !b.build_environment.is_recorded() {
                    return Err(bad(
                        "evidence.reproducible_build.build_environment",
                        "must be a recorded digest",
                    ));
                }
            }
            Evidence::ArchiveMatchesSource(a) => {
                let f = "evidence.archive_matches_source";
                validate_token(
                    &format!("{f}.source_revision"),
                    &a.source_revision,
                    MAX_REVISION_BYTES,
                )?;
                validate_source_uri(&format!("{f}.source_uri"), &a.source_uri)?;
                sorted_paths(&format!("{f}.differing_paths"), &a.differing_paths)?;
                sorted_paths(&format!("{f}.allowed_generated"), &a.allowed_generated)?;
                let listed = a.differing_paths.len();
                let count = a.differing_count as usize;
                if count < listed
                    || (listed < MAX_DIFFERING_PATHS && count != listed)
                    || u64::from(a.differing_count) > MAX_COUNT
                {
                    return Err(bad(
                        &format!("{f}.differing_count"),
                        "must equal the number of differing_paths, or exceed it when the list is full",
                    ));
                }
                if let Some(p) = a
                    .allowed_generated
                    .iter()
                    .find(|p| a.differing_paths.contains(p))
                {
                    return Err(AttestationError::Duplicate {
                        field: format!("{f}.allowed_generated"),
                        value: p.clone(),
                    });
                }
            }
            Evidence::Fuzzing(z) => {
                if z.harnesses.is_empty() {
                    return Err(missing("evidence.fuzzing.harnesses"));
                }
                check_count(
                    "evidence.fuzzing.harnesses",
                    z.harnesses.len(),
                    MAX_HARNESSES,
                )?;
                for (i, h) in z.harnesses.iter().enumerate() {
                    validate_token(
                        &format!("evidence.fuzzing.harnesses[{i}]"),
                        h,
                        MAX_HARNESS_BYTES,
                    )?;
                }
                if z.duration_seconds == 0 {
                    return Err(missing("evidence.fuzzing.duration_seconds"));
                }
                if z.duration_seconds > MAX_TIME {
                    return Err(bad("evidence.fuzzing.duration_seconds", "too large"));
                }
                if z.findings > MAX_COUNT {
                    return Err(bad("evidence.fuzzing.findings", "too large"));
                }
            }
            Evidence::BenchmarkDelta(b) => {
                required_text(
                    "evidence.benchmark_delta.benchmark",
                    &b.benchmark,
                    MAX_NAME_BYTES,
                )?;
                let f = "evidence.benchmark_delta.baseline_version";
                match ecosystem {
                    Some(e) => e.validate_version(f, &b.baseline_version)?,
                    None => validate_token(f, &b.baseline_version, super::MAX_VERSION_BYTES)?,
                }
                if b.ratio_ppm == 0 {
                    return Err(missing("evidence.benchmark_delta.ratio_ppm"));
                }
                if b.ratio_ppm > MAX_RATIO_PPM {
                    return Err(bad(
                        "evidence.benchmark_delta.ratio_ppm",
                        "over a million-fold",
                    ));
                }
            }
            Evidence::MaintainerChange(m) => {
                required_text(
                    "evidence.maintainer_change.subject",
                    &m.subject,
                    MAX_NAME_BYTES,
                )?;
                validate_link_as(
                    "evidence.maintainer_change.source",
                    &m.source,
                    MAX_URI_BYTES,
                )?;
            }
        }
        Ok(())
    }

    pub(super) fn to_pb(&self) -> pb::Evidence {
        use pb::evidence::Kind;
        let kind = match self {
            Evidence::SourceReview => Kind::SourceReview(pb::SourceReview {}),
            Evidence::ReproducibleBuild(b) => Kind::ReproducibleBuild(pb::ReproducibleBuild {
                source_revision: b.source_revision.clone(),
                source_uri: b.source_uri.clone(),
                builder: b.builder.clone(),
                build_environment: Some(b.build_environment.to_pb()),
            }),
            Evidence::ArchiveMatchesSource(a) => {
                Kind::ArchiveMatchesSource(pb::ArchiveMatchesSource {
                    source_revision: a.source_revision.clone(),
                    source_uri: a.source_uri.clone(),
                    differing_paths: a.differing_paths.clone(),
                    differing_count: a.differing_count,
                    allowed_generated: a.allowed_generated.clone(),
                })
            }
            Evidence::Fuzzing(z) => Kind::Fuzzing(pb::Fuzzing {
                harnesses: z.harnesses.clone(),
                duration_seconds: z.duration_seconds,
                findings: z.findings,
            }),
            Evidence::BenchmarkDelta(b) => Kind::BenchmarkDelta(pb::BenchmarkDelta {
                benchmark: b.benchmark.clone(),
                baseline_version: b.baseline_version.clone(),
                ratio_ppm: b.ratio_ppm,
            }),
            Evidence::MaintainerChange(m) => Kind::MaintainerChange(pb::MaintainerChange {
                kind: (match m.kind {
                    MaintainerChangeKind::NewMaintainer => pb::MaintainerChangeKind::NewMaintainer,
                    MaintainerChangeKind::OwnershipTransfer => {
                        pb::MaintainerChangeKind::OwnershipTransfer
                    }
                    MaintainerChangeKind::PublisherKeyChange => {
                        pb::MaintainerChangeKind::PublisherKeyChange
                    }
                }) as i32,
                subject: m.subject.clone(),
                source: m.source.clone(),
            }),
        };
        pb::Evidence { kind: Some(kind) }
    }

    pub(super) fn from_pb(e: pb::Evidence) -> Result<Evidence> {
        use pb::evidence::Kind;
        Ok(match e.kind.ok_or_else(unknown_kind)? {
            Kind::SourceReview(pb::SourceReview {}) => Evidence::SourceReview,
            Kind::ReproducibleBuild(b) => Evidence::ReproducibleBuild(ReproducibleBuild {
                source_revision: b.source_revision,
                source_uri: b.source_uri,
                builder: b.builder,
                build_environment: Digest::from_pb(
                    "evidence.reproducible_build.build_environment",
                    b.build_environment,
                )?,
            }),
            Kind::ArchiveMatchesSource(a) => Evidence::ArchiveMatchesSource(ArchiveMatchesSource {
                source_revision: a.source_revision,
                source_uri: a.source_uri,
                differing_paths: a.differing_paths,
                differing_count: a.differing_count,
                allowed_generated: a.allowed_generated,
            }),
            Kind::Fuzzing(z) => Evidence::Fuzzing(Fuzzing {
                harnesses: z.harnesses,
                duration_seconds: z.duration_seconds,
                findings: z.findings,
            }),
            Kind::BenchmarkDelta(b) => Evidence::BenchmarkDelta(BenchmarkDelta {
                benchmark: b.benchmark,
                baseline_version: b.baseline_version,
                ratio_ppm: b.ratio_ppm,
            }),
            Kind::MaintainerChange(m) => Evidence::MaintainerChange(MaintainerChange {
                kind: match pb::MaintainerChangeKind::try_from(m.kind) {
                    Ok(pb::MaintainerChangeKind::NewMaintainer) => {
                        MaintainerChangeKind::NewMaintainer
                    }
                    Ok(pb::MaintainerChangeKind::OwnershipTransfer) => {
                        MaintainerChangeKind::OwnershipTransfer
                    }
                    Ok(pb::MaintainerChangeKind::PublisherKeyChange) => {
                        MaintainerChangeKind::PublisherKeyChange
                    }
                    Ok(pb::MaintainerChangeKind::Unspecified) | Err(_) => {
                        return Err(AttestationError::UnsupportedEnum {
                            field: "evidence.maintainer_change.kind".into(),
                            got: m.kind,
                        });
                    }
                },
                subject: m.subject,
                source: m.source,
            }),
        })
    }
}

/// An `Evidence` message with no kind this schema knows: prost drops the unknown field, so
/// the kind reads as absent. Reported before the canonicality check so the error says what
/// was wrong.
pub(super) fn unknown_kind() -> AttestationError {
    bad(
        "evidence",
        "unknown or missing evidence kind (known: source-review, reproducible-build, \
         archive-matches-source, fuzzing, benchmark-delta, maintainer-change)",
    )
}

/// Source locations: `https://`, `http://` or `git+https://` URLs.
fn validate_source_uri(field: &str, s: &str) -> Result<()> {
    if let Some(rest) = s.strip_prefix("git+") {
        check_len(field, s.len(), MAX_URI_BYTES)?;
        return validate_link_as(field, rest, MAX_URI_BYTES);
    }
    validate_link_as(field, s, MAX_URI_BYTES)
}
