//! Store tests on real redb files in temporary directories.

use std::convert::Infallible;
use std::path::Path;

use quorate_node::store::{NewEntry, Placed, Store, StoreError};
use quorate_proto::merkle::{self, Hash, HashReader, MemoryLog};
use quorate_proto::tile;
use redb::{Database, ReadableDatabase, ReadableTable as _, TableDefinition};

/// A stand-in for a signed checkpoint: deterministic bytes naming size and root.
fn fake_sign(size: u64, root: Hash) -> Result<Vec<u8>, Infallible> {
    Ok(format!("checkpoint {size} {root:?}").into_bytes())
}

fn entry_bytes(i: u64) -> Vec<u8> {
    format!("entry number {i} with some padding").into_bytes()
}

fn new_entry(i: u64) -> NewEntry {
    NewEntry::new(
        entry_bytes(i),
        Some(("cargo", &format!("pkg{}", i % 7), "1.0.0")),
    )
    .unwrap()
}

fn create(path: &Path) -> Store {
    Store::create(path, fake_sign).unwrap()
}

/// Appends `sizes` batches of fresh entries to both the store and a MemoryLog; returns the
/// checkpoint sizes.
fn fill(store: &Store, mem: &mut MemoryLog, sizes: &[u64]) -> Vec<u64> {
    let mut cps = vec![store.size().unwrap()];
    for &n in sizes {
        let start = mem.size();
        let batch: Vec<NewEntry> = (start..start + n).map(new_entry).collect();
        let out = store.append_batch(batch, fake_sign).unwrap();
        for i in start..start + n {
            assert_eq!(mem.append(&entry_bytes(i)), i);
        }
        assert_eq!(out.size, mem.size());
        assert_eq!(out.root, mem.root());
        assert!(out.signed);
        assert_eq!(out.checkpoint, fake_sign(out.size, out.root).unwrap());
        let want: Vec<Placed> = (start..start + n)
            .map(|index| Placed {
                index,
                duplicate: false,
            })
            .collect();
        assert_eq!(out.placed, want);
        cps.push(out.size);
    }
    cps
}

/// Checks every observable part of `store` against `mem`.
fn assert_matches(store: &Store, mem: &MemoryLog, cps: &[u64]) {
    let snap = store.snapshot().unwrap();
    let size = mem.size();
    assert_eq!(snap.size(), size);
    assert_eq!(snap.root(), mem.root());
    assert_eq!(merkle::tree_hash(size, &snap).unwrap(), mem.root());

    // Every stored hash equals MemoryLog's.
    let all: Vec<u64> = (0..merkle::stored_hash_count(size)).collect();
    assert_eq!(snap.read_hashes(&all).unwrap(), mem.stored());

    // Entries, singly and as ranges.
    let entries = snap.entries(0, size).unwrap();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(*e, entry_bytes(i as u64));
        assert_eq!(
            snap.lookup_leaf(&merkle::leaf_hash(e)).unwrap(),
            Some(i as u64)
        );
    }
    if size > 0 {
        assert_eq!(snap.entry(size - 1).unwrap(), entry_bytes(size - 1));
    }
    assert!(matches!(
        snap.entry(size),
        Err(StoreError::OutOfRange { .. })
    ));
    assert!(matches!(
        snap.entries(0, size + 1),
        Err(StoreError::OutOfRange { .. })
    ));

    // Package index.
    let want: Vec<u64> = (0..size).filter(|i| i % 7 == 3).collect();
    assert_eq!(snap.lookup_package("cargo", "pkg3", "1.0.0").unwrap(), want);
    assert!(
        snap.lookup_package("cargo", "pkg3", "2.0.0")
            .unwrap()
            .is_empty()
    );

    // Tiles, full and partial, at every level, equal the tile data MemoryLog yields.
    let mut tiles = 0;
    for t in tile::tiles_for_size(size) {
        let got: Vec<u8> = snap
            .tile_hashes(t.level(), t.index(), t.width())
            .unwrap()
            .concat();
        assert_eq!(
            got,
            tile::read_tile_data(&t, mem).unwrap(),
            "tile {}",
            t.path()
        );
        // One hash more than the tree has is refused.
        if !t.is_full() {
            assert!(matches!(
                snap.tile_hashes(t.level(), t.index(), t.width() + 1),
                Err(StoreError::OutOfRange { .. })
            ));
        }
        tiles += 1;
    }
    if size > 0 {
        assert!(tiles > 0);
    }
    assert!(snap.tile_hashes(0, 0, 0).is_err());
    assert!(snap.tile_hashes(0, 0, 257).is_err());
    assert!(snap.tile_hashes(0, size / 256 + 1, 1).is_err());

    // Every checkpoint is kept; the latest is for the current size.
    for &c in cps {
        let root = merkle::tree_hash(c, mem).unwrap();
        assert_eq!(
            snap.checkpoint_at(c).unwrap(),
            Some(fake_sign(c, root).unwrap())
        );
    }
    let (latest, note) = snap.latest_checkpoint().unwrap();
    assert_eq!(latest, size);
    assert_eq!(note, fake_sign(size, mem.root()).unwrap());
}

