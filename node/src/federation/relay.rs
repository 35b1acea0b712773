//! What a relayed checkpoint means, decided from the message and the log's key alone.
//!
//! A gossiped checkpoint note is the log's signed body, the log's signature line, and
//! whatever lines anyone appended. Its verdict must be the same at every receiver, or an
//! honest node that forwards it is penalised by the receivers that judge differently
//! (a line under one receiver's own witness name is checkable only there). So:
//!
//! - **Invalid** (reported `Reject`): no blank line, not exactly one distinct line under
//!   the origin's name, or that line is not a valid log signature of a well-formed
//!   checkpoint. Every node that follows the log holds the same key, so it rules alike;
//!   and these are exactly the parts the gossip message id covers
//!   ([`crate::gossip::wire::message_id`]), so an invalid copy never shares an id with a
//!   valid one.
//! - Every other line is **kept only if it verifies** as a cosignature by a witness we
//!   know, and otherwise stripped: never a reason to reject.

use quorate_proto::checkpoint::{CheckpointError, VerifiedCheckpoint, verify_checkpoint};
use quorate_proto::cosignature::CosignatureVerifier;
use quorate_proto::note::{Ed25519Verifier, NoteVerifier};

use crate::gossip::wire::split_checkpoint_note;

/// Why a relayed checkpoint is invalid whatever the receiver knows.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RelayError {
    #[error("not a signed note (no blank line before the signatures, or not UTF-8)")]
    Shape,
    #[error("{0} distinct signature lines under the log's name; exactly one is valid")]
    LogLines(usize),
    #[error("{0}")]
    Checkpoint(#[from] CheckpointError),
}

/// A relayed checkpoint reduced to what verifies.
#[derive(Debug)]
pub(crate) struct Relayed {
    /// Verified against the log key and the witnesses given.
    pub(crate) verified: VerifiedCheckpoint,
    /// The body, the log's signature line and the cosignature lines that verified.
    pub(crate) kept: Vec<u8>,
    /// Lines dropped because they did not verify against a known witness key.
    pub(crate) stripped: usize,
}

/// Checks `note` of `origin` with the log key alone, then keeps the cosignature lines
/// that verify against one of `witnesses` (one per witness) and strips the rest.
pub(crate) fn canonicalize(
    origin: &str,
    note: &[u8],
    log: &Ed25519Verifier,
    witnesses: &[CosignatureVerifier],
) -> Result<Relayed, RelayError> {
    let split = split_checkpoint_note(origin, note).ok_or(RelayError::Shape)?;
    let [log_line] = split.log_lines.as_slice() else {
        return Err(RelayError::LogLines(split.log_lines.len()));
    };
    let canonical = format!("{}\n{log_line}\n", split.body);
    let base = verify_checkpoint(canonical.as_bytes(), log, &[])?;
    let mut kept = canonical;
    let mut kept_by: Vec<&CosignatureVerifier> = Vec::new();
    for line in &split.other_lines {
        let Some(w) = witnesses.iter().find(|w| {
            line.strip_prefix("\u{2014} ")
                .and_then(|r| r.strip_prefix(w.name()))
                .is_some_and(|r| r.starts_with(' '))
        }) else {
            continue;
        };
        if kept_by.iter().any(|k| k.name() == w.name()) {
            continue;
        }
        let candidate = format!("{}\n{log_line}\n{line}\n", split.body);
        let ok = verify_checkpoint(candidate.as_bytes(), log, std::slice::from_ref(w))
            .is_ok_and(|v| v.cosignatures().len() == 1);
        if ok {
            kept.push_str(line);
            kept.push('\n');
            kept_by.push(w);
        }
    }
    let stripped = split.other_lines.len() - kept_by.len();
    // Each kept line verified on its own, so together they verify too; fall back to the
    // bare log signature if that ever does not hold.
    let (verified, kept) = match verify_checkpoint(kept.as_bytes(), log, witnesses) {
        Ok(v) => (v, kept.into_bytes()),
        Err(_) => {
            let bare = base.note_bytes().to_vec();
            (base, bare)
        }
    };
    Ok(Relayed {
        verified,
        kept,
        stripped,
    })
}

