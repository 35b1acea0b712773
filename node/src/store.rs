//! Durable storage of the log: entries, Merkle hashes, signed checkpoints and indexes.
//!
//! This is the only module that touches the database (redb), so another backend (for
//! example an object store for tiles) can be added behind the same API later.
//!
//! # Layout (version 3; tables and the reasons for their shapes in `layout`)
//!
//! | table           | key                              | value                              |
//! |-----------------|----------------------------------|------------------------------------|
//! | `entry_bundles` | index `u64` of its first entry   | consecutive entries, <= 64 KiB     |
//! | `entry_tail`    | index `u64`                      | entry bytes (after the last row)   |
//! | `hash_tiles`    | `(level u8, row u64)`            | up to 254 hashes of an even level  |
//! | `checkpoints`   | tree size `u64`                  | signed checkpoint note bytes       |
//! | `meta`          | `"size"`, `"root"`, `"layout"`   | 8-byte BE size, root, BE `u32` 3   |
//! | `dedup_prefix`  | `(leaf hash[..8] u64, index u64)`| nothing                            |
//! | `releases`      | `"ecosystem\0package\0version"`  | entry count, first 64 indexes      |
//! | `release_chunks`| release key, `\0`, chunk `u64`   | the next 64 indexes of the release |
//!
//! A store of layout version 1 (one row per hash in `hashes`, one per entry in
//! `entries`, full leaf hashes in `dedup`) or 2 (package index in the multimap
//! `by_package`) is migrated on open, in one transaction.
//!
//! # Crash safety
//!
//! [`Store::append_batch`] writes a batch's entries, hashes, indexes *and* the checkpoint
//! signed over the new tree in one write transaction committed with immediate durability.
//! After a crash either all of it is on disk or none of it is, and a signed checkpoint is
//! only ever handed out after its commit returned, so the log never signs two different
//! trees of the same size. A checkpoint row is never overwritten: an attempt is an error.
//! [`Store::open`] refuses a store whose latest checkpoint, entry rows, tiles and root
//! disagree; its checks read O(log size) rows, so opening takes the same time at any size.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use quorate_proto::merkle::{self, Hash, HashReader, MerkleError};
use redb::{Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable};

mod append;
mod bundles;
mod copy;
mod layout;
mod migrate;
mod mirror;
mod packages;
mod releases;
mod snapshot;
mod tiles;
use tiles::RowCache;
mod verify;
pub use copy::BackupReport;

use layout::{
    BUNDLES, CHECKPOINTS, DEDUP, LAYOUT_VERSION, META, META_LAYOUT, META_ROOT, META_SIZE,
    RELEASE_CHUNKS, RELEASES, TAIL, TILES, name,
};

/// Number of hashes in a full C2SP tile.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels covered by one tile level.
pub const TILE_HEIGHT: u8 = 8;

/// Boxed error returned by a checkpoint signing callback.
pub type SignError = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database layer failed (I/O, locking, corruption detected by redb, ...).
    #[error("database error: {0}")]
    Db(#[from] redb::Error),
    /// Another process (another node on the same data directory) has the store open:
    /// redb locks the file.
    #[error("{0} is in use by another process: another node is running on this data directory")]
    InUse(String),
    /// The file holds no initialised log; create it with [`Store::create`].
    #[error("store is not initialised (no {0} table); create it first")]
    NotInitialised(&'static str),
    /// [`Store::create`] was pointed at a store that already holds a log.
    #[error("store is already initialised (log size {size})")]
    AlreadyInitialised {
        /// Size of the existing log.
        size: u64,
    },
    /// The store's tables disagree with each other.
    #[error(
        "inconsistent store: {what} is {found}, but the log size recorded in table meta \
         (written with each checkpoint) is {size}"
    )]
    Inconsistent {
        /// What was counted (e.g. "entry count").
        what: &'static str,
        /// What was found.
        found: u64,
        /// Log size recorded in `meta`, written in the same transaction as each checkpoint.
        size: u64,
    },
    /// A row is missing or malformed.
    #[error("corrupt store: table {table}, key {key}: {reason}")]
    Corrupt {
        /// Table holding the bad row.
        table: &'static str,
        /// The row's key, formatted.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A read asked for something beyond the current tree.
    #[error("{what} is beyond the tree of size {size}")]
    OutOfRange {
        /// Description of the request.
        what: String,
        /// The tree size it was checked against.
        size: u64,
    },
    /// The file holds a log in a layout this build does not read.
    #[error(
        "store layout version {found} is not supported by this build (it reads version \
         {LAYOUT_VERSION} and migrates versions 1 and 2); run a quorate-node that writes layout \
         {found}, or restore a backup made in a supported layout"
    )]
    UnsupportedLayout {
        /// The version recorded in table meta, key "layout".
        found: String,
    },
    /// An entry was rejected before any write (see [`NewEntry::new`]).
    #[error("invalid entry: {0}")]
    InvalidEntry(String),
    /// Merkle tree arithmetic failed (includes missing stored hashes).
    #[error("merkle: {0}")]
    Merkle(#[from] MerkleError),
    /// The checkpoint signing callback failed; nothing of the batch was written.
    #[error("signing checkpoint for size {size} failed: {source}")]
    Sign {
        /// Tree size that was to be signed.
        size: u64,
        /// The callback's error.
        source: SignError,
    },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

fn corrupt(table: &'static str, key: impl fmt::Debug, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table,
        key: format!("{key:?}"),
        reason: reason.into(),
    }
}

