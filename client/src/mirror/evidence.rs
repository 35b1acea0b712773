//! Consistency between two checkpoints of one log, and equivocation evidence: proven
//! from authenticated tiles, stored in the cache, fetched from nodes and witnesses, and
//! always re-verified under a policy log key before it counts.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::Path;

use quorate_proto::checkpoint::VerifiedCheckpoint;
use quorate_proto::equivocation::{Equivocation, MAX_EVIDENCE_BYTES, VerifiedEquivocation};
use quorate_proto::merkle::{self, Hash};
use quorate_proto::tile::TileHashReader;

use super::tiles::{CachedTiles, read_capped, write_atomic};
use crate::dirnames::origin_dir;
use crate::policy::Policy;

pub(super) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Proves `small` consistent with `big` from authenticated tiles of `big`'s tree, or
/// returns verified-shaped evidence that they conflict. Both sizes must already be
/// trusted (cosigned as the policy requires): `big`'s size decides which tiles are read.
pub(super) fn consistency(
    small: &VerifiedCheckpoint,
    big: &VerifiedCheckpoint,
    tiles: &CachedTiles,
) -> Result<Option<Equivocation>, String> {
    let (cs, cb) = (small.checkpoint(), big.checkpoint());
    if cs.size() == cb.size() {
        return Ok(same_size(small, big));
    }
    if cs.size() == 0 {
        return Ok((*cs.root_hash() != merkle::empty_root()).then(|| {
            Equivocation::with_prefix(
                small.note_bytes(),
                big.note_bytes(),
                merkle::empty_root(),
                Vec::new(),
            )
        }));
    }
    let reader = TileHashReader::new(cb.size(), *cb.root_hash(), tiles);
    let proof = merkle::prove_tree(cb.size(), cs.size(), &reader).map_err(|e| e.to_string())?;
    match merkle::check_tree(&proof, cb.size(), cb.root_hash(), cs.size(), cs.root_hash()) {
        Ok(()) => Ok(None),
        Err(_) => {
            let prefix = merkle::tree_hash(cs.size(), &reader).map_err(|e| e.to_string())?;
            Ok(Some(Equivocation::with_prefix(
                small.note_bytes(),
                big.note_bytes(),
                prefix,
                proof,
            )))
        }
    }
}

/// Evidence from two checkpoints of the same size with different roots (no tiles needed,
/// so it is checked even when neither size is trusted yet).
pub(super) fn same_size(a: &VerifiedCheckpoint, b: &VerifiedCheckpoint) -> Option<Equivocation> {
    let (ca, cb) = (a.checkpoint(), b.checkpoint());
    (ca.size() == cb.size() && ca.root_hash() != cb.root_hash())
        .then(|| Equivocation::same_size(a.note_bytes(), b.note_bytes()))
}

/// Most pieces of evidence kept per log, in the cache and in memory. One verified piece is
/// enough to distrust a log; a few show distinct forks. Whoever serves evidence (a node or
/// witness in the policy, anyone on an `http://` path, or the captured log itself, which
/// can sign endless forks) cannot make the cache grow past this (the witness keeps as
/// many: `MAX_EVIDENCE_PER_ORIGIN`).
pub const MAX_EVIDENCE_PER_ORIGIN: usize = 4;
/// Most evidence files read from the cache in one run (all logs together, including files
/// in the flat layout of earlier versions), so that a directory filled by anything else
/// costs a bounded amount of work on every check.
pub const MAX_EVIDENCE_FILES_READ: usize = 64;
/// Most directory entries listed per evidence directory in one run; the files read are the
/// first ones by name among these.
const MAX_EVIDENCE_LISTED: usize = 4096;

/// Stores verified evidence in its canonical form (log signatures only) under its
/// canonical id, `CACHE/equivocations/<origin-dir>/<id-hex>`, unless that log already has
/// [`MAX_EVIDENCE_PER_ORIGIN`] pieces. Copies that differ only in lines the log did not
/// sign are one file. Returns whether the canonical evidence is now stored.
pub(super) fn store_evidence(cache: &Path, v: &VerifiedEquivocation) -> bool {
    let c = v.canonical();
    let dir = cache.join("equivocations").join(origin_dir(v.origin()));
    let p = dir.join(hex(&c.id()));
    if p.is_file() {
        return true;
    }
    let held = fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .take(MAX_EVIDENCE_LISTED)
                .filter(|e| is_id_name(&e.file_name().to_string_lossy()))
                .take(MAX_EVIDENCE_PER_ORIGIN)
                .count()
        })
        .unwrap_or(0);
    held < MAX_EVIDENCE_PER_ORIGIN && write_atomic(&p, c.to_text().as_bytes()).is_ok()
}

