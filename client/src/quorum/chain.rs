//! Chain search (cargo-vet's algorithm): which (version, digest) states a jurisdiction's
//! attestations certify, for every criterion at once.
//!
//! One pass over a worklist: deltas are indexed by their base (version and digest), each
//! state carries the set of criteria it is certified for as a bit set, and a state is
//! revisited only when that set grows. So the cost is about (states + deltas) x the number
//! of distinct criteria, whatever order the deltas arrive in: a log holding thousands of
//! deltas in reverse order decides as fast as one holding them in order (the fixpoint
//! loop this replaced rescanned every delta and every state per step: cubic).

use std::collections::HashMap;

use quorate_proto::attestation::Digest;

/// The bit every edge carries: "certified for any criterion".
pub(super) const ANY: usize = 0;

/// A set of criteria, as bit positions handed out by [`CriteriaTable`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Bits(Vec<u64>);

impl Bits {
    pub(super) fn set(&mut self, i: usize) {
        let w = i / 64;
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << (i % 64);
    }

    pub(super) fn has(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    /// `self |= other`; whether anything was added.
    pub(super) fn absorb(&mut self, other: &Bits) -> bool {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        let mut changed = false;
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            let n = *a | *b;
            changed |= n != *a;
            *a = n;
        }
        changed
    }

    /// `self = a & b`, reusing `self`'s storage (the search's inner loop).
    fn copy_and(&mut self, a: &Bits, b: &Bits) {
        self.0.clear();
        self.0.extend(a.0.iter().zip(&b.0).map(|(x, y)| x & y));
    }

    /// `self = a | b`, reusing `self`'s storage.
    fn copy_or(&mut self, a: &Bits, b: &Bits) {
        self.0.clear();
        self.0.extend_from_slice(&a.0);
        self.absorb(b);
    }
}

/// Criterion names to bit positions for one evaluation (bit [`ANY`] is reserved).
#[derive(Debug, Default)]
pub(super) struct CriteriaTable {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl CriteriaTable {
    pub(super) fn bit(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.names.push(name.to_owned());
        let i = self.names.len(); // bit 0 is ANY
        self.index.insert(name.to_owned(), i);
        i
    }

    /// Every (name, bit), in the order first seen.
    pub(super) fn all(&self) -> impl Iterator<Item = (&str, usize)> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i + 1))
    }
}

/// A state another jurisdiction certifies, and for which criteria.
pub(super) type ForeignState<'a> = ((&'a str, Digest), Bits);

/// One step of a chain: `from` is `None` for a full review.
#[derive(Debug, Clone)]
pub(super) struct Edge<'a> {
    pub from: Option<(&'a str, Digest)>,
    pub to: (&'a str, Digest),
    /// Every criterion the attestation's criteria imply, plus [`ANY`].
    pub criteria: Bits,
    pub key: &'a [u8; 32],
    /// The evaluator's index of the attestation that makes this step.
    pub entry: usize,
}

#[derive(Debug, Clone)]
pub(super) struct State<'a> {
    pub version: &'a str,
    pub digest: Digest,
    /// Criteria this state is certified for by the jurisdiction's own attestations.
    pub own: Bits,
    /// Criteria another jurisdiction certifies it for (only as a delta base).
    foreign: Bits,
}

impl State<'_> {
    /// Whether the state is certified for `bit` by the jurisdiction's own attestations
    /// or (as a delta base only) by another's.
    pub(super) fn usable_base(&self, bit: usize) -> bool {
        self.own.has(bit) || self.foreign.has(bit)
    }
}