/// Opens a table, turning "does not exist" into [`StoreError::NotInitialised`].
fn table_err(name: &'static str) -> impl FnOnce(redb::TableError) -> StoreError {
    move |e| match e {
        redb::TableError::TableDoesNotExist(_) => StoreError::NotInitialised(name),
        e => e.into(),
    }
}

/// One entry to append, with the index rows it should get.
///
/// The leaf hash is computed by the store from the bytes, so it always matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    data: Vec<u8>,
    package_key: Option<Vec<u8>>,
}

impl NewEntry {
    /// An entry with bytes `data`, indexed under `(ecosystem, package, version)` if given.
    ///
    /// Fails if `data` is empty or a package field contains a NUL byte (the key separator).
    pub fn new(data: Vec<u8>, package: Option<(&str, &str, &str)>) -> Result<Self, StoreError> {
        if data.is_empty() {
            return Err(StoreError::InvalidEntry("entry is empty".into()));
        }
        // An entry that no entry bundle can carry (uint16 length prefix) could be logged
        // but never served: refuse it before it becomes a permanent hole in the read path.
        if data.len() > usize::from(u16::MAX) {
            return Err(StoreError::InvalidEntry(format!(
                "entry is {} bytes, over the {} an entry bundle can carry",
                data.len(),
                u16::MAX
            )));
        }
        let package_key = match package {
            Some((eco, pkg, ver)) => Some(package_key(eco, pkg, ver)?),
            None => None,
        };
        Ok(NewEntry { data, package_key })
    }

    /// The entry bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

fn package_key(eco: &str, pkg: &str, ver: &str) -> Result<Vec<u8>, StoreError> {
    if [eco, pkg, ver].iter().any(|s| s.contains('\0')) {
        return Err(StoreError::InvalidEntry(
            "package fields must not contain NUL".into(),
        ));
    }
    let mut key = Vec::with_capacity(eco.len() + pkg.len() + ver.len() + 2);
    key.extend_from_slice(eco.as_bytes());
    key.push(0);
    key.extend_from_slice(pkg.as_bytes());
    key.push(0);
    key.extend_from_slice(ver.as_bytes());
    Ok(key)
}

/// One release in the package index ([`Snapshot::search_releases`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRow {
    pub ecosystem: String,
    pub package: String,
    pub version: String,
    /// Entries logged for the release.
    pub entries: u64,
}

/// Where one entry of a batch ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// The entry's index in the log.
    pub index: u64,
    /// True if the entry was already in the log (or earlier in the same batch) and
    /// `index` is that earlier position.
    pub duplicate: bool,
}

/// Result of [`Store::append_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// One result per submitted entry, in submission order.
    pub placed: Vec<Placed>,
    /// Tree size after the batch (and size of `checkpoint`).
    pub size: u64,
    /// Root hash of the tree of `size` entries.
    pub root: Hash,
    /// Signed checkpoint note covering every entry of the batch.
    pub checkpoint: Vec<u8>,
    /// True if this batch signed a new checkpoint; false if every entry was a duplicate
    /// and `checkpoint` is the previous latest one.
    pub signed: bool,
}

