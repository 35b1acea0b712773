//! Equivocation evidence: two checkpoints signed by one log key that cannot both be true.
//!
//! A log that shows different histories to different parties is caught when anyone holds
//! two of its checkpoints that conflict. The evidence is self-contained: anyone with the
//! log's vkey can check it, with no trust in whoever relays it.
//!
//! # Format (`quorate-equivocation/v1`)
//!
//! ```text
//! quorate-equivocation/v1
//! checkpoint <base64 of signed checkpoint note A, verbatim>
//! checkpoint <base64 of signed checkpoint note B, verbatim>
//! prefix <base64 32-byte hash>        (only when the sizes differ)
//! proof <base64 32-byte hash>         (zero or more; only when the sizes differ)
//! ```
//!
//! A's tree size is at most B's. Two kinds of conflict are accepted:
//!
//! - **Same size, different roots.** Both notes carry a valid signature by the log key,
//!   the same origin and size, and different root hashes.
//! - **Different sizes, inconsistent prefix.** `prefix` is the root of B's tree cut to
//!   A's size, and the `proof` lines are a consistency proof from (`A.size`, `prefix`) to
//!   (`B.size`, `B.root`) that verifies. Since a consistency proof binds the prefix root
//!   (under SHA-256 collision resistance), B's history at A's size has root `prefix`; when
//!   that differs from A's root, the log signed two histories. Anyone holding B's tree
//!   (its tiles) can build this, and so can a witness that received from the log a
//!   "consistency proof" which checks against B but yields another old root
//!   ([`Equivocation::from_consistency_proof`]). When A's size is 0 the prefix must be
//!   the empty-tree root, with no proof lines.
//!
//! The notes are kept verbatim (cosignatures included, which verification ignores) so
//! that the log's signatures stay checkable. Evidence is at most [`MAX_EVIDENCE_BYTES`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use crate::checkpoint::{
    CheckpointError, LogKeys, VerifiedCheckpoint, verify_checkpoint, verify_log_checkpoint,
};
use crate::merkle::{self, Hash, MerkleError};
use crate::note::NoteVerifier;

/// The first line of every piece of evidence.
pub const HEADER: &str = "quorate-equivocation/v1";
/// Largest encoded evidence accepted.
pub const MAX_EVIDENCE_BYTES: usize = 256 * 1024;
/// A consistency proof between trees of at most 2^64 leaves has fewer hashes than this.
pub const MAX_PROOF_HASHES: usize = 130;

/// Why evidence was rejected or could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EquivocationError {
    #[error("evidence is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("evidence is not valid UTF-8")]
    NotUtf8,
    #[error("evidence line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    #[error("evidence checkpoint {which}: {source}")]
    Checkpoint {
        which: char,
        source: CheckpointError,
    },
    #[error("evidence checkpoint {which} is not UTF-8 text")]
    CheckpointNotUtf8 { which: char },
    #[error("the two checkpoints have different origins ({a:?} and {b:?})")]
    DifferentOrigins { a: String, b: String },
    #[error("checkpoint A (size {a}) must not be larger than checkpoint B (size {b})")]
    WrongOrder { a: u64, b: u64 },
    #[error("the checkpoints do not conflict: {0}")]
    NotConflicting(&'static str),
    #[error("same-size evidence must not carry prefix or proof lines")]
    UnexpectedProof,
    #[error("evidence for different sizes needs a prefix root")]
    MissingPrefix,
    #[error("the consistency proof from the prefix to checkpoint B does not verify: {0}")]
    BadProof(MerkleError),
}

/// Verifies one of the two notes (`'A'` or `'B'`) against the log's key(s).
type CheckOne<'a> = dyn Fn(&[u8], char) -> Result<VerifiedCheckpoint, EquivocationError> + 'a;

/// Equivocation evidence as parsed, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    a: Vec<u8>,
    b: Vec<u8>,
    prefix: Option<Hash>,
    proof: Vec<Hash>,
}

/// Evidence that verified against a log key: proof that the log signed two histories.
#[derive(Debug, Clone)]
pub struct VerifiedEquivocation {
    evidence: Equivocation,
    canonical: Equivocation,
    a: VerifiedCheckpoint,
    b: VerifiedCheckpoint,
}

