//! Review attestations: signed statements that a reviewer examined a package release.
//!
//! # Format
//!
//! An attestation is a protobuf message `quorate.attestation.v1.Attestation` (schema in
//! `proto/schema/attestation.proto`, field table in `specs/parts/attestation.md`) carried
//! as the `payload` of an `Envelope { bytes payload = 1; bytes signature = 2; }`. The
//! signature is Ed25519 by the key in `payload.reviewer.public_key`, over
//!
//! ```text
//! b"quorate/attestation/v1\n" || payload
//! ```
//!
//! The domain prefix keeps these signatures from being replayable as any other Quorate
//! signature (notes, cosignatures) made with the same key.
//!
//! The log entry is the envelope's exact bytes and its RFC 6962 leaf hash is
//! `SHA-256(0x00 || envelope)`. Verification works on the received bytes and never
//! re-encodes before checking the signature.
//!
//! # Canonicality rule
//!
//! Protobuf permits many byte strings for one message (unknown fields, repeated singular
//! fields, default values written out, fields out of order, non-minimal varints), and prost
//! accepts them all. So that an entry has exactly one byte form (and two log entries with
//! the same content are byte-identical), both the envelope and the payload must be
//! *canonical*: re-encoding the decoded message with prost must reproduce the input byte
//! for byte. A signer using [`Attestation::encode_payload`] / [`sign`] always produces
//! canonical bytes. A consequence is that unknown fields are rejected, so adding a field
//! needs a new `schema_version`.
//!
//! # Limits
//!
//! All limits are in bytes of UTF-8 unless stated; see the `MAX_*` constants. Every input
//! that breaks a rule is an [`AttestationError`] naming the field; nothing here panics.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use prost::Message;
use sha2::{Digest as _, Sha256};
use thiserror::Error;

/// Raw prost-generated types for `quorate.attestation.v1`. Prefer the validated types in
/// this module; these accept anything protobuf accepts.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/quorate.attestation.v1.rs"));
}

/// Prefix of the signed message; the trailing newline keeps it from being a prefix of a
/// longer domain string.
pub const SIGNATURE_DOMAIN: &[u8] = b"quorate/attestation/v1\n";
/// The only `schema_version` this module reads or writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Whole envelope (a log entry). Bounds memory for hostile submissions, and is the most a
/// C2SP entry bundle can carry: its length prefix is a uint16.
pub const MAX_ENVELOPE_BYTES: usize = u16::MAX as usize;
/// `ecosystem`: registry names are short identifiers.
pub const MAX_ECOSYSTEM_BYTES: usize = 32;
/// `package`: npm allows 214, Go module paths and Maven coordinates run longer.
pub const MAX_PACKAGE_BYTES: usize = 256;
/// `version` and `delta_from.version`.
pub const MAX_VERSION_BYTES: usize = 128;
/// Number of `criteria`.
pub const MAX_CRITERIA: usize = 32;
/// Each criterion name.
pub const MAX_CRITERION_BYTES: usize = 64;
/// `violation.range`.
pub const MAX_RANGE_BYTES: usize = 256;
/// `reviewer.name`.
pub const MAX_REVIEWER_NAME_BYTES: usize = 256;
/// `organisation`.
pub const MAX_ORGANISATION_BYTES: usize = 256;
/// `notes`.
pub const MAX_NOTES_BYTES: usize = 16 * 1024;
/// Number of `links`.
pub const MAX_LINKS: usize = 16;
/// Each link.
pub const MAX_LINK_BYTES: usize = 2048;
/// Largest accepted `time`: 9999-12-31T23:59:59Z, so every date library can represent it.
pub const MAX_TIME: u64 = 253_402_300_799;

