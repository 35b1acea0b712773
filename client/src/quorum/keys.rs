//! One key, one vote: a reviewer key counts toward at most one jurisdiction per package.
//!
//! Keys the policy pins (`reviewer J KEY`) are settled before this runs: they count only
//! for J. This module settles the others, when the same unpinned key (a reviewer
//! registered with two institutes, or an envelope replayed into a second log) appears in
//! several jurisdictions that could certify the release.
//!
//! The client cannot tell which copy is the "real" one (a log's claims, a reviewer's
//! `organisation` and entry order are all under someone's control), so it picks the
//! assignment of shared keys to jurisdictions that lets the **most** jurisdictions
//! certify. That is what keeps the promise: anything a captured institute adds to its own
//! log only adds options, so it can never lower the number of other jurisdictions that
//! certify; it can at worst withhold its own vote. Ties go to the earlier jurisdiction in
//! sorted order, so the outcome is deterministic.
//!
//! Cost is bounded: jurisdictions that certify with keys nobody else has are settled
//! first (repeatedly, since each one settled frees its shared keys for the others); only
//! the rest is searched exhaustively, up to [`MAX_ASSIGNMENTS`] assignments, beyond which
//! a deterministic greedy pass decides and says so: jurisdictions carrying the fewest
//! shared keys go first, and each takes only a minimal set of the shared keys it needs.

use std::collections::{BTreeMap, BTreeSet};

/// Most assignments of shared keys searched exhaustively before falling back to greedy.
pub const MAX_ASSIGNMENTS: u64 = 256;

pub(super) type Key = [u8; 32];

/// `certifies(jurisdiction, allowed_key)`: whether the jurisdiction certifies using only
/// attestations whose reviewer key `allowed_key` accepts.
type Certifies<'c> = dyn FnMut(&str, &dyn Fn(&Key) -> bool) -> bool + 'c;

/// The outcome for the jurisdictions that could certify with all their keys.
#[derive(Debug, Default)]
pub(super) struct Assignment<'j> {
    pub certified: BTreeSet<&'j str>,
    /// For a jurisdiction that could certify only with a shared key, which keys were
    /// counted for which other jurisdiction.
    pub counted_elsewhere: BTreeMap<&'j str, Vec<(Key, &'j str)>>,
    /// Too many shared keys for an exhaustive search: decided greedily.
    pub greedy: bool,
}

