//! Quorate's byte formats and all pure verification logic.
//!
//! This crate does no I/O, has no async and reads no clock: storage is reached through
//! caller-supplied traits (see [`merkle::HashReader`]) and time is passed in. Every
//! verifier returns a type that can only be built by verification, so code that holds a
//! [`checkpoint::VerifiedCheckpoint`] knows the check happened.

pub mod attestation;
pub mod checkpoint;
pub mod cosignature;
pub mod equivocation;
pub mod error_chain;
pub mod keyfile;
pub mod log_keys;
pub mod merkle;
pub mod note;
pub mod tile;
pub mod tlog_proof;