impl VerifiedEquivocation {
    /// The log's origin.
    pub fn origin(&self) -> &str {
        self.a.checkpoint().origin()
    }
    /// The smaller (or equal-size) conflicting checkpoint.
    pub fn first(&self) -> &VerifiedCheckpoint {
        &self.a
    }
    /// The larger (or equal-size) conflicting checkpoint.
    pub fn second(&self) -> &VerifiedCheckpoint {
        &self.b
    }
    /// The evidence itself, as received.
    pub fn evidence(&self) -> &Equivocation {
        &self.evidence
    }
    /// The canonical form of this evidence, to store, deduplicate and relay: each
    /// checkpoint reduced to its body and the log's own signature lines (every other line
    /// stripped, since only the log's signatures make it evidence), same-size notes in
    /// canonical order. Copies that differ only in other signature lines have one
    /// canonical form, so one [`Equivocation::id`].
    pub fn canonical(&self) -> &Equivocation {
        &self.canonical
    }
}

/// `note` with only the lines that verify under `log`.
fn log_lines_only(
    note: &[u8],
    log: &[&dyn NoteVerifier],
    which: char,
) -> Result<Vec<u8>, EquivocationError> {
    crate::note::open(note, log)
        .map(|n| n.verified_note().into_bytes())
        .map_err(|e| EquivocationError::Checkpoint {
            which,
            source: e.into(),
        })
}

fn malformed(line: usize, reason: impl Into<String>) -> EquivocationError {
    EquivocationError::Malformed {
        line,
        reason: reason.into(),
    }
}

fn verify_one(
    note: &[u8],
    log: &dyn NoteVerifier,
    which: char,
) -> Result<VerifiedCheckpoint, EquivocationError> {
    verify_checkpoint(note, log, &[])
        .map_err(|source| EquivocationError::Checkpoint { which, source })
}

fn size_of_note(note: &[u8], which: char) -> Result<u64, EquivocationError> {
    let text =
        std::str::from_utf8(note).map_err(|_| EquivocationError::CheckpointNotUtf8 { which })?;
    text.lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .ok_or(EquivocationError::Checkpoint {
            which,
            source: CheckpointError::Parse(crate::checkpoint::CheckpointParseError::InvalidSize {
                found: String::new(),
                reason: "missing or not a number",
            }),
        })
}

impl Equivocation {
    /// Evidence from two equal-size checkpoints with different roots. The order of the
    /// arguments does not matter; the encoding is canonical.
    pub fn same_size(note1: &[u8], note2: &[u8]) -> Equivocation {
        let (a, b) = if note1 <= note2 {
            (note1, note2)
        } else {
            (note2, note1)
        };
        Equivocation {
            a: a.to_vec(),
            b: b.to_vec(),
            prefix: None,
            proof: Vec::new(),
        }
    }

    /// Evidence from a smaller checkpoint `a`, a larger `b`, the root of `b`'s tree at
    /// `a`'s size, and a consistency proof from there to `b`. A holder of `b`'s tree gets
    /// these with [`merkle::tree_hash`] and [`merkle::prove_tree`].
    pub fn with_prefix(a: &[u8], b: &[u8], prefix: Hash, proof: Vec<Hash>) -> Equivocation {
        Equivocation {
            a: a.to_vec(),
            b: b.to_vec(),
            prefix: Some(prefix),
            proof,
        }
    }

    /// Builds evidence, when possible, from two verified checkpoints of one log and a
    /// consistency proof (as the log served it) between their sizes. Returns `Ok(None)`
    /// when the checkpoints are consistent, and also when they conflict but this proof
    /// cannot show it (for example it does not lead to the larger root, or the smaller
    /// size is a power of two, so the proof omits the old root); the caller then needs
    /// the larger tree's data and [`Equivocation::with_prefix`].
    pub fn from_consistency_proof(
        x: &VerifiedCheckpoint,
        y: &VerifiedCheckpoint,
        proof: &[Hash],
    ) -> Result<Option<Equivocation>, EquivocationError> {
        let (a, b) = if x.checkpoint().size() <= y.checkpoint().size() {
            (x, y)
        } else {
            (y, x)
        };
        let (ca, cb) = (a.checkpoint(), b.checkpoint());
        if ca.origin() != cb.origin() {
            return Err(EquivocationError::DifferentOrigins {
                a: ca.origin().to_owned(),
                b: cb.origin().to_owned(),
            });
        }
        if ca.size() == cb.size() {
            return Ok((ca.root_hash() != cb.root_hash())
                .then(|| Equivocation::same_size(a.note_bytes(), b.note_bytes())));
        }
        if ca.size() == 0 {
            return Ok((*ca.root_hash() != merkle::empty_root()).then(|| {
                Equivocation::with_prefix(
                    a.note_bytes(),
                    b.note_bytes(),
                    merkle::empty_root(),
                    Vec::new(),
                )
            }));
        }
        match merkle::consistency_old_root(proof, cb.size(), cb.root_hash(), ca.size()) {
            Ok(Some(prefix)) if prefix != *ca.root_hash() => Ok(Some(Equivocation::with_prefix(
                a.note_bytes(),
                b.note_bytes(),
                prefix,
                proof.to_vec(),
            ))),
            _ => Ok(None),
        }
    }