/// A handle to the on-disk log. Cheap to share behind an `Arc`; reads and the single
/// writer run concurrently (MVCC).
pub struct Store {
    db: Database,
    /// Full upper hash rows, shared by every snapshot (see `tiles::RowCache`).
    rows: Arc<RowCache>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn encode_meta(size: u64, root: &Hash) -> ([u8; 8], Hash) {
    (size.to_be_bytes(), *root)
}

/// redb's page cache for an opened store unless the caller names another size
/// (`store_cache_mib`). redb's own default, 1 GiB, keeps every page read or written
/// cached up to that size, so a serving node's resident memory grows with its store file
/// (a 60 s soak went from 20 to 86 MiB): not a leak, but not flat either. Past this bound
/// reads come from the kernel's page cache, which the kernel can reclaim.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

impl Store {
    /// Creates a new log at `path` (file created if missing) holding the empty tree and
    /// its checkpoint, produced by `sign(0, empty_root)`. Fails with
    /// [`StoreError::AlreadyInitialised`] if the file already holds a log.
    pub fn create<E>(
        path: impl AsRef<Path>,
        sign: impl FnOnce(u64, Hash) -> Result<Vec<u8>, E>,
    ) -> Result<Store, StoreError>
    where
        E: Into<SignError>,
    {
        let root = merkle::empty_root();
        Store::create_tables(path, |txn| {
            let note = sign(0, root).map_err(|e| StoreError::Sign {
                size: 0,
                source: e.into(),
            })?;
            txn.open_table(CHECKPOINTS)?.insert(0, note.as_slice())?;
            Ok(())
        })
    }

    /// Creates the tables of an empty tree (size 0) in a new file, plus whatever `more`
    /// writes in the same transaction.
    fn create_tables(
        path: impl AsRef<Path>,
        more: impl FnOnce(&redb::WriteTransaction) -> Result<(), StoreError>,
    ) -> Result<Store, StoreError> {
        let db = Database::create(path)?;
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut meta = txn.open_table(META)?;
            if let Some(v) = meta.get(META_SIZE)? {
                return Err(StoreError::AlreadyInitialised {
                    size: decode_size(v.value())?,
                });
            }
            txn.open_table(BUNDLES)?;
            txn.open_table(TAIL)?;
            txn.open_table(TILES)?;
            txn.open_table(DEDUP)?;
            txn.open_table(CHECKPOINTS)?;
            txn.open_table(RELEASES)?;
            txn.open_table(RELEASE_CHUNKS)?;
            write_meta(&mut meta, 0, &merkle::empty_root())?;
            meta.insert(META_LAYOUT, LAYOUT_VERSION.to_be_bytes().as_slice())?;
            more(&txn)?;
        }
        txn.commit()?;
        let store = Store {
            db,
            rows: Arc::default(),
        };
        store.verify()?;
        Ok(store)
    }

