//! The write path: admission checks, then batched integration into the [`Store`].
//!
//! 1. [`admit`] checks a submitted envelope (size, strict decoding, signature, registered
//!    reviewer) and returns an [`Admitted`] attestation; every rejection is a distinct
//!    [`AdmissionError`] variant with an HTTP status ([`AdmissionError::http_status`]).
//! 2. [`Sequencer::submit`] queues an [`Admitted`] attestation. A single task commits
//!    batches of at most [`SequencerConfig::max_batch`] entries with
//!    [`Store::append_batch`] on a blocking thread, signing a C2SP checkpoint over the new
//!    tree in the same durable transaction. It is a group commit: a batch is committed as
//!    soon as the previous commit returned, and holds whatever was queued meanwhile, so a
//!    lone submitter waits for one commit and many submitters share each fsync. (A
//!    non-zero [`SequencerConfig::batch_delay`] makes the first submission of a batch wait
//!    up to that long for company instead.)
//! 3. Only after the commit returned `Ok` does each submitter get an [`Ack`]: its index, the
//!    checkpoint and an inclusion proof to it. If the batch fails, every submitter of the
//!    batch gets an error.
//!
//! The queue is bounded: when it is full, `submit` fails at once with
//! [`SubmitError::QueueFull`] instead of buffering without limit.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quorate_proto::attestation::{self, AttestationError, VerifiedAttestation};
use quorate_proto::checkpoint::Checkpoint;
use quorate_proto::merkle::{self, Hash};
use quorate_proto::note::{self, Signer};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::store::{NewEntry, SignError, Store, StoreError};

// ---------------------------------------------------------------------------------------
// Admission

/// The reviewer keys allowed to submit to this log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewerSet {
    keys: HashSet<[u8; 32]>,
}

impl ReviewerSet {
    /// A set holding `keys` (raw Ed25519 public keys).
    pub fn new(keys: impl IntoIterator<Item = [u8; 32]>) -> Self {
        ReviewerSet {
            keys: keys.into_iter().collect(),
        }
    }

    /// Registers `key`; returns false if it was already registered.
    pub fn insert(&mut self, key: [u8; 32]) -> bool {
        self.keys.insert(key)
    }

    /// Whether `key` is registered.
    pub fn contains(&self, key: &[u8; 32]) -> bool {
        self.keys.contains(key)
    }

    /// Number of registered keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is registered.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Admission limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Largest accepted envelope in bytes. Capped by the format's own limit
    /// ([`attestation::MAX_ENVELOPE_BYTES`]).
    pub max_envelope_bytes: usize,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        AdmissionLimits {
            max_envelope_bytes: attestation::MAX_ENVELOPE_BYTES,
        }
    }
}

/// Why a submission was refused before reaching the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdmissionError {
    /// The body is empty.
    #[error("empty submission")]
    Empty,
    /// The envelope is larger than the limit.
    #[error("submission is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Submitted size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a well-formed, canonical, valid attestation envelope.
    #[error("malformed attestation: {0}")]
    Malformed(AttestationError),
    /// The signature does not verify under the key the attestation names.
    #[error("attestation signature is invalid: {0}")]
    BadSignature(AttestationError),
    /// The attestation names a criterion the log is not configured to accept.
    #[error("criterion {criterion:?} is not accepted by this log (it accepts: {})", .accepted.join(", "))]
    UnacceptedCriterion {
        /// The criterion refused.
        criterion: String,
        /// What the log accepts.
        accepted: Vec<String>,
    },
    /// The signing reviewer key is not registered with this log.
    #[error(
        "reviewer {name}+{:08x} is not registered with this log (its operator adds a reviewer with `quorate-node reviewers add`)",
        quorate_proto::note::key_id(.name, quorate_proto::note::ED25519_TYPE, .key)
    )]
    UnknownReviewer {
        /// The reviewer name the attestation gives (its signed-note key name).
        name: String,
        /// The unregistered key.
        key: [u8; 32],
    },
}

impl AdmissionError {
    /// The HTTP status an API should answer with: 413 for [`Self::TooLarge`], 403 for
    /// [`Self::UnknownReviewer`], 400 otherwise.
    pub fn http_status(&self) -> u16 {
        match self {
            AdmissionError::TooLarge { .. } => 413,
            AdmissionError::UnknownReviewer { .. } => 403,
            _ => 400,
        }
    }
}

