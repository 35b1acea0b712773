//! File digests in each ecosystem's own notation: `sha256:<hex>` or bare hex (Cargo.lock,
//! Python lockfiles, pip `--hash=sha256:`), `sha512-<base64>` (npm `integrity`, Subresource
//! Integrity syntax), `h1:<base64>` (go.sum: SHA-256 over Go's module-zip file list), and
//! `sha1:<hex>` / `sha1-<base64>`, which is weak and only where an ecosystem offers nothing
//! else.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use quorate_proto::attestation::Digest;

/// One digest of one file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileDigest {
    Sha256([u8; 32]),
    Sha512([u8; 64]),
    /// Go's `h1:` module hash (dirhash Hash1).
    GoH1([u8; 32]),
    /// Weak: collisions can be made. Never enough on its own by default.
    Sha1([u8; 20]),
}

/// Why a digest string was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("digest {text:?}: {reason}")]
pub struct DigestError {
    pub text: String,
    pub reason: &'static str,
}

impl FileDigest {
    /// Parses any notation above. Bare hex is read by length: 64 digits SHA-256, 128
    /// SHA-512, 40 SHA-1.
    pub fn parse(s: &str) -> Result<FileDigest, DigestError> {
        let err = |reason| DigestError {
            text: s.chars().take(160).collect(),
            reason,
        };
        if s.len() > 256 {
            return Err(err("longer than any supported digest"));
        }
        // The algorithm is the leading alphanumeric run; the separator says the encoding.
        let alg_len = s.bytes().take_while(u8::is_ascii_alphanumeric).count();
        let (alg, sep, value) = (
            &s[..alg_len],
            s.get(alg_len..alg_len + 1),
            s.get(alg_len + 1..),
        );
        let (alg, value, b64) = if let (Some(sep), Some(value)) = (sep, value) {
            match sep {
                "-" => (alg, value, true),
                ":" | "=" => (alg, value, alg == "h1"),
                _ => return Err(err("unexpected character after the algorithm")),
            }
        } else {
            let alg = match s.len() {
                64 => "sha256",
                128 => "sha512",
                40 => "sha1",
                _ => return Err(err("bare hex must be 40, 64 or 128 digits")),
            };
            (alg, s, false)
        };
        let bytes = if b64 {
            STANDARD
                .decode(value)
                .map_err(|_| err("not valid base64"))?
        } else {
            hex(value).ok_or_else(|| err("not valid hex"))?
        };
        let wrong = || err("wrong length for its algorithm");
        Ok(match alg.to_ascii_lowercase().as_str() {
            "sha256" => FileDigest::Sha256(bytes.try_into().map_err(|_| wrong())?),
            "sha512" => FileDigest::Sha512(bytes.try_into().map_err(|_| wrong())?),
            "h1" => FileDigest::GoH1(bytes.try_into().map_err(|_| wrong())?),
            "sha1" => FileDigest::Sha1(bytes.try_into().map_err(|_| wrong())?),
            _ => return Err(err("unsupported algorithm")),
        })
    }

    /// Parses an npm `integrity` value: space-separated SRI hashes. Returns every one
    /// understood; unknown algorithms (e.g. `sha384`) are skipped, bad values refused.
    pub fn parse_sri(s: &str) -> Result<Vec<FileDigest>, DigestError> {
        let mut out = Vec::new();
        for part in s.split_ascii_whitespace() {
            // SRI allows `?options` after the value.
            let part = part.split('?').next().unwrap_or_default();
            let alg = part.split('-').next().unwrap_or_default();
            if !matches!(alg, "sha512" | "sha256" | "sha1") {
                continue;
            }
            out.push(FileDigest::parse(part)?);
        }
        if out.is_empty() {
            return Err(DigestError {
                text: s.chars().take(160).collect(),
                reason: "no sha512, sha256 or sha1 hash in integrity",
            });
        }
        Ok(out)
    }

    pub fn is_weak(&self) -> bool {
        matches!(self, FileDigest::Sha1(_))
    }