    /// Opens an existing log (never creates one), migrates a layout-1 or -2 store to the
    /// current layout (one transaction: after a crash it is either as it was or done), and
    /// checks it is consistent ([`Store::verify`], which reads O(log size) rows).
    ///
    /// redb's whole-file integrity check is not run here: it reads the entire file, so a
    /// restart would grow with the log (about 24 s at 10M entries). `quorate-node verify`
    /// runs it ([`Store::check_integrity`]) along with the full audit.
    ///
    /// redb locks the file: only one `Store` (one process) may have it open. redb's page
    /// cache is bounded by [`DEFAULT_CACHE_BYTES`] ([`Store::open_with_cache`] sets another).
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Self::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// [`Store::open`] with redb's page cache bounded by `cache_bytes`.
    pub fn open_with_cache(
        path: impl AsRef<Path>,
        cache_bytes: usize,
    ) -> Result<Store, StoreError> {
        let db = match Database::builder()
            .set_cache_size(cache_bytes)
            .open(path.as_ref())
        {
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::InUse(path.as_ref().display().to_string()));
            }
            r => r?,
        };
        migrate::upgrade(&db)?;
        let store = Store {
            db,
            rows: Arc::default(),
        };
        store.verify()?;
        Ok(store)
    }

    /// redb's check of every page's checksum and of its own allocator state (reads the
    /// whole file). Needs the only handle on the store.
    pub fn check_integrity(&mut self) -> Result<(), StoreError> {
        if self.db.check_integrity()? {
            Ok(())
        } else {
            Err(corrupt(
                "*",
                "*",
                "redb's integrity check repaired the file (it had been damaged)",
            ))
        }
    }

    /// A consistent read-only view of the log as of now. Holding it pins that version
    /// (old pages are not reused), so don't keep it for long.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META).map_err(table_err("meta"))?;
        let (size, root) = read_meta(&meta)?;
        Ok(Snapshot {
            size,
            root,
            bundles: txn.open_table(BUNDLES).map_err(table_err(name::BUNDLES))?,
            tail: txn.open_table(TAIL).map_err(table_err(name::TAIL))?,
            tiles: txn.open_table(TILES).map_err(table_err(name::TILES))?,
            checkpoints: txn
                .open_table(CHECKPOINTS)
                .map_err(table_err("checkpoints"))?,
            dedup: txn.open_table(DEDUP).map_err(table_err(name::DEDUP))?,
            releases: txn
                .open_table(RELEASES)
                .map_err(table_err(name::RELEASES))?,
            release_chunks: txn
                .open_table(RELEASE_CHUNKS)
                .map_err(table_err(name::RELEASE_CHUNKS))?,
            rows: Arc::clone(&self.rows),
        })
    }

    /// Current tree size.
    pub fn size(&self) -> Result<u64, StoreError> {
        Ok(self.snapshot()?.size)
    }

    /// The latest signed checkpoint and its tree size.
    pub fn latest_checkpoint(&self) -> Result<(u64, Vec<u8>), StoreError> {
        self.snapshot()?.latest_checkpoint()
    }

    /// The checkpoint signed at tree size `size`, if one was.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.snapshot()?.checkpoint_at(size)
    }

    /// Entry `index`; [`StoreError::OutOfRange`] if `index >= size`.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, StoreError> {
        self.snapshot()?.entry(index)
    }

    /// Entries `start..end`; [`StoreError::OutOfRange`] unless `start <= end <= size`.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        self.snapshot()?.entries(start, end)
    }

    /// Index of the entry with RFC 6962 leaf hash `leaf`, if present.
    pub fn lookup_leaf(&self, leaf: &Hash) -> Result<Option<u64>, StoreError> {
        self.snapshot()?.lookup_leaf(leaf)
    }

    /// Indexes of entries for `(ecosystem, package, version)`, ascending.
    pub fn lookup_package(&self, eco: &str, pkg: &str, ver: &str) -> Result<Vec<u64>, StoreError> {
        self.snapshot()?.lookup_package(eco, pkg, ver)
    }

    /// Hashes of C2SP tile `(level, index)` with `width` hashes; see
    /// [`Snapshot::tile_hashes`].
    pub fn tile_hashes(&self, level: u8, index: u64, width: u16) -> Result<Vec<Hash>, StoreError> {
        self.snapshot()?.tile_hashes(level, index, width)
    }
}

fn decode_size(bytes: &[u8]) -> Result<u64, StoreError> {
    let b: [u8; 8] = bytes.try_into().map_err(|_| {
        corrupt(
            "meta",
            META_SIZE,
            format!("{} bytes, expected 8", bytes.len()),
        )
    })?;
    Ok(u64::from_be_bytes(b))
}

/// Size and root recorded in `meta`.
fn read_meta(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<(u64, Hash), StoreError> {
    let size = match meta.get(META_SIZE)? {
        Some(v) => decode_size(v.value())?,
        None => return Err(corrupt("meta", META_SIZE, "missing")),
    };
    let root = match meta.get(META_ROOT)? {
        Some(v) => merkle::hash_from_slice(v.value())
            .map_err(|e| corrupt("meta", META_ROOT, e.to_string()))?,
        None => return Err(corrupt("meta", META_ROOT, "missing")),
    };
    Ok((size, root))
}

fn write_meta(
    meta: &mut redb::Table<'_, &'static str, &'static [u8]>,
    size: u64,
    root: &Hash,
) -> Result<(), StoreError> {
    let (s, r) = encode_meta(size, root);
    meta.insert(META_SIZE, s.as_slice())?;
    meta.insert(META_ROOT, r.as_slice())?;
    Ok(())
}

/// A consistent read-only view of the log (one read transaction). Implements
/// [`HashReader`], so `merkle::prove_record(t, n, &snapshot)` etc. work on it for any
/// `t <= snapshot.size()`.
pub struct Snapshot {
    size: u64,
    root: Hash,
    bundles: ReadOnlyTable<u64, &'static [u8]>,
    tail: ReadOnlyTable<u64, &'static [u8]>,
    tiles: ReadOnlyTable<(u8, u64), &'static [u8]>,
    checkpoints: ReadOnlyTable<u64, &'static [u8]>,
    dedup: ReadOnlyTable<(u64, u64), ()>,
    releases: ReadOnlyTable<&'static [u8], &'static [u8]>,
    release_chunks: ReadOnlyTable<&'static [u8], &'static [u8]>,
    rows: Arc<RowCache>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl HashReader for Snapshot {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.hash_reader().read_hashes(indexes)
    }
}
