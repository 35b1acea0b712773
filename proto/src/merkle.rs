//! RFC 6962 / RFC 9162 Merkle tree math over SHA-256, in the shape of Go's
//! `golang.org/x/mod/sumdb/tlog`.
//!
//! # Hashing
//!
//! A record `d` hashes to `leaf_hash(d) = SHA-256(0x00 || d)`; an interior node to
//! `node_hash(l, r) = SHA-256(0x01 || l || r)`. The tree over records `D[0..n)` splits at
//! `k`, the largest power of two strictly below `n`: `MTH(D[0..n)) =
//! node_hash(MTH(D[0..k)), MTH(D[k..n)))`. The empty tree hashes to `SHA-256("")`.
//!
//! # Stored hashes
//!
//! A log only ever needs the hashes of *complete* subtrees (`2^L` leaves starting at a
//! multiple of `2^L`): every other tree node is recomputed from O(log n) of them. These
//! stored hashes are numbered in the order they come into existence as records are
//! appended: record `n` contributes its leaf hash, followed by the hash of every complete
//! subtree that record `n` closes (one per trailing 1 bit of `n`). Hash `(level L, index
//! k)` therefore lives at `stored_hash_index(L, k)`, and a tree of `n` records has
//! `stored_hash_count(n)` (just under `2n`) of them. Storage is reached only through the
//! one-method [`HashReader`], so the math never sees how or where hashes are kept.
//!
//! # Proofs
//!
//! Inclusion ("record") and consistency ("tree") proofs are lists of subtree hashes in the
//! RFC 9162 order, which is also the order Go's tlog produces: the hash nearest the leaf
//! (or the old tree) first, the hash just below the root last. Verification follows the
//! iterative algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2, which only shift and
//! compare the sizes and therefore accept any `u64` without overflow. Sizes follow Go's
//! rules: an inclusion proof needs `index < size`; a consistency proof needs
//! `1 <= old <= new` (consistency with the empty tree is meaningless, so it is an error).

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf, an interior node or a tree root.
pub type Hash = [u8; 32];

/// Size in bytes of a [`Hash`].
pub const HASH_SIZE: usize = 32;

/// Largest tree size the proof *generators* and tree hashing accept.
///
/// Stored hash indexes are just under twice the tree size and must fit in a `u64` with
/// room to spare for the level offset, so sizes are capped at 2^62 (about 4.6e18 records,
/// far beyond any real log). The proof *checkers* need no cap.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// Most records [`MemoryLog::with_capacity`] reserves room for up front (64 MiB of hashes);
/// a larger log grows as records are appended.
pub const MAX_PREALLOC_RECORDS: usize = 1 << 20;

/// Everything that can go wrong in log math, proof checking and tile handling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// A record index is not inside the tree (`index >= size`).
    #[error("record index {index} is out of range for tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency proof was requested or checked for sizes other than `1 <= old <= new`.
    #[error(
        "invalid tree sizes for a consistency proof: old {old}, new {new} (need 1 <= old <= new)"
    )]
    InvalidTreeSizes { old: u64, new: u64 },
    /// A tree size beyond [`MAX_TREE_SIZE`] was given to code that addresses stored hashes.
    #[error("tree size {size} exceeds the maximum {max}")]
    TreeTooLarge { size: u64, max: u64 },
    /// A proof has the wrong number of hashes for the sizes it claims to prove.
    #[error("proof has {got} hashes, expected {expected}")]
    ProofLength { expected: usize, got: usize },
    /// The proof is well formed but does not lead to the trusted (new) root hash.
    #[error("proof does not lead to the expected root hash")]
    RootMismatch,
    /// A consistency proof does not reproduce the old tree's root hash.
    #[error("consistency proof does not reproduce the old root hash")]
    OldRootMismatch,
    /// A byte string meant to be a hash does not have [`HASH_SIZE`] bytes.
    #[error("hash must be {HASH_SIZE} bytes, got {got}")]
    HashLength { got: usize },
    /// A [`HashReader`] answered with a different number of hashes than requested.
    #[error("hash reader returned {got} hashes for {expected} indexes")]
    HashCount { expected: usize, got: usize },
    /// A stored hash index does not exist in the store that was asked for it.
    #[error("stored hash index {index} is not present (store holds {count})")]
    StoredIndexOutOfRange { index: u64, count: u64 },
    /// The hash store failed; the text comes from the storage layer.
    #[error("hash storage failed: {0}")]
    Storage(String),
    /// A tile or entry bundle was malformed or failed authentication.
    #[error(transparent)]
    Tile(#[from] crate::tile::TileError),
}

