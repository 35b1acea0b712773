//! Migration of a store of an older layout to the current one, on open: layout 1 (one row
//! per hash, per entry, per full leaf hash) through the steps of layout 2, layout 2 (the
//! multimap package index) to the packed release rows of layout 3. One write transaction
//! for all steps: a crash during it leaves the store as it was, and the next open starts
//! again.

use redb::{
    Database, Durability, ReadableDatabase, ReadableMultimapTable, ReadableTable, TableHandle,
    WriteTransaction,
};

use super::layout::{
    BUNDLES, DEDUP, LAYOUT_VERSION, LEVEL_STRIDE, META, META_LAYOUT, RELEASE_CHUNKS, RELEASES,
    TAIL, TILE_ROW, TILES, dedup_prefix, v1, v2,
};
use super::{StoreError, bundles, corrupt, read_meta, releases, table_err};

/// The layout version recorded in `meta` (1 if the key is absent and the layout-1
/// `hashes` table exists), or `None` for a file without a log.
fn recorded_layout(db: &Database) -> Result<Option<u32>, StoreError> {
    let txn = db.begin_read()?;
    let meta = match txn.open_table(META) {
        Ok(m) => m,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match meta.get(META_LAYOUT)? {
        Some(v) => {
            let b: [u8; 4] = v
                .value()
                .try_into()
                .map_err(|_| StoreError::UnsupportedLayout {
                    found: format!("(unreadable: {} bytes)", v.value().len()),
                })?;
            Ok(Some(u32::from_be_bytes(b)))
        }
        None => {
            let v1 = txn.list_tables()?.any(|t| t.name() == v1::HASHES.name());
            Ok(v1.then_some(1))
        }
    }
}

/// Brings the store in `db` to [`LAYOUT_VERSION`], or refuses a version it cannot read.
/// A file without a log is left alone (opening it then reports it as not initialised).
pub(super) fn upgrade(db: &Database) -> Result<(), StoreError> {
    match recorded_layout(db)? {
        None => Ok(()),
        Some(LAYOUT_VERSION) => Ok(()),
        Some(v @ (1 | 2)) => {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            if v == 1 {
                v1_to_v2(&txn)?;
            }
            v2_to_v3(&txn)?;
            txn.open_table(META)?
                .insert(META_LAYOUT, LAYOUT_VERSION.to_be_bytes().as_slice())?;
            txn.commit()?;
            Ok(())
        }
        Some(v) => Err(StoreError::UnsupportedLayout {
            found: v.to_string(),
        }),
    }
}

/// Layout 2's package index, a multimap, becomes one packed row per release (and chunk
/// rows for a release of more than [`releases::CHUNK`] entries).
fn v2_to_v3(txn: &WriteTransaction) -> Result<(), StoreError> {
    {
        let (size, _) = read_meta(&txn.open_table(META).map_err(table_err("meta"))?)?;
        let old = txn
            .open_multimap_table(v2::BY_PACKAGE)
            .map_err(table_err("by_package"))?;
        let mut heads = txn.open_table(RELEASES)?;
        let mut chunks = txn.open_table(RELEASE_CHUNKS)?;
        let mut indexes = Vec::new();
        for row in old.iter()? {
            let (k, values) = row?;
            indexes.clear();
            for v in values {
                let i = v?.value();
                if i >= size {
                    return Err(corrupt(
                        "by_package",
                        String::from_utf8_lossy(k.value()),
                        format!(
                            "entry {i} is beyond the log of size {size} (migrating from layout 2)"
                        ),
                    ));
                }
                indexes.push(i);
            }
            releases::write_all(&mut heads, &mut chunks, k.value(), &indexes)?;
        }
    }
    txn.delete_multimap_table(v2::BY_PACKAGE)?;
    Ok(())
}

/// Layout 1's entries, hashes and full-hash dedup rows become layout 2's packed rows.
fn v1_to_v2(txn: &WriteTransaction) -> Result<(), StoreError> {
    {
        let meta = txn.open_table(META).map_err(table_err("meta"))?;
        let (size, _) = read_meta(&meta)?;
        drop(meta);
        let old_entries = txn.open_table(v1::ENTRIES).map_err(table_err("entries"))?;
        let old_hashes = txn.open_table(v1::HASHES).map_err(table_err("hashes"))?;
        let old_dedup = txn.open_table(v1::DEDUP).map_err(table_err("dedup"))?;
        let mut bundle_rows = txn.open_table(BUNDLES)?;
        let mut tail = txn.open_table(TAIL)?;
        let mut tiles = txn.open_table(TILES)?;
        let mut dedup = txn.open_table(DEDUP)?;

        let mut tail_len = 0;
        let mut expect = 0u64;
        for row in old_entries.range(0..size)? {
            let (k, v) = row?;
            if k.value() != expect {
                return Err(corrupt(
                    "entries",
                    expect,
                    "missing (migrating from layout 1)",
                ));
            }
            bundles::append(
                &mut bundle_rows,
                &mut tail,
                &mut tail_len,
                expect,
                v.value(),
            )?;
            expect += 1;
        }
        if expect != size {
            return Err(corrupt(
                "entries",
                expect,
                "missing (migrating from layout 1)",
            ));
        }
        // Hashes: the stored levels, packed 256 to a row, in order.
        let mut level = 0u8;
        while level < 64 && size >> level > 0 {
            let on_level = size >> level;
            let mut tile = Vec::with_capacity(TILE_ROW as usize * 32);
            let mut expect = 0u64;
            for row in old_hashes.range((level, 0)..(level, on_level))? {
                let (k, v) = row?;
                if k.value().1 != expect {
                    return Err(corrupt(
                        "hashes",
                        (level, expect),
                        "missing (migrating from layout 1)",
                    ));
                }
                tile.extend_from_slice(v.value());
                expect += 1;
                if expect.is_multiple_of(TILE_ROW) {
                    tiles.insert((level, expect / TILE_ROW - 1), tile.as_slice())?;
                    tile.clear();
                }
            }
            if expect != on_level {
                return Err(corrupt(
                    "hashes",
                    (level, expect),
                    "missing (migrating from layout 1)",
                ));
            }
            if !tile.is_empty() {
                tiles.insert((level, on_level / TILE_ROW), tile.as_slice())?;
            }
            level += LEVEL_STRIDE;
        }
        for row in old_dedup.iter()? {
            let (k, v) = row?;
            dedup.insert((dedup_prefix(k.value()), v.value()), ())?;
        }
        drop((old_entries, old_hashes, old_dedup));
        txn.delete_table(v1::ENTRIES)?;
        txn.delete_table(v1::HASHES)?;
        txn.delete_table(v1::DEDUP)?;
    }
    Ok(())
}
