//! The web pages' in-memory index: entries per reviewer key, which entries a later entry
//! by the same key withdrew or replaced, and entries per day.
//!
//! The store indexes entries by release only (its `releases` table, which the reviews
//! search reads directly). Rather than add tables to the store (and a migration for every
//! existing log) for what only these pages need, a background task reads the log once
//! from the start, then follows it, [`CHUNK`] entries per blocking read. Entries were
//! verified at admission, so they are only decoded here (no signature check), about a
//! microsecond each. Memory is about a byte or two per entry (its index in its reviewer's
//! list, delta-coded: see `index_list`) plus one map row per supersession and per day;
//! pages say how far the index has got while it catches up.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use prost::Message as _;
use quorate_proto::attestation::{Attestation, SupersedeKind, pb};
use quorate_proto::merkle::leaf_hash;

use super::index_list::IndexList;
use crate::store::Store;

/// Entries decoded per blocking read while catching up.
pub const CHUNK: u64 = 4096;
/// How often the follower looks for new entries once caught up.
pub const POLL: Duration = Duration::from_millis(250);

/// Seconds in a day.
pub const DAY: u64 = 86_400;

/// What the index holds about one reviewer key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewerEntries {
    /// The reviewer name and organisation of the key's latest entry.
    pub name: String,
    pub organisation: String,
    /// Every index the key logged, ascending (delta-coded: see `index_list`).
    pub indexes: IndexList,
    /// Latest claimed review time (POSIX seconds).
    pub last_time: u64,
}

/// A later entry that withdrew or replaced an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supersession {
    /// Index of the later entry.
    pub by: u64,
    pub kind: SupersedeKind,
}

#[derive(Debug, Default)]
struct State {
    /// Entries `0..upto` are indexed.
    upto: u64,
    reviewers: HashMap<[u8; 32], ReviewerEntries>,
    /// (superseded leaf hash, reviewer key) -> the first entry by that key superseding
    /// it. Keyed by the key too, so an entry by one reviewer never marks another's.
    superseded: HashMap<([u8; 32], [u8; 32]), Supersession>,
    /// Day number (claimed review time / [`DAY`]) -> entries.
    days: BTreeMap<u64, u64>,
    /// Entries that did not decode as attestations (none in a log this node wrote).
    undecodable: u64,
}

/// The index, shared by the pages and the follower task.
#[derive(Debug, Default)]
pub struct WebIndex {
    state: RwLock<State>,
}

/// One decoded entry, as the index keeps it.
struct Decoded {
    key: [u8; 32],
    name: String,
    organisation: String,
    time: u64,
    supersedes: Option<([u8; 32], SupersedeKind)>,
}

/// Decodes a log entry (an envelope) without checking its signature: the node verified
/// it at admission.
pub fn decode_entry(entry: &[u8]) -> Option<Attestation> {
    let env = pb::Envelope::decode(entry).ok()?;
    Attestation::decode_payload(&env.payload).ok()
}

impl WebIndex {
    /// How many entries (from index 0) are indexed.
    pub fn indexed(&self) -> u64 {
        self.read(|s| s.upto)
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        match self.state.read() {
            Ok(g) => f(&g),
            Err(p) => f(&p.into_inner()),
        }
    }

    /// Reviewer keys that logged entries, with their entry counts, name, organisation and
    /// latest review time.
    pub fn reviewer_summary(&self, key: &[u8; 32]) -> Option<(usize, String, String, u64)> {
        self.read(|s| {
            s.reviewers.get(key).map(|r| {
                (
                    r.indexes.len(),
                    r.name.clone(),
                    r.organisation.clone(),
                    r.last_time,
                )
            })
        })
    }

    /// Every key that logged an entry, with its entry count, name and organisation.
    pub fn reviewer_keys(&self) -> Vec<([u8; 32], usize, String, String)> {
        self.read(|s| {
            let mut v: Vec<_> = s
                .reviewers
                .iter()
                .map(|(k, r)| (*k, r.indexes.len(), r.name.clone(), r.organisation.clone()))
                .collect();
            v.sort_by_key(|a| a.0);
            v
        })
    }

    /// Up to `limit` indexes logged by `key`, newest first, strictly below `before` when
    /// given, and the index to continue below when more follow.
    pub fn reviewer_page(
        &self,
        key: &[u8; 32],
        before: Option<u64>,
        limit: usize,
    ) -> (Vec<u64>, Option<u64>) {
        self.read(|s| {
            let Some(r) = s.reviewers.get(key) else {
                return (Vec::new(), None);
            };
            r.indexes.page_below(before, limit)
        })
    }

    /// The entry by `reviewer` that withdrew or replaced the entry with leaf hash `leaf`.
    pub fn superseded(&self, leaf: &[u8; 32], reviewer: &[u8; 32]) -> Option<Supersession> {
        self.read(|s| s.superseded.get(&(*leaf, *reviewer)).copied())
    }

