//! The store's tables and the constants that fix their shapes (layout version 3).
//!
//! Why this shape: in redb every row costs its key, its value, per-row bookkeeping and
//! its share of a B-tree page, so a layout with one row per Merkle node hash (version 1)
//! spent far more on rows than on hashes. Version 2 packs what is read together into one
//! value, as Go's tlog and C2SP tlog-tiles do:
//!
//! - hashes in tiles of 256 hashes of one tree level, one row per tile, and only every
//!   [`LEVEL_STRIDE`]-th level (see there for why 2);
//! - entries packed into rows of consecutive entries of just under 64 KiB (the
//!   tlog-tiles entry-bundle encoding; see `bundles` for why bytes, not 256 entries);
//!   the entries after the last packed row are single rows until they would fill one,
//!   so a commit never rewrites a growing 64 KiB row;
//! - the dedup index keyed by the first 8 bytes of the leaf hash and the entry index
//!   (16 fixed bytes, no value), each candidate confirmed against its stored leaf hash.
//!
//! Version 3 replaces the package index, a redb multimap (`by_package`, 68 B/entry
//! measured: a multimap keeps per-value bookkeeping), by one plain row per release whose
//! value packs the release's entry indexes, chunked so no row grows past
//! [`releases::CHUNK`](super::releases::CHUNK) indexes (see `releases`).
//!
//! The dedup index stays a table of its own, keyed by leaf hash and not by release:
//! [`Snapshot::lookup_leaf`](super::Snapshot::lookup_leaf) answers for any leaf hash
//! with no release given (a card resolves a `supersedes` link, which may name an entry of
//! another release; a mirror's entries carry no release at all), so finding duplicates
//! through the release's entries would still leave these lookups needing it.

use redb::TableDefinition;

/// Layout version written to `meta` under [`META_LAYOUT`]; versions 1 (no such key, one
/// row per hash) and 2 (the multimap package index) are migrated on open (see `migrate`).
pub(crate) const LAYOUT_VERSION: u32 = 3;

/// Hashes per C2SP tile (what `tile_hashes` serves).
pub(crate) const WIDTH: u64 = 256;

/// Hashes per hash-tile row: 254, not 256. redb gives a value that does not fit a 4 KiB
/// page a page of 4 KiB * 2^k, and a leaf holding one 256-hash tile is 8192 bytes plus
/// its 17 bytes of key and offsets, so it took a 16 KiB page and half of every tile row
/// was slack (measured: 42 B/entry stored, 42 fragmented). 254 hashes (8128 bytes) fit
/// an 8 KiB page; an even width keeps the two hashes an unstored level is made of in one
/// row. C2SP tiles (256 wide) are served from the one or two rows they overlap.
pub(crate) const TILE_ROW: u64 = 254;

/// Only tree levels that are multiples of this are stored; an odd level's hash is the
/// node hash of the two below it in the same tile (one SHA-256).
///
/// The arithmetic: storing level `L` costs `32 / 2^L` bytes per entry, so every level
/// costs 64 B/entry, every 2nd level 42.7, every 3rd 36.6, every 8th (Go's tlog, tiles
/// of height 8) 32.1. What is not stored is recomputed on each read: an inclusion proof
/// at 10M entries reads ~24 hashes; with a stride of `s` each costs up to `2^(s-1) - 1`
/// SHA-256 (stride 2: at most 1 each, ~24 in all, ~8 us at the measured 3M hashes/s;
/// stride 3: up to 3 each; stride 8: up to 127 each, ~1 ms per proof, 20x the 50 us
/// target). Stride 2 buys 21 of the 32 B/entry the unstored levels could save for a
/// few microseconds per proof, and keeps every C2SP tile level (multiples of 8) stored
/// verbatim, so serving a tile is one row read.
pub(crate) const LEVEL_STRIDE: u8 = 2;

/// Packed entries: index of the row's first entry -> the entries, each a big-endian
/// `u16` length and its bytes, at most `bundles::ROW_BYTES` in all.
pub(crate) const BUNDLES: TableDefinition<u64, &[u8]> = TableDefinition::new(name::BUNDLES);
/// Entries after the last packed row: entry index -> entry bytes.
pub(crate) const TAIL: TableDefinition<u64, &[u8]> = TableDefinition::new(name::TAIL);
/// Hash tiles: `(tree level, row index)` -> the level's hashes `254 * index ..`, 32
/// bytes each, [`TILE_ROW`] of them unless it is the level's last row.
pub(crate) const TILES: TableDefinition<(u8, u64), &[u8]> = TableDefinition::new(name::TILES);
/// Signed checkpoints: tree size -> note.
pub(crate) const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");
/// `"size"`, `"root"`, `"layout"`.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Dedup index: `(first 8 bytes of the leaf hash, big-endian; entry index)` -> nothing.
pub(crate) const DEDUP: TableDefinition<(u64, u64), ()> = TableDefinition::new(name::DEDUP);
/// Package index, one head row per release: `"ecosystem\0package\0version"` -> the
/// release's entry count and its first entry indexes (see `releases`).
pub(crate) const RELEASES: TableDefinition<&[u8], &[u8]> = TableDefinition::new(name::RELEASES);
/// The rest of a release's entry indexes: release key, NUL, chunk number (big-endian
/// `u64`, from 1) -> that chunk's indexes (see `releases`).
pub(crate) const RELEASE_CHUNKS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new(name::RELEASE_CHUNKS);

/// Table names, for error messages.
pub(crate) mod name {
    pub(crate) const BUNDLES: &str = "entry_bundles";
    pub(crate) const TAIL: &str = "entry_tail";
    pub(crate) const TILES: &str = "hash_tiles";
    pub(crate) const DEDUP: &str = "dedup_prefix";
    pub(crate) const RELEASES: &str = "releases";
    pub(crate) const RELEASE_CHUNKS: &str = "release_chunks";
}

pub(crate) const META_SIZE: &str = "size";
pub(crate) const META_ROOT: &str = "root";
pub(crate) const META_LAYOUT: &str = "layout";

/// The dedup key prefix of a leaf hash.
pub(crate) fn dedup_prefix(leaf: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&leaf[..8]);
    u64::from_be_bytes(b)
}

/// Version-1 tables, read only by the migration.
pub(crate) mod v1 {
    use redb::TableDefinition;

    pub(crate) const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
    pub(crate) const HASHES: TableDefinition<(u8, u64), &[u8; 32]> = TableDefinition::new("hashes");
    pub(crate) const DEDUP: TableDefinition<&[u8; 32], u64> = TableDefinition::new("dedup");
}

/// The version-2 (and version-1) package index, read only by the migration.
pub(crate) mod v2 {
    use redb::MultimapTableDefinition;

    /// `"ecosystem\0package\0version"` -> entry indexes.
    pub(crate) const BY_PACKAGE: MultimapTableDefinition<&[u8], u64> =
        MultimapTableDefinition::new("by_package");
}
