//! The witness part of the policy (C2SP tlog-policy `witness`, `group`, `quorum`) and the
//! `review-witness` assignment: which cosignatures satisfy a checkpoint's witness quorum.

use std::collections::BTreeMap;

use quorate_proto::checkpoint::VerifiedCosignature;
use quorate_proto::cosignature::CosignatureVerifier;
use quorate_proto::note::{self, NoteVerifier};

use super::{Policy, PolicyError, err};

/// A witness as the policy names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    pub name: String,
    pub vkey: String,
    pub url: Option<String>,
    pub(super) verifier: CosignatureVerifier,
}

impl Witness {
    pub fn verifier(&self) -> &CosignatureVerifier {
        &self.verifier
    }
}

/// A member of a witness group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Member {
    Witness(usize),
    Group(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Group {
    pub(super) name: String,
    /// As written: `all`, `any` or the decimal k.
    pub(super) threshold_text: String,
    pub(super) k: usize,
    pub(super) members: Vec<Member>,
}

impl Policy {
    pub(super) fn member_name(&self, m: Member) -> &str {
        match m {
            Member::Witness(i) => &self.witnesses[i].name,
            Member::Group(i) => &self.groups[i].name,
        }
    }

    /// Whether witnesses with these policy names cosigning satisfies the quorum, by
    /// tlog-policy group semantics. Unknown names count for nothing. `quorum none` is
    /// always satisfied.
    pub fn witnesses_satisfied(&self, cosigners: &[&str]) -> bool {
        let Some(q) = self.quorum else {
            return true;
        };
        let signed: Vec<bool> = self
            .witnesses
            .iter()
            .map(|w| cosigners.contains(&w.name.as_str()))
            .collect();
        // Groups only reference earlier definitions, so one pass in order evaluates all.
        let mut group_ok = Vec::with_capacity(self.groups.len());
        for g in &self.groups {
            let count = g
                .members
                .iter()
                .filter(|m| match **m {
                    Member::Witness(i) => signed[i],
                    Member::Group(i) => group_ok[i],
                })
                .count();
            group_ok.push(count >= g.k);
        }
        match q {
            Member::Witness(i) => signed[i],
            Member::Group(i) => group_ok[i],
        }
    }

    /// The policy name of the witness that made a verified cosignature, matched by key
    /// name and key ID (which commits to the public key).
    pub fn witness_name_for(&self, c: &VerifiedCosignature) -> Option<&str> {
        self.witnesses
            .iter()
            .find(|w| w.verifier.name() == c.name() && w.verifier.key_id() == c.key_id())
            .map(|w| w.name.as_str())
    }

    /// Whether the policy requires any cosignature.
    pub fn requires_witnesses(&self) -> bool {
        self.quorum.is_some()
    }

    pub fn witnesses(&self) -> &[Witness] {
        &self.witnesses
    }

    /// Verifiers of every witness, to pass to checkpoint verification.
    pub fn witness_verifiers(&self) -> Vec<CosignatureVerifier> {
        self.witnesses.iter().map(|w| w.verifier.clone()).collect()
    }

    /// The jurisdiction the client assigns to the log with this origin (`None` for
    /// unknown logs and for plain `log` lines).
    /// The jurisdiction operating witness `name` (`review-witness`), if the policy says.
    pub fn witness_jurisdiction(&self, name: &str) -> Option<&str> {
        self.witness_jurisdictions.get(name).map(String::as_str)
    }

    /// Whether a cosignature by witness `name` may count for a checkpoint of `origin`:
    /// not when the policy assigns the witness to the log's own jurisdiction.
    pub fn witness_counts_for(&self, name: &str, origin: &str) -> bool {
        match (
            self.witness_jurisdiction(name),
            self.jurisdiction_of(origin),
        ) {
            (Some(w), Some(l)) => w != l,
            _ => true,
        }
    }
}

pub(super) fn check_new_name(
    line: usize,
    name: &str,
    names: &BTreeMap<String, Member>,
) -> Result<(), PolicyError> {
    if name == "none" {
        return Err(err(line, "`none` is reserved and cannot be defined"));
    }
    if names.contains_key(name) {
        return Err(err(
            line,
            format!("name {name:?} is already defined (witnesses and groups share one namespace)"),
        ));
    }
    Ok(())
}

pub(super) fn witness_verifier(
    line: usize,
    vkey: &str,
) -> Result<CosignatureVerifier, PolicyError> {
    let k = note::parse_vkey(vkey).map_err(|e| err(line, format!("bad witness vkey: {e}")))?;
    CosignatureVerifier::from_parsed(&k).map_err(|e| {
        err(
            line,
            format!("bad witness vkey (witness keys are cosignature/v1, type 0x04): {e}"),
        )
    })
}
