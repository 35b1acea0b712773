//! Following the origin log: each round fetches its checkpoint, verifies the signature
//! with the log's key, proves it consistent with the checkpoint the mirror holds, fetches
//! and checks the new entries, and commits them with the checkpoint in one durable
//! transaction. When the two checkpoints cannot both be honest, the proof of it
//! (`quorate-equivocation/v1` evidence, verified under the log's key) is stored and the
//! mirror stops following: it keeps serving what it verified, and the evidence.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use quorate_proto::checkpoint::{VerifiedCheckpoint, verify_checkpoint};
use quorate_proto::equivocation::Equivocation;
use quorate_proto::merkle;
use quorate_proto::note::Ed25519Verifier;
use quorate_proto::tile::{self, TileHashReader};

use super::origin::Origin;
use crate::store::Store;

/// Why a round failed (the next round tries again).
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The origin could not be read.
    #[error("reading {0}")]
    Fetch(String),
    /// The origin's checkpoint does not verify under the log's key.
    #[error("the origin's checkpoint does not verify: {0}")]
    Checkpoint(String),
    /// A tile or bundle does not authenticate against the checkpoint.
    #[error("the origin's tiles do not match its checkpoint: {0}")]
    Tiles(String),
    /// The log grew by more than one round may hold.
    #[error(
        "the log grew by more than {limit} bytes of entries since the mirror's checkpoint \
         (raise --max-step-mib)"
    )]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The mirror's own store failed.
    #[error("the mirror's store: {0}")]
    Store(String),
}

/// What a round did.
#[derive(Debug, PartialEq, Eq)]
pub enum Round {
    /// Same checkpoint as held.
    Unchanged,
    /// Same tree, newer signatures (e.g. fresher cosignatures): served from now on.
    Refreshed,
    /// Entries `from..to` verified and stored with the new checkpoint.
    Grew {
        /// Old size.
        from: u64,
        /// New size.
        to: u64,
    },
    /// The origin serves a smaller checkpoint consistent with the mirror's (a stale cache
    /// in front of it?): ignored.
    Stale {
        /// The size it served.
        size: u64,
    },
    /// Evidence that the log forked; stored, and following stops.
    Evidence,
}

/// State shared with the HTTP side.
#[derive(Debug, Default)]
pub struct Shared {
    /// The checkpoint served at `/checkpoint` (the newest verified note of the store's
    /// size), if any.
    pub served: RwLock<Option<Vec<u8>>>,
    /// Evidence held (canonical texts).
    pub evidence: RwLock<Vec<String>>,
    /// The last round's error, if it failed.
    pub last_error: RwLock<Option<String>>,
}

/// The follower of one log.
pub struct Follower {
    pub(super) origin: Origin,
    pub(super) verifier: Ed25519Verifier,
    pub(super) store: Arc<Store>,
    pub(super) dir: PathBuf,
    pub(super) max_step_bytes: u64,
    pub(super) shared: Arc<Shared>,
}

/// Where the served checkpoint is kept between runs.
pub fn served_path(dir: &Path) -> PathBuf {
    dir.join("checkpoint")
}

/// Where evidence is kept (one file per piece, named by its id).
pub fn evidence_dir(dir: &Path) -> PathBuf {
    dir.join("evidence")
}

impl Follower {
    fn verify(&self, note: &[u8]) -> Result<VerifiedCheckpoint, String> {
        verify_checkpoint(note, &self.verifier, &[]).map_err(|e| e.to_string())
    }

    /// The note the mirror serves for its store's size: the served file when it matches
    /// the store, else the store's own row. `None` before the first checkpoint.
    pub fn held(&self) -> Result<Option<VerifiedCheckpoint>, FollowError> {
        let snap = self
            .store
            .snapshot()
            .map_err(|e| FollowError::Store(e.to_string()))?;
        let size = snap.size();
        let stored = snap
            .checkpoint_at(size)
            .map_err(|e| FollowError::Store(e.to_string()))?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let stored = self
            .verify(&stored)
            .map_err(|e| FollowError::Store(format!("stored checkpoint {size}: {e}")))?;
        let served = self.shared.served.read().ok().and_then(|g| g.clone());
        if let Some(n) = served
            && let Ok(v) = self.verify(&n)
            && v.checkpoint().size() == size
            && v.checkpoint().root_hash() == stored.checkpoint().root_hash()
        {
            return Ok(Some(v));
        }
        Ok(Some(stored))
    }

