//! Byte encodings of gossip messages and `/quorate/fetch/1` requests and responses.
//!
//! Every encoding is a small explicit binary format: a version byte ([`WIRE_VERSION`]), a
//! kind byte, then fields. Integers are big-endian; `str16`/`bytes16` are a `u16` length
//! and that many bytes, `bytes32` a `u32` length and that many bytes. Decoding is strict:
//! unknown versions or kinds, lengths over the configured caps, invalid UTF-8 and trailing
//! bytes are all errors, so each value has exactly one encoding.
//!
//! ```text
//! GossipMessage (gossipsub payload on topic `quorate/checkpoints/v1`)
//!   01 01 origin:str16 note:bytes32          Checkpoint (note's first line == origin)
//!   01 02 evidence:bytes32                   Equivocation (starts "quorate-equivocation/v1\n")
//!
//! Request (`/quorate/fetch/1`, framed as u32 length + body)
//!   01 01 origin:str16 old:u64 new:u64       ConsistencyProof
//!   01 02 origin:str16                       Checkpoint (latest)
//!   01 03 origin:str16 old_size:u64 n:u16 n*[32] note:bytes32    Cosign (tlog-witness add-checkpoint)
//!   01 04                                    Equivocations
//!
//! Response (framed as u32 length + body)
//!   01 01 n:u16 n*[32]                       Proof
//!   01 02 note:bytes32                       Checkpoint
//!   01 03 lines:bytes32                      Cosigned (cosignature signature lines)
//!   01 04 size:u64                           Conflict (the witness's current size)
//!   01 05 code:u16 message:str16             Error
//!   01 06 n:u16 n*(item:bytes32)             Evidence
//! ```
//!
//! These are shapes only: nothing here checks a signature. The node glue verifies the
//! contents with `quorate_proto` before acting on or relaying them.
//!
//! # Message ids
//!
//! [`message_id`] names a gossip message by what the node's verdict depends on, so that a
//! copy differing only in bytes the verdict ignores is a duplicate, not a new message:
//!
//! ```text
//! checkpoint: SHA-256("quorate/gossip-id/checkpoint/v1\n" || author || 0x00
//!                     || body || "\n" || sorted distinct lines signed under the origin's name, each + "\n")
//! anything else: SHA-256("quorate/gossip-id/bytes/v1\n" || payload)
//! ```
//!
//! `body` is the checkpoint text up to the first blank line ([`split_checkpoint_note`]);
//! cosignature lines and anything else after it are left out, so appending, dropping or
//! reordering them cannot mint a new id. The libp2p author is included because the
//! verdict depends on it (only a log's own node publishes its checkpoints): otherwise a
//! rejected copy by another author would share the log's id and block the honest one.

use quorate_proto::equivocation;
use sha2::{Digest, Sha256};

/// Version byte that starts every encoding.
pub const WIRE_VERSION: u8 = 1;
/// Longest origin line accepted.
pub const MAX_ORIGIN_BYTES: usize = 256;
/// Most hashes in a proof (a consistency proof between trees of up to 2^64 leaves is shorter).
pub const MAX_PROOF_HASHES: usize = equivocation::MAX_PROOF_HASHES;
/// Longest error message carried in [`Response::Error`]; longer ones are truncated on encode.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 1024;

/// Size caps applied when decoding (and encoding) wire values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireLimits {
    /// Largest signed checkpoint note (with cosignatures), in gossip and requests.
    pub max_note_bytes: usize,
    /// Largest piece of equivocation evidence.
    pub max_evidence_bytes: usize,
    /// Most evidence items in one [`Response::Evidence`].
    pub max_evidence_items: usize,
    /// Largest encoded request body.
    pub max_request_bytes: usize,
    /// Largest encoded response body.
    pub max_response_bytes: usize,
}

impl Default for WireLimits {
    fn default() -> Self {
        WireLimits {
            max_note_bytes: 64 * 1024,
            max_evidence_bytes: equivocation::MAX_EVIDENCE_BYTES,
            max_evidence_items: 64,
            max_request_bytes: 128 * 1024,
            max_response_bytes: 4 * 1024 * 1024,
        }
    }
}

