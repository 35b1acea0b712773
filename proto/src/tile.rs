//! C2SP tlog-tiles v0.1.0: the Merkle tree and entries of a log served as static tiles.
//!
//! # Tiles
//!
//! A tile at level `L`, index `N` is a run of up to 256 consecutive 32-byte hashes: hash
//! `i` is the Merkle tree hash of the `256^L` records starting at `(N*256 + i) * 256^L`.
//! In stored-hash terms (see [`crate::merkle`]) it holds the stored hashes at tree level
//! `8L`, indexes `N*256 ..`. Full tiles have 256 hashes (8,192 bytes); the rightmost tile
//! of a level may be *partial*, of width `floor(size / 256^L) mod 256`, and is never
//! hashed into the level above. The hashes at tree levels between `8L` and `8L + 8` are
//! not served: they are recomputed from the tile. Go's `tlog` tiles of height 8 are
//! exactly these tiles.
//!
//! # Paths
//!
//! `tile/<L>/<N>[.p/<W>]` and, for entry bundles, `tile/entries/<N>[.p/<W>]`. `<L>` is a
//! decimal 0..=63 without leading zeros. `<N>` is written in groups of three zero-padded
//! digits, every group but the last prefixed with `x` (1234067 is `x001/x234/067`, 5 is
//! `005`). `.p/<W>` (W in 1..=255, no leading zeros) marks a partial tile of width W.
//! Parsing accepts only the one canonical spelling of each tile.
//!
//! # Entry bundles
//!
//! The records behind level-0 tile `N`, each as a big-endian `u16` length followed by
//! that many bytes, concatenated. Record `i` of the bundle hashes (RFC 6962 leaf hash)
//! to hash `i` of the level-0 tile.
//!
//! # Verified reading
//!
//! [`TileHashReader`] answers stored-hash reads for a tree of known size and root hash
//! from tiles fetched through a [`TileReader`], and authenticates every tile before using
//! it: the tiles on the tree's right edge must recompute the trusted root, and every other
//! tile must hash to the entry its parent tile holds for it. An untrusted tile server can
//! therefore only cause errors, never wrong answers.

use std::collections::HashMap;
use std::ops::Range;

use crate::merkle::{
    HASH_SIZE, Hash, HashReader, MAX_TREE_SIZE, MerkleError, checked_stored_hash_index, leaf_hash,
    node_hash, split_stored_hash_index, stored_hash_count,
};

/// Tree levels per tile: a full tile is a complete subtree of height 8.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u16 = 256;
/// Highest tile level a path may name.
pub const MAX_TILE_LEVEL: u8 = 63;
/// Largest record an entry bundle can carry (its length prefix is a `u16`).
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;

/// Malformed tiles, tile paths and entry bundles, and tiles that fail authentication.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// A tile level above [`MAX_TILE_LEVEL`].
    #[error("tile level {level} is above the maximum {MAX_TILE_LEVEL}")]
    Level { level: u8 },
    /// A tile width outside 1..=256.
    #[error("tile width {width} is outside 1..=256")]
    Width { width: u16 },
    /// A tile path that is not in canonical form; `reason` says which part is wrong.
    #[error("invalid tile path {path:?}: {reason}")]
    Path { path: String, reason: &'static str },
    /// A tile whose hashes lie beyond what stored hash indexes can address.
    #[error("tile at level {level} index {index} is beyond the largest supported tree")]
    TooFar { level: u8, index: u64 },
    /// Tile data of the wrong length for the tile's width.
    #[error("tile data for {path} is {got} bytes, expected {expected}")]
    DataLength {
        path: String,
        expected: usize,
        got: usize,
    },
    /// The tile that holds a stored hash is not the tile (or a wider version) supplied.
    #[error("stored hash index {index} is in tile {want}, not {got}")]
    WrongTile {
        index: u64,
        want: String,
        got: String,
    },
    /// A tile reader returned a different number of tiles than requested.
    #[error("tile reader returned {got} tiles for {expected} requested")]
    TileCount { expected: usize, got: usize },
    /// The tiles on the tree's edge do not recompute the trusted root hash.
    #[error("tiles do not match the trusted tree hash for size {size}")]
    RootMismatch { size: u64 },
    /// A tile does not hash to the entry its parent tile holds for it.
    #[error("tile {path} does not match its parent tile")]
    ParentMismatch { path: String },
    /// An entry too long for the bundle's `u16` length prefix.
    #[error("entry {index} is {len} bytes, more than the {MAX_ENTRY_SIZE} an entry bundle allows")]
    EntryTooLarge { index: usize, len: usize },
    /// A bundle with no entries (empty tiles are never served).
    #[error("entry bundle is empty")]
    EmptyBundle,
    /// More than 256 entries in a bundle.
    #[error("entry bundle has more than {TILE_WIDTH} entries")]
    TooManyEntries,
    /// A bundle that ends inside a length prefix or an entry.
    #[error("entry bundle truncated at byte {offset}")]
    Truncated { offset: usize },
    /// A bundle with a different number of entries than its tile's width.
    #[error("entry bundle has {got} entries, expected {expected}")]
    EntryCount { expected: usize, got: usize },
    /// A bundle entry that does not hash to the corresponding level-0 tile hash.
    #[error("entry {index} does not match its level-0 tile hash")]
    EntryMismatch { index: usize },
}

