//! Sealed attestations: commit now, reveal later.
//!
//! A reviewer who finds a vulnerability under embargo logs a *commitment*: an attestation
//! whose verdict is `sealed`, naming the release (ecosystem, package, version) and the
//! reviewer, and carrying only
//!
//! ```text
//! commitment = SHA-256("quorate/sealed/v1\n" || salt || inner payload)
//! ```
//!
//! where `salt` is 32 random bytes and `inner payload` is the canonical payload of the
//! attestation to be revealed, *without* its `reveal` field. Later the reviewer logs the
//! *reveal*: that same attestation with `reveal { commitment_leaf_hash, salt }` added. The
//! reveal is an ordinary attestation (it counts on its own like any other); what the link
//! adds is the commitment's log time, which [`verify_reveal`] lets a client use as the
//! time the content was known.
//!
//! The salt hides the content (without it the few plausible payloads could be hashed and
//! compared), and the domain prefix keeps a commitment from being any other Quorate hash.

use sha2::{Digest as _, Sha256};
use thiserror::Error;

use super::{Attestation, Reveal, Verdict, VerifiedAttestation};

/// Domain prefix of the commitment hash.
pub const SEAL_DOMAIN: &[u8] = b"quorate/sealed/v1\n";
/// Salt length.
pub const SALT_BYTES: usize = 32;

/// Why a reveal does not open a commitment.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SealError {
    #[error("the first entry is not a sealed commitment")]
    NotACommitment,
    #[error("the entry is not a reveal (it has no reveal field)")]
    NotAReveal,
    #[error("the reveal names commitment {named}, not this one ({given})")]
    UnknownCommitment { named: String, given: String },
    #[error("the reveal is signed by a different reviewer key than the commitment")]
    ReviewerMismatch,
    #[error("the reveal's {field} differs from the commitment's")]
    IdentityMismatch { field: &'static str },
    #[error(
        "the revealed content and salt do not hash to the commitment (wrong salt or different content)"
    )]
    HashMismatch,
}

/// The commitment hash of `inner` under `salt`. `inner.reveal` is ignored: the hash is
/// over the payload as it will be revealed, minus the link back to the commitment.
pub fn commitment_hash(inner: &Attestation, salt: &[u8; SALT_BYTES]) -> [u8; 32] {
    let mut bare = inner.clone();
    bare.reveal = None;
    let mut h = Sha256::new();
    h.update(SEAL_DOMAIN);
    h.update(salt);
    h.update(bare.encode_payload());
    h.finalize().into()
}

impl Attestation {
    /// The commitment entry for `inner`: its release and reviewer, `time` (when the
    /// commitment is made), the hash, and nothing else.
    pub fn sealed_commitment(
        inner: &Attestation,
        salt: &[u8; SALT_BYTES],
        time: u64,
    ) -> Attestation {
        Attestation {
            ecosystem: inner.ecosystem.clone(),
            package: inner.package.clone(),
            version: inner.version.clone(),
            digest: super::Digest::Unknown,
            delta_from: None,
            artifacts: Vec::new(),
            scope: None,
            criteria: Vec::new(),
            verdict: Verdict::Sealed {
                commitment: commitment_hash(inner, salt),
            },
            evidence: None,
            reviewer: inner.reviewer.clone(),
            organisation: inner.organisation.clone(),
            time,
            notes: String::new(),
            links: Vec::new(),
            supersedes: None,
            reveal: None,
        }
    }

    /// `inner` with the link to its commitment added: the reveal entry's attestation.
    pub fn revealing(
        inner: &Attestation,
        commitment_leaf_hash: [u8; 32],
        salt: [u8; SALT_BYTES],
    ) -> Attestation {
        let mut a = inner.clone();
        a.reveal = Some(Reveal {
            commitment_leaf_hash,
            salt,
        });
        a
    }
}

/// Checks that `reveal` opens `commitment`: the reveal names the commitment's leaf hash,
/// both are signed by the same key, name the same release, and the salted hash of the
/// revealed content is the committed one.
pub fn verify_reveal(
    commitment: &VerifiedAttestation,
    reveal: &VerifiedAttestation,
) -> Result<(), SealError> {
    let c = commitment.attestation();
    let Verdict::Sealed { commitment: want } = c.verdict else {
        return Err(SealError::NotACommitment);
    };
    let r = reveal.attestation();
    let link = r.reveal.as_ref().ok_or(SealError::NotAReveal)?;
    if &link.commitment_leaf_hash != commitment.leaf_hash() {
        return Err(SealError::UnknownCommitment {
            named: super::digest::to_hex(&link.commitment_leaf_hash),
            given: super::digest::to_hex(commitment.leaf_hash()),
        });
    }
    if reveal.reviewer_key() != commitment.reviewer_key() {
        return Err(SealError::ReviewerMismatch);
    }
    for (field, a, b) in [
        ("ecosystem", &c.ecosystem, &r.ecosystem),
        ("package", &c.package, &r.package),
        ("version", &c.version, &r.version),
    ] {
        if a != b {
            return Err(SealError::IdentityMismatch { field });
        }
    }
    if commitment_hash(r, &link.salt) != want {
        return Err(SealError::HashMismatch);
    }
    Ok(())
}