/// Source of stored hashes, by stored hash index (see [`stored_hash_index`]).
///
/// Implementations must return exactly one hash per requested index, in request order;
/// callers check the count and report [`MerkleError::HashCount`] otherwise. Storage
/// failures should be reported as [`MerkleError::Storage`].
pub trait HashReader {
    /// Returns the stored hashes at `indexes`, in order.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError>;
}

impl<T: HashReader + ?Sized> HashReader for &T {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        (**self).read_hashes(indexes)
    }
}

/// A slice holding all stored hashes of a tree, position = stored hash index.
impl HashReader for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        read_from_slice(self, indexes)
    }
}

impl HashReader for Vec<Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        read_from_slice(self, indexes)
    }
}

fn read_from_slice(hashes: &[Hash], indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
    indexes
        .iter()
        .map(|&index| {
            usize::try_from(index)
                .ok()
                .and_then(|i| hashes.get(i))
                .copied()
                .ok_or(MerkleError::StoredIndexOutOfRange {
                    index,
                    count: hashes.len() as u64,
                })
        })
        .collect()
}

/// Reads hashes and insists on the one-per-index contract, so a misbehaving reader
/// surfaces as an error instead of an out-of-bounds access later.
fn read_exact(r: &impl HashReader, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
    let hashes = r.read_hashes(indexes)?;
    if hashes.len() != indexes.len() {
        return Err(MerkleError::HashCount {
            expected: indexes.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes)
}

/// Converts a byte string from the wire into a [`Hash`], rejecting any other length.
pub fn hash_from_slice(bytes: &[u8]) -> Result<Hash, MerkleError> {
    Hash::try_from(bytes).map_err(|_| MerkleError::HashLength { got: bytes.len() })
}

/// The RFC 6962 leaf hash, `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// The RFC 6962 interior node hash, `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    // One contiguous buffer lets SHA-256 run over exactly two blocks without the
    // incremental hasher's buffering.
    let mut buf = [0u8; 1 + 2 * HASH_SIZE];
    buf[0] = 0x01;
    buf[1..1 + HASH_SIZE].copy_from_slice(left);
    buf[1 + HASH_SIZE..].copy_from_slice(right);
    Sha256::digest(buf).into()
}

/// The root hash of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Stored hash index of the hash at `level` with index `n` within that level, or `None`
/// if it does not fit in a `u64`.
pub fn checked_stored_hash_index(level: u8, n: u64) -> Option<u64> {
    // Hash (L, n) is written right after level-0 hash number m = n*2^L + 2^L - 1 and the
    // L-1 hashes below it that the same record completes. Level-0 hash m sits at
    // m + m/2 + m/4 + ... = 2m - popcount(m).
    let l = u32::from(level);
    if l >= 64 {
        return None;
    }
    let m = n.checked_mul(1u64 << l)?.checked_add((1u64 << l) - 1)?;
    // Written as m + (m - popcount(m)) so that indexes near u64::MAX do not overflow in
    // the intermediate 2m.
    m.checked_add(m - u64::from(m.count_ones()))?
        .checked_add(u64::from(level))
}

/// Stored hash index of the hash at `level` with index `n` within that level (Go's
/// `tlog.StoredHashIndex`).
///
/// Exact for every hash of a tree up to [`MAX_TREE_SIZE`]; for coordinates whose index
/// would not fit in a `u64` it saturates to `u64::MAX`, which no store holds.
pub fn stored_hash_index(level: u8, n: u64) -> u64 {
    checked_stored_hash_index(level, n).unwrap_or(u64::MAX)
}

/// Inverse of [`stored_hash_index`]: the `(level, n)` of a stored hash index.
pub fn split_stored_hash_index(index: u64) -> (u8, u64) {
    // The level-0 hash of record m is at 2m - popcount(m) <= index, so the record that
    // wrote `index` is at least index/2 and at most ~64 records later.
    let mut n = index / 2;
    let mut at = stored_hash_index(0, n);
    loop {
        // Record n writes 1 + trailing_ones(n) hashes; record n+1 starts after them.
        let next = at
            .checked_add(1)
            .and_then(|x| x.checked_add(u64::from(n.trailing_ones())));
        match next {
            Some(x) if x <= index => {
                n += 1;
                at = x;
            }
            _ => break,
        }
    }
    // `index` is one of the hashes record n wrote: level index-at, covering n >> level.
    let level = (index - at) as u8;
    (level, n >> level)
}

/// Number of stored hashes in a tree of `n` records (Go's `tlog.StoredHashCount`);
/// saturates at `u64::MAX` for sizes far beyond [`MAX_TREE_SIZE`].
pub fn stored_hash_count(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    // Everything up to and including record n-1's leaf, plus the subtrees it completes.
    stored_hash_index(0, n - 1)
        .saturating_add(1)
        .saturating_add(u64::from((n - 1).trailing_ones()))
}

fn check_size(size: u64) -> Result<(), MerkleError> {
    if size > MAX_TREE_SIZE {
        return Err(MerkleError::TreeTooLarge {
            size,
            max: MAX_TREE_SIZE,
        });
    }
    Ok(())
}

/// The stored hashes to append when adding record `n` with contents `data` to a tree
/// that currently has `n` records.
pub fn stored_hashes(n: u64, data: &[u8], r: &impl HashReader) -> Result<Vec<Hash>, MerkleError> {
    stored_hashes_for_record_hash(n, leaf_hash(data), r)
}

/// Like [`stored_hashes`], for a record whose leaf hash is already known.
pub fn stored_hashes_for_record_hash(
    n: u64,
    leaf: Hash,
    r: &impl HashReader,
) -> Result<Vec<Hash>, MerkleError> {
    check_size(n.saturating_add(1))?;
    // Each trailing 1 bit of n closes a subtree: record n's new hash at level i pairs with
    // the complete left sibling at level i, index (n >> i) - 1. Reading them from the
    // top level down keeps the indexes ascending, which storage tends to like.
    let closes = n.trailing_ones() as usize;
    let mut indexes = [0u64; 64];
    for i in 0..closes {
        indexes[closes - 1 - i] = stored_hash_index(i as u8, (n >> i) - 1);
    }
    let left = read_exact(r, &indexes[..closes])?;
    let mut out = Vec::with_capacity(1 + closes);
    let mut h = leaf;
    out.push(h);
    for sibling in left.iter().rev() {
        h = node_hash(sibling, &h);
        out.push(h);
    }
    Ok(out)
}

/// Largest power of two strictly less than `n` (`n >= 2`): RFC 6962's split point.
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Appends the stored hash indexes whose combination is the hash of `[lo, hi)`: the
/// maximal complete subtrees from the left, each as large as the rest allows.
fn subtree_indexes(mut lo: u64, hi: u64, out: &mut Vec<u64>) {
    while lo < hi {
        // Largest power of two <= hi - lo; callers only pass ranges whose lo is aligned
        // to it (they come from RFC 6962 splits).
        let level = 63 - (hi - lo).leading_zeros();
        out.push(stored_hash_index(level as u8, lo >> level));
        lo += 1u64 << level;
    }
}

/// Number of complete subtrees `subtree_indexes` produces for `[lo, hi)`.
fn subtree_parts(lo: u64, hi: u64) -> usize {
    (hi - lo).count_ones() as usize
}

/// Folds the stored hashes of one range (as listed by `subtree_indexes`) into its hash.
fn fold_subtree(parts: &[Hash]) -> Option<Hash> {
    let (last, rest) = parts.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)))
}

