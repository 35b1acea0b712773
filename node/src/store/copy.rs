//! Whole-store operations that read every table: a consistent copy (backup) and the
//! list of stored checkpoints (for `quorate-node verify`). A child of [`super`] so that it
//! reads the tables directly without widening the store's public API.

use std::path::Path;

use redb::{Database, Durability, ReadableTable, ReadableTableMetadata};

use super::layout::{
    BUNDLES, CHECKPOINTS, DEDUP, LAYOUT_VERSION, META, META_LAYOUT, RELEASE_CHUNKS, RELEASES, TAIL,
    TILES,
};
use super::{Snapshot, Store, StoreError};

/// Rows copied per write transaction of a backup (the copy is not a store until the last
/// one commits durably and it is renamed into place).
const ROWS_PER_TXN: usize = 50_000;

/// What a backup wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupReport {
    /// Log size of the copied snapshot.
    pub size: u64,
    /// Bytes of the backup file.
    pub bytes: u64,
}

impl Snapshot {
    /// Every stored checkpoint as (tree size, note), ascending by size. Reads the whole
    /// `checkpoints` table: for audits, not for serving.
    pub fn all_checkpoints(
        &self,
    ) -> Result<impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + '_, StoreError> {
        Ok(self.checkpoints.iter()?.map(|row| {
            let (k, v) = row?;
            Ok((k.value(), v.value().to_vec()))
        }))
    }

    /// Number of stored checkpoints.
    pub fn checkpoint_count(&self) -> Result<u64, StoreError> {
        Ok(self.checkpoints.len()?)
    }
}

impl Store {
    /// Writes a consistent copy of the store, as of one read transaction, to `out` (which
    /// must not exist): the writer keeps committing meanwhile (MVCC), and the copy holds
    /// exactly the snapshot's tables. It is written to `out` + `.partial`, made durable,
    /// renamed into place, and then opened and checked like any store ([`Store::open`]).
    pub fn backup_to(&self, out: &Path) -> Result<BackupReport, StoreError> {
        if out.exists() {
            return Err(StoreError::Db(redb::Error::Io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("backup target {} already exists", out.display()),
            ))));
        }
        let mut partial = out.as_os_str().to_owned();
        partial.push(".partial");
        let partial = std::path::PathBuf::from(partial);
        let io = |e: std::io::Error| StoreError::Db(redb::Error::Io(e));
        if partial.exists() {
            std::fs::remove_file(&partial).map_err(io)?;
        }
        let snap = self.snapshot()?;
        let size = snap.size;
        {
            let db = Database::create(&partial)?;
            let mut copier = Copier { db: &db, rows: 0 };
            copier.table(BUNDLES, &snap.bundles)?;
            copier.table(TAIL, &snap.tail)?;
            copier.table(TILES, &snap.tiles)?;
            copier.table(CHECKPOINTS, &snap.checkpoints)?;
            copier.table(DEDUP, &snap.dedup)?;
            copier.table(RELEASES, &snap.releases)?;
            copier.table(RELEASE_CHUNKS, &snap.release_chunks)?;
            // meta last, durably: until then the copy is not an initialised store.
            let txn = snap_meta_copy(&db, &snap)?;
            txn.commit()?;
        }
        drop(snap);
        std::fs::rename(&partial, out).map_err(io)?;
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        let copy = Store::open(out)?;
        let copied = copy.size()?;
        if copied != size {
            return Err(StoreError::Inconsistent {
                what: "backup's log size",
                found: copied,
                size,
            });
        }
        drop(copy);
        let bytes = std::fs::metadata(out).map_err(io)?.len();
        Ok(BackupReport { size, bytes })
    }
}

fn snap_meta_copy(db: &Database, snap: &Snapshot) -> Result<redb::WriteTransaction, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut meta = txn.open_table(META)?;
        super::write_meta(&mut meta, snap.size, &snap.root)?;
        meta.insert(META_LAYOUT, LAYOUT_VERSION.to_be_bytes().as_slice())?;
    }
    Ok(txn)
}

struct Copier<'a> {
    db: &'a Database,
    rows: usize,
}

impl Copier<'_> {
    fn txn(&self) -> Result<redb::WriteTransaction, StoreError> {
        let mut txn = self.db.begin_write()?;
        // Intermediate commits need not be durable: the final one is.
        txn.set_durability(Durability::None)?;
        Ok(txn)
    }

    fn table<K, V>(
        &mut self,
        def: redb::TableDefinition<K, V>,
        src: &redb::ReadOnlyTable<K, V>,
    ) -> Result<(), StoreError>
    where
        K: redb::Key + 'static,
        V: redb::Value + 'static,
    {
        let mut txn = self.txn()?;
        let mut dst = txn.open_table(def)?;
        for row in src.iter()? {
            let (k, v) = row?;
            dst.insert(k.value(), v.value())?;
            self.rows += 1;
            if self.rows.is_multiple_of(ROWS_PER_TXN) {
                drop(dst);
                txn.commit()?;
                txn = self.txn()?;
                dst = txn.open_table(def)?;
            }
        }
        drop(dst);
        txn.commit()?;
        Ok(())
    }
}