    fn serve_note(&self, note: &[u8]) {
        let _ = crate::datadir::write_atomic(&served_path(&self.dir), note);
        if let Ok(mut g) = self.shared.served.write() {
            *g = Some(note.to_vec());
        }
    }

    fn keep_evidence(&self, ev: Equivocation) -> Result<Round, FollowError> {
        let v = ev
            .verify(&self.verifier)
            .map_err(|e| FollowError::Store(format!("evidence does not verify: {e}")))?;
        let canon = v.canonical();
        let text = canon.to_text();
        let hex: String = canon.id().iter().map(|b| format!("{b:02x}")).collect();
        let dir = evidence_dir(&self.dir);
        std::fs::create_dir_all(&dir).map_err(|e| FollowError::Store(e.to_string()))?;
        crate::datadir::write_atomic(&dir.join(hex), text.as_bytes())
            .map_err(|e| FollowError::Store(format!("{e:#}")))?;
        if let Ok(mut g) = self.shared.evidence.write() {
            g.push(text);
        }
        Ok(Round::Evidence)
    }

    /// One round (blocking).
    pub fn round(&self) -> Result<Round, FollowError> {
        let note = self.origin.checkpoint().map_err(FollowError::Fetch)?;
        let vc = self.verify(&note).map_err(FollowError::Checkpoint)?;
        let (size, root) = (vc.checkpoint().size(), *vc.checkpoint().root_hash());
        let held = self.held()?;
        let (held_size, held_root) = match &held {
            Some(h) => (h.checkpoint().size(), *h.checkpoint().root_hash()),
            None => (0, merkle::empty_root()),
        };
        if size == held_size {
            return match &held {
                Some(h) if *h.checkpoint().root_hash() != root => {
                    self.keep_evidence(Equivocation::same_size(h.note_bytes(), &note))
                }
                Some(h) if h.note_bytes() != note.as_slice() => {
                    self.serve_note(&note);
                    Ok(Round::Refreshed)
                }
                _ => Ok(Round::Unchanged),
            };
        }
        if size < held_size {
            // Compare with the mirror's own tree at that size.
            let snap = self
                .store
                .snapshot()
                .map_err(|e| FollowError::Store(e.to_string()))?;
            let prefix =
                merkle::tree_hash(size, &snap).map_err(|e| FollowError::Store(e.to_string()))?;
            if prefix == root {
                return Ok(Round::Stale { size });
            }
            let proof = merkle::prove_tree(held_size, size, &snap)
                .map_err(|e| FollowError::Store(e.to_string()))?;
            let big = held.as_ref().map(|h| h.note_bytes().to_vec());
            return match big {
                Some(big) => {
                    self.keep_evidence(Equivocation::with_prefix(&note, &big, prefix, proof))
                }
                None => Ok(Round::Stale { size }),
            };
        }
        // The log grew: prove the held tree is a prefix of the new one, from the origin's
        // tiles authenticated against the new root.
        self.origin.reset();
        let reader = TileHashReader::new(size, root, &self.origin);
        if let Some(h) = &held {
            let prefix = merkle::tree_hash(held_size, &reader)
                .map_err(|e| FollowError::Tiles(e.to_string()))?;
            if prefix != held_root {
                let proof = merkle::prove_tree(size, held_size, &reader)
                    .map_err(|e| FollowError::Tiles(e.to_string()))?;
                return self.keep_evidence(Equivocation::with_prefix(
                    h.note_bytes(),
                    &note,
                    prefix,
                    proof,
                ));
            }
        }
        let mut entries = Vec::new();
        let mut bytes = 0u64;
        for t in tile::new_tiles(held_size, size).filter(|t| t.level() == 0) {
            let data =
                tile::read_tile_data(&t, &reader).map_err(|e| FollowError::Tiles(e.to_string()))?;
            let bundle = self.origin.bundle(&t).map_err(FollowError::Fetch)?;
            let es = tile::check_entry_bundle(&t, &bundle, &data)
                .map_err(|e| FollowError::Tiles(format!("{}: {e}", t.entries_path())))?;
            let start = t.index() * 256;
            let skip = held_size.saturating_sub(start) as usize;
            for e in es.into_iter().skip(skip) {
                bytes += e.len() as u64;
                if bytes > self.max_step_bytes {
                    return Err(FollowError::TooLarge {
                        limit: self.max_step_bytes,
                    });
                }
                entries.push(e.to_vec());
            }
        }
        self.store
            .append_mirrored(entries, &note, size, root)
            .map_err(|e| FollowError::Store(e.to_string()))?;
        self.serve_note(&note);
        Ok(Round::Grew {
            from: held_size,
            to: size,
        })
    }
}