#[test]
fn append_read_back_tiles_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    let store = create(&path);
    let mut mem = MemoryLog::new();
    assert_matches(&store, &mem, &[0]);
    assert_eq!(store.latest_checkpoint().unwrap().0, 0);

    // Odd batch sizes cross tile boundaries at level 0 and make level-1 tiles.
    let cps = fill(
        &store,
        &mut mem,
        &[1, 2, 5, 250, 256, 1, 300, 64, 255, 1, 200],
    );
    assert_eq!(mem.size(), 1335);
    assert_matches(&store, &mem, &cps);

    // Enough for a full level-1 tile (65536 entries is too slow for a unit test, so
    // check the partial level-1 tile above and a full level-0 tile here).
    assert_eq!(store.tile_hashes(0, 0, 256).unwrap().len(), 256);

    drop(store);
    let store = Store::open(&path).unwrap();
    assert_matches(&store, &mem, &cps);

    // The reopened store keeps appending correctly.
    let mut cps = cps;
    cps.extend(fill(&store, &mut mem, &[3, 100]).into_iter().skip(1));
    assert_matches(&store, &mem, &cps);
}

#[test]
fn proofs_from_the_store_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = create(&dir.path().join("log.redb"));
    let mut mem = MemoryLog::new();
    let cps = fill(&store, &mut mem, &[1, 1, 6, 9, 17, 100, 130, 3]);
    let snap = store.snapshot().unwrap();
    for w in cps.windows(2) {
        let (old, new) = (w[0], w[1]);
        let new_root = merkle::tree_hash(new, &snap).unwrap();
        for n in 0..new {
            let proof = merkle::prove_record(new, n, &snap).unwrap();
            let leaf = merkle::leaf_hash(&entry_bytes(n));
            merkle::check_record(&proof, new, &new_root, n, &leaf).unwrap();
        }
        if old > 0 {
            let old_root = merkle::tree_hash(old, &snap).unwrap();
            let proof = merkle::prove_tree(new, old, &snap).unwrap();
            merkle::check_tree(&proof, new, &new_root, old, &old_root).unwrap();
        }
    }
}