    /// Entries per day (by claimed review time) for days `first..=last`.
    pub fn days(&self, first: u64, last: u64) -> Vec<(u64, u64)> {
        self.read(|s| s.days.range(first..=last).map(|(d, n)| (*d, *n)).collect())
    }

    /// Entries that did not decode.
    pub fn undecodable(&self) -> u64 {
        self.read(|s| s.undecodable)
    }

    /// Adds entries `start..` (given in order) to the index. Entries already indexed are
    /// skipped, so a chunk read twice changes nothing.
    fn add(&self, start: u64, entries: Vec<Option<Decoded>>) {
        let mut s = match self.state.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for (i, d) in (start..).zip(entries) {
            if i != s.upto {
                continue;
            }
            s.upto += 1;
            let Some(d) = d else {
                s.undecodable += 1;
                continue;
            };
            *s.days.entry(d.time / DAY).or_insert(0) += 1;
            if let Some((leaf, kind)) = d.supersedes {
                s.superseded
                    .entry((leaf, d.key))
                    .or_insert(Supersession { by: i, kind });
            }
            let r = s.reviewers.entry(d.key).or_default();
            r.indexes.push(i);
            r.name = d.name;
            r.organisation = d.organisation;
            r.last_time = r.last_time.max(d.time);
        }
    }

    /// Reads and indexes at most [`CHUNK`] entries; returns how many were added.
    fn catch_up(&self, store: &Store) -> Result<u64, crate::store::StoreError> {
        let snap = store.snapshot()?;
        let start = self.indexed();
        let end = snap.size().min(start.saturating_add(CHUNK));
        if start >= end {
            return Ok(0);
        }
        let decoded = snap
            .entries(start, end)?
            .iter()
            .map(|e| {
                decode_entry(e).map(|a| Decoded {
                    key: a.reviewer.public_key,
                    name: a.reviewer.name,
                    organisation: a.organisation,
                    time: a.time,
                    supersedes: a.supersedes.map(|s| (s.leaf_hash, s.kind)),
                })
            })
            .collect();
        self.add(start, decoded);
        Ok(end - start)
    }

    /// Starts the follower: it indexes the log from the start, then follows it until the
    /// store is closed (it holds only a weak reference, so it never keeps the store open).
    pub fn follow(self: &Arc<Self>, store: &Arc<Store>) -> tokio::task::JoinHandle<()> {
        let index = Arc::downgrade(self);
        let store: Weak<Store> = Arc::downgrade(store);
        tokio::spawn(async move {
            loop {
                let (Some(ix), Some(st)) = (index.upgrade(), store.upgrade()) else {
                    return;
                };
                let added = tokio::task::spawn_blocking(move || ix.catch_up(&st)).await;
                match added {
                    Ok(Ok(n)) if n > 0 => continue,
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!("web index: reading the log failed: {e}"),
                    Err(e) => tracing::warn!("web index: {e}"),
                }
                tokio::time::sleep(POLL).await;
            }
        })
    }
}

/// The leaf hash of a log entry (re-exported for the pages).
pub fn entry_leaf(entry: &[u8]) -> [u8; 32] {
    leaf_hash(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(key: u8, time: u64, supersedes: Option<([u8; 32], SupersedeKind)>) -> Option<Decoded> {
        Some(Decoded {
            key: [key; 32],
            name: format!("r{key}"),
            organisation: "org".into(),
            time,
            supersedes,
        })
    }

    #[test]
    fn pages_run_newest_first_and_supersession_is_per_reviewer() {
        let ix = WebIndex::default();
        let leaf = [9u8; 32];
        ix.add(
            0,
            vec![
                d(1, DAY, None),
                d(2, DAY, None),
                None,
                d(1, 3 * DAY, Some((leaf, SupersedeKind::Withdraw))),
            ],
        );
        // A chunk read again is not counted twice.
        ix.add(2, vec![None, d(1, 3 * DAY, None)]);
        assert_eq!(ix.indexed(), 4);
        assert_eq!(ix.undecodable(), 1);
        assert_eq!(ix.reviewer_page(&[1; 32], None, 1), (vec![3], Some(3)));
        assert_eq!(ix.reviewer_page(&[1; 32], Some(3), 1), (vec![0], None));
        assert_eq!(ix.reviewer_page(&[1; 32], None, 10), (vec![3, 0], None));
        assert_eq!(
            ix.superseded(&leaf, &[1; 32]),
            Some(Supersession {
                by: 3,
                kind: SupersedeKind::Withdraw
            })
        );
        assert_eq!(ix.superseded(&leaf, &[2; 32]), None);
        assert_eq!(ix.days(0, 10), vec![(1, 2), (3, 1)]);
        assert_eq!(ix.reviewer_summary(&[2; 32]).map(|s| s.0), Some(1));
    }
}
