//! Submitting attestations to a node, and verifying what it answers: the leaf hash, the
//! checkpoint (under the log's key when the caller knows it) and the inclusion proof.
//! Nothing counts as logged until the proof checks out.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use quorate_proto::checkpoint::{Checkpoint, verify_checkpoint};
use quorate_proto::merkle::{self, Hash};
use quorate_proto::note::Ed25519Verifier;

use crate::net::Node;

/// Envelopes per request (the node's default limit is 1024).
pub const BATCH: usize = 256;

/// A verified submission.
#[derive(Debug, Clone)]
pub struct Logged {
    pub index: u64,
    pub leaf_hash: Hash,
    pub duplicate: bool,
    pub size: u64,
    pub origin: String,
    /// The checkpoint note the proof is against.
    pub checkpoint: String,
    /// Whether the checkpoint's log signature was verified (a log key was given).
    pub log_signature_checked: bool,
    /// A log key was given and the checkpoint does not verify under it (why): the node
    /// logged the entry (the inclusion proof checks against the checkpoint it sent), but
    /// nothing shows that checkpoint is the log the user meant. Callers count it failed.
    pub wrong_log_key: Option<String>,
}

fn hash_b64(v: &serde_json::Value) -> Result<Hash, String> {
    let s = v.as_str().ok_or("hash is not a string")?;
    let b = B64.decode(s).map_err(|e| format!("bad base64 hash: {e}"))?;
    <[u8; 32]>::try_from(b.as_slice()).map_err(|_| format!("hash is {} bytes", b.len()))
}

/// Verifies one result object for `envelope`.
pub fn verify_result(
    envelope: &[u8],
    r: &serde_json::Value,
    log: Option<&Ed25519Verifier>,
) -> Result<Logged, String> {
    let leaf = merkle::leaf_hash(envelope);
    let got_leaf = hash_b64(r.get("leaf_hash").ok_or("no leaf_hash")?)?;
    if got_leaf != leaf {
        return Err("node answered with a different leaf hash".into());
    }
    let index = r.get("index").and_then(|x| x.as_u64()).ok_or("no index")?;
    let duplicate = r
        .get("duplicate")
        .and_then(|x| x.as_bool())
        .unwrap_or(false);
    let note = r
        .get("checkpoint")
        .and_then(|x| x.as_str())
        .ok_or("no checkpoint")?;
    let proof: Vec<Hash> = r
        .get("inclusion_proof")
        .and_then(|x| x.as_array())
        .ok_or("no inclusion_proof")?
        .iter()
        .map(hash_b64)
        .collect::<Result<_, _>>()?;
    let unverified = || -> Result<Checkpoint, String> {
        let body = note
            .split_once("\n\n")
            .map(|(b, _)| format!("{b}\n"))
            .ok_or("checkpoint is not a signed note")?;
        Checkpoint::parse(&body).map_err(|e| format!("bad checkpoint: {e}"))
    };
    let (cp, checked, wrong_log_key) = match log {
        Some(k) => match verify_checkpoint(note.as_bytes(), k, &[]) {
            Ok(v) => (v.checkpoint().clone(), true, None),
            Err(e) => (unverified()?, false, Some(e.to_string())),
        },
        None => (unverified()?, false, None),
    };
    if let Some(size) = r.get("size").and_then(|x| x.as_u64())
        && size != cp.size()
    {
        return Err(format!(
            "node says size {size}, its checkpoint says {}",
            cp.size()
        ));
    }
    merkle::check_record(&proof, cp.size(), cp.root_hash(), index, &leaf)
        .map_err(|e| format!("inclusion proof does not verify: {e}"))?;
    Ok(Logged {
        index,
        leaf_hash: leaf,
        duplicate,
        size: cp.size(),
        origin: cp.origin().to_owned(),
        checkpoint: note.to_owned(),
        log_signature_checked: checked,
        wrong_log_key,
    })
}

fn batch_body(envs: &[&[u8]]) -> Vec<u8> {
    let mut b = Vec::new();
    for e in envs {
        b.extend_from_slice(&(e.len() as u32).to_be_bytes());
        b.extend_from_slice(e);
    }
    b
}

/// Submits `envelopes` in batches and verifies every result. The node refuses a whole
/// batch when one envelope is bad (naming it in `item`); that envelope gets the node's
/// error and the rest are resubmitted, so every envelope gets its own answer.
pub fn submit_all(
    node: &Node,
    envelopes: &[Vec<u8>],
    log: Option<&Ed25519Verifier>,
) -> Vec<Result<Logged, String>> {
    let mut out: Vec<Option<Result<Logged, String>>> = vec![None; envelopes.len()];
    let mut pending: Vec<usize> = (0..envelopes.len()).collect();
    while !pending.is_empty() {
        let take: Vec<usize> = pending.iter().copied().take(BATCH).collect();
        let envs: Vec<&[u8]> = take.iter().map(|&i| envelopes[i].as_slice()).collect();
        let r = match node.post(
            "v1/attestations",
            "application/x-quorate-batch",
            &batch_body(&envs),
        ) {
            Ok(r) => r,
            Err(e) => {
                for &i in &pending {
                    out[i] = Some(Err(e.to_string()));
                }
                break;
            }
        };
        if r.status == 200 || r.status == 201 {
            let v: serde_json::Value = match serde_json::from_slice(&r.body) {
                Ok(v) => v,
                Err(e) => {
                    for &i in &take {
                        out[i] = Some(Err(format!("node answered with invalid JSON: {e}")));
                    }
                    pending.drain(..take.len());
                    continue;
                }
            };
            let results = v
                .get("entries")
                .and_then(|e| e.as_array())
                .cloned()
                .unwrap_or_default();
            for (k, &i) in take.iter().enumerate() {
                out[i] = Some(match results.get(k) {
                    Some(res) => verify_result(&envelopes[i], res, log),
                    None => Err("node returned fewer results than envelopes".into()),
                });
            }
            pending.drain(..take.len());
            continue;
        }
        let item = serde_json::from_slice::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v.get("item").and_then(|i| i.as_u64()));
        match item.and_then(|k| take.get(k as usize).copied()) {
            Some(bad) => {
                // The node's `item` is a position in this (possibly retried) sub-batch:
                // the caller names the input instead.
                out[bad] = Some(Err(r.error_text_without_item()));
                pending.retain(|&i| i != bad);
            }
            None => {
                // A whole-request problem (rate limit, too large, shutting down...).
                for &i in &take {
                    out[i] = Some(Err(r.error_text()));
                }
                pending.drain(..take.len());
            }
        }
    }
    out.into_iter()
        .map(|o| o.unwrap_or_else(|| Err("not submitted".into())))
        .collect()
}
