//! Cargo.lock (format versions 1 to 4): the packages a build uses, with the SHA-256
//! `checksum` Cargo verifies each crates.io archive against. Only crates.io packages can be
//! checked against review logs; path and git dependencies, and other registries, are
//! reported as not checkable.

use std::collections::BTreeMap;

use quorate_proto::attestation::Digest;
use serde::Deserialize;

/// The `source` of crates.io packages (git index protocol).
pub const CRATES_IO_GIT: &str = "registry+https://github.com/rust-lang/crates.io-index";
/// The `source` of crates.io packages (sparse index protocol).
pub const CRATES_IO_SPARSE: &str = "sparse+https://index.crates.io/";
/// Lockfiles larger than this are refused unread.
pub const MAX_LOCKFILE_BYTES: usize = 64 << 20;

/// Why a lockfile could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockfileError {
    #[error("Cargo.lock is {0} bytes, over the {MAX_LOCKFILE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("Cargo.lock is not valid TOML: {0}")]
    Toml(String),
    #[error("Cargo.lock has unsupported format version {0} (supported: 1 to 4)")]
    Version(i64),
    #[error("Cargo.lock package #{index} ({name}): {reason}")]
    Package {
        index: usize,
        name: String,
        reason: String,
    },
}

/// Where a package comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    CratesIo,
    /// Another registry (`registry+...` or `sparse+...`), verbatim.
    Registry(String),
    /// A git dependency, verbatim.
    Git(String),
    /// A path dependency or workspace member (no `source`).
    Path,
    /// Any other source kind, verbatim.
    Other(String),
}

/// One `[[package]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockPackage {
    pub name: String,
    pub version: String,
    pub source: Source,
    /// The archive's SHA-256 (from `checksum`, or v1 `[metadata]`); `None` when absent.
    pub checksum: Option<Digest>,
}

/// Why a package is not checked against review logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotCheckable {
    Path,
    Git(String),
    OtherRegistry(String),
    OtherSource(String),
    /// A crates.io package without a checksum (cannot be bound to reviewed bytes).
    NoChecksum,
}

impl std::fmt::Display for NotCheckable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotCheckable::Path => f.write_str("path dependency or workspace member"),
            NotCheckable::Git(s) => write!(f, "git dependency ({s})"),
            NotCheckable::OtherRegistry(s) => write!(f, "not from crates.io ({s})"),
            NotCheckable::OtherSource(s) => write!(f, "unknown source kind ({s})"),
            NotCheckable::NoChecksum => f.write_str("crates.io package without a checksum"),
        }
    }
}

impl LockPackage {
    /// The digest to check reviews against, or why this package cannot be checked.
    pub fn checkable(&self) -> Result<Digest, NotCheckable> {
        match &self.source {
            Source::CratesIo => self.checksum.ok_or(NotCheckable::NoChecksum),
            Source::Path => Err(NotCheckable::Path),
            Source::Git(s) => Err(NotCheckable::Git(s.clone())),
            Source::Registry(s) => Err(NotCheckable::OtherRegistry(s.clone())),
            Source::Other(s) => Err(NotCheckable::OtherSource(s.clone())),
        }
    }
}

/// A parsed lockfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockfile {
    /// Format version: the `version` key, or 1/2 inferred (v1 keeps checksums in
    /// `[metadata]`, v2 inline without a `version` key).
    pub version: u32,
    pub packages: Vec<LockPackage>,
}