impl WireLimits {
    /// Largest encoded [`GossipMessage`] these limits allow.
    pub fn max_gossip_bytes(&self) -> usize {
        let checkpoint = 2 + 2 + MAX_ORIGIN_BYTES + 4 + self.max_note_bytes;
        let evidence = 2 + 4 + self.max_evidence_bytes;
        checkpoint.max(evidence)
    }
}

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("empty input")]
    Empty,
    #[error("unknown wire version {0}")]
    Version(u8),
    #[error("unknown message kind {0}")]
    Kind(u8),
    #[error("input ends early")]
    Truncated,
    #[error("{0} trailing bytes")]
    Trailing(usize),
    #[error("{field} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        field: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("{0}")]
    Invalid(&'static str),
}

/// A message on the checkpoint gossip topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GossipMessage {
    /// A signed checkpoint note of log `origin`, possibly with cosignatures.
    Checkpoint { origin: String, note: Vec<u8> },
    /// Equivocation evidence in `quorate-equivocation/v1` text.
    Equivocation { evidence: Vec<u8> },
}

/// A `/quorate/fetch/1` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A consistency proof between two sizes of log `origin`.
    ConsistencyProof { origin: String, old: u64, new: u64 },
    /// The latest checkpoint the peer holds for `origin` (its own log or one it witnesses).
    Checkpoint { origin: String },
    /// A C2SP tlog-witness add-checkpoint request: `note` is the signed checkpoint,
    /// `proof` a consistency proof from `old_size` to its size.
    Cosign {
        origin: String,
        old_size: u64,
        proof: Vec<[u8; 32]>,
        note: Vec<u8>,
    },
    /// All equivocation evidence the peer holds.
    Equivocations,
}

/// A `/quorate/fetch/1` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Answer to [`Request::ConsistencyProof`].
    Proof(Vec<[u8; 32]>),
    /// Answer to [`Request::Checkpoint`]: a signed checkpoint note.
    Checkpoint(Vec<u8>),
    /// Answer to [`Request::Cosign`]: the witness's cosignature signature lines.
    Cosigned(Vec<u8>),
    /// Answer to [`Request::Cosign`] when `old_size` is not the witness's latest size
    /// (tlog-witness 409): the size the witness holds.
    Conflict { size: u64 },
    /// Failure; `code` follows HTTP status codes (tlog-witness: 403 unknown key, 404
    /// unknown log, 422 bad proof; this module: 429 rate limited, 503 overloaded, 504 the
    /// node did not answer in time).
    Error { code: u16, message: String },
    /// Answer to [`Request::Equivocations`].
    Evidence(Vec<Vec<u8>>),
}

impl Response {
    /// An [`Response::Error`] with `message` truncated to [`MAX_ERROR_MESSAGE_BYTES`].
    pub fn error(code: u16, message: impl Into<String>) -> Response {
        let mut message = message.into();
        if message.len() > MAX_ERROR_MESSAGE_BYTES {
            let mut end = MAX_ERROR_MESSAGE_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        Response::Error { code, message }
    }
}

/// A checkpoint note split for gossip: its text (through the first blank line's first
/// newline), the distinct signature lines under the origin's own name, sorted, and every
/// other non-empty line after the blank line, in order (cosignatures and anything else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitNote<'a> {
    pub body: &'a str,
    pub log_lines: Vec<&'a str>,
    pub other_lines: Vec<&'a str>,
}

/// Splits `note` at its first blank line. A checkpoint text has no empty line, so the
/// first blank line is where its signatures start, whatever was appended after it.
/// `None` if the note is not UTF-8 or has no blank line.
pub fn split_checkpoint_note<'a>(origin: &str, note: &'a [u8]) -> Option<SplitNote<'a>> {
    let s = std::str::from_utf8(note).ok()?;
    let sep = s.find("\n\n")?;
    let (body, rest) = (s.get(..sep + 1)?, s.get(sep + 2..)?);
    let mut log_lines = Vec::new();
    let mut other_lines = Vec::new();
    for line in rest.split('\n').filter(|l| !l.is_empty()) {
        let named = line
            .strip_prefix("\u{2014} ")
            .and_then(|r| r.strip_prefix(origin))
            .is_some_and(|r| r.starts_with(' '));
        if named {
            log_lines.push(line);
        } else {
            other_lines.push(line);
        }
    }
    log_lines.sort_unstable();
    log_lines.dedup();
    Some(SplitNote {
        body,
        log_lines,
        other_lines,
    })
}

