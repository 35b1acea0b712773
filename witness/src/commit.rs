//! Group commit of the witness's compare-and-swaps: one thread owns the checkpoint
//! writes; each `add-checkpoint` hands it its compare-and-swap and blocks until the
//! transaction holding it is durable. The thread takes everything queued while the
//! previous commit ran into one redb write transaction, so one fsync covers many
//! cosignatures. Each operation still checks against the state every earlier operation
//! (in this transaction or before) left, in arrival order, exactly as if each had its
//! own transaction; none is answered before the commit returned, so the caller cosigns
//! only what is on disk. If the commit fails, every operation in it fails.
//!
//! Callers on an async runtime wait with [`Committer::cas_async`]: the reply is a tokio
//! oneshot, so a waiting request holds no thread. (A blocking-pool thread parked per
//! request, woken by the commit and then handing its answer back to a runtime worker,
//! cost more CPU in futex wake-ups and context switches than the signature checks did.)

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
    reply: Reply,
}

/// Where an operation's result goes: a blocked thread or an awaiting task.
enum Reply {
    Blocking(Sender<CasResult>),
    Async(tokio::sync::oneshot::Sender<CasResult>),
}

impl Reply {
    fn send(self, r: CasResult) {
        // A caller that went away (its request was dropped) needs no answer.
        match self {
            Reply::Blocking(tx) => {
                let _ = tx.send(r);
            }
            Reply::Async(tx) => {
                let _ = tx.send(r);
            }
        }
    }
}

