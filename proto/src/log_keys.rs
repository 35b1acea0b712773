//! A log's identity as a verifier configures it: its origin (the checkpoint's first line)
//! and the Ed25519 keys that may sign for it.
//!
//! C2SP tlog-checkpoint lets the origin differ from the key name (Go's checksum database:
//! origin `go.sum database tree`, key `sum.golang.org`), and a log rotating its key signs
//! with the old and the new key for a while. Binding keys to an origin here, in
//! configuration, keeps the property that a key vouches only for the log it was
//! configured for.

use crate::checkpoint::{CheckpointParseError, check_line};
use crate::note::{Ed25519Verifier, NoteVerifier};

/// Why a log's configured keys were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogKeysError {
    #[error("log origin {origin:?} is not a valid checkpoint origin line: {source}")]
    Origin {
        origin: String,
        source: CheckpointParseError,
    },
    #[error("log {origin:?} has no key")]
    NoKeys { origin: String },
    #[error("log {origin:?} lists the key {name}+{key_id:08x} twice")]
    DuplicateKey {
        origin: String,
        name: String,
        key_id: u32,
    },
}

/// A log origin and its one or more keys (any of them may sign a checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKeys {
    origin: String,
    keys: Vec<Ed25519Verifier>,
}

impl LogKeys {
    /// The log `origin` signed by any of `keys` (non-empty, no key twice).
    pub fn new(origin: &str, keys: Vec<Ed25519Verifier>) -> Result<LogKeys, LogKeysError> {
        check_line(1, origin).map_err(|source| LogKeysError::Origin {
            origin: origin.to_owned(),
            source,
        })?;
        if keys.is_empty() {
            return Err(LogKeysError::NoKeys {
                origin: origin.to_owned(),
            });
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i]
                .iter()
                .any(|p| p.key_id() == k.key_id() && p.name() == k.name())
            {
                return Err(LogKeysError::DuplicateKey {
                    origin: origin.to_owned(),
                    name: k.name().to_owned(),
                    key_id: k.key_id(),
                });
            }
        }
        Ok(LogKeys {
            origin: origin.to_owned(),
            keys,
        })
    }

    /// The common case: one key whose name is the origin.
    pub fn single(key: Ed25519Verifier) -> LogKeys {
        LogKeys {
            origin: key.name().to_owned(),
            keys: vec![key],
        }
    }

    /// Adds `key` (rotation: a new key beside the old); a key already listed is refused.
    pub fn add_key(&mut self, key: Ed25519Verifier) -> Result<(), LogKeysError> {
        if self
            .keys
            .iter()
            .any(|p| p.key_id() == key.key_id() && p.name() == key.name())
        {
            return Err(LogKeysError::DuplicateKey {
                origin: self.origin.clone(),
                name: key.name().to_owned(),
                key_id: key.key_id(),
            });
        }
        self.keys.push(key);
        Ok(())
    }

    /// The checkpoint origin this log signs.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The keys, in configuration order (never empty).
    pub fn keys(&self) -> &[Ed25519Verifier] {
        &self.keys
    }

    /// Whether `key` (by name, ID and public key) is one of this log's keys.
    pub fn contains(&self, key: &Ed25519Verifier) -> bool {
        self.keys.iter().any(|k| k == key)
    }
}