#[test]
fn dedup_within_and_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = create(&dir.path().join("log.redb"));
    let e = |i: u64| new_entry(i);

    let out = store
        .append_batch(vec![e(0), e(1), e(0), e(2), e(1)], fake_sign)
        .unwrap();
    let placed: Vec<(u64, bool)> = out.placed.iter().map(|p| (p.index, p.duplicate)).collect();
    assert_eq!(
        placed,
        [(0, false), (1, false), (0, true), (2, false), (1, true)]
    );
    assert_eq!(out.size, 3);

    let out = store
        .append_batch(vec![e(3), e(2), e(4)], fake_sign)
        .unwrap();
    let placed: Vec<(u64, bool)> = out.placed.iter().map(|p| (p.index, p.duplicate)).collect();
    assert_eq!(placed, [(3, false), (2, true), (4, false)]);
    assert_eq!(out.size, 5);

    // A batch of only duplicates signs nothing and returns the latest checkpoint.
    let before = store.latest_checkpoint().unwrap();
    let out = store
        .append_batch(vec![e(4), e(0)], |_, _| -> Result<Vec<u8>, String> {
            panic!("must not sign when nothing is new")
        })
        .unwrap();
    assert!(!out.signed);
    assert_eq!((out.size, out.checkpoint.clone()), before);
    assert_eq!(
        out.placed[0],
        Placed {
            index: 4,
            duplicate: true
        }
    );
    assert_eq!(store.size().unwrap(), 5);

    let mut mem = MemoryLog::new();
    for i in 0..5 {
        mem.append(&entry_bytes(i));
    }
    assert_eq!(out.root, mem.root());
    assert_eq!(
        store
            .lookup_leaf(&merkle::leaf_hash(&entry_bytes(3)))
            .unwrap(),
        Some(3)
    );
    assert_eq!(store.lookup_leaf(&[0u8; 32]).unwrap(), None);
}

#[test]
fn failed_signing_persists_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    let store = create(&path);
    let mut mem = MemoryLog::new();
    let cps = fill(&store, &mut mem, &[10]);

    let err = store
        .append_batch((10..20).map(new_entry).collect(), |size, _| {
            Err(format!("HSM unavailable at size {size}"))
        })
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Sign { size: 20, .. }),
        "unexpected error {err}"
    );
    assert!(err.to_string().contains("HSM unavailable"));
    assert_matches(&store, &mem, &cps);
    assert_eq!(
        store
            .lookup_leaf(&merkle::leaf_hash(&entry_bytes(15)))
            .unwrap(),
        None
    );
    assert!(store.checkpoint_at(20).unwrap().is_none());

    // The same entries go in afterwards at the same indexes.
    let cps2 = fill(&store, &mut mem, &[10]);
    assert_eq!(cps2, [10, 20]);

    drop(store);
    let store = Store::open(&path).unwrap();
    assert_matches(&store, &mem, &[0, 10, 20]);
}

#[test]
fn panic_mid_batch_then_reopen_keeps_only_committed_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    let store = create(&path);
    let mut mem = MemoryLog::new();
    let cps = fill(&store, &mut mem, &[7, 300]);

    // The writer dies after writing the batch's rows but before commit.
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.append_batch(
            (307..400).map(new_entry).collect(),
            |_, _| -> Result<Vec<u8>, Infallible> { panic!("killed while signing") },
        )
    }));
    assert!(res.is_err());
    drop(store);

    let store = Store::open(&path).unwrap();
    assert_matches(&store, &mem, &cps);
    let cps2 = fill(&store, &mut mem, &[93]);
    assert_eq!(cps2, [307, 400]);
    assert_matches(&store, &mem, &[0, 7, 307, 400]);
}

#[test]
fn rejects_bad_new_entries_and_double_create() {
    assert!(NewEntry::new(Vec::new(), None).is_err());
    assert!(NewEntry::new(b"x".to_vec(), Some(("a\0b", "p", "v"))).is_err());
    assert!(NewEntry::new(b"x".to_vec(), None).is_ok());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    assert!(Store::open(&path).is_err(), "open must not create a log");
    let store = create(&path);
    store.append_batch(vec![new_entry(0)], fake_sign).unwrap();
    drop(store);
    assert!(matches!(
        Store::create(&path, fake_sign),
        Err(StoreError::AlreadyInitialised { size: 1 })
    ));
    // Refusing to re-create did not damage the log.
    assert_eq!(Store::open(&path).unwrap().size().unwrap(), 1);
}

// ---- corruption: edit the file behind the store's back, then open ----

