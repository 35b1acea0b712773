//! Inclusion of an entry in a policy log: built only from proofs and checkpoints
//! verified under the policy's own log and witness keys.

use std::fmt;

use quorate_proto::attestation::VerifiedAttestation;
use quorate_proto::checkpoint::{VerifiedCheckpoint, verify_log_checkpoint};
use quorate_proto::merkle::{self, Hash};
use quorate_proto::tlog_proof::{TlogProof, VerifiedInclusion};

use crate::policy::Policy;

/// Cosignatures dated more than this far after `now` do not count (clock skew allowance).
pub const MAX_FUTURE_SKEW: u64 = 600;

/// Why an entry's inclusion is not proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotProven {
    /// The caller had no proof (e.g. fetching it failed); the text says why.
    Unavailable(String),
    /// The checkpoint names a log the policy does not list.
    UnknownLog { origin: String },
    /// The checkpoint did not verify under the policy's key for its log.
    BadCheckpoint(String),
    /// The inclusion proof did not verify, or proves a different leaf.
    BadInclusion(String),
}

impl fmt::Display for NotProven {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotProven::Unavailable(s) => write!(f, "no inclusion proof ({s})"),
            NotProven::UnknownLog { origin } => write!(f, "checkpoint from unknown log {origin:?}"),
            NotProven::BadCheckpoint(s) => write!(f, "checkpoint does not verify: {s}"),
            NotProven::BadInclusion(s) => write!(f, "inclusion proof does not verify: {s}"),
        }
    }
}

/// An entry proven included in a checkpoint signed by the policy's key for `origin`.
/// Witness quorum and freshness are judged at evaluation time, against `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Included {
    pub(super) origin: String,
    index: u64,
    tree_size: u64,
    /// (policy witness name, cosignature timestamp) of every valid policy cosignature.
    pub(super) cosignatures: Vec<(String, u64)>,
}

impl Included {
    pub fn origin(&self) -> &str {
        &self.origin
    }
    pub fn index(&self) -> u64 {
        self.index
    }
    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }
    pub fn cosignatures(&self) -> &[(String, u64)] {
        &self.cosignatures
    }
}

/// Inclusion status of one attestation. `Proven` can only be made by this module's
/// constructors, each of which verifies against the policy's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inclusion {
    Proven(Included),
    NotProven(NotProven),
}

/// A checkpoint verified under the policy's key for its log, with the policy's witnesses.
/// Verify once per log, then prove many entries against it with [`Self::inclusion`].
#[derive(Debug, Clone)]
pub struct TrustedCheckpoint {
    origin: String,
    size: u64,
    root: Hash,
    cosignatures: Vec<(String, u64)>,
}

fn origin_of_note(note: &[u8]) -> Option<&str> {
    let end = note.iter().position(|&b| b == b'\n')?;
    std::str::from_utf8(&note[..end]).ok()
}

impl TrustedCheckpoint {
    /// Verifies a signed checkpoint note against the policy: the log must be listed, its
    /// key must have signed, and cosignatures are kept only from policy witnesses.
    pub fn verify(policy: &Policy, note: &[u8]) -> Result<TrustedCheckpoint, NotProven> {
        let origin = origin_of_note(note)
            .ok_or_else(|| NotProven::BadCheckpoint("no origin line".into()))?;
        let log = policy.log(origin).ok_or_else(|| NotProven::UnknownLog {
            origin: origin.to_owned(),
        })?;
        let vc = verify_log_checkpoint(note, log.log_keys(), &policy.witness_verifiers(), None)
            .map_err(|e| NotProven::BadCheckpoint(e.to_string()))?;
        Ok(Self::from_checkpoint(policy, &vc))
    }

    fn from_checkpoint(policy: &Policy, vc: &VerifiedCheckpoint) -> TrustedCheckpoint {
        let cp = vc.checkpoint();
        TrustedCheckpoint {
            origin: cp.origin().to_owned(),
            size: cp.size(),
            root: *cp.root_hash(),
            cosignatures: vc
                .cosignatures()
                .iter()
                .filter_map(|c| Some((policy.witness_name_for(c)?, c.timestamp())))
                // A log's own jurisdiction cannot witness it (see `review-witness`).
                .filter(|(name, _)| policy.witness_counts_for(name, cp.origin()))
                .map(|(name, t)| (name.to_owned(), t))
                .collect(),
        }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Proves `att` is entry `index` of this checkpoint's tree with an RFC 6962 inclusion
    /// proof (leaf sibling first).
    pub fn inclusion(&self, att: &VerifiedAttestation, index: u64, proof: &[Hash]) -> Inclusion {
        match merkle::check_record(proof, self.size, &self.root, index, att.leaf_hash()) {
            Ok(()) => Inclusion::Proven(Included {
                origin: self.origin.clone(),
                index,
                tree_size: self.size,
                cosignatures: self.cosignatures.clone(),
            }),
            Err(e) => Inclusion::NotProven(NotProven::BadInclusion(e.to_string())),
        }
    }
}

impl Inclusion {
    /// The caller has no proof for this entry.
    pub fn unavailable(reason: impl Into<String>) -> Inclusion {
        Inclusion::NotProven(NotProven::Unavailable(reason.into()))
    }

    /// Verifies a C2SP tlog-proof for `att` under the policy's log and witness keys.
    pub fn from_proof(policy: &Policy, att: &VerifiedAttestation, proof: &TlogProof) -> Inclusion {
        let Some(origin) = origin_of_note(&proof.checkpoint) else {
            return Inclusion::NotProven(NotProven::BadCheckpoint("no origin line".into()));
        };
        let Some(log) = policy.log(origin) else {
            return Inclusion::NotProven(NotProven::UnknownLog {
                origin: origin.to_owned(),
            });
        };
        match proof.verify_log(
            att.leaf_hash(),
            log.log_keys(),
            &policy.witness_verifiers(),
            0,
        ) {
            Ok(vi) => Self::proven(policy, &vi),
            Err(e) => Inclusion::NotProven(NotProven::BadInclusion(e.to_string())),
        }
    }

    /// Accepts a proto [`VerifiedInclusion`] for `att`, re-verifying its checkpoint under
    /// the policy's keys (the caller may have verified it under any key).
    pub fn from_verified(
        policy: &Policy,
        att: &VerifiedAttestation,
        vi: &VerifiedInclusion,
    ) -> Inclusion {
        if vi.leaf_hash() != att.leaf_hash() {
            return Inclusion::NotProven(NotProven::BadInclusion(
                "the proof is for a different leaf".into(),
            ));
        }
        match TrustedCheckpoint::verify(policy, vi.checkpoint().note_bytes()) {
            Ok(_) => Self::proven(policy, vi),
            Err(e) => Inclusion::NotProven(e),
        }
    }

    fn proven(policy: &Policy, vi: &VerifiedInclusion) -> Inclusion {
        let tc = TrustedCheckpoint::from_checkpoint(policy, vi.checkpoint());
        Inclusion::Proven(Included {
            origin: tc.origin,
            index: vi.index(),
            tree_size: tc.size,
            cosignatures: tc.cosignatures,
        })
    }
}