/// Whether `r` carries a valid cosignature by `w`.
pub(crate) fn cosigned_by(r: &Relayed, w: &CosignatureVerifier) -> bool {
    r.verified
        .cosignatures()
        .iter()
        .any(|c| c.name() == w.name() && c.key_id() == w.key_id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use quorate_proto::checkpoint::Checkpoint;
    use quorate_proto::cosignature::CosignatureSigner;
    use quorate_proto::note::{self, NoteSignature, Signer};

    fn setup() -> (Signer, CosignatureSigner, CosignatureSigner, String) {
        let log = Signer::generate("o.example/log", [1; 32]).unwrap();
        let w1 = CosignatureSigner::generate("o.example/w1", [2; 32]).unwrap();
        let w2 = CosignatureSigner::generate("o.example/w2", [3; 32]).unwrap();
        let text = Checkpoint::new(log.name(), 3, [4; 32], vec![])
            .unwrap()
            .to_text();
        let signed = note::sign(&text, &[&log]).unwrap();
        (log, w1, w2, signed)
    }

    fn cosign(note: &str, w: &CosignatureSigner) -> String {
        let body = format!("{}\n", note.split_once("\n\n").unwrap().0);
        w.cosign(&body, 1_700_000_000).unwrap().to_line()
    }

    #[test]
    fn junk_lines_are_stripped_and_valid_cosignatures_kept() {
        let (log, w1, w2, signed) = setup();
        let lv = log.verifier();
        let ws = [w1.verifier(), w2.verifier()];
        let garbage = NoteSignature::new(w1.name(), w1.key_id(), vec![7; 72])
            .unwrap()
            .to_line();
        let relayed = format!(
            "{signed}{garbage}{}not a signature line\n\u{2014} stranger.example/w AAAAAAAA\n",
            cosign(&signed, &w2)
        );
        let r = canonicalize(log.name(), relayed.as_bytes(), &lv, &ws).unwrap();
        assert_eq!(r.stripped, 3);
        assert!(cosigned_by(&r, &ws[1]));
        assert!(!cosigned_by(&r, &ws[0]));
        let want = format!("{signed}{}", cosign(&signed, &w2));
        assert_eq!(String::from_utf8(r.kept).unwrap(), want);
        // The same note judged by a receiver that knows no witness: same validity.
        let r = canonicalize(log.name(), relayed.as_bytes(), &lv, &[]).unwrap();
        assert_eq!(r.kept, signed.as_bytes());
    }

    #[test]
    fn the_log_signature_decides_validity() {
        let (log, _, _, signed) = setup();
        let lv = log.verifier();
        assert!(canonicalize(log.name(), signed.as_bytes(), &lv, &[]).is_ok());
        // A second, different line under the log's name.
        let bad = NoteSignature::new(log.name(), log.key_id(), vec![7; 64])
            .unwrap()
            .to_line();
        let two = format!("{signed}{bad}");
        assert!(matches!(
            canonicalize(log.name(), two.as_bytes(), &lv, &[]),
            Err(RelayError::LogLines(2))
        ));
        // Only a bad line under the log's name.
        let body = signed.split_once("\n\n").unwrap().0;
        let forged = format!("{body}\n\n{bad}");
        assert!(matches!(
            canonicalize(log.name(), forged.as_bytes(), &lv, &[]),
            Err(RelayError::Checkpoint(_))
        ));
        assert!(matches!(
            canonicalize(log.name(), b"no blank line\n", &lv, &[]),
            Err(RelayError::Shape)
        ));
        // The exact line twice is one line.
        let dup = format!("{signed}{}", signed.split_once("\n\n").unwrap().1);
        assert!(canonicalize(log.name(), dup.as_bytes(), &lv, &[]).is_ok());
    }
}
