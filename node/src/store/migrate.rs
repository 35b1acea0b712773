//! Migration of a layout-1 store (one row per hash, per entry, per full leaf hash) to
//! the current layout, on open. One write transaction: a crash during it leaves the
//! layout-1 store as it was, and the next open starts again.

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableHandle};

use super::layout::{
    BUNDLES, DEDUP, LAYOUT_VERSION, LEVEL_STRIDE, META, META_LAYOUT, TAIL, TILE_ROW, TILES,
    dedup_prefix, v1,
};
use super::{StoreError, bundles, corrupt, read_meta, table_err};

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
        Some(1) => from_v1(db),
        Some(v) => Err(StoreError::UnsupportedLayout {
            found: v.to_string(),
        }),
    }
}

fn from_v1(db: &Database) -> Result<(), StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut meta = txn.open_table(META).map_err(table_err("meta"))?;
        let (size, _) = read_meta(&meta)?;
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
        meta.insert(META_LAYOUT, LAYOUT_VERSION.to_be_bytes().as_slice())?;
    }
    txn.commit()?;
    Ok(())
}
