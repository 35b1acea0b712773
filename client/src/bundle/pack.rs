//! The entry pack of a packed bundle (`quorate bundle --packed`): every entry a bundle
//! holds from one log, with its inclusion proof, in one file.
//!
//! ```text
//! "quorate-bundle-pack v1\n"
//! record*:  u16 BE  envelope length (1..=65535, as in a C2SP entry bundle)
//!           bytes   the envelope
//!           u64 BE  the entry's index in the log
//!           u8      number of proof hashes (0..=63)
//!           32 * n  the RFC 6962 inclusion proof, leaf sibling first
//! ```
//!
//! Every proof is against the log directory's `checkpoint` file, so the cosigned
//! checkpoint is stored once per log rather than once per entry (as a `.tlog-proof`
//! does), and the loader opens one file per log instead of two per entry. Records are in
//! index order, each index at most once. Decoding checks every length against what is
//! left in the file before using it: a claimed length never drives an allocation.

use quorate_proto::merkle::Hash;

pub const MAGIC: &[u8] = b"quorate-bundle-pack v1\n";
/// The pack's file name inside a log directory.
pub const FILE_NAME: &str = "entries.pack";
/// Most proof hashes a record may carry: a tree of 2^63 entries needs 63.
pub const MAX_PROOF: usize = 63;

/// One record, borrowing the pack's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub envelope: &'a [u8],
    pub index: u64,
    pub proof: Vec<Hash>,
}

/// Why a pack stops being readable. Records before `offset` were read and stay usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    #[error(
        "not an entry pack (it does not start with {:?})",
        String::from_utf8_lossy(MAGIC)
    )]
    Magic,
    #[error("record at byte {offset} is truncated: {what} needs {need} bytes, {left} left")]
    Truncated {
        offset: usize,
        what: &'static str,
        need: usize,
        left: usize,
    },
    #[error("record at byte {offset} has an empty envelope")]
    EmptyEnvelope { offset: usize },
    #[error("record at byte {offset} claims {count} proof hashes (at most {MAX_PROOF})")]
    ProofTooLong { offset: usize, count: usize },
    #[error(
        "record at byte {offset} has index {index}, not after the previous record's {previous}"
    )]
    OutOfOrder {
        offset: usize,
        index: u64,
        previous: u64,
    },
}

/// Appends one record to `out` (which must start with [`MAGIC`]).
pub fn push(out: &mut Vec<u8>, envelope: &[u8], index: u64, proof: &[Hash]) -> Result<(), String> {
    let len = u16::try_from(envelope.len())
        .ok()
        .filter(|&l| l > 0)
        .ok_or_else(|| {
            format!(
                "envelope of {} bytes cannot be packed (1..=65535)",
                envelope.len()
            )
        })?;
    if proof.len() > MAX_PROOF {
        return Err(format!(
            "proof of {} hashes (at most {MAX_PROOF})",
            proof.len()
        ));
    }
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(envelope);
    out.extend_from_slice(&index.to_be_bytes());
    out.push(proof.len() as u8);
    for h in proof {
        out.extend_from_slice(h);
    }
    Ok(())
}

