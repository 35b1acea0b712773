//! Artifact digests: the algorithms an attestation can name, and each ecosystem's notation
//! for them (`sha512-…` as in npm's `integrity`, `h1:…` as in go.sum, `sha256:…` or bare
//! hex as in Cargo.lock and Python lockfiles).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::{AttestationError, Result, pb};

/// Longest digest notation [`Digest::parse`] reads (`sha512:` + 128 hex digits, with room);
/// longer input is refused before any decoding.
pub const MAX_DIGEST_NOTATION_BYTES: usize = 160;

/// Digest of a published file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Digest {
    /// SHA-256 of the file as published (Cargo.lock `checksum`, PyPI and Maven hashes).
    Sha256([u8; 32]),
    /// SHA-512 of the file (npm `integrity`).
    Sha512([u8; 64]),
    /// Go's `h1:` module hash (go.sum): SHA-256 over the module's file-hash summary.
    GoH1([u8; 32]),
    /// SHA-1 of the file (npm `shasum`, Maven `.sha1`). Weak: see [`Digest::is_weak`].
    Sha1([u8; 20]),
    /// The reviewer did not record which bytes were reviewed; policy decides whether that counts.
    Unknown,
}

/// The algorithm of a [`Digest`], with its notation name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    Sha256,
    Sha512,
    GoH1,
    Sha1,
    NotRecorded,
}

impl DigestAlgorithm {
    /// The name used in notations and policy files: `sha256`, `sha512`, `h1`, `sha1`,
    /// `not-recorded`.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha512 => "sha512",
            DigestAlgorithm::GoH1 => "h1",
            DigestAlgorithm::Sha1 => "sha1",
            DigestAlgorithm::NotRecorded => "not-recorded",
        }
    }

    fn wire(self) -> pb::DigestAlgorithm {
        match self {
            DigestAlgorithm::Sha256 => pb::DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha512 => pb::DigestAlgorithm::Sha512,
            DigestAlgorithm::GoH1 => pb::DigestAlgorithm::GoH1,
            DigestAlgorithm::Sha1 => pb::DigestAlgorithm::Sha1,
            DigestAlgorithm::NotRecorded => pb::DigestAlgorithm::NotRecorded,
        }
    }
}

fn notation_err(reason: &'static str) -> AttestationError {
    AttestationError::DigestNotation { reason }
}

impl Digest {
    /// Parses 64 hex digits (either case) as SHA-256, the form Cargo.lock `checksum` uses.
    pub fn from_hex(s: &str) -> Result<Digest> {
        if s.len() != 64 {
            return Err(notation_err("SHA-256 digest must be 64 hex digits"));
        }
        Ok(Digest::Sha256(hex_array(s)?))
    }

    /// Parses any supported notation:
    ///
    /// | notation | algorithm |
    /// |---|---|
    /// | `sha256:HEX`, `sha512:HEX`, `sha1:HEX` (pip `--hash`, uv, poetry, PEP 751) | by prefix |
    /// | `sha256-B64`, `sha512-B64`, `sha1-B64` (npm `integrity`, Subresource Integrity) | by prefix |
    /// | `h1:B64` (go.sum) | Go module hash |
    /// | bare hex: 64 digits, 128 digits, 40 digits (Cargo.lock, Maven) | SHA-256, SHA-512, SHA-1 |
    ///
    /// Hex is either case; base64 is the standard alphabet with padding, canonical. The
    /// decoded length must be the algorithm's. Anything else (several digests in one
    /// string, whitespace, unknown prefixes) is an error.
    pub fn parse(s: &str) -> Result<Digest> {
        if s.len() > MAX_DIGEST_NOTATION_BYTES {
            return Err(notation_err("digest notation too long"));
        }
        if let Some(b) = s.strip_prefix("h1:") {
            return Ok(Digest::GoH1(b64_array(b)?));
        }
        for (prefix, hex) in [
            ("sha256:", true),
            ("sha512:", true),
            ("sha1:", true),
            ("sha256-", false),
            ("sha512-", false),
            ("sha1-", false),
        ] {
            let Some(rest) = s.strip_prefix(prefix) else {
                continue;
            };
            let algo = &prefix[..prefix.len() - 1];
            return match (algo, hex) {
                ("sha256", true) => Ok(Digest::Sha256(hex_array(rest)?)),
                ("sha512", true) => Ok(Digest::Sha512(hex_array(rest)?)),
                ("sha1", true) => Ok(Digest::Sha1(hex_array(rest)?)),
                ("sha256", false) => Ok(Digest::Sha256(b64_array(rest)?)),
                ("sha512", false) => Ok(Digest::Sha512(b64_array(rest)?)),
                _ => Ok(Digest::Sha1(b64_array(rest)?)),
            };
        }
        match s.len() {
            64 => Ok(Digest::Sha256(hex_array(s)?)),
            128 => Ok(Digest::Sha512(hex_array(s)?)),
            40 => Ok(Digest::Sha1(hex_array(s)?)),
            _ => Err(notation_err(
                "expected sha256:HEX, sha512-BASE64, h1:BASE64, sha1:HEX or 64/128/40 hex digits",
            )),
        }
    }

