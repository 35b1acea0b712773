//! The witness's durable state: one redb file with two tables.
//!
//! - `checkpoints`: origin -> (size, root hash, signed note bytes) of the latest
//!   checkpoint cosigned for that origin.
//! - `equivocations`: evidence id (SHA-256 of the encoded evidence) -> (origin, encoded
//!   `quorate-equivocation/v1` evidence).
//!
//! Every write transaction commits with redb's default `Durability::Immediate`, so a
//! commit returns only once the data is on disk (fsync'd). redb allows one write
//! transaction at a time; [`crate::Witness`] does its compare-and-swap inside one.

use std::path::Path;

use quorate_proto::merkle::Hash;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

pub(crate) const CHECKPOINTS: TableDefinition<&str, (u64, [u8; 32], &[u8])> =
    TableDefinition::new("checkpoints");
pub(crate) const EQUIVOCATIONS: TableDefinition<&[u8], (&str, &[u8])> =
    TableDefinition::new("equivocations");

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
#[derive(Debug, thiserror::Error)]
#[error("witness state: {0}")]
pub struct StoreError(String);

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

impl Store {
    /// Opens (creating if needed) the state file and its tables.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        tx.open_table(CHECKPOINTS)?;
        tx.open_table(EQUIVOCATIONS)?;
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

    /// All stored evidence, ordered by id.
    pub fn equivocations(&self) -> Result<Vec<StoredEquivocation>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(EQUIVOCATIONS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
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
        Ok(out)
    }

    /// Stores evidence durably; returns whether it was new.
    pub(crate) fn insert_equivocation(
        &self,
        id: &Hash,
        origin: &str,
        text: &str,
    ) -> Result<bool, StoreError> {
        let tx = self.db.begin_write()?;
        let new = {
            let mut t = tx.open_table(EQUIVOCATIONS)?;
            if t.get(id.as_slice())?.is_some() {
                false
            } else {
                t.insert(id.as_slice(), (origin, text.as_bytes()))?;
                true
            }
        };
        if new {
            tx.commit()?;
        } else {
            tx.abort()?;
        }
        Ok(new)
    }
}
