//! Durable storage of the log: entries, Merkle hashes, signed checkpoints and indexes.
//!
//! This is the only module that touches the database (redb), so another backend (for
//! example an object store for tiles) can be added behind the same API later.
//!
//! # Layout
//!
//! | table         | key                              | value                          |
//! |---------------|----------------------------------|--------------------------------|
//! | `entries`     | index `u64`                      | entry (envelope) bytes         |
//! | `hashes`      | `(level u8, n u64)`              | 32-byte hash                   |
//! | `checkpoints` | tree size `u64`                  | signed checkpoint note bytes   |
//! | `meta`        | `"size"`, `"root"`               | 8-byte BE size, 32-byte root   |
//! | `dedup`       | leaf hash `[u8; 32]`             | index `u64`                    |
//! | `by_package`  | `"ecosystem\0package\0version"`  | index `u64` (multimap)         |
//!
//! `hashes` holds every RFC 6962 stored hash (all levels), keyed by its level and its
//! position on that level, so the hashes of C2SP tile `(L, N)` of width `W` are the
//! contiguous key range `(8L, 256N)..(8L, 256N + W)` and are read with one range scan.
//!
//! # Crash safety
//!
//! [`Store::append_batch`] writes a batch's entries, hashes, indexes *and* the checkpoint
//! signed over the new tree in one write transaction committed with immediate durability.
//! After a crash either all of it is on disk or none of it is, and a signed checkpoint is
//! only ever handed out after its commit returned, so the log never signs two different
//! trees of the same size. A checkpoint row is never overwritten: an attempt is an error.
//! [`Store::open`] refuses a store whose latest checkpoint, entry count, hash count and
//! root disagree.

use std::fmt;
use std::path::Path;

use quorate_proto::merkle::{self, Hash, HashReader, MerkleError};
use redb::{
    Database, Durability, MultimapTableDefinition, ReadOnlyMultimapTable, ReadOnlyTable,
    ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};

mod copy;
mod mirror;
pub use copy::BackupReport;

const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
const HASHES: TableDefinition<(u8, u64), &[u8; 32]> = TableDefinition::new("hashes");
const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const DEDUP: TableDefinition<&[u8; 32], u64> = TableDefinition::new("dedup");
const BY_PACKAGE: MultimapTableDefinition<&[u8], u64> = MultimapTableDefinition::new("by_package");