/// `keys_of`: each candidate jurisdiction (one that certifies with all its usable
/// attestations) and the reviewer keys of those attestations. `certifies(j, allowed)`
/// says whether `j` certifies using only attestations whose key `allowed` accepts.
pub(super) fn assign<'j>(
    keys_of: &BTreeMap<&'j str, BTreeSet<Key>>,
    mut certifies: impl FnMut(&str, &dyn Fn(&Key) -> bool) -> bool,
) -> Assignment<'j> {
    let mut out = Assignment::default();
    let mut open: BTreeSet<&'j str> = keys_of.keys().copied().collect();
    let others_have = |open: &BTreeSet<&'j str>, j: &str, k: &Key| {
        open.iter().any(|o| *o != j && keys_of[o].contains(k))
    };
    // The usual case: no key is shared, so every candidate keeps what it certified with.
    if open
        .iter()
        .all(|j| keys_of[j].iter().all(|k| !others_have(&open, j, k)))
    {
        out.certified = open;
        return out;
    }
    // Settle every jurisdiction that certifies with its exclusive keys alone. Settling
    // one only makes others' keys more exclusive, so repeat until nothing changes.
    loop {
        let mut settled = None;
        for &j in &open {
            if certifies(j, &|k| !others_have(&open, j, k)) {
                settled = Some(j);
                break;
            }
        }
        match settled {
            Some(j) => {
                open.remove(j);
                out.certified.insert(j);
            }
            None => break,
        }
    }
    if open.is_empty() {
        return out;
    }
    // Shared keys among the open jurisdictions, each with its possible owners.
    let mut shared: BTreeMap<Key, Vec<&'j str>> = BTreeMap::new();
    for &j in &open {
        for k in &keys_of[j] {
            if others_have(&open, j, k) {
                shared.entry(*k).or_default().push(j);
            }
        }
    }
    let shared: Vec<(Key, Vec<&'j str>)> = shared.into_iter().collect();
    let total = shared
        .iter()
        .try_fold(1u64, |acc, (_, owners)| {
            acc.checked_mul(owners.len() as u64)
        })
        .unwrap_or(u64::MAX);
    let owner_of = |choice: &[usize], k: &Key| -> Option<&'j str> {
        shared
            .iter()
            .zip(choice)
            .find(|((sk, _), _)| sk == k)
            .map(|((_, owners), &c)| owners[c])
    };
    let evaluate = |choice: &[usize], certifies: &mut Certifies<'_>| {
        open.iter()
            .copied()
            .filter(|&j| {
                certifies(j, &|k| match owner_of(choice, k) {
                    Some(o) => o == j,
                    None => true, // exclusive to j among the open ones
                })
            })
            .collect::<BTreeSet<&'j str>>()
    };
    let mut best_choice = vec![0usize; shared.len()];
    let best: BTreeSet<&'j str>;
    if total <= MAX_ASSIGNMENTS {
        // Mixed-radix enumeration; the first maximum wins (earlier owners first).
        let mut choice = vec![0usize; shared.len()];
        let mut found = evaluate(&choice, &mut certifies);
        best_choice.clone_from(&choice);
        'search: loop {
            if found.len() == open.len() {
                break;
            }
            let mut pos = 0;
            loop {
                if pos == choice.len() {
                    break 'search;
                }
                choice[pos] += 1;
                if choice[pos] < shared[pos].1.len() {
                    break;
                }
                choice[pos] = 0;
                pos += 1;
            }
            let got = evaluate(&choice, &mut certifies);
            if got.len() > found.len() {
                found = got;
                best_choice.clone_from(&choice);
            }
        }
        best = found;
    } else {
        // Greedy. A jurisdiction that certifies takes only a minimal set of the shared
        // keys it needs (each one it still certifies without is left free), so keys
        // nobody needs stay with whoever else carries them. Order: fewest shared keys
        // carried first, then fewest needed, then name. A replayer carries the union
        // of what it copied, so the jurisdictions it copied from come before it and
        // keep their own keys; taking all it carries (the old rule) let one replay of
        // two jurisdictions' envelopes take both votes.
        out.greedy = true;
        let carried = |j: &str| shared.iter().filter(|(_, o)| o.contains(&j)).count();
        let shared_set: BTreeSet<Key> = shared.iter().map(|(k, _)| *k).collect();
        // The shared keys `j` certifies with, minimised (none can be dropped), when
        // `free` says which shared keys it may still take; None when it cannot certify.
        // Each needed key is found by a binary search for the shortest certifying
        // prefix of the candidates, so a jurisdiction needing n of K shared keys costs
        // O(n log K) `certifies` calls, not K: a replay of many keys stays cheap.
        let minimal = |j: &'j str,
                       free: &dyn Fn(&Key) -> bool,
                       certifies: &mut Certifies<'_>|
         -> Option<BTreeSet<Key>> {
            let mut cand: Vec<Key> = shared
                .iter()
                .filter(|(k, o)| o.contains(&j) && free(k))
                .map(|(k, _)| *k)
                .collect();
            let mut needed: BTreeSet<Key> = BTreeSet::new();
            // Certifies with `needed` and the first `p` candidates (and its own keys)?
            let mut ok = |needed: &BTreeSet<Key>, with: &[Key]| {
                let with: BTreeSet<&Key> = with.iter().collect();
                certifies(j, &|k| {
                    !shared_set.contains(k) || needed.contains(k) || with.contains(k)
                })
            };
            if !ok(&needed, &cand) {
                return None;
            }
            while !ok(&needed, &[]) {
                // Shortest prefix that certifies: its last key is needed (without it,
                // the rest of that prefix does not certify), and only keys before it
                // can still be.
                let (mut lo, mut hi) = (1, cand.len());
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if ok(&needed, &cand[..mid]) {
                        hi = mid;
                    } else {
                        lo = mid + 1;
                    }
                }
                needed.insert(cand[lo - 1]);
                cand.truncate(lo - 1);
            }
            Some(needed)
        };
        let mut order: Vec<(usize, usize, &'j str)> = open
            .iter()
            .map(|&j| {
                let need = minimal(j, &|_| true, &mut certifies).map_or(usize::MAX, |m| m.len());
                (carried(j), need, j)
            })
            .collect();
        order.sort();
        let mut taken: BTreeMap<Key, &'j str> = BTreeMap::new();
        let mut got = BTreeSet::new();
        for (_, _, j) in order {
            if let Some(keep) = minimal(j, &|k| !taken.contains_key(k), &mut certifies) {
                got.insert(j);
                for k in keep {
                    taken.insert(k, j);
                }
            }
        }
        for (i, (k, owners)) in shared.iter().enumerate() {
            let owner = taken.get(k).copied().unwrap_or(owners[0]);
            best_choice[i] = owners.iter().position(|o| *o == owner).unwrap_or(0);
        }
        best = got;
    }
    for &j in &open {
        if best.contains(j) {
            continue;
        }
        let lost: Vec<(Key, &'j str)> = shared
            .iter()
            .zip(&best_choice)
            .filter(|((_, owners), c)| owners.contains(&j) && owners[**c] != j)
            .map(|((k, owners), &c)| (*k, owners[c]))
            .collect();
        out.counted_elsewhere.insert(j, lost);
    }
    out.certified.extend(best);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each jurisdiction certifies when all keys of one of its key sets are allowed.
    fn run<'j>(
        needs: &[(&'j str, Vec<Vec<u8>>)],
    ) -> (Assignment<'j>, BTreeMap<&'j str, BTreeSet<Key>>) {
        let key = |n: u8| [n; 32];
        let keys_of: BTreeMap<&str, BTreeSet<Key>> = needs
            .iter()
            .map(|(j, sets)| (*j, sets.iter().flatten().map(|n| key(*n)).collect()))
            .collect();
        let a = assign(&keys_of, |j, allowed| {
            needs
                .iter()
                .find(|(x, _)| *x == j)
                .is_some_and(|(_, sets)| sets.iter().any(|s| s.iter().all(|n| allowed(&key(*n)))))
        });
        (a, keys_of)
    }

    #[test]
    fn one_key_in_two_jurisdictions_counts_once_for_the_first() {
        let (a, _) = run(&[("DE", vec![vec![1]]), ("FR", vec![vec![1]])]);
        assert_eq!(a.certified.iter().copied().collect::<Vec<_>>(), ["DE"]);
        assert_eq!(a.counted_elsewhere["FR"], [([1; 32], "DE")]);
    }

    /// A replay into FR, which certifies with its own key anyway, takes nothing from DE.
    #[test]
    fn a_replay_takes_no_vote_from_the_original() {
        let (a, _) = run(&[("DE", vec![vec![1]]), ("FR", vec![vec![1], vec![2]])]);
        assert_eq!(a.certified.len(), 2);
        // FR replays DE's and JP's keys and could certify with both together: the
        // search still finds DE and JP (FR has no own key), never FR alone.
        let (a, _) = run(&[
            ("DE", vec![vec![1]]),
            ("FR", vec![vec![1, 3]]),
            ("JP", vec![vec![3]]),
        ]);
        assert_eq!(
            a.certified.iter().copied().collect::<Vec<_>>(),
            ["DE", "JP"]
        );
        assert!(!a.greedy);
    }

    /// Settling a jurisdiction frees its shared keys for the others.
    #[test]
    fn settled_jurisdictions_release_shared_keys() {
        let (a, _) = run(&[
            ("BR", vec![vec![5], vec![1, 2]]),
            ("DE", vec![vec![1]]),
            ("FR", vec![vec![2]]),
        ]);
        assert_eq!(a.certified.len(), 3);
    }

    #[test]
    fn many_shared_keys_fall_back_to_a_bounded_greedy_pass() {
        let shared: Vec<u8> = (1..=12).collect();
        let (a, _) = run(&[("DE", vec![shared.clone()]), ("FR", vec![shared.clone()])]);
        assert!(a.greedy);
        assert_eq!(a.certified.iter().copied().collect::<Vec<_>>(), ["DE"]);
        assert_eq!(a.counted_elsewhere["FR"].len(), 12);
    }

    /// A captured institute replays DE's 5 and FR's 4 envelopes into its own log: 2^9
    /// assignments force the greedy pass, which must still leave DE and FR their votes
    /// (it used to give AT, first in sorted order, all nine keys and certify only AT).
    #[test]
    fn a_replay_forcing_the_greedy_pass_takes_no_vote_from_the_originals() {
        let de: Vec<u8> = (1..=5).collect();
        let fr: Vec<u8> = (6..=9).collect();
        let (a, _) = run(&[
            ("AT", vec![de.clone(), fr.clone()]),
            ("DE", vec![de]),
            ("FR", vec![fr]),
        ]);
        assert!(a.greedy);
        assert_eq!(
            a.certified.iter().copied().collect::<Vec<_>>(),
            ["DE", "FR"]
        );
        // AT is explained by the keys counted for the others, none left unexplained.
        assert_eq!(a.counted_elsewhere["AT"].len(), 9);
    }

    /// The greedy pass finds each needed key by binary search: 200 shared keys where
    /// each jurisdiction needs one cost a few dozen `certifies` calls, not hundreds.
    #[test]
    fn the_greedy_pass_minimises_with_few_certify_calls() {
        let key = |n: u8| [n; 32];
        let keys_of: BTreeMap<&str, BTreeSet<Key>> = [
            ("AT", (1..=200).map(key).collect()),
            ("BR", (1..=199).map(key).collect()),
            ("DE", [key(200)].into()),
        ]
        .into();
        let mut calls = 0;
        let a = assign(&keys_of, |j, allowed| {
            calls += 1;
            keys_of[j].iter().any(allowed)
        });
        assert!(a.greedy);
        assert_eq!(a.certified.len(), 3);
        // 3 jurisdictions, twice (ordering, then taking), ~log2(200) + 3 calls each.
        assert!(calls <= 80, "{calls} certify calls");
    }
}
