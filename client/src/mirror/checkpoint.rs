//! Which checkpoint of a log the mirror may act on. A checkpoint's size decides how many
//! tiles are fetched and how much is read, so it is believed only once it satisfies the
//! policy: signed by the policy's key for the log and cosigned by enough of the policy's
//! witnesses (its `quorum`, not counting witnesses of the log's own jurisdiction). Before
//! that nothing is fetched for it.
//!
//! Cosignature lines are checked one by one ([`note::keep_verified`]): a line that does
//! not verify under a policy key is dropped, never cached, and never aborts a check, so
//! whoever relays `/checkpoint` cannot break a log by appending a forged witness line.

use std::path::Path;

use quorate_proto::checkpoint::{VerifiedCheckpoint, verify_checkpoint};
use quorate_proto::note::{self, NoteVerifier};

use super::tiles::read_capped;
use crate::net::{Deadline, Node};
use crate::policy::{Log, Policy};

/// Largest checkpoint note read from a node or the cache. A checkpoint with a cosignature
/// from each of the policy's at most 256 witnesses is about 30 kB.
pub const MAX_CHECKPOINT_BYTES: u64 = 64 * 1024;

/// A checkpoint signed by the log's policy key, reduced to the signature lines that
/// verify, with what the policy makes of its cosignatures.
pub(super) struct Candidate {
    pub vc: VerifiedCheckpoint,
    /// Policy names of the witnesses whose cosignatures count for this log, sorted.
    pub cosigners: Vec<String>,
    /// Whether those cosignatures satisfy the policy's witness quorum.
    pub quorate: bool,
    /// Signature lines dropped because they did not verify.
    pub dropped: usize,
}

impl Candidate {
    pub fn size(&self) -> u64 {
        self.vc.checkpoint().size()
    }

    /// Why this checkpoint's size is not believed (for an unproven log's reason).
    pub fn too_few(&self) -> String {
        format!(
            "its checkpoint of size {} is cosigned by too few of the policy's witnesses \
             (cosigned: {}); its size is not trusted and nothing was fetched for it",
            self.size(),
            if self.cosigners.is_empty() {
                "none".to_owned()
            } else {
                self.cosigners.join(", ")
            }
        )
    }
}

/// Verifies `note` as a checkpoint of `log` under the policy.
pub(super) fn judge(policy: &Policy, log: &Log, note_bytes: &[u8]) -> Result<Candidate, String> {
    let witnesses = policy.witness_verifiers();
    let mut keys: Vec<&dyn NoteVerifier> = vec![log.verifier()];
    keys.extend(witnesses.iter().map(|w| w as &dyn NoteVerifier));
    let pruned = note::keep_verified(note_bytes, &keys).map_err(|e| e.to_string())?;
    let vc = verify_checkpoint(pruned.note.as_bytes(), log.verifier(), &witnesses)
        .map_err(|e| e.to_string())?;
    let origin = vc.checkpoint().origin();
    let mut cosigners: Vec<String> = vc
        .cosignatures()
        .iter()
        .filter_map(|c| policy.witness_name_for(c))
        // A log's own jurisdiction cannot witness it (see `review-witness`).
        .filter(|name| policy.witness_counts_for(name, origin))
        .map(str::to_owned)
        .collect();
    cosigners.sort_unstable();
    cosigners.dedup();
    let names: Vec<&str> = cosigners.iter().map(String::as_str).collect();
    let quorate = policy.witnesses_satisfied(&names);
    Ok(Candidate {
        vc,
        cosigners,
        quorate,
        dropped: pruned.dropped,
    })
}

/// The cached checkpoint of `log` in `dir`, if one is there and verifies.
pub(super) fn cached(policy: &Policy, log: &Log, dir: &Path) -> Option<Result<Candidate, String>> {
    let b = read_capped(&dir.join("checkpoint"), MAX_CHECKPOINT_BYTES)?;
    Some(judge(policy, log, &b))
}

/// The node's `/checkpoint`, read with a byte cap within the log's budget, and judged.
pub(super) fn fetch(
    policy: &Policy,
    log: &Log,
    node: &Node,
    deadline: &Deadline,
) -> Result<Candidate, String> {
    let r = node
        .get_bounded("checkpoint", MAX_CHECKPOINT_BYTES, deadline)
        .map_err(|e| format!("cannot fetch checkpoint: {e}"))?;
    if r.status != 200 {
        return Err(format!("cannot fetch checkpoint: {}", r.error_text()));
    }
    judge(policy, log, &r.body).map_err(|e| format!("node's checkpoint does not verify: {e}"))
}