/// Root hash of the tree of the first `n` records.
pub fn tree_hash(n: u64, r: &impl HashReader) -> Result<Hash, MerkleError> {
    check_size(n)?;
    if n == 0 {
        return Ok(empty_root());
    }
    let mut indexes = Vec::with_capacity(64);
    subtree_indexes(0, n, &mut indexes);
    let hashes = read_exact(r, &indexes)?;
    fold_subtree(&hashes).ok_or(MerkleError::HashCount {
        expected: indexes.len(),
        got: 0,
    })
}

/// Ranges whose hashes form a proof, in proof order, plus their count.
struct ProofRanges {
    ranges: [(u64, u64); 65],
    len: usize,
}

impl ProofRanges {
    fn new() -> Self {
        ProofRanges {
            ranges: [(0, 0); 65],
            len: 0,
        }
    }

    fn push(&mut self, lo: u64, hi: u64) {
        // At most one range per tree level (64) plus the consistency proof's seed.
        if let Some(slot) = self.ranges.get_mut(self.len) {
            *slot = (lo, hi);
            self.len += 1;
        }
    }

    fn as_slice(&self) -> &[(u64, u64)] {
        &self.ranges[..self.len]
    }

    /// Reads every range's stored hashes in one call and folds each into one hash.
    fn hashes(&mut self, r: &impl HashReader) -> Result<Vec<Hash>, MerkleError> {
        // Ranges were collected walking down from the root; proofs list them bottom-up.
        self.ranges[..self.len].reverse();
        let mut indexes = Vec::with_capacity(2 * self.len + 8);
        for &(lo, hi) in self.as_slice() {
            subtree_indexes(lo, hi, &mut indexes);
        }
        let stored = read_exact(r, &indexes)?;
        let mut proof = Vec::with_capacity(self.len);
        let mut rest = stored.as_slice();
        for &(lo, hi) in self.as_slice() {
            let (parts, tail) = rest.split_at(subtree_parts(lo, hi).min(rest.len()));
            rest = tail;
            proof.push(fold_subtree(parts).ok_or(MerkleError::HashCount {
                expected: indexes.len(),
                got: stored.len(),
            })?);
        }
        Ok(proof)
    }
}