    /// Checks the evidence against the log's key (see the module documentation).
    pub fn verify(
        &self,
        log: &dyn NoteVerifier,
    ) -> Result<VerifiedEquivocation, EquivocationError> {
        self.verify_with(&|note, which| verify_one(note, log, which), &[log])
    }

    /// As [`Equivocation::verify`] for a log configured with its origin and one or more
    /// keys ([`LogKeys`]): each checkpoint may carry any of them.
    pub fn verify_log(&self, log: &LogKeys) -> Result<VerifiedEquivocation, EquivocationError> {
        let keys: Vec<&dyn NoteVerifier> =
            log.keys().iter().map(|k| k as &dyn NoteVerifier).collect();
        self.verify_with(
            &|note, which| {
                verify_log_checkpoint(note, log, &[], None)
                    .map_err(|source| EquivocationError::Checkpoint { which, source })
            },
            &keys,
        )
    }

    fn verify_with(
        &self,
        verify_one: &CheckOne<'_>,
        log: &[&dyn NoteVerifier],
    ) -> Result<VerifiedEquivocation, EquivocationError> {
        let a = verify_one(&self.a, 'A')?;
        let b = verify_one(&self.b, 'B')?;
        let (ca, cb) = (a.checkpoint(), b.checkpoint());
        if ca.origin() != cb.origin() {
            return Err(EquivocationError::DifferentOrigins {
                a: ca.origin().to_owned(),
                b: cb.origin().to_owned(),
            });
        }
        if ca.size() > cb.size() {
            return Err(EquivocationError::WrongOrder {
                a: ca.size(),
                b: cb.size(),
            });
        }
        if ca.size() == cb.size() {
            if self.prefix.is_some() || !self.proof.is_empty() {
                return Err(EquivocationError::UnexpectedProof);
            }
            if ca.root_hash() == cb.root_hash() {
                return Err(EquivocationError::NotConflicting("same size and same root"));
            }
        } else {
            let prefix = self.prefix.ok_or(EquivocationError::MissingPrefix)?;
            if prefix == *ca.root_hash() {
                return Err(EquivocationError::NotConflicting(
                    "the prefix root equals checkpoint A's root",
                ));
            }
            if ca.size() == 0 {
                if prefix != merkle::empty_root() || !self.proof.is_empty() {
                    return Err(EquivocationError::BadProof(MerkleError::OldRootMismatch));
                }
            } else {
                merkle::check_tree(&self.proof, cb.size(), cb.root_hash(), ca.size(), &prefix)
                    .map_err(EquivocationError::BadProof)?;
            }
        }
        let (sa, sb) = (
            log_lines_only(&self.a, log, 'A')?,
            log_lines_only(&self.b, log, 'B')?,
        );
        let canonical = match self.prefix {
            None => Equivocation::same_size(&sa, &sb),
            Some(prefix) => Equivocation::with_prefix(&sa, &sb, prefix, self.proof.clone()),
        };
        Ok(VerifiedEquivocation {
            evidence: self.clone(),
            canonical,
            a,
            b,
        })
    }

