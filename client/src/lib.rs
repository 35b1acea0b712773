//! Quorate's client: the verifier a package manager links and the `quorate` CLI.
//!
//! The client believes nothing a node says without a signature or a proof, and assigns
//! jurisdictions only through its own policy. Today it holds the key and file handling
//! the CLI needs; the quorum verifier joins it with the client issue.

pub mod crates_index;
pub mod files;
pub mod keys;