/// Everything that can be wrong with an attestation or envelope.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AttestationError {
    #[error("{field} is {got} bytes, over the limit of {limit}")]
    TooLong {
        field: String,
        limit: usize,
        got: usize,
    },
    #[error("{field} has {got} entries, over the limit of {limit}")]
    TooMany {
        field: String,
        limit: usize,
        got: usize,
    },
    #[error("{field} is missing")]
    Missing { field: String },
    #[error("{field} must be {expected} bytes, got {got}")]
    WrongLength {
        field: String,
        expected: usize,
        got: usize,
    },
    #[error("{field} has disallowed character {ch:?} at byte {offset}")]
    BadChar {
        field: String,
        ch: char,
        offset: usize,
    },
    #[error("{field} is invalid: {reason}")]
    Invalid { field: String, reason: &'static str },
    #[error("{field} repeats {value:?}")]
    Duplicate { field: String, value: String },
    #[error("{field} has unsupported value {got}")]
    UnsupportedEnum { field: String, got: i32 },
    #[error("unsupported schema_version {got} (supported: {SCHEMA_VERSION})")]
    UnsupportedSchemaVersion { got: u32 },
    #[error("{message} is not valid protobuf: {reason}")]
    Decode {
        message: &'static str,
        reason: String,
    },
    #[error(
        "{message} is not in canonical encoding (unknown, duplicate or out-of-order fields, \
         explicit defaults, or trailing bytes)"
    )]
    NonCanonical { message: &'static str },
    #[error("reviewer.public_key is not a valid Ed25519 public key")]
    BadPublicKey,
    #[error("signature does not verify under reviewer.public_key")]
    BadSignature,
    #[error("signing key does not match reviewer.public_key")]
    KeyMismatch,
    #[error("invalid package spec {spec:?}: {reason}")]
    PackageSpec { spec: String, reason: &'static str },
    #[error("invalid hex digest: {reason}")]
    Hex { reason: &'static str },
}

type Result<T, E = AttestationError> = std::result::Result<T, E>;

/// Digest of the published archive.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Digest {
    /// SHA-256 of the archive as published (crates.io: the Cargo.lock `checksum`).
    Sha256([u8; 32]),
    /// The reviewer did not record which bytes were reviewed; policy decides whether that counts.
    Unknown,
}

impl Digest {
    /// Parses 64 hex digits (either case), the form Cargo.lock `checksum` uses.
    pub fn from_hex(s: &str) -> Result<Digest> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return Err(AttestationError::Hex {
                reason: "SHA-256 digest must be 64 hex digits",
            });
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
            let (Some(&hi), Some(&lo)) = (pair.first(), pair.get(1)) else {
                return Err(AttestationError::Hex {
                    reason: "odd number of hex digits",
                });
            };
            *o = (hex_val(hi)? << 4) | hex_val(lo)?;
        }
        Ok(Digest::Sha256(out))
    }
}

fn hex_val(c: u8) -> Result<u8> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(AttestationError::Hex {
            reason: "non-hex character",
        }),
    }
}

fn to_hex(bytes: &[u8]) -> String {
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
            Digest::Unknown => f.write_str("Unknown"),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Digest::Sha256(d) => write!(f, "sha256:{}", to_hex(d)),
            Digest::Unknown => f.write_str("unknown"),
        }
    }
}

/// The base of a delta review: the reviewer examined the changes from this release.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeltaBase {
    pub version: String,
    pub digest: Digest,
}

/// What the reviewer concluded about `criteria`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The criteria hold for this version.
    Certify,
    /// The criteria are violated by every version matching `range` (cargo-vet `violation`).
    Violation { range: String },
}

/// The reviewer as named in the payload. Whether `public_key` is trusted is the caller's call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reviewer {
    pub name: String,
    pub public_key: [u8; 32],
}

/// How an attestation relates to the earlier one it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SupersedeKind {
    /// The earlier attestation no longer holds; nothing replaces it.
    Withdraw,
    /// This attestation takes the earlier one's place.
    Replace,
}

/// A reference to an earlier attestation by its log leaf hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Supersedes {
    pub leaf_hash: [u8; 32],
    pub kind: SupersedeKind,
}

/// A review attestation. [`Attestation::decode_payload`] only returns values that pass
/// [`Attestation::validate`]; values built by hand are checked by [`sign`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attestation {
    pub ecosystem: String,
    pub package: String,
    pub version: String,
    pub digest: Digest,
    pub delta_from: Option<DeltaBase>,
    pub criteria: Vec<String>,
    pub verdict: Verdict,
    pub reviewer: Reviewer,
    pub organisation: String,
    /// Unix seconds when the review was made (the reviewer's claim).
    pub time: u64,
    pub notes: String,
    pub links: Vec<String>,
    pub supersedes: Option<Supersedes>,
}

impl Attestation {
    /// Canonical payload bytes. Does not validate: call [`Attestation::validate`] (or use
    /// [`sign`], which does) before publishing.
    pub fn encode_payload(&self) -> Vec<u8> {
        self.to_pb().encode_to_vec()
    }

