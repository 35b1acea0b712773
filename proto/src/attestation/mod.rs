//! Review attestations: signed statements that a reviewer examined a package release.
//!
//! # Format
//!
//! An attestation is a protobuf message `quorate.attestation.v1.Attestation` (schema in
//! `proto/schema/attestation.proto`, field tables in `specs/formats.md`) carried as the
//! `payload` of an `Envelope { bytes payload = 1; bytes signature = 2; }`. The signature
//! is Ed25519 by the key in `payload.reviewer.public_key`, over
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
//! # Parts
//!
//! [`identity`] (ecosystems as Package URL types, normalised names, versions, purls),
//! [`digest`] (algorithms and each ecosystem's notation), [`evidence`] (reviewer kind,
//! scope, evidence kinds), [`sealed`] (commitments and reveals), `validation` (field
//! rules); this file holds the message types, the wire mapping, signing and verifying.
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
//! All limits are in bytes of UTF-8 unless stated; see the `MAX_*` constants here and in
//! the submodules. Every input that breaks a rule is an [`AttestationError`] naming the
//! field; nothing here panics.

pub mod digest;
pub mod evidence;
pub mod identity;
pub mod sealed;
mod validation;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use prost::Message;
use sha2::{Digest as _, Sha256};
use thiserror::Error;

pub use digest::{Digest, DigestAlgorithm};
pub use evidence::{
    ArchiveMatchesSource, BenchmarkDelta, Evidence, EvidenceKind, Fuzzing, MaintainerChange,
    MaintainerChangeKind, ReproducibleBuild, ReviewerKind, Scope,
};
pub use identity::{Ecosystem, PackageId};
pub use sealed::{SealError, commitment_hash, verify_reveal};

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
/// C2SP entry bundle can carry: its length prefix is a uint16. Field limits can add up to
/// more; [`sign`] refuses an envelope over this, as [`verify`] would.
pub const MAX_ENVELOPE_BYTES: usize = u16::MAX as usize;
/// `ecosystem`: purl types are short identifiers.
pub const MAX_ECOSYSTEM_BYTES: usize = 32;
/// `package`: npm allows 214, Go module paths and Maven coordinates run longer.
pub const MAX_PACKAGE_BYTES: usize = 256;
/// `version` and `delta_from.version`.
pub const MAX_VERSION_BYTES: usize = 128;
/// Number of `artifacts` (a PyPI release with wheels for every platform has ~60 files).
pub const MAX_ARTIFACTS: usize = 64;
/// Each `artifacts[].name` (a file name).
pub const MAX_ARTIFACT_NAME_BYTES: usize = 255;
/// Digests per artifact: one per algorithm.
pub const MAX_ARTIFACT_DIGESTS: usize = 4;
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
    #[error("invalid package URL {purl:?}: {reason}")]
    Purl { purl: String, reason: &'static str },
    #[error("invalid digest: {reason}")]
    DigestNotation { reason: &'static str },
}

type Result<T, E = AttestationError> = std::result::Result<T, E>;

/// The base of a delta review: the reviewer examined the changes from this release.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeltaBase {
    pub version: String,
    pub digest: Digest,
}

/// One further file of the release, with one digest per algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Artifact {
    /// File name as published, no directory (`foo-1.0-py3-none-any.whl`).
    pub name: String,
    /// 1–4 recorded digests, one per algorithm, in [`DigestAlgorithm`] order.
    pub digests: Vec<Digest>,
}

/// What the reviewer concluded about `criteria`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The criteria hold for this version.
    Certify,
    /// The criteria are violated by every version matching `range` (cargo-vet `violation`).
    Violation { range: String },
    /// A recorded fact that concludes nothing about the criteria.
    Informational,
    /// A sealed commitment to content revealed later ([`sealed`]).
    Sealed { commitment: [u8; 32] },
}

/// The reviewer as named in the payload. Whether `public_key` is trusted is the caller's call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reviewer {
    pub name: String,
    pub public_key: [u8; 32],
    pub kind: ReviewerKind,
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

