//! Quorate's client: the verifier a package manager links and the `quorate` CLI.
//!
//! The client believes nothing a node says without a signature or a proof, and assigns
//! jurisdictions only through its own policy. `policy`, `lockfile`, `cargo_vet` and
//! `quorum` are the verifier: parse the client's policy, read the lockfile, convert
//! cargo-vet audits, and decide quorum with an explanation of every missing jurisdiction.
//! `crates_index` finds artifact digests for imports that lack a lockfile entry; `keys`
//! and `files` are the CLI's key and file handling.

pub mod archive_diff;
pub mod bundle;
pub mod bundle_manifest;
pub mod cargo_vet;
pub mod check;
pub mod crates_index;
pub mod crev;
pub mod dependents;
pub mod dirnames;
pub mod files;
pub mod gaps;
pub mod keys;
pub mod lockfile;
pub mod mirror;
pub mod net;
pub mod ossf;
pub mod policy;
pub mod quorum;
pub mod submit;
pub mod vsa;
pub mod yaml;
