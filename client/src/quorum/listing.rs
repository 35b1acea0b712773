//! Every attestation the evaluator holds for one package, each with whether it can count
//! and, if not, why: what `quorate explain` lists above its per-jurisdiction reasons.

use quorate_proto::attestation::{Digest, SupersedeKind, Verdict};

use super::explain::{EntryRef, Rejection};
use super::{Evaluator, Inclusion};

/// Whether one attestation can count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryStatus {
    /// Verified, included, trusted: a review its jurisdiction may count (whether its chain
    /// reaches the release is the verdict's business).
    Usable,
    /// A withdrawal (or replacement) of the entry with this leaf hash; it certifies
    /// nothing itself (a replacement counts on its own merits).
    Supersedes { leaf_hash: String, replace: bool },
    /// Set aside, and why.
    SetAside(Rejection),
}

/// One attestation of a package, as `explain` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEntry {
    pub entry: EntryRef,
    pub jurisdiction: Option<String>,
    /// Index in its log, when proven included.
    pub index: Option<u64>,
    pub criteria: Vec<String>,
    pub digest: Digest,
    pub violation: bool,
    /// First 8 bytes of the reviewer key, hex.
    pub key: String,
    pub leaf_hash: String,
    pub status: EntryStatus,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Evaluator<'_> {
    /// Every attestation of (`ecosystem`, `package`) in every log, in the order added,
    /// with its status at time `now`.
    pub fn entries_of(&self, ecosystem: &str, package: &str, now: u64) -> Vec<ListedEntry> {
        let Some(ids) = self
            .by_package
            .get(&(ecosystem.to_owned(), package.to_owned()))
        else {
            return Vec::new();
        };
        ids.iter()
            .map(|&i| {
                let e = &self.entries[i];
                let a = e.att.attestation();
                let status = match (&a.supersedes, self.rejection(i, now)) {
                    (Some(s), _) => EntryStatus::Supersedes {
                        leaf_hash: hex(&s.leaf_hash),
                        replace: s.kind == SupersedeKind::Replace,
                    },
                    (None, Some(r)) => EntryStatus::SetAside(r),
                    (None, None) => EntryStatus::Usable,
                };
                ListedEntry {
                    entry: e.describe(),
                    jurisdiction: e.jurisdiction.clone(),
                    index: match &e.inclusion {
                        Inclusion::Proven(inc) => Some(inc.index()),
                        Inclusion::NotProven(_) => None,
                    },
                    criteria: a.criteria.clone(),
                    digest: a.digest,
                    violation: matches!(a.verdict, Verdict::Violation { .. }),
                    key: super::explain::key_id(e.att.reviewer_key()),
                    leaf_hash: hex(e.att.leaf_hash()),
                    status,
                }
            })
            .collect()
    }
}
