//! Publishing the C2SP tlog-tiles read path to an S3-compatible bucket, so that the
//! bucket (or a CDN in front of it) serves readers, as Sunlight and Tessera do.
//!
//! The node stays the only sequencer and its store the source of truth: the publisher
//! reads committed snapshots and copies them out, and nothing it does (or fails to do)
//! reaches the write path. An acknowledged entry is durable in the store whatever the
//! bucket does; a failed upload is retried with backoff until it succeeds.
//!
//! Order: for each step from the published size `done` to the checkpoint's size, every
//! hash tile and entry bundle that the tree of the new size has and the old one lacks
//! ([`tile::new_tiles`]) is uploaded first; the checkpoint object is written only after
//! every tile it covers is in the bucket, so a reader never sees a checkpoint it cannot
//! read. A tile's path names its content (a partial tile's width is in the path), so each
//! object is written once; the only object ever replaced is `checkpoint`, with a newer
//! size or more cosignatures, never a smaller size.
//!
//! Progress is kept in `DATA/publish-s3.json` (the URL and the size whose tiles are all
//! uploaded), written after each step: a restarted node resumes there (after a crash
//! between an upload and the state write, the same bytes are uploaded again, which
//! changes nothing). Large catch-ups go in steps of [`STEP`] entries, each recorded.
//!
//! Which checkpoint: exactly what `GET /checkpoint` serves (with a federation, the newest
//! that reached its cosigning target), so readers of the bucket get the same cosigned
//! checkpoints as readers of the node.

mod bucket;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use quorate_proto::tile::{self, Tile};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use bucket::{Bucket, BucketError, IMMUTABLE, NO_CACHE, PARTIAL};

use crate::federation::FedShared;
use crate::store::Store;

/// Largest number of entries published in one recorded step (a multiple of 256², so
/// intermediate steps leave partial tiles only at levels 2 and up).
pub const STEP: u64 = 1 << 16;
/// Uploads in flight at once.
pub const CONCURRENT_UPLOADS: usize = 8;
/// Longest wait between retries of a failed step.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How often the served checkpoint is re-read when nothing was committed (cosignatures
/// arrive without a commit).
pub const POLL: Duration = Duration::from_millis(500);

/// What the publisher records between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    /// The bucket URL this progress is for (another URL starts from 0).
    url: String,
    /// Every tile and bundle of the tree of this size is in the bucket.
    tiles_size: u64,
    /// Size of the checkpoint object last written.
    checkpoint_size: u64,
}