/// One tile: level, index within the level, and width (256 for a full tile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    level: u8,
    index: u64,
    width: u16,
}

/// What a tile path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TileKind {
    /// A Merkle tree tile, `tile/<L>/...`.
    Hash,
    /// An entry bundle, `tile/entries/...`; its [`Tile`] has level 0.
    Entries,
}

impl Tile {
    /// A tile; `level` must be at most 63 and `width` within 1..=256.
    pub fn new(level: u8, index: u64, width: u16) -> Result<Tile, TileError> {
        if level > MAX_TILE_LEVEL {
            return Err(TileError::Level { level });
        }
        if width == 0 || width > TILE_WIDTH {
            return Err(TileError::Width { width });
        }
        Ok(Tile {
            level,
            index,
            width,
        })
    }

    /// The tile's level: its hashes are tree hashes at tree level `8 * level`.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The tile's index within its level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Number of hashes (or entries) in the tile.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Whether the tile has all 256 hashes.
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// Length in bytes of this tile's hash data.
    pub fn data_len(&self) -> usize {
        usize::from(self.width) * HASH_SIZE
    }

    /// The hash tile's path, `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        format!("tile/{}/{}", self.level, self.suffix())
    }

    /// The path of the entry bundle with this tile's index and width,
    /// `tile/entries/<N>[.p/<W>]` (only meaningful for level-0 tiles).
    pub fn entries_path(&self) -> String {
        format!("tile/entries/{}", self.suffix())
    }

    fn suffix(&self) -> String {
        // Three-digit groups, most significant first, all but the last behind an `x`.
        let mut groups = Vec::with_capacity(7);
        let mut n = self.index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        let mut s = String::with_capacity(32);
        for (i, g) in groups.iter().rev().enumerate() {
            if i + 1 < groups.len() {
                s.push_str(&format!("x{g:03}/"));
            } else {
                s.push_str(&format!("{g:03}"));
            }
        }
        if !self.is_full() {
            s.push_str(&format!(".p/{}", self.width));
        }
        s
    }

    /// Parses a tile path (`tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`),
    /// accepting only the canonical spelling that [`Tile::path`] and
    /// [`Tile::entries_path`] produce.
    pub fn parse_path(path: &str) -> Result<(TileKind, Tile), TileError> {
        let err = |reason| TileError::Path {
            path: path.to_owned(),
            reason,
        };
        let segs: Vec<&str> = path.split('/').collect();
        let (first, rest) = segs.split_first().ok_or_else(|| err("empty"))?;
        if *first != "tile" {
            return Err(err("does not start with tile/"));
        }
        let (level_seg, rest) = rest.split_first().ok_or_else(|| err("missing level"))?;
        let (kind, level) = if *level_seg == "entries" {
            (TileKind::Entries, 0)
        } else {
            let level = parse_decimal(level_seg)
                .filter(|&l| l <= u64::from(MAX_TILE_LEVEL))
                .ok_or_else(|| err("level is not a canonical decimal in 0..=63"))?;
            (TileKind::Hash, level as u8)
        };
        // A partial tile's last index group carries `.p`, and the width follows it.
        let (groups, width) = match rest {
            [head @ .., last, w] if last.ends_with(".p") => {
                let width = parse_decimal(w)
                    .filter(|&w| (1..u64::from(TILE_WIDTH)).contains(&w))
                    .ok_or_else(|| err("width is not a canonical decimal in 1..=255"))?;
                let mut groups: Vec<&str> = head.to_vec();
                groups.push(&last[..last.len() - 2]);
                (groups, width as u16)
            }
            _ => (rest.to_vec(), TILE_WIDTH),
        };
        let (last, head) = groups.split_last().ok_or_else(|| err("missing index"))?;
        if head.len() > 6 {
            return Err(err("index has too many groups"));
        }
        let mut index: u64 = 0;
        for (i, g) in head.iter().enumerate() {
            let digits = g
                .strip_prefix('x')
                .ok_or_else(|| err("index group before the last lacks its x prefix"))?;
            let v = three_digits(digits).ok_or_else(|| err("index group is not three digits"))?;
            if i == 0 && v == 0 {
                return Err(err("index has a leading zero group"));
            }
            index = index * 1000 + v;
        }
        let v = three_digits(last).ok_or_else(|| err("index group is not three digits"))?;
        let index = index
            .checked_mul(1000)
            .and_then(|x| x.checked_add(v))
            .ok_or_else(|| err("index does not fit in 64 bits"))?;
        Ok((kind, Tile::new(level, index, width)?))
    }
}

impl std::fmt::Display for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path())
    }
}

