//! Hash tiles: packing stored hashes into one row per 256 hashes of a level, and reading
//! any Merkle node hash back from them (see `layout` for which levels are stored).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use quorate_proto::merkle::{self, Hash, HashReader, MerkleError};
use redb::{AccessGuard, ReadableTable};

use super::StoreError;
use super::layout::name;
use super::layout::{LEVEL_STRIDE, TILE_ROW as WIDTH};

const HASH: usize = 32;

/// Number of hashes tile `(level, index)` holds in a tree of `size` entries (0 if the
/// tree has none of its hashes yet).
pub(crate) fn tile_width(size: u64, level: u8, index: u64) -> u64 {
    let on_level = if level >= 64 { 0 } else { size >> level };
    on_level
        .saturating_sub(index.saturating_mul(WIDTH))
        .min(WIDTH)
}

/// Checks a tile value read from disk: its length must be exactly `32 * width` for the
/// tree it belongs to, so a truncated, padded or foreign value is an error, not a
/// short read.
pub(crate) fn check_tile(level: u8, index: u64, width: u64, data: &[u8]) -> Result<(), StoreError> {
    let want = width as usize * HASH;
    if data.len() != want {
        return Err(super::corrupt(
            name::TILES,
            (level, index),
            format!(
                "{} bytes, expected {want} ({width} hashes of 32 bytes)",
                data.len()
            ),
        ));
    }
    Ok(())
}

/// Hash `at` of a checked tile.
fn hash_in(data: &[u8], at: u64) -> Hash {
    let at = at as usize * HASH;
    let mut h = [0u8; HASH];
    h.copy_from_slice(&data[at..at + HASH]);
    h
}

/// The hash of the complete subtree over hashes `first .. first + 2^depth` of one tile.
fn fold(data: &[u8], first: u64, depth: u8) -> Hash {
    if depth == 0 {
        return hash_in(data, first);
    }
    let half = 1u64 << (depth - 1);
    merkle::node_hash(
        &fold(data, first, depth - 1),
        &fold(data, first + half, depth - 1),
    )
}

/// Where hash `(level, n)` comes from: the stored level at or below it, the tile there,
/// the first position in that tile and how many levels to fold.
struct Source {
    base: u8,
    tile: u64,
    first: u64,
    depth: u8,
}

fn source(level: u8, n: u64) -> Source {
    let depth = level % LEVEL_STRIDE;
    let base = level - depth;
    // WIDTH is a multiple of 2^depth, so the 2^depth hashes are in one tile.
    let pos = n << depth;
    Source {
        base,
        tile: pos / WIDTH,
        first: pos % WIDTH,
        depth,
    }
}

/// Full hash rows of the upper stored levels, kept decoded in memory across snapshots.
///
/// Why: an inclusion proof reads one row per stored level (12 at 10M entries), and the
/// profile of proofs at 6.4M entries (bench/profile-proof10m.txt) spent about three
/// quarters of a proof's CPU in redb fetching those rows. The rows of levels
/// [`RowCache::MIN_LEVEL`] and up are few (at 10M entries about 3,300 of 8 KiB: 26 MB,
/// 2.6 B per entry) and every proof reads one of each, so a proof is left with the two
/// lowest levels' rows to fetch. Only full rows are kept, and a full row never changes:
/// each of its hashes is the root of a complete subtree of an append-only log, so it is
/// right for every snapshot that contains the subtree, older or newer than the one that
/// read it. Bounded by [`RowCache::MAX_BYTES`]: past it, rows are read from the table as
/// before.
/// Full rows by `(level, row index)`.
type Rows = HashMap<(u8, u64), Arc<[u8]>>;

#[derive(Debug)]
pub(crate) struct RowCache {
    rows: RwLock<Rows>,
    min_level: u8,
}

impl Default for RowCache {
    fn default() -> RowCache {
        RowCache {
            rows: RwLock::default(),
            min_level: Self::MIN_LEVEL,
        }
    }
}

