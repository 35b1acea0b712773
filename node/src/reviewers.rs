//! The registered reviewer keys: a plain text file of signed-note vkeys, one per line.
//!
//! Kept outside the store because redb holds an exclusive lock while `serve` runs, and
//! operators must be able to add reviewers to a running node. Writers replace the file
//! atomically (temp file, fsync, rename, directory fsync) under an advisory lock;
//! [`ReviewerWatch`] re-reads it whenever its identity (inode, mtime, length) changes.
//! Blank lines and lines starting with `#` are ignored.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use quorate_proto::note::{self, ED25519_TYPE};

use crate::sequencer::ReviewerSet;

/// One registered reviewer key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewerKey {
    /// The vkey as written in the file.
    pub vkey: String,
    /// Its key name.
    pub name: String,
    /// The raw Ed25519 public key (what attestations carry).
    pub public_key: [u8; 32],
}

/// Parses an Ed25519 signed-note vkey (`<name>+<hex keyid>+base64(0x01||pubkey)`).
pub fn parse_reviewer_vkey(vkey: &str) -> anyhow::Result<ReviewerKey> {
    let vkey = vkey.trim();
    let k = note::parse_vkey(vkey).map_err(|e| anyhow::anyhow!("invalid vkey {vkey:?}: {e}"))?;
    if k.key_type != ED25519_TYPE {
        bail!(
            "vkey {vkey:?} has type 0x{:02x}; reviewer keys are Ed25519 (0x01)",
            k.key_type
        );
    }
    // Rejects malformed points too.
    note::Ed25519Verifier::from_parsed(&k)
        .map_err(|e| anyhow::anyhow!("invalid vkey {vkey:?}: {e}"))?;
    let public_key: [u8; 32] = k
        .public_key
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("vkey {vkey:?}: public key is not 32 bytes"))?;
    Ok(ReviewerKey {
        vkey: vkey.to_owned(),
        name: k.name,
        public_key,
    })
}

/// A VKEY argument: a vkey string, or a path to a file (e.g. `NAME.pub`) holding one.
pub fn resolve_vkey_arg(arg: &str) -> anyhow::Result<ReviewerKey> {
    if let Ok(k) = parse_reviewer_vkey(arg) {
        return Ok(k);
    }
    let path = Path::new(arg);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading vkey file {}", path.display()))?;
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| anyhow::anyhow!("vkey file {} is empty", path.display()))?;
        return parse_reviewer_vkey(line).with_context(|| format!("vkey file {}", path.display()));
    }
    parse_reviewer_vkey(arg).context("argument is neither a vkey nor a readable vkey file")
}

/// Parses the list file's text.
pub fn parse_list(text: &str) -> anyhow::Result<Vec<ReviewerKey>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_reviewer_vkey(line).with_context(|| format!("line {}", i + 1))?);
    }
    Ok(out)
}

/// Reads the list; a missing file is an empty list.
pub fn read_list(path: &Path) -> anyhow::Result<Vec<ReviewerKey>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_list(&text).with_context(|| format!("reviewer list {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Atomically replaces the list: temp file, fsync, rename, directory fsync.
pub fn write_list(path: &Path, keys: &[ReviewerKey]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("reviewers"),
        std::process::id()
    ));
    let mut text = String::from("# quorate-node registered reviewer keys (one vkey per line)\n");
    for k in keys {
        text.push_str(&k.vkey);
        text.push('\n');
    }
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    crate::datadir::sync_dir(dir)
}

/// Runs `f` on the list under an exclusive advisory lock, writing back what it returns.
fn edit_list<T>(
    path: &Path,
    f: impl FnOnce(&mut Vec<ReviewerKey>) -> anyhow::Result<(bool, T)>,
) -> anyhow::Result<T> {
    let lock_path = path.with_extension("lock");
    let lock = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    let mut keys = read_list(path)?;
    let (changed, out) = f(&mut keys)?;
    if changed {
        write_list(path, &keys)?;
    }
    drop(lock);
    Ok(out)
}

/// Adds a key; returns false if it was already registered.
pub fn add(path: &Path, key: ReviewerKey) -> anyhow::Result<bool> {
    edit_list(path, |keys| {
        if keys.iter().any(|k| k.public_key == key.public_key) {
            return Ok((false, false));
        }
        keys.push(key);
        Ok((true, true))
    })
}

/// Removes every line with this public key; returns false if none was registered.
pub fn remove(path: &Path, key: &ReviewerKey) -> anyhow::Result<bool> {
    edit_list(path, |keys| {
        let before = keys.len();
        keys.retain(|k| k.public_key != key.public_key);
        let changed = keys.len() != before;
        Ok((changed, changed))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    mtime: i64,
    mtime_nsec: i64,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        ino: m.ino(),
        mtime: m.mtime(),
        mtime_nsec: m.mtime_nsec(),
        len: m.len(),
    })
}

/// The live reviewer set of a running node, reloaded when the file changes.
#[derive(Debug)]
pub struct ReviewerWatch {
    path: PathBuf,
    state: Mutex<(Option<Stamp>, Arc<ReviewerSet>)>,
}

impl ReviewerWatch {
    /// Loads the list at `path` (an unreadable or invalid list is an error here).
    pub fn open(path: impl Into<PathBuf>) -> anyhow::Result<ReviewerWatch> {
        let path = path.into();
        let st = stamp(&path);
        let keys = read_list(&path)?;
        let set = ReviewerSet::new(keys.iter().map(|k| k.public_key));
        Ok(ReviewerWatch {
            path,
            state: Mutex::new((st, Arc::new(set))),
        })
    }

    /// The current set, re-reading the file first if it changed (one `stat` per call).
    /// If the new file is invalid, the previous set stays in force and an error is logged.
    pub fn current(&self) -> Arc<ReviewerSet> {
        let now = stamp(&self.path);
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        if now != state.0 {
            match read_list(&self.path) {
                Ok(keys) => {
                    let set = ReviewerSet::new(keys.iter().map(|k| k.public_key));
                    tracing::info!(
                        reviewers = set.len(),
                        "reloaded reviewer list {}",
                        self.path.display()
                    );
                    *state = (now, Arc::new(set));
                }
                Err(e) => {
                    tracing::error!("keeping the previous reviewer list: {e:#}");
                    state.0 = now;
                }
            }
        }
        state.1.clone()
    }
}
