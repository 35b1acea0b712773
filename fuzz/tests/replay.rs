//! Replays every committed corpus file through its target (the same function the
//! libFuzzer target calls), so CI runs the corpora, crash reproducers included, on
//! stable Rust. A target that panics fails its test with the offending file's name.

use std::path::{Path, PathBuf};

use quorate_fuzz::TARGETS;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

fn replay(target: &str) {
    let f = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .expect("target is in TARGETS");
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus", dir.display());
    for file in &files {
        let data = std::fs::read(file).expect("corpus file reads");
        let run = std::panic::catch_unwind(|| f(&data));
        assert!(run.is_ok(), "{target} panicked on {}", file.display());
    }
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name));
            }
        )*

        /// Every target has a replay test above, and every corpus directory a target.
        #[test]
        fn every_target_is_replayed() {
            let tested = [$(stringify!($name)),*];
            for (name, _) in TARGETS {
                assert!(tested.contains(name), "no replay test for target {name}");
            }
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
            for e in std::fs::read_dir(root).expect("fuzz/corpus") {
                let name = e.expect("entry").file_name().into_string().expect("UTF-8 name");
                assert!(tested.contains(&name.as_str()), "corpus {name} has no target");
            }
        }
    };
}

replay_tests!(
    note,
    checkpoint,
    cosignature,
    tlog_proof,
    tile,
    entry_bundle,
    attestation,
    equivocation,
    witness_request,
    gossip_wire,
    policy,
    lockfile,
    cargo_vet,
    crates_index,
    mirror_cache,
    release_archive,
);
