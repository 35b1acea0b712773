//! The `add-checkpoint` request body of C2SP `tlog-witness`:
//!
//! ```text
//! old <size>\n
//! <base64 hash>\n        (zero to 63 consistency proof lines)
//! \n
//! <signed checkpoint note>
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use quorate_proto::merkle::Hash;

use crate::WitnessError;

/// Most consistency proof lines a request may carry (the spec: "MUST NOT send more than 63").
pub const MAX_PROOF_LINES: usize = 63;

/// Largest request body accepted, in bytes. A checkpoint with its log signature and even
/// dozens of cosignatures is a few KiB; the proof adds at most 63 lines of 45 bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// A parsed `add-checkpoint` request. The checkpoint is kept verbatim (signatures
/// included) and is only verified by [`crate::Witness::add_checkpoint_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    /// Size of the latest checkpoint the client believes the witness cosigned.
    pub old_size: u64,
    /// Consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: Vec<u8>,
}

fn malformed(reason: impl Into<String>) -> WitnessError {
    WitnessError::Malformed(reason.into())
}

/// Parses a canonical ASCII decimal (no sign, no leading zero unless the value is 0).
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Decodes a base64 32-byte hash, accepting only its canonical encoding.
pub(crate) fn decode_hash(s: &str) -> Option<Hash> {
    let raw = B64.decode(s).ok()?;
    let h: Hash = raw.try_into().ok()?;
    (B64.encode(h) == s).then_some(h)
}

/// Splits off one `\n`-terminated line.
fn next_line(rest: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = rest.iter().position(|&b| b == b'\n')?;
    Some((&rest[..i], &rest[i + 1..]))
}

impl AddCheckpointRequest {
    pub fn new(old_size: u64, proof: Vec<Hash>, checkpoint: Vec<u8>) -> AddCheckpointRequest {
        AddCheckpointRequest {
            old_size,
            proof,
            checkpoint,
        }
    }

    /// Parses a request body strictly; every error is a 400 ([`WitnessError::Malformed`]).
    pub fn parse(body: &[u8]) -> Result<AddCheckpointRequest, WitnessError> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(malformed(format!(
                "request body is {} bytes, over the {MAX_REQUEST_BYTES}-byte limit",
                body.len()
            )));
        }
        let (first, mut rest) =
            next_line(body).ok_or_else(|| malformed("missing the `old <size>` line"))?;
        let old_size = std::str::from_utf8(first)
            .ok()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(parse_decimal)
            .ok_or_else(|| malformed("first line must be `old <size>` in canonical decimal"))?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = next_line(rest)
                .ok_or_else(|| malformed("missing the empty line before the checkpoint"))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(malformed(format!(
                    "more than {MAX_PROOF_LINES} consistency proof lines"
                )));
            }
            let h = std::str::from_utf8(line)
                .ok()
                .and_then(decode_hash)
                .ok_or_else(|| {
                    malformed(format!(
                        "proof line {} is not canonical base64 of 32 bytes",
                        proof.len() + 1
                    ))
                })?;
            proof.push(h);
        }
        if rest.is_empty() {
            return Err(malformed("missing the checkpoint"));
        }
        Ok(AddCheckpointRequest {
            old_size,
            proof,
            checkpoint: rest.to_vec(),
        })
    }

    /// The request body, as a client sends it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.proof.len() * 45 + self.checkpoint.len());
        out.extend_from_slice(format!("old {}\n", self.old_size).as_bytes());
        for h in &self.proof {
            out.extend_from_slice(B64.encode(h).as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &[u8] =
        b"example.com/x\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 x AAAA\n";

    #[test]
    fn round_trip() {
        let r = AddCheckpointRequest::new(5, vec![[1; 32], [2; 32]], NOTE.to_vec());
        assert_eq!(AddCheckpointRequest::parse(&r.to_bytes()).unwrap(), r);
        let r = AddCheckpointRequest::new(0, vec![], NOTE.to_vec());
        let b = r.to_bytes();
        assert!(b.starts_with(b"old 0\n\nexample.com/x\n"));
        assert_eq!(AddCheckpointRequest::parse(&b).unwrap(), r);
    }

    #[test]
    fn rejects() {
        let bad: &[&[u8]] = &[
            b"",
            b"old 1",
            b"old 01\n\nx",
            b"old -1\n\nx",
            b"old +1\n\nx",
            b"old  1\n\nx",
            b"OLD 1\n\nx",
            b"old 1\n",
            b"old 1\n\n",
            b"old 1\nnot base64!\n\nx",
            b"old 1\nAAAA\n\nx",
            b"old 1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n\nx",
            b"old 18446744073709551616\n\nx",
            b"old \xff\n\nx",
        ];
        for b in bad {
            assert!(
                matches!(
                    AddCheckpointRequest::parse(b),
                    Err(WitnessError::Malformed(_))
                ),
                "{:?}",
                String::from_utf8_lossy(b)
            );
        }
        let many = AddCheckpointRequest::new(1, vec![[0; 32]; 64], NOTE.to_vec());
        assert!(AddCheckpointRequest::parse(&many.to_bytes()).is_err());
        let ok = AddCheckpointRequest::new(1, vec![[0; 32]; 63], NOTE.to_vec());
        assert!(AddCheckpointRequest::parse(&ok.to_bytes()).is_ok());
        let big = vec![b'a'; MAX_REQUEST_BYTES + 1];
        assert!(AddCheckpointRequest::parse(&big).is_err());
    }
}