    /// The encoded evidence.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(
            64 + (self.a.len() + self.b.len()) * 4 / 3 + self.proof.len() * 52,
        );
        out.push_str(HEADER);
        out.push('\n');
        for note in [&self.a, &self.b] {
            out.push_str("checkpoint ");
            out.push_str(&B64.encode(note));
            out.push('\n');
        }
        if let Some(p) = &self.prefix {
            out.push_str("prefix ");
            out.push_str(&B64.encode(p));
            out.push('\n');
        }
        for h in &self.proof {
            out.push_str("proof ");
            out.push_str(&B64.encode(h));
            out.push('\n');
        }
        out
    }

    /// A stable identifier: SHA-256 of the encoded evidence, for deduplication.
    pub fn id(&self) -> Hash {
        Sha256::digest(self.to_text().as_bytes()).into()
    }

    /// Parses evidence strictly. Parsing does not verify; call [`Equivocation::verify`].
    pub fn parse(bytes: &[u8]) -> Result<Equivocation, EquivocationError> {
        if bytes.len() > MAX_EVIDENCE_BYTES {
            return Err(EquivocationError::TooLarge {
                size: bytes.len(),
                limit: MAX_EVIDENCE_BYTES,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| EquivocationError::NotUtf8)?;
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| malformed(0, "evidence must end with a newline"))?;
        let mut lines = body.split('\n').enumerate().map(|(i, l)| (i + 1, l));
        match lines.next() {
            Some((_, HEADER)) => {}
            _ => return Err(malformed(1, format!("expected the header {HEADER:?}"))),
        }
        let mut notes = Vec::with_capacity(2);
        for which in ['A', 'B'] {
            let (n, line) = lines
                .next()
                .ok_or_else(|| malformed(notes.len() + 2, format!("missing checkpoint {which}")))?;
            let b64 = line.strip_prefix("checkpoint ").ok_or_else(|| {
                malformed(
                    n,
                    format!("expected `checkpoint <base64>` for checkpoint {which}"),
                )
            })?;
            let note = B64
                .decode(b64)
                .map_err(|e| malformed(n, format!("checkpoint {which} is not base64: {e}")))?;
            notes.push(note);
        }
        let mut prefix = None;
        let mut proof = Vec::new();
        for (n, line) in lines {
            let (tag, b64) = line
                .split_once(' ')
                .ok_or_else(|| malformed(n, "expected `prefix <hash>` or `proof <hash>`"))?;
            let raw = B64
                .decode(b64)
                .map_err(|e| malformed(n, format!("{tag} hash is not base64: {e}")))?;
            let h: Hash = raw
                .as_slice()
                .try_into()
                .map_err(|_| malformed(n, format!("{tag} hash is {} bytes, not 32", raw.len())))?;
            match tag {
                "prefix" if prefix.is_none() && proof.is_empty() => prefix = Some(h),
                "prefix" => return Err(malformed(n, "prefix must appear once, before the proof")),
                "proof" if prefix.is_some() => {
                    if proof.len() == MAX_PROOF_HASHES {
                        return Err(malformed(
                            n,
                            format!("more than {MAX_PROOF_HASHES} proof hashes"),
                        ));
                    }
                    proof.push(h)
                }
                "proof" => return Err(malformed(n, "proof lines need a prefix line first")),
                other => return Err(malformed(n, format!("unknown line type {other:?}"))),
            }
        }
        let b = notes.pop().unwrap_or_default();
        let a = notes.pop().unwrap_or_default();
        let ev = Equivocation {
            a,
            b,
            prefix,
            proof,
        };
        // Enforce the canonical order here too, so one conflict has one encoding.
        let (sa, sb) = (size_of_note(&ev.a, 'A')?, size_of_note(&ev.b, 'B')?);
        if sa > sb {
            return Err(EquivocationError::WrongOrder { a: sa, b: sb });
        }
        if sa == sb && ev.a > ev.b {
            return Err(malformed(3, "equal-size checkpoints must be in byte order"));
        }
        Ok(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::merkle::MemoryLog;
    use crate::note::{self, Signer};

    const ORIGIN: &str = "example.org/forked-log";

    fn key() -> Signer {
        Signer::generate(ORIGIN, [5; 32]).unwrap()
    }

    fn log_of(prefix: &str, n: u64, fork_at: u64) -> MemoryLog {
        let mut log = MemoryLog::new();
        for i in 0..n {
            let tag = if i < fork_at { "common" } else { prefix };
            log.append(format!("{tag} {i}").as_bytes());
        }
        log
    }

    fn signed(log: &MemoryLog, k: &Signer) -> Vec<u8> {
        let cp = Checkpoint::new(ORIGIN, log.size(), log.root(), vec![]).unwrap();
        note::sign(&cp.to_text(), &[k]).unwrap().into_bytes()
    }

    fn verified(note: &[u8], k: &Signer) -> VerifiedCheckpoint {
        verify_checkpoint(note, &k.verifier(), &[]).unwrap()
    }

    #[test]
    fn junk_signature_lines_do_not_change_the_canonical_evidence() {
        let k = key();
        let a = signed(&log_of("left", 7, 3), &k);
        let b = signed(&log_of("right", 7, 3), &k);
        let clean = Equivocation::same_size(&a, &b)
            .verify(&k.verifier())
            .unwrap();
        assert_eq!(clean.canonical(), clean.evidence());
        let mut ids = std::collections::HashSet::new();
        for i in 0..5u8 {
            let junk = format!("\u{2014} FR/witness {}\n", B64.encode([i; 72]));
            let a2 = [a.as_slice(), junk.as_bytes()].concat();
            let ev = Equivocation::same_size(&b, &a2);
            let v = ev.verify(&k.verifier()).unwrap();
            assert_ne!(v.evidence().id(), clean.evidence().id());
            ids.insert(v.canonical().id());
            assert!(v.canonical().verify(&k.verifier()).is_ok());
        }
        assert_eq!(
            ids.into_iter().collect::<Vec<_>>(),
            vec![clean.evidence().id()]
        );
    }

    #[test]
    fn same_size_fork_is_caught() {
        let k = key();
        let a = signed(&log_of("left", 7, 3), &k);
        let b = signed(&log_of("right", 7, 3), &k);
        let ev = Equivocation::same_size(&b, &a);
        let v = ev.verify(&k.verifier()).unwrap();
        assert_eq!(v.origin(), ORIGIN);
        let again = Equivocation::parse(ev.to_text().as_bytes()).unwrap();
        assert_eq!(again, ev);
        assert!(again.verify(&k.verifier()).is_ok());
        // The same checkpoint twice is no conflict.
        let err = Equivocation::same_size(&a, &a)
            .verify(&k.verifier())
            .unwrap_err();
        assert!(matches!(err, EquivocationError::NotConflicting(_)), "{err}");
    }

    #[test]
    fn different_size_fork_is_caught_from_the_larger_tree() {
        let k = key();
        for (small, large, fork) in [
            (10u64, 15u64, 4u64),
            (8, 20, 0),
            (1, 2, 0),
            (13, 14, 12),
            (5, 300, 2),
        ] {
            let left = log_of("left", small, fork);
            let right = log_of("right", large, fork);
            let (a, b) = (signed(&left, &k), signed(&right, &k));
            let prefix = merkle::tree_hash(small, &right).unwrap();
            let proof = merkle::prove_tree(large, small, &right).unwrap();
            let ev = Equivocation::with_prefix(&a, &b, prefix, proof.clone());
            ev.verify(&k.verifier()).unwrap();
            let parsed = Equivocation::parse(ev.to_text().as_bytes()).unwrap();
            parsed.verify(&k.verifier()).unwrap();
            // A witness holding only the two checkpoints and the log's proof.
            let built =
                Equivocation::from_consistency_proof(&verified(&a, &k), &verified(&b, &k), &proof)
                    .unwrap();
            if small.is_power_of_two() {
                assert!(
                    built.is_none(),
                    "a power-of-two old size leaves the old root out of the proof"
                );
            } else {
                built.unwrap().verify(&k.verifier()).unwrap();
            }
        }
    }

    #[test]
    fn consistent_histories_are_not_evidence() {
        let k = key();
        let full = log_of("x", 20, 20);
        let mut part = MemoryLog::new();
        for i in 0..11 {
            part.append(format!("common {i}").as_bytes());
        }
        let (a, b) = (signed(&part, &k), signed(&full, &k));
        let proof = merkle::prove_tree(20, 11, &full).unwrap();
        assert!(
            Equivocation::from_consistency_proof(&verified(&a, &k), &verified(&b, &k), &proof)
                .unwrap()
                .is_none()
        );
        let honest_prefix = merkle::tree_hash(11, &full).unwrap();
        let err = Equivocation::with_prefix(&a, &b, honest_prefix, proof.clone())
            .verify(&k.verifier())
            .unwrap_err();
        assert!(matches!(err, EquivocationError::NotConflicting(_)), "{err}");
        // A made-up prefix without a valid proof is rejected.
        let err = Equivocation::with_prefix(&a, &b, [7; 32], proof)
            .verify(&k.verifier())
            .unwrap_err();
        assert!(matches!(err, EquivocationError::BadProof(_)), "{err}");
    }

    #[test]
    fn evidence_needs_the_logs_own_signatures() {
        let k = key();
        let impostor = Signer::generate(ORIGIN, [6; 32]).unwrap();
        let a = signed(&log_of("left", 7, 3), &k);
        let b = signed(&log_of("right", 7, 3), &impostor);
        let err = Equivocation::same_size(&a, &b)
            .verify(&k.verifier())
            .unwrap_err();
        assert!(matches!(err, EquivocationError::Checkpoint { .. }), "{err}");
        // Tampering with a signed root breaks its signature.
        let mut t = String::from_utf8(a.clone()).unwrap();
        let root_line = t.lines().nth(2).unwrap().to_string();
        t = t.replacen(
            &root_line,
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            1,
        );
        let ev = Equivocation::same_size(&a, t.as_bytes());
        assert!(ev.verify(&k.verifier()).is_err());
    }

    #[test]
    fn hostile_encodings_are_rejected() {
        let k = key();
        let a = signed(&log_of("left", 7, 3), &k);
        let b = signed(&log_of("right", 9, 3), &k);
        let right = log_of("right", 9, 3);
        let ev = Equivocation::with_prefix(
            &a,
            &b,
            merkle::tree_hash(7, &right).unwrap(),
            merkle::prove_tree(9, 7, &right).unwrap(),
        );
        let good = ev.to_text();
        let lines: Vec<&str> = good.lines().collect();
        let swapped = format!(
            "{}\n{}\n{}\n{}\n",
            lines[0],
            lines[2],
            lines[1],
            lines[3..].join("\n")
        );
        let cases: Vec<String> = vec![
            String::new(),
            "quorate-equivocation/v1\n".into(),
            good.replacen("/v1", "/v2", 1),
            good.trim_end().to_string(),
            swapped,
            good.replacen("prefix ", "proof ", 1),
            good.replacen("checkpoint ", "checkpoint !", 1),
            format!("{good}prefix AAAA\n"),
            format!("{good}extra AAAA\n"),
            format!("{good}garbage\n"),
        ];
        for c in cases {
            assert!(Equivocation::parse(c.as_bytes()).is_err(), "accepted {c:?}");
        }
        assert!(matches!(
            Equivocation::parse(&vec![b'a'; MAX_EVIDENCE_BYTES + 1]),
            Err(EquivocationError::TooLarge { .. })
        ));
        assert!(matches!(
            Equivocation::parse(&[0xff]),
            Err(EquivocationError::NotUtf8)
        ));
        // Dropping a proof line parses but no longer verifies.
        let short: Vec<&str> = good.lines().filter(|l| !l.starts_with("proof ")).collect();
        let short = format!("{}\n", short.join("\n"));
        let p = Equivocation::parse(short.as_bytes()).unwrap();
        assert!(matches!(
            p.verify(&k.verifier()),
            Err(EquivocationError::BadProof(_))
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..400usize {
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push(x as u8);
            }
            let _ = Equivocation::parse(&buf);
            let mut s = b"quorate-equivocation/v1\ncheckpoint ".to_vec();
            s.extend_from_slice(&buf);
            let _ = Equivocation::parse(&s);
        }
    }

    /// The example in specs/formats.md verifies with only the log's vkey.
    #[test]
    fn spec_example_verifies() {
        let spec = "quorate-equivocation/v1\ncheckpoint ZXhhbXBsZS5vcmcvbG9nCjUKS2s5QzdUeHI5bUJuMU56Qjh3TTVSYmYvajNxdWRPMXEza0pTZWRzaEY0Yz0KCuKAlCBleGFtcGxlLm9yZy9sb2cga1BMQXRDYklzZlVIUGZpeVNNYWVWUnZCeFo1MWhiSGlqQWhNZ0dBWHZQN1JXR2JSNmI4VlNlSE4rR1MzcWt0L1NwNnJCaDVlRm1ZTHU4Uks1NldSZHFwckVnYz0K\ncheckpoint ZXhhbXBsZS5vcmcvbG9nCjUKZktvMFhiMkpLbVpGVFd4bEV1bzhQcVB3MCt3aHZqL0M0amRYQmYwNDluST0KCuKAlCBleGFtcGxlLm9yZy9sb2cga1BMQXRJbTkvSSsrVmF4TG51S05UWVdiKzFQSkhkWjl1TVVIWVAyN3hwZDd3eDdZMHBlbStiR2hBaW9UUjZtdXUrRFpDVnVQeVM5MjNtL21FUVJpMXlKTEx3TT0K\n";
        let vkey = "example.org/log+90f2c0b4+Ae1JKMYo0cLG6ukDOJBZlWEpWSc6XGP5NjbBRhSshzfR";
        let log = crate::note::Ed25519Verifier::from_vkey(vkey).unwrap();
        let v = Equivocation::parse(spec.as_bytes())
            .unwrap()
            .verify(&log)
            .unwrap();
        assert_eq!(v.first().checkpoint().size(), 5);
    }
}