fn stopped() -> StoreError {
    StoreError::from_message("the witness's committer has stopped")
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
    /// `origin`; returns once its transaction is durable (or failed). Blocks.
    pub(crate) fn cas(
        &self,
        origin: &str,
        req: &AddCheckpointRequest,
        size: u64,
        root: &Hash,
    ) -> CasResult {
        let (reply, answer) = channel();
        self.submit(origin, req, size, root, Reply::Blocking(reply))?;
        answer.recv().map_err(|_| stopped())?
    }

    /// As [`Committer::cas`], awaiting the commit instead of blocking a thread.
    pub(crate) async fn cas_async(
        &self,
        origin: &str,
        req: &AddCheckpointRequest,
        size: u64,
        root: &Hash,
    ) -> CasResult {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit(origin, req, size, root, Reply::Async(reply))?;
        answer.await.map_err(|_| stopped())?
    }

    fn submit(
        &self,
        origin: &str,
        req: &AddCheckpointRequest,
        size: u64,
        root: &Hash,
        reply: Reply,
    ) -> Result<(), StoreError> {
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
            .map_err(|_| stopped())
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
                    op.reply.send(Ok(out));
                }
            }
            Err(e) => {
                tracing::error!(
                    "witness state commit of {} operations failed: {e}",
                    ops.len()
                );
                for op in ops {
                    op.reply.send(Err(e.clone()));
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

#[cfg(test)]
mod tests {
    //! The witness's safety property, checked at the storage boundary: no cosignature
    //! leaves the witness before the fsync of the state that records it has returned,
    //! and none at all when that fsync fails.

    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex};

    use quorate_proto::checkpoint::Checkpoint;
    use quorate_proto::cosignature::CosignatureSigner;
    use quorate_proto::merkle;
    use quorate_proto::note::{self, Signer};
    use redb::StorageBackend;
    use redb::backends::InMemoryBackend;

    type IoResult<T> = Result<T, std::io::Error>;

    use crate::{AddCheckpointRequest, Store, Witness, WitnessError};

    /// An in-memory redb backend whose `sync_data` can be held (until released) or failed.
    #[derive(Debug, Default)]
    struct Gated {
        mem: InMemoryBackend,
        fail: AtomicBool,
        /// Syncs that passed the gate.
        synced: AtomicUsize,
        /// (held, syncs waiting at the gate)
        gate: Mutex<(bool, usize)>,
        cv: Condvar,
    }

    impl Gated {
        fn hold(&self, on: bool) {
            self.gate.lock().unwrap().0 = on;
            self.cv.notify_all();
        }

        /// Blocks until a sync is waiting at the held gate.
        fn wait_for_held_sync(&self) {
            let g = self.gate.lock().unwrap();
            drop(self.cv.wait_while(g, |(_, waiting)| *waiting == 0).unwrap());
        }
    }

    #[derive(Debug)]
    struct Shared(Arc<Gated>);

    impl StorageBackend for Shared {
        fn len(&self) -> IoResult<u64> {
            self.0.mem.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> IoResult<()> {
            self.0.mem.read(offset, out)
        }
        fn set_len(&self, len: u64) -> IoResult<()> {
            self.0.mem.set_len(len)
        }
        fn write(&self, offset: u64, data: &[u8]) -> IoResult<()> {
            self.0.mem.write(offset, data)
        }
        fn sync_data(&self) -> IoResult<()> {
            let mut g = self.0.gate.lock().unwrap();
            g.1 += 1;
            self.0.cv.notify_all();
            g = self.0.cv.wait_while(g, |(held, _)| *held).unwrap();
            g.1 -= 1;
            drop(g);
            self.0.synced.fetch_add(1, Ordering::SeqCst);
            if self.0.fail.load(Ordering::SeqCst) {
                return Err(std::io::Error::other("disk full"));
            }
            self.0.mem.sync_data()
        }
    }

    fn setup() -> (Arc<Gated>, Arc<Witness>, Signer) {
        let gated = Arc::new(Gated::default());
        let db = redb::Database::builder()
            .create_with_backend(Shared(gated.clone()))
            .unwrap();
        let log = Signer::generate("log.example/gated", [5; 32]).unwrap();
        let w = Witness::new(
            CosignatureSigner::generate("witness.example/gated", [6; 32]).unwrap(),
            vec![log.verifier()],
            Store::init(db).unwrap(),
            || 1_700_000_000u64,
        )
        .unwrap();
        (gated, Arc::new(w), log)
    }

    fn request(log: &Signer, size: u64, root: merkle::Hash) -> AddCheckpointRequest {
        let text = Checkpoint::new(log.name(), size, root, vec![])
            .unwrap()
            .to_text();
        let signed = note::sign(&text, &[log]).unwrap();
        AddCheckpointRequest::new(0, vec![], signed.into_bytes())
    }

    /// Holds the sync of the next commit, starts `ask` (which answers on its channel with
    /// the sync count seen when the answer was made), checks that nothing was answered
    /// while the sync was held, releases it, and returns the answer.
    fn answered_after_sync<T: Send + 'static>(
        gated: &Gated,
        ask: impl FnOnce(std::sync::mpsc::Sender<(T, usize)>),
    ) -> T {
        /// Opens the gate however the test ends, so a failing assert cannot leave the
        /// committer (which the witness's drop joins) blocked for ever.
        struct Release<'a>(&'a Gated);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.hold(false);
            }
        }
        let before = gated.synced.load(Ordering::SeqCst);
        gated.hold(true);
        let _release = Release(gated);
        let (tx, rx) = std::sync::mpsc::channel();
        ask(tx);
        gated.wait_for_held_sync();
        assert!(rx.try_recv().is_err(), "answered while the sync was held");
        gated.hold(false);
        let (answer, synced_then) = rx.recv().unwrap();
        assert!(synced_then > before, "answered before the sync returned");
        answer
    }

    #[test]
    fn no_cosignature_before_the_state_is_synced() {
        let (gated, w, log) = setup();
        let req = request(&log, 0, merkle::empty_root());
        let (g2, w2) = (gated.clone(), w.clone());
        let sigs = answered_after_sync(&gated, move |tx| {
            std::thread::spawn(move || {
                let r = w2.add_checkpoint_request(&req);
                tx.send((r, g2.synced.load(Ordering::SeqCst))).unwrap();
            });
        });
        assert_eq!(sigs.unwrap().len(), 1);

        // The async path, with the next checkpoint (from the stored size 0 the proof is
        // empty).
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut tree = merkle::MemoryLog::new();
        tree.append(b"a");
        let req = request(&log, 1, tree.root());
        let (g2, w2) = (gated.clone(), w.clone());
        let sigs = answered_after_sync(&gated, |tx| {
            rt.spawn(async move {
                let r = w2.add_checkpoint_request_async(req).await;
                tx.send((r, g2.synced.load(Ordering::SeqCst))).unwrap();
            });
        });
        assert_eq!(sigs.unwrap().len(), 1);
        assert_eq!(w.latest(log.name()).unwrap().unwrap().size, 1);
    }

    #[test]
    fn a_failed_sync_cosigns_nothing() {
        let (gated, w, log) = setup();
        gated.fail.store(true, Ordering::SeqCst);
        let req = request(&log, 0, merkle::empty_root());
        match w.add_checkpoint_request(&req) {
            Err(WitnessError::Store(_)) => {}
            other => panic!("a failed commit answered {other:?}"),
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        match rt.block_on(w.add_checkpoint_request_async(req)) {
            Err(WitnessError::Store(_)) => {}
            other => panic!("a failed commit answered {other:?}"),
        }
    }
}
