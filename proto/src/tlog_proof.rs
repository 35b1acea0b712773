//! C2SP tlog-proof v1: an offline-verifiable proof that an entry is in a log.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 opaque data>          (optional line)
//! index <decimal, no leading zeros>
//! <base64 SHA-256 hash>               (zero or more: the RFC 6962 inclusion proof,
//! ...                                  leaf sibling first, root child last)
//!
//! <checkpoint signed note, verbatim: origin, size, root, blank line, signatures>
//! ```
//!
//! Quorate serves one proof per attestation (`GET /v1/bundle/...`) so that a client can
//! decide offline. The `extra` data is unauthenticated and Quorate never relies on it.
//! Parsing is strict: the header, the `index` line and every hash line must be exactly as
//! above; a proof longer than [`MAX_PROOF_HASHES`] is refused before any hashing, since no
//! tree of 2^64 entries has a deeper path.
//!
//! Verification ([`TlogProof::verify`]) checks the checkpoint's log signature and witness
//! cosignatures (through [`crate::checkpoint::verify_checkpoint`]) and then the inclusion
//! proof of the caller's leaf hash against that checkpoint's root.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::checkpoint::{CheckpointError, VerifiedCheckpoint, verify_checkpoint};
use crate::cosignature::CosignatureVerifier;
use crate::merkle::{self, Hash, MerkleError};
use crate::note::NoteVerifier;

/// The first line of every tlog-proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// An inclusion proof never has more hashes than the tree has levels.
pub const MAX_PROOF_HASHES: usize = 64;
/// A proof file larger than this is refused unread: 64 hashes and a checkpoint with many
/// cosignatures fit with ample room.
pub const MAX_PROOF_BYTES: usize = 256 * 1024;

/// Why a tlog-proof was rejected.
#[derive(Debug, thiserror::Error)]
pub enum TlogProofError {
    #[error("tlog-proof is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("tlog-proof is not valid UTF-8")]
    NotUtf8,
    #[error("tlog-proof must start with the line {HEADER:?}")]
    BadHeader,
    #[error("tlog-proof line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    #[error("tlog-proof has {got} proof hashes, more than the {limit} any tree can need")]
    TooManyHashes { got: usize, limit: usize },
    #[error("tlog-proof has no checkpoint after the proof lines")]
    MissingCheckpoint,
    #[error("tlog-proof checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("tlog-proof inclusion proof for index {index} does not verify: {source}")]
    Inclusion { index: u64, source: MerkleError },
}

/// A parsed, not yet verified, tlog-proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated extra data.
    pub extra: Option<Vec<u8>>,
    /// Zero-based index of the entry.
    pub index: u64,
    /// Inclusion proof hashes, leaf sibling first.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, byte for byte as the log (and witnesses) signed it.
    pub checkpoint: Vec<u8>,
}

/// A tlog-proof whose checkpoint and inclusion proof both verified for a given leaf.
#[derive(Debug, Clone)]
pub struct VerifiedInclusion {
    index: u64,
    leaf_hash: Hash,
    checkpoint: VerifiedCheckpoint,
}

impl VerifiedInclusion {
    /// Index of the entry in the log.
    pub fn index(&self) -> u64 {
        self.index
    }
    /// The leaf hash that was proven included.
    pub fn leaf_hash(&self) -> &Hash {
        &self.leaf_hash
    }
    /// The verified checkpoint the entry is included in.
    pub fn checkpoint(&self) -> &VerifiedCheckpoint {
        &self.checkpoint
    }
}