impl RowCache {
    /// Lowest stored level kept: level 4 has 1/16 as many hashes as entries.
    pub(crate) const MIN_LEVEL: u8 = 4;
    /// At most this many bytes of rows (64 MiB: a log of about 25M entries).
    pub(crate) const MAX_BYTES: usize = 64 << 20;

    fn get(&self, key: (u8, u64)) -> Option<Arc<[u8]>> {
        let rows = self.rows.read().unwrap_or_else(|p| p.into_inner());
        rows.get(&key).cloned()
    }

    /// Keeps a full, checked row.
    fn keep(&self, key: (u8, u64), data: &[u8]) {
        let mut rows = self.rows.write().unwrap_or_else(|p| p.into_inner());
        if (rows.len() + 1) * data.len() <= Self::MAX_BYTES {
            rows.entry(key).or_insert_with(|| Arc::from(data));
        }
    }
}

/// Reads hashes out of the tile table of a tree of `size` entries, with the tiles a
/// write transaction has changed but not yet written (`pending`) taking precedence, and
/// full upper rows from `cache` when given.
pub(crate) struct TileReader<'a, T> {
    pub(crate) table: &'a T,
    pub(crate) size: u64,
    pub(crate) pending: Option<&'a BTreeMap<(u8, u64), Vec<u8>>>,
    pub(crate) cache: Option<&'a RowCache>,
}

enum Got<'a> {
    Pending(&'a [u8]),
    Stored(AccessGuard<'a, &'static [u8]>),
    Cached(Arc<[u8]>),
}

impl Got<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Got::Pending(b) => b,
            Got::Stored(g) => g.value(),
            Got::Cached(b) => b,
        }
    }
}

impl<'a, T> TileReader<'a, T>
where
    T: ReadableTable<(u8, u64), &'static [u8]>,
{
    fn get(&self, level: u8, index: u64) -> Result<Got<'a>, StoreError> {
        if let Some(b) = self.pending.and_then(|p| p.get(&(level, index))) {
            return Ok(Got::Pending(b));
        }
        let cache = self.cache.filter(|c| level >= c.min_level);
        if let Some(row) = cache.and_then(|c| c.get((level, index))) {
            return Ok(Got::Cached(row));
        }
        let width = tile_width(self.size, level, index);
        match self.table.get((level, index))? {
            Some(g) => {
                check_tile(level, index, width, g.value())?;
                if width == WIDTH
                    && let Some(c) = cache
                {
                    c.keep((level, index), g.value());
                }
                Ok(Got::Stored(g))
            }
            None => Err(super::corrupt(name::TILES, (level, index), "missing")),
        }
    }

    /// Hash `(level, n)`, which must be inside the tree.
    pub(crate) fn hash(&self, level: u8, n: u64) -> Result<Hash, StoreError> {
        let s = source(level, n);
        let tile = self.get(s.base, s.tile)?;
        self.hash_from(&tile, &s, level, n)
    }

    fn hash_from(&self, tile: &Got<'_>, s: &Source, level: u8, n: u64) -> Result<Hash, StoreError> {
        let data = tile.bytes();
        let need = (s.first + (1u64 << s.depth)) as usize * HASH;
        if data.len() < need {
            // A pending tile shorter than asked: the caller asked beyond the tree.
            return Err(super::corrupt(
                name::TILES,
                (s.base, s.tile),
                format!(
                    "hash ({level}, {n}) is beyond the tile's {} bytes",
                    data.len()
                ),
            ));
        }
        Ok(fold(data, s.first, s.depth))
    }

    /// Hashes `start..end` of stored `level` (inside the tree), from the one or more
    /// rows they span: for serving C2SP tiles (their levels are multiples of 8, so always
    /// stored).
    pub(crate) fn level_range(
        &self,
        level: u8,
        start: u64,
        end: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        debug_assert_eq!(level % LEVEL_STRIDE, 0);
        let mut out = Vec::with_capacity(end.saturating_sub(start).min(4 * WIDTH) as usize);
        let mut at = start;
        while at < end {
            let row = at / WIDTH;
            let got = self.get(level, row)?;
            let data = got.bytes();
            let stop = end.min((row + 1) * WIDTH);
            for p in at..stop {
                let off = (p - row * WIDTH) as usize * HASH;
                let Some(h) = data.get(off..off + HASH) else {
                    return Err(super::corrupt(
                        name::TILES,
                        (level, row),
                        format!("{} bytes, hash {p} asked for", data.len()),
                    ));
                };
                let mut x = [0u8; HASH];
                x.copy_from_slice(h);
                out.push(x);
            }
            at = stop;
        }
        Ok(out)
    }
}

