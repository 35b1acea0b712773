//! Which attestations a passing verdict rests on: per certifying jurisdiction, every
//! attestation on a chain (a full review, then deltas) that reaches the queried version
//! at its digest for the required criterion. A Verification Summary Attestation names
//! them (`check --vsa`), so a consumer can audit the decision without re-running it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use quorate_proto::attestation::Digest;
use sha2::{Digest as _, Sha256};

use super::chain::{Edge, ForeignState, reach};
use super::keys::Key;
use super::{Evaluator, Inclusion, Query};

/// One attestation that counted, by where it is logged.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Counted {
    pub jurisdiction: String,
    /// The log's origin.
    pub origin: String,
    /// Its index in that log.
    pub index: u64,
    /// RFC 6962 leaf hash of the entry.
    pub leaf_hash: [u8; 32],
    /// SHA-256 of the entry's bytes (the envelope).
    pub envelope_sha256: [u8; 32],
}

impl Evaluator<'_> {
    /// The attestations (entry indices) among a jurisdiction's usable `edges` on a chain to the
    /// queried release for criterion bit `want`. Walks backward from the certified
    /// target states: a step counts when its criteria carry `want` and its base (if any)
    /// is certified for `want`; a base certified only by another jurisdiction ends the
    /// walk there (that jurisdiction's attestations are its own to name).
    pub(super) fn counted(
        &self,
        edges: &[Edge<'_>],
        foreign: &[ForeignState<'_>],
        q: &Query,
        want: usize,
    ) -> BTreeSet<usize> {
        let r = reach(edges, foreign);
        let mut into: HashMap<&str, Vec<&Edge<'_>>> = HashMap::new();
        for e in edges.iter().filter(|e| e.criteria.has(want)) {
            into.entry(e.to.0).or_default().push(e);
        }
        let mut work: Vec<(&str, Digest)> = r
            .at_version(&q.version)
            .filter(|s| s.own.has(want) && self.digest_ok(s.digest, q.digest))
            .map(|s| (s.version, s.digest))
            .collect();
        let mut seen: BTreeSet<(&str, Digest)> = BTreeSet::new();
        let mut entries: BTreeSet<usize> = BTreeSet::new();
        while let Some(state) = work.pop() {
            if !seen.insert(state) {
                continue;
            }
            for e in into.get(state.0).into_iter().flatten() {
                if !(e.to.1 == state.1 || e.to.1 == Digest::Unknown || state.1 == Digest::Unknown) {
                    continue;
                }
                let Some((bv, bd)) = e.from else {
                    entries.insert(e.entry);
                    continue;
                };
                // The base states this delta can start from (an unknown digest on either
                // side matches any, as in the search).
                let bases: Vec<(&str, Digest, bool)> = r
                    .at_version(bv)
                    .filter(|s| {
                        bd == Digest::Unknown || s.digest == bd || s.digest == Digest::Unknown
                    })
                    .filter(|s| s.usable_base(want))
                    .map(|s| (s.version, s.digest, s.own.has(want)))
                    .collect();
                if bases.is_empty() {
                    continue;
                }
                entries.insert(e.entry);
                work.extend(bases.into_iter().filter(|b| b.2).map(|b| (b.0, b.1)));
            }
        }
        entries
    }

    pub(super) fn to_counted(&self, j: &str, i: usize) -> Option<Counted> {
        let e = &self.entries[i];
        let Inclusion::Proven(inc) = &e.inclusion else {
            return None; // a usable entry is always proven; never name one that is not
        };
        Some(Counted {
            jurisdiction: j.to_owned(),
            origin: e.origin.clone(),
            index: inc.index(),
            leaf_hash: *e.att.leaf_hash(),
            envelope_sha256: Sha256::digest(e.att.envelope_bytes()).into(),
        })
    }

    /// [`Self::counted`] for every certifying jurisdiction, keeping one key, one vote: a
    /// reviewer key on the chains of several of them (a reviewer registered twice, an
    /// envelope replayed into another log) is left out of the lists of those that
    /// certify without it, so a replayed copy is not named as a second input.
    pub(super) fn counted_all<'e>(
        &self,
        certified: &[String],
        edges_of: &dyn Fn(&str) -> &'e Vec<Edge<'e>>,
        foreign: &BTreeMap<&str, Vec<ForeignState<'_>>>,
        q: &Query,
        want: usize,
        certifies: impl Fn(&str, &dyn Fn(&Key) -> bool) -> bool,
    ) -> Vec<Counted> {
        let no_foreign = Vec::new();
        let foreign_of = |j: &str| foreign.get(j).unwrap_or(&no_foreign);
        let mut lists: Vec<(&str, BTreeSet<usize>)> = certified
            .iter()
            .map(|j| {
                (
                    j.as_str(),
                    self.counted(edges_of(j), foreign_of(j), q, want),
                )
            })
            .collect();
        let key_of = |i: usize| *self.entries[i].att.reviewer_key();
        let mut owners: BTreeMap<Key, BTreeSet<&str>> = BTreeMap::new();
        for (j, ids) in &lists {
            for &i in ids {
                owners.entry(key_of(i)).or_default().insert(j);
            }
        }
        let shared: BTreeSet<Key> = owners
            .into_iter()
            .filter(|(_, js)| js.len() > 1)
            .map(|(k, _)| k)
            .collect();
        if !shared.is_empty() {
            for (j, ids) in &mut lists {
                if ids.iter().any(|&i| shared.contains(&key_of(i)))
                    && certifies(j, &|k| !shared.contains(k))
                {
                    let own: Vec<Edge<'_>> = edges_of(j)
                        .iter()
                        .filter(|e| !shared.contains(e.key))
                        .cloned()
                        .collect();
                    *ids = self.counted(&own, foreign_of(j), q, want);
                }
            }
        }
        lists
            .into_iter()
            .flat_map(|(j, ids)| ids.into_iter().filter_map(move |i| self.to_counted(j, i)))
            .collect()
    }
}