/// Reachable (version, digest) states.
#[derive(Debug, Default)]
pub(super) struct Reach<'a> {
    states: Vec<State<'a>>,
    index: HashMap<(&'a str, Digest), usize>,
    by_version: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Reach<'a> {
    fn state(&mut self, s: (&'a str, Digest)) -> usize {
        if let Some(&i) = self.index.get(&s) {
            return i;
        }
        let i = self.states.len();
        self.states.push(State {
            version: s.0,
            digest: s.1,
            own: Bits::default(),
            foreign: Bits::default(),
        });
        self.index.insert(s, i);
        self.by_version.entry(s.0).or_default().push(i);
        i
    }

    /// The states at `version`.
    pub(super) fn at_version(&self, version: &str) -> impl Iterator<Item = &State<'a>> {
        self.by_version
            .get(version)
            .into_iter()
            .flatten()
            .map(|&i| &self.states[i])
    }

    /// Every state the jurisdiction's own attestations certify, with its criteria.
    pub(super) fn own_bits(&self) -> impl Iterator<Item = ((&'a str, Digest), Bits)> + '_ {
        self.states
            .iter()
            .filter(|s| !s.own.is_empty())
            .map(|s| ((s.version, s.digest), s.own.clone()))
    }

    /// Every state certified by the jurisdiction's own attestations for `bit`.
    pub(super) fn own_states(&self, bit: usize) -> impl Iterator<Item = (&'a str, Digest)> + '_ {
        self.states
            .iter()
            .filter(move |s| s.own.has(bit))
            .map(|s| (s.version, s.digest))
    }
}

/// Which states `edges` certify, starting also from `foreign` states (another
/// jurisdiction's certified versions, usable only as delta bases).
pub(super) fn reach<'a, 'e>(
    edges: impl IntoIterator<Item = &'e Edge<'a>>,
    foreign: &[((&'a str, Digest), Bits)],
) -> Reach<'a>
where
    'a: 'e,
{
    let mut r = Reach::default();
    let mut work: Vec<usize> = Vec::new();
    for (s, bits) in foreign {
        let i = r.state(*s);
        if r.states[i].foreign.absorb(bits) {
            work.push(i);
        }
    }
    // Deltas indexed by base. A delta extends a state when the digests are equal or
    // either is unknown (unknown digests only get here when the policy accepts them):
    // exact (version, digest), plus by version for deltas whose base digest is unknown,
    // plus every delta of the version for a state whose digest is unknown.
    let mut deltas: Vec<&Edge<'a>> = Vec::new();
    let mut by_base: HashMap<(&'a str, Digest), Vec<usize>> = HashMap::new();
    let mut by_base_version: HashMap<&'a str, Vec<usize>> = HashMap::new();
    let mut unknown_base: HashMap<&'a str, Vec<usize>> = HashMap::new();
    for e in edges {
        match e.from {
            None => {
                let i = r.state(e.to);
                if r.states[i].own.absorb(&e.criteria) {
                    work.push(i);
                }
            }
            Some((v, d)) => {
                let k = deltas.len();
                deltas.push(e);
                by_base_version.entry(v).or_default().push(k);
                if d == Digest::Unknown {
                    unknown_base.entry(v).or_default().push(k);
                } else {
                    by_base.entry((v, d)).or_default().push(k);
                }
            }
        }
    }
    let none: &[usize] = &[];
    let mut avail = Bits::default();
    let mut carried = Bits::default();
    while let Some(i) = work.pop() {
        let (v, d) = (r.states[i].version, r.states[i].digest);
        avail.copy_or(&r.states[i].own, &r.states[i].foreign);
        let (first, second): (&[usize], &[usize]) = if d == Digest::Unknown {
            (by_base_version.get(v).map_or(none, Vec::as_slice), none)
        } else {
            (
                by_base.get(&(v, d)).map_or(none, Vec::as_slice),
                unknown_base.get(v).map_or(none, Vec::as_slice),
            )
        };
        for &k in first.iter().chain(second) {
            let e = deltas[k];
            carried.copy_and(&avail, &e.criteria);
            if carried.is_empty() {
                continue;
            }
            let t = r.state(e.to);
            if r.states[t].own.absorb(&carried) {
                work.push(t);
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        Digest::Sha256([n; 32])
    }

    const KEY: [u8; 32] = [7; 32];

    fn bits(b: &[usize]) -> Bits {
        let mut x = Bits::default();
        x.set(ANY);
        for i in b {
            x.set(*i);
        }
        x
    }

    fn full<'a>(v: &'a str, dg: Digest, c: &[usize]) -> Edge<'a> {
        Edge {
            from: None,
            to: (v, dg),
            criteria: bits(c),
            key: &KEY,
            entry: 0,
        }
    }

    fn delta<'a>(f: &'a str, fd: Digest, v: &'a str, dg: Digest, c: &[usize]) -> Edge<'a> {
        Edge {
            from: Some((f, fd)),
            to: (v, dg),
            criteria: bits(c),
            key: &KEY,
            entry: 0,
        }
    }

    fn certified(r: &Reach<'_>, v: &str, dg: Digest, bit: usize) -> bool {
        r.at_version(v).any(|s| s.digest == dg && s.own.has(bit))
    }

    /// Versions `v0..=vn` with a full review of v0 and deltas v(i-1) -> vi listed
    /// newest first: the whole chain is reached, and nothing past it.
    #[test]
    fn long_reversed_chain_is_reached_end_to_end() {
        let n = 5000;
        let names: Vec<String> = (0..=n).map(|i| format!("1.0.{i}")).collect();
        let dg =
            |i: usize| Digest::Sha256(((i as u32).to_le_bytes().repeat(8)).try_into().unwrap());
        let mut edges = Vec::new();
        for i in (1..=n).rev() {
            edges.push(delta(&names[i - 1], dg(i - 1), &names[i], dg(i), &[1]));
        }
        edges.push(full(&names[0], dg(0), &[1]));
        let r = reach(&edges, &[]);
        assert!(certified(&r, &names[n], dg(n), 1));
        assert!(certified(&r, &names[n / 2], dg(n / 2), 1));
        assert_eq!(r.own_states(1).count(), n + 1);
        // One wrong base digest in the middle cuts the chain there.
        edges[n / 2] = {
            let i = n - n / 2;
            delta(&names[i - 1], d(0xee), &names[i], dg(i), &[1])
        };
        let r = reach(&edges, &[]);
        let i = n - n / 2;
        assert!(certified(&r, &names[i - 1], dg(i - 1), 1));
        assert!(!certified(&r, &names[i], dg(i), 1));
        assert!(!certified(&r, &names[n], dg(n), 1));
    }

    /// A fork: two deltas from one base, and criteria narrow along each branch
    /// independently; all criteria are decided in the same pass.
    #[test]
    fn forks_carry_the_intersection_of_criteria_per_branch() {
        let edges = vec![
            delta("1.1.0", d(2), "1.2.0", d(3), &[1]),
            delta("1.0.0", d(1), "1.1.0", d(2), &[1, 2]),
            delta("1.0.0", d(1), "2.0.0", d(4), &[2]),
            full("1.0.0", d(1), &[1, 2]),
        ];
        let r = reach(&edges, &[]);
        assert!(certified(&r, "1.2.0", d(3), 1));
        assert!(!certified(&r, "1.2.0", d(3), 2));
        assert!(certified(&r, "2.0.0", d(4), 2));
        assert!(!certified(&r, "2.0.0", d(4), 1));
        assert!(certified(&r, "2.0.0", d(4), ANY));
    }

    /// A cycle of deltas with no full review reaches nothing, and terminates; the same
    /// cycle hanging off a full review reaches all its states once.
    #[test]
    fn cycles_terminate_and_certify_only_from_a_full_review() {
        let mut edges = vec![
            delta("1.0.0", d(1), "1.1.0", d(2), &[1]),
            delta("1.1.0", d(2), "1.2.0", d(3), &[1]),
            delta("1.2.0", d(3), "1.0.0", d(1), &[1]),
        ];
        let r = reach(&edges, &[]);
        assert_eq!(r.own_states(ANY).count(), 0);
        edges.push(full("1.1.0", d(2), &[1]));
        let r = reach(&edges, &[]);
        assert_eq!(r.own_states(1).count(), 3);
        assert!(certified(&r, "1.0.0", d(1), 1));
    }

    /// An unknown base digest is compatible with any digest of the base version, and a
    /// foreign state is only a base: it is not certified as the jurisdiction's own.
    #[test]
    fn unknown_digests_and_foreign_bases() {
        let edges = vec![delta("1.0.0", Digest::Unknown, "1.1.0", d(2), &[1])];
        let foreign = vec![(("1.0.0", d(1)), bits(&[1]))];
        let r = reach(&edges, &foreign);
        assert!(certified(&r, "1.1.0", d(2), 1));
        assert!(!certified(&r, "1.0.0", d(1), 1));
    }
}