/// Refuses an admitted attestation naming a criterion outside `accepted` (the node's
/// `accepted_criteria`; `None` accepts every well-formed one).
pub fn check_criteria(a: &Admitted, accepted: Option<&[String]>) -> Result<(), AdmissionError> {
    let Some(accepted) = accepted else {
        return Ok(());
    };
    match a
        .verified()
        .attestation()
        .criteria
        .iter()
        .find(|c| !accepted.contains(c))
    {
        Some(c) => Err(AdmissionError::UnacceptedCriterion {
            criterion: c.clone(),
            accepted: accepted.to_vec(),
        }),
        None => Ok(()),
    }
}

/// An attestation that passed [`admit`]; only `admit` makes one, so holding it proves the
/// checks ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted(VerifiedAttestation);

impl Admitted {
    /// The verified attestation.
    pub fn verified(&self) -> &VerifiedAttestation {
        &self.0
    }

    /// Unwraps the verified attestation.
    pub fn into_inner(self) -> VerifiedAttestation {
        self.0
    }
}

/// Checks a submitted envelope: size limit, strict decoding and validation, signature, and
/// that the reviewer key is registered in `reviewers`.
pub fn admit(
    envelope: &[u8],
    reviewers: &ReviewerSet,
    limits: &AdmissionLimits,
) -> Result<Admitted, AdmissionError> {
    if envelope.is_empty() {
        return Err(AdmissionError::Empty);
    }
    let limit = limits
        .max_envelope_bytes
        .min(attestation::MAX_ENVELOPE_BYTES);
    if envelope.len() > limit {
        return Err(AdmissionError::TooLarge {
            size: envelope.len(),
            limit,
        });
    }
    // Each handler thread decodes a registered reviewer's key once, not per envelope
    // (a point decompression, a sizable part of a verification).
    let verified = attestation::verify_on_this_thread(envelope).map_err(|e| match e {
        AttestationError::BadSignature | AttestationError::BadPublicKey => {
            AdmissionError::BadSignature(e)
        }
        e => AdmissionError::Malformed(e),
    })?;
    if !reviewers.contains(verified.reviewer_key()) {
        return Err(AdmissionError::UnknownReviewer {
            name: verified.attestation().reviewer.name.clone(),
            key: *verified.reviewer_key(),
        });
    }
    Ok(Admitted(verified))
}

// ---------------------------------------------------------------------------------------
// Log identity

/// The log's identity: its origin line and checkpoint signing key.
pub struct LogKey {
    origin: String,
    signer: Signer,
}

impl fmt::Debug for LogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogKey")
            .field("origin", &self.origin)
            .field("key", &self.signer.name())
            .finish_non_exhaustive()
    }
}

impl LogKey {
    /// A log identity; fails if `origin` is not a valid checkpoint origin line.
    pub fn new(origin: &str, signer: Signer) -> Result<Self, SignError> {
        Checkpoint::new(origin, 0, merkle::empty_root(), Vec::new())?;
        Ok(LogKey {
            origin: origin.to_owned(),
            signer,
        })
    }

    /// The origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The signed checkpoint note for a tree of `size` entries with root `root`.
    pub fn sign_checkpoint(&self, size: u64, root: Hash) -> Result<Vec<u8>, SignError> {
        let text = Checkpoint::new(&self.origin, size, root, Vec::new())?.to_text();
        Ok(note::sign(&text, &[&self.signer])?.into_bytes())
    }

    /// Checks that `store`'s latest checkpoint is signed by this key, for this origin, and
    /// matches the store's size and root, so a node never continues a log under another
    /// identity.
    pub fn check_store(&self, store: &Store) -> Result<(), SignError> {
        let snap = store.snapshot()?;
        let (size, note_bytes) = snap.latest_checkpoint()?;
        let verifier = self.signer.verifier();
        let opened = note::open(&note_bytes, &[&verifier])?;
        let cp = Checkpoint::parse(opened.text())?;
        if cp.origin() != self.origin {
            return Err(format!(
                "latest checkpoint has origin {:?}, this log is {:?}",
                cp.origin(),
                self.origin
            )
            .into());
        }
        if cp.size() != size || *cp.root_hash() != snap.root() {
            return Err(format!(
                "latest checkpoint (size {}) does not match the store (size {size})",
                cp.size()
            )
            .into());
        }
        Ok(())
    }
}

/// Creates a new, empty log at `path` whose size-0 checkpoint is signed by `key`, so the
/// checkpoint endpoint works from the start.
pub fn init_log(path: impl AsRef<Path>, key: &LogKey) -> Result<Store, StoreError> {
    Store::create(path, |size, root| key.sign_checkpoint(size, root))
}

// ---------------------------------------------------------------------------------------
// Sequencer