/// The link from revealed content to its sealed commitment ([`sealed`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reveal {
    /// Leaf hash of the commitment's log entry.
    pub commitment_leaf_hash: [u8; 32],
    pub salt: [u8; sealed::SALT_BYTES],
}

/// A review attestation. [`Attestation::decode_payload`] only returns values that pass
/// [`Attestation::validate`]; values built by hand are checked by [`sign`].
///
/// `scope` and `evidence` are required, and `criteria` non-empty, in every attestation but
/// a sealed commitment, where they (and every other content field) must be empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attestation {
    /// A purl type ([`Ecosystem::as_str`]).
    pub ecosystem: String,
    /// The ecosystem's normalised name ([`Ecosystem::normalise_name`]).
    pub package: String,
    pub version: String,
    /// The primary file's digest.
    pub digest: Digest,
    pub delta_from: Option<DeltaBase>,
    /// Further files (or further digests) covered by the same review.
    pub artifacts: Vec<Artifact>,
    pub scope: Option<Scope>,
    pub criteria: Vec<String>,
    pub verdict: Verdict,
    pub evidence: Option<Evidence>,
    pub reviewer: Reviewer,
    pub organisation: String,
    /// Unix seconds when the review was made (the reviewer's claim).
    pub time: u64,
    pub notes: String,
    pub links: Vec<String>,
    pub supersedes: Option<Supersedes>,
    pub reveal: Option<Reveal>,
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
        let att = Attestation::decode_payload_fields(bytes)?;
        validation::reviewer_key(&att.reviewer.public_key)?;
        Ok(att)
    }

    /// [`Attestation::decode_payload`] short of decoding the reviewer key: the caller
    /// must decode it ([`verify`] does, as the signature needs it).
    fn decode_payload_fields(bytes: &[u8]) -> Result<Attestation> {
        // The payload sits inside an envelope, so the envelope limit bounds it too.
        validation::check_len("payload", bytes.len(), MAX_ENVELOPE_BYTES)?;
        let msg = pb::Attestation::decode(bytes).map_err(|e| AttestationError::Decode {
            message: "payload",
            reason: e.to_string(),
        })?;
        if msg.schema_version != SCHEMA_VERSION {
            return Err(AttestationError::UnsupportedSchemaVersion {
                got: msg.schema_version,
            });
        }
        // An evidence kind from a later schema decodes as an Evidence without a kind;
        // say so rather than only "non-canonical".
        if msg.evidence.as_ref().is_some_and(|e| e.kind.is_none()) {
            return Err(evidence::unknown_kind());
        }
        if msg.encoded_len() != bytes.len() || msg.encode_to_vec() != bytes {
            return Err(AttestationError::NonCanonical { message: "payload" });
        }
        let att = Attestation::from_pb(msg)?;
        att.validate_fields()?;
        Ok(att)
    }

    /// Parses `--package` input, a purl (`pkg:npm/%40scope/pkg@2.0.0`) or
    /// `ECOSYSTEM/NAME@VERSION` (`cargo/serde@1.0.210`; `crates.io` is accepted for
    /// `cargo`), into `(ecosystem, name, version)`, normalised and validated.
    pub fn parse_package_spec(spec: &str) -> Result<(String, String, String)> {
        let id = PackageId::parse_spec(spec)?;
        Ok((id.ecosystem.as_str().to_owned(), id.name, id.version))
    }

    /// The release as a [`PackageId`] (for purls). Fails only for an attestation that does
    /// not validate.
    pub fn package_id(&self) -> Result<PackageId> {
        PackageId::new(
            Ecosystem::parse(&self.ecosystem)?,
            &self.package,
            &self.version,
        )
    }

    /// Every recorded digest this attestation covers: `digest`, then each artifact's.
    pub fn covered_digests(&self) -> impl Iterator<Item = &Digest> {
        std::iter::once(&self.digest)
            .chain(self.artifacts.iter().flat_map(|a| a.digests.iter()))
            .filter(|d| d.is_recorded())
    }

    /// Whether a file with digest `d` is covered: `d` equals `digest` or a digest of one
    /// of `artifacts` (same algorithm, same bytes). File names do not decide coverage.
    pub fn covers(&self, d: &Digest) -> bool {
        d.is_recorded() && self.covered_digests().any(|c| c == d)
    }

    fn to_pb(&self) -> pb::Attestation {
        pb::Attestation {
            schema_version: SCHEMA_VERSION,
            ecosystem: self.ecosystem.clone(),
            package: self.package.clone(),
            version: self.version.clone(),
            digest: Some(self.digest.to_pb()),
            delta_from: self.delta_from.as_ref().map(|d| pb::DeltaBase {
                version: d.version.clone(),
                digest: Some(d.digest.to_pb()),
            }),
            artifacts: self
                .artifacts
                .iter()
                .map(|a| pb::Artifact {
                    name: a.name.clone(),
                    digests: a.digests.iter().map(|d| d.to_pb()).collect(),
                })
                .collect(),
            scope: self.scope.as_ref().map(Scope::to_pb),
            criteria: self.criteria.clone(),
            verdict: Some(match &self.verdict {
                Verdict::Certify => pb::attestation::Verdict::Certify(pb::Certify {}),
                Verdict::Violation { range } => {
                    pb::attestation::Verdict::Violation(pb::Violation {
                        range: range.clone(),
                    })
                }
                Verdict::Informational => {
                    pb::attestation::Verdict::Informational(pb::Informational {})
                }
                Verdict::Sealed { commitment } => pb::attestation::Verdict::Sealed(pb::Sealed {
                    commitment: commitment.to_vec(),
                }),
            }),
            evidence: self.evidence.as_ref().map(Evidence::to_pb),
            reviewer: Some(pb::Reviewer {
                name: self.reviewer.name.clone(),
                public_key: self.reviewer.public_key.to_vec(),
                kind: self.reviewer.kind.to_pb(),
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
            reveal: self.reveal.as_ref().map(|r| pb::Reveal {
                commitment_leaf_hash: r.commitment_leaf_hash.to_vec(),
                salt: r.salt.to_vec(),
            }),
        }
    }

    fn from_pb(m: pb::Attestation) -> Result<Attestation> {
        let digest = Digest::from_pb("digest", m.digest)?;
        let delta_from = match m.delta_from {
            None => None,
            Some(d) => Some(DeltaBase {
                version: d.version,
                digest: Digest::from_pb("delta_from.digest", d.digest)?,
            }),
        };
        // Counted before anything is converted, so a claimed list length drives nothing.
        validation::check_count("artifacts", m.artifacts.len(), MAX_ARTIFACTS)?;
        let mut artifacts = Vec::with_capacity(m.artifacts.len());
        for (i, a) in m.artifacts.into_iter().enumerate() {
            let f = format!("artifacts[{i}].digests");
            validation::check_count(&f, a.digests.len(), MAX_ARTIFACT_DIGESTS)?;
            let digests = a
                .digests
                .into_iter()
                .enumerate()
                .map(|(j, d)| Digest::from_pb(&format!("{f}[{j}]"), Some(d)))
                .collect::<Result<Vec<Digest>>>()?;
            artifacts.push(Artifact {
                name: a.name,
                digests,
            });
        }
        let scope = m.scope.map(Scope::from_pb).transpose()?;
        let verdict = match m.verdict {
            None => return Err(missing("verdict")),
            Some(pb::attestation::Verdict::Certify(pb::Certify {})) => Verdict::Certify,
            Some(pb::attestation::Verdict::Violation(v)) => Verdict::Violation { range: v.range },
            Some(pb::attestation::Verdict::Informational(pb::Informational {})) => {
                Verdict::Informational
            }
            Some(pb::attestation::Verdict::Sealed(s)) => Verdict::Sealed {
                commitment: bytes32("sealed.commitment", &s.commitment)?,
            },
        };
        let evidence = m.evidence.map(Evidence::from_pb).transpose()?;
        let reviewer = m.reviewer.ok_or_else(|| missing("reviewer"))?;
        let public_key = bytes32("reviewer.public_key", &reviewer.public_key)?;
        let kind = ReviewerKind::from_pb(reviewer.kind)?;
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
        let reveal = match m.reveal {
            None => None,
            Some(r) => Some(Reveal {
                commitment_leaf_hash: bytes32(
                    "reveal.commitment_leaf_hash",
                    &r.commitment_leaf_hash,
                )?,
                salt: bytes32("reveal.salt", &r.salt)?,
            }),
        };
        Ok(Attestation {
            ecosystem: m.ecosystem,
            package: m.package,
            version: m.version,
            digest,
            delta_from,
            artifacts,
            scope,
            criteria: m.criteria,
            verdict,
            evidence,
            reviewer: Reviewer {
                name: reviewer.name,
                public_key,
                kind,
            },
            organisation: m.organisation,
            time: m.time,
            notes: m.notes,
            links: m.links,
            supersedes,
            reveal,
        })
    }
}

pub(crate) fn missing(field: &str) -> AttestationError {
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

/// The message the reviewer signs: domain prefix then the exact payload bytes. Public for
/// benchmarks that time the bare signature check apart from decoding.
pub fn signed_message(payload: &[u8]) -> Vec<u8> {
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
    validation::check_len("envelope", envelope.len(), MAX_ENVELOPE_BYTES)?;
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
    verify_with(envelope_bytes, validation::reviewer_key)
}

/// Decoded reviewer keys. Decoding a key is a point decompression, about a third of the
/// work of a signature verification, and a client checks thousands of attestations by a
/// few dozen reviewers: [`verify_cached`] decodes each key once. Bounded: past
/// [`KeyCache::CAPACITY`] keys it starts over, so hostile input with endless keys costs
/// only time it would cost anyway.
#[derive(Default)]
pub struct KeyCache {
    keys: std::collections::HashMap<[u8; 32], VerifyingKey>,
}

impl KeyCache {
    pub const CAPACITY: usize = 4096;

    pub fn new() -> KeyCache {
        KeyCache::default()
    }

    fn get(&mut self, bytes: &[u8; 32]) -> Result<VerifyingKey> {
        if let Some(k) = self.keys.get(bytes) {
            return Ok(*k);
        }
        // Only good keys are kept: a bad key is refused afresh each time.
        let k = validation::reviewer_key(bytes)?;
        if self.keys.len() >= Self::CAPACITY {
            self.keys.clear();
        }
        self.keys.insert(*bytes, k);
        Ok(k)
    }
}

/// [`verify`], with reviewer keys decoded through `cache`: the same checks, the same
/// errors.
pub fn verify_cached(envelope_bytes: &[u8], cache: &mut KeyCache) -> Result<VerifiedAttestation> {
    verify_with(envelope_bytes, |k| cache.get(k))
}

/// [`verify_cached`] through a cache kept per thread: for verifiers that run on a pool
/// of threads (a node's request handlers, a client's parallel bundle loader), where
/// each thread meets the same few reviewer keys over and over. The same checks, the
/// same errors as [`verify`].
pub fn verify_on_this_thread(envelope_bytes: &[u8]) -> Result<VerifiedAttestation> {
    thread_local! {
        static KEYS: std::cell::RefCell<KeyCache> = std::cell::RefCell::new(KeyCache::new());
    }
    KEYS.with(|k| verify_cached(envelope_bytes, &mut k.borrow_mut()))
}

fn verify_with(
    envelope_bytes: &[u8],
    reviewer_key: impl FnOnce(&[u8; 32]) -> Result<VerifyingKey>,
) -> Result<VerifiedAttestation> {
    validation::check_len("envelope", envelope_bytes.len(), MAX_ENVELOPE_BYTES)?;
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
    let attestation = Attestation::decode_payload_fields(&env.payload)?;
    let key = reviewer_key(&attestation.reviewer.public_key)?;
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