#[derive(Deserialize)]
struct RawLock {
    version: Option<i64>,
    #[serde(default)]
    package: Vec<RawPackage>,
    #[serde(default)]
    metadata: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
struct RawPackage {
    name: Option<String>,
    version: Option<String>,
    source: Option<String>,
    checksum: Option<String>,
}

fn classify(source: Option<&str>) -> Source {
    match source {
        None => Source::Path,
        Some(s) if s == CRATES_IO_GIT || s == CRATES_IO_SPARSE => Source::CratesIo,
        Some(s) if s.starts_with("registry+") || s.starts_with("sparse+") => {
            Source::Registry(s.to_owned())
        }
        Some(s) if s.starts_with("git+") => Source::Git(s.to_owned()),
        Some(s) if s.starts_with("path+") => Source::Path,
        Some(s) => Source::Other(s.to_owned()),
    }
}

impl Lockfile {
    /// Parses Cargo.lock text strictly: every package needs a name and version, and a
    /// checksum, when present, must be 64 hex digits.
    pub fn parse(text: &str) -> Result<Lockfile, LockfileError> {
        if text.len() > MAX_LOCKFILE_BYTES {
            return Err(LockfileError::TooLarge(text.len()));
        }
        let raw: RawLock = toml::from_str(text).map_err(|e| LockfileError::Toml(e.to_string()))?;
        let version = match raw.version {
            Some(v @ 3..=4) => v as u32,
            Some(v) => return Err(LockfileError::Version(v)),
            None if raw.metadata.keys().any(|k| k.starts_with("checksum ")) => 1,
            None if raw.package.iter().any(|p| p.checksum.is_some()) => 2,
            None => 1,
        };
        let mut packages = Vec::with_capacity(raw.package.len());
        for (i, p) in raw.package.into_iter().enumerate() {
            let index = i + 1;
            let bad = |name: &str, reason: String| LockfileError::Package {
                index,
                name: name.to_owned(),
                reason,
            };
            let name = p.name.ok_or_else(|| bad("?", "missing `name`".into()))?;
            let ver = p
                .version
                .ok_or_else(|| bad(&name, "missing `version`".into()))?;
            if name.is_empty() || ver.is_empty() {
                return Err(bad(&name, "empty `name` or `version`".into()));
            }
            let checksum_text = match p.checksum {
                Some(c) => Some(c),
                None if version == 1 => {
                    let key = format!(
                        "checksum {name} {ver} ({})",
                        p.source.as_deref().unwrap_or_default()
                    );
                    match raw.metadata.get(&key) {
                        Some(toml::Value::String(s)) if s != "<none>" => Some(s.clone()),
                        _ => None,
                    }
                }
                None => None,
            };
            let checksum = match checksum_text {
                None => None,
                Some(c) => Some(
                    Digest::from_hex(&c)
                        .map_err(|e| bad(&name, format!("bad checksum {c:?}: {e}")))?,
                ),
            };
            packages.push(LockPackage {
                source: classify(p.source.as_deref()),
                name,
                version: ver,
                checksum,
            });
        }
        Ok(Lockfile { version, packages })
    }

    /// `(name, version) -> checksum` for crates.io packages, for importing audits.
    pub fn crates_io_digests(&self) -> BTreeMap<(String, String), Digest> {
        self.packages
            .iter()
            .filter(|p| p.source == Source::CratesIo)
            .filter_map(|p| Some(((p.name.clone(), p.version.clone()), p.checksum?)))
            .collect()
    }
}

/// The generic view of a Cargo.lock: crates.io packages pinned by their archive SHA-256.
pub(crate) fn to_entries(lock: &Lockfile) -> Result<super::ParsedLockfile, super::ParseError> {
    use super::{
        Collector, Ecosystem, FileDigest, Format, LockEntry, LockedFile, NotReviewable, PackageId,
        Resolution,
    };
    let mut c = Collector::new(Format::CargoLock);
    for (i, p) in lock.packages.iter().enumerate() {
        let at = format!("package #{} ({} {})", i + 1, p.name, p.version);
        let id =
            PackageId::new(Ecosystem::Cargo, &p.name, &p.version).map_err(|e| c.err(&at, e))?;
        let resolution = match &p.source {
            Source::CratesIo => match p.checksum.as_ref().and_then(FileDigest::from_attestation) {
                Some(d) => Resolution::Files(vec![LockedFile {
                    name: None,
                    digests: vec![d],
                }]),
                None => Resolution::UnknownDigest,
            },
            Source::Path => Resolution::NotReviewable(NotReviewable::Workspace(p.name.clone())),
            Source::Git(s) => Resolution::NotReviewable(NotReviewable::Git(s.clone())),
            Source::Registry(s) | Source::Other(s) => {
                Resolution::NotReviewable(NotReviewable::OtherSource(s.clone()))
            }
        };
        let key = format!("{} {} {:?}", p.name, p.version, p.source);
        c.push(
            key,
            LockEntry {
                id,
                resolution,
                locator: at,
                relation: None,
            },
        )?;
    }
    Ok(c.finish(Vec::new()))
}