    pub fn algorithm(&self) -> DigestAlgorithm {
        match self {
            Digest::Sha256(_) => DigestAlgorithm::Sha256,
            Digest::Sha512(_) => DigestAlgorithm::Sha512,
            Digest::GoH1(_) => DigestAlgorithm::GoH1,
            Digest::Sha1(_) => DigestAlgorithm::Sha1,
            Digest::Unknown => DigestAlgorithm::NotRecorded,
        }
    }

    /// The digest bytes (empty for [`Digest::Unknown`]).
    pub fn value(&self) -> &[u8] {
        match self {
            Digest::Sha256(d) | Digest::GoH1(d) => d,
            Digest::Sha512(d) => d,
            Digest::Sha1(d) => d,
            Digest::Unknown => &[],
        }
    }

    /// SHA-1 has practical collisions: a reviewer cannot know that the bytes they read are
    /// the only bytes with this digest. Policy never counts a weak digest unless it says so.
    pub fn is_weak(&self) -> bool {
        matches!(self, Digest::Sha1(_))
    }

    /// Whether this records which bytes were meant (every algorithm but `Unknown`).
    pub fn is_recorded(&self) -> bool {
        !matches!(self, Digest::Unknown)
    }

    pub(super) fn to_pb(self) -> pb::ArtifactDigest {
        pb::ArtifactDigest {
            algorithm: self.algorithm().wire() as i32,
            value: self.value().to_vec(),
        }
    }

    /// Strict wire reading: a missing digest is an error, not "unknown" (the signer must
    /// say so explicitly), and the value must have the algorithm's length.
    pub(super) fn from_pb(field: &str, d: Option<pb::ArtifactDigest>) -> Result<Digest> {
        let d = d.ok_or_else(|| super::missing(field))?;
        let vf = || format!("{field}.value");
        match pb::DigestAlgorithm::try_from(d.algorithm) {
            Ok(pb::DigestAlgorithm::Sha256) => Ok(Digest::Sha256(fixed(&vf(), &d.value)?)),
            Ok(pb::DigestAlgorithm::Sha512) => Ok(Digest::Sha512(fixed(&vf(), &d.value)?)),
            Ok(pb::DigestAlgorithm::GoH1) => Ok(Digest::GoH1(fixed(&vf(), &d.value)?)),
            Ok(pb::DigestAlgorithm::Sha1) => Ok(Digest::Sha1(fixed(&vf(), &d.value)?)),
            Ok(pb::DigestAlgorithm::NotRecorded) => {
                if d.value.is_empty() {
                    Ok(Digest::Unknown)
                } else {
                    Err(AttestationError::WrongLength {
                        field: vf(),
                        expected: 0,
                        got: d.value.len(),
                    })
                }
            }
            Ok(pb::DigestAlgorithm::Unspecified) | Err(_) => {
                Err(AttestationError::UnsupportedEnum {
                    field: format!("{field}.algorithm"),
                    got: d.algorithm,
                })
            }
        }
    }
}

fn fixed<const N: usize>(field: &str, b: &[u8]) -> Result<[u8; N]> {
    <[u8; N]>::try_from(b).map_err(|_| AttestationError::WrongLength {
        field: field.into(),
        expected: N,
        got: b.len(),
    })
}

fn hex_array<const N: usize>(s: &str) -> Result<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != 2 * N {
        return Err(notation_err("wrong number of hex digits for the algorithm"));
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let (Some(&hi), Some(&lo)) = (pair.first(), pair.get(1)) else {
            return Err(notation_err("odd number of hex digits"));
        };
        *o = (hex_val(hi)? << 4) | hex_val(lo)?;
    }
    Ok(out)
}

fn b64_array<const N: usize>(s: &str) -> Result<[u8; N]> {
    // Base64 of N bytes is 4 * ceil(N / 3) characters: checked before decoding.
    if s.len() != N.div_ceil(3) * 4 {
        return Err(notation_err("wrong base64 length for the algorithm"));
    }
    let v = B64
        .decode(s)
        .map_err(|_| notation_err("invalid or non-canonical base64"))?;
    <[u8; N]>::try_from(v.as_slice()).map_err(|_| notation_err("wrong digest length"))
}

fn hex_val(c: u8) -> Result<u8> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(notation_err("non-hex character")),
    }
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Digest::Sha256(d) => write!(f, "Sha256({})", to_hex(d)),
            Digest::Sha512(d) => write!(f, "Sha512({})", to_hex(d)),
            Digest::GoH1(d) => write!(f, "GoH1({})", to_hex(d)),
            Digest::Sha1(d) => write!(f, "Sha1({})", to_hex(d)),
            Digest::Unknown => f.write_str("Unknown"),
        }
    }
}

/// `sha256:HEX`, `sha512:HEX`, `sha1:HEX`, `h1:BASE64` (go.sum's own form) or `unknown`;
/// every form but `unknown` reads back with [`Digest::parse`].
impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Digest::GoH1(d) => write!(f, "h1:{}", B64.encode(d)),
            Digest::Unknown => f.write_str("unknown"),
            d => write!(f, "{}:{}", d.algorithm().as_str(), to_hex(d.value())),
        }
    }
}