const TAIL: TableDefinition<u64, &[u8]> = TableDefinition::new("entry_tail");
const TILES: TableDefinition<(u8, u64), &[u8]> = TableDefinition::new("hash_tiles");
const DEDUP: TableDefinition<(u64, u64), ()> = TableDefinition::new("dedup_prefix");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");

/// A log of 20 entries in a fresh directory, closed.
fn closed_log() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    let store = create(&path);
    let mut mem = MemoryLog::new();
    fill(&store, &mut mem, &[12, 8]);
    (dir, path)
}

fn tamper(path: &Path, f: impl FnOnce(&redb::WriteTransaction)) {
    let db = Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    f(&txn);
    txn.commit().unwrap();
}

fn open_err(path: &Path) -> String {
    Store::open(path).unwrap_err().to_string()
}

/// Replaces hash `at` of tile `key` (keeping the tile's length).
fn overwrite_hash(t: &redb::WriteTransaction, key: (u8, u64), at: usize) {
    let mut tiles = t.open_table(TILES).unwrap();
    let mut data = tiles.get(key).unwrap().unwrap().value().to_vec();
    data[at * 32..at * 32 + 32].copy_from_slice(&[7u8; 32]);
    tiles.insert(key, data.as_slice()).unwrap();
}

fn prefix(leaf: &Hash) -> u64 {
    u64::from_be_bytes(leaf[..8].try_into().unwrap())
}

#[test]
fn detects_missing_entry() {
    let (_d, path) = closed_log();
    tamper(&path, |t| {
        t.open_table(TAIL).unwrap().remove(19).unwrap();
    });
    let err = open_err(&path);
    assert!(err.contains("entry count is 19"), "{err}");
    assert!(err.contains("is 20"), "{err}");
}

#[test]
fn detects_size_disagreeing_with_checkpoints() {
    let (_d, path) = closed_log();
    tamper(&path, |t| {
        t.open_table(CHECKPOINTS).unwrap().remove(20).unwrap();
    });
    let err = open_err(&path);
    assert!(err.contains("latest checkpoint's size is 12"), "{err}");
    assert!(err.contains("is 20"), "{err}");
}

#[test]
fn detects_extra_entry_beyond_checkpoint() {
    let (_d, path) = closed_log();
    tamper(&path, |t| {
        t.open_table(TAIL)
            .unwrap()
            .insert(20, b"sneaked in".as_slice())
            .unwrap();
    });
    let err = open_err(&path);
    assert!(err.contains("entry count is 21"), "{err}");
}

#[test]
fn detects_altered_hash_on_root_path_at_open() {
    let (_d, path) = closed_log();
    // Size 20 = 16 + 4: the root is made of hashes (4, 0) and (2, 4), stored in tiles
    // (4, 0) and (2, 0).
    tamper(&path, |t| overwrite_hash(t, (4, 0), 0));
    let err = open_err(&path);
    assert!(err.contains("table meta, key \"root\""), "{err}");
}

#[test]
fn full_audit_detects_any_altered_hash_or_entry() {
    let (_d, path) = closed_log();
    Store::open(&path).unwrap().verify_full().unwrap();
    // Leaf 7 and hash (2, 1) are not on the root path, so only the full audit sees them.
    for (key, at, level_n) in [((0, 0), 7, "hash (0, 7)"), ((2, 0), 1, "hash (2, 1)")] {
        let (_d, path) = closed_log();
        tamper(&path, |t| overwrite_hash(t, key, at));
        let store = Store::open(&path).unwrap();
        let err = store.verify_full().unwrap_err().to_string();
        assert!(
            err.contains(&format!("table hash_tiles, key {key:?}")) && err.contains(level_n),
            "{err}"
        );
    }

    let (_d, path) = closed_log();
    tamper(&path, |t| {
        t.open_table(TAIL)
            .unwrap()
            .insert(5, b"rewritten history".as_slice())
            .unwrap();
    });
    let err = Store::open(&path)
        .unwrap()
        .verify_full()
        .unwrap_err()
        .to_string();
    assert!(err.contains("table dedup_prefix"), "{err}");
}

