//! Compares a release archive (`.tar.gz`, `.tgz` or plain `.tar`) with a checked-out
//! source tree: the evidence behind `archive-matches-source` attestations (the xz
//! backdoor shipped in a tarball file that the tagged source did not have).
//!
//! Nothing is extracted: each archive member is hashed as it streams past, so a member's
//! path can point anywhere without touching the disk. The archive's single top directory
//! (`xz-5.6.1/`) is removed from every path; `.git` anywhere in the source tree is
//! ignored. Files compare by SHA-256 of their contents (modes and times are not compared:
//! archives and checkouts differ in them for harmless reasons); symbolic links compare by
//! their target.
//!
//! Hostile archives are refused with the member named: a path with `..` or a leading
//! `/`, a non-UTF-8 path, a link whose target is absolute or leaves the tree, a hard link
//! or a device, the same path twice, members outside one top directory, a member whose
//! claimed size is over the limit or larger than the data behind it, too many members,
//! too much data in all, an extension member (long name, pax header) over 1 MiB, or input
//! that is not a tarball. No claimed size or count drives an allocation: contents are read
//! through a fixed buffer, and extension members, which the tar reader buffers whole, are
//! measured by their header before it reads them ([`guard`]).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256, Sha512};

mod glob;
mod guard;

pub use glob::glob_match;
use guard::{Bounded, TOO_LARGE};

/// Bounds on what one comparison reads.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Members of the archive, and entries of the source tree.
    pub max_entries: usize,
    /// One file's size.
    pub max_file_bytes: u64,
    /// All decompressed bytes of the archive.
    pub max_total_bytes: u64,
    /// Directory depth of the source tree.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_entries: 200_000,
            max_file_bytes: 1 << 30,
            max_total_bytes: 8 << 30,
            max_depth: 64,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path} is not a tarball: {why}")]
    NotTar { path: String, why: String },
    #[error(
        "{path} is xz-compressed, which this client does not read: decompress it (`xz -dk`) and pass the .tar"
    )]
    Xz { path: String },
    #[error("member {member:?}: {why}")]
    BadMember { member: String, why: &'static str },
    #[error("member {member:?} is a {kind}, which a release archive comparison does not accept")]
    Unsupported { member: String, kind: &'static str },
    #[error("member {member:?} appears twice (an extractor would keep only one of them)")]
    Duplicate { member: String },
    #[error(
        "the archive has more than one top directory ({first:?} and {second:?}); a release archive has exactly one"
    )]
    MultipleTopDirs { first: String, second: String },
    #[error("member {member:?} is not inside a top directory; a release archive has exactly one")]
    NoTopDir { member: String },
    #[error("the archive has no files")]
    Empty,
    #[error("member {member:?} claims {claimed} bytes, over the {limit}-byte limit per file")]
    FileTooLarge {
        member: String,
        claimed: u64,
        limit: u64,
    },
    #[error("member {member:?} claims {claimed} bytes but the archive ends after {got}")]
    Truncated {
        member: String,
        claimed: u64,
        got: u64,
    },
    #[error("more than {limit} entries in {what}")]
    TooManyEntries { what: String, limit: usize },
    #[error("refused: {0}")]
    Refused(String),
    #[error("the archive decompresses to more than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("source tree {path}: {why}")]
    Source { path: String, why: String },
}

type Result<T, E = ArchiveError> = std::result::Result<T, E>;

/// What is at one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File([u8; 32]),
    Link(String),
}

/// A tree: relative `/`-separated paths (no top directory) to what is there.
pub type Tree = BTreeMap<String, Node>;

/// How one path differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// In the archive, not in the source.
    Added,
    /// In the source, not in the archive.
    Removed,
    /// In both, with other contents (or a file in one and a link in the other).
    Changed,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        }
    }
}

/// The archive as read: its tree, its top directory and its digests.
#[derive(Debug)]
pub struct ArchiveTree {
    pub top: String,
    pub tree: Tree,
    pub sha256: [u8; 32],
    pub sha512: [u8; 64],
}