const META_SIZE: &str = "size";
const META_ROOT: &str = "root";

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
            let root = merkle::empty_root();
            let note = sign(0, root).map_err(|e| StoreError::Sign {
                size: 0,
                source: e.into(),
            })?;
            txn.open_table(ENTRIES)?;
            txn.open_table(HASHES)?;
            txn.open_table(DEDUP)?;
            txn.open_multimap_table(BY_PACKAGE)?;
            txn.open_table(CHECKPOINTS)?.insert(0, note.as_slice())?;
            let (s, r) = encode_meta(0, &root);
            meta.insert(META_SIZE, s.as_slice())?;
            meta.insert(META_ROOT, r.as_slice())?;
        }
        txn.commit()?;
        let store = Store { db };
        store.verify()?;
        Ok(store)
    }

    /// Opens an existing log (never creates one) and checks it is consistent: the latest
    /// checkpoint is for the recorded size, the entry, hash and dedup counts match it, and
    /// the stored hashes reproduce the recorded root ([`Store::verify`]). redb's
    /// integrity check is enabled, so a file altered outside redb is an error rather than
    /// a panic; it reads the whole file, so opening a large log takes a while.
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
            .set_check_integrity_on_open(true)
            .open(path.as_ref())
        {
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::InUse(path.as_ref().display().to_string()));
            }
            r => r?,
        };
        let store = Store { db };
        store.verify()?;
        Ok(store)
    }

    /// Runs the consistency checks [`Store::open`] runs.
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
        check("entry count", snap.entries.len()?)?;
        check("dedup row count", snap.dedup.len()?)?;
        if size > 0 {
            match snap.entries.last()? {
                Some((k, _)) => check("last entry index + 1", k.value() + 1)?,
                None => return Err(corrupt("entries", "last", "no entry")),
            }
        }
        let hashes = snap.hashes.len()?;
        let want = merkle::stored_hash_count(size);
        if hashes != want {
            return Err(corrupt(
                "hashes",
                "*",
                format!("{hashes} rows, expected {want} for size {size}"),
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
    /// [`Store::verify`], then re-hashes every entry and checks that it has the right
    /// dedup row and that every stored hash equals the one recomputed from the entries.
    pub fn verify_full(&self) -> Result<(), StoreError> {
        self.verify()?;
        let snap = self.snapshot()?;
        for row in snap.entries.range(0..snap.size)? {
            let (k, v) = row?;
            let n = k.value();
            let leaf = merkle::leaf_hash(v.value());
            match snap.dedup.get(&leaf)? {
                Some(i) if i.value() == n => {}
                Some(i) => {
                    return Err(corrupt(
                        "dedup",
                        leaf,
                        format!("maps to {}, entry is {n}", i.value()),
                    ));
                }
                None => return Err(corrupt("dedup", leaf, format!("missing for entry {n}"))),
            }
            // Reads only hashes below record n's, which earlier iterations verified.
            let want = merkle::stored_hashes_for_record_hash(n, leaf, &snap)?;
            let first = merkle::stored_hash_index(0, n);
            let indexes: Vec<u64> = (first..first + want.len() as u64).collect();
            let got = snap.read_hashes(&indexes)?;
            for ((i, w), g) in indexes.iter().zip(&want).zip(&got) {
                if w != g {
                    return Err(corrupt(
                        "hashes",
                        merkle::split_stored_hash_index(*i),
                        format!("does not match the hash recomputed from entry {n}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// A consistent read-only view of the log as of now. Holding it pins that version
    /// (old pages are not reused), so don't keep it for long.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META).map_err(table_err("meta"))?;
        let size = match meta.get(META_SIZE)? {
            Some(v) => decode_size(v.value())?,
            None => return Err(corrupt("meta", META_SIZE, "missing")),
        };
        let root = match meta.get(META_ROOT)? {
            Some(v) => merkle::hash_from_slice(v.value())
                .map_err(|e| corrupt("meta", META_ROOT, e.to_string()))?,
            None => return Err(corrupt("meta", META_ROOT, "missing")),
        };
        Ok(Snapshot {
            size,
            root,
            entries: txn.open_table(ENTRIES).map_err(table_err("entries"))?,
            hashes: txn.open_table(HASHES).map_err(table_err("hashes"))?,
            checkpoints: txn
                .open_table(CHECKPOINTS)
                .map_err(table_err("checkpoints"))?,
            dedup: txn.open_table(DEDUP).map_err(table_err("dedup"))?,
            by_package: txn
                .open_multimap_table(BY_PACKAGE)
                .map_err(table_err("by_package"))?,
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
        let (old_size, size, root, note);
        {
            let mut meta = txn.open_table(META).map_err(table_err("meta"))?;
            let mut entries = txn.open_table(ENTRIES).map_err(table_err("entries"))?;
            let mut hashes = txn.open_table(HASHES).map_err(table_err("hashes"))?;
            let mut checkpoints = txn
                .open_table(CHECKPOINTS)
                .map_err(table_err("checkpoints"))?;
            let mut dedup = txn.open_table(DEDUP).map_err(table_err("dedup"))?;
            let mut by_package = txn
                .open_multimap_table(BY_PACKAGE)
                .map_err(table_err("by_package"))?;

            old_size = match meta.get(META_SIZE)? {
                Some(v) => decode_size(v.value())?,
                None => return Err(corrupt("meta", META_SIZE, "missing")),
            };
            let mut n = old_size;
            for entry in batch {
                let leaf = merkle::leaf_hash(&entry.data);
                if let Some(i) = dedup.get(&leaf)? {
                    placed.push(Placed {
                        index: i.value(),
                        duplicate: true,
                    });
                    continue;
                }
                let new = merkle::stored_hashes_for_record_hash(n, leaf, &TableHashes(&hashes))?;
                let first = merkle::stored_hash_index(0, n);
                for (i, h) in new.iter().enumerate() {
                    let key = merkle::split_stored_hash_index(first + i as u64);
                    if hashes.insert(key, h)?.is_some() {
                        return Err(corrupt("hashes", key, "row exists beyond the tree"));
                    }
                }
                if entries.insert(n, entry.data.as_slice())?.is_some() {
                    return Err(corrupt("entries", n, "row exists beyond the tree"));
                }
                dedup.insert(&leaf, n)?;
                if let Some(key) = &entry.package_key {
                    by_package.insert(key.as_slice(), n)?;
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
                let snap_root = match meta.get(META_ROOT)? {
                    Some(v) => merkle::hash_from_slice(v.value())
                        .map_err(|e| corrupt("meta", META_ROOT, e.to_string()))?,
                    None => return Err(corrupt("meta", META_ROOT, "missing")),
                };
                let cp = match checkpoints.get(size)? {
                    Some(v) => v.value().to_vec(),
                    None => return Err(corrupt("checkpoints", size, "missing")),
                };
                drop((meta, entries, hashes, checkpoints, dedup, by_package));
                txn.abort()?;
                return Ok(BatchOutcome {
                    placed,
                    size,
                    root: snap_root,
                    checkpoint: cp,
                    signed: false,
                });
            }
            root = merkle::tree_hash(size, &TableHashes(&hashes))?;
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
            let (s, r) = encode_meta(size, &root);
            meta.insert(META_SIZE, s.as_slice())?;
            meta.insert(META_ROOT, r.as_slice())?;
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

/// Reads stored hashes from a `hashes` table (read-only or inside a write transaction).
fn read_stored<T>(table: &T, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError>
where
    T: ReadableTable<(u8, u64), &'static [u8; 32]>,
{
    indexes
        .iter()
        .map(|&i| {
            let key = merkle::split_stored_hash_index(i);
            match table.get(key) {
                Ok(Some(v)) => Ok(*v.value()),
                Ok(None) => Err(MerkleError::Storage(format!(
                    "table hashes, key {key:?} (stored index {i}): missing"
                ))),
                Err(e) => Err(MerkleError::Storage(format!(
                    "table hashes, key {key:?}: {e}"
                ))),
            }
        })
        .collect()
}

struct TableHashes<'a, T>(&'a T);

impl<T> HashReader for TableHashes<'_, T>
where
    T: ReadableTable<(u8, u64), &'static [u8; 32]>,
{
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        read_stored(self.0, indexes)
    }
}

/// A consistent read-only view of the log (one read transaction). Implements
/// [`HashReader`], so `merkle::prove_record(t, n, &snapshot)` etc. work on it for any
/// `t <= snapshot.size()`.
pub struct Snapshot {
    size: u64,
    root: Hash,
    entries: ReadOnlyTable<u64, &'static [u8]>,
    hashes: ReadOnlyTable<(u8, u64), &'static [u8; 32]>,
    checkpoints: ReadOnlyTable<u64, &'static [u8]>,
    dedup: ReadOnlyTable<&'static [u8; 32], u64>,
    by_package: ReadOnlyMultimapTable<&'static [u8], u64>,
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
        read_stored(&self.hashes, indexes)
    }
}

impl Snapshot {
    /// Tree size of this view.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Root hash of the tree of [`Self::size`] entries.
    pub fn root(&self) -> Hash {
        self.root
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
        match self.entries.get(index)? {
            Some(v) => Ok(v.value().to_vec()),
            None => Err(corrupt("entries", index, "missing")),
        }
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
        for (expect, row) in (start..end).zip(self.entries.range(start..end)?) {
            let (k, v) = row?;
            if k.value() != expect {
                return Err(corrupt("entries", expect, "missing"));
            }
            out.push(v.value().to_vec());
        }
        if out.len() as u64 != end - start {
            return Err(corrupt("entries", start + out.len() as u64, "missing"));
        }
        Ok(out)
    }

    /// Index of the entry with RFC 6962 leaf hash `leaf`, if present.
    pub fn lookup_leaf(&self, leaf: &Hash) -> Result<Option<u64>, StoreError> {
        Ok(self.dedup.get(leaf)?.map(|v| v.value()))
    }

    /// Indexes of entries for `(ecosystem, package, version)`, ascending.
    pub fn lookup_package(&self, eco: &str, pkg: &str, ver: &str) -> Result<Vec<u64>, StoreError> {
        let key = match package_key(eco, pkg, ver) {
            Ok(k) => k,
            Err(_) => return Ok(Vec::new()),
        };
        let mut out = Vec::new();
        for v in self.by_package.get(key.as_slice())? {
            out.push(v?.value());
        }
        Ok(out)
    }

    /// Up to `limit` indexes of entries for `(ecosystem, package, version)` that are
    /// `>= from`, ascending, and the next such index when more follow. Reads the index
    /// row by row, so a release with many entries costs no allocation beyond the page.
    pub fn lookup_package_page(
        &self,
        eco: &str,
        pkg: &str,
        ver: &str,
        from: u64,
        limit: usize,
    ) -> Result<(Vec<u64>, Option<u64>), StoreError> {
        let Ok(key) = package_key(eco, pkg, ver) else {
            return Ok((Vec::new(), None));
        };
        let mut out = Vec::new();
        for v in self.by_package.get(key.as_slice())? {
            let i = v?.value();
            if i < from {
                continue;
            }
            if out.len() == limit {
                return Ok((out, Some(i)));
            }
            out.push(i);
        }
        Ok((out, None))
    }

    /// Releases in the package index of `ecosystem` whose package name starts with
    /// `package_prefix` (equals it when `exact`), in index key order (package, then
    /// version, bytewise), strictly after the release `after` when given: at most
    /// `limit`, and whether more follow. Each comes with its number of entries. A range
    /// scan of the index, so the cost is bounded by `limit`, not by the log.
    pub fn search_releases(
        &self,
        eco: &str,
        package_prefix: &str,
        exact: bool,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<(Vec<ReleaseRow>, bool), StoreError> {
        use std::ops::Bound;
        if [eco, package_prefix].iter().any(|s| s.contains('\0')) {
            return Ok((Vec::new(), false));
        }
        let mut prefix = Vec::with_capacity(eco.len() + package_prefix.len() + 2);
        prefix.extend_from_slice(eco.as_bytes());
        prefix.push(0);
        prefix.extend_from_slice(package_prefix.as_bytes());
        if exact {
            prefix.push(0);
        }
        let after_key = match after {
            Some((pkg, ver)) => match package_key(eco, pkg, ver) {
                Ok(k) => Some(k),
                Err(_) => return Ok((Vec::new(), false)),
            },
            None => None,
        };
        let lower = match &after_key {
            Some(k) if k.as_slice() >= prefix.as_slice() => Bound::Excluded(k.as_slice()),
            _ => Bound::Included(prefix.as_slice()),
        };
        let mut out = Vec::new();
        for row in self.by_package.range::<&[u8]>((lower, Bound::Unbounded))? {
            let (k, values) = row?;
            let key = k.value();
            if !key.starts_with(&prefix) {
                break;
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            let mut parts = key.splitn(3, |b| *b == 0);
            let (Some(_), Some(p), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(corrupt(
                    "by_package",
                    String::from_utf8_lossy(key),
                    "key without two separators",
                ));
            };
            out.push(ReleaseRow {
                ecosystem: eco.to_owned(),
                package: String::from_utf8_lossy(p).into_owned(),
                version: String::from_utf8_lossy(v).into_owned(),
                entries: values.len(),
            });
        }
        Ok((out, false))
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
        if width == 0 || width > TILE_WIDTH {
            return Err(out_of_range());
        }
        let tree_level = level
            .checked_mul(TILE_HEIGHT)
            .filter(|l| *l < 64)
            .ok_or_else(out_of_range)?;
        let available = self.size >> tree_level;
        let start = index.checked_mul(TILE_WIDTH).ok_or_else(out_of_range)?;
        let end = start.checked_add(width).ok_or_else(out_of_range)?;
        if end > available {
            return Err(out_of_range());
        }
        let mut out = Vec::with_capacity(width as usize);
        for (expect, row) in
            (start..end).zip(self.hashes.range((tree_level, start)..(tree_level, end))?)
        {
            let (k, v) = row?;
            if k.value() != (tree_level, expect) {
                return Err(corrupt("hashes", (tree_level, expect), "missing"));
            }
            out.push(*v.value());
        }
        if out.len() as u64 != width {
            return Err(corrupt(
                "hashes",
                (tree_level, start + out.len() as u64),
                "missing",
            ));
        }
        Ok(out)
    }
}