/// A decimal without sign, leading zeros (other than "0" itself) or overflow.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// Exactly three ASCII digits.
fn three_digits(s: &str) -> Option<u64> {
    if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Tiles that exist for a tree of size `new` but not (or not at this width) for size
/// `old`: what a log publishes when it grows from `old` to `new`. Empty if `old >= new`.
pub fn new_tiles(old: u64, new: u64) -> impl Iterator<Item = Tile> {
    (0..=MAX_TILE_LEVEL).flat_map(move |level| {
        let shift = 8 * u32::from(level);
        let old_n = old.checked_shr(shift).unwrap_or(0);
        let new_n = new.checked_shr(shift).unwrap_or(0);
        // At this level, `new_n` hashes exist. Full tiles old_n/256 .. new_n/256 are new
        // (the first of them may have been partial before), plus new's partial tile.
        let (first, full_end) = if old_n < new_n {
            (old_n >> 8, new_n >> 8)
        } else {
            (0, 0)
        };
        let partial = (new_n & 0xff) as u16;
        let tail = (old_n < new_n && partial > 0).then_some(Tile {
            level,
            index: new_n >> 8,
            width: partial,
        });
        (first..full_end)
            .map(move |index| Tile {
                level,
                index,
                width: TILE_WIDTH,
            })
            .chain(tail)
    })
}

/// Every tile of a tree of size `n`, level by level, left to right. For the tiles a
/// client needs for particular hashes, use [`TileHashReader`] instead: this is the
/// whole tree (about n/255 tiles), produced lazily.
pub fn tiles_for_size(n: u64) -> impl Iterator<Item = Tile> {
    new_tiles(0, n)
}

/// The narrowest tile holding the hashes from which stored hash `index` is computed, and
/// the byte range of those hashes within the tile's data. For a hash at a tile level
/// (tree level `8L`) the range is that one hash; for hashes between tile levels it covers
/// the `2^k` tile hashes of its subtree.
pub fn tile_for_index(index: u64) -> Result<(Tile, Range<usize>), TileError> {
    let (level, n) = split_stored_hash_index(index);
    let tile_level = level / TILE_HEIGHT;
    let within = u32::from(level % TILE_HEIGHT);
    let too_far = TileError::TooFar {
        level: tile_level,
        index: n,
    };
    // First tile-level hash below (level, n), then its tile and position in the tile.
    let first = n
        .checked_shl(within)
        .filter(|&f| f >> within == n)
        .ok_or(too_far)?;
    let tile_index = first >> 8;
    let pos = (first & 0xff) as usize;
    let count = 1usize << within;
    let tile = Tile::new(tile_level, tile_index, (pos + count) as u16)?;
    Ok((tile, pos * HASH_SIZE..(pos + count) * HASH_SIZE))
}

/// Byte range of hash `i` (0-based) inside a tile's data.
pub fn hash_range(i: u16) -> Range<usize> {
    let start = usize::from(i) * HASH_SIZE;
    start..start + HASH_SIZE
}

/// The stored hash `index`, computed from `data`, the data of `tile`, which must be
/// [`tile_for_index`]'s tile or a wider one at the same position.
pub fn hash_from_tile(tile: &Tile, data: &[u8], index: u64) -> Result<Hash, TileError> {
    if data.len() != tile.data_len() {
        return Err(TileError::DataLength {
            path: tile.path(),
            expected: tile.data_len(),
            got: data.len(),
        });
    }
    let (want, range) = tile_for_index(index)?;
    if want.level != tile.level || want.index != tile.index || want.width > tile.width {
        return Err(TileError::WrongTile {
            index,
            want: want.path(),
            got: tile.path(),
        });
    }
    let bytes = data.get(range).ok_or(TileError::DataLength {
        path: tile.path(),
        expected: tile.data_len(),
        got: data.len(),
    })?;
    Ok(subtree_of_tile_hashes(bytes))
}

/// Hash of the complete subtree whose leaves are the `2^k` tile hashes in `data`.
fn subtree_of_tile_hashes(data: &[u8]) -> Hash {
    let mut h = [0u8; HASH_SIZE];
    if data.len() <= HASH_SIZE {
        // A single hash is its own subtree (callers never pass an empty range).
        let n = data.len();
        h[..n].copy_from_slice(data);
        return h;
    }
    let (l, r) = data.split_at(data.len() / 2);
    node_hash(&subtree_of_tile_hashes(l), &subtree_of_tile_hashes(r))
}

/// Stored hash index of tile hash `i` of `tile`, if addressable.
fn tile_hash_index(tile: &Tile, i: u16) -> Option<u64> {
    let n = tile.index.checked_mul(256)?.checked_add(u64::from(i))?;
    let level = tile.level.checked_mul(TILE_HEIGHT)?;
    checked_stored_hash_index(level, n)
}

/// Builds `tile`'s data from stored hashes, e.g. to serve a log's tiles.
pub fn read_tile_data(tile: &Tile, r: &impl HashReader) -> Result<Vec<u8>, MerkleError> {
    let indexes = (0..tile.width)
        .map(|i| tile_hash_index(tile, i))
        .collect::<Option<Vec<u64>>>()
        .ok_or(TileError::TooFar {
            level: tile.level,
            index: tile.index,
        })?;
    let hashes = r.read_hashes(&indexes)?;
    if hashes.len() != indexes.len() {
        return Err(MerkleError::HashCount {
            expected: indexes.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes.concat())
}

/// Source of tile data, typically an HTTP client of a tile server; not trusted.
pub trait TileReader {
    /// Returns the data of each tile, in order (one entry per tile).
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, MerkleError>;

    /// Called with tiles once they have been authenticated, so they can be cached.
    fn save_tiles(&self, _tiles: &[Tile], _data: &[Vec<u8>]) {}
}

impl<T: TileReader + ?Sized> TileReader for &T {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, MerkleError> {
        (**self).read_tiles(tiles)
    }
    fn save_tiles(&self, tiles: &[Tile], data: &[Vec<u8>]) {
        (**self).save_tiles(tiles, data)
    }
}

/// The `k`-th ancestor of `tile` in a tree of size `size`, as wide as that tree makes it,
/// or `None` if the tree has no hashes there.
fn tile_parent(tile: &Tile, k: u8, size: u64) -> Option<Tile> {
    let level = tile.level.checked_add(k)?;
    let index = tile.index.checked_shr(8 * u32::from(k))?;
    // Hashes that exist at this tile level in the tree.
    let avail = size.checked_shr(8 * u32::from(level)).unwrap_or(0);
    let start = index.checked_mul(256)?;
    if start >= avail {
        return None;
    }
    let width = (avail - start).min(u64::from(TILE_WIDTH)) as u16;
    Tile::new(level, index, width).ok()
}

/// A [`HashReader`] for the tree of size `size` with root hash `root`, reading tiles
/// through an untrusted [`TileReader`] and authenticating each one before use.
#[derive(Debug, Clone)]
pub struct TileHashReader<R> {
    size: u64,
    root: Hash,
    tiles: R,
}

impl<R: TileReader> TileHashReader<R> {
    /// A reader for the tree of `size` records whose (already verified) root is `root`.
    pub fn new(size: u64, root: Hash, tiles: R) -> Self {
        TileHashReader { size, root, tiles }
    }

    /// The tree size this reader serves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash every tile is checked against.
    pub fn root(&self) -> &Hash {
        &self.root
    }
}

/// Plan of tiles to fetch: each tile once, parents before the children they vouch for.
struct TilePlan {
    tiles: Vec<Tile>,
    order: HashMap<Tile, usize>,
}

impl TilePlan {
    fn add(&mut self, tile: Tile) -> usize {
        if let Some(&i) = self.order.get(&tile) {
            return i;
        }
        self.order.insert(tile, self.tiles.len());
        self.tiles.push(tile);
        self.tiles.len() - 1
    }
}

impl<R: TileReader> HashReader for TileHashReader<R> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let size = self.size;
        if size > MAX_TREE_SIZE {
            return Err(MerkleError::TreeTooLarge {
                size,
                max: MAX_TREE_SIZE,
            });
        }
        let count = stored_hash_count(size);
        if let Some(&bad) = indexes.iter().find(|&&x| x >= count) {
            return Err(MerkleError::StoredIndexOutOfRange { index: bad, count });
        }
        let mut plan = TilePlan {
            tiles: Vec::new(),
            order: HashMap::new(),
        };

        // First the tiles on the tree's right edge: together they recompute the root, which
        // authenticates all of their bytes (every hash they hold is part of the root's
        // decomposition into complete subtrees).
        let mut edge = Vec::with_capacity(64);
        let mut lo = 0u64;
        while lo < size {
            let level = 63 - (size - lo).leading_zeros();
            let index = checked_stored_hash_index(level as u8, lo >> level).ok_or(
                MerkleError::TreeTooLarge {
                    size,
                    max: MAX_TREE_SIZE,
                },
            )?;
            let (tile, _) = tile_for_index(index)?;
            let wide = tile_parent(&tile, 0, size).ok_or(TileError::TooFar {
                level: tile.level,
                index: tile.index,
            })?;
            edge.push((index, plan.add(wide)));
            lo += 1u64 << level;
        }
        let edge_tiles = plan.tiles.len();

        // Then, for each requested hash, its tile and any ancestors up to one already
        // planned; those ancestors vouch for it. Only full tiles have parents, so every
        // tile added here is full.
        let mut source = Vec::with_capacity(indexes.len());
        for &x in indexes {
            let (tile, _) = tile_for_index(x)?;
            let mut chain = Vec::new();
            let mut k = 0u8;
            let found = loop {
                let p = tile_parent(&tile, k, size).ok_or(TileError::TooFar {
                    level: tile.level,
                    index: tile.index,
                })?;
                if let Some(&i) = plan.order.get(&p) {
                    break i;
                }
                chain.push(p);
                k = k.checked_add(1).ok_or(TileError::TooFar {
                    level: tile.level,
                    index: tile.index,
                })?;
            };
            let mut at = found;
            for p in chain.into_iter().rev() {
                at = plan.add(p);
            }
            source.push(at);
        }

        let data = self.tiles.read_tiles(&plan.tiles)?;
        if data.len() != plan.tiles.len() {
            return Err(TileError::TileCount {
                expected: plan.tiles.len(),
                got: data.len(),
            }
            .into());
        }
        for (tile, bytes) in plan.tiles.iter().zip(&data) {
            if bytes.len() != tile.data_len() {
                return Err(TileError::DataLength {
                    path: tile.path(),
                    expected: tile.data_len(),
                    got: bytes.len(),
                }
                .into());
            }
        }
        let tile_data = |i: usize| -> Result<(&Tile, &[u8]), MerkleError> {
            match (plan.tiles.get(i), data.get(i)) {
                (Some(t), Some(d)) => Ok((t, d.as_slice())),
                _ => Err(TileError::TileCount {
                    expected: plan.tiles.len(),
                    got: data.len(),
                }
                .into()),
            }
        };

        // Authenticate the edge tiles against the trusted root.
        let mut root: Option<Hash> = None;
        for &(index, i) in edge.iter().rev() {
            let (t, d) = tile_data(i)?;
            let h = hash_from_tile(t, d, index)?;
            root = Some(match root {
                None => h,
                Some(right) => node_hash(&h, &right),
            });
        }
        if root != Some(self.root) {
            return Err(TileError::RootMismatch { size }.into());
        }

        // Authenticate every other tile against its parent, which was planned (and so
        // authenticated) before it.
        for i in edge_tiles..plan.tiles.len() {
            let (t, d) = tile_data(i)?;
            let parent = tile_parent(t, 1, size).ok_or(TileError::TooFar {
                level: t.level,
                index: t.index,
            })?;
            let &j = plan
                .order
                .get(&parent)
                .ok_or(TileError::ParentMismatch { path: t.path() })?;
            let (_, pd) = tile_data(j)?;
            let pos = (t.index & 0xff) as u16;
            let want = pd
                .get(hash_range(pos))
                .ok_or(TileError::ParentMismatch { path: t.path() })?;
            if !t.is_full() || subtree_of_tile_hashes(d) != want {
                return Err(TileError::ParentMismatch { path: t.path() }.into());
            }
        }
        self.tiles.save_tiles(&plan.tiles, &data);

        indexes
            .iter()
            .zip(&source)
            .map(|(&x, &i)| {
                let (t, d) = tile_data(i)?;
                Ok(hash_from_tile(t, d, x)?)
            })
            .collect()
    }
}

/// Encodes records as an entry bundle: each a big-endian `u16` length, then its bytes.
/// A bundle holds 1 to 256 records, each at most 65,535 bytes.
pub fn encode_entry_bundle(entries: &[&[u8]]) -> Result<Vec<u8>, TileError> {
    if entries.is_empty() {
        return Err(TileError::EmptyBundle);
    }
    if entries.len() > usize::from(TILE_WIDTH) {
        return Err(TileError::TooManyEntries);
    }
    let mut total = 0usize;
    for (index, e) in entries.iter().enumerate() {
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLarge {
            index,
            len: e.len(),
        })?;
        total += 2 + usize::from(len);
    }
    let mut out = Vec::with_capacity(total);
    for e in entries {
        out.extend_from_slice(&(e.len() as u16).to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Decodes an entry bundle into its records (borrowed from `bytes`). Rejects empty
/// bundles, more than 256 entries, and data that ends inside a length or an entry.
pub fn decode_entry_bundle(bytes: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    if bytes.is_empty() {
        return Err(TileError::EmptyBundle);
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if out.len() == usize::from(TILE_WIDTH) {
            return Err(TileError::TooManyEntries);
        }
        let offset = bytes.len() - rest.len();
        let (len, tail) = rest
            .split_first_chunk::<2>()
            .ok_or(TileError::Truncated { offset })?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(TileError::Truncated { offset });
        }
        let (entry, tail) = tail.split_at(len);
        out.push(entry);
        rest = tail;
    }
    Ok(out)
}

/// Decodes the entry bundle of `tile` and checks it against the tile: exactly `width`
/// entries, each hashing to the matching hash of `tile_data` (the authenticated level-0
/// tile with the same index and width).
pub fn check_entry_bundle<'a>(
    tile: &Tile,
    bundle: &'a [u8],
    tile_data: &[u8],
) -> Result<Vec<&'a [u8]>, TileError> {
    if tile_data.len() != tile.data_len() {
        return Err(TileError::DataLength {
            path: tile.path(),
            expected: tile.data_len(),
            got: tile_data.len(),
        });
    }
    let entries = decode_entry_bundle(bundle)?;
    if entries.len() != usize::from(tile.width) {
        return Err(TileError::EntryCount {
            expected: usize::from(tile.width),
            got: entries.len(),
        });
    }
    for (index, (e, h)) in entries
        .iter()
        .zip(tile_data.chunks_exact(HASH_SIZE))
        .enumerate()
    {
        if leaf_hash(e).as_slice() != h {
            return Err(TileError::EntryMismatch { index });
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{MemoryLog, prove_record, prove_tree, stored_hash_index, tree_hash};
    use proptest::prelude::*;
    use std::cell::RefCell;

    fn t(level: u8, index: u64, width: u16) -> Tile {
        Tile::new(level, index, width).unwrap()
    }

    #[test]
    fn paths() {
        assert_eq!(t(0, 1234067, 256).path(), "tile/0/x001/x234/067");
        assert_eq!(t(0, 0, 256).path(), "tile/0/000");
        assert_eq!(t(3, 5, 7).path(), "tile/3/005.p/7");
        assert_eq!(t(1, 1000, 255).path(), "tile/1/x001/000.p/255");
        assert_eq!(
            t(0, 1234067, 12).entries_path(),
            "tile/entries/x001/x234/067.p/12"
        );
        assert_eq!(
            t(63, u64::MAX, 1).path(),
            "tile/63/x018/x446/x744/x073/x709/x551/615.p/1"
        );
        for tile in [
            t(0, 1234067, 256),
            t(0, 0, 1),
            t(63, u64::MAX, 256),
            t(7, 999, 100),
            t(2, 1000, 256),
            t(0, 999_999, 3),
        ] {
            assert_eq!(Tile::parse_path(&tile.path()), Ok((TileKind::Hash, tile)));
            assert_eq!(
                Tile::parse_path(&tile.entries_path()).map(|p| p.0),
                Ok(TileKind::Entries)
            );
        }
        assert_eq!(
            Tile::parse_path("tile/entries/x001/x234/067.p/12"),
            Ok((TileKind::Entries, t(0, 1234067, 12)))
        );
    }

    #[test]
    fn malformed_paths() {
        for bad in [
            "",
            "tile",
            "tile/",
            "tile/0",
            "tile/0/",
            "/tile/0/000",
            "tiles/0/000",
            "tile/00/000",
            "tile/01/000",
            "tile/64/000",
            "tile/+1/000",
            "tile/-0/000",
            "tile/256/000",
            "tile/99999999999999999999999/000",
            "tile/0/0",
            "tile/0/00",
            "tile/0/0000",
            "tile/0/1",
            "tile/0/abc",
            "tile/0/x001",
            "tile/0/001/002",
            "tile/0/x000/001",
            "tile/0/x01/001",
            "tile/0/x0001/001",
            "tile/0/y001/001",
            "tile/0/x001/x001",
            "tile/0/000.p/256",
            "tile/0/000.p/0",
            "tile/0/000.p/007",
            "tile/0/000.p/",
            "tile/0/000.p",
            "tile/0/000.p/1/2",
            "tile/0/000.p/1/",
            "tile/0/000/",
            "tile/0/000.q/5",
            "tile/0/000/extra",
            "tile/64/000.p/5",
            "tile/entries/000.p/256",
            "tile/entries/x000/001",
            "tile/entries",
            "tile/data/000",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/0/x001/x018/x446/x744/x073/x709/x551/615",
            "tile/0/x999/x999/x999/x999/x999/x999/999",
            "tile/0/\u{0660}00",
            "tile/0/ 000",
        ] {
            assert!(Tile::parse_path(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn constructor_validates() {
        assert!(Tile::new(0, 0, 0).is_err());
        assert!(Tile::new(0, 0, 257).is_err());
        assert!(Tile::new(64, 0, 1).is_err());
        assert!(Tile::new(63, u64::MAX, 256).is_ok());
    }

    #[test]
    fn spec_example_70000() {
        let tiles: Vec<Tile> = tiles_for_size(70_000).collect();
        let full0 = tiles.iter().filter(|x| x.level == 0 && x.is_full()).count();
        assert_eq!(full0, 273);
        let rest: Vec<Tile> = tiles
            .into_iter()
            .filter(|x| !(x.level == 0 && x.is_full()))
            .collect();
        assert_eq!(
            rest,
            vec![t(0, 273, 112), t(1, 0, 256), t(1, 1, 17), t(2, 0, 1)]
        );
        assert_eq!(
            tiles_for_size(256).collect::<Vec<_>>(),
            vec![t(0, 0, 256), t(1, 0, 1)]
        );
        let paths: Vec<String> = rest.iter().map(Tile::path).collect();
        assert_eq!(
            paths,
            [
                "tile/0/273.p/112",
                "tile/1/000",
                "tile/1/001.p/17",
                "tile/2/000.p/1"
            ]
        );
        assert_eq!(t(0, 273, 112).entries_path(), "tile/entries/273.p/112");
        assert_eq!(tiles_for_size(0).count(), 0);
        assert_eq!(tiles_for_size(1).collect::<Vec<_>>(), vec![t(0, 0, 1)]);
        // Lazy: enormous trees cost nothing until iterated.
        let mut it = tiles_for_size(u64::MAX);
        assert_eq!(it.next(), Some(t(0, 0, 256)));
    }

    #[test]
    fn new_tiles_growth() {
        assert_eq!(new_tiles(10, 10).count(), 0);
        assert_eq!(new_tiles(20, 10).count(), 0);
        assert_eq!(new_tiles(10, 20).collect::<Vec<_>>(), vec![t(0, 0, 20)]);
        assert_eq!(
            new_tiles(250, 600).collect::<Vec<_>>(),
            vec![t(0, 0, 256), t(0, 1, 256), t(0, 2, 88), t(1, 0, 2)]
        );
        // Union over growth steps covers the final tile set.
        let mut seen = std::collections::BTreeSet::new();
        let mut old = 0;
        for new in [1u64, 5, 255, 256, 257, 700, 65_536, 65_540] {
            seen.extend(new_tiles(old, new).filter(|x| {
                // Keep only tiles still current at the end (partials get superseded).
                tiles_for_size(65_540).any(|y| y == *x)
            }));
            old = new;
        }
        let all: std::collections::BTreeSet<Tile> = tiles_for_size(65_540).collect();
        assert_eq!(seen, all);
    }

    #[test]
    fn tile_for_index_cases() {
        // Leaf 1234067*256 + 5 is hash 5 of level-0 tile 1234067.
        let idx = stored_hash_index(0, 1234067 * 256 + 5);
        let (tile, range) = tile_for_index(idx).unwrap();
        assert_eq!(tile, t(0, 1234067, 6));
        assert_eq!(range, 160..192);
        // Level 3, n = 2: the 8 tile hashes 16..24 of level-0 tile 0.
        let (tile, range) = tile_for_index(stored_hash_index(3, 2)).unwrap();
        assert_eq!(tile, t(0, 0, 24));
        assert_eq!(range, 16 * 32..24 * 32);
        // Level 8 is level-1 tile hashes.
        let (tile, range) = tile_for_index(stored_hash_index(8, 300)).unwrap();
        assert_eq!(tile, t(1, 1, 45));
        assert_eq!(range, 44 * 32..45 * 32);
        assert!(tile_for_index(u64::MAX).is_ok());
    }

    fn log_of(n: u64) -> MemoryLog {
        let mut log = MemoryLog::new();
        for i in 0..n {
            log.append(format!("entry {i}").as_bytes());
        }
        log
    }

    /// Serves tiles computed from a MemoryLog, optionally tampering with one, and
    /// records what was requested.
    struct Server<'a> {
        log: &'a MemoryLog,
        tamper: Option<(Tile, usize)>,
        requests: RefCell<Vec<Tile>>,
    }

    impl TileReader for Server<'_> {
        fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, MerkleError> {
            self.requests.borrow_mut().extend_from_slice(tiles);
            tiles
                .iter()
                .map(|tile| {
                    let mut d = read_tile_data(tile, self.log)?;
                    if let Some((bad, byte)) = self.tamper
                        && bad == *tile
                    {
                        let at = byte % d.len();
                        d[at] ^= 1;
                    }
                    Ok(d)
                })
                .collect()
        }
    }

    fn server(log: &MemoryLog) -> Server<'_> {
        Server {
            log,
            tamper: None,
            requests: RefCell::new(Vec::new()),
        }
    }

    #[test]
    fn tile_reader_matches_direct() {
        for size in [
            1u64, 2, 255, 256, 257, 511, 512, 1000, 65_536, 65_537, 70_000,
        ] {
            let log = log_of(size);
            let root = log.root();
            let srv = server(&log);
            let r = TileHashReader::new(size, root, &srv);
            assert_eq!(tree_hash(size, &r).unwrap(), root, "size {size}");
            for n in [0, size / 3, size / 2, size - 1] {
                assert_eq!(
                    prove_record(size, n, &r).unwrap(),
                    prove_record(size, n, &log).unwrap()
                );
                if n > 0 {
                    assert_eq!(
                        prove_tree(size, n, &r).unwrap(),
                        prove_tree(size, n, &log).unwrap()
                    );
                }
            }
            // Reading every stored hash of a small tree through tiles.
            if size <= 1000 {
                let all: Vec<u64> = (0..stored_hash_count(size)).collect();
                assert_eq!(r.read_hashes(&all).unwrap(), log.stored());
            }
            // Every tile requested exists for this size.
            for tile in srv.requests.borrow().iter() {
                assert!(
                    tiles_for_size(size).any(|x| x == *tile),
                    "{tile} not in tree {size}"
                );
            }
        }
    }

    #[test]
    fn tampered_tiles_detected() {
        let size = 70_000u64;
        let log = log_of(size);
        let root = log.root();
        // Tamper each tile the reads below touch, one at a time.
        let srv = server(&log);
        let r = TileHashReader::new(size, root, &srv);
        let idx = [
            stored_hash_index(0, 12345),
            stored_hash_index(8, 3),
            stored_hash_index(0, 69_999),
        ];
        let want = r.read_hashes(&idx).unwrap();
        let touched = srv.requests.borrow().clone();
        assert!(touched.len() >= 4);
        for tile in touched {
            for byte in [0usize, 31, 4000, 8191] {
                let srv = Server {
                    log: &log,
                    tamper: Some((tile, byte)),
                    requests: RefCell::new(Vec::new()),
                };
                let r = TileHashReader::new(size, root, &srv);
                match r.read_hashes(&idx) {
                    Err(_) => {}
                    Ok(got) => panic!(
                        "tampered {tile} byte {byte} accepted (same={})",
                        got == want
                    ),
                }
            }
        }
        // A wrong root fails even with honest tiles.
        let mut bad = root;
        bad[0] ^= 1;
        assert!(
            TileHashReader::new(size, bad, &srv)
                .read_hashes(&idx)
                .is_err()
        );
        // A root for a different size fails too.
        assert!(
            TileHashReader::new(size - 1, root, &srv)
                .read_hashes(&idx)
                .is_err()
        );
        // Indexes outside the tree are refused before anything is fetched.
        let r = TileHashReader::new(size, root, &srv);
        assert!(r.read_hashes(&[stored_hash_count(size)]).is_err());
        assert!(r.read_hashes(&[u64::MAX]).is_err());
        assert_eq!(r.read_hashes(&[]).unwrap(), Vec::<Hash>::new());
        assert!(
            TileHashReader::new(u64::MAX, root, &srv)
                .read_hashes(&[0])
                .is_err()
        );
        assert!(
            TileHashReader::new(0, root, &srv)
                .read_hashes(&[0])
                .is_err()
        );
    }

    struct Liar(usize, usize);
    impl TileReader for Liar {
        fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, MerkleError> {
            Ok(vec![vec![0; self.1]; tiles.len() + self.0])
        }
    }

    #[test]
    fn lying_tile_readers() {
        for liar in [
            Liar(1, 8192),
            Liar(0, 0),
            Liar(0, 31),
            Liar(0, 8192),
            Liar(0, 32),
        ] {
            let r = TileHashReader::new(1000, [0; 32], &liar);
            assert!(r.read_hashes(&[0, 5, 1990]).is_err());
        }
    }

    #[test]
    fn hash_from_tile_checks() {
        let log = log_of(600);
        let tile = t(0, 1, 256);
        let data = read_tile_data(&tile, &log).unwrap();
        assert_eq!(
            hash_from_tile(&tile, &data, stored_hash_index(0, 300)).unwrap(),
            log.stored()[stored_hash_index(0, 300) as usize]
        );
        assert_eq!(
            hash_from_tile(&tile, &data, stored_hash_index(8, 1)).map_err(|_| ()),
            Err(())
        );
        assert!(hash_from_tile(&tile, &data[1..], stored_hash_index(0, 300)).is_err());
        assert!(hash_from_tile(&t(0, 1, 10), &data[..320], stored_hash_index(0, 300)).is_err());
        // The level-8 hash of leaves 256..512 is the hash of the whole level-0 tile 1.
        let (t8, _) = tile_for_index(stored_hash_index(8, 1)).unwrap();
        assert_eq!(t8, t(1, 0, 2));
        assert_eq!(
            subtree_of_tile_hashes(&data),
            log.stored()[stored_hash_index(8, 1) as usize]
        );
        assert!(read_tile_data(&t(63, u64::MAX, 256), &log).is_err());
        assert!(read_tile_data(&t(0, 10, 256), &log).is_err());
    }

    #[test]
    fn bundles() {
        let a: &[u8] = b"hello";
        let empty: &[u8] = b"";
        let enc = encode_entry_bundle(&[a, empty, b"xy"]).unwrap();
        assert_eq!(enc, b"\x00\x05hello\x00\x00\x00\x02xy");
        assert_eq!(decode_entry_bundle(&enc).unwrap(), vec![a, empty, b"xy"]);
        assert_eq!(encode_entry_bundle(&[]), Err(TileError::EmptyBundle));
        assert_eq!(decode_entry_bundle(&[]), Err(TileError::EmptyBundle));
        let big = vec![0u8; 65_536];
        assert_eq!(
            encode_entry_bundle(&[a, &big]),
            Err(TileError::EntryTooLarge {
                index: 1,
                len: 65_536
            })
        );
        let max = vec![7u8; 65_535];
        let enc = encode_entry_bundle(&[&max]).unwrap();
        assert_eq!(decode_entry_bundle(&enc).unwrap(), vec![&max[..]]);
        let many: Vec<&[u8]> = vec![a; 257];
        assert_eq!(encode_entry_bundle(&many), Err(TileError::TooManyEntries));
        let full = encode_entry_bundle(&many[..256]).unwrap();
        assert_eq!(decode_entry_bundle(&full).unwrap().len(), 256);
        let mut over = full.clone();
        over.extend_from_slice(b"\x00\x00");
        assert_eq!(decode_entry_bundle(&over), Err(TileError::TooManyEntries));
        over.truncate(full.len() + 1);
        assert_eq!(decode_entry_bundle(&over), Err(TileError::TooManyEntries));
        for bad in [
            &b"\x00"[..],
            b"\x00\x05hell",
            b"\x00\x01a\x00",
            b"\x00\x01a\x00\x02b",
            b"\xff\xff",
        ] {
            assert!(
                matches!(decode_entry_bundle(bad), Err(TileError::Truncated { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bundle_against_tile() {
        let log = log_of(300);
        let tile = t(0, 1, 44);
        let data = read_tile_data(&tile, &log).unwrap();
        let entries: Vec<String> = (256..300).map(|i| format!("entry {i}")).collect();
        let refs: Vec<&[u8]> = entries.iter().map(|e| e.as_bytes()).collect();
        let bundle = encode_entry_bundle(&refs).unwrap();
        assert_eq!(check_entry_bundle(&tile, &bundle, &data).unwrap(), refs);
        let mut swapped = refs.clone();
        swapped.swap(3, 4);
        let bundle2 = encode_entry_bundle(&swapped).unwrap();
        assert_eq!(
            check_entry_bundle(&tile, &bundle2, &data),
            Err(TileError::EntryMismatch { index: 3 })
        );
        let short = encode_entry_bundle(&refs[..43]).unwrap();
        assert!(matches!(
            check_entry_bundle(&tile, &short, &data),
            Err(TileError::EntryCount { .. })
        ));
        assert!(check_entry_bundle(&tile, &bundle, &data[..32]).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn path_roundtrip(level in 0u8..=63, index in any::<u64>(), width in 1u16..=256) {
            let tile = Tile::new(level, index, width).unwrap();
            prop_assert_eq!(Tile::parse_path(&tile.path()), Ok((TileKind::Hash, tile)));
            let e = Tile::new(0, index, width).unwrap();
            prop_assert_eq!(Tile::parse_path(&e.entries_path()), Ok((TileKind::Entries, e)));
        }

        #[test]
        fn parse_never_panics(s in "(tile|tile/entries|[a-z0-9x./]{0,6})(/[0-9xp.]{0,5}){0,9}") {
            if let Ok((kind, tile)) = Tile::parse_path(&s) {
                let canon = match kind {
                    TileKind::Hash => tile.path(),
                    TileKind::Entries => tile.entries_path(),
                };
                prop_assert_eq!(canon, s);
            }
        }

        #[test]
        fn bundle_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(entries) = decode_entry_bundle(&bytes) {
                prop_assert_eq!(encode_entry_bundle(&entries).unwrap(), bytes);
            }
        }

        #[test]
        fn tile_for_index_total(index in any::<u64>()) {
            if let Ok((tile, range)) = tile_for_index(index) {
                prop_assert!(range.end <= tile.data_len());
                prop_assert!(range.start < range.end);
            }
        }
    }
}