/// Hashes the raw archive file (what a lockfile's digest names) while it is read.
struct Hashing<R> {
    inner: R,
    sha256: Sha256,
    sha512: Sha512,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha256.update(&buf[..n]);
        self.sha512.update(&buf[..n]);
        Ok(n)
    }
}

/// A member path, normalised: UTF-8, relative, no `..`, `.` and empty components
/// dropped. Returns the components.
fn member_components(raw: &[u8]) -> Result<Vec<String>> {
    let s = std::str::from_utf8(raw).map_err(|_| ArchiveError::BadMember {
        member: String::from_utf8_lossy(raw).into_owned(),
        why: "path is not UTF-8",
    })?;
    let bad = |why| ArchiveError::BadMember {
        member: s.to_owned(),
        why,
    };
    if s.starts_with('/') {
        return Err(bad(
            "absolute path (an extractor would write outside its directory)",
        ));
    }
    if s.contains('\\') || s.chars().any(char::is_control) {
        return Err(bad("path holds a backslash or a control character"));
    }
    let mut out = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(bad("path traversal: `..` component")),
            c => out.push(c.to_owned()),
        }
    }
    if out.is_empty() {
        return Err(bad("empty path"));
    }
    Ok(out)
}

/// A link target must stay inside the tree: relative, and never climbing above the top.
fn check_link_target(member: &str, components: &[String], target: &[u8]) -> Result<String> {
    let t = std::str::from_utf8(target).map_err(|_| ArchiveError::BadMember {
        member: member.to_owned(),
        why: "link target is not UTF-8",
    })?;
    let bad = |why| ArchiveError::BadMember {
        member: member.to_owned(),
        why,
    };
    if t.is_empty() {
        return Err(bad("symbolic link with an empty target"));
    }
    if t.starts_with('/') {
        return Err(bad("symbolic link to an absolute path"));
    }
    // Depth of the link's directory below the tree's root.
    let mut depth = components.len() as i64 - 1;
    for c in t.split('/') {
        match c {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            return Err(bad(
                "symbolic link that leaves the tree (`..` past its root)",
            ));
        }
    }
    Ok(t.to_owned())
}

/// SHA-256 of what `r` yields, through a fixed buffer; returns the digest and length.
fn hash_stream(r: &mut dyn Read, limit: u64) -> io::Result<([u8; 32], u64)> {
    let mut h = Sha256::new();
    let mut buf = [0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += k as u64;
        if n > limit {
            return Err(io::Error::other("over the per-file limit"));
        }
        h.update(&buf[..k]);
    }
    Ok((h.finalize().into(), n))
}

/// Reads the archive at `path`: gzip-compressed or plain tar, detected by content.
pub fn read_archive(path: &Path, limits: &Limits) -> Result<ArchiveTree> {
    let label = path.display().to_string();
    let f = fs::File::open(path).map_err(|source| ArchiveError::Io {
        path: label.clone(),
        source,
    })?;
    read_archive_from(&label, f, limits)
}

/// [`read_archive`] from any reader (`label` names it in errors).
pub fn read_archive_from(label: &str, r: impl Read, limits: &Limits) -> Result<ArchiveTree> {
    let io_err = |source| ArchiveError::Io {
        path: label.to_owned(),
        source,
    };
    let mut hashing = Hashing {
        inner: r,
        sha256: Sha256::new(),
        sha512: Sha512::new(),
    };
    let mut magic = [0u8; 6];
    let got = read_up_to(&mut hashing, &mut magic).map_err(io_err)?;
    let magic = &magic[..got];
    if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(ArchiveError::Xz {
            path: label.to_owned(),
        });
    }
    let gzip = magic.starts_with(&[0x1f, 0x8b]);
    let (top, tree) = {
        let stream = io::Cursor::new(magic.to_vec()).chain(&mut hashing);
        let raw: Box<dyn Read + '_> = if gzip {
            Box::new(flate2::read::GzDecoder::new(stream))
        } else {
            Box::new(stream)
        };
        let bounded = Bounded::new(raw, limits.max_total_bytes);
        read_members(label, bounded, limits)?
    };
    // The digest is of the whole file, also bytes past the tar's end-of-archive blocks.
    io::copy(&mut hashing, &mut io::sink()).map_err(io_err)?;
    Ok(ArchiveTree {
        top,
        tree,
        sha256: hashing.sha256.finalize().into(),
        sha512: hashing.sha512.finalize().into(),
    })
}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = r.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