impl<T> HashReader for TileReader<'_, T>
where
    T: ReadableTable<(u8, u64), &'static [u8]>,
{
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        // A proof asks for two hashes from most tiles it touches (a stored level and the
        // one above it): keep the tiles already fetched for this call.
        let mut held: Vec<((u8, u64), Got<'_>)> = Vec::new();
        let mut out = Vec::with_capacity(indexes.len());
        for &i in indexes {
            let (level, n) = merkle::split_stored_hash_index(i);
            if level >= 64 || tile_width(self.size, level, n / WIDTH) <= n % WIDTH {
                return Err(MerkleError::StoredIndexOutOfRange {
                    index: i,
                    count: merkle::stored_hash_count(self.size),
                });
            }
            let s = source(level, n);
            let key = (s.base, s.tile);
            let at = match held.iter().position(|(k, _)| *k == key) {
                Some(p) => p,
                None => {
                    let got = self
                        .get(s.base, s.tile)
                        .map_err(|e| MerkleError::Storage(e.to_string()))?;
                    held.push((key, got));
                    held.len() - 1
                }
            };
            let h = self
                .hash_from(&held[at].1, &s, level, n)
                .map_err(|e| MerkleError::Storage(e.to_string()))?;
            out.push(h);
        }
        Ok(out)
    }
}

/// The tiles a batch changes, kept in memory until the batch is written.
#[derive(Default)]
pub(crate) struct TileWriter {
    pub(crate) pending: BTreeMap<(u8, u64), Vec<u8>>,
}