/// The gossipsub message id of `data` published by `author` (see the module docs).
pub fn message_id(author: Option<&[u8]>, data: &[u8], limits: &WireLimits) -> [u8; 32] {
    if let Ok(GossipMessage::Checkpoint { origin, note }) = GossipMessage::decode(data, limits)
        && let Some(split) = split_checkpoint_note(&origin, &note)
    {
        let mut h = Sha256::new();
        h.update(b"quorate/gossip-id/checkpoint/v1\n");
        h.update(author.unwrap_or_default());
        h.update([0]);
        h.update(split.body.as_bytes());
        h.update(b"\n");
        for line in &split.log_lines {
            h.update(line.as_bytes());
            h.update(b"\n");
        }
        return h.finalize().into();
    }
    let mut h = Sha256::new();
    h.update(b"quorate/gossip-id/bytes/v1\n");
    h.update(data);
    h.finalize().into()
}

// ---- writer helpers ----

fn put_str16(out: &mut Vec<u8>, s: &str) {
    let n = u16::try_from(s.len()).expect("checked by caller");
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_bytes32(out: &mut Vec<u8>, b: &[u8]) {
    let n = u32::try_from(b.len()).expect("checked by caller");
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(b);
}

fn put_hashes(out: &mut Vec<u8>, hashes: &[[u8; 32]]) {
    let n = u16::try_from(hashes.len()).expect("checked by caller");
    out.extend_from_slice(&n.to_be_bytes());
    for h in hashes {
        out.extend_from_slice(h);
    }
}

fn check_len(field: &'static str, size: usize, limit: usize) -> Result<(), WireError> {
    if size > limit {
        Err(WireError::TooLarge { field, size, limit })
    } else {
        Ok(())
    }
}

fn check_origin(origin: &str) -> Result<(), WireError> {
    check_len("origin", origin.len(), MAX_ORIGIN_BYTES)?;
    if origin.is_empty() {
        return Err(WireError::Invalid("empty origin"));
    }
    if origin.chars().any(char::is_control) {
        return Err(WireError::Invalid("origin contains a control character"));
    }
    Ok(())
}

fn check_proof(proof: &[[u8; 32]]) -> Result<(), WireError> {
    if proof.len() > MAX_PROOF_HASHES {
        return Err(WireError::TooLarge {
            field: "proof",
            size: proof.len(),
            limit: MAX_PROOF_HASHES,
        });
    }
    Ok(())
}

/// The checkpoint note must be UTF-8 whose first line is `origin`.
fn check_checkpoint_shape(origin: &str, note: &[u8], limits: &WireLimits) -> Result<(), WireError> {
    check_origin(origin)?;
    check_len("note", note.len(), limits.max_note_bytes)?;
    let first = note.split(|&b| b == b'\n').next().unwrap_or_default();
    if first != origin.as_bytes() || note.len() == first.len() {
        return Err(WireError::Invalid("note's first line is not the origin"));
    }
    if std::str::from_utf8(note).is_err() {
        return Err(WireError::Invalid("note is not UTF-8"));
    }
    Ok(())
}

fn check_evidence_shape(evidence: &[u8], limits: &WireLimits) -> Result<(), WireError> {
    check_len("evidence", evidence.len(), limits.max_evidence_bytes)?;
    let header = equivocation::HEADER.as_bytes();
    if !(evidence.starts_with(header) && evidence.get(header.len()) == Some(&b'\n')) {
        return Err(WireError::Invalid("evidence lacks the equivocation header"));
    }
    Ok(())
}

// ---- reader ----

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Result<(Reader<'a>, u8), WireError> {
        match buf {
            [] => Err(WireError::Empty),
            [v, ..] if *v != WIRE_VERSION => Err(WireError::Version(*v)),
            [_] => Err(WireError::Truncated),
            [_, kind, rest @ ..] => Ok((Reader { buf: rest }, *kind)),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn str16(&mut self) -> Result<String, WireError> {
        let n = usize::from(self.u16()?);
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| WireError::Invalid("string is not UTF-8"))
    }

    fn origin(&mut self) -> Result<String, WireError> {
        let n = usize::from(self.u16()?);
        check_len("origin", n, MAX_ORIGIN_BYTES)?;
        let b = self.take(n)?;
        let s =
            String::from_utf8(b.to_vec()).map_err(|_| WireError::Invalid("origin is not UTF-8"))?;
        check_origin(&s)?;
        Ok(s)
    }

    fn bytes32(&mut self, field: &'static str, limit: usize) -> Result<Vec<u8>, WireError> {
        let n = self.u32()? as usize;
        check_len(field, n, limit)?;
        Ok(self.take(n)?.to_vec())
    }

    fn hashes(&mut self) -> Result<Vec<[u8; 32]>, WireError> {
        let n = usize::from(self.u16()?);
        if n > MAX_PROOF_HASHES {
            return Err(WireError::TooLarge {
                field: "proof",
                size: n,
                limit: MAX_PROOF_HASHES,
            });
        }
        let raw = self.take(n * 32)?;
        Ok(raw
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32 bytes"))
            .collect())
    }

    fn finish(self) -> Result<(), WireError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing(self.buf.len()))
        }
    }
}