/// Decodes a whole pack: the records read, and the error that stopped reading early (the
/// records before it are good; nothing after it can be framed).
pub fn decode(bytes: &[u8]) -> (Vec<Record<'_>>, Option<PackError>) {
    let Some(mut rest) = bytes.strip_prefix(MAGIC) else {
        return (Vec::new(), Some(PackError::Magic));
    };
    let mut out = Vec::new();
    let mut previous: Option<u64> = None;
    while !rest.is_empty() {
        let offset = bytes.len() - rest.len();
        match record(rest, offset, previous) {
            Ok((r, used)) => {
                previous = Some(r.index);
                out.push(r);
                rest = &rest[used..];
            }
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

fn take<'a>(
    b: &'a [u8],
    at: usize,
    need: usize,
    offset: usize,
    what: &'static str,
) -> Result<&'a [u8], PackError> {
    let left = b.len().saturating_sub(at);
    if left < need {
        return Err(PackError::Truncated {
            offset,
            what,
            need,
            left,
        });
    }
    Ok(&b[at..at + need])
}

fn record(
    b: &[u8],
    offset: usize,
    previous: Option<u64>,
) -> Result<(Record<'_>, usize), PackError> {
    let len = take(b, 0, 2, offset, "envelope length")?;
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    if len == 0 {
        return Err(PackError::EmptyEnvelope { offset });
    }
    let envelope = take(b, 2, len, offset, "envelope")?;
    let mut at = 2 + len;
    let ix = take(b, at, 8, offset, "index")?;
    let mut ib = [0u8; 8];
    ib.copy_from_slice(ix);
    let index = u64::from_be_bytes(ib);
    if let Some(p) = previous
        && index <= p
    {
        return Err(PackError::OutOfOrder {
            offset,
            index,
            previous: p,
        });
    }
    at += 8;
    let count = usize::from(take(b, at, 1, offset, "proof length")?[0]);
    if count > MAX_PROOF {
        return Err(PackError::ProofTooLong { offset, count });
    }
    at += 1;
    let hashes = take(b, at, count * 32, offset, "proof")?;
    let proof = hashes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect();
    at += count * 32;
    Ok((
        Record {
            envelope,
            index,
            proof,
        },
        at,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(records: &[(&[u8], u64, usize)]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for (env, index, n) in records {
            let proof: Vec<Hash> = (0..*n).map(|i| [i as u8; 32]).collect();
            push(&mut out, env, *index, &proof).expect("push");
        }
        out
    }

    #[test]
    fn round_trips() {
        let b = pack(&[(b"one", 0, 0), (b"two", 5, 3), (&[9u8; 65535], 9, 63)]);
        let (rs, err) = decode(&b);
        assert_eq!(err, None);
        assert_eq!(rs.len(), 3);
        assert_eq!(rs[0].envelope, b"one");
        assert_eq!((rs[1].index, rs[1].proof.len()), (5, 3));
        assert_eq!(rs[1].proof[2], [2u8; 32]);
        assert_eq!((rs[2].envelope.len(), rs[2].proof.len()), (65535, 63));
        assert_eq!(
            decode(MAGIC),
            (vec![], None),
            "an empty pack holds no records"
        );
    }

    #[test]
    fn refuses_what_cannot_be_packed() {
        let mut out = MAGIC.to_vec();
        assert!(push(&mut out, b"", 0, &[]).is_err());
        assert!(push(&mut out, &vec![0u8; 65536], 0, &[]).is_err());
        assert!(push(&mut out, b"x", 0, &[[0u8; 32]; 64]).is_err());
        assert_eq!(out, MAGIC, "nothing written on refusal");
    }

    /// Every truncation of a good pack reads the whole records before the cut and names
    /// what the cut record lacks; none panics.
    #[test]
    fn every_truncation_keeps_whole_records() {
        let b = pack(&[(b"first entry", 1, 2), (b"second", 2, 1)]);
        let first_end = MAGIC.len() + 2 + 11 + 8 + 1 + 64;
        for cut in 0..b.len() {
            let (rs, err) = decode(&b[..cut]);
            if cut < MAGIC.len() {
                assert_eq!(err, Some(PackError::Magic));
                continue;
            }
            let whole = usize::from(cut >= first_end);
            assert_eq!(rs.len(), whole, "cut at {cut}");
            match err {
                None => assert!(cut == MAGIC.len() || cut == first_end, "cut at {cut}"),
                Some(PackError::Truncated { offset, .. }) => {
                    assert_eq!(offset, if whole == 1 { first_end } else { MAGIC.len() })
                }
                Some(e) => panic!("cut at {cut}: {e}"),
            }
        }
    }

    #[test]
    fn hostile_records_are_named() {
        // Reordered and replayed indexes.
        let b = pack(&[(b"a", 4, 0), (b"b", 2, 0)]);
        let (rs, err) = decode(&b);
        assert_eq!(rs.len(), 1);
        assert!(matches!(
            err,
            Some(PackError::OutOfOrder {
                index: 2,
                previous: 4,
                ..
            })
        ));
        let (_, err) = decode(&pack(&[(b"a", 4, 0), (b"a", 4, 0)]));
        assert!(matches!(err, Some(PackError::OutOfOrder { .. })));
        // An absurd proof length.
        let mut b = pack(&[(b"a", 0, 0)]);
        let at = b.len() - 1;
        b[at] = 200;
        let (_, err) = decode(&b);
        assert_eq!(
            err,
            Some(PackError::ProofTooLong {
                offset: MAGIC.len(),
                count: 200
            })
        );
        // A zero-length envelope, and a claimed length past the end of the file.
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[0, 0]);
        assert!(matches!(
            decode(&b).1,
            Some(PackError::EmptyEnvelope { .. })
        ));
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[0xff, 0xff, 1, 2, 3]);
        let e = decode(&b).1.expect("error");
        assert!(
            e.to_string().contains("envelope needs 65535 bytes, 3 left"),
            "{e}"
        );
        assert_eq!(
            decode(b"quorate-bundle-pack v2\n").1,
            Some(PackError::Magic)
        );
    }
}
