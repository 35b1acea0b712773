//! The tile cache: tiles and entry bundles from memory, then disk, then the node, each
//! fetch bounded in bytes (a tile's exact length, a bundle's largest possible length) and
//! by the log's time budget. Nothing here is trusted: proto's [`TileHashReader`]
//! authenticates every tile against the checkpoint's root before [`CachedTiles`] stores
//! it, and every entry bundle is checked against its authenticated level-0 tile.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use quorate_proto::attestation::MAX_ENVELOPE_BYTES;
use quorate_proto::merkle::{Hash, MemoryLog, MerkleError};
use quorate_proto::tile::{self, MAX_TILE_LEVEL, Tile, TileHashReader, TileReader};

use crate::net::{Deadline, Node};

pub(super) fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, data)?;
    fs::rename(&tmp, path)
}

/// Reads a cache file of at most `max` bytes (`None`: absent, unreadable or too long).
pub(super) fn read_capped(path: &Path, max: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let f = fs::File::open(path).ok()?;
    let mut b = Vec::new();
    f.take(max + 1).read_to_end(&mut b).ok()?;
    (b.len() as u64 <= max).then_some(b)
}

/// Largest entry bundle of a tile of `width` entries.
fn max_bundle_bytes(width: u16) -> u64 {
    u64::from(width) * (2 + MAX_ENVELOPE_BYTES as u64)
}

/// Tiles of every level a tree of `size` has, computed (not enumerated: a claimed size
/// must not cost a loop), for the progress total.
pub(super) fn tile_total(size: u64) -> u64 {
    (0..=u32::from(MAX_TILE_LEVEL))
        .map(|l| size.checked_shr(8 * l).unwrap_or(0).div_ceil(256))
        .sum()
}

pub(super) struct Progress {
    pub label: String,
    pub done: u64,
    pub total: u64,
    pub tty: bool,
}

impl Progress {
    fn tick(&mut self) {
        self.done += 1;
        if self.tty && (self.done.is_multiple_of(16) || self.done == self.total) {
            eprint!("\r{}: {}/{} tiles", self.label, self.done, self.total);
            let _ = std::io::stderr().flush();
        }
    }
}

/// Tiles from memory, then disk, then the node.
pub(super) struct CachedTiles {
    pub dir: PathBuf,
    pub node: Option<Node>,
    pub deadline: Deadline,
    pub read_disk: bool,
    mem: RefCell<HashMap<Tile, Vec<u8>>>,
    from_disk: RefCell<HashSet<Tile>>,
    pub fetched: RefCell<usize>,
    pub progress: Option<RefCell<Progress>>,
}

impl CachedTiles {
    pub fn new(
        dir: PathBuf,
        node: Option<Node>,
        deadline: Deadline,
        progress: Option<Progress>,
    ) -> CachedTiles {
        CachedTiles {
            dir,
            node,
            deadline,
            read_disk: true,
            mem: RefCell::new(HashMap::new()),
            from_disk: RefCell::new(HashSet::new()),
            fetched: RefCell::new(0),
            progress: progress.map(RefCell::new),
        }
    }

    /// The same source without the disk cache or memory (after the cache failed).
    pub fn network_only(&self) -> CachedTiles {
        let mut t = CachedTiles::new(self.dir.clone(), self.node.clone(), self.deadline, None);
        t.read_disk = false;
        t
    }

    /// GET `path` from the node, at most `max` bytes, within the log's budget.
    fn get(&self, path: &str, max: u64) -> Result<Vec<u8>, String> {
        let Some(node) = &self.node else {
            return Err(format!("{path} is not in the mirror cache (offline)"));
        };
        let r = node
            .get_bounded(path, max, &self.deadline)
            .map_err(|e| e.to_string())?;
        if r.status != 200 {
            return Err(format!("{}: {}", node.url(path), r.error_text()));
        }
        *self.fetched.borrow_mut() += 1;
        Ok(r.body)
    }