impl TileWriter {
    /// Records the hashes record `n` completes (`hashes[i]` is at level `i`, index
    /// `n >> i`, as `merkle::stored_hashes_for_record_hash` returns them), keeping the
    /// stored levels. `table` holds the tree of `old_size` entries the batch started
    /// from; a tile is loaded from it the first time the batch touches it.
    pub(crate) fn add<T>(
        &mut self,
        table: &T,
        old_size: u64,
        n: u64,
        hashes: &[Hash],
    ) -> Result<(), StoreError>
    where
        T: ReadableTable<(u8, u64), &'static [u8]>,
    {
        for (level, h) in hashes.iter().enumerate() {
            let level = level as u8;
            if !level.is_multiple_of(LEVEL_STRIDE) {
                continue;
            }
            let pos = n >> level;
            let key = (level, pos / WIDTH);
            let tile = match self.pending.entry(key) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    let width = tile_width(old_size, key.0, key.1);
                    let existing = match table.get(key)? {
                        Some(g) => {
                            check_tile(key.0, key.1, width, g.value())?;
                            g.value().to_vec()
                        }
                        None if width == 0 => Vec::with_capacity(WIDTH as usize * HASH),
                        None => return Err(super::corrupt(name::TILES, key, "missing")),
                    };
                    v.insert(existing)
                }
            };
            if tile.len() as u64 != (pos % WIDTH) * HASH as u64 {
                return Err(super::corrupt(
                    name::TILES,
                    key,
                    format!(
                        "holds {} bytes, but hash ({level}, {pos}) goes at byte {}",
                        tile.len(),
                        (pos % WIDTH) * HASH as u64
                    ),
                ));
            }
            tile.extend_from_slice(h);
        }
        Ok(())
    }

    /// Writes every changed tile.
    pub(crate) fn write(
        self,
        table: &mut redb::Table<'_, (u8, u64), &'static [u8]>,
    ) -> Result<(), StoreError> {
        for (key, data) in &self.pending {
            table.insert(*key, data.as_slice())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::layout::TILES;
    use quorate_proto::merkle::MemoryLog;
    use redb::{Database, ReadableDatabase};

    fn build(n: u64) -> (tempfile::TempDir, Database, MemoryLog) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("t.redb")).unwrap();
        // Several batches, so partial tiles are loaded, extended and rewritten.
        let mut done = 0u64;
        for step in [1u64, 300, 7, 600, 1000] {
            let upto = (done + step).min(n);
            grow(&db, done, upto);
            done = upto;
        }
        (dir, db, memory_log(done))
    }

    #[test]
    fn tiles_round_trip_every_hash_and_proof() {
        let n = 1500;
        let (_d, db, mem) = build(n);
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(TILES).unwrap();
        let r = reader(&table, n, None);
        let all: Vec<u64> = (0..merkle::stored_hash_count(n)).collect();
        assert_eq!(r.read_hashes(&all).unwrap(), mem.stored());
        assert_eq!(merkle::tree_hash(n, &r).unwrap(), mem.root());
        for i in [0, 1, 255, 256, 1023, 1499] {
            assert_eq!(
                merkle::prove_record(n, i, &r).unwrap(),
                merkle::prove_record(n, i, &mem.stored()).unwrap()
            );
        }
        // Only even levels are rows; level 0 row 5 holds the 230 leaves 1270..1500.
        assert!(table.get((1, 0)).unwrap().is_none());
        assert_eq!(table.get((0, 5)).unwrap().unwrap().value().len(), 230 * 32);
        assert_eq!(table.get((8, 0)).unwrap().unwrap().value().len(), 5 * 32);
        // A C2SP tile spanning two rows.
        assert_eq!(
            r.level_range(0, 256, 512).unwrap(),
            (256..512)
                .map(|i| mem.stored()[merkle::stored_hash_index(0, i) as usize])
                .collect::<Vec<_>>()
        );
        // Beyond the tree is an error, not a stale or zero hash.
        let past = merkle::stored_hash_count(n);
        assert!(matches!(
            r.read_hashes(&[past]),
            Err(MerkleError::StoredIndexOutOfRange { .. })
        ));
    }

    /// A reader of the stored tiles (nothing pending).
    fn reader<'a, T>(table: &'a T, size: u64, cache: Option<&'a RowCache>) -> TileReader<'a, T> {
        TileReader {
            table,
            size,
            pending: None,
            cache,
        }
    }

    /// Appends leaves `from..upto` to the tiles in one write transaction.
    fn grow(db: &Database, from: u64, upto: u64) {
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(TILES).unwrap();
            let mut w = TileWriter::default();
            for i in from..upto {
                let leaf = merkle::leaf_hash(&i.to_be_bytes());
                let r = TileReader {
                    table: &table,
                    size: i,
                    pending: Some(&w.pending),
                    cache: None,
                };
                let hs = merkle::stored_hashes_for_record_hash(i, leaf, &r).unwrap();
                w.add(&table, from, i, &hs).unwrap();
            }
            w.write(&mut table).unwrap();
        }
        txn.commit().unwrap();
    }

    fn memory_log(n: u64) -> MemoryLog {
        let mut mem = MemoryLog::new();
        for i in 0..n {
            mem.append_leaf_hash(merkle::leaf_hash(&i.to_be_bytes()));
        }
        mem
    }

    /// The row cache changes no answer: every hash and proof read twice through it (the
    /// second time from memory) matches a log kept in memory, and so does every hash an
    /// older snapshot reads through rows a newer snapshot filled the cache with (fuller
    /// than the older snapshot's rows were).
    #[test]
    fn cached_rows_answer_as_the_table_does() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("t.redb")).unwrap();
        let cache = RowCache {
            min_level: 0,
            ..RowCache::default()
        };
        let (m, n) = (300u64, 1500u64);
        grow(&db, 0, m);
        let old = db.begin_read().unwrap();
        grow(&db, m, n);
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(TILES).unwrap();
        let r = reader(&table, n, Some(&cache));
        let mem = memory_log(n);
        let all: Vec<u64> = (0..merkle::stored_hash_count(n)).collect();
        for _ in 0..2 {
            assert_eq!(r.read_hashes(&all).unwrap(), mem.stored());
            assert_eq!(merkle::tree_hash(n, &r).unwrap(), mem.root());
            assert_eq!(
                merkle::prove_record(n, 1100, &r).unwrap(),
                merkle::prove_record(n, 1100, &mem.stored()).unwrap()
            );
        }
        assert_eq!(
            r.level_range(0, 256, 512).unwrap(),
            (256..512)
                .map(|i| mem.stored()[merkle::stored_hash_index(0, i) as usize])
                .collect::<Vec<_>>()
        );
        // Full rows only: 5 of level 0 (1500 / 254) and 1 of level 2 (375 hashes).
        assert_eq!(cache.rows.read().unwrap().len(), 6);
        // The snapshot of 300 entries had level 0 row 1 partial (254..300); the cache
        // now holds it full.
        let old_table = old.open_table(TILES).unwrap();
        let r = reader(&old_table, m, Some(&cache));
        let small = memory_log(m);
        let all: Vec<u64> = (0..merkle::stored_hash_count(m)).collect();
        assert_eq!(r.read_hashes(&all).unwrap(), small.stored());
        assert_eq!(merkle::tree_hash(m, &r).unwrap(), small.root());
        assert_eq!(
            merkle::prove_record(m, 299, &r).unwrap(),
            merkle::prove_record(m, 299, &small.stored()).unwrap()
        );
        let past = merkle::stored_hash_count(m);
        assert!(matches!(
            r.read_hashes(&[past]),
            Err(MerkleError::StoredIndexOutOfRange { .. })
        ));
    }

    #[test]
    fn hostile_tile_values_are_clear_errors() {
        let n = 600;
        for (key, bad) in [
            ((0u8, 0u64), vec![1u8; 8191]),   // truncated full tile
            ((0, 2), vec![1u8; 89 * 32]),     // partial tile one hash long
            ((0, 2), vec![1u8; 87 * 32 + 5]), // not a whole number of hashes
            ((2, 0), Vec::new()),             // empty
        ] {
            let (_d, db, _mem) = build(n);
            let txn = db.begin_write().unwrap();
            txn.open_table(TILES)
                .unwrap()
                .insert(key, bad.as_slice())
                .unwrap();
            txn.commit().unwrap();
            let txn = db.begin_read().unwrap();
            let table = txn.open_table(TILES).unwrap();
            let r = reader(&table, n, None);
            let all: Vec<u64> = (0..merkle::stored_hash_count(n)).collect();
            let err = r.read_hashes(&all).unwrap_err().to_string();
            assert!(
                err.contains(&format!("table hash_tiles, key {key:?}")) && err.contains("expected"),
                "{err}"
            );
            // The writer refuses to extend a bad partial tile.
            if key == (0, 2) {
                let wtxn = db.begin_write().unwrap();
                let t = wtxn.open_table(TILES).unwrap();
                let mut w = TileWriter::default();
                let err = w.add(&t, n, n, &[[0u8; 32]]).unwrap_err().to_string();
                assert!(err.contains("key (0, 2)"), "{err}");
            }
        }
        // A missing tile.
        let (_d, db, _mem) = build(n);
        let txn = db.begin_write().unwrap();
        txn.open_table(TILES).unwrap().remove((0, 1)).unwrap();
        txn.commit().unwrap();
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(TILES).unwrap();
        let r = reader(&table, n, None);
        let err = r.hash(1, 200).unwrap_err().to_string();
        assert!(err.contains("key (0, 1): missing"), "{err}");
    }

    #[test]
    fn widths() {
        assert_eq!(tile_width(0, 0, 0), 0);
        assert_eq!(tile_width(600, 0, 2), 92);
        assert_eq!(tile_width(600, 0, 3), 0);
        assert_eq!(tile_width(600, 2, 0), 150);
        assert_eq!(tile_width(u64::MAX, 0, u64::MAX), 0);
        assert_eq!(tile_width(5, 64, 0), 0);
    }
}
