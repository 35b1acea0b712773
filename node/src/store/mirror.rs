//! The store of `quorate-node mirror`: the same tables, holding another log's entries and
//! the checkpoints that log signed. A child of [`super`] so that it can create a store
//! without a checkpoint of its own.

use std::path::Path;

use quorate_proto::merkle::Hash;

use super::{NewEntry, Store, StoreError};

impl Store {
    /// Creates an empty store for a mirror: the tables, size 0, and no checkpoint (the
    /// mirror cannot sign one; its first checkpoint is the mirrored log's, with entries).
    /// Fails with [`StoreError::AlreadyInitialised`] if the file holds a log.
    pub fn create_mirror(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::create_tables(path, |_| Ok(()))
    }

    /// Appends `entries` (verified against the mirrored log's tiles) and stores `note`,
    /// that log's checkpoint for `(size, root)`, in one durable transaction. Refused, with
    /// nothing written, unless the entries make exactly that tree: an entry that is
    /// already in the store (a Quorate store indexes each entry once) or one that differs
    /// changes the size or the root.
    pub fn append_mirrored(
        &self,
        entries: Vec<Vec<u8>>,
        note: &[u8],
        size: u64,
        root: Hash,
    ) -> Result<(), StoreError> {
        let batch = entries
            .into_iter()
            .map(|e| NewEntry::new(e, None))
            .collect::<Result<Vec<_>, _>>()?;
        let out = self.append_batch(batch, |got_size, got_root| {
            if got_size == size && got_root == root {
                Ok(note.to_vec())
            } else if got_size != size {
                Err(format!(
                    "the entries make a tree of size {got_size}, not the checkpoint's {size} \
                     (an entry the store already holds was logged again?)"
                ))
            } else {
                Err(format!(
                    "the entries make a tree of size {size} whose root is not the checkpoint's"
                ))
            }
        })?;
        if !out.signed {
            return Err(StoreError::InvalidEntry(
                "no new entry to append (every one is already in the store)".into(),
            ));
        }
        Ok(())
    }
}
