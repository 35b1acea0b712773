//! Witness cosignatures: C2SP `tlog-cosignature` v1.0.1 (`cosignature/v1`, signature
//! type `0x04`, Ed25519).
//!
//! # Format
//!
//! A cosignature is an ordinary signature line on a checkpoint note (see
//! [`crate::note`]), by a witness key whose key ID is
//!
//! ```text
//! SHA-256(<name> || 0x0A || 0x04 || 32-byte Ed25519 public key)[:4]
//! ```
//!
//! Its signature bytes (after the key ID) are 72 bytes: an 8-byte big-endian POSIX
//! timestamp, at most 2^63 - 1, followed by the 64-byte Ed25519 signature over
//!
//! ```text
//! cosignature/v1\n
//! time <timestamp in decimal, no leading zeros>\n
//! <the checkpoint note text, including its final newline>
//! ```
//!
//! Witness keys are written as note keys with type byte `0x04`:
//!
//! ```text
//! vkey: <name>+<key ID hex>+base64(0x04 || 32-byte public key)
//! skey: PRIVATE+KEY+<name>+<key ID hex>+base64(0x04 || 32-byte seed)
//! ```
//!
//! The skey form is Quorate's choice (the C2SP specs define only vkeys): it mirrors
//! Go's Ed25519 skey so one parser handles both, and the type byte keeps a witness key
//! from being loaded as a log key by mistake.

use ed25519_dalek::ed25519::signature::MultipartSigner as _;
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::checkpoint::{Checkpoint, CheckpointParseError};
use crate::note::{
    self, KeyError, NoteError, NoteSignature, NoteVerifier, SecretKeyText, VerifierKey,
};

/// Signature type byte of `cosignature/v1` keys.
pub const COSIGNATURE_V1_TYPE: u8 = 0x04;
/// Length of a `cosignature/v1` signature after the key ID.
pub const COSIGNATURE_LEN: usize = 72;
/// Largest allowed timestamp (2^63 - 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

const HEADER: &[u8] = b"cosignature/v1\n";

