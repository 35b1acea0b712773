//! Consistency between two checkpoints of one log, and equivocation evidence: proven
//! from authenticated tiles, stored in the cache, fetched from nodes and witnesses, and
//! always re-verified under a policy log key before it counts.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::Path;

use quorate_proto::checkpoint::VerifiedCheckpoint;
use quorate_proto::equivocation::{Equivocation, MAX_EVIDENCE_BYTES};
use quorate_proto::merkle::{self, Hash};
use quorate_proto::tile::TileHashReader;

use super::tiles::{CachedTiles, read_capped, write_atomic};
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

pub(super) fn store_evidence(cache: &Path, ev: &Equivocation) {
    let p = cache.join("equivocations").join(hex(&ev.id()));
    if !p.exists() {
        let _ = write_atomic(&p, ev.to_text().as_bytes());
    }
}

/// Reads stored evidence, keeping what verifies under a policy log key.
pub(super) fn load_evidence(
    policy: &Policy,
    cache: &Path,
    out: &mut BTreeMap<String, Vec<Equivocation>>,
) {
    let Ok(rd) = fs::read_dir(cache.join("equivocations")) else {
        return;
    };
    let mut seen: HashSet<Hash> = out.values().flatten().map(Equivocation::id).collect();
    for e in rd.flatten() {
        if let Some(b) = read_capped(&e.path(), MAX_EVIDENCE_BYTES as u64)
            && let Some((origin, ev)) = verify_evidence(policy, &b)
            && seen.insert(ev.id())
        {
            out.entry(origin).or_default().push(ev);
        }
    }
}

/// Parses evidence and verifies it under the key of whichever policy log it names.
pub fn verify_evidence(policy: &Policy, bytes: &[u8]) -> Option<(String, Equivocation)> {
    let ev = Equivocation::parse(bytes).ok()?;
    for l in policy.logs() {
        if let Ok(v) = ev.verify(l.verifier()) {
            return Some((v.origin().to_owned(), ev));
        }
    }
    None
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