/// Batching parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequencerConfig {
    /// Largest number of submissions integrated in one batch (one transaction, one fsync,
    /// one checkpoint signature).
    pub max_batch: usize,
    /// Longest time the first submission of a batch waits for more to arrive when nothing
    /// else is queued. Zero (the default): no wait, group commit only.
    pub batch_delay: Duration,
    /// Submissions that may wait in the queue; beyond it `submit` fails with
    /// [`SubmitError::QueueFull`].
    pub queue_capacity: usize,
}

impl Default for SequencerConfig {
    /// 256 entries / no delay / 4096 queued.
    ///
    /// No delay: while one batch commits, the next fills with whatever arrives, so under
    /// load the fsync and checkpoint signature are amortised over many entries without a
    /// timer, and a lone submitter is not made to wait for company that is not coming (a
    /// fixed 50 ms delay cost every submission at low load up to 50 ms and, at
    /// concurrency 256, held batches open for nothing). 256 is one tile width, which bounds a transaction (at most 16 MiB of
    /// 64 KiB envelopes) and the proof work per batch. Sunlight pools for 1 s and Tessera
    /// for 250 ms by default because their commits go to object storage; a local fsync
    /// is far cheaper. 4096 queued entries bound queue memory to 256 MiB worst case.
    fn default() -> Self {
        SequencerConfig {
            max_batch: 256,
            batch_delay: Duration::ZERO,
            queue_capacity: 4096,
        }
    }
}

/// Receipt for an integrated submission, sent only after its batch was durably committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The entry's index in the log.
    pub index: u64,
    /// True if the entry was already logged (at `index`) and was not appended again.
    pub duplicate: bool,
    /// Tree size of `checkpoint`.
    pub size: u64,
    /// The signed checkpoint note covering the entry.
    pub checkpoint: Vec<u8>,
    /// RFC 6962 inclusion proof of entry `index` in the tree of `size` entries.
    pub proof: Vec<Hash>,
}

/// Why a submission was not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The queue is full; retry later (HTTP 503 with Retry-After).
    #[error("queue full")]
    QueueFull,
    /// The sequencer is shutting down or has stopped (HTTP 503).
    #[error("sequencer is shut down")]
    ShutDown,
    /// The batch holding this submission failed; it may or may not have been logged
    /// (resubmitting is safe: a logged entry comes back as a duplicate). HTTP 500.
    #[error("integrating the batch failed: {0}")]
    Failed(String),
}

struct Request {
    entry: NewEntry,
    arrived: Instant,
    reply: oneshot::Sender<Result<Ack, SubmitError>>,
}

/// Handle to the sequencer task. Share it behind an `Arc`.
pub struct Sequencer {
    tx: mpsc::Sender<Request>,
    stop: watch::Sender<bool>,
    committed: watch::Receiver<u64>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sequencer").finish_non_exhaustive()
    }
}

impl Sequencer {
    /// Starts the sequencer task on the current tokio runtime, after checking that the
    /// store's latest checkpoint belongs to `key` (see [`LogKey::check_store`]). The
    /// sequencer must be the store's only writer.
    ///
    /// # Panics
    ///
    /// If called outside a tokio runtime.
    pub fn start(
        store: Arc<Store>,
        key: LogKey,
        config: SequencerConfig,
    ) -> Result<Sequencer, SignError> {
        if config.max_batch == 0 || config.queue_capacity == 0 {
            return Err("max_batch and queue_capacity must be positive".into());
        }
        key.check_store(&store)?;
        let (tx, rx) = mpsc::channel(config.queue_capacity);
        let (stop, stop_rx) = watch::channel(false);
        let (committed_tx, committed) = watch::channel(store.size()?);
        let task = tokio::spawn(run(store, Arc::new(key), config, rx, stop_rx, committed_tx));
        Ok(Sequencer {
            tx,
            stop,
            committed,
            task: Mutex::new(Some(task)),
        })
    }

