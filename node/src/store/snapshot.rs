//! Reads from a [`Snapshot`]: checkpoints, entries, leaf lookups and tiles.

use quorate_proto::merkle::Hash;
use redb::ReadOnlyTable;

use super::bundles::EntryReader;
use super::layout::{LEVEL_STRIDE, WIDTH, dedup_prefix, name};
use super::tiles::TileReader;
use super::{Snapshot, StoreError, TILE_HEIGHT, corrupt};

/// A read-only table of entry bytes (packed rows or tail).
type EntryTable = ReadOnlyTable<u64, &'static [u8]>;

impl Snapshot {
    /// Tree size of this view.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Root hash of the tree of [`Self::size`] entries.
    pub fn root(&self) -> Hash {
        self.root
    }

    pub(super) fn hash_reader(&self) -> TileReader<'_, ReadOnlyTable<(u8, u64), &'static [u8]>> {
        TileReader {
            table: &self.tiles,
            size: self.size,
            pending: None,
            cache: Some(&self.rows),
        }
    }

    pub(super) fn entry_reader(&self) -> EntryReader<'_, EntryTable, EntryTable> {
        EntryReader {
            bundles: &self.bundles,
            tail: &self.tail,
            size: self.size,
        }
    }

    /// The latest signed checkpoint and its tree size (equal to [`Self::size`]).
    pub fn latest_checkpoint(&self) -> Result<(u64, Vec<u8>), StoreError> {
        match self.checkpoint_at(self.size)? {
            Some(cp) => Ok((self.size, cp)),
            None => Err(corrupt("checkpoints", self.size, "missing")),
        }
    }

    /// The checkpoint signed at tree size `size`, if one was.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.checkpoints.get(size)?.map(|v| v.value().to_vec()))
    }

    /// Entry `index`; [`StoreError::OutOfRange`] if `index >= size`.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, StoreError> {
        if index >= self.size {
            return Err(StoreError::OutOfRange {
                what: format!("entry {index}"),
                size: self.size,
            });
        }
        self.entry_reader().entry(index)
    }

    /// Entries `start..end`; [`StoreError::OutOfRange`] unless `start <= end <= size`.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        if start > end || end > self.size {
            return Err(StoreError::OutOfRange {
                what: format!("entries {start}..{end}"),
                size: self.size,
            });
        }
        let mut out = Vec::with_capacity((end - start).min(4096) as usize);
        self.entry_reader().each(start, end, |_, e| {
            out.push(e.to_vec());
            Ok(())
        })?;
        Ok(out)
    }

    /// Index of the entry with RFC 6962 leaf hash `leaf`, if present.
    pub fn lookup_leaf(&self, leaf: &Hash) -> Result<Option<u64>, StoreError> {
        lookup_leaf(&self.dedup, &self.hash_reader(), leaf)
    }

    /// The hashes of C2SP tile `(level, index)` holding `width` hashes (1..=256): the
    /// stored hashes at tree level `8 * level`, positions `256 * index ..
    /// 256 * index + width`. [`StoreError::OutOfRange`] if the tree does not yet have
    /// them all, or if `width` is 0 or over 256.
    pub fn tile_hashes(&self, level: u8, index: u64, width: u16) -> Result<Vec<Hash>, StoreError> {
        let width = u64::from(width);
        let out_of_range = || StoreError::OutOfRange {
            what: format!("tile level {level} index {index} width {width}"),
            size: self.size,
        };
        if width == 0 || width > WIDTH {
            return Err(out_of_range());
        }
        let tree_level = level
            .checked_mul(TILE_HEIGHT)
            .filter(|l| *l < 64)
            .ok_or_else(out_of_range)?;
        debug_assert_eq!(TILE_HEIGHT % LEVEL_STRIDE, 0);
        let available = self.size >> tree_level;
        let start = index.checked_mul(WIDTH).ok_or_else(out_of_range)?;
        let end = start.checked_add(width).ok_or_else(out_of_range)?;
        if end > available {
            return Err(out_of_range());
        }
        self.hash_reader().level_range(tree_level, start, end)
    }
}

/// Finds `leaf` through the dedup index: every row with its 8-byte prefix is a candidate,
/// confirmed by comparing the full leaf hash stored in the level-0 tile, so two leaves
/// that share a prefix are told apart.
pub(super) fn lookup_leaf<D, T>(
    dedup: &D,
    hashes: &TileReader<'_, T>,
    leaf: &Hash,
) -> Result<Option<u64>, StoreError>
where
    D: redb::ReadableTable<(u64, u64), ()>,
    T: redb::ReadableTable<(u8, u64), &'static [u8]>,
{
    let p = dedup_prefix(leaf);
    for row in dedup.range((p, 0)..=(p, u64::MAX))? {
        let i = row?.0.value().1;
        if i >= hashes.size {
            return Err(corrupt(
                name::DEDUP,
                (p, i),
                format!("points beyond the tree of size {}", hashes.size),
            ));
        }
        if hashes.hash(0, i)? == *leaf {
            return Ok(Some(i));
        }
    }
    Ok(None)
}