/// Why a cosignature could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    #[error("cosignature timestamp {0} exceeds 2^63 - 1")]
    TimestampTooLarge(u64),
    #[error("cosignature is {found} bytes, expected {COSIGNATURE_LEN}")]
    WrongLength { found: usize },
    #[error("text to cosign is not a valid note text: {0}")]
    Note(#[from] NoteError),
    #[error("text to cosign is not a checkpoint: {0}")]
    NotCheckpoint(#[from] CheckpointParseError),
}

/// The exact message a `cosignature/v1` signature covers.
pub fn cosignature_message(note_text: &str, timestamp: u64) -> Vec<u8> {
    let time = time_line(timestamp);
    let mut m = Vec::with_capacity(HEADER.len() + time.len() + note_text.len());
    m.extend_from_slice(HEADER);
    m.extend_from_slice(time.as_bytes());
    m.extend_from_slice(note_text.as_bytes());
    m
}

fn time_line(timestamp: u64) -> String {
    format!("time {timestamp}\n")
}

/// The timestamp of a `cosignature/v1` signature (the bytes after the key ID). Checks
/// only the shape; verify the signature first.
pub fn cosignature_timestamp(sig: &[u8]) -> Result<u64, CosignatureError> {
    let (ts, _) = split_signature(sig)?;
    Ok(ts)
}

fn split_signature(sig: &[u8]) -> Result<(u64, &[u8; 64]), CosignatureError> {
    let arr: &[u8; COSIGNATURE_LEN] = sig
        .try_into()
        .map_err(|_| CosignatureError::WrongLength { found: sig.len() })?;
    let (ts, ed) = arr
        .split_first_chunk::<8>()
        .ok_or(CosignatureError::WrongLength { found: sig.len() })?;
    let ed: &[u8; 64] = ed
        .try_into()
        .map_err(|_| CosignatureError::WrongLength { found: sig.len() })?;
    let ts = u64::from_be_bytes(*ts);
    if ts > MAX_TIMESTAMP {
        return Err(CosignatureError::TimestampTooLarge(ts));
    }
    Ok((ts, ed))
}

/// A witness's `cosignature/v1` signing key.
pub struct CosignatureSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosignatureSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl CosignatureSigner {
    /// A witness key from a 32-byte Ed25519 seed supplied by the caller's RNG.
    pub fn generate(name: &str, seed: [u8; 32]) -> Result<CosignatureSigner, KeyError> {
        note::check_key_name(name)?;
        let key = SigningKey::from_bytes(&seed);
        let key_id = note::key_id(name, COSIGNATURE_V1_TYPE, key.verifying_key().as_bytes());
        Ok(CosignatureSigner {
            name: name.to_owned(),
            key_id,
            key,
        })
    }

    /// Parses a witness skey (type `0x04`), checking its key ID.
    pub fn from_skey(skey: &str) -> Result<CosignatureSigner, KeyError> {
        let (name, key_id, key) = note::parse_skey(skey, COSIGNATURE_V1_TYPE)?;
        Ok(CosignatureSigner { name, key_id, key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The witness vkey (type `0x04`).
    pub fn vkey(&self) -> String {
        self.verifier().vkey()
    }

    pub fn skey(&self) -> SecretKeyText {
        note::format_skey(&self.name, self.key_id, COSIGNATURE_V1_TYPE, &self.key)
    }

    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Cosigns a checkpoint note text at `timestamp` (POSIX seconds). The text must parse
    /// as a checkpoint, so a witness key can never be made to sign anything else. Append
    /// the result with [`note::add_signatures`] or [`NoteSignature::to_line`].
    pub fn cosign(
        &self,
        checkpoint_text: &str,
        timestamp: u64,
    ) -> Result<NoteSignature, CosignatureError> {
        Ok(NoteSignature::new(
            &self.name,
            self.key_id,
            self.cosign_raw(checkpoint_text, timestamp)?.to_vec(),
        )
        // The name was validated when this signer was built.
        .map_err(NoteError::InvalidSigner)?)
    }

    /// As [`Self::cosign`], returning the 72 signature bytes (timestamp || Ed25519).
    pub fn cosign_raw(
        &self,
        checkpoint_text: &str,
        timestamp: u64,
    ) -> Result<[u8; COSIGNATURE_LEN], CosignatureError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampTooLarge(timestamp));
        }
        note::check_text(checkpoint_text)?;
        Checkpoint::parse(checkpoint_text)?;
        let time = time_line(timestamp);
        let sig = self
            .key
            .try_multipart_sign(&[HEADER, time.as_bytes(), checkpoint_text.as_bytes()])
            .map_err(|_| NoteError::InvalidSigner(KeyError::Malformed("signing failed")))?;
        let mut out = [0u8; COSIGNATURE_LEN];
        let (ts, ed) = out.split_at_mut(8);
        ts.copy_from_slice(&timestamp.to_be_bytes());
        ed.copy_from_slice(&sig.to_bytes());
        Ok(out)
    }
}

/// A witness's `cosignature/v1` verifier key. As a [`NoteVerifier`] it checks the
/// cosignature over a note's text, so it plugs into [`note::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// Parses a witness vkey (type `0x04`).
    pub fn from_vkey(vkey: &str) -> Result<CosignatureVerifier, KeyError> {
        Self::from_parsed(&note::parse_vkey(vkey)?)
    }

    /// Builds the verifier from an already parsed vkey of type `0x04`.
    pub fn from_parsed(k: &VerifierKey) -> Result<CosignatureVerifier, KeyError> {
        if k.key_type != COSIGNATURE_V1_TYPE {
            return Err(KeyError::WrongType {
                found: k.key_type,
                expected: COSIGNATURE_V1_TYPE,
            });
        }
        Ok(CosignatureVerifier {
            name: k.name.clone(),
            key_id: k.key_id,
            key: note::ed25519_public_key(&k.public_key)?,
        })
    }

    /// A verifier from a witness name and raw public key.
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<CosignatureVerifier, KeyError> {
        note::check_key_name(name)?;
        Ok(CosignatureVerifier {
            name: name.to_owned(),
            key_id: note::key_id(name, COSIGNATURE_V1_TYPE, public_key),
            key: note::ed25519_public_key(public_key)?,
        })
    }

    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    pub fn vkey(&self) -> String {
        // The name was validated on construction, so formatting cannot fail; fall back
        // to an empty string rather than panic.
        note::format_vkey(&self.name, COSIGNATURE_V1_TYPE, self.key.as_bytes()).unwrap_or_default()
    }
}

impl NoteVerifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok((ts, ed)) = split_signature(sig) else {
            return false;
        };
        let time = time_line(ts);
        note::ed25519_verify(&self.key, &[HEADER, time.as_bytes(), msg], ed)
    }
}