impl GossipMessage {
    /// Encodes, checking the same shape rules as [`GossipMessage::decode`].
    pub fn encode(&self, limits: &WireLimits) -> Result<Vec<u8>, WireError> {
        let mut out = vec![WIRE_VERSION];
        match self {
            GossipMessage::Checkpoint { origin, note } => {
                check_checkpoint_shape(origin, note, limits)?;
                out.reserve(2 + origin.len() + 4 + note.len());
                out.push(1);
                put_str16(&mut out, origin);
                put_bytes32(&mut out, note);
            }
            GossipMessage::Equivocation { evidence } => {
                check_evidence_shape(evidence, limits)?;
                out.reserve(5 + evidence.len());
                out.push(2);
                put_bytes32(&mut out, evidence);
            }
        }
        Ok(out)
    }

    /// Decodes and checks the shape (sizes, UTF-8 note whose first line is the origin,
    /// evidence header). Signatures are not checked.
    pub fn decode(bytes: &[u8], limits: &WireLimits) -> Result<GossipMessage, WireError> {
        check_len("gossip message", bytes.len(), limits.max_gossip_bytes())?;
        let (mut r, kind) = Reader::new(bytes)?;
        let msg = match kind {
            1 => {
                let origin = r.origin()?;
                let note = r.bytes32("note", limits.max_note_bytes)?;
                check_checkpoint_shape(&origin, &note, limits)?;
                GossipMessage::Checkpoint { origin, note }
            }
            2 => {
                let evidence = r.bytes32("evidence", limits.max_evidence_bytes)?;
                check_evidence_shape(&evidence, limits)?;
                GossipMessage::Equivocation { evidence }
            }
            k => return Err(WireError::Kind(k)),
        };
        r.finish()?;
        Ok(msg)
    }
}

impl Request {
    /// Encodes, refusing values that [`Request::decode`] would refuse.
    pub fn encode(&self, limits: &WireLimits) -> Result<Vec<u8>, WireError> {
        let mut out = vec![WIRE_VERSION];
        match self {
            Request::ConsistencyProof { origin, old, new } => {
                check_origin(origin)?;
                out.push(1);
                put_str16(&mut out, origin);
                out.extend_from_slice(&old.to_be_bytes());
                out.extend_from_slice(&new.to_be_bytes());
            }
            Request::Checkpoint { origin } => {
                check_origin(origin)?;
                out.push(2);
                put_str16(&mut out, origin);
            }
            Request::Cosign {
                origin,
                old_size,
                proof,
                note,
            } => {
                check_checkpoint_shape(origin, note, limits)?;
                check_proof(proof)?;
                out.push(3);
                put_str16(&mut out, origin);
                out.extend_from_slice(&old_size.to_be_bytes());
                put_hashes(&mut out, proof);
                put_bytes32(&mut out, note);
            }
            Request::Equivocations => out.push(4),
        }
        check_len("request", out.len(), limits.max_request_bytes)?;
        Ok(out)
    }

