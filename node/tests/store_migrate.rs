//! A store written in layout 1 (one row per hash, per entry, per full leaf hash) or
//! layout 2 (the package index a multimap) is migrated on open to the current layout, in
//! one transaction.

use std::convert::Infallible;
use std::path::Path;

use quorate_node::store::{NewEntry, Placed, Store};
use quorate_proto::merkle::{self, Hash, HashReader, MemoryLog};
use redb::{
    Database, MultimapTableDefinition, MultimapTableHandle, ReadableDatabase, TableDefinition,
    TableHandle,
};

const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
const HASHES: TableDefinition<(u8, u64), &[u8; 32]> = TableDefinition::new("hashes");
const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const DEDUP: TableDefinition<&[u8; 32], u64> = TableDefinition::new("dedup");
const BY_PACKAGE: MultimapTableDefinition<&[u8], u64> = MultimapTableDefinition::new("by_package");

fn sign(size: u64, root: Hash) -> Result<Vec<u8>, Infallible> {
    Ok(format!("checkpoint {size} {root:?}").into_bytes())
}

/// About an envelope's size, so 600 of them fill several packed rows of 64 KiB.
fn entry(i: u64) -> Vec<u8> {
    let mut e = format!("layout one entry {i} ").into_bytes();
    e.resize(400, b'.');
    e
}

/// Writes a layout-1 store of `n` entries, as the previous node version did, with
/// checkpoints at every 100 entries and at `n`.
fn write_v1(path: &Path, n: u64) -> MemoryLog {
    let db = Database::create(path).unwrap();
    let mut mem = MemoryLog::new();
    let txn = db.begin_write().unwrap();
    {
        let mut entries = txn.open_table(ENTRIES).unwrap();
        let mut dedup = txn.open_table(DEDUP).unwrap();
        let mut pk = txn.open_multimap_table(BY_PACKAGE).unwrap();
        let mut cps = txn.open_table(CHECKPOINTS).unwrap();
        cps.insert(0, sign(0, mem.root()).unwrap().as_slice())
            .unwrap();
        for i in 0..n {
            let e = entry(i);
            mem.append(&e);
            entries.insert(i, e.as_slice()).unwrap();
            dedup.insert(&merkle::leaf_hash(&e), i).unwrap();
            pk.insert(format!("cargo\0p{}\01.0.0", i % 3).as_bytes(), i)
                .unwrap();
            if (i + 1) % 100 == 0 || i + 1 == n {
                cps.insert(i + 1, sign(i + 1, mem.root()).unwrap().as_slice())
                    .unwrap();
            }
        }
        let mut hashes = txn.open_table(HASHES).unwrap();
        for (k, h) in mem.stored().iter().enumerate() {
            hashes
                .insert(merkle::split_stored_hash_index(k as u64), h)
                .unwrap();
        }
        let mut meta = txn.open_table(META).unwrap();
        meta.insert("size", n.to_be_bytes().as_slice()).unwrap();
        meta.insert("root", mem.root().as_slice()).unwrap();
    }
    txn.commit().unwrap();
    mem
}

/// Names of the file's tables, multimaps included.
fn table_names(path: &Path) -> Vec<String> {
    let db = Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let mut names: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|t| t.name().to_owned())
        .collect();
    names.extend(
        txn.list_multimap_tables()
            .unwrap()
            .map(|t| t.name().to_owned()),
    );
    names
}

#[test]
fn layout_one_store_is_migrated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    let n = 600;
    let mut mem = write_v1(&path, n);
    let store = Store::open(&path).unwrap();
    store.verify_full().unwrap();
    let snap = store.snapshot().unwrap();
    assert_eq!((snap.size(), snap.root()), (n, mem.root()));
    let all: Vec<u64> = (0..merkle::stored_hash_count(n)).collect();
    assert_eq!(snap.read_hashes(&all).unwrap(), mem.stored());
    for (i, e) in snap.entries(0, n).unwrap().iter().enumerate() {
        assert_eq!(*e, entry(i as u64));
        assert_eq!(
            snap.lookup_leaf(&merkle::leaf_hash(e)).unwrap(),
            Some(i as u64)
        );
    }
    let want: Vec<u64> = (0..n).filter(|i| i % 3 == 1).collect();
    assert_eq!(snap.lookup_package("cargo", "p1", "1.0.0").unwrap(), want);
    assert_eq!(
        snap.checkpoint_at(300).unwrap(),
        Some(sign(300, merkle::tree_hash(300, &mem).unwrap()).unwrap())
    );
    drop(snap);
    // The migrated store takes appends and still deduplicates old entries.
    let out = store
        .append_batch(
            vec![
                NewEntry::new(entry(7), None).unwrap(),
                NewEntry::new(entry(n), None).unwrap(),
            ],
            sign,
        )
        .unwrap();
    mem.append(&entry(n));
    assert_eq!(
        out.placed,
        vec![
            Placed {
                index: 7,
                duplicate: true
            },
            Placed {
                index: n,
                duplicate: false
            }
        ]
    );
    assert_eq!(out.root, mem.root());
    drop(store);
    let names = table_names(&path);
    for old in ["entries", "hashes", "dedup", "by_package"] {
        assert!(!names.iter().any(|t| t == old), "{old} left in {names:?}");
    }
    // Reopening is a plain open of the current layout.
    Store::open(&path).unwrap().verify_full().unwrap();
}

