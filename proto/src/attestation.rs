//! attestation (in progress)