    /// Strictly decodes payload bytes: size, canonical encoding, schema version, then every
    /// field rule of [`Attestation::validate`].
    pub fn decode_payload(bytes: &[u8]) -> Result<Attestation> {
        // The payload sits inside an envelope, so the envelope limit bounds it too.
        check_len("payload", bytes.len(), MAX_ENVELOPE_BYTES)?;
        let msg = pb::Attestation::decode(bytes).map_err(|e| AttestationError::Decode {
            message: "payload",
            reason: e.to_string(),
        })?;
        if msg.schema_version != SCHEMA_VERSION {
            return Err(AttestationError::UnsupportedSchemaVersion {
                got: msg.schema_version,
            });
        }
        if msg.encoded_len() != bytes.len() || msg.encode_to_vec() != bytes {
            return Err(AttestationError::NonCanonical { message: "payload" });
        }
        let att = Attestation::from_pb(msg)?;
        att.validate()?;
        Ok(att)
    }

    /// Checks every field rule (lengths, counts, character sets, required fields).
    pub fn validate(&self) -> Result<()> {
        validate_ecosystem(&self.ecosystem)?;
        validate_token("package", &self.package, MAX_PACKAGE_BYTES)?;
        validate_version("version", &self.version)?;
        if let Some(d) = &self.delta_from {
            validate_version("delta_from.version", &d.version)?;
        }
        // cargo-vet requires criteria on every audit entry, violations included.
        if self.criteria.is_empty() {
            return Err(missing("criteria"));
        }
        check_count("criteria", self.criteria.len(), MAX_CRITERIA)?;
        for (i, c) in self.criteria.iter().enumerate() {
            validate_criterion(&format!("criteria[{i}]"), c)?;
            if self.criteria.iter().take(i).any(|p| p == c) {
                return Err(AttestationError::Duplicate {
                    field: "criteria".into(),
                    value: c.clone(),
                });
            }
        }
        if let Verdict::Violation { range } = &self.verdict {
            validate_range(range)?;
        }
        validate_text(
            "reviewer.name",
            &self.reviewer.name,
            MAX_REVIEWER_NAME_BYTES,
            false,
        )?;
        // Small-order keys are refused here as verify_strict would refuse them later.
        match VerifyingKey::from_bytes(&self.reviewer.public_key) {
            Ok(k) if !k.is_weak() => {}
            _ => return Err(AttestationError::BadPublicKey),
        }
        validate_text(
            "organisation",
            &self.organisation,
            MAX_ORGANISATION_BYTES,
            false,
        )?;
        if self.time == 0 {
            return Err(missing("time"));
        }
        if self.time > MAX_TIME {
            return Err(AttestationError::Invalid {
                field: "time".into(),
                reason: "after year 9999",
            });
        }
        validate_text("notes", &self.notes, MAX_NOTES_BYTES, true)?;
        check_count("links", self.links.len(), MAX_LINKS)?;
        for (i, l) in self.links.iter().enumerate() {
            validate_link(&format!("links[{i}]"), l)?;
        }
        Ok(())
    }

    /// Parses `ECOSYSTEM/NAME@VERSION` (e.g. `crates.io/serde@1.0.210`,
    /// `npm/@scope/pkg@2.0.0`) into `(ecosystem, name, version)`, each validated.
    pub fn parse_package_spec(spec: &str) -> Result<(String, String, String)> {
        let err = |reason| AttestationError::PackageSpec {
            spec: spec.chars().take(300).collect(),
            reason,
        };
        // Ecosystem names contain no '/', while names may (npm scopes, Go paths).
        let (eco, rest) = spec
            .split_once('/')
            .ok_or_else(|| err("expected ECOSYSTEM/NAME@VERSION (no '/')"))?;
        // The last '@' separates the version, since npm scoped names start with '@'.
        let (name, version) = rest
            .rsplit_once('@')
            .ok_or_else(|| err("expected ECOSYSTEM/NAME@VERSION (no '@')"))?;
        if eco.is_empty() {
            return Err(err("empty ecosystem"));
        }
        if name.is_empty() {
            return Err(err("empty package name"));
        }
        if version.is_empty() {
            return Err(err("empty version"));
        }
        validate_ecosystem(eco)?;
        validate_token("package", name, MAX_PACKAGE_BYTES)?;
        validate_version("version", version)?;
        Ok((eco.to_owned(), name.to_owned(), version.to_owned()))
    }

