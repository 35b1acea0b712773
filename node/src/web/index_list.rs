//! A reviewer's entry indexes, ascending, kept compact: delta-coded in blocks.
//!
//! Why not a `Vec<u64>`: the web index keeps every index each reviewer key logged, for
//! as long as the node runs. As a `Vec<u64>` that is 8 bytes per entry plus up to as
//! much again while the vector's capacity doubles, and the doubling shows as steps in
//! the node's memory: the 10-minute soak of `quorate-testnet bench` (one reviewer, 2.3M
//! entries) grew 18.6 B per entry after warm-up, most of it one vector going from 4 to
//! 32 MiB of capacity. Indexes a node assigns ascend, and one reviewer's are usually
//! close together, so the gaps are stored as LEB128 varints (one byte for a gap under
//! 128) in blocks of [`BLOCK`], each with its first and last index for paging: about
//! 1.2 bytes per entry when a reviewer's entries are consecutive, and pages decode at
//! most the blocks they touch.

use prost::encoding::{decode_varint, encode_varint};

/// Indexes per block.
pub const BLOCK: u32 = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Block {
    first: u64,
    last: u64,
    count: u32,
    /// Gaps after `first`, LEB128.
    gaps: Vec<u8>,
}

impl Block {
    fn decode(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.count as usize);
        out.push(self.first);
        let mut at = self.first;
        let mut buf = self.gaps.as_slice();
        while !buf.is_empty() {
            // Only `push` wrote these bytes; a bad varint would be a bug here, and
            // ending the block early is the harmless answer to it.
            let Ok(gap) = decode_varint(&mut buf) else {
                break;
            };
            at = at.saturating_add(gap);
            out.push(at);
        }
        out
    }
}

/// Strictly ascending `u64` indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexList {
    blocks: Vec<Block>,
    len: usize,
}

impl IndexList {
    /// Number of indexes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `i`; refuses (returns false) an index not above the last one.
    pub fn push(&mut self, i: u64) -> bool {
        match self.blocks.last_mut() {
            Some(b) if i <= b.last => return false,
            Some(b) if b.count < BLOCK => {
                encode_varint(i - b.last, &mut b.gaps);
                b.last = i;
                b.count += 1;
            }
            last => {
                if let Some(full) = last {
                    full.gaps.shrink_to_fit();
                }
                self.blocks.push(Block {
                    first: i,
                    last: i,
                    count: 1,
                    gaps: Vec::new(),
                });
            }
        }
        self.len += 1;
        true
    }

    /// Up to `limit` indexes strictly below `before` (all when `None`), newest first,
    /// and the index to continue below when more follow (the oldest one returned).
    pub fn page_below(&self, before: Option<u64>, limit: usize) -> (Vec<u64>, Option<u64>) {
        if limit == 0 {
            return (Vec::new(), None);
        }
        let below = |i: u64| before.is_none_or(|b| i < b);
        // Blocks that hold anything below `before`: those whose first index is.
        let mut k = self.blocks.partition_point(|b| below(b.first));
        // One more than the page, to know whether more follow.
        let mut out = Vec::with_capacity(limit.min(1024) + 1);
        while k > 0 && out.len() <= limit {
            k -= 1;
            for i in self.blocks[k]
                .decode()
                .into_iter()
                .rev()
                .filter(|&i| below(i))
            {
                out.push(i);
                if out.len() > limit {
                    break;
                }
            }
        }
        if out.len() > limit {
            out.truncate(limit);
            let next = out.last().copied();
            (out, next)
        } else {
            (out, None)
        }
    }

    /// Bytes held, for the memory figures (block headers and gap bytes).
    pub fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * std::mem::size_of::<Block>()
            + self.blocks.iter().map(|b| b.gaps.capacity()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page a plain sorted vector gives (what the web index did before).
    fn reference(v: &[u64], before: Option<u64>, limit: usize) -> (Vec<u64>, Option<u64>) {
        if limit == 0 {
            return (Vec::new(), None);
        }
        let end = match before {
            Some(b) => v.partition_point(|&i| i < b),
            None => v.len(),
        };
        let start = end.saturating_sub(limit);
        let page: Vec<u64> = v[start..end].iter().rev().copied().collect();
        let next = (start > 0).then(|| v[start]);
        (page, next)
    }

    fn sequences() -> Vec<Vec<u64>> {
        let mut seqs = vec![
            Vec::new(),
            vec![0],
            vec![u64::MAX],
            (0..1000).collect(),
            (0..700).map(|i| i * 3 + 5).collect(),
            // Gaps of every varint length, up to the largest index there is.
            vec![
                1,
                2,
                130,
                20_000,
                3_000_000,
                1 << 40,
                (1 << 40) + 1,
                u64::MAX - 1,
                u64::MAX,
            ],
        ];
        // Irregular gaps around block boundaries.
        let mut x = 7u64;
        let mut v = Vec::new();
        for n in 0..(3 * BLOCK as u64 + 17) {
            x += 1 + (n * 2_654_435_761) % 300;
            v.push(x);
        }
        seqs.push(v);
        seqs
    }

    #[test]
    fn pages_match_a_sorted_vector() {
        for seq in sequences() {
            let mut l = IndexList::default();
            for &i in &seq {
                assert!(l.push(i));
            }
            assert_eq!(l.len(), seq.len());
            let mut befores = vec![None, Some(0), Some(1), Some(u64::MAX)];
            for &i in &seq {
                befores.extend([
                    Some(i),
                    Some(i.saturating_add(1)),
                    Some(i.saturating_sub(1)),
                ]);
            }
            for before in befores {
                for limit in [0, 1, 2, 3, 50, 255, 256, 257, 600, 10_000] {
                    assert_eq!(
                        l.page_below(before, limit),
                        reference(&seq, before, limit),
                        "{} indexes, before {before:?}, limit {limit}",
                        seq.len()
                    );
                }
            }
            // Walking the pages by their cursors yields every index once, newest first.
            let mut all = Vec::new();
            let mut before = None;
            loop {
                let (page, next) = l.page_below(before, 37);
                all.extend(page);
                match next {
                    Some(n) => before = Some(n),
                    None => break,
                }
            }
            let mut want = seq.clone();
            want.reverse();
            assert_eq!(all, want);
        }
    }

    #[test]
    fn refuses_an_index_not_above_the_last() {
        let mut l = IndexList::default();
        assert!(l.push(10));
        assert!(!l.push(10));
        assert!(!l.push(3));
        assert!(l.push(11));
        assert_eq!(l.len(), 2);
        assert_eq!(l.page_below(None, 10), (vec![11, 10], None));
    }

    #[test]
    fn consecutive_indexes_cost_about_a_byte_each() {
        let mut l = IndexList::default();
        let n = 1_000_000u64;
        for i in 0..n {
            l.push(i * 2);
        }
        let per = l.heap_bytes() as f64 / n as f64;
        assert!(per < 1.5, "{per} bytes per index");
    }
}