/// Inclusion proof that record `n` is in the tree of size `t`.
pub fn prove_record(t: u64, n: u64, r: &impl HashReader) -> Result<Vec<Hash>, MerkleError> {
    check_size(t)?;
    if n >= t {
        return Err(MerkleError::IndexOutOfRange { index: n, size: t });
    }
    // Walk from the root to the leaf; the proof is every sibling passed on the way.
    let mut ranges = ProofRanges::new();
    let (mut lo, mut hi) = (0, t);
    while hi - lo > 1 {
        let mid = lo + split_point(hi - lo);
        if n < mid {
            ranges.push(mid, hi);
            hi = mid;
        } else {
            ranges.push(lo, mid);
            lo = mid;
        }
    }
    ranges.hashes(r)
}

/// Consistency proof that the tree of size `n` is a prefix of the tree of size `t`.
pub fn prove_tree(t: u64, n: u64, r: &impl HashReader) -> Result<Vec<Hash>, MerkleError> {
    check_size(t)?;
    if n < 1 || n > t {
        return Err(MerkleError::InvalidTreeSizes { old: n, new: t });
    }
    // Walk down towards the old tree's right edge until a subtree lies entirely inside
    // it. That subtree's hash seeds the proof, unless it is the whole old tree, whose
    // hash the verifier already has.
    let mut ranges = ProofRanges::new();
    let (mut lo, mut hi) = (0, t);
    while n != hi {
        let mid = lo + split_point(hi - lo);
        if n <= mid {
            ranges.push(mid, hi);
            hi = mid;
        } else {
            ranges.push(lo, mid);
            lo = mid;
        }
    }
    if lo != 0 {
        ranges.push(lo, hi);
    }
    ranges.hashes(r)
}

/// Number of hashes in an inclusion proof for `index < size`.
pub fn inclusion_proof_len(index: u64, size: u64) -> Result<usize, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    // Below the highest bit where the paths to `index` and to the last leaf diverge,
    // every level has a sibling; above it, only the levels where `index` is a right
    // child have one (the left siblings are complete subtrees the path turns right of).
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    Ok((inner + border) as usize)
}

/// Number of hashes in a consistency proof from size `old` to size `new`.
pub fn consistency_proof_len(old: u64, new: u64) -> Result<usize, MerkleError> {
    if old < 1 || old > new {
        return Err(MerkleError::InvalidTreeSizes { old, new });
    }
    if old == new {
        return Ok(0);
    }
    // The path to the old tree's last leaf, minus the levels inside the largest complete
    // subtree ending at the old edge (its hash stands in for them), plus that hash unless
    // it is the whole old tree.
    let path = inclusion_proof_len(old - 1, new)?;
    let shift = old.trailing_zeros() as usize;
    let seed = usize::from(!old.is_power_of_two());
    Ok(path - shift + seed)
}