fn malformed(line: usize, reason: impl Into<String>) -> TlogProofError {
    TlogProofError::Malformed {
        line,
        reason: reason.into(),
    }
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

impl TlogProof {
    /// Parses a tlog-proof strictly (see the module documentation for the format).
    pub fn parse(bytes: &[u8]) -> Result<TlogProof, TlogProofError> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(TlogProofError::TooLarge {
                size: bytes.len(),
                limit: MAX_PROOF_BYTES,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| TlogProofError::NotUtf8)?;
        // The proof section ends at the first empty line; everything after it is the
        // checkpoint note, which has its own blank line before the signatures.
        let (head, checkpoint) = match text.find("\n\n") {
            Some(i) => (&text[..i], &text[i + 2..]),
            None => return Err(TlogProofError::MissingCheckpoint),
        };
        if checkpoint.is_empty() {
            return Err(TlogProofError::MissingCheckpoint);
        }
        let mut lines = head.split('\n').enumerate().map(|(i, l)| (i + 1, l));
        match lines.next() {
            Some((_, HEADER)) => {}
            _ => return Err(TlogProofError::BadHeader),
        }
        let (mut n, mut line) = lines
            .next()
            .ok_or_else(|| malformed(2, "missing the index line"))?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            let data = STANDARD
                .decode(b64)
                .map_err(|e| malformed(n, format!("extra data is not base64: {e}")))?;
            extra = Some(data);
            (n, line) = lines
                .next()
                .ok_or_else(|| malformed(n + 1, "missing the index line"))?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or_else(|| malformed(n, "expected `index <decimal without leading zeros>`"))?;
        let mut proof = Vec::new();
        for (n, line) in lines {
            if proof.len() == MAX_PROOF_HASHES {
                return Err(TlogProofError::TooManyHashes {
                    got: MAX_PROOF_HASHES + 1,
                    limit: MAX_PROOF_HASHES,
                });
            }
            let raw = STANDARD
                .decode(line)
                .map_err(|e| malformed(n, format!("proof hash is not base64: {e}")))?;
            let hash: Hash = raw
                .as_slice()
                .try_into()
                .map_err(|_| malformed(n, format!("proof hash is {} bytes, not 32", raw.len())))?;
            proof.push(hash);
        }
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint: checkpoint.as_bytes().to_vec(),
        })
    }

    /// Formats the proof; [`TlogProof::parse`] of the result gives back `self`.
    pub fn to_text(&self) -> Vec<u8> {
        let mut out = String::with_capacity(64 + self.proof.len() * 45);
        out.push_str(HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&STANDARD.encode(extra));
            out.push('\n');
        }
        out.push_str("index ");
        out.push_str(&self.index.to_string());
        out.push('\n');
        for h in &self.proof {
            out.push_str(&STANDARD.encode(h));
            out.push('\n');
        }
        out.push('\n');
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.checkpoint);
        bytes
    }

    /// Verifies that `leaf_hash` is at `self.index` in a checkpoint signed by `log` and
    /// cosigned by at least `min_witnesses` of `witnesses`.
    pub fn verify(
        &self,
        leaf_hash: &Hash,
        log: &dyn NoteVerifier,
        witnesses: &[CosignatureVerifier],
        min_witnesses: usize,
    ) -> Result<VerifiedInclusion, TlogProofError> {
        let checkpoint = verify_checkpoint(&self.checkpoint, log, witnesses)?;
        self.finish(leaf_hash, checkpoint, min_witnesses)
    }

    /// As [`TlogProof::verify`] for a log configured by origin with one or more keys
    /// ([`crate::checkpoint::LogKeys`]).
    pub fn verify_log(
        &self,
        leaf_hash: &Hash,
        log: &crate::checkpoint::LogKeys,
        witnesses: &[CosignatureVerifier],
        min_witnesses: usize,
    ) -> Result<VerifiedInclusion, TlogProofError> {
        let checkpoint =
            crate::checkpoint::verify_log_checkpoint(&self.checkpoint, log, witnesses, None)?;
        self.finish(leaf_hash, checkpoint, min_witnesses)
    }

    fn finish(
        &self,
        leaf_hash: &Hash,
        checkpoint: crate::checkpoint::VerifiedCheckpoint,
        min_witnesses: usize,
    ) -> Result<VerifiedInclusion, TlogProofError> {
        checkpoint.require_witnesses(min_witnesses)?;
        let cp = checkpoint.checkpoint();
        merkle::check_record(
            &self.proof,
            cp.size(),
            cp.root_hash(),
            self.index,
            leaf_hash,
        )
        .map_err(|source| TlogProofError::Inclusion {
            index: self.index,
            source,
        })?;
        Ok(VerifiedInclusion {
            index: self.index,
            leaf_hash: *leaf_hash,
            checkpoint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::cosignature::CosignatureSigner;
    use crate::merkle::MemoryLog;
    use crate::note::{self, Signer};

    struct Fixture {
        log_key: Signer,
        witness: CosignatureSigner,
        log: MemoryLog,
        note: String,
    }

    fn fixture(n: u64) -> Fixture {
        let log_key = Signer::generate("example.org/log", [3; 32]).unwrap();
        let witness = CosignatureSigner::generate("witness.example", [4; 32]).unwrap();
        let mut log = MemoryLog::new();
        for i in 0..n {
            log.append(format!("entry {i}").as_bytes());
        }
        let cp = Checkpoint::new("example.org/log", n, log.root(), vec![]).unwrap();
        let signed = note::sign(&cp.to_text(), &[&log_key]).unwrap();
        let cosig = witness.cosign(&cp.to_text(), 1_700_000_000).unwrap();
        let note = note::add_signatures(&signed, &[cosig]).unwrap();
        Fixture {
            log_key,
            witness,
            log,
            note,
        }
    }

    fn proof_for(f: &Fixture, index: u64) -> TlogProof {
        TlogProof {
            extra: None,
            index,
            proof: merkle::prove_record(f.log.size(), index, &f.log).unwrap(),
            checkpoint: f.note.clone().into_bytes(),
        }
    }

    #[test]
    fn round_trip_and_verify() {
        let f = fixture(13);
        for i in 0..13 {
            let mut p = proof_for(&f, i);
            if i % 2 == 0 {
                p.extra = Some(b"context".to_vec());
            }
            let text = p.to_text();
            let parsed = TlogProof::parse(&text).unwrap();
            assert_eq!(parsed, p);
            let leaf = merkle::leaf_hash(format!("entry {i}").as_bytes());
            let v = parsed
                .verify(&leaf, &f.log_key.verifier(), &[f.witness.verifier()], 1)
                .unwrap();
            assert_eq!(v.index(), i);
            assert_eq!(v.checkpoint().checkpoint().size(), 13);
        }
    }

    #[test]
    fn spec_shape_parses() {
        // The layout of the spec's example: header, extra, index, hashes, blank line, note.
        let f = fixture(5);
        let p = proof_for(&f, 3);
        let text = String::from_utf8(p.to_text()).unwrap();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 3\n"));
        assert!(text.contains("\n\nexample.org/log\n5\n"));
    }

    #[test]
    fn wrong_leaf_index_or_keys_fail() {
        let f = fixture(9);
        let p = proof_for(&f, 4);
        let good = merkle::leaf_hash(b"entry 4");
        let bad = merkle::leaf_hash(b"entry 5");
        let log = f.log_key.verifier();
        let w = [f.witness.verifier()];
        assert!(matches!(
            p.verify(&bad, &log, &w, 1),
            Err(TlogProofError::Inclusion { index: 4, .. })
        ));
        let mut moved = p.clone();
        moved.index = 5;
        assert!(moved.verify(&good, &log, &w, 1).is_err());
        // Not enough witnesses for the caller's policy.
        assert!(matches!(
            p.verify(&good, &log, &w, 2),
            Err(TlogProofError::Checkpoint(_))
        ));
        // Another log's key.
        let other = Signer::generate("example.org/log", [9; 32]).unwrap();
        assert!(p.verify(&good, &other.verifier(), &w, 0).is_err());
        assert!(p.verify(&good, &log, &w, 1).is_ok());
    }

    #[test]
    fn hostile_texts_are_rejected_with_reasons() {
        let f = fixture(9);
        let good = String::from_utf8(proof_for(&f, 4).to_text()).unwrap();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "no checkpoint"),
            ("c2sp.org/tlog-proof@v1\n".into(), "no checkpoint"),
            (good.replacen("@v1", "@v2", 1), "start with"),
            (good.replacen("index 4", "index 04", 1), "index"),
            (good.replacen("index 4", "index -4", 1), "index"),
            (good.replacen("index 4", "index", 1), "index"),
            (good.replacen("index 4\n", "", 1), "index"),
            (good.replacen("index 4\n", "index 4\n!!!!\n", 1), "base64"),
            (good.replacen("index 4\n", "index 4\nAAAA\n", 1), "not 32"),
            (
                good.replacen(
                    "c2sp.org/tlog-proof@v1\n",
                    "c2sp.org/tlog-proof@v1\nextra !\n",
                    1,
                ),
                "extra",
            ),
            (
                good.split("\n\n").next().unwrap().to_string(),
                "no checkpoint",
            ),
        ];
        for (text, want) in cases {
            let err = TlogProof::parse(text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
        assert!(matches!(
            TlogProof::parse(&[0xff, 0xfe]),
            Err(TlogProofError::NotUtf8)
        ));
        let huge = vec![b'A'; MAX_PROOF_BYTES + 1];
        assert!(matches!(
            TlogProof::parse(&huge),
            Err(TlogProofError::TooLarge { .. })
        ));
        let mut long = String::from("c2sp.org/tlog-proof@v1\nindex 0\n");
        for _ in 0..65 {
            long.push_str("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
        }
        long.push('\n');
        long.push_str(&f.note);
        assert!(matches!(
            TlogProof::parse(long.as_bytes()),
            Err(TlogProofError::TooManyHashes { .. })
        ));
        // A truncated checkpoint parses as a proof but fails verification.
        let cut = &good[..good.len() - 20];
        let p = TlogProof::parse(cut.as_bytes()).unwrap();
        assert!(
            p.verify(
                &merkle::leaf_hash(b"entry 4"),
                &f.log_key.verifier(),
                &[],
                0
            )
            .is_err()
        );
    }

    /// The example in specs/formats.md, byte for byte.
    #[test]
    fn spec_example_is_exact() {
        let f = fixture(5);
        let spec = "c2sp.org/tlog-proof@v1\nindex 3\nV8efTzGuApxdS9MLBzwnyU35NDiytGl+Hh7vW8A5SkE=\nWkdmL9ijF9lgSaP59HxV3GfKZgUbqjaD27GbL+CaB7A=\nSFM123z+yWXxX/dF/GJcQdXqJkaTaTAWWCj3PdS2iFQ=\n\nexample.org/log\n5\nfKo0Xb2JKmZFTWxlEuo8PqPw0+whvj/C4jdXBf049nI=\n\n— example.org/log kPLAtIm9/I++VaxLnuKNTYWb+1PJHdZ9uMUHYP27xpd7wx7Y0pem+bGhAioTR6muu+DZCVuPyS923m/mEQRi1yJLLwM=\n— witness.example LVUcNAAAAABlU/EAHIjLk8T48d7S7V4xKlTksStHiOaRoMkCwiCfIS2wEWiTQe+fRxrUrGgv9hqWVYPu5H7AjCT/BuLKG2r/k1lhBw==\n";
        assert_eq!(String::from_utf8(proof_for(&f, 3).to_text()).unwrap(), spec);
        let p = TlogProof::parse(spec.as_bytes()).unwrap();
        let vkey = "example.org/log+90f2c0b4+Ae1JKMYo0cLG6ukDOJBZlWEpWSc6XGP5NjbBRhSshzfR";
        let log = crate::note::Ed25519Verifier::from_vkey(vkey).unwrap();
        p.verify(
            &merkle::leaf_hash(b"entry 3"),
            &log,
            &[f.witness.verifier()],
            1,
        )
        .unwrap();
    }
}
