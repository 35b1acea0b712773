//! Bodies of Quorate's fuzz targets, one `pub fn NAME(data: &[u8])` per parser that reads
//! outside data. The libFuzzer harness in `fuzz/libfuzzer` calls each one from a one-line
//! target, and `tests/replay.rs` feeds every file of `fuzz/corpus/NAME/` to the same
//! function in an ordinary `cargo test`, so the corpora stay regression tests on stable.
//!
//! A target passes when it returns: parsers must turn bad input into errors, never panic.
//! Where a format claims one encoding per value, the target also checks that a parsed
//! value re-encodes and parses back to itself.
//!
//! Signatures stop a fuzzer at the first check, so targets that reach past a signature
//! use [`keys::AcceptAll`], a verifier for the fixed fuzzing log key that accepts any
//! signature bytes. Where the real check matters (the mirror cache), the target signs
//! the fuzzed text with the fixed key instead, so every size and root is reachable.

mod client_targets;
pub mod keys;
mod node_targets;
mod proto_targets;

pub use client_targets::{
    cargo_vet, crates_index, lockfile, mirror_cache, policy, release_archive,
};
pub use node_targets::{gossip_wire, witness_request};
pub use proto_targets::{
    attestation, checkpoint, cosignature, entry_bundle, equivocation, note, tile, tlog_proof,
};

/// A target's body: returns on every input, panics only on a bug.
pub type Target = fn(&[u8]);

/// Every target by name: the corpus directory `fuzz/corpus/NAME` and the libFuzzer
/// target `NAME` both use these names.
pub const TARGETS: &[(&str, Target)] = &[
    ("note", note),
    ("checkpoint", checkpoint),
    ("cosignature", cosignature),
    ("tlog_proof", tlog_proof),
    ("tile", tile),
    ("entry_bundle", entry_bundle),
    ("attestation", attestation),
    ("equivocation", equivocation),
    ("witness_request", witness_request),
    ("gossip_wire", gossip_wire),
    ("policy", policy),
    ("lockfile", lockfile),
    ("cargo_vet", cargo_vet),
    ("crates_index", crates_index),
    ("mirror_cache", mirror_cache),
    ("release_archive", release_archive),
];

/// Separates the parts of a multi-part input (a tile header and its tiles, the files of a
/// mirror cache). Rare enough in real data that mutations seldom create one by accident.
pub const PART_SEPARATOR: &[u8] = b"\n@@@@\n";

/// Splits a multi-part input at [`PART_SEPARATOR`].
pub fn parts(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest
        .windows(PART_SEPARATOR.len())
        .position(|w| w == PART_SEPARATOR)
    {
        out.push(&rest[..i]);
        rest = &rest[i + PART_SEPARATOR.len()..];
    }
    out.push(rest);
    out
}

/// Joins parts with [`PART_SEPARATOR`] (to build seeds).
pub fn join_parts(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(PART_SEPARATOR)
}

/// Splits a `path\ndata` part (a file of a tile set or a cache directory).
pub fn path_part(part: &[u8]) -> Option<(&str, &[u8])> {
    let i = part.iter().position(|&b| b == b'\n')?;
    let path = std::str::from_utf8(&part[..i]).ok()?;
    Some((path, &part[i + 1..]))
}
