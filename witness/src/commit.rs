//! Group commit of the witness's compare-and-swaps: one thread owns the checkpoint
//! writes; each `add-checkpoint` hands it its compare-and-swap and blocks until the
//! transaction holding it is durable. The thread takes everything queued while the
//! previous commit ran into one redb write transaction, so one fsync covers many
//! cosignatures. Each operation still checks against the state every earlier operation
//! (in this transaction or before) left, in arrival order, exactly as if each had its
//! own transaction; none is answered before the commit returned, so the caller cosigns
//! only what is on disk. If the commit fails, every operation in it fails.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use quorate_proto::merkle::{self, Hash};
use redb::ReadableTable;

use crate::request::AddCheckpointRequest;
use crate::store::{CHECKPOINTS, StoreError};
use crate::witness::{Finding, check};
use crate::{Store, WitnessError};

/// Most operations in one transaction: bounds the transaction and the latency one
/// commit adds to the last caller in it.
const MAX_GROUP: usize = 1024;

/// One operation's check: its outcome, and what it found out about the log.
pub(crate) type Checked = (Result<(), WitnessError>, Finding);

/// One operation's result: its check, or the storage error that failed its transaction.
pub(crate) type CasResult = Result<Checked, StoreError>;

struct Cas {
    origin: String,
    req: AddCheckpointRequest,
    size: u64,
    root: Hash,
    reply: Sender<CasResult>,
}

/// Handle to the committer thread; dropping it stops the thread (after the operations
/// already queued) and waits for it, so the state file is closed when the drop returns.
pub(crate) struct Committer {
    tx: Option<Sender<Cas>>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    pub(crate) fn start(store: Arc<Store>) -> std::io::Result<Committer> {
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("witness-commit".into())
            .spawn(move || run(&store, &rx))?;
        Ok(Committer {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Runs the compare-and-swap of `req` (whose checkpoint has `size` and `root`) for
    /// `origin`; returns once its transaction is durable (or failed).
    pub(crate) fn cas(
        &self,
        origin: &str,
        req: &AddCheckpointRequest,
        size: u64,
        root: &Hash,
    ) -> CasResult {
        let (reply, answer) = channel();
        let stopped = || StoreError::from_message("the witness's committer has stopped");
        self.tx
            .as_ref()
            .ok_or_else(stopped)?
            .send(Cas {
                origin: origin.to_owned(),
                req: req.clone(),
                size,
                root: *root,
                reply,
            })
            .map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(store: &Store, rx: &Receiver<Cas>) {
    while let Ok(first) = rx.recv() {
        let mut ops = vec![first];
        while ops.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        match apply(store, &ops) {
            Ok(outcomes) => {
                for (op, out) in ops.into_iter().zip(outcomes) {
                    let _ = op.reply.send(Ok(out));
                }
            }
            Err(e) => {
                tracing::error!(
                    "witness state commit of {} operations failed: {e}",
                    ops.len()
                );
                for op in ops {
                    let _ = op.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Checks and applies `ops` in order in one write transaction; commits (fsync) if any
/// wrote.
fn apply(store: &Store, ops: &[Cas]) -> Result<Vec<Checked>, StoreError> {
    let tx = store.db.begin_write()?;
    let mut outcomes = Vec::with_capacity(ops.len());
    let mut wrote = false;
    {
        let mut table = tx.open_table(CHECKPOINTS)?;
        for op in ops {
            let stored = table.get(op.origin.as_str())?.map(|g| {
                let (s, r, n) = g.value();
                (s, r, n.to_vec())
            });
            let (stored_size, stored_root) = stored
                .as_ref()
                .map_or((0, merkle::empty_root()), |(s, r, _)| (*s, *r));
            let existed = stored.is_some();
            let stored_note = stored.map(|(_, _, n)| n);
            let (outcome, finding) = check(
                &op.req,
                op.size,
                &op.root,
                stored_size,
                &stored_root,
                stored_note,
            );
            // A replay of the stored checkpoint changes nothing; the first checkpoint (even
            // of size 0) and every larger one are written.
            if outcome.is_ok() && (stored_size != op.size || !existed) {
                table.insert(
                    op.origin.as_str(),
                    (op.size, op.root, op.req.checkpoint.as_slice()),
                )?;
                wrote = true;
            }
            outcomes.push((outcome, finding));
        }
    }
    if wrote {
        tx.commit()?;
    } else {
        tx.abort()?;
    }
    Ok(outcomes)
}
