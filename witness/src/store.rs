//! The witness's durable state: one redb file with two tables.
//!
//! - `checkpoints`: origin -> (size, root hash, signed note bytes) of the latest
//!   checkpoint cosigned for that origin.
//! - `equivocations`: evidence id (SHA-256 of the canonical encoded evidence) -> (origin,
//!   canonical `quorate-equivocation/v1` evidence).
//! - `equivocation_counts`: origin -> number of evidence rows for it, kept in the same
//!   transaction as every insert, so counting and the per-origin bound
//!   ([`MAX_EVIDENCE_PER_ORIGIN`]) never read the evidence table.
//!
//! Every write transaction commits with redb's default `Durability::Immediate`, so a
//! commit returns only once the data is on disk (fsync'd). redb allows one write
//! transaction at a time; [`crate::Witness`] does its compare-and-swap inside one.

use std::ops::Bound;
use std::path::Path;

use quorate_proto::merkle::Hash;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

pub(crate) const CHECKPOINTS: TableDefinition<&str, (u64, [u8; 32], &[u8])> =
    TableDefinition::new("checkpoints");
pub(crate) const EQUIVOCATIONS: TableDefinition<&[u8], (&str, &[u8])> =
    TableDefinition::new("equivocations");
pub(crate) const EQUIVOCATION_COUNTS: TableDefinition<&str, u64> =
    TableDefinition::new("equivocation_counts");

/// Most evidence items stored per origin. One verified item already makes the witness
/// refuse that log for good; a few more keep distinct forks visible. A log that signs
/// many forks (or re-signs one: Ed25519 lets the key holder make many valid signatures
/// of one note) cannot grow the table past this.
pub const MAX_EVIDENCE_PER_ORIGIN: u64 = 4;

/// What storing a piece of evidence did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Stored: not held before, and the origin was under its bound.
    New,
    /// The same canonical evidence is already stored.
    Known,
    /// Not stored: the origin already has [`MAX_EVIDENCE_PER_ORIGIN`] items.
    Enough,
}

/// The latest checkpoint cosigned for one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub root: Hash,
    /// The signed note as it was presented (log signature included).
    pub note: Vec<u8>,
}

/// A stored piece of equivocation evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEquivocation {
    /// SHA-256 of `evidence` ([`quorate_proto::equivocation::Equivocation::id`]).
    pub id: Hash,
    pub origin: String,
    /// The `quorate-equivocation/v1` text.
    pub evidence: String,
}

/// A storage failure. The witness answers 500 and cosigns nothing.
#[derive(Debug, Clone, thiserror::Error)]
#[error("witness state: {0}")]
pub struct StoreError(String);

impl StoreError {
    pub(crate) fn from_message(m: &str) -> StoreError {
        StoreError(m.to_owned())
    }
}

macro_rules! store_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError(e.to_string())
            }
        }
    )*};
}
store_err!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// The redb database holding the witness state.
#[derive(Debug)]
pub struct Store {
    pub(crate) db: Database,
}

/// redb's page cache for the state file unless the caller names another size
/// (`quorate-witness serve --store-cache-mib`). redb's own default, 1 GiB, keeps every
/// page it reads or writes until that size, so a serving witness's resident memory
/// followed the pages its copy-on-write commits touched (a 10-minute soak at 1,939
/// add-checkpoint/s went 8.1 -> 20.5 -> 25.9 MiB). The state is one row per log plus
/// evidence: a few MiB cache every page of thousands of logs' checkpoints.
pub const DEFAULT_CACHE_BYTES: usize = 4 << 20;

