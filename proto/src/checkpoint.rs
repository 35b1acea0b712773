//! Checkpoints: C2SP `tlog-checkpoint` v1.0.0, a signed note whose text is a log's tree
//! head, plus Quorate's rules for verifying one with witness cosignatures.
//!
//! # Format
//!
//! The note text is at least three non-empty lines, each ending in a newline (U+000A):
//!
//! ```text
//! <origin>                  non-empty; the log's identity
//! <tree size>               ASCII decimal u64, no sign, no leading zeros ("0" if empty)
//! <root hash>               standard padded base64 of exactly 32 bytes (RFC 6962 root)
//! [<extension line>...]     optional, opaque, non-empty
//! ```
//!
//! No empty line may appear (so the text cannot be confused with the note's separator),
//! and no line may contain an ASCII control character. For example:
//!
//! ```text
//! example.com/behind-the-sofa
//! 20852163
//! CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//! ```
//!
//! # Verification (Quorate policy)
//!
//! [`verify_checkpoint`] opens the note against the log key and the configured witness
//! keys (see [`crate::note`] for signature rules), then requires:
//!
//! - a valid signature by the log key;
//! - the origin line to equal the log key's name exactly. The spec only says the key name
//!   SHOULD match the origin; this shorthand makes it a MUST so that one key can never
//!   vouch for a tree head of a differently named log;
//! - a well-formed checkpoint text.
//!
//! [`verify_log_checkpoint`] takes the origin from configuration instead ([`LogKeys`]):
//! the origin line must equal the configured origin, and a valid signature by **any** of
//! the keys configured for it (whatever their names, e.g. Go's checksum database: origin
//! `go.sum database tree`, key `sum.golang.org`) suffices, so a log can rotate its key
//! with an overlap. A key still vouches only for the one origin it is configured for.
//!
//! Valid cosignatures (type `0x04`, [`crate::cosignature`]) by configured witnesses are
//! collected with their timestamps; an invalid one by a configured witness rejects the
//! whole note. [`verify_checkpoint_at`] additionally sets aside cosignatures timestamped
//! more than a caller-chosen skew after the caller's `now`: they are authentic but do not
//! count toward [`VerifiedCheckpoint::require_witnesses`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::cosignature::{CosignatureVerifier, cosignature_timestamp};
pub use crate::log_keys::{LogKeys, LogKeysError};
use crate::note::{self, MAX_NOTE_SIZE, NoteError, NoteVerifier};

/// Why a checkpoint text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointParseError {
    #[error("checkpoint text is {size} bytes, more than the limit of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("checkpoint text does not end in a newline")]
    NotNewlineTerminated,
    #[error("checkpoint text has {found} lines, at least 3 are required")]
    TooFewLines { found: usize },
    #[error("checkpoint line {line} is empty")]
    EmptyLine { line: usize },
    #[error("checkpoint line {line} contains control character 0x{byte:02x}")]
    ControlCharacter { line: usize, byte: u8 },
    #[error("checkpoint tree size {found:?} is invalid: {reason}")]
    InvalidSize { found: String, reason: &'static str },
    #[error("checkpoint root hash is not canonical base64 of 32 bytes")]
    InvalidRootHash,
}

/// Why a signed checkpoint was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    #[error("checkpoint text: {0}")]
    Parse(#[from] CheckpointParseError),
    #[error("checkpoint is not signed by the log key {name}+{key_id:08x}")]
    MissingLogSignature { name: String, key_id: u32 },
    #[error("checkpoint is not signed by any of the {keys} keys configured for log {origin:?}")]
    MissingAnyLogSignature { origin: String, keys: usize },
    #[error("checkpoint origin {origin:?} does not match the log key name {key_name:?}")]
    OriginMismatch { origin: String, key_name: String },
    #[error(
        "checkpoint has {found} valid witness cosignatures, {required} required ({future} more ignored as dated in the future)"
    )]
    NotEnoughWitnesses {
        found: usize,
        required: usize,
        future: usize,
    },
}

