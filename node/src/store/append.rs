//! [`Store::append_batch`]: the one write path of a log (a mirror's goes through it too).

use quorate_proto::merkle::{self, Hash};
use redb::{Durability, ReadableTable as _};

use super::layout::{
    BUNDLES, CHECKPOINTS, DEDUP, META, RELEASE_CHUNKS, RELEASES, TAIL, TILES, dedup_prefix, name,
};
use super::tiles::{TileReader, TileWriter};
use super::{
    BatchOutcome, NewEntry, Placed, SignError, Store, StoreError, bundles, corrupt, read_meta,
    snapshot, table_err, write_meta,
};

impl Store {
    /// Appends a batch in one durable write transaction and signs a checkpoint over it.
    ///
    /// Entries already in the log (by leaf hash), or repeated within the batch, are not
    /// appended again: their [`Placed`] carries the existing index and `duplicate: true`.
    /// For the new ones the entry, its stored hashes, its dedup row and its package row are
    /// written; then `sign(new_size, new_root)` is called and the note it returns is stored
    /// as the checkpoint for `new_size`, and the transaction commits with immediate
    /// durability (one fsync). If `sign` or anything else fails, nothing is written.
    /// If no entry is new, `sign` is not called and nothing is written.
    ///
    /// Only the checkpoint of a batch whose call returned `Ok` may be published.
    pub fn append_batch<E>(
        &self,
        batch: Vec<NewEntry>,
        sign: impl FnOnce(u64, Hash) -> Result<Vec<u8>, E>,
    ) -> Result<BatchOutcome, StoreError>
    where
        E: Into<SignError>,
    {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let mut placed = Vec::with_capacity(batch.len());
        let (old_size, old_root, size, root, note);
        {
            let mut meta = txn.open_table(META).map_err(table_err("meta"))?;
            let mut bundle_rows = txn.open_table(BUNDLES).map_err(table_err(name::BUNDLES))?;
            let mut tail = txn.open_table(TAIL).map_err(table_err(name::TAIL))?;
            let mut tiles = txn.open_table(TILES).map_err(table_err(name::TILES))?;
            let mut checkpoints = txn
                .open_table(CHECKPOINTS)
                .map_err(table_err("checkpoints"))?;
            let mut dedup = txn.open_table(DEDUP).map_err(table_err(name::DEDUP))?;
            let mut releases = txn
                .open_table(RELEASES)
                .map_err(table_err(name::RELEASES))?;
            let mut release_chunks = txn
                .open_table(RELEASE_CHUNKS)
                .map_err(table_err(name::RELEASE_CHUNKS))?;

            (old_size, old_root) = read_meta(&meta)?;
            let mut writer = TileWriter::default();
            let mut tail_len = bundles::tail_bytes(&tail)?;
            let mut n = old_size;
            for entry in batch {
                let leaf = merkle::leaf_hash(&entry.data);
                let reader = TileReader {
                    table: &tiles,
                    size: n,
                    pending: Some(&writer.pending),
                    cache: None,
                };
                if let Some(i) = snapshot::lookup_leaf(&dedup, &reader, &leaf)? {
                    placed.push(Placed {
                        index: i,
                        duplicate: true,
                    });
                    continue;
                }
                let new = merkle::stored_hashes_for_record_hash(n, leaf, &reader)?;
                writer.add(&tiles, old_size, n, &new)?;
                bundles::append(&mut bundle_rows, &mut tail, &mut tail_len, n, &entry.data)?;
                if dedup.insert((dedup_prefix(&leaf), n), ())?.is_some() {
                    return Err(corrupt(
                        name::DEDUP,
                        (dedup_prefix(&leaf), n),
                        "row exists beyond the tree",
                    ));
                }
                if let Some(key) = &entry.package_key {
                    super::releases::add(&mut releases, &mut release_chunks, key, n)?;
                }
                placed.push(Placed {
                    index: n,
                    duplicate: false,
                });
                n += 1;
            }
            size = n;
            if size == old_size {
                // Nothing new: return the current checkpoint without writing.
                let cp = match checkpoints.get(size)? {
                    Some(v) => v.value().to_vec(),
                    None => return Err(corrupt("checkpoints", size, "missing")),
                };
                drop((
                    meta,
                    bundle_rows,
                    tail,
                    tiles,
                    checkpoints,
                    dedup,
                    releases,
                    release_chunks,
                ));
                txn.abort()?;
                return Ok(BatchOutcome {
                    placed,
                    size,
                    root: old_root,
                    checkpoint: cp,
                    signed: false,
                });
            }
            root = merkle::tree_hash(
                size,
                &TileReader {
                    table: &tiles,
                    size,
                    pending: Some(&writer.pending),
                    cache: None,
                },
            )?;
            writer.write(&mut tiles)?;
            note = sign(size, root).map_err(|e| StoreError::Sign {
                size,
                source: e.into(),
            })?;
            if checkpoints.insert(size, note.as_slice())?.is_some() {
                return Err(corrupt(
                    "checkpoints",
                    size,
                    "a checkpoint was already signed at this size",
                ));
            }
            write_meta(&mut meta, size, &root)?;
        }
        txn.commit()?;
        debug_assert!(size > old_size);
        Ok(BatchOutcome {
            placed,
            size,
            root,
            checkpoint: note,
            signed: true,
        })
    }
}
