//! Lockfile readers: what a build may install, as normalised package identities with the
//! set of files (and their digests) the installer is allowed to use for each.
//!
//! Each format has its own module; [`detect`] picks one by file name, then by content.
//! Every reader is strict: an entry it cannot understand is an error naming the entry, and
//! an entry that cannot be bound to registry bytes (git, path, workspace, editable, link,
//! bundled) is reported as [`Resolution::NotReviewable`], never dropped or passed.
//! `specs/lockfiles.md` gives the per-format mapping.

pub mod cargo;
pub mod detect;
pub mod digest;
pub mod golang;
pub mod gradle;
pub mod ident;
pub mod npm;
pub mod python;
pub mod requirements;
pub mod sbom;

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

pub use cargo::{
    CRATES_IO_GIT, CRATES_IO_SPARSE, LockPackage, Lockfile, LockfileError, MAX_LOCKFILE_BYTES,
    NotCheckable, Source,
};
pub use detect::Format;
pub use digest::FileDigest;
pub use ident::{Ecosystem, PackageId};

/// Most entries one lockfile may have (nushell's Cargo.lock has 902, large npm monorepos a
/// few thousand): bounds memory for hostile input.
pub const MAX_ENTRIES: usize = 200_000;
/// Most files one entry may allow (numpy releases carry about 70 wheels).
pub const MAX_FILES_PER_ENTRY: usize = 4096;

/// One file the installer may fetch for an entry, with every digest the lockfile gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockedFile {
    /// File name when the lockfile names it (a wheel, an sdist); `None` where the format
    /// has one artifact per release (npm tarball, crate, Go module zip).
    pub name: Option<String>,
    /// Never empty.
    pub digests: Vec<FileDigest>,
}

/// Why an entry cannot be checked against reviews of registry bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NotReviewable {
    Git(String),
    /// A local directory or file (`path`, `directory`, `file:`).
    Path(String),
    /// A member of the project's own workspace (Cargo path member, npm workspace link).
    Workspace(String),
    /// Installed in editable/develop mode from a local tree.
    Editable(String),
    /// npm `link: true`: a symlink to another entry or directory.
    Link(String),
    /// npm `inBundle`: shipped inside its parent's tarball, covered by that review only.
    Bundled,
    /// A direct URL or another registry the reviews do not name.
    OtherSource(String),
    /// An SBOM component without a purl (nothing to name it by).
    NoPurl(String),
}

impl fmt::Display for NotReviewable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReviewable::Git(s) => write!(f, "git source ({s})"),
            NotReviewable::Path(s) => write!(f, "local path ({s})"),
            NotReviewable::Workspace(s) => write!(f, "workspace member ({s})"),
            NotReviewable::Editable(s) => write!(f, "editable install ({s})"),
            NotReviewable::Link(s) => write!(f, "link to {s}"),
            NotReviewable::Bundled => f.write_str("bundled inside its parent's tarball"),
            NotReviewable::OtherSource(s) => write!(f, "source not reviewable ({s})"),
            NotReviewable::NoPurl(s) => write!(f, "SBOM component {s:?} has no purl"),
        }
    }
}

/// What an entry lets the installer use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// Registry files, each pinned by digest. Never empty: every one must be covered.
    Files(Vec<LockedFile>),
    /// A registry release the lockfile pins by version only (Gradle): it can pass only
    /// when the policy says `accept-unknown-digests`.
    UnknownDigest,
    NotReviewable(NotReviewable),
}

/// How a Go module relates to the main module (from go.mod).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Direct,
    Indirect,
    /// In go.sum but not required by go.mod (kept for module-graph pruning checks).
    GraphOnly,
}

/// One package the build may install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockEntry {
    pub id: PackageId,
    pub resolution: Resolution,
    /// Where the entry is in the file (npm key, `line N`), for messages and SARIF.
    pub locator: String,
    pub relation: Option<Relation>,
}

/// A lockfile of any supported format, read completely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLockfile {
    pub format: Format,
    pub entries: Vec<LockEntry>,
    /// Things the reader wants the user to know (a go.sum without its go.mod).
    pub notes: Vec<String>,
}