#[test]
fn detects_missing_hash_tile() {
    let (_d, path) = closed_log();
    tamper(&path, |t| {
        t.open_table(TILES).unwrap().remove((2, 0)).unwrap();
    });
    let err = open_err(&path);
    assert!(
        err.contains("table hash_tiles, key (2, 0): missing"),
        "{err}"
    );
}

#[test]
fn detects_truncated_and_padded_tiles_at_open() {
    for (key, len) in [((2u8, 0u64), 4 * 32 + 3), ((0, 0), 21 * 32), ((4, 0), 0)] {
        let (_d, path) = closed_log();
        tamper(&path, |t| {
            t.open_table(TILES)
                .unwrap()
                .insert(key, vec![9u8; len].as_slice())
                .unwrap();
        });
        let err = open_err(&path);
        assert!(
            err.contains(&format!(
                "table hash_tiles, key {key:?}: {len} bytes, expected"
            )),
            "{err}"
        );
    }
    // A tile row beyond the tree.
    let (_d, path) = closed_log();
    tamper(&path, |t| {
        t.open_table(TILES)
            .unwrap()
            .insert((0, 1), [1u8; 32].as_slice())
            .unwrap();
    });
    let err = open_err(&path);
    assert!(err.contains("key (0, 1): tile beyond the tree"), "{err}");
}

#[test]
fn dedup_prefix_candidates_are_confirmed_by_the_full_leaf_hash() {
    let (_d, path) = closed_log();
    let leaf = |i: u64| merkle::leaf_hash(&entry_bytes(i));
    // Make entry 2's dedup row carry entry 5's prefix: a prefix shared by two entries,
    // as a collision of the first 8 bytes would make.
    tamper(&path, |t| {
        let mut d = t.open_table(DEDUP).unwrap();
        assert!(d.remove((prefix(&leaf(2)), 2)).unwrap().is_some());
        d.insert((prefix(&leaf(5)), 2), ()).unwrap();
    });
    let store = Store::open(&path).unwrap();
    let snap = store.snapshot().unwrap();
    // Candidate 2 is read and rejected; 5 is confirmed.
    assert_eq!(snap.lookup_leaf(&leaf(5)).unwrap(), Some(5));
    // A leaf that shares the prefix but is not in the log.
    let mut other = leaf(5);
    other[31] ^= 1;
    assert_eq!(snap.lookup_leaf(&other).unwrap(), None);
    drop(snap);
    // Submitting entry 5 again is a duplicate of 5, not of 2.
    let out = store.append_batch(vec![new_entry(5)], fake_sign).unwrap();
    assert_eq!(
        out.placed,
        vec![Placed {
            index: 5,
            duplicate: true
        }]
    );
    // The audit sees entry 2's missing row.
    let err = store.verify_full().unwrap_err().to_string();
    assert!(
        err.contains("table dedup_prefix") && err.contains("missing for entry 2"),
        "{err}"
    );
}

#[test]
fn detects_malformed_meta() {
    let (_d, path) = closed_log();
    tamper(&path, |t| {
        t.open_table(META)
            .unwrap()
            .insert("size", [1u8, 2, 3].as_slice())
            .unwrap();
    });
    let err = open_err(&path);
    assert!(err.contains("table meta, key \"size\": 3 bytes"), "{err}");
}

#[test]
fn refuses_an_unknown_layout_version() {
    let (_d, path) = closed_log();
    tamper(&path, |t| {
        t.open_table(META)
            .unwrap()
            .insert("layout", 4u32.to_be_bytes().as_slice())
            .unwrap();
    });
    let err = open_err(&path);
    assert!(
        err.contains("store layout version 4 is not supported") && err.contains("backup"),
        "{err}"
    );
}