/// Maps a tar reader's error: our size limit, or "not a tarball".
fn tar_error(label: &str, e: io::Error, limits: &Limits) -> ArchiveError {
    if e.to_string().contains(TOO_LARGE) {
        return ArchiveError::TooLarge {
            limit: limits.max_total_bytes,
        };
    }
    let why = e.to_string();
    if why.starts_with(guard::EXTENSION_REFUSED) {
        return ArchiveError::Refused(why);
    }
    ArchiveError::NotTar {
        path: label.to_owned(),
        why,
    }
}

fn read_members<R: Read>(label: &str, r: R, limits: &Limits) -> Result<(String, Tree)> {
    let mut ar = tar::Archive::new(r);
    let entries = ar.entries().map_err(|e| tar_error(label, e, limits))?;
    let mut top: Option<String> = None;
    let mut tree = Tree::new();
    let mut count = 0usize;
    for entry in entries {
        let mut entry = entry.map_err(|e| tar_error(label, e, limits))?;
        count += 1;
        if count > limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                what: label.to_owned(),
                limit: limits.max_entries,
            });
        }
        let kind = entry.header().entry_type();
        // `git archive` starts with a pax global header (the commit id): metadata, no path.
        if kind.is_pax_global_extensions() {
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let components = member_components(&raw)?;
        let member = components.join("/");
        match &top {
            None => top = Some(components[0].clone()),
            Some(t) if *t != components[0] => {
                return Err(ArchiveError::MultipleTopDirs {
                    first: t.clone(),
                    second: components[0].clone(),
                });
            }
            Some(_) => {}
        }
        let rel = components[1..].join("/");
        let node = if kind.is_dir() {
            if components.len() == 1 {
                continue; // the top directory itself
            }
            None
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            let claimed = entry.size();
            if claimed > limits.max_file_bytes {
                return Err(ArchiveError::FileTooLarge {
                    member,
                    claimed,
                    limit: limits.max_file_bytes,
                });
            }
            let (digest, got) = hash_stream(&mut entry, limits.max_file_bytes)
                .map_err(|e| tar_error(label, e, limits))?;
            if got != claimed {
                return Err(ArchiveError::Truncated {
                    member,
                    claimed,
                    got,
                });
            }
            Some(Node::File(digest))
        } else if kind.is_symlink() {
            let target = entry.link_name_bytes().ok_or(ArchiveError::BadMember {
                member: member.clone(),
                why: "symbolic link without a target",
            })?;
            Some(Node::Link(check_link_target(
                &member,
                &components[1..],
                &target,
            )?))
        } else {
            let what = if kind.is_hard_link() {
                "hard link"
            } else if kind.is_gnu_sparse() {
                "sparse file"
            } else if kind.is_character_special() || kind.is_block_special() {
                "device"
            } else if kind.is_fifo() {
                "FIFO"
            } else {
                "member of an unknown type"
            };
            return Err(ArchiveError::Unsupported { member, kind: what });
        };
        if components.len() == 1 {
            return Err(ArchiveError::NoTopDir { member });
        }
        let Some(node) = node else { continue };
        if tree.insert(rel, node).is_some() {
            return Err(ArchiveError::Duplicate { member });
        }
    }
    let top = top.ok_or(ArchiveError::Empty)?;
    if tree.is_empty() {
        return Err(ArchiveError::Empty);
    }
    Ok((top, tree))
}

