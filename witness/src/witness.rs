//! The witness core: C2SP `tlog-witness` `add-checkpoint` over a durable [`Store`].

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock};

use crate::commit::Committer;
use crate::request::AddCheckpointRequest;
use crate::store::Recorded;
use crate::{Store, StoredCheckpoint, StoredEquivocation, WitnessError};
use quorate_proto::checkpoint::{
    Checkpoint, CheckpointError, LogKeys, VerifiedCheckpoint, verify_log_checkpoint,
};
use quorate_proto::cosignature::{CosignatureSigner, CosignatureVerifier};
use quorate_proto::equivocation::Equivocation;
use quorate_proto::merkle::{self, Hash};
use quorate_proto::note::{Ed25519Verifier, NoteError, NoteSignature, NoteVerifier};

/// Source of cosignature timestamps (POSIX seconds). Closures `Fn() -> u64` implement it,
/// so tests can pin the time.
pub trait Clock: Send + Sync {
    fn now(&self) -> u64;
}

impl<F: Fn() -> u64 + Send + Sync> Clock for F {
    fn now(&self) -> u64 {
        self()
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A C2SP witness: the logs it follows, its cosigning key, its durable state.
///
/// `Witness` is `Send + Sync`; share it in an `Arc`. Its methods block (they fsync), so
/// call them from a blocking context (`tokio::task::spawn_blocking`), as
/// [`crate::router`] does.
pub struct Witness {
    signer: CosignatureSigner,
    /// The followed logs by origin (from configuration; key names may differ).
    logs: HashMap<String, LogKeys>,
    store: Arc<Store>,
    /// Owns the checkpoint writes (group commit, see [`crate::commit`]).
    committer: Committer,
    clock: Box<dyn Clock>,
    /// Origins with verified evidence in the store (cache of the equivocation table).
    equivocating: RwLock<HashSet<String>>,
    /// Called with every piece of evidence newly stored (see [`Witness::on_new_evidence`]).
    on_new: OnceLock<EvidenceHook>,
}

/// A callback for newly stored evidence.
type EvidenceHook = Box<dyn Fn(&StoredEquivocation) + Send + Sync>;

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("name", &self.signer.name())
            .field("logs", &self.logs.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A request that passed every check needing no stored state.
struct Admitted {
    origin: String,
    verified: VerifiedCheckpoint,
    size: u64,
    root: Hash,
}

/// What a failed check found out about the log, to act on after the transaction ends.
pub(crate) enum Finding {
    None,
    /// Two notes of equal size and different roots, both signed by the log.
    SameSize(Vec<u8>),
    /// The stored note and a consistency proof that did not verify from it.
    BadProof(Vec<u8>),
}

impl Witness {
    /// A witness cosigning with `signer` for the logs `logs` (each log's origin is its key
    /// name), keeping state in `store`, timestamping with `clock`.
    pub fn new(
        signer: CosignatureSigner,
        logs: Vec<Ed25519Verifier>,
        store: Store,
        clock: impl Clock + 'static,
    ) -> Result<Witness, WitnessError> {
        let mut map: HashMap<String, LogKeys> = HashMap::new();
        for l in logs {
            if let Some(prev) = map.get(l.name()) {
                if prev.contains(&l) {
                    continue;
                }
                return Err(WitnessError::Config(format!(
                    "two different keys configured for origin {:?}",
                    l.name()
                )));
            }
            map.insert(l.name().to_owned(), LogKeys::single(l));
        }
        Witness::with_log_map(signer, map, store, clock)
    }

    /// A witness for logs configured by origin, each with one or more keys whose names
    /// may differ from the origin (key rotation, Go's checksum database). An origin listed
    /// twice is refused: merge its keys into one [`LogKeys`].
    pub fn with_logs(
        signer: CosignatureSigner,
        logs: Vec<LogKeys>,
        store: Store,
        clock: impl Clock + 'static,
    ) -> Result<Witness, WitnessError> {
        let mut map = HashMap::new();
        for l in logs {
            let origin = l.origin().to_owned();
            if map.insert(origin.clone(), l).is_some() {
                return Err(WitnessError::Config(format!(
                    "origin {origin:?} configured twice (list all its keys in one entry)"
                )));
            }
        }
        Witness::with_log_map(signer, map, store, clock)
    }

    fn with_log_map(
        signer: CosignatureSigner,
        map: HashMap<String, LogKeys>,
        store: Store,
        clock: impl Clock + 'static,
    ) -> Result<Witness, WitnessError> {
        let store = Arc::new(store);
        let committer = Committer::start(store.clone())
            .map_err(|e| WitnessError::Internal(format!("starting the committer: {e}")))?;
        let w = Witness {
            signer,
            logs: map,
            store,
            committer,
            clock: Box::new(clock),
            equivocating: RwLock::new(HashSet::new()),
            on_new: OnceLock::new(),
        };
        let flagged = w.store.equivocation_counts()?.into_iter().map(|(o, _)| o);
        w.equivocating
            .write()
            .map_err(|_| WitnessError::Internal("lock poisoned".into()))?
            .extend(flagged);
        Ok(w)
    }

    /// As [`Witness::new`], opening (or creating) the state file at `state_path`.
    pub fn open(
        signer: CosignatureSigner,
        logs: Vec<Ed25519Verifier>,
        state_path: &Path,
        clock: impl Clock + 'static,
    ) -> Result<Witness, WitnessError> {
        Witness::new(signer, logs, Store::open(state_path)?, clock)
    }

    /// As [`Witness::with_logs`], opening (or creating) the state file at `state_path`.
    pub fn open_logs(
        signer: CosignatureSigner,
        logs: Vec<LogKeys>,
        state_path: &Path,
        clock: impl Clock + 'static,
    ) -> Result<Witness, WitnessError> {
        Witness::with_logs(signer, logs, Store::open(state_path)?, clock)
    }

    /// The witness's name (its cosignature key name).
    pub fn name(&self) -> &str {
        self.signer.name()
    }

    /// The witness's cosignature/v1 vkey.
    pub fn vkey(&self) -> String {
        self.signer.vkey()
    }

    /// The verifier for this witness's cosignatures.
    pub fn verifier(&self) -> CosignatureVerifier {
        self.signer.verifier()
    }

    /// The configured log origins, sorted.
    pub fn origins(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.logs.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// The latest checkpoint cosigned for `origin`.
    pub fn latest(&self, origin: &str) -> Result<Option<StoredCheckpoint>, WitnessError> {
        Ok(self.store.latest(origin)?)
    }

    /// Handles an `add-checkpoint` request body; on success returns the response body:
    /// the cosignature line(s), `— <name> <base64>\n`.
    pub fn add_checkpoint(&self, body: &[u8]) -> Result<String, WitnessError> {
        let req = AddCheckpointRequest::parse(body)?;
        let sigs = self.add_checkpoint_request(&req)?;
        Ok(sigs.iter().map(NoteSignature::to_line).collect())
    }

    /// Checks a parsed request against the spec's rules and, if they all pass, records
    /// the checkpoint durably and cosigns it. See the crate documentation for the status
    /// of each failure. Blocks (it waits for the commit); on an async runtime use
    /// [`Witness::add_checkpoint_request_async`].
    pub fn add_checkpoint_request(
        &self,
        req: &AddCheckpointRequest,
    ) -> Result<Vec<NoteSignature>, WitnessError> {
        let a = self.admit(req)?;
        let (result, finding) = self.committer.cas(&a.origin, req, a.size, &a.root)?;
        self.act_on(&a, req, finding);
        result?;
        self.cosign(&a)
    }

    /// As [`Witness::add_checkpoint_request`], awaiting the durable commit without
    /// holding a thread: the signature check and the signing run on the calling task
    /// (a fraction of a millisecond each), only the rare storing of equivocation evidence
    /// goes to the blocking pool.
    pub async fn add_checkpoint_request_async(
        self: &Arc<Self>,
        req: AddCheckpointRequest,
    ) -> Result<Vec<NoteSignature>, WitnessError> {
        let a = self.admit(&req)?;
        let (result, finding) = self
            .committer
            .cas_async(&a.origin, &req, a.size, &a.root)
            .await?;
        let a = if matches!(finding, Finding::None) {
            a
        } else {
            let me = self.clone();
            tokio::task::spawn_blocking(move || {
                me.act_on(&a, &req, finding);
                a
            })
            .await
            .map_err(|e| WitnessError::Internal(format!("storing evidence: {e}")))?
        };
        result?;
        self.cosign(&a)
    }

    /// As [`Witness::add_checkpoint`], awaiting the commit (see
    /// [`Witness::add_checkpoint_request_async`]).
    pub async fn add_checkpoint_async(
        self: &Arc<Self>,
        body: &[u8],
    ) -> Result<String, WitnessError> {
        let req = AddCheckpointRequest::parse(body)?;
        let sigs = self.add_checkpoint_request_async(req).await?;
        Ok(sigs.iter().map(NoteSignature::to_line).collect())
    }

    /// The checks that need no stored state: 400 / 404 / 403 (parse, find the log,
    /// verify its signature), and the size rules.
    fn admit(&self, req: &AddCheckpointRequest) -> Result<Admitted, WitnessError> {
        let origin = checkpoint_origin(&req.checkpoint)?;
        let log = self
            .logs
            .get(&origin)
            .ok_or_else(|| WitnessError::UnknownOrigin(origin.clone()))?;
        let verified = verify_log_checkpoint(&req.checkpoint, log, &[], None).map_err(classify)?;
        let cp = verified.checkpoint();
        let (size, root) = (cp.size(), *cp.root_hash());
        if req.old_size > size {
            return Err(WitnessError::OldSizeTooLarge {
                old: req.old_size,
                size,
            });
        }
        if size == 0 && root != merkle::empty_root() {
            return Err(WitnessError::BadProof(
                "a checkpoint of size 0 must carry the empty-tree root".into(),
            ));
        }
        if self.is_equivocating(&origin) {
            return Err(WitnessError::Equivocating(origin));
        }
        Ok(Admitted {
            origin,
            verified,
            size,
            root,
        })
    }

    /// Stores the evidence a refused compare-and-swap found, if it proves a fork.
    /// Blocking (a durable write).
    fn act_on(&self, a: &Admitted, req: &AddCheckpointRequest, finding: Finding) {
        let Some(log) = self.logs.get(&a.origin) else {
            return;
        };
        match finding {
            Finding::None => {}
            Finding::SameSize(stored) => {
                self.try_record(log, Equivocation::same_size(&stored, &req.checkpoint));
            }
            Finding::BadProof(stored) => {
                if let Ok(prev) = verify_log_checkpoint(&stored, log, &[], None) {
                    match Equivocation::from_consistency_proof(&prev, &a.verified, &req.proof) {
                        Ok(Some(e)) => self.try_record(log, e),
                        _ => tracing::warn!(
                            origin = a.origin,
                            old = req.old_size,
                            size = a.size,
                            "consistency proof did not verify; it does not show an equivocation by itself"
                        ),
                    }
                }
            }
        }
    }

    /// Signs the admitted checkpoint. Call only once its compare-and-swap is durable.
    fn cosign(&self, a: &Admitted) -> Result<Vec<NoteSignature>, WitnessError> {
        let sig = self
            .signer
            .cosign(a.verified.note_text(), self.clock.now())
            .map_err(|e| WitnessError::Internal(format!("cosigning: {e}")))?;
        Ok(vec![sig])
    }

    fn try_record(&self, log: &LogKeys, e: Equivocation) {
        match self.record_verified(log, &e) {
            Ok(outcome) => tracing::error!(
                origin = log.origin(),
                ?outcome,
                "log equivocation: stored evidence; refusing to cosign this log from now on"
            ),
            Err(err) => {
                tracing::warn!(origin = log.origin(), %err, "could not store equivocation evidence")
            }
        }
    }

    fn record_verified(&self, log: &LogKeys, e: &Equivocation) -> Result<Recorded, WitnessError> {
        let v = e
            .verify_log(log)
            .map_err(|err| WitnessError::InvalidEvidence(err.to_string()))?;
        let origin = v.origin().to_owned();
        // Stored and deduplicated in canonical form: copies that differ only in lines
        // the log did not sign are one piece of evidence.
        let canonical = v.canonical();
        let id = canonical.id();
        let text = canonical.to_text();
        let outcome = self.store.insert_equivocation(&id, &origin, &text)?;
        self.equivocating
            .write()
            .map_err(|_| WitnessError::Internal("lock poisoned".into()))?
            .insert(origin.clone());
        if outcome == Recorded::New
            && let Some(hook) = self.on_new.get()
        {
            hook(&StoredEquivocation {
                id,
                origin,
                evidence: text,
            });
        }
        Ok(outcome)
    }

    /// Verifies equivocation evidence from elsewhere (e.g. gossip) against the configured
    /// key of its log and stores its canonical form durably (at most
    /// [`crate::MAX_EVIDENCE_PER_ORIGIN`] items per origin). Afterwards the log is
    /// [`Witness::is_equivocating`] and no longer cosigned.
    pub fn record_equivocation(&self, bytes: &[u8]) -> Result<Recorded, WitnessError> {
        let e = Equivocation::parse(bytes)
            .map_err(|err| WitnessError::InvalidEvidence(err.to_string()))?;
        let mut last = None;
        for log in self.logs.values() {
            match self.record_verified(log, &e) {
                Err(WitnessError::InvalidEvidence(err)) => last = Some(err),
                other => return other,
            }
        }
        Err(WitnessError::InvalidEvidence(last.map_or_else(
            || "no logs configured".to_owned(),
            |e| format!("does not verify against any configured log key (last: {e})"),
        )))
    }

    /// Registers `hook`, called (in the storing thread, after the commit) with every piece
    /// of evidence newly stored, whether it came from [`Witness::record_equivocation`] or
    /// from a refused add-checkpoint that proved a fork. Set once; later calls return
    /// false and change nothing.
    pub fn on_new_evidence(
        &self,
        hook: impl Fn(&StoredEquivocation) + Send + Sync + 'static,
    ) -> bool {
        self.on_new.set(Box::new(hook)).is_ok()
    }

    /// All stored evidence (bounded: a few items per followed origin).
    pub fn equivocations(&self) -> Result<Vec<StoredEquivocation>, WitnessError> {
        Ok(self.store.equivocations()?)
    }

    /// Up to `limit` items of evidence with ids after `after`, ordered by id, and whether
    /// more follow.
    pub fn equivocations_page(
        &self,
        after: Option<&Hash>,
        limit: usize,
    ) -> Result<(Vec<StoredEquivocation>, bool), WitnessError> {
        Ok(self.store.equivocations_page(after, limit)?)
    }

    /// How many evidence items are stored, read from the per-origin counts (not the
    /// evidence table).
    pub fn evidence_count(&self) -> Result<u64, WitnessError> {
        Ok(self
            .store
            .equivocation_counts()?
            .into_iter()
            .map(|(_, n)| n)
            .sum())
    }

    /// Whether verified evidence that `origin` signed two histories is stored.
    pub fn is_equivocating(&self, origin: &str) -> bool {
        self.equivocating
            .read()
            .map(|s| s.contains(origin))
            .unwrap_or(true)
    }
}

/// The spec's checks against the stored state, in the spec's order.
pub(crate) fn check(
    req: &AddCheckpointRequest,
    size: u64,
    root: &Hash,
    stored_size: u64,
    stored_root: &Hash,
    stored_note: Option<Vec<u8>>,
) -> (Result<(), WitnessError>, Finding) {
    let same_size_fork = |note: Option<Vec<u8>>| match note {
        Some(n) if size == stored_size && root != stored_root => Finding::SameSize(n),
        _ => Finding::None,
    };
    // "The witness MUST check that the old size matches the size of the latest checkpoint
    // it cosigned [...] If it doesn't match, [...] 409 Conflict".
    if req.old_size != stored_size {
        let finding = same_size_fork(stored_note);
        return (
            Err(WitnessError::Conflict {
                latest_size: stored_size,
            }),
            finding,
        );
    }
    if req.old_size == size {
        // A proof between equal sizes is empty.
        if !req.proof.is_empty() {
            return (
                Err(WitnessError::BadProof(
                    "the consistency proof between equal sizes must be empty".into(),
                )),
                Finding::None,
            );
        }
        // "If the old size matches the checkpoint size, the witness MUST check that the
        // root hashes are also identical. If they don't match, [...] 409 Conflict".
        if root != stored_root {
            return (
                Err(WitnessError::RootMismatch { size }),
                same_size_fork(stored_note),
            );
        }
        return (Ok(()), Finding::None);
    }
    if req.old_size == 0 {
        // "The proof MUST be empty if the old size is zero."
        if !req.proof.is_empty() {
            return (
                Err(WitnessError::BadProof(
                    "the consistency proof from size 0 must be empty".into(),
                )),
                Finding::None,
            );
        }
        return (Ok(()), Finding::None);
    }
    match merkle::check_tree(&req.proof, size, root, req.old_size, stored_root) {
        Ok(()) => (Ok(()), Finding::None),
        Err(e) => (
            Err(WitnessError::BadProof(format!(
                "consistency proof from {} to {size}: {e}",
                req.old_size
            ))),
            stored_note.map_or(Finding::None, Finding::BadProof),
        ),
    }
}

/// The origin of a signed checkpoint note, after checking that its text (everything
/// before the last blank line, as the note format splits it) is a well-formed checkpoint,
/// so malformed checkpoints get 400 whatever their signatures or origin.
fn checkpoint_origin(note: &[u8]) -> Result<String, WitnessError> {
    let bad = |m: String| WitnessError::Malformed(m);
    let s = std::str::from_utf8(note).map_err(|_| bad("checkpoint is not UTF-8".into()))?;
    let sep = s
        .rfind("\n\n")
        .ok_or_else(|| bad("checkpoint has no blank line before its signatures".into()))?;
    let cp = Checkpoint::parse(&s[..sep + 1]).map_err(|e| bad(format!("checkpoint: {e}")))?;
    Ok(cp.origin().to_owned())
}

/// Maps a checkpoint verification failure to 400 (malformed) or 403 (not signed by the
/// log's trusted key).
fn classify(e: CheckpointError) -> WitnessError {
    match &e {
        CheckpointError::Note(NoteError::NoKnownSignature { .. })
        | CheckpointError::Note(NoteError::InvalidSignature { .. })
        | CheckpointError::MissingLogSignature { .. }
        | CheckpointError::MissingAnyLogSignature { .. }
        | CheckpointError::OriginMismatch { .. } => WitnessError::Forbidden(e.to_string()),
        _ => WitnessError::Malformed(format!("checkpoint: {e}")),
    }
}