#[test]
fn detects_wrongly_typed_hash_table() {
    let (_d, path) = closed_log();
    const BAD: TableDefinition<(u8, u64), &[u8; 32]> = TableDefinition::new("hash_tiles");
    tamper(&path, |t| {
        t.delete_table(TILES).unwrap();
        t.open_table(BAD)
            .unwrap()
            .insert((0, 0), &[1u8; 32])
            .unwrap();
    });
    let err = open_err(&path);
    assert!(err.contains("hash_tiles"), "{err}");
}

#[test]
fn detects_uninitialised_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.redb");
    drop(Database::create(&path).unwrap());
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::NotInitialised(_)), "{err}");
    // Readers of an untouched file see the same.
    let db = Database::open(&path).unwrap();
    assert!(db.begin_read().unwrap().open_table(META).is_err());
}

#[test]
fn handles_are_thread_safe() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Store>();
    send::<quorate_node::store::Snapshot>();
    send_sync::<StoreError>();
}

#[test]
fn release_search_is_a_bounded_prefix_scan_and_pages_resume() {
    let dir = tempfile::tempdir().unwrap();
    let store = create(&dir.path().join("log.redb"));
    let rel = [
        ("cargo", "serde", "1.0.0"),
        ("cargo", "serde", "1.0.1"),
        ("cargo", "serde_json", "1.0.0"),
        ("cargo", "syn", "2.0.0"),
        ("npm", "serde", "9.9.9"),
    ];
    let mut batch = Vec::new();
    for (i, (e, p, v)) in rel.iter().enumerate() {
        // Two entries for the first release.
        for k in 0..if i == 0 { 2 } else { 1 } {
            batch.push(
                NewEntry::new(format!("{e} {p} {v} {k}").into_bytes(), Some((e, p, v))).unwrap(),
            );
        }
    }
    store.append_batch(batch, fake_sign).unwrap();
    let snap = store.snapshot().unwrap();
    let names = |rows: &[quorate_node::store::ReleaseRow]| -> Vec<String> {
        rows.iter()
            .map(|r| format!("{}/{}@{}:{}", r.ecosystem, r.package, r.version, r.entries))
            .collect()
    };
    // A prefix within one ecosystem, in key order, with entry counts.
    let (rows, more) = snap
        .search_releases("cargo", "serde", false, None, 10)
        .unwrap();
    assert_eq!(
        names(&rows),
        [
            "cargo/serde@1.0.0:2",
            "cargo/serde@1.0.1:1",
            "cargo/serde_json@1.0.0:1"
        ]
    );
    assert!(!more);
    // Exact name only.
    let (rows, _) = snap
        .search_releases("cargo", "serde", true, None, 10)
        .unwrap();
    assert_eq!(rows.len(), 2);
    // Pages of one, resuming after the last row shown, reach every release once.
    let mut after: Option<(String, String)> = None;
    let mut seen = Vec::new();
    loop {
        let a = after.as_ref().map(|(p, v)| (p.as_str(), v.as_str()));
        let (rows, more) = snap.search_releases("cargo", "s", false, a, 1).unwrap();
        assert_eq!(rows.len(), 1);
        seen.extend(names(&rows));
        after = Some((rows[0].package.clone(), rows[0].version.clone()));
        if !more {
            break;
        }
    }
    assert_eq!(seen.len(), 4);
    // Other ecosystems and NUL never match.
    assert_eq!(
        snap.search_releases("npm", "", false, None, 10)
            .unwrap()
            .0
            .len(),
        1
    );
    assert!(
        snap.search_releases("cargo", "a\0b", false, None, 10)
            .unwrap()
            .0
            .is_empty()
    );
    // A release's entries, paged by index.
    assert_eq!(
        snap.lookup_package_page("cargo", "serde", "1.0.0", 0, 1)
            .unwrap(),
        (vec![0], Some(1))
    );
    assert_eq!(
        snap.lookup_package_page("cargo", "serde", "1.0.0", 1, 1)
            .unwrap(),
        (vec![1], None)
    );
}