/// A checkpoint body (the note text), unsigned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root_hash: [u8; 32],
    extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint from its parts; the origin and extensions must be valid lines.
    pub fn new(
        origin: &str,
        size: u64,
        root_hash: [u8; 32],
        extensions: Vec<String>,
    ) -> Result<Checkpoint, CheckpointParseError> {
        check_line(1, origin)?;
        for (i, e) in extensions.iter().enumerate() {
            check_line(i + 4, e)?;
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root_hash,
            extensions,
        })
    }

    /// Parses a checkpoint note text strictly (see the module documentation).
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointParseError> {
        if text.len() > MAX_NOTE_SIZE {
            return Err(CheckpointParseError::TooLarge {
                size: text.len(),
                max: MAX_NOTE_SIZE,
            });
        }
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointParseError::NotNewlineTerminated)?;
        let lines: Vec<&str> = body.split('\n').collect();
        for (i, line) in lines.iter().enumerate() {
            check_line(i + 1, line)?;
        }
        let [origin, size_line, root_line, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointParseError::TooFewLines { found: lines.len() });
        };
        let extensions = extensions.iter().map(|e| (*e).to_owned()).collect();
        let size = parse_size(size_line)?;
        let root_hash = note::decode_b64(root_line)
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or(CheckpointParseError::InvalidRootHash)?;
        Ok(Checkpoint {
            origin: (*origin).to_owned(),
            size,
            root_hash,
            extensions,
        })
    }

    /// The note text: origin, size, root and extension lines, each newline-terminated.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root_hash)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 root hash of the tree at [`Self::size`].
    pub fn root_hash(&self) -> &[u8; 32] {
        &self.root_hash
    }

    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }
}

pub(crate) fn check_line(line: usize, s: &str) -> Result<(), CheckpointParseError> {
    if s.is_empty() {
        return Err(CheckpointParseError::EmptyLine { line });
    }
    if let Some(&byte) = s.as_bytes().iter().find(|&&b| b < 0x20) {
        return Err(CheckpointParseError::ControlCharacter { line, byte });
    }
    Ok(())
}

fn parse_size(s: &str) -> Result<u64, CheckpointParseError> {
    let bad = |reason| CheckpointParseError::InvalidSize {
        found: s.chars().take(40).collect(),
        reason,
    };
    // u64::from_str would also accept a leading '+'.
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("not a decimal number"));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(bad("leading zero"));
    }
    s.parse::<u64>().map_err(|_| bad("does not fit in 64 bits"))
}

/// A witness cosignature that verified on a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCosignature {
    name: String,
    key_id: u32,
    timestamp: u64,
}

impl VerifiedCosignature {
    /// The witness key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// When the witness cosigned, in POSIX seconds (at most 2^63 - 1).
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }
}

/// A checkpoint whose log signature, origin and witness cosignatures were checked. Only
/// [`verify_checkpoint`] and [`verify_checkpoint_at`] build one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    checkpoint: Checkpoint,
    note_text: String,
    note: Vec<u8>,
    cosignatures: Vec<VerifiedCosignature>,
    future: Vec<VerifiedCosignature>,
}

impl VerifiedCheckpoint {
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The signed note text (the checkpoint body).
    pub fn note_text(&self) -> &str {
        &self.note_text
    }

    /// The full signed note as received, with every signature line.
    pub fn note_bytes(&self) -> &[u8] {
        &self.note
    }

    /// Valid cosignatures by configured witnesses that count toward a quorum.
    pub fn cosignatures(&self) -> &[VerifiedCosignature] {
        &self.cosignatures
    }

    /// Valid cosignatures set aside by [`verify_checkpoint_at`] as dated in the future.
    pub fn future_cosignatures(&self) -> &[VerifiedCosignature] {
        &self.future
    }

    /// Succeeds if at least `min` distinct configured witnesses cosigned.
    pub fn require_witnesses(&self, min: usize) -> Result<(), CheckpointError> {
        // Each key signs at most once (note::open rejects repeats), so distinct keys are
        // counted; distinct names are what a policy means by distinct witnesses.
        let mut names: Vec<&str> = self.cosignatures.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        if names.len() < min {
            return Err(CheckpointError::NotEnoughWitnesses {
                found: names.len(),
                required: min,
                future: self.future.len(),
            });
        }
        Ok(())
    }
}

/// Verifies a signed checkpoint from `log`, collecting cosignatures by `witnesses`; see
/// the module documentation for the rules.
pub fn verify_checkpoint(
    note_bytes: &[u8],
    log: &dyn NoteVerifier,
    witnesses: &[CosignatureVerifier],
) -> Result<VerifiedCheckpoint, CheckpointError> {
    verify_inner(note_bytes, log, witnesses, None)
}

