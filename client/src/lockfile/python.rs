//! The TOML Python lockfiles: uv's `uv.lock`, Poetry's `poetry.lock` and PEP 751
//! `pylock.toml`. A PyPI release is several files (an sdist and wheels per platform); the
//! installer may pick any of them, so an entry lists them all and passes only when every
//! one is covered.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{
    Collector, Ecosystem, FileDigest, Format, LockEntry, LockedFile, NotReviewable, PackageId,
    ParseError, ParsedLockfile, Resolution,
};

/// The version reported for a local project that declares none (uv's editable root).
pub const UNVERSIONED: &str = "unversioned";

fn toml_err(format: Format) -> impl Fn(toml::de::Error) -> ParseError {
    move |e| ParseError::Syntax {
        format,
        syntax: "TOML",
        reason: e.to_string(),
    }
}

/// The last path segment of a download URL: the wheel or sdist file name.
fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

fn push(
    c: &mut Collector,
    at: String,
    source: String,
    name: &str,
    version: &str,
    resolution: Resolution,
) -> Result<(), ParseError> {
    let id = PackageId::new(Ecosystem::Pypi, name, version).map_err(|e| c.err(&at, e))?;
    // Keyed by the normalised name: `Foo_Bar` and `foo-bar` are one project.
    let key = format!("{} {} {source}", id.name(), id.version());
    c.push(
        key,
        LockEntry {
            id,
            resolution,
            locator: at,
            relation: None,
        },
    )
}

// ---------------------------------------------------------------- uv.lock

#[derive(Deserialize)]
struct UvLock {
    version: Option<i64>,
    #[serde(default)]
    package: Vec<UvPackage>,
}

#[derive(Deserialize)]
struct UvPackage {
    name: String,
    version: Option<String>,
    source: Option<BTreeMap<String, toml::Value>>,
    sdist: Option<UvFile>,
    #[serde(default)]
    wheels: Vec<UvFile>,
}

#[derive(Deserialize)]
struct UvFile {
    url: Option<String>,
    path: Option<String>,
    filename: Option<String>,
    hash: Option<String>,
}