    pub fn decode(bytes: &[u8], limits: &WireLimits) -> Result<Request, WireError> {
        check_len("request", bytes.len(), limits.max_request_bytes)?;
        let (mut r, kind) = Reader::new(bytes)?;
        let req = match kind {
            1 => Request::ConsistencyProof {
                origin: r.origin()?,
                old: r.u64()?,
                new: r.u64()?,
            },
            2 => Request::Checkpoint {
                origin: r.origin()?,
            },
            3 => {
                let origin = r.origin()?;
                let old_size = r.u64()?;
                let proof = r.hashes()?;
                let note = r.bytes32("note", limits.max_note_bytes)?;
                check_checkpoint_shape(&origin, &note, limits)?;
                Request::Cosign {
                    origin,
                    old_size,
                    proof,
                    note,
                }
            }
            4 => Request::Equivocations,
            k => return Err(WireError::Kind(k)),
        };
        r.finish()?;
        Ok(req)
    }
}

impl Response {
    /// Encodes, refusing values that [`Response::decode`] would refuse.
    pub fn encode(&self, limits: &WireLimits) -> Result<Vec<u8>, WireError> {
        let mut out = vec![WIRE_VERSION];
        match self {
            Response::Proof(proof) => {
                check_proof(proof)?;
                out.push(1);
                put_hashes(&mut out, proof);
            }
            Response::Checkpoint(note) => {
                check_len("note", note.len(), limits.max_note_bytes)?;
                out.push(2);
                put_bytes32(&mut out, note);
            }
            Response::Cosigned(lines) => {
                check_len("signature lines", lines.len(), limits.max_note_bytes)?;
                out.push(3);
                put_bytes32(&mut out, lines);
            }
            Response::Conflict { size } => {
                out.push(4);
                out.extend_from_slice(&size.to_be_bytes());
            }
            Response::Error { code, message } => {
                check_len("error message", message.len(), MAX_ERROR_MESSAGE_BYTES)?;
                out.push(5);
                out.extend_from_slice(&code.to_be_bytes());
                put_str16(&mut out, message);
            }
            Response::Evidence(items) => {
                check_len("evidence items", items.len(), limits.max_evidence_items)?;
                out.push(6);
                out.extend_from_slice(&(items.len() as u16).to_be_bytes());
                for item in items {
                    check_len("evidence", item.len(), limits.max_evidence_bytes)?;
                    put_bytes32(&mut out, item);
                }
            }
        }
        check_len("response", out.len(), limits.max_response_bytes)?;
        Ok(out)
    }

    pub fn decode(bytes: &[u8], limits: &WireLimits) -> Result<Response, WireError> {
        check_len("response", bytes.len(), limits.max_response_bytes)?;
        let (mut r, kind) = Reader::new(bytes)?;
        let resp = match kind {
            1 => Response::Proof(r.hashes()?),
            2 => Response::Checkpoint(r.bytes32("note", limits.max_note_bytes)?),
            3 => Response::Cosigned(r.bytes32("signature lines", limits.max_note_bytes)?),
            4 => Response::Conflict { size: r.u64()? },
            5 => {
                let code = r.u16()?;
                let message = r.str16()?;
                check_len("error message", message.len(), MAX_ERROR_MESSAGE_BYTES)?;
                Response::Error { code, message }
            }
            6 => {
                let n = usize::from(r.u16()?);
                check_len("evidence items", n, limits.max_evidence_items)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(r.bytes32("evidence", limits.max_evidence_bytes)?);
                }
                Response::Evidence(items)
            }
            k => return Err(WireError::Kind(k)),
        };
        r.finish()?;
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(origin: &str) -> Vec<u8> {
        format!("{origin}\n5\nAAAA\n\n— sig\n").into_bytes()
    }

