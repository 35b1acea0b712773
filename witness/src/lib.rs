//! Quorate's transparency-log witness, implementing C2SP `tlog-witness` (`add-checkpoint`)
//! with `cosignature/v1` cosignatures.
//!
//! A [`Witness`] follows a set of logs (origin -> Ed25519 signed-note key). For each
//! origin it durably remembers the latest checkpoint it cosigned, and it cosigns a new
//! checkpoint only when a consistency proof shows it extends that one. The check of the
//! client's `old` size against the stored size and the update of the stored checkpoint
//! happen in one redb write transaction, committed to disk before any cosignature is
//! produced, so the witness never cosigns two inconsistent checkpoints for one origin,
//! across crashes and concurrent requests alike.
//!
//! Use it standalone (the `quorate-witness` binary), or embedded: build a [`Witness`],
//! mount [`router`] in an axum app, and call [`Witness::add_checkpoint_request`] or
//! [`Witness::record_equivocation`] directly. Logs ask any C2SP witness to cosign with
//! [`request_cosignature`] / [`WitnessClient`].
//!
//! # Statuses ([`WitnessError::status`])
//!
//! | status | when |
//! |---|---|
//! | 200 | cosigned; body is the cosignature line(s) |
//! | 400 | malformed body or checkpoint; `old` larger than the checkpoint size; body over [`MAX_REQUEST_BYTES`] |
//! | 403 | no valid signature by the origin's trusted key |
//! | 403 | the log has stored equivocation evidence: `Content-Type: text/x.quorate.equivocating`, body `log equivocated: <origin>\n` and a sentence (Quorate extension) |
//! | 404 | unknown origin |
//! | 409 | `old` differs from the latest cosigned size: body `<size>\n`, `Content-Type: text/x.tlog.size` |
//! | 409 | `old` equals the checkpoint size but the root differs from the stored one (plain text body) |
//! | 422 | the consistency proof does not verify (or is non-empty where it must be empty); a size-0 checkpoint whose root is not the empty-tree root |
//!
//! # Equivocating logs
//!
//! When a failed request proves that the log signed two histories (same size with
//! different roots, or a consistency proof that checks against the new root but yields an
//! old root different from the one cosigned), the witness stores verifiable
//! `quorate-equivocation/v1` evidence ([`Witness::equivocations`]). From then on it
//! answers 403 to every request for that origin: the log key has been shown to sign
//! conflicting statements, so the witness no longer trusts it, and the spec's answer for
//! "none of the signatures verify against any of the trusted public keys" is 403. 409 is
//! not used because its `text/x.tlog.size` body invites the client to retry with another
//! `old` size, and 404 would claim the origin is unknown. Because a plain 403 reads as
//! "bad signature", this refusal carries its own content type
//! ([`EQUIVOCATING_CONTENT_TYPE`]) and a body naming the log, which [`WitnessClient`]
//! reports as [`ClientError::Equivocating`]. The evidence is served at
//! `GET /v1/equivocations` and is the operator's cue to act.

mod client;
mod commit;
mod http;
pub mod keyfile;
mod request;
pub mod server;
mod store;
pub mod tls;
mod witness;

pub use client::{
    ClientError, CosignOutcome, WitnessClient, parse_cosign_response, request_cosignature,
};
pub use http::{
    EQUIVOCATING_CONTENT_TYPE, EQUIVOCATING_PREFIX, PAGE_BYTES, PAGE_MAX, SIZE_CONTENT_TYPE, router,
};
pub use request::{AddCheckpointRequest, MAX_PROOF_LINES, MAX_REQUEST_BYTES};
pub use store::{
    DEFAULT_CACHE_BYTES, MAX_EVIDENCE_PER_ORIGIN, Recorded, Store, StoreError, StoredCheckpoint,
    StoredEquivocation,
};
pub use witness::{Clock, SystemClock, Witness};

/// Why an `add-checkpoint` (or evidence) request was refused. [`WitnessError::status`]
/// gives the HTTP status the spec requires.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// 400: the body or the checkpoint is malformed.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// 400: `old` is larger than the checkpoint's size.
    #[error("old size {old} is larger than the checkpoint size {size}")]
    OldSizeTooLarge { old: u64, size: u64 },
    /// 404: the checkpoint's origin is not a log this witness follows.
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// 403: the checkpoint is not validly signed by the origin's trusted key.
    #[error("checkpoint not signed by the trusted log key: {0}")]
    Forbidden(String),
    /// 403: the witness holds evidence that this log equivocated and no longer cosigns it.
    #[error("log {0:?} has equivocated (evidence at /v1/equivocations); not cosigning it")]
    Equivocating(String),
    /// 409 with `text/x.tlog.size`: `old` is not the size of the latest cosigned checkpoint.
    #[error("old size does not match the latest cosigned size {latest_size}")]
    Conflict { latest_size: u64 },
    /// 409: same size as the latest cosigned checkpoint but a different root hash.
    #[error("checkpoint of size {size} has a different root hash than the one cosigned")]
    RootMismatch { size: u64 },
    /// 422: the consistency proof does not verify.
    #[error("consistency proof rejected: {0}")]
    BadProof(String),
    /// 422 (evidence endpoint): equivocation evidence that does not verify.
    #[error("invalid equivocation evidence: {0}")]
    InvalidEvidence(String),
    /// Startup configuration error.
    #[error("configuration: {0}")]
    Config(String),
    /// 500: durable state could not be read or written; nothing was cosigned.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl WitnessError {
    /// The HTTP status code for this error.
    pub fn status(&self) -> u16 {
        match self {
            WitnessError::Malformed(_) | WitnessError::OldSizeTooLarge { .. } => 400,
            WitnessError::Forbidden(_) | WitnessError::Equivocating(_) => 403,
            WitnessError::UnknownOrigin(_) => 404,
            WitnessError::Conflict { .. } | WitnessError::RootMismatch { .. } => 409,
            WitnessError::BadProof(_) | WitnessError::InvalidEvidence(_) => 422,
            WitnessError::Config(_) | WitnessError::Store(_) | WitnessError::Internal(_) => 500,
        }
    }
}