impl Store {
    /// Opens (creating if needed) the state file and its tables, with redb's page cache
    /// bounded by [`DEFAULT_CACHE_BYTES`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// [`Store::open`] with redb's page cache bounded by `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Store, StoreError> {
        Store::init(
            Database::builder()
                .set_cache_size(cache_bytes)
                .create(path)?,
        )
    }

    /// Creates the tables in `db` if needed.
    pub(crate) fn init(db: Database) -> Result<Store, StoreError> {
        let tx = db.begin_write()?;
        tx.open_table(CHECKPOINTS)?;
        {
            let evidence = tx.open_table(EQUIVOCATIONS)?;
            let mut counts = tx.open_table(EQUIVOCATION_COUNTS)?;
            // A state file from before the counts table: count its evidence once.
            if counts.is_empty()? && !evidence.is_empty()? {
                for row in evidence.iter()? {
                    let (_, v) = row?;
                    let origin = v.value().0;
                    let n = counts.get(origin)?.map_or(0, |g| g.value());
                    counts.insert(origin, n + 1)?;
                }
            }
        }
        tx.commit()?;
        Ok(Store { db })
    }

    /// The latest cosigned checkpoint for `origin`, if any.
    pub fn latest(&self, origin: &str) -> Result<Option<StoredCheckpoint>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(CHECKPOINTS)?;
        Ok(t.get(origin)?.map(|g| {
            let (size, root, note) = g.value();
            StoredCheckpoint {
                size,
                root,
                note: note.to_vec(),
            }
        }))
    }

    /// Every origin with a cosigned checkpoint, with its state.
    pub fn all_latest(&self) -> Result<Vec<(String, StoredCheckpoint)>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(CHECKPOINTS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            let (size, root, note) = v.value();
            out.push((
                k.value().to_owned(),
                StoredCheckpoint {
                    size,
                    root,
                    note: note.to_vec(),
                },
            ));
        }
        Ok(out)
    }

    /// All stored evidence, ordered by id. At most [`MAX_EVIDENCE_PER_ORIGIN`] items per
    /// origin the witness follows (plus what an older version stored).
    pub fn equivocations(&self) -> Result<Vec<StoredEquivocation>, StoreError> {
        Ok(self.equivocations_page(None, usize::MAX)?.0)
    }

    /// Up to `limit` items of evidence with ids after `after` (all when `None`), ordered by
    /// id, and whether more follow.
    pub fn equivocations_page(
        &self,
        after: Option<&Hash>,
        limit: usize,
    ) -> Result<(Vec<StoredEquivocation>, bool), StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(EQUIVOCATIONS)?;
        let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.as_slice()));
        let mut out = Vec::new();
        for row in t.range::<&[u8]>((start, Bound::Unbounded))? {
            if out.len() == limit {
                return Ok((out, true));
            }
            let (k, v) = row?;
            let (origin, text) = v.value();
            let Ok(id) = <Hash>::try_from(k.value()) else {
                continue;
            };
            out.push(StoredEquivocation {
                id,
                origin: origin.to_owned(),
                evidence: String::from_utf8_lossy(text).into_owned(),
            });
        }
        Ok((out, false))
    }

    /// Evidence items per origin, from the counts table (one row per origin).
    pub fn equivocation_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(EQUIVOCATION_COUNTS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_owned(), v.value()));
        }
        Ok(out)
    }

    /// Stores evidence durably unless it is known or its origin is at its bound.
    pub(crate) fn insert_equivocation(
        &self,
        id: &Hash,
        origin: &str,
        text: &str,
    ) -> Result<Recorded, StoreError> {
        let tx = self.db.begin_write()?;
        let outcome = {
            let mut t = tx.open_table(EQUIVOCATIONS)?;
            let mut counts = tx.open_table(EQUIVOCATION_COUNTS)?;
            let n = counts.get(origin)?.map_or(0, |g| g.value());
            if t.get(id.as_slice())?.is_some() {
                Recorded::Known
            } else if n >= MAX_EVIDENCE_PER_ORIGIN {
                Recorded::Enough
            } else {
                t.insert(id.as_slice(), (origin, text.as_bytes()))?;
                counts.insert(origin, n + 1)?;
                Recorded::New
            }
        };
        if outcome == Recorded::New {
            tx.commit()?;
        } else {
            tx.abort()?;
        }
        Ok(outcome)
    }
}