/// A running publisher task.
#[derive(Debug)]
pub struct Publisher {
    stop: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Publisher {
    /// Starts publishing `store`'s read path to `bucket`. `committed` wakes it after each
    /// commit; `federation` (if any) says which checkpoint `/checkpoint` serves.
    pub fn start(
        bucket: Bucket,
        store: Arc<Store>,
        federation: Option<Arc<FedShared>>,
        committed: watch::Receiver<u64>,
        state_path: PathBuf,
    ) -> Publisher {
        let stop = Arc::new(Notify::new());
        let run = Run {
            bucket,
            store,
            federation,
            state_path,
        };
        let task = tokio::spawn(run.run(committed, stop.clone()));
        Publisher { stop, task }
    }

    /// Stops after the upload in progress (progress so far is recorded).
    pub async fn shutdown(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

struct Run {
    bucket: Bucket,
    store: Arc<Store>,
    federation: Option<Arc<FedShared>>,
    state_path: PathBuf,
}

/// Why one publishing attempt failed (the loop logs it and retries).
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Bucket(#[from] BucketError),
    #[error("reading the store: {0}")]
    Store(String),
    #[error("recording progress in {path}: {reason}")]
    State { path: String, reason: String },
}

impl Run {
    async fn run(self, mut committed: watch::Receiver<u64>, stop: Arc<Notify>) {
        let mut state = self.load_state();
        let mut last_note: Option<Vec<u8>> = None;
        let mut backoff = Duration::from_millis(200);
        let mut alive = true;
        tracing::info!(
            url = self.bucket.url(),
            tiles_size = state.tiles_size,
            "publishing the read path"
        );
        loop {
            let wait = match self.publish_once(&mut state, &mut last_note).await {
                Ok(()) => {
                    backoff = Duration::from_millis(200);
                    POLL
                }
                Err(e) => {
                    tracing::warn!(
                        url = self.bucket.url(),
                        "publishing failed, will retry in {backoff:?}: {e}"
                    );
                    let w = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    w
                }
            };
            tokio::select! {
                _ = stop.notified() => return,
                // Once the sequencer is gone `changed` fails at once: then only the timer.
                r = committed.changed(), if alive => alive = r.is_ok(),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn load_state(&self) -> State {
        let fresh = State {
            url: self.bucket.url().to_owned(),
            ..State::default()
        };
        match std::fs::read(&self.state_path) {
            Ok(b) => match serde_json::from_slice::<State>(&b) {
                Ok(s) if s.url == fresh.url => s,
                Ok(_) => fresh,
                Err(e) => {
                    tracing::warn!(
                        path = %self.state_path.display(),
                        "unreadable publish state ({e}); republishing from size 0"
                    );
                    fresh
                }
            },
            Err(_) => fresh,
        }
    }

    fn save_state(&self, s: &State) -> Result<(), StepError> {
        let bytes = serde_json::to_vec(s).map_err(|e| StepError::State {
            path: self.state_path.display().to_string(),
            reason: e.to_string(),
        })?;
        crate::datadir::write_atomic(&self.state_path, &bytes).map_err(|e| StepError::State {
            path: self.state_path.display().to_string(),
            reason: format!("{e:#}"),
        })
    }

    /// What `GET /checkpoint` serves now: (size, note).
    async fn served(&self) -> Result<(u64, Vec<u8>), StepError> {
        if let Some(s) = self.federation.as_ref().and_then(|f| f.served()) {
            return Ok(s);
        }
        let store = self.store.clone();
        let (size, mut note) = tokio::task::spawn_blocking(move || store.latest_checkpoint())
            .await
            .map_err(|e| StepError::Store(e.to_string()))?
            .map_err(|e| StepError::Store(e.to_string()))?;
        if let Some(c) = self.federation.as_ref().and_then(|f| f.latest_at(size)) {
            note = c;
        }
        Ok((size, note))
    }

    async fn publish_once(
        &self,
        state: &mut State,
        last_note: &mut Option<Vec<u8>>,
    ) -> Result<(), StepError> {
        let (size, note) = self.served().await?;
        if size < state.tiles_size {
            // The bucket already holds a larger tree than this store (a store restored
            // from an older backup?): publishing would roll readers back.
            return Err(StepError::Store(format!(
                "the store serves size {size} but the bucket already holds tiles of size {}; \
                 refusing to publish a smaller checkpoint",
                state.tiles_size
            )));
        }
        while state.tiles_size < size {
            let next = if size - state.tiles_size > STEP {
                (state.tiles_size / STEP + 1) * STEP
            } else {
                size
            };
            self.upload_tiles(state.tiles_size, next).await?;
            state.tiles_size = next;
            self.save_state(state)?;
            tracing::debug!(size = next, "tiles published");
        }
        if size < state.checkpoint_size || last_note.as_deref() == Some(note.as_slice()) {
            return Ok(());
        }
        // Every tile of the tree of `size` is in the bucket: now the checkpoint.
        self.bucket
            .put(
                "checkpoint",
                note.clone(),
                "text/plain; charset=utf-8",
                NO_CACHE,
            )
            .await?;
        state.checkpoint_size = size;
        self.save_state(state)?;
        *last_note = Some(note);
        tracing::debug!(size, "checkpoint published");
        Ok(())
    }

    /// Uploads every tile and entry bundle of the tree of size `new` that the tree of
    /// size `old` lacks.
    async fn upload_tiles(&self, old: u64, new: u64) -> Result<(), StepError> {
        let tiles: Vec<Tile> = tile::new_tiles(old, new).collect();
        let mut jobs = Vec::with_capacity(tiles.len() * 2);
        for t in tiles {
            jobs.push((t, false));
            if t.level() == 0 {
                jobs.push((t, true));
            }
        }
        let mut uploads = futures::stream::iter(jobs)
            .map(|(t, entries)| self.upload_one(t, entries))
            .buffer_unordered(CONCURRENT_UPLOADS);
        while let Some(r) = uploads.next().await {
            r?;
        }
        Ok(())
    }

    async fn upload_one(&self, t: Tile, entries: bool) -> Result<(), StepError> {
        let store = self.store.clone();
        let data = tokio::task::spawn_blocking(move || tile_bytes(&store, &t, entries))
            .await
            .map_err(|e| StepError::Store(e.to_string()))??;
        let (name, cache) = if entries {
            (t.entries_path(), cache_control(&t))
        } else {
            (t.path(), cache_control(&t))
        };
        self.bucket
            .put(&name, data, "application/octet-stream", cache)
            .await?;
        Ok(())
    }
}

fn cache_control(t: &Tile) -> &'static str {
    if t.is_full() { IMMUTABLE } else { PARTIAL }
}

/// The bytes of hash tile `t`, or of its entry bundle, from a fresh snapshot (tiles of a
/// committed tree never change, so any snapshot at or past its size gives the same bytes).
fn tile_bytes(store: &Store, t: &Tile, entries: bool) -> Result<Vec<u8>, StepError> {
    let err = |e: &dyn std::fmt::Display| StepError::Store(format!("{}: {e}", t.path()));
    let snap = store.snapshot().map_err(|e| err(&e))?;
    if entries {
        let start = t.index() * 256;
        let list = snap
            .entries(start, start + u64::from(t.width()))
            .map_err(|e| err(&e))?;
        let refs: Vec<&[u8]> = list.iter().map(Vec::as_slice).collect();
        tile::encode_entry_bundle(&refs).map_err(|e| err(&e))
    } else {
        let hashes = snap
            .tile_hashes(t.level(), t.index(), t.width())
            .map_err(|e| err(&e))?;
        Ok(hashes.concat())
    }
}