    pub fn algorithm(&self) -> &'static str {
        match self {
            FileDigest::Sha256(_) => "sha256",
            FileDigest::Sha512(_) => "sha512",
            FileDigest::GoH1(_) => "h1",
            FileDigest::Sha1(_) => "sha1",
        }
    }

    /// The attestation digest of the same algorithm and value.
    pub fn to_attestation(&self) -> Digest {
        match self {
            FileDigest::Sha256(d) => Digest::Sha256(*d),
            FileDigest::Sha512(d) => Digest::Sha512(*d),
            FileDigest::GoH1(d) => Digest::GoH1(*d),
            FileDigest::Sha1(d) => Digest::Sha1(*d),
        }
    }

    pub fn from_attestation(d: &Digest) -> Option<FileDigest> {
        match d {
            Digest::Sha256(d) => Some(FileDigest::Sha256(*d)),
            Digest::Sha512(d) => Some(FileDigest::Sha512(*d)),
            Digest::GoH1(d) => Some(FileDigest::GoH1(*d)),
            Digest::Sha1(d) => Some(FileDigest::Sha1(*d)),
            Digest::Unknown => None,
        }
    }
}

impl fmt::Display for FileDigest {
    /// Each ecosystem's canonical notation: `sha256:<hex>`, `sha512-<base64>`,
    /// `h1:<base64>`, `sha1:<hex>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileDigest::Sha256(d) => write!(f, "sha256:{}", to_hex(d)),
            FileDigest::Sha512(d) => write!(f, "sha512-{}", STANDARD.encode(d)),
            FileDigest::GoH1(d) => write!(f, "h1:{}", STANDARD.encode(d)),
            FileDigest::Sha1(d) => write!(f, "sha1:{}", to_hex(d)),
        }
    }
}

impl fmt::Debug for FileDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notation_parses_and_prints_back() {
        for s in [
            "sha256:523dc4f511e55ab87b694dc30d0f820d60906ef06413f93d4d7a1385599cc149",
            "sha512-1Yjs2SvM8TflER/OD3cOjhWWOZb58A2t7wpE2S9XfBYTiIl+XFhQG2bjy4Pu1I+EAlCNUzRDYDdFwFYUKvXcIA==",
            "h1:K6j46C81hXtZQfuX60cVWQFBJahKSE2gfRbNuvr5bFs=",
            "sha1:2aae6c35c94fcfb415dbe95f408b9ce91ee846ed",
        ] {
            assert_eq!(FileDigest::parse(s).unwrap().to_string(), s);
        }
        let bare = "523dc4f511e55ab87b694dc30d0f820d60906ef06413f93d4d7a1385599cc149";
        assert_eq!(
            FileDigest::parse(bare).unwrap(),
            FileDigest::parse(&format!("sha256={bare}")).unwrap()
        );
        assert!(
            FileDigest::parse("sha1:2aae6c35c94fcfb415dbe95f408b9ce91ee846ed")
                .unwrap()
                .is_weak()
        );
    }

    #[test]
    fn bad_digests_are_refused_with_reason() {
        for (s, reason) in [
            ("sha256:abcd", "wrong length for its algorithm"),
            ("sha512-!!!", "not valid base64"),
            ("h1:AAAA", "wrong length for its algorithm"),
            (
                "md5:d41d8cd98f00b204e9800998ecf8427e",
                "unsupported algorithm",
            ),
            ("zz", "bare hex must be 40, 64 or 128 digits"),
            (
                "sha256:zz23dc4f511e55ab87b694dc30d0f820d60906ef06413f93d4d7a1385599cc14",
                "not valid hex",
            ),
        ] {
            assert_eq!(FileDigest::parse(s).unwrap_err().reason, reason, "{s}");
        }
        assert!(FileDigest::parse(&"a".repeat(10_000)).is_err());
        assert!(FileDigest::parse_sri("sha384-abc").is_err());
        assert_eq!(
            FileDigest::parse_sri("sha384-xyz sha1-Kq5sNclPz7QV2+lfQIuc6R7oRu0=")
                .unwrap()
                .len(),
            1
        );
    }
}