/// As [`verify_checkpoint`], but cosignatures timestamped after `now + max_future_skew`
/// (POSIX seconds) are moved to [`VerifiedCheckpoint::future_cosignatures`] and do not
/// count toward a quorum.
pub fn verify_checkpoint_at(
    note_bytes: &[u8],
    log: &dyn NoteVerifier,
    witnesses: &[CosignatureVerifier],
    now: u64,
    max_future_skew: u64,
) -> Result<VerifiedCheckpoint, CheckpointError> {
    verify_inner(
        note_bytes,
        log,
        witnesses,
        Some(now.saturating_add(max_future_skew)),
    )
}

fn verify_inner(
    note_bytes: &[u8],
    log: &dyn NoteVerifier,
    witnesses: &[CosignatureVerifier],
    latest: Option<u64>,
) -> Result<VerifiedCheckpoint, CheckpointError> {
    verify_keys(note_bytes, log.name(), &[log], witnesses, latest).map_err(|e| match e {
        CheckpointError::MissingAnyLogSignature { .. } => CheckpointError::MissingLogSignature {
            name: log.name().to_owned(),
            key_id: log.key_id(),
        },
        CheckpointError::OriginMismatch { origin, .. } => CheckpointError::OriginMismatch {
            origin,
            key_name: log.name().to_owned(),
        },
        e => e,
    })
}

/// Verifies a signed checkpoint of the log `log` (origin from configuration, any of its
/// keys), collecting cosignatures by `witnesses`; with `now_and_skew = Some((now, skew))`
/// cosignatures dated after `now + skew` are set aside as in [`verify_checkpoint_at`].
pub fn verify_log_checkpoint(
    note_bytes: &[u8],
    log: &LogKeys,
    witnesses: &[CosignatureVerifier],
    now_and_skew: Option<(u64, u64)>,
) -> Result<VerifiedCheckpoint, CheckpointError> {
    let keys: Vec<&dyn NoteVerifier> = log.keys().iter().map(|k| k as &dyn NoteVerifier).collect();
    verify_keys(
        note_bytes,
        log.origin(),
        &keys,
        witnesses,
        now_and_skew.map(|(now, skew)| now.saturating_add(skew)),
    )
}

fn verify_keys(
    note_bytes: &[u8],
    origin: &str,
    log_keys: &[&dyn NoteVerifier],
    witnesses: &[CosignatureVerifier],
    latest: Option<u64>,
) -> Result<VerifiedCheckpoint, CheckpointError> {
    let mut verifiers: Vec<&dyn NoteVerifier> =
        Vec::with_capacity(log_keys.len() + witnesses.len());
    verifiers.extend_from_slice(log_keys);
    verifiers.extend(witnesses.iter().map(|w| w as &dyn NoteVerifier));
    let opened = note::open(note_bytes, &verifiers)?;
    let signed_by_log = opened.verified_signatures().iter().any(|s| {
        log_keys
            .iter()
            .any(|k| s.name() == k.name() && s.key_id() == k.key_id())
    });
    if !signed_by_log {
        return Err(CheckpointError::MissingAnyLogSignature {
            origin: origin.to_owned(),
            keys: log_keys.len(),
        });
    }
    let checkpoint = Checkpoint::parse(opened.text())?;
    if checkpoint.origin != origin {
        return Err(CheckpointError::OriginMismatch {
            origin: checkpoint.origin,
            key_name: origin.to_owned(),
        });
    }
    let mut cosignatures = Vec::new();
    let mut future = Vec::new();
    for s in opened.verified_signatures() {
        let is_witness = witnesses
            .iter()
            .any(|w| w.name() == s.name() && w.key_id() == s.key_id());
        if !is_witness {
            continue;
        }
        // The witness verifier already accepted these bytes, so this cannot fail; a
        // signature that somehow does is simply not counted.
        let Ok(timestamp) = cosignature_timestamp(s.signature()) else {
            continue;
        };
        let c = VerifiedCosignature {
            name: s.name().to_owned(),
            key_id: s.key_id(),
            timestamp,
        };
        match latest {
            Some(latest) if timestamp > latest => future.push(c),
            _ => cosignatures.push(c),
        }
    }
    Ok(VerifiedCheckpoint {
        checkpoint,
        note_text: opened.into_text(),
        note: note_bytes.to_vec(),
        cosignatures,
        future,
    })
}
