//! Consistency checks: the bounded ones [`Store::open`] runs and the full audit.

use quorate_proto::merkle;
use redb::{ReadableTable, ReadableTableMetadata};

use super::bundles;
use super::layout::{LEVEL_STRIDE, META_ROOT, TILE_ROW, dedup_prefix, name};
use super::releases::ReleaseReader;
use super::tiles::tile_width;
use super::{Store, StoreError, corrupt};

impl Store {
    /// Runs the consistency checks [`Store::open`] runs: the latest checkpoint is for the
    /// recorded size; the entry rows (bundles and tail), dedup rows and hash tiles are
    /// exactly those of a tree of that size; the last tile of every stored level has the
    /// right length; and the stored hashes reproduce the recorded root. Reads O(log size)
    /// rows.
    pub fn verify(&self) -> Result<(), StoreError> {
        let snap = self.snapshot()?;
        let size = snap.size;
        let check = |what: &'static str, found: u64| {
            if found == size {
                Ok(())
            } else {
                Err(StoreError::Inconsistent { what, found, size })
            }
        };
        match snap.checkpoints.last()? {
            Some((k, _)) => check("latest checkpoint's size", k.value())?,
            // A mirror's store before its first verified checkpoint (see `mirror`).
            None if size == 0 => {}
            None => return Err(corrupt("checkpoints", "last", "no checkpoint")),
        }
        // Entries: the tail is exactly `packed..size`, and the last packed row ends at
        // `packed` (the full audit walks every row).
        let packed = bundles::packed_end(&snap.tail, size)?;
        let tail_rows = snap.tail.len()?;
        check("entry count", packed.saturating_add(tail_rows))?;
        if tail_rows > 0 && snap.tail.last()?.map(|(k, _)| k.value()) != Some(size - 1) {
            return Err(corrupt(name::TAIL, size - 1, "missing (a gap in the tail)"));
        }
        match snap.bundles.last()? {
            Some((k, v)) => {
                let ends = k.value() + bundles::decode_row(k.value(), v.value())?.len() as u64;
                if ends != packed {
                    return Err(corrupt(
                        name::BUNDLES,
                        k.value(),
                        format!(
                            "last packed row ends at entry {ends}, the tail starts at {packed}"
                        ),
                    ));
                }
            }
            None if packed == 0 => {}
            None => return Err(corrupt(name::BUNDLES, 0, "missing")),
        }
        check("dedup row count", snap.dedup.len()?)?;
        let mut want_tiles = 0u64;
        let mut level = 0u8;
        while level < 64 && size >> level > 0 {
            let count = (size >> level).div_ceil(TILE_ROW);
            want_tiles += count;
            // The level's last tile: present with the right length (checked on read),
            // nothing after it.
            let last = count - 1;
            match snap.tiles.get((level, last))? {
                Some(v) => {
                    super::tiles::check_tile(level, last, tile_width(size, level, last), v.value())?
                }
                None => return Err(corrupt(name::TILES, (level, last), "missing")),
            }
            if snap
                .tiles
                .range((level, count)..=(level, u64::MAX))?
                .next()
                .is_some()
            {
                return Err(corrupt(name::TILES, (level, count), "tile beyond the tree"));
            }
            level += LEVEL_STRIDE;
        }
        let tiles = snap.tiles.len()?;
        if tiles != want_tiles {
            return Err(corrupt(
                name::TILES,
                "*",
                format!("{tiles} rows, expected {want_tiles} for size {size}"),
            ));
        }
        let root = merkle::tree_hash(size, &snap)?;
        if root != snap.root {
            return Err(corrupt(
                "meta",
                META_ROOT,
                "recorded root does not match the stored hashes",
            ));
        }
        Ok(())
    }

    /// Full audit (an fsck; reads the whole log, so not run on open): runs
    /// [`Store::verify`], then re-hashes every entry and checks that it has its dedup row
    /// and that every stored hash equals the one recomputed from the entries, and that
    /// every release row of the package index decodes, its chunk rows are exactly those
    /// its count needs, and its indexes ascend within the log.
    pub fn verify_full(&self) -> Result<(), StoreError> {
        self.verify()?;
        let snap = self.snapshot()?;
        let reader = ReleaseReader {
            heads: &snap.releases,
            chunks: &snap.release_chunks,
        };
        let mut chunk_rows = 0u64;
        for row in snap.releases.iter()? {
            let key = row?.0.value().to_vec();
            let Some(head) = reader.head(&key)? else {
                continue;
            };
            // `row` checks each row's length against the count and that it ascends.
            let last = reader.row(&key, &head, head.rows() - 1)?;
            if last.last().is_some_and(|i| *i >= snap.size) {
                return Err(corrupt(
                    name::RELEASES,
                    String::from_utf8_lossy(&key),
                    format!("names an entry beyond the log of size {}", snap.size),
                ));
            }
            for r in 1..head.rows() - 1 {
                reader.row(&key, &head, r)?;
            }
            chunk_rows += head.rows() - 1;
        }
        if snap.release_chunks.len()? != chunk_rows {
            return Err(corrupt(
                name::RELEASE_CHUNKS,
                "*",
                format!(
                    "{} rows, the releases' counts need {chunk_rows}",
                    snap.release_chunks.len()?
                ),
            ));
        }
        let hashes = snap.hash_reader();
        snap.entry_reader().each(0, snap.size, |n, data| {
            let leaf = merkle::leaf_hash(data);
            let key = (dedup_prefix(&leaf), n);
            if snap.dedup.get(key)?.is_none() {
                return Err(corrupt(name::DEDUP, key, format!("missing for entry {n}")));
            }
            // Reads only hashes below record n's, which earlier iterations verified.
            let want = merkle::stored_hashes_for_record_hash(n, leaf, &hashes)?;
            for (level, w) in want.iter().enumerate() {
                let level = level as u8;
                if !level.is_multiple_of(LEVEL_STRIDE) {
                    continue;
                }
                if hashes.hash(level, n >> level)? != *w {
                    return Err(corrupt(
                        name::TILES,
                        (level, (n >> level) / TILE_ROW),
                        format!(
                            "hash ({level}, {}) does not match the hash recomputed from entry {n}",
                            n >> level
                        ),
                    ));
                }
            }
            Ok(())
        })
    }
}