    fn to_pb(&self) -> pb::Attestation {
        pb::Attestation {
            schema_version: SCHEMA_VERSION,
            ecosystem: self.ecosystem.clone(),
            package: self.package.clone(),
            version: self.version.clone(),
            digest: Some(digest_to_pb(&self.digest)),
            delta_from: self.delta_from.as_ref().map(|d| pb::DeltaBase {
                version: d.version.clone(),
                digest: Some(digest_to_pb(&d.digest)),
            }),
            criteria: self.criteria.clone(),
            verdict: Some(match &self.verdict {
                Verdict::Certify => pb::attestation::Verdict::Certify(pb::Certify {}),
                Verdict::Violation { range } => {
                    pb::attestation::Verdict::Violation(pb::Violation {
                        range: range.clone(),
                    })
                }
            }),
            reviewer: Some(pb::Reviewer {
                name: self.reviewer.name.clone(),
                public_key: self.reviewer.public_key.to_vec(),
            }),
            organisation: self.organisation.clone(),
            time: self.time,
            notes: self.notes.clone(),
            links: self.links.clone(),
            supersedes: self.supersedes.as_ref().map(|s| pb::Supersedes {
                leaf_hash: s.leaf_hash.to_vec(),
                kind: match s.kind {
                    SupersedeKind::Withdraw => pb::SupersedeKind::Withdraw,
                    SupersedeKind::Replace => pb::SupersedeKind::Replace,
                } as i32,
            }),
        }
    }

    fn from_pb(m: pb::Attestation) -> Result<Attestation> {
        let digest = digest_from_pb("digest", m.digest)?;
        let delta_from = match m.delta_from {
            None => None,
            Some(d) => Some(DeltaBase {
                version: d.version,
                digest: digest_from_pb("delta_from.digest", d.digest)?,
            }),
        };
        let verdict = match m.verdict {
            None => return Err(missing("verdict")),
            Some(pb::attestation::Verdict::Certify(pb::Certify {})) => Verdict::Certify,
            Some(pb::attestation::Verdict::Violation(v)) => Verdict::Violation { range: v.range },
        };
        let reviewer = m.reviewer.ok_or_else(|| missing("reviewer"))?;
        let public_key = bytes32("reviewer.public_key", &reviewer.public_key)?;
        let supersedes = match m.supersedes {
            None => None,
            Some(s) => Some(Supersedes {
                leaf_hash: bytes32("supersedes.leaf_hash", &s.leaf_hash)?,
                kind: match pb::SupersedeKind::try_from(s.kind) {
                    Ok(pb::SupersedeKind::Withdraw) => SupersedeKind::Withdraw,
                    Ok(pb::SupersedeKind::Replace) => SupersedeKind::Replace,
                    Ok(pb::SupersedeKind::Unspecified) | Err(_) => {
                        return Err(AttestationError::UnsupportedEnum {
                            field: "supersedes.kind".into(),
                            got: s.kind,
                        });
                    }
                },
            }),
        };
        Ok(Attestation {
            ecosystem: m.ecosystem,
            package: m.package,
            version: m.version,
            digest,
            delta_from,
            criteria: m.criteria,
            verdict,
            reviewer: Reviewer {
                name: reviewer.name,
                public_key,
            },
            organisation: m.organisation,
            time: m.time,
            notes: m.notes,
            links: m.links,
            supersedes,
        })
    }
}

fn digest_to_pb(d: &Digest) -> pb::ArtifactDigest {
    match d {
        Digest::Sha256(v) => pb::ArtifactDigest {
            algorithm: pb::DigestAlgorithm::Sha256 as i32,
            value: v.to_vec(),
        },
        Digest::Unknown => pb::ArtifactDigest {
            algorithm: pb::DigestAlgorithm::NotRecorded as i32,
            value: Vec::new(),
        },
    }
}

fn digest_from_pb(field: &str, d: Option<pb::ArtifactDigest>) -> Result<Digest> {
    // A missing digest is an error, not "unknown": the signer must say so explicitly.
    let d = d.ok_or_else(|| missing(field))?;
    match pb::DigestAlgorithm::try_from(d.algorithm) {
        Ok(pb::DigestAlgorithm::Sha256) => Ok(Digest::Sha256(bytes32(
            &format!("{field}.value"),
            &d.value,
        )?)),
        Ok(pb::DigestAlgorithm::NotRecorded) => {
            if d.value.is_empty() {
                Ok(Digest::Unknown)
            } else {
                Err(AttestationError::WrongLength {
                    field: format!("{field}.value"),
                    expected: 0,
                    got: d.value.len(),
                })
            }
        }
        Ok(pb::DigestAlgorithm::Unspecified) | Err(_) => Err(AttestationError::UnsupportedEnum {
            field: format!("{field}.algorithm"),
            got: d.algorithm,
        }),
    }
}