fn source_str(src: &BTreeMap<String, toml::Value>, key: &str) -> Option<String> {
    src.get(key).map(|v| match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

pub(crate) fn parse_uv(text: &str) -> Result<ParsedLockfile, ParseError> {
    let raw: UvLock = toml::from_str(text).map_err(toml_err(Format::UvLock))?;
    match raw.version {
        Some(1) => {}
        v => {
            return Err(ParseError::Document {
                format: Format::UvLock,
                reason: format!("unsupported version {v:?} (supported: 1)"),
            });
        }
    }
    let mut c = Collector::new(Format::UvLock);
    for (i, p) in raw.package.iter().enumerate() {
        let version = p.version.as_deref().unwrap_or(UNVERSIONED);
        let at = format!("package #{} ({} {version})", i + 1, p.name);
        let src = p.source.as_ref().ok_or_else(|| c.err(&at, "no `source`"))?;
        let not = |n| Resolution::NotReviewable(n);
        let resolution = if src.contains_key("registry") {
            let mut files = Vec::new();
            for f in p.sdist.iter().chain(&p.wheels) {
                let label = f
                    .filename
                    .clone()
                    .or_else(|| f.url.as_deref().map(file_name))
                    .or_else(|| f.path.as_deref().map(file_name))
                    .ok_or_else(|| c.err(&at, "a file without url, path or filename"))?;
                let hash = f
                    .hash
                    .as_deref()
                    .ok_or_else(|| c.err(&at, format!("{label} has no hash")))?;
                let d = FileDigest::parse(hash).map_err(|e| c.err(&at, e))?;
                files.push(LockedFile {
                    name: Some(label),
                    digests: vec![d],
                });
            }
            if files.is_empty() {
                Resolution::UnknownDigest
            } else {
                Resolution::Files(files)
            }
        } else if let Some(s) = source_str(src, "git") {
            not(NotReviewable::Git(s))
        } else if let Some(s) = source_str(src, "editable") {
            not(NotReviewable::Editable(s))
        } else if let Some(s) = source_str(src, "virtual") {
            not(NotReviewable::Workspace(s))
        } else if let Some(s) = source_str(src, "path").or_else(|| source_str(src, "directory")) {
            not(NotReviewable::Path(s))
        } else if let Some(s) = source_str(src, "url") {
            not(NotReviewable::OtherSource(s))
        } else {
            return Err(c.err(
                &at,
                format!("unknown source kind {:?}", src.keys().collect::<Vec<_>>()),
            ));
        };
        push(&mut c, at, format!("{src:?}"), &p.name, version, resolution)?;
    }
    Ok(c.finish(Vec::new()))
}

// ---------------------------------------------------------------- poetry.lock

#[derive(Deserialize)]
struct PoetryLock {
    #[serde(default)]
    package: Vec<PoetryPackage>,
    #[serde(default)]
    metadata: PoetryMetadata,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct PoetryMetadata {
    lock_version: Option<String>,
    /// lock-version 1.x keeps files here, by package name.
    #[serde(default)]
    files: BTreeMap<String, Vec<PoetryFile>>,
}

#[derive(Deserialize)]
struct PoetryPackage {
    name: String,
    version: String,
    files: Option<Vec<PoetryFile>>,
    #[serde(default)]
    develop: bool,
    source: Option<PoetrySource>,
}

#[derive(Deserialize)]
struct PoetryFile {
    file: String,
    hash: String,
}

#[derive(Deserialize)]
struct PoetrySource {
    #[serde(rename = "type")]
    kind: String,
    url: String,
}

pub(crate) fn parse_poetry(text: &str) -> Result<ParsedLockfile, ParseError> {
    let raw: PoetryLock = toml::from_str(text).map_err(toml_err(Format::PoetryLock))?;
    if let Some(v) = &raw.metadata.lock_version
        && !(v.starts_with("1.") || v.starts_with("2."))
    {
        return Err(ParseError::Document {
            format: Format::PoetryLock,
            reason: format!("unsupported lock-version {v:?} (supported: 1.x, 2.x)"),
        });
    }
    let mut c = Collector::new(Format::PoetryLock);
    for (i, p) in raw.package.iter().enumerate() {
        let at = format!("package #{} ({} {})", i + 1, p.name, p.version);
        let not = |n| Resolution::NotReviewable(n);
        let resolution = match p.source.as_ref().map(|s| (s.kind.as_str(), s.url.clone())) {
            Some(("git", url)) => not(NotReviewable::Git(url)),
            Some(("directory", url)) if p.develop => not(NotReviewable::Editable(url)),
            Some(("directory" | "file", url)) => not(NotReviewable::Path(url)),
            Some(("url", url)) => not(NotReviewable::OtherSource(url)),
            // `legacy` is a secondary package index: still an index release, pinned by hash.
            None | Some(("legacy", _)) => {
                let files = p.files.as_ref().or_else(|| {
                    let norm = super::ident::pep503(&p.name)?;
                    raw.metadata
                        .files
                        .iter()
                        .find(|(k, _)| super::ident::pep503(k).as_deref() == Some(&norm))
                        .map(|(_, v)| v)
                });
                let mut out = Vec::new();
                for f in files.into_iter().flatten() {
                    let d = FileDigest::parse(&f.hash).map_err(|e| c.err(&at, e))?;
                    out.push(LockedFile {
                        name: Some(f.file.clone()),
                        digests: vec![d],
                    });
                }
                if out.is_empty() {
                    Resolution::UnknownDigest
                } else {
                    Resolution::Files(out)
                }
            }
            Some((other, _)) => return Err(c.err(&at, format!("unknown source type {other:?}"))),
        };
        push(&mut c, at, String::new(), &p.name, &p.version, resolution)?;
    }
    Ok(c.finish(Vec::new()))
}

// ---------------------------------------------------------------- pylock.toml (PEP 751)

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Pylock {
    lock_version: String,
    #[serde(default)]
    packages: Vec<PylockPackage>,
}

#[derive(Deserialize)]
struct PylockPackage {
    name: String,
    version: Option<String>,
    index: Option<String>,
    vcs: Option<PylockVcs>,
    directory: Option<PylockDirectory>,
    archive: Option<PylockFile>,
    sdist: Option<PylockFile>,
    #[serde(default)]
    wheels: Vec<PylockFile>,
}

#[derive(Deserialize)]
struct PylockVcs {
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
    path: Option<String>,
}

#[derive(Deserialize)]
struct PylockDirectory {
    path: String,
    #[serde(default)]
    editable: bool,
}

#[derive(Deserialize)]
struct PylockFile {
    name: Option<String>,
    url: Option<String>,
    path: Option<String>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

pub(crate) fn parse_pylock(text: &str) -> Result<ParsedLockfile, ParseError> {
    let raw: Pylock = toml::from_str(text).map_err(toml_err(Format::Pylock))?;
    // PEP 751: installers must refuse a major version they do not know.
    if !raw.lock_version.starts_with("1.") {
        return Err(ParseError::Document {
            format: Format::Pylock,
            reason: format!(
                "unsupported lock-version {:?} (supported: 1.x)",
                raw.lock_version
            ),
        });
    }
    let mut c = Collector::new(Format::Pylock);
    for (i, p) in raw.packages.iter().enumerate() {
        let version = p.version.as_deref().unwrap_or(UNVERSIONED);
        let at = format!("packages #{} ({} {version})", i + 1, p.name);
        let not = |n| Resolution::NotReviewable(n);
        let resolution = if let Some(v) = &p.vcs {
            let loc = v.url.clone().or_else(|| v.path.clone()).unwrap_or_default();
            if v.kind == "git" {
                not(NotReviewable::Git(loc))
            } else {
                not(NotReviewable::OtherSource(format!("{} {loc}", v.kind)))
            }
        } else if let Some(d) = &p.directory {
            if d.editable {
                not(NotReviewable::Editable(d.path.clone()))
            } else {
                not(NotReviewable::Path(d.path.clone()))
            }
        } else if let Some(a) = &p.archive {
            not(NotReviewable::OtherSource(
                a.url.clone().or_else(|| a.path.clone()).unwrap_or_default(),
            ))
        } else {
            let mut files = Vec::new();
            for f in p.sdist.iter().chain(&p.wheels) {
                let label = f
                    .name
                    .clone()
                    .or_else(|| f.url.as_deref().map(file_name))
                    .or_else(|| f.path.as_deref().map(file_name))
                    .ok_or_else(|| c.err(&at, "a file without name, url or path"))?;
                let mut digests = Vec::new();
                for (alg, value) in &f.hashes {
                    if matches!(alg.as_str(), "sha256" | "sha512" | "sha1") {
                        digests.push(
                            FileDigest::parse(&format!("{alg}:{value}"))
                                .map_err(|e| c.err(&at, e))?,
                        );
                    }
                }
                if digests.is_empty() {
                    return Err(c.err(&at, format!("{label} has no sha256, sha512 or sha1 hash")));
                }
                files.push(LockedFile {
                    name: Some(label),
                    digests,
                });
            }
            if files.is_empty() {
                return Err(c.err(&at, "no sdist, wheels, archive, directory or vcs"));
            }
            Resolution::Files(files)
        };
        let index = p.index.clone().unwrap_or_default();
        push(&mut c, at, index, &p.name, version, resolution)?;
    }
    Ok(c.finish(Vec::new()))
}
