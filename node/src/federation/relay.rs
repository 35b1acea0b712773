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
    if let Some(r) = all_lines_verify(&canonical, &split.other_lines, log, witnesses) {
        return Ok(r);
    }
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

/// The common case, in one verification of the log signature and one per cosignature
/// (the line-by-line path below costs two per line and then all of them again): every
/// line naming a known witness is that witness's only line and verifies. `None` when
/// that does not hold (or the log signature fails): then the line-by-line path decides,
/// so the result is always the one it would give.
fn all_lines_verify(
    canonical: &str,
    lines: &[&str],
    log: &Ed25519Verifier,
    witnesses: &[CosignatureVerifier],
) -> Option<Relayed> {
    let mut kept = canonical.to_owned();
    let mut by: Vec<CosignatureVerifier> = Vec::new();
    let mut stripped = 0;
    for line in lines {
        let named = |w: &&CosignatureVerifier| {
            line.strip_prefix("\u{2014} ")
                .and_then(|r| r.strip_prefix(w.name()))
                .is_some_and(|r| r.starts_with(' '))
        };
        let Some(w) = witnesses.iter().find(named) else {
            stripped += 1;
            continue;
        };
        if by.iter().any(|k| k.name() == w.name()) {
            return None;
        }
        kept.push_str(line);
        kept.push('\n');
        by.push(w.clone());
    }
    // Only the chosen witness keys verify, as on the line-by-line path: a line under a
    // witness's name but another key is unknown here, so the count below falls short.
    let verified = verify_checkpoint(kept.as_bytes(), log, &by).ok()?;
    (verified.cosignatures().len() == by.len()).then(|| Relayed {
        verified,
        kept: kept.into_bytes(),
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
    fn all_valid_lines_are_kept_in_one_pass_as_line_by_line() {
        let (log, w1, w2, signed) = setup();
        let lv = log.verifier();
        let ws = [w1.verifier(), w2.verifier()];
        let (c1, c2) = (cosign(&signed, &w1), cosign(&signed, &w2));
        let relayed = format!("{signed}{c2}\u{2014} stranger.example/w AAAAAAAA\n{c1}");
        let r = canonicalize(log.name(), relayed.as_bytes(), &lv, &ws).unwrap();
        assert_eq!(r.stripped, 1);
        assert!(cosigned_by(&r, &ws[0]) && cosigned_by(&r, &ws[1]));
        assert_eq!(
            String::from_utf8(r.kept).unwrap(),
            format!("{signed}{c2}{c1}")
        );
        // A line under w1's name by another key is not w1's cosignature: stripped, as the
        // line-by-line check does.
        let other = CosignatureSigner::generate(w1.name(), [9; 32]).unwrap();
        let relayed = format!("{signed}{}{c2}", cosign(&signed, &other));
        let r = canonicalize(log.name(), relayed.as_bytes(), &lv, &ws).unwrap();
        assert_eq!(r.stripped, 1);
        assert!(!cosigned_by(&r, &ws[0]) && cosigned_by(&r, &ws[1]));
        assert_eq!(String::from_utf8(r.kept).unwrap(), format!("{signed}{c2}"));
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
