//! Targets for what the client reads: its policy, lockfiles, cargo-vet audits, registry
//! index files, and its own mirror cache (which anyone with write access to the cache
//! directory, or a past bug, may have filled with anything).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path};
use std::sync::{Mutex, OnceLock};

use quorate_client::cargo_vet::{AuditsFile, ImportOptions, import};
use quorate_client::crates_index::parse_index_file;
use quorate_client::dirnames::origin_dir;
use quorate_client::lockfile::Lockfile;
use quorate_client::mirror::{self, MirrorOptions};
use quorate_client::policy::Policy;
use quorate_proto::attestation::{Attestation, Digest};
use quorate_proto::note;

use crate::keys::{LOG_NAME, log_signer, witness_signer};
use crate::{parts, path_part};

/// Policy files; a parsed policy prints a canonical text that parses back to it.
pub fn policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = Policy::parse(text) {
        let canonical = p.to_text();
        let again = Policy::parse(&canonical).expect("canonical policy text re-parses");
        assert_eq!(again, p);
        let _ = p.jurisdictions();
        let _ = p.implied_by(p.criteria());
    }
}

/// Lockfiles of every format: the Cargo-specific reader, content detection, and each
/// generic reader (every identity a reader returns must print as a purl that reads back).
pub fn lockfile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(l) = Lockfile::parse(text) {
        let _ = l.crates_io_digests();
        for p in &l.packages {
            let _ = p.checkable();
        }
    }
    let _ = quorate_client::lockfile::detect::detect("lockfile", text);
    for f in quorate_client::lockfile::Format::ALL {
        if let Ok(l) = quorate_client::lockfile::ParsedLockfile::parse(f, text, Some(text)) {
            for e in &l.entries {
                let back = quorate_client::lockfile::PackageId::from_purl(&e.id.purl());
                assert_eq!(back.as_ref(), Ok(&e.id), "{f}: purl of {:?}", e.id);
            }
        }
    }
}

/// Release archives (`evidence archive-vs-source`): gzip or plain tar, hostile members
/// refused by error; a tree that reads compares against itself with no difference, and
/// against an empty tree with every path added.
pub fn release_archive(data: &[u8]) {
    use quorate_client::archive_diff::{self, Change, Limits};
    let limits = Limits {
        max_entries: 2_000,
        max_file_bytes: 1 << 20,
        max_total_bytes: 16 << 20,
        max_depth: 16,
    };
    if let Ok(a) = archive_diff::read_archive_from("fuzz", data, &limits) {
        assert!(archive_diff::diff(&a.tree, &a.tree).is_empty());
        let empty = archive_diff::Tree::new();
        let d = archive_diff::diff(&a.tree, &empty);
        assert_eq!(d.len(), a.tree.len());
        assert!(d.iter().all(|(_, c)| *c == Change::Added));
    }
}

/// cargo-vet `audits.toml` files, converted to attestations; every attestation an import
/// produces must be valid and survive encoding.
pub fn cargo_vet(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = AuditsFile::parse(text) else {
        return;
    };
    let _ = file.audit_count();
    let _ = file.implications();
    let mut digests = BTreeMap::new();
    for (name, entries) in file.audits.iter().take(4) {
        for e in entries.iter().take(2) {
            if let Some(v) = &e.version {
                digests.insert((name.clone(), v.clone()), Digest::Sha256([1; 32]));
            }
        }
    }
    let opts = ImportOptions {
        organisation: "Fuzz".into(),
        reviewer_key: log_signer().public_key_bytes(),
        time: 1_700_000_000,
        digests: &digests,
    };
    let imported = import(&file, &opts);
    for a in &imported.attestations {
        a.validate().expect("imported attestations are valid");
        let bytes = a.encode_payload();
        assert_eq!(Attestation::decode_payload(&bytes).as_ref(), Ok(a));
    }
}

/// crates.io index files (one JSON object per line).
pub fn crates_index(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_index_file("fuzz", text);
    }
}

/// The policy the mirror target syncs under: one review log with the fuzzing key.
fn mirror_policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        let text = format!(
            "witness fuzz-w {}\nquorum none\nreview-log FZ {} https://log.fuzz.example/\nreview-quorum 1\n",
            witness_signer().vkey(),
            log_signer().vkey()
        );
        Policy::parse(&text).expect("fixed policy parses")
    })
}

/// A relative path with only plain components, so fuzzed names stay inside the cache.
fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// The client's mirror cache, synced offline. Parts: the checkpoint note text (signed
/// here with the fuzzing log key, so any size and root is reachable; left as is when it
/// is not a valid note text), then `path\ndata` files under the log's cache directory
/// (`tile/...`) or the cache root (`equivocations/...`). The whole input is also read as
/// a `/v1/equivocations` answer.
pub fn mirror_cache(data: &[u8]) {
    static DIR: OnceLock<Mutex<tempfile::TempDir>> = OnceLock::new();
    let dir = DIR
        .get_or_init(|| Mutex::new(tempfile::tempdir().expect("temporary directory")))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let cache = dir.path().join("cache");
    let _ = fs::remove_dir_all(&cache);
    let log_dir = cache.join(origin_dir(LOG_NAME));
    fs::create_dir_all(&log_dir).expect("cache directory");

    let policy = mirror_policy();
    for text in mirror::evidence_texts(data) {
        let _ = mirror::verify_evidence(policy, text.as_bytes());
    }

    let ps = parts(data);
    let checkpoint = std::str::from_utf8(ps[0])
        .ok()
        .and_then(|t| note::sign(t, &[log_signer()]).ok())
        .map_or_else(|| ps[0].to_vec(), String::into_bytes);
    fs::write(log_dir.join("checkpoint"), checkpoint).expect("write checkpoint");
    for p in &ps[1..] {
        let Some((path, content)) = path_part(p) else {
            continue;
        };
        if !safe_relative(path) {
            continue;
        }
        let target = if path.starts_with("equivocations/") {
            cache.join(path)
        } else {
            log_dir.join(path)
        };
        if let Some(parent) = target.parent()
            && fs::create_dir_all(parent).is_ok()
        {
            let _ = fs::write(&target, content);
        }
    }
    let m = mirror::sync(
        policy,
        &MirrorOptions {
            cache: cache.clone(),
            offline: true,
            progress: false,
            limits: Default::default(),
        },
    );
    for lm in &m.logs {
        if lm.checkpoint.is_some() {
            assert_eq!(lm.entries.len() as u64, lm.tree.size());
        }
    }
}