/// A stored evidence file's name: 64 lowercase hex digits (temporary files are not).
fn is_id_name(n: &str) -> bool {
    n.len() == 64
        && n.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Those of the first [`MAX_EVIDENCE_LISTED`] entries of `dir` (in directory order) that
/// satisfy `keep`, sorted by name, and whether some entries were left unlisted.
fn listed(dir: &Path, keep: impl Fn(&fs::DirEntry) -> bool) -> (Vec<std::path::PathBuf>, bool) {
    let Ok(rd) = fs::read_dir(dir) else {
        return (Vec::new(), false);
    };
    // Bounded in entries looked at, not in entries kept: other files cannot make it long.
    let mut rd = rd.flatten();
    let mut v: Vec<_> = rd
        .by_ref()
        .take(MAX_EVIDENCE_LISTED)
        .filter(|e| keep(e))
        .map(|e| e.path())
        .collect();
    let more = rd.next().is_some();
    v.sort();
    (v, more)
}

/// Reads stored evidence, keeping what verifies under a policy log key, in canonical form,
/// at most [`MAX_EVIDENCE_PER_ORIGIN`] per log (counting what `out` already holds) and
/// reading at most [`MAX_EVIDENCE_FILES_READ`] files. Evidence in the flat layout of
/// earlier versions (`CACHE/equivocations/<id-hex>`) is moved to its log's directory. A
/// warning says when files were left unread.
pub(super) fn load_evidence(
    policy: &Policy,
    cache: &Path,
    out: &mut BTreeMap<String, Vec<Equivocation>>,
    warnings: &mut Vec<String>,
) {
    let root = cache.join("equivocations");
    let mut seen: HashSet<Hash> = out.values().flatten().map(Equivocation::id).collect();
    let mut budget = MAX_EVIDENCE_FILES_READ;
    let mut ignored = false;
    let mut keep =
        |origin: &str, ev: &Equivocation, out: &mut BTreeMap<String, Vec<Equivocation>>| {
            let held = out.entry(origin.to_owned()).or_default();
            if held.len() < MAX_EVIDENCE_PER_ORIGIN && seen.insert(ev.id()) {
                held.push(ev.clone());
            }
        };
    for l in policy.logs() {
        let full = |out: &BTreeMap<String, Vec<Equivocation>>| {
            out.get(l.origin())
                .is_some_and(|v| v.len() >= MAX_EVIDENCE_PER_ORIGIN)
        };
        let (files, more) = listed(&root.join(origin_dir(l.origin())), |e| {
            is_id_name(&e.file_name().to_string_lossy())
        });
        ignored |= more;
        for p in files {
            if full(out) {
                break;
            }
            if budget == 0 {
                ignored = true;
                break;
            }
            budget -= 1;
            if let Some(b) = read_capped(&p, MAX_EVIDENCE_BYTES as u64)
                && let Ok(ev) = Equivocation::parse(&b)
                && let Ok(v) = ev.verify_log(l.log_keys())
            {
                keep(v.origin(), v.canonical(), out);
            }
        }
        out.retain(|_, v| !v.is_empty());
    }
    let (legacy, more) = listed(&root, |e| e.file_type().is_ok_and(|t| t.is_file()));
    ignored |= more;
    for p in legacy {
        if budget == 0 {
            ignored = true;
            break;
        }
        budget -= 1;
        if let Some(b) = read_capped(&p, MAX_EVIDENCE_BYTES as u64)
            && let Some(v) = verify_evidence_full(policy, &b)
        {
            keep(v.origin(), v.canonical(), out);
            // Stored in the new layout, or its log already has enough: either way this
            // file is not needed.
            store_evidence(cache, &v);
            let _ = fs::remove_file(&p);
        }
    }
    out.retain(|_, v| !v.is_empty());
    if ignored {
        warnings.push(format!(
            "{}: more evidence files than are read in one run (at most {MAX_EVIDENCE_FILES_READ}, \
             {MAX_EVIDENCE_PER_ORIGIN} per log); the others were ignored",
            root.display()
        ));
    }
}

/// Parses evidence and verifies it under the key of whichever policy log it names.
pub fn verify_evidence_full(policy: &Policy, bytes: &[u8]) -> Option<VerifiedEquivocation> {
    let ev = Equivocation::parse(bytes).ok()?;
    policy
        .logs()
        .iter()
        .find_map(|l| ev.verify_log(l.log_keys()).ok())
}

/// Parses evidence and verifies it under the key of whichever policy log it names: that
/// log's origin and the evidence in canonical form.
pub fn verify_evidence(policy: &Policy, bytes: &[u8]) -> Option<(String, Equivocation)> {
    verify_evidence_full(policy, bytes).map(|v| (v.origin().to_owned(), v.canonical().clone()))
}

/// Texts of equivocation evidence from a `/v1/equivocations` response: a JSON array of
/// strings, or of objects with an `evidence` string, possibly under `equivocations`.
pub fn evidence_texts(body: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let list = match &v {
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::Object(o) => o
            .get("equivocations")
            .and_then(|x| x.as_array())
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    list.iter()
        .filter_map(|x| match x {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => o
                .get("evidence")
                .and_then(|e| e.as_str())
                .map(str::to_owned),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
#[path = "evidence_tests.rs"]
mod flood_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_lists_in_every_accepted_shape() {
        assert_eq!(evidence_texts(br#"["a", "b"]"#), vec!["a", "b"]);
        assert_eq!(
            evidence_texts(br#"{"equivocations": [{"evidence": "x"}, "y", 3]}"#),
            vec!["x", "y"]
        );
        assert!(evidence_texts(b"not json").is_empty());
        assert!(evidence_texts(b"{}").is_empty());
    }

    #[test]
    fn garbage_evidence_does_not_verify() {
        let policy = Policy::parse("quorum none\n").unwrap();
        assert!(verify_evidence(&policy, b"quorate-equivocation/v1\n").is_none());
        assert!(verify_evidence(&policy, &[0xff; 10]).is_none());
    }
}