    #[test]
    fn gossip_round_trip_and_strictness() {
        let l = WireLimits::default();
        let m = GossipMessage::Checkpoint {
            origin: "example.org/log".into(),
            note: note("example.org/log"),
        };
        let b = m.encode(&l).unwrap();
        assert_eq!(GossipMessage::decode(&b, &l).unwrap(), m);
        let mut t = b.clone();
        t.push(0);
        assert_eq!(GossipMessage::decode(&t, &l), Err(WireError::Trailing(1)));
        assert_eq!(
            GossipMessage::decode(&b[..b.len() - 1], &l),
            Err(WireError::Truncated)
        );
        assert_eq!(GossipMessage::decode(&[], &l), Err(WireError::Empty));
        assert_eq!(
            GossipMessage::decode(&[9, 1], &l),
            Err(WireError::Version(9))
        );
        assert_eq!(GossipMessage::decode(&[1, 9], &l), Err(WireError::Kind(9)));
        let wrong = GossipMessage::Checkpoint {
            origin: "other".into(),
            note: note("example.org/log"),
        };
        assert!(wrong.encode(&l).is_err());
        let e = GossipMessage::Equivocation {
            evidence: b"quorate-equivocation/v1\ncheckpoint AA==\n".to_vec(),
        };
        assert_eq!(
            GossipMessage::decode(&e.encode(&l).unwrap(), &l).unwrap(),
            e
        );
        let bad = GossipMessage::Equivocation {
            evidence: b"garbage".to_vec(),
        };
        assert!(bad.encode(&l).is_err());
    }

    #[test]
    fn message_id_ignores_lines_outside_the_log_signature_but_not_the_author() {
        let l = WireLimits::default();
        let o = "example.org/log";
        let enc = |note: String| {
            GossipMessage::Checkpoint {
                origin: o.into(),
                note: note.into_bytes(),
            }
            .encode(&l)
            .unwrap()
        };
        let base = format!("{o}\n5\nAAAA\n\n\u{2014} {o} c2ln\n");
        let id = message_id(Some(b"a"), &enc(base.clone()), &l);
        let junk = [
            format!("{base}\u{2014} witness.example/w Z2FyYmFnZQ==\n"),
            format!("{base}garbage without a dash\n"),
            format!("{base}\n\n\u{2014} other x\n"),
            format!("{o}\n5\nAAAA\n\n\u{2014} w y\n\u{2014} {o} c2ln\n\u{2014} {o} c2ln\n"),
            format!("{base}\u{2014} {o}x c2ln\n"),
        ];
        for j in junk {
            assert_eq!(message_id(Some(b"a"), &enc(j.clone()), &l), id, "{j}");
        }
        // What the verdict depends on changes the id: the body, the log's lines, the author.
        let other_sig = format!("{base}\u{2014} {o} b3RoZXI=\n");
        assert_ne!(message_id(Some(b"a"), &enc(other_sig), &l), id);
        let other_body = format!("{o}\n6\nAAAA\n\n\u{2014} {o} c2ln\n");
        assert_ne!(message_id(Some(b"a"), &enc(other_body), &l), id);
        assert_ne!(message_id(Some(b"b"), &enc(base.clone()), &l), id);
        // Evidence and undecodable payloads: the bytes.
        assert_ne!(message_id(None, b"x", &l), message_id(None, b"y", &l));
    }

    #[test]
    fn declared_length_over_cap_is_refused_before_reading() {
        let l = WireLimits::default();
        let mut b = vec![1, 2];
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            GossipMessage::decode(&b, &l),
            Err(WireError::TooLarge { .. })
        ));
    }

    #[test]
    fn request_response_round_trip() {
        let l = WireLimits::default();
        let reqs = [
            Request::ConsistencyProof {
                origin: "o".into(),
                old: 3,
                new: u64::MAX,
            },
            Request::Checkpoint { origin: "o".into() },
            Request::Cosign {
                origin: "o".into(),
                old_size: 7,
                proof: vec![[1; 32], [2; 32]],
                note: note("o"),
            },
            Request::Equivocations,
        ];
        for r in reqs {
            assert_eq!(Request::decode(&r.encode(&l).unwrap(), &l).unwrap(), r);
        }
        let resps = [
            Response::Proof(vec![[3; 32]; 5]),
            Response::Checkpoint(note("o")),
            Response::Cosigned(b"\xe2\x80\x94 w abc\n".to_vec()),
            Response::Conflict { size: 9 },
            Response::error(404, "unknown log"),
            Response::Evidence(vec![b"a".to_vec(), b"bc".to_vec()]),
        ];
        for r in resps {
            assert_eq!(Response::decode(&r.encode(&l).unwrap(), &l).unwrap(), r);
        }
        let long = Response::error(500, "x".repeat(5000));
        assert!(long.encode(&l).is_ok());
    }
}