/// Reads the source tree at `root` without following links; `.git` is skipped wherever
/// it appears (a directory, or the file a worktree or submodule has).
pub fn read_source(root: &Path, limits: &Limits) -> Result<Tree> {
    let label = root.display().to_string();
    let err = |p: &Path, why: String| ArchiveError::Source {
        path: p.display().to_string(),
        why,
    };
    let meta = fs::metadata(root).map_err(|e| err(root, e.to_string()))?;
    if !meta.is_dir() {
        return Err(err(root, "not a directory".into()));
    }
    let mut tree = Tree::new();
    let mut stack: Vec<(PathBuf, Vec<String>)> = vec![(root.to_path_buf(), Vec::new())];
    let mut count = 0usize;
    while let Some((dir, prefix)) = stack.pop() {
        if prefix.len() > limits.max_depth {
            return Err(err(
                &dir,
                format!("deeper than {} directories", limits.max_depth),
            ));
        }
        let rd = fs::read_dir(&dir).map_err(|e| err(&dir, e.to_string()))?;
        for ent in rd {
            let ent = ent.map_err(|e| err(&dir, e.to_string()))?;
            count += 1;
            if count > limits.max_entries {
                return Err(ArchiveError::TooManyEntries {
                    what: label.clone(),
                    limit: limits.max_entries,
                });
            }
            let name = ent.file_name();
            let Some(name) = name.to_str() else {
                return Err(err(&ent.path(), "file name is not UTF-8".into()));
            };
            if name == ".git" {
                continue;
            }
            let mut comps = prefix.clone();
            comps.push(name.to_owned());
            let p = ent.path();
            let ft = fs::symlink_metadata(&p).map_err(|e| err(&p, e.to_string()))?;
            let rel = comps.join("/");
            if ft.is_dir() {
                stack.push((p, comps));
            } else if ft.is_symlink() {
                let t = fs::read_link(&p).map_err(|e| err(&p, e.to_string()))?;
                let t = t
                    .to_str()
                    .ok_or_else(|| err(&p, "link target is not UTF-8".into()))?;
                tree.insert(rel, Node::Link(t.to_owned()));
            } else if ft.is_file() {
                if ft.len() > limits.max_file_bytes {
                    return Err(err(
                        &p,
                        format!(
                            "{} bytes, over the {}-byte limit",
                            ft.len(),
                            limits.max_file_bytes
                        ),
                    ));
                }
                let mut f = fs::File::open(&p).map_err(|e| err(&p, e.to_string()))?;
                let (d, _) = hash_stream(&mut f, limits.max_file_bytes)
                    .map_err(|e| err(&p, e.to_string()))?;
                tree.insert(rel, Node::File(d));
            } else {
                return Err(err(&p, "neither a file, a directory nor a link".into()));
            }
        }
    }
    Ok(tree)
}

/// Every path that differs, sorted by path.
pub fn diff(archive: &Tree, source: &Tree) -> Vec<(String, Change)> {
    let mut out = Vec::new();
    for (p, n) in archive {
        match source.get(p) {
            None => out.push((p.clone(), Change::Added)),
            Some(m) if m != n => out.push((p.clone(), Change::Changed)),
            Some(_) => {}
        }
    }
    for p in source.keys() {
        if !archive.contains_key(p) {
            out.push((p.clone(), Change::Removed));
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_are_normalised_or_refused() {
        assert_eq!(
            member_components(b"./x-1/a//b/./c").unwrap(),
            ["x-1", "a", "b", "c"]
        );
        for (raw, why) in [
            (&b"/etc/passwd"[..], "absolute"),
            (b"x-1/../../etc", "traversal"),
            (b"x-1/a\\b", "backslash"),
            (b"x-1/\xff", "UTF-8"),
            (b"./", "empty"),
        ] {
            let e = member_components(raw).unwrap_err().to_string();
            assert!(e.contains(why), "{raw:?}: {e}");
        }
    }

    #[test]
    fn link_targets_stay_inside() {
        let c = |s: &str| s.split('/').map(str::to_owned).collect::<Vec<_>>();
        assert!(check_link_target("m", &c("a/b"), b"../c").is_ok());
        assert!(check_link_target("m", &c("a/b"), b"../../c").is_err());
        assert!(check_link_target("m", &c("b"), b"/etc/passwd").is_err());
    }
}