fn missing(field: &str) -> AttestationError {
    AttestationError::Missing {
        field: field.into(),
    }
}

fn bytes32(field: &str, b: &[u8]) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(b).map_err(|_| AttestationError::WrongLength {
        field: field.into(),
        expected: 32,
        got: b.len(),
    })
}

fn check_len(field: &str, got: usize, limit: usize) -> Result<()> {
    if got > limit {
        return Err(AttestationError::TooLong {
            field: field.into(),
            limit,
            got,
        });
    }
    Ok(())
}

fn check_count(field: &str, got: usize, limit: usize) -> Result<()> {
    if got > limit {
        return Err(AttestationError::TooMany {
            field: field.into(),
            limit,
            got,
        });
    }
    Ok(())
}

/// Checks length (non-empty, within limit) then that every char satisfies `ok`.
fn check_chars(field: &str, s: &str, limit: usize, ok: impl Fn(usize, char) -> bool) -> Result<()> {
    if s.is_empty() {
        return Err(missing(field));
    }
    check_len(field, s.len(), limit)?;
    match s.char_indices().find(|&(i, c)| !ok(i, c)) {
        Some((offset, ch)) => Err(AttestationError::BadChar {
            field: field.into(),
            ch,
            offset,
        }),
        None => Ok(()),
    }
}

/// Lowercase ASCII letters, digits, `.`, `-`, `_`, starting with a letter or digit: covers
/// "crates.io", "npm", "pypi", "pub.dev" and keeps the name safe in paths and URLs.
fn validate_ecosystem(s: &str) -> Result<()> {
    check_chars("ecosystem", s, MAX_ECOSYSTEM_BYTES, |i, c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || (i > 0 && matches!(c, '.' | '-' | '_'))
    })
}

/// Printable ASCII without spaces. Every supported registry restricts names and versions to
/// ASCII, and refusing the rest also refuses homoglyph and bidi-override look-alikes.
fn validate_token(field: &str, s: &str, limit: usize) -> Result<()> {
    check_chars(field, s, limit, |_, c| c.is_ascii_graphic())
}

/// Versions are path segments in the node's API (`/v1/reviews/{eco}/{pkg}/{version}`) and
/// no ecosystem's versions contain `/`, so it is refused: otherwise an entry could be
/// logged that no lookup can find.
fn validate_version(field: &str, s: &str) -> Result<()> {
    check_chars(field, s, MAX_VERSION_BYTES, |_, c| {
        c.is_ascii_graphic() && c != '/'
    })
}

/// cargo-vet criteria are TOML bare keys (ASCII letters, digits, `-`, `_`); `:` is also
/// allowed so imported criteria can be namespaced (`peer::name`).
fn validate_criterion(field: &str, s: &str) -> Result<()> {
    check_chars(field, s, MAX_CRITERION_BYTES, |i, c| {
        c.is_ascii_alphanumeric() || (i > 0 && matches!(c, '-' | '_' | ':'))
    })
}

/// Version requirements use operators, commas and spaces (`>=1.0, <1.2.3`, npm `||`), so
/// printable ASCII including space; the syntax itself is ecosystem-specific and not parsed.
fn validate_range(s: &str) -> Result<()> {
    check_chars("violation.range", s, MAX_RANGE_BYTES, |_, c| {
        c.is_ascii_graphic() || c == ' '
    })
}

/// Links are shown to users and fetched by tools, so: http(s) only, no whitespace or controls.
fn validate_link(field: &str, s: &str) -> Result<()> {
    check_chars(field, s, MAX_LINK_BYTES, |_, c| {
        !c.is_whitespace() && !is_unsafe_for_display(c)
    })?;
    if !(s.starts_with("https://") || s.starts_with("http://")) {
        return Err(AttestationError::Invalid {
            field: field.into(),
            reason: "must start with https:// or http://",
        });
    }
    Ok(())
}