/// Why a lockfile could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is over the {MAX_LOCKFILE_BYTES}-byte limit")]
    TooLarge { path: String },
    #[error("{path} is not UTF-8")]
    NotUtf8 { path: String },
    #[error("{0}")]
    Detect(#[from] detect::DetectError),
    #[error("{0}")]
    Parse(#[from] ParseError),
}

/// Why lockfile text is not a valid lockfile of its format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{format} is {0} bytes, over the {MAX_LOCKFILE_BYTES}-byte limit", format = .1)]
    TooLarge(usize, Format),
    #[error("{format}: not valid {syntax}: {reason}")]
    Syntax {
        format: Format,
        syntax: &'static str,
        reason: String,
    },
    #[error("{format}: {reason}")]
    Document { format: Format, reason: String },
    #[error("{format}: {at}: {reason}")]
    Entry {
        format: Format,
        at: String,
        reason: String,
    },
    #[error("{format}: {at}: duplicate entry {what}")]
    Duplicate {
        format: Format,
        at: String,
        what: String,
    },
    #[error("{format} has more than {MAX_ENTRIES} entries", format = .0)]
    TooManyEntries(Format),
    #[error("{0}")]
    Cargo(#[from] LockfileError),
}

/// Shared bookkeeping for readers: size limits and duplicate detection.
pub(crate) struct Collector {
    format: Format,
    entries: Vec<LockEntry>,
    seen: HashSet<String>,
}

impl Collector {
    pub(crate) fn new(format: Format) -> Collector {
        Collector {
            format,
            entries: Vec::new(),
            seen: HashSet::new(),
        }
    }

    pub(crate) fn err(&self, at: impl Into<String>, reason: impl fmt::Display) -> ParseError {
        ParseError::Entry {
            format: self.format,
            at: at.into(),
            reason: reason.to_string(),
        }
    }

    /// Adds an entry; `key` identifies it for duplicate detection (two entries with the
    /// same key mean a hand-edited or merged-badly file: refused, not guessed at).
    pub(crate) fn push(&mut self, key: String, entry: LockEntry) -> Result<(), ParseError> {
        if self.entries.len() >= MAX_ENTRIES {
            return Err(ParseError::TooManyEntries(self.format));
        }
        if let Resolution::Files(files) = &entry.resolution {
            if files.is_empty() || files.iter().any(|f| f.digests.is_empty()) {
                return Err(self.err(entry.locator, "an entry with files needs a digest for each"));
            }
            if files.len() > MAX_FILES_PER_ENTRY {
                return Err(self.err(
                    entry.locator,
                    format!(
                        "{} files, over the limit of {MAX_FILES_PER_ENTRY}",
                        files.len()
                    ),
                ));
            }
        }
        if !self.seen.insert(key.clone()) {
            return Err(ParseError::Duplicate {
                format: self.format,
                at: entry.locator,
                what: key,
            });
        }
        self.entries.push(entry);
        Ok(())
    }

    pub(crate) fn finish(self, notes: Vec<String>) -> ParsedLockfile {
        ParsedLockfile {
            format: self.format,
            entries: self.entries,
            notes,
        }
    }
}

pub(crate) fn check_size(text: &str, format: Format) -> Result<(), ParseError> {
    if text.len() > MAX_LOCKFILE_BYTES {
        return Err(ParseError::TooLarge(text.len(), format));
    }
    Ok(())
}

impl ParsedLockfile {
    /// Parses `text` as `format`. `companion` is go.mod text for a go.sum.
    pub fn parse(
        format: Format,
        text: &str,
        companion: Option<&str>,
    ) -> Result<ParsedLockfile, ParseError> {
        check_size(text, format)?;
        match format {
            Format::CargoLock => cargo::to_entries(&Lockfile::parse(text)?),
            Format::NpmLock => npm::parse(text),
            Format::UvLock => python::parse_uv(text),
            Format::PoetryLock => python::parse_poetry(text),
            Format::Pylock => python::parse_pylock(text),
            Format::Requirements => requirements::parse(text),
            Format::GoSum => golang::parse(text, companion),
            Format::GradleLock => gradle::parse(text),
            Format::CycloneDx => sbom::parse_cyclonedx(text),
            Format::Spdx => sbom::parse_spdx(text),
        }
    }

    /// The generic view of an already parsed Cargo.lock.
    pub fn from_cargo(lock: &Lockfile) -> Result<ParsedLockfile, ParseError> {
        cargo::to_entries(lock)
    }

    /// Reads `path`, detecting its format by name and content (go.sum also reads its go.mod
    /// beside it: `go.mod`, or `X.go.mod` for `X.go.sum`).
    pub fn read(path: &Path) -> Result<ParsedLockfile, ReadError> {
        let text = read_limited(path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let format = detect::detect(&name, &text)?;
        let companion = match format {
            Format::GoSum => {
                let gomod = match name.strip_suffix(".go.sum") {
                    Some(stem) => path.with_file_name(format!("{stem}.go.mod")),
                    None => path.with_file_name("go.mod"),
                };
                if gomod.is_file() {
                    Some(read_limited(&gomod)?)
                } else {
                    None
                }
            }
            _ => None,
        };
        Ok(ParsedLockfile::parse(format, &text, companion.as_deref())?)
    }

    /// Entries by ecosystem, in file order.
    pub fn count(&self, pred: impl Fn(&LockEntry) -> bool) -> usize {
        self.entries.iter().filter(|e| pred(e)).count()
    }
}

fn read_limited(path: &Path) -> Result<String, ReadError> {
    use std::io::Read as _;
    let p = path.display().to_string();
    let io = |source| ReadError::Io {
        path: p.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    // Read at most one byte past the limit, so a growing or huge file never fills memory.
    let mut bytes = Vec::new();
    file.take(MAX_LOCKFILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > MAX_LOCKFILE_BYTES {
        return Err(ReadError::TooLarge { path: p });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8 { path: p })
}
