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

use quorate_proto::checkpoint::{VerifiedCheckpoint, verify_log_checkpoint};
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
    let mut keys: Vec<&dyn NoteVerifier> = log
        .log_keys()
        .keys()
        .iter()
        .map(|k| k as &dyn NoteVerifier)
        .collect();
    keys.extend(witnesses.iter().map(|w| w as &dyn NoteVerifier));
    let pruned = note::keep_verified(note_bytes, &keys).map_err(|e| e.to_string())?;
    let vc = verify_log_checkpoint(pruned.note.as_bytes(), log.log_keys(), &witnesses, None)
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

#[cfg(test)]
mod tests {
    use super::*;
    use quorate_proto::checkpoint::Checkpoint;
    use quorate_proto::cosignature::CosignatureSigner;
    use quorate_proto::note::{NoteSignature, Signer};

    struct Fx {
        log: Signer,
        w: Vec<CosignatureSigner>,
        policy: Policy,
    }

    /// Logs FR and DE, witnesses w0 (operated by DE) and w1; `quorum` is the quorum line.
    fn fx(quorum: &str) -> Fx {
        let log = Signer::generate("fr.example/log", [1; 32]).unwrap();
        let de = Signer::generate("de.example/log", [2; 32]).unwrap();
        let w: Vec<CosignatureSigner> = (0..2)
            .map(|i| CosignatureSigner::generate(&format!("w{i}.example"), [10 + i; 32]).unwrap())
            .collect();
        let text = format!(
            "witness w0 {}\nwitness w1 {}\n{quorum}\nreview-log FR {} http://fr\nreview-log DE {} http://de\nreview-witness FR w1\nreview-quorum 1\n",
            w[0].vkey(),
            w[1].vkey(),
            log.vkey(),
            de.vkey()
        );
        Fx {
            log,
            w,
            policy: Policy::parse(&text).unwrap(),
        }
    }

    fn note(f: &Fx, size: u64, cosigners: &[usize], extra: &str) -> Vec<u8> {
        let cp = Checkpoint::new("fr.example/log", size, [3; 32], vec![]).unwrap();
        let signed = note::sign(&cp.to_text(), &[&f.log]).unwrap();
        let cs: Vec<_> = cosigners
            .iter()
            .map(|&i| f.w[i].cosign(&cp.to_text(), 1_700_000_000).unwrap())
            .collect();
        format!("{}{extra}", note::add_signatures(&signed, &cs).unwrap()).into_bytes()
    }

    fn judge_fr(f: &Fx, n: &[u8]) -> Result<Candidate, String> {
        judge(&f.policy, f.policy.log("fr.example/log").unwrap(), n)
    }

    #[test]
    fn a_size_counts_only_once_the_policy_quorum_cosigned_it() {
        let f = fx("group g 1 w0 w1\nquorum g");
        let c = judge_fr(&f, &note(&f, 1 << 62, &[], "")).unwrap();
        assert!(!c.quorate);
        assert!(
            c.too_few().contains("size 4611686018427387904"),
            "{}",
            c.too_few()
        );
        assert!(judge_fr(&f, &note(&f, 5, &[0], "")).unwrap().quorate);
        // w1 is FR's own jurisdiction's witness: it cannot vouch for FR's log.
        let own = judge_fr(&f, &note(&f, 5, &[1], "")).unwrap();
        assert!(!own.quorate && own.cosigners.is_empty());
        // `quorum none`: the log's signature is all the policy asks.
        let g = fx("quorum none");
        assert!(judge_fr(&g, &note(&g, 5, &[], "")).unwrap().quorate);
    }

    #[test]
    fn forged_cosignature_lines_are_dropped_before_judging() {
        let f = fx("quorum w0");
        let forged = NoteSignature::new("w0.example", f.w[0].verifier().key_id(), vec![7; 72])
            .unwrap()
            .to_line();
        // A forged line beside the real cosignature, or instead of it.
        let c = judge_fr(&f, &note(&f, 5, &[0], &forged)).unwrap();
        assert!(c.quorate && c.dropped == 1);
        assert!(!String::from_utf8_lossy(c.vc.note_bytes()).contains(forged.trim_end()));
        let c = judge_fr(&f, &note(&f, 5, &[], &forged)).unwrap();
        assert!(!c.quorate && c.dropped == 1);
        // Not signed by the log's policy key at all: an error, never a candidate.
        let other = Signer::generate("fr.example/log", [9; 32]).unwrap();
        let cp = Checkpoint::new("fr.example/log", 5, [3; 32], vec![]).unwrap();
        let bad = note::sign(&cp.to_text(), &[&other]).unwrap();
        assert!(judge_fr(&f, bad.as_bytes()).is_err());
    }
}