#[test]
fn a_damaged_layout_one_store_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    write_v1(&path, 300);
    {
        let db = Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(HASHES).unwrap().remove((2, 10)).unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(&path).unwrap_err().to_string();
    assert!(
        err.contains("table hashes, key (2, 10)") && err.contains("migrating from layout 1"),
        "{err}"
    );
    let names = table_names(&path);
    assert!(names.iter().any(|t| t == "hashes"), "{names:?}");
    assert!(!names.iter().any(|t| t == "hash_tiles"), "{names:?}");
}

/// Writes a layout-2 store: the current tables except the package index, which is the
/// multimap `by_package` holding `releases`, as layout 2 wrote it.
fn write_v2(path: &Path, releases: &[(&str, Vec<u64>)], n: u64) {
    let store = Store::create(path, sign).unwrap();
    let batch = (0..n)
        .map(|i| NewEntry::new(entry(i), None).unwrap())
        .collect();
    store.append_batch(batch, sign).unwrap();
    drop(store);
    let db = Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    txn.delete_table(TableDefinition::<&[u8], &[u8]>::new("releases"))
        .unwrap();
    txn.delete_table(TableDefinition::<&[u8], &[u8]>::new("release_chunks"))
        .unwrap();
    {
        let mut pk = txn.open_multimap_table(BY_PACKAGE).unwrap();
        for (key, indexes) in releases {
            for i in indexes {
                pk.insert(key.as_bytes(), *i).unwrap();
            }
        }
        let mut meta = txn.open_table(META).unwrap();
        meta.insert("layout", 2u32.to_be_bytes().as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn layout_two_store_gets_packed_release_rows_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    let n = 300;
    // A release of more than one chunk of indexes (64), one whose version extends the
    // other's, and one of a single entry.
    let big: Vec<u64> = (0..n).filter(|i| i % 3 != 0).collect();
    let small: Vec<u64> = (0..n).filter(|i| i % 3 == 0).collect();
    let releases = [
        ("cargo\0p\x001.0", big.clone()),
        ("cargo\0p\x001.0.1", small.clone()),
        ("npm\0q\x002", vec![299]),
    ];
    write_v2(&path, &releases, n);
    let store = Store::open(&path).unwrap();
    store.verify_full().unwrap();
    let snap = store.snapshot().unwrap();
    assert_eq!(snap.lookup_package("cargo", "p", "1.0").unwrap(), big);
    assert_eq!(snap.lookup_package("cargo", "p", "1.0.1").unwrap(), small);
    assert_eq!(snap.lookup_package("npm", "q", "2").unwrap(), [299]);
    assert_eq!(
        snap.lookup_package_page("cargo", "p", "1.0", 150, 3)
            .unwrap(),
        (vec![151, 152, 154], Some(155))
    );
    let (rows, more) = snap.search_releases("cargo", "p", true, None, 10).unwrap();
    let counts: Vec<(String, u64)> = rows.into_iter().map(|r| (r.version, r.entries)).collect();
    assert_eq!(counts, [("1.0".to_owned(), 200), ("1.0.1".to_owned(), 100)]);
    assert!(!more);
    drop(snap);
    // Appends after the migration extend the migrated rows; duplicates still dedup.
    let out = store
        .append_batch(
            vec![
                NewEntry::new(entry(n), Some(("cargo", "p", "1.0"))).unwrap(),
                NewEntry::new(entry(5), Some(("cargo", "p", "1.0"))).unwrap(),
            ],
            sign,
        )
        .unwrap();
    assert_eq!(
        out.placed[0],
        Placed {
            index: n,
            duplicate: false
        }
    );
    assert_eq!(
        out.placed[1],
        Placed {
            index: 5,
            duplicate: true
        }
    );
    let mut want = big;
    want.push(n);
    assert_eq!(store.lookup_package("cargo", "p", "1.0").unwrap(), want);
    drop(store);
    assert!(!table_names(&path).iter().any(|t| t == "by_package"));
    Store::open(&path).unwrap().verify_full().unwrap();
}

#[test]
fn a_layout_two_index_pointing_past_the_log_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    write_v2(&path, &[("cargo\0p\x001", vec![3, 40])], 10);
    let err = Store::open(&path).unwrap_err().to_string();
    assert!(
        err.contains("table by_package") && err.contains("entry 40 is beyond the log"),
        "{err}"
    );
    let names = table_names(&path);
    assert!(names.iter().any(|t| t == "by_package"), "{names:?}");
    assert!(!names.iter().any(|t| t == "releases"), "{names:?}");
}