/// Free text may be empty. It ends up in terminals and web pages, so control characters
/// (terminal escapes) and bidi overrides (text that displays differently than it reads) are
/// refused; `notes` may keep newlines and tabs.
fn validate_text(field: &str, s: &str, limit: usize, multiline: bool) -> Result<()> {
    if s.is_empty() {
        return Ok(());
    }
    check_chars(field, s, limit, |_, c| {
        (multiline && matches!(c, '\n' | '\t')) || !is_unsafe_for_display(c)
    })
}

fn is_unsafe_for_display(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The message the reviewer signs: domain prefix then the exact payload bytes.
fn signed_message(payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNATURE_DOMAIN.len() + payload.len());
    m.extend_from_slice(SIGNATURE_DOMAIN);
    m.extend_from_slice(payload);
    m
}

/// RFC 6962 leaf hash of a log entry: SHA-256(0x00 || entry).
fn leaf_hash(entry: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// Validates `att`, checks `key` is the reviewer's key, and returns the envelope bytes
/// (the log entry).
pub fn sign(att: &Attestation, key: &SigningKey) -> Result<Vec<u8>> {
    att.validate()?;
    if key.verifying_key().to_bytes() != att.reviewer.public_key {
        return Err(AttestationError::KeyMismatch);
    }
    let payload = att.encode_payload();
    let signature = key.sign(&signed_message(&payload));
    let envelope = pb::Envelope {
        payload,
        signature: signature.to_bytes().to_vec(),
    }
    .encode_to_vec();
    // Per-field limits allow ~53 KiB in total, but check so sign never emits what verify refuses.
    check_len("envelope", envelope.len(), MAX_ENVELOPE_BYTES)?;
    Ok(envelope)
}

/// An attestation whose envelope decoded strictly and whose signature verified under the
/// reviewer key it names. Only [`verify`] makes one. Whether that key is trusted is for the
/// caller to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAttestation {
    envelope: Vec<u8>,
    payload: Vec<u8>,
    attestation: Attestation,
    leaf_hash: [u8; 32],
}

impl VerifiedAttestation {
    /// The key that signed; equal to `attestation().reviewer.public_key`.
    pub fn reviewer_key(&self) -> &[u8; 32] {
        &self.attestation.reviewer.public_key
    }
    pub fn attestation(&self) -> &Attestation {
        &self.attestation
    }
    /// The exact bytes that were verified (the log entry).
    pub fn envelope_bytes(&self) -> &[u8] {
        &self.envelope
    }
    /// The exact payload bytes that were signed.
    pub fn payload_bytes(&self) -> &[u8] {
        &self.payload
    }
    /// RFC 6962 leaf hash of the envelope bytes.
    pub fn leaf_hash(&self) -> &[u8; 32] {
        &self.leaf_hash
    }
    pub fn into_attestation(self) -> Attestation {
        self.attestation
    }
}

/// Strictly decodes an envelope and its payload and verifies the signature (Ed25519
/// `verify_strict`) with the reviewer key embedded in the payload.
pub fn verify(envelope_bytes: &[u8]) -> Result<VerifiedAttestation> {
    check_len("envelope", envelope_bytes.len(), MAX_ENVELOPE_BYTES)?;
    let env = pb::Envelope::decode(envelope_bytes).map_err(|e| AttestationError::Decode {
        message: "envelope",
        reason: e.to_string(),
    })?;
    if env.encoded_len() != envelope_bytes.len() || env.encode_to_vec() != envelope_bytes {
        return Err(AttestationError::NonCanonical {
            message: "envelope",
        });
    }
    if env.payload.is_empty() {
        return Err(missing("envelope.payload"));
    }
    let sig_bytes = <[u8; 64]>::try_from(env.signature.as_slice()).map_err(|_| {
        AttestationError::WrongLength {
            field: "envelope.signature".into(),
            expected: 64,
            got: env.signature.len(),
        }
    })?;
    let attestation = Attestation::decode_payload(&env.payload)?;
    let key = VerifyingKey::from_bytes(&attestation.reviewer.public_key)
        .map_err(|_| AttestationError::BadPublicKey)?;
    // verify_strict refuses small-order keys and non-canonical signatures, so one payload
    // has one valid signature per key and weak keys cannot sign for everything.
    key.verify_strict(
        &signed_message(&env.payload),
        &Signature::from_bytes(&sig_bytes),
    )
    .map_err(|_| AttestationError::BadSignature)?;
    Ok(VerifiedAttestation {
        leaf_hash: leaf_hash(envelope_bytes),
        envelope: envelope_bytes.to_vec(),
        payload: env.payload,
        attestation,
    })
}