/// Checks an inclusion proof that the record with leaf hash `leaf` is record `n` of the
/// tree of size `t` whose root hash is `th`.
pub fn check_record(
    proof: &[Hash],
    t: u64,
    th: &Hash,
    n: u64,
    leaf: &Hash,
) -> Result<(), MerkleError> {
    let expected = inclusion_proof_len(n, t)?;
    if proof.len() != expected {
        return Err(MerkleError::ProofLength {
            expected,
            got: proof.len(),
        });
    }
    // RFC 9162 2.1.3.2: fn is the node's index on the current level, sn the index of the
    // last node on it. A left sibling exists when fn is a right child; when fn is the
    // last node and a left child it has no sibling at this level, so skip up to where it
    // does.
    let (mut fnode, mut snode) = (n, t - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(MerkleError::ProofLength {
                expected,
                got: proof.len(),
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 || r != *th {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// Checks a consistency proof that the tree of size `n` with root hash `h` is a prefix
/// of the tree of size `t` with root hash `th`.
pub fn check_tree(proof: &[Hash], t: u64, th: &Hash, n: u64, h: &Hash) -> Result<(), MerkleError> {
    let (fr, sr) = consistency_roots(proof, t, n, h)?;
    if sr != *th {
        return Err(MerkleError::RootMismatch);
    }
    if fr != *h {
        return Err(MerkleError::OldRootMismatch);
    }
    Ok(())
}

/// The old root that a consistency proof from size `n` to the tree (`t`, `th`) commits
/// to, or `None` when `n` is a power of two (the proof then omits the old root, so it
/// determines nothing about it). Errors if the proof does not lead to `th`.
///
/// This is what turns a log's failed consistency proof into evidence: if the proof
/// checks against the new root but yields a different old root than the one the log
/// signed at size `n`, the log has signed two histories.
pub fn consistency_old_root(
    proof: &[Hash],
    t: u64,
    th: &Hash,
    n: u64,
) -> Result<Option<Hash>, MerkleError> {
    if n == t || n.is_power_of_two() {
        consistency_proof_len(n, t)?;
        return Ok(None);
    }
    let (fr, sr) = consistency_roots(proof, t, n, &[0; HASH_SIZE])?;
    if sr != *th {
        return Err(MerkleError::RootMismatch);
    }
    Ok(Some(fr))
}

/// Walks a consistency proof (RFC 9162 2.1.4.2) and returns the (old, new) roots it
/// computes. `h` seeds the walk when `n` is a power of two.
fn consistency_roots(
    proof: &[Hash],
    t: u64,
    n: u64,
    h: &Hash,
) -> Result<(Hash, Hash), MerkleError> {
    let expected = consistency_proof_len(n, t)?;
    if proof.len() != expected {
        return Err(MerkleError::ProofLength {
            expected,
            got: proof.len(),
        });
    }
    if n == t {
        return Ok((*h, *h));
    }
    // RFC 9162 2.1.4.2. The walk starts from the largest complete subtree ending at the
    // old tree's edge; when the old tree is a power of two that subtree is the old tree
    // itself and the proof leaves its hash out.
    let (seed, rest) = if n.is_power_of_two() {
        (*h, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => {
                return Err(MerkleError::ProofLength { expected, got: 0 });
            }
        }
    };
    let (mut fnode, mut snode) = (n - 1, t - 1);
    // Levels inside the seed subtree are already accounted for by the seed.
    let shift = n.trailing_zeros();
    fnode >>= shift;
    snode >>= shift;
    let (mut fr, mut sr) = (seed, seed);
    for c in rest {
        if snode == 0 {
            return Err(MerkleError::ProofLength {
                expected,
                got: proof.len(),
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(MerkleError::RootMismatch);
    }
    Ok((fr, sr))
}

/// An append-only log held in memory: every stored hash in a `Vec`, indexed by stored
/// hash index. For tests, benchmarks and clients mirroring small logs.
#[derive(Debug, Clone, Default)]
pub struct MemoryLog {
    hashes: Vec<Hash>,
    size: u64,
    /// Hashes of the maximal complete subtrees covering the tree, left to right. They are
    /// exactly the stored hashes `tree_hash` would read, kept so `root` needs no lookups.
    frontier: Vec<Hash>,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty log with room for `records` records without reallocating. The capacity is
    /// a hint, reserved up to [`MAX_PREALLOC_RECORDS`]: a record count that came from
    /// outside (a claimed tree size) can never abort the process on allocation.
    pub fn with_capacity(records: usize) -> Self {
        MemoryLog {
            hashes: Vec::with_capacity(records.min(MAX_PREALLOC_RECORDS) * 2),
            size: 0,
            frontier: Vec::with_capacity(64),
        }
    }

    /// Appends a record and returns its index.
    pub fn append(&mut self, data: &[u8]) -> u64 {
        self.append_leaf_hash(leaf_hash(data))
    }

    /// Appends a record by its leaf hash and returns its index.
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> u64 {
        let n = self.size;
        // Same hashes as `stored_hashes_for_record_hash`, but the left siblings are the
        // tail of the frontier, so nothing is looked up or allocated.
        let mut h = leaf;
        self.hashes.push(h);
        for _ in 0..n.trailing_ones() {
            match self.frontier.pop() {
                Some(left) => {
                    h = node_hash(&left, &h);
                    self.hashes.push(h);
                }
                None => break,
            }
        }
        self.frontier.push(h);
        self.size = n + 1;
        n
    }

    /// Number of records.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Root hash of the whole log.
    pub fn root(&self) -> Hash {
        fold_subtree(&self.frontier).unwrap_or_else(empty_root)
    }

    /// All stored hashes, position = stored hash index.
    pub fn stored(&self) -> &[Hash] {
        &self.hashes
    }
}

impl HashReader for MemoryLog {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        read_from_slice(&self.hashes, indexes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn log_of(n: u64) -> MemoryLog {
        let mut log = MemoryLog::new();
        for i in 0..n {
            log.append(format!("leaf {i}").as_bytes());
        }
        log
    }

    /// Straight recursive RFC 6962 MTH over leaf hashes, as an oracle.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn known_hashes() {
        // SHA-256("") and the RFC 6962 empty-leaf hash SHA-256(0x00).
        assert_eq!(
            empty_root(),
            hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            leaf_hash(b""),
            hex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
    }

    fn hex(s: &str) -> Hash {
        let mut h = [0u8; 32];
        for (i, b) in h.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        h
    }

    #[test]
    fn stored_index_matches_go_layout() {
        // Go tlog's StoredHashIndex loop, as an oracle.
        fn go(level: u8, mut n: u64) -> u64 {
            for _ in 0..level {
                n = 2 * n + 1;
            }
            let mut i = 0;
            while n > 0 {
                i += n;
                n >>= 1;
            }
            i + u64::from(level)
        }
        for level in 0..20u8 {
            for n in 0..300u64 {
                let idx = stored_hash_index(level, n);
                assert_eq!(idx, go(level, n));
                assert_eq!(split_stored_hash_index(idx), (level, n));
            }
        }
        // First few, from the Go documentation's layout.
        assert_eq!(stored_hash_index(0, 0), 0);
        assert_eq!(stored_hash_index(0, 1), 1);
        assert_eq!(stored_hash_index(1, 0), 2);
        assert_eq!(stored_hash_index(0, 2), 3);
        assert_eq!(stored_hash_index(0, 3), 4);
        assert_eq!(stored_hash_index(1, 1), 5);
        assert_eq!(stored_hash_index(2, 0), 6);
    }

    #[test]
    fn split_is_total_and_inverse() {
        for index in 0..5000u64 {
            let (l, n) = split_stored_hash_index(index);
            assert_eq!(stored_hash_index(l, n), index);
        }
        for index in [u64::MAX, u64::MAX - 1, u64::MAX / 2, 1 << 63] {
            let (l, n) = split_stored_hash_index(index);
            assert_eq!(checked_stored_hash_index(l, n), Some(index));
        }
        assert_eq!(stored_hash_index(64, 0), u64::MAX);
        assert_eq!(stored_hash_index(255, u64::MAX), u64::MAX);
        assert_eq!(stored_hash_index(0, u64::MAX), u64::MAX);
    }

    #[test]
    fn capacity_from_a_claimed_size_never_aborts() {
        // Sizes a hostile checkpoint can claim: reserved up to the cap, then grown.
        for claimed in [usize::MAX, 1 << 62, MAX_PREALLOC_RECORDS + 1] {
            let mut log = MemoryLog::with_capacity(claimed);
            log.append(b"a");
            assert_eq!(log.size(), 1);
        }
    }

    #[test]
    fn memory_log_matches_functions() {
        let mut log = MemoryLog::new();
        let mut leaves = Vec::new();
        let mut by_fn: Vec<Hash> = Vec::new();
        assert_eq!(log.root(), empty_root());
        for i in 0..200u64 {
            let data = format!("leaf {i}");
            let new = stored_hashes(i, data.as_bytes(), &by_fn).unwrap();
            by_fn.extend(new);
            log.append(data.as_bytes());
            leaves.push(leaf_hash(data.as_bytes()));
            assert_eq!(log.stored(), &by_fn[..]);
            assert_eq!(stored_hash_count(i + 1), by_fn.len() as u64);
            let want = mth(&leaves);
            assert_eq!(log.root(), want);
            assert_eq!(tree_hash(i + 1, &log).unwrap(), want);
            // Every earlier tree hash is still readable from the grown store.
            assert_eq!(
                tree_hash(i / 2 + 1, &log).unwrap(),
                mth(&leaves[..(i / 2 + 1) as usize])
            );
        }
    }

    #[test]
    fn proofs_exhaustive_small() {
        let log = log_of(40);
        for t in 1..=40u64 {
            let th = tree_hash(t, &log).unwrap();
            for n in 0..t {
                let leaf = leaf_hash(format!("leaf {n}").as_bytes());
                let p = prove_record(t, n, &log).unwrap();
                assert_eq!(p.len(), inclusion_proof_len(n, t).unwrap());
                check_record(&p, t, &th, n, &leaf).unwrap();
            }
            for n in 1..=t {
                let h = tree_hash(n, &log).unwrap();
                let p = prove_tree(t, n, &log).unwrap();
                assert_eq!(p.len(), consistency_proof_len(n, t).unwrap());
                check_tree(&p, t, &th, n, &h).unwrap();
            }
        }
    }

    #[test]
    fn hostile_sizes_error_without_panic() {
        let log = log_of(10);
        let h = log.root();
        assert!(prove_record(0, 0, &log).is_err());
        assert!(prove_record(5, 5, &log).is_err());
        assert!(prove_record(u64::MAX, 3, &log).is_err());
        assert!(prove_record(11, 3, &log).is_err()); // store too small
        assert!(prove_tree(10, 0, &log).is_err());
        assert!(prove_tree(5, 6, &log).is_err());
        assert!(prove_tree(u64::MAX, 1, &log).is_err());
        assert!(tree_hash(u64::MAX, &log).is_err());
        assert!(tree_hash(MAX_TREE_SIZE, &log).is_err());
        assert!(stored_hashes(u64::MAX, b"x", &log).is_err());
        // Record 2^40 + 1 pairs with record 2^40's leaf, which this store lacks.
        assert!(stored_hashes((1 << 40) + 1, b"x", &log).is_err());
        for (t, n) in [
            (0, 0),
            (1, 1),
            (u64::MAX, u64::MAX),
            (u64::MAX, u64::MAX - 1),
            (u64::MAX, 0),
            (1 << 63, 12345),
            (10, 11),
        ] {
            assert!(check_record(&[], t, &h, n, &h).is_err());
            assert!(check_record(&[h; 64], t, &h, n, &h).is_err());
            assert!(check_record(&[h; 70], t, &h, n, &h).is_err());
            assert!(check_tree(&[], t, &h, n, &h).is_err() || t == n && n != 0);
            assert!(check_tree(&[h; 64], t, &h, n, &h).is_err());
            assert!(check_tree(&[h; 130], t, &h, n, &h).is_err());
        }
        assert_eq!(check_tree(&[], u64::MAX, &h, u64::MAX, &h), Ok(()));
        assert!(check_tree(&[], 0, &h, 0, &h).is_err());
        assert_eq!(stored_hash_count(u64::MAX), u64::MAX);
        assert_eq!(inclusion_proof_len(u64::MAX - 1, u64::MAX), Ok(63));
        assert_eq!(inclusion_proof_len(0, u64::MAX), Ok(64));
    }

    /// A reader that lies about how many hashes it returns.
    struct Short;
    impl HashReader for Short {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
            Ok(vec![[0; 32]; indexes.len().saturating_sub(1)])
        }
    }
    struct Long;
    impl HashReader for Long {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
            Ok(vec![[0; 32]; indexes.len() + 1])
        }
    }

    #[test]
    fn wrong_count_readers_are_errors() {
        for t in [1u64, 2, 3, 7, 8, 100] {
            assert!(matches!(
                tree_hash(t, &Short),
                Err(MerkleError::HashCount { .. })
            ));
            assert!(matches!(
                tree_hash(t, &Long),
                Err(MerkleError::HashCount { .. })
            ));
            if t > 1 {
                assert!(prove_record(t, 0, &Short).is_err());
                assert!(prove_record(t, t - 1, &Long).is_err());
                assert!(prove_tree(t, 1, &Short).is_err());
                assert!(prove_tree(t, 1, &Long).is_err());
            }
        }
        assert!(stored_hashes(7, b"x", &Short).is_err());
        assert!(stored_hashes(7, b"x", &Long).is_err());
    }

    #[test]
    fn hash_from_slice_checks_length() {
        assert_eq!(hash_from_slice(&[7; 32]), Ok([7; 32]));
        assert_eq!(
            hash_from_slice(&[7; 31]),
            Err(MerkleError::HashLength { got: 31 })
        );
        assert_eq!(
            hash_from_slice(&[]),
            Err(MerkleError::HashLength { got: 0 })
        );
    }

    /// Which side each inclusion proof hash joins on, bottom-up, by RFC 6962's recursive
    /// definition (independent of the iterative checker).
    fn record_shape(lo: u64, hi: u64, n: u64) -> Vec<bool> {
        if hi - lo <= 1 {
            return Vec::new();
        }
        let k = lo + split_point(hi - lo);
        let (mut v, right) = if n < k {
            (record_shape(lo, k, n), true)
        } else {
            (record_shape(k, hi, n), false)
        };
        v.push(right);
        v
    }

    /// Consistency proof shape: 0 = seed subtree, 1 = sibling on the right (new tree
    /// only), 2 = sibling on the left (both trees).
    fn tree_shape(lo: u64, hi: u64, n: u64) -> Vec<u8> {
        if n == hi {
            return if lo == 0 { Vec::new() } else { vec![0] };
        }
        let k = lo + split_point(hi - lo);
        let (mut v, side) = if n <= k {
            (tree_shape(lo, k, n), 1)
        } else {
            (tree_shape(k, hi, n), 2)
        };
        v.push(side);
        v
    }

    /// Every way to damage a valid proof; each must be rejected.
    fn mutations(p: &[Hash]) -> Vec<Vec<Hash>> {
        let mut out = Vec::new();
        for i in 0..p.len() {
            for bit in [0usize, 7, 100, 255] {
                let mut q = p.to_vec();
                q[i][bit / 8] ^= 1 << (bit % 8);
                out.push(q);
            }
            let mut q = p.to_vec();
            q.remove(i);
            out.push(q);
        }
        if !p.is_empty() {
            out.push(p[..p.len() - 1].to_vec());
        }
        let mut q = p.to_vec();
        q.push([0; 32]);
        out.push(q);
        let mut q = vec![[0; 32]];
        q.extend_from_slice(p);
        out.push(q);
        for i in 1..p.len() {
            if p[i] != p[i - 1] {
                let mut q = p.to_vec();
                q.swap(i, i - 1);
                out.push(q);
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn inclusion_roundtrip_and_tamper(t in 1u64..600, seed in any::<u64>()) {
            let log = log_of(t);
            let n = seed % t;
            let th = log.root();
            let leaf = leaf_hash(format!("leaf {n}").as_bytes());
            let p = prove_record(t, n, &log).unwrap();
            prop_assert!(check_record(&p, t, &th, n, &leaf).is_ok());
            for q in mutations(&p) {
                prop_assert!(check_record(&q, t, &th, n, &leaf).is_err());
            }
            let mut bad = th;
            bad[(seed % 32) as usize] ^= 0x10;
            prop_assert!(check_record(&p, t, &bad, n, &leaf).is_err());
            prop_assert!(check_record(&p, t, &th, n, &bad).is_err());
            // Any other index or size must fail (a different leaf position or tree shape).
            for n2 in [n.wrapping_sub(1), n + 1, n ^ 2, u64::MAX] {
                if n2 != n {
                    prop_assert!(check_record(&p, t, &th, n2, &leaf).is_err());
                }
            }
            // A root hash does not commit to its size: a size whose path has the same
            // shape computes the same root (that is why checkpoints sign both). Any
            // other size must fail.
            for t2 in [t - 1, t + 1, 2 * t, 2 * t + 1, u64::MAX] {
                if t2 != t && t2 > n && record_shape(0, t2, n) != record_shape(0, t, n) {
                    prop_assert!(check_record(&p, t2, &th, n, &leaf).is_err());
                }
            }
            prop_assert!(check_record(&p, n, &th, n, &leaf).is_err());
        }

        #[test]
        fn consistency_roundtrip_and_tamper(t in 1u64..600, seed in any::<u64>()) {
            let log = log_of(t);
            let n = 1 + seed % t;
            let th = log.root();
            let h = tree_hash(n, &log).unwrap();
            let p = prove_tree(t, n, &log).unwrap();
            prop_assert!(check_tree(&p, t, &th, n, &h).is_ok());
            for q in mutations(&p) {
                prop_assert!(check_tree(&q, t, &th, n, &h).is_err());
            }
            let mut bad = th;
            bad[(seed % 32) as usize] ^= 0x01;
            prop_assert!(check_tree(&p, t, &bad, n, &h).is_err());
            prop_assert!(check_tree(&p, t, &th, n, &bad).is_err());
            if n != t {
                prop_assert!(check_tree(&p, t, &h, n, &th).is_err());
            }
            for n2 in [n - 1, n + 1, n ^ 2, u64::MAX] {
                if n2 != n {
                    prop_assert!(check_tree(&p, t, &th, n2, &h).is_err());
                }
            }
            for t2 in [t - 1, t + 1, 2 * t, 2 * t + 1, u64::MAX] {
                if t2 != t && t2 >= n && tree_shape(0, t2, n) != tree_shape(0, t, n) {
                    prop_assert!(check_tree(&p, t2, &th, n, &h).is_err());
                }
            }
            prop_assert!(check_tree(&p, n - 1, &th, n, &h).is_err());
        }

        #[test]
        fn checkers_never_panic(
            t in any::<u64>(),
            n in any::<u64>(),
            len in 0usize..70,
            fill in any::<u8>(),
        ) {
            let proof = vec![[fill; 32]; len];
            let h = [fill; 32];
            let _ = check_record(&proof, t, &h, n, &h);
            let _ = check_tree(&proof, t, &h, n, &h);
            let _ = inclusion_proof_len(n, t);
            let _ = consistency_proof_len(n, t);
            let (l, k) = split_stored_hash_index(t);
            prop_assert_eq!(checked_stored_hash_index(l, k), Some(t));
        }
    }
}
