//! The one structural reason a jurisdiction's usable attestations do not certify a
//! release: no review, other versions only, another artifact, a chain gap or a broken
//! chain, insufficient criteria.

use std::collections::{BTreeSet, HashMap};

use quorate_proto::attestation::Digest;

use super::chain::{CriteriaTable, Edge, reach};
use super::{Evaluator, Query, Why};

impl Evaluator<'_> {
    /// Appends the one structural reason a jurisdiction with these usable attestations
    /// does not certify the release.
    pub(super) fn diagnose(
        &self,
        q: &Query,
        criterion: &str,
        edges: &[Edge<'_>],
        table: &CriteriaTable,
        mut out: Vec<Why>,
    ) -> Vec<Why> {
        if edges.is_empty() {
            if out.is_empty() {
                out.push(Why::NoReview);
            }
            return out;
        }
        // One pass for every criterion: ANY separates "wrong criteria" from "no chain".
        let all = reach(edges, &[]);
        let at_version = sorted_digests(all.at_version(&q.version).map(|s| s.digest));
        if at_version.iter().any(|d| self.digest_ok(*d, q.digest)) {
            let mut certified: Vec<String> = table
                .all()
                .filter(|(_, bit)| self.certifies(&all, q, *bit))
                .map(|(n, _)| n.to_owned())
                .collect();
            certified.sort();
            out.push(Why::InsufficientCriteria {
                required: criterion.to_owned(),
                certified,
            });
            return out;
        }
        if !at_version.is_empty() {
            out.push(Why::WrongDigest {
                reviewed: at_version,
                artifact: q.digest,
            });
            return out;
        }
        // Nothing reaches the version. Walk deltas backward from it to find the gap.
        let mut into: HashMap<&str, Vec<&Edge<'_>>> = HashMap::new();
        for e in edges {
            into.entry(e.to.0).or_default().push(e);
        }
        if !into.contains_key(q.version.as_str()) {
            let reviewed: BTreeSet<String> = edges.iter().map(describe_edge).collect();
            out.push(Why::NoReviewOfVersion {
                reviewed: reviewed.into_iter().collect(),
            });
            return out;
        }
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut stack = vec![q.version.as_str()];
        while let Some(v) = stack.pop() {
            if !seen.insert(v) {
                continue;
            }
            for e in into.get(v).into_iter().flatten() {
                let Some((from, base_digest)) = e.from else {
                    continue;
                };
                let reached = sorted_digests(all.at_version(from).map(|s| s.digest));
                if !reached.is_empty() {
                    // The base is certified, but not at this delta's base digest.
                    out.push(Why::ChainDigestMismatch {
                        delta: format!("{from} -> {v}"),
                        base_digest,
                        reviewed: reached,
                    });
                } else if !into.contains_key(from) {
                    out.push(Why::ChainGap {
                        never_fully_reviewed: from.to_owned(),
                        delta: format!("{from} -> {v}"),
                    });
                } else {
                    stack.push(from);
                }
            }
        }
        out
    }
}

fn sorted_digests(it: impl Iterator<Item = Digest>) -> Vec<Digest> {
    let mut v: Vec<Digest> = it.collect();
    v.sort_by_key(ToString::to_string);
    v.dedup();
    v
}

fn describe_edge(e: &Edge<'_>) -> String {
    match e.from {
        Some((f, _)) => format!("{f} -> {}", e.to.0),
        None => e.to.0.to_owned(),
    }
}