    /// The tree size of the latest committed checkpoint, updated after each commit (for
    /// whoever wants to act on new checkpoints without polling the store).
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    /// Queues an admitted attestation and waits until its batch is committed.
    ///
    /// Fails at once with [`SubmitError::QueueFull`] if the queue is full. Dropping the
    /// future does not withdraw a queued submission.
    pub fn submit(
        &self,
        admitted: Admitted,
    ) -> impl Future<Output = Result<Ack, SubmitError>> + Send + 'static {
        let queued = self.submit_many(vec![admitted]);
        async move {
            match queued?.pop() {
                Some(ack) => ack.await,
                None => Err(SubmitError::Failed("nothing was queued".into())),
            }
        }
    }

    /// Queues a whole batch or nothing: channel room for every entry is reserved before
    /// any is sent, so a caller told [`SubmitError::QueueFull`] knows none was queued.
    #[allow(clippy::type_complexity)]
    pub fn submit_many(
        &self,
        admitted: Vec<Admitted>,
    ) -> Result<Vec<impl Future<Output = Result<Ack, SubmitError>> + Send + 'static>, SubmitError>
    {
        let mut entries = Vec::with_capacity(admitted.len());
        for a in &admitted {
            let v = a.verified();
            let att = v.attestation();
            entries.push(
                NewEntry::new(
                    v.envelope_bytes().to_vec(),
                    Some((&att.ecosystem, &att.package, &att.version)),
                )
                .map_err(|e| SubmitError::Failed(e.to_string()))?,
            );
        }
        let permits = match self.tx.try_reserve_many(entries.len()) {
            Ok(p) => p,
            Err(mpsc::error::TrySendError::Full(())) => return Err(SubmitError::QueueFull),
            Err(mpsc::error::TrySendError::Closed(())) => return Err(SubmitError::ShutDown),
        };
        let mut out = Vec::with_capacity(entries.len());
        for (permit, entry) in permits.zip(entries) {
            let (reply, rx) = oneshot::channel();
            permit.send(Request {
                entry,
                arrived: Instant::now(),
                reply,
            });
            out.push(async move { rx.await.unwrap_or(Err(SubmitError::ShutDown)) });
        }
        Ok(out)
    }

    /// Stops accepting submissions, integrates everything already queued, and waits for
    /// the task to finish. Later calls return at once.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::error!("sequencer task failed: {e}");
        }
    }
}

async fn run(
    store: Arc<Store>,
    key: Arc<LogKey>,
    config: SequencerConfig,
    mut rx: mpsc::Receiver<Request>,
    mut stop: watch::Receiver<bool>,
    committed: watch::Sender<u64>,
) {
    let mut stopping = false;
    loop {
        // Wait for the first request of a batch (or for shutdown).
        let first = if stopping {
            rx.recv().await
        } else {
            tokio::select! {
                r = rx.recv() => r,
                _ = stop.wait_for(|s| *s) => {
                    stopping = true;
                    rx.close();
                    continue;
                }
            }
        };
        let Some(first) = first else { break };
        let deadline = first.arrived + config.batch_delay;
        let mut batch = vec![first];
        while batch.len() < config.max_batch {
            // Take what is already queued without waiting: everything that arrived while
            // the previous batch was being committed joins this one (group commit).
            match rx.try_recv() {
                Ok(r) => {
                    batch.push(r);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            // Nothing more is queued: commit now, unless a linger was configured.
            if stopping || config.batch_delay.is_zero() {
                break;
            }
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => batch.push(r),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
                _ = stop.wait_for(|s| *s) => {
                    stopping = true;
                    rx.close();
                }
            }
        }
        integrate(&store, &key, batch, &committed).await;
    }
}

async fn integrate(
    store: &Arc<Store>,
    key: &Arc<LogKey>,
    batch: Vec<Request>,
    committed: &watch::Sender<u64>,
) {
    let (entries, replies): (Vec<NewEntry>, Vec<_>) =
        batch.into_iter().map(|r| (r.entry, r.reply)).unzip();
    let n = entries.len();
    let (store, key) = (store.clone(), key.clone());
    let result = tokio::task::spawn_blocking(move || -> Result<Vec<Ack>, StoreError> {
        let out = store.append_batch(entries, |size, root| key.sign_checkpoint(size, root))?;
        // The batch is durable; proofs to its checkpoint stay valid as the log grows.
        let snap = store.snapshot()?;
        out.placed
            .iter()
            .map(|p| {
                Ok(Ack {
                    index: p.index,
                    duplicate: p.duplicate,
                    size: out.size,
                    checkpoint: out.checkpoint.clone(),
                    proof: merkle::prove_record(out.size, p.index, &snap)?,
                })
            })
            .collect()
    })
    .await;
    match result {
        Ok(Ok(acks)) => {
            if let Some(a) = acks.first() {
                committed.send_replace(a.size);
            }
            for (reply, ack) in replies.into_iter().zip(acks) {
                let _ = reply.send(Ok(ack));
            }
        }
        Ok(Err(e)) => {
            tracing::error!("integrating a batch of {n} failed: {e}");
            let msg = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(SubmitError::Failed(msg.clone())));
            }
        }
        Err(e) => {
            tracing::error!("integrating a batch of {n} panicked: {e}");
            for reply in replies {
                let _ = reply.send(Err(SubmitError::Failed("internal error".into())));
            }
        }
    }
}