    fn fetch(&self, t: &Tile) -> Result<Vec<u8>, MerkleError> {
        let path = t.path();
        let disk = self.dir.join(&path);
        let len = t.data_len() as u64;
        if self.read_disk
            && let Some(b) = read_capped(&disk, len)
        {
            self.from_disk.borrow_mut().insert(*t);
            return Ok(b);
        }
        self.get(&path, len).map_err(MerkleError::Storage)
    }

    /// The entries of `t`'s bundle, checked against its authenticated tile data.
    pub fn entry_bundle(&self, t: &Tile, tile_data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let path = t.entries_path();
        let disk = self.dir.join(&path);
        let max = max_bundle_bytes(t.width());
        if self.read_disk
            && let Some(b) = read_capped(&disk, max)
            && let Ok(es) = tile::check_entry_bundle(t, &b, tile_data)
        {
            return Ok(es.into_iter().map(<[u8]>::to_vec).collect());
        }
        let body = self.get(&path, max)?;
        let es =
            tile::check_entry_bundle(t, &body, tile_data).map_err(|e| format!("{path}: {e}"))?;
        let out = es.into_iter().map(<[u8]>::to_vec).collect();
        let _ = write_atomic(&disk, &body);
        Ok(out)
    }
}

impl TileReader for CachedTiles {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, MerkleError> {
        let mut out = Vec::with_capacity(tiles.len());
        for t in tiles {
            if let Some(d) = self.mem.borrow().get(t) {
                out.push(d.clone());
                continue;
            }
            out.push(self.fetch(t)?);
        }
        Ok(out)
    }

    fn save_tiles(&self, tiles: &[Tile], data: &[Vec<u8>]) {
        let mut mem = self.mem.borrow_mut();
        for (t, d) in tiles.iter().zip(data) {
            if mem.contains_key(t) {
                continue;
            }
            // Authenticated for the tree being read: store it unless it came from there.
            if !self.from_disk.borrow().contains(t) {
                let _ = write_atomic(&self.dir.join(t.path()), d);
            }
            mem.insert(*t, d.clone());
            if let Some(p) = &self.progress {
                p.borrow_mut().tick();
            }
        }
    }
}

pub(super) type Loaded = (Vec<Vec<u8>>, MemoryLog);

/// Every entry of the tree of `size` with root `root`, each bundle checked against its
/// authenticated tile. Memory grows with the tiles and bundles that arrived and
/// verified, never with `size` up front; the log's time budget ends the loop.
pub(super) fn load_entries(size: u64, root: Hash, tiles: &CachedTiles) -> Result<Loaded, String> {
    let reader = TileHashReader::new(size, root, tiles);
    let mut entries = Vec::new();
    let mut tree = MemoryLog::new();
    for t in tile::tiles_for_size(size).filter(|t| t.level() == 0) {
        if tiles.deadline.remaining().is_none() {
            return Err(format!(
                "{} after {} of {size} entries",
                tiles.deadline.spent(),
                entries.len()
            ));
        }
        let data = tile::read_tile_data(&t, &reader).map_err(|e| e.to_string())?;
        let es = tiles.entry_bundle(&t, &data)?;
        for (e, h) in es.into_iter().zip(data.chunks_exact(32)) {
            let mut leaf = [0u8; 32];
            leaf.copy_from_slice(h);
            tree.append_leaf_hash(leaf);
            entries.push(e);
        }
    }
    if tree.root() != root {
        return Err("entries do not recompute the checkpoint's root".into());
    }
    Ok((entries, tree))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_total_is_computed_not_enumerated() {
        assert_eq!(tile_total(0), 0);
        assert_eq!(tile_total(1), 1);
        assert_eq!(tile_total(256), 2);
        assert_eq!(tile_total(257), 3);
        for n in [1u64, 255, 256, 300, 65_536, 70_000] {
            assert_eq!(tile_total(n), tile::tiles_for_size(n).count() as u64, "{n}");
        }
        // A claimed size of 2^62 answers at once instead of looping over 2^54 tiles.
        assert!(tile_total(1 << 62) > 1 << 54);
    }
}
