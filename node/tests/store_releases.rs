//! The package index of layout 3 (one packed row per release, chunked): a release
//! flooded with entries, releases whose names are prefixes of one another, and duplicate
//! submissions, on real redb files.

use std::convert::Infallible;

use quorate_node::store::{NewEntry, Placed, Store};
use quorate_proto::merkle::Hash;

fn sign(size: u64, root: Hash) -> Result<Vec<u8>, Infallible> {
    Ok(format!("checkpoint {size} {root:?}").into_bytes())
}

fn entry(release: (&str, &str, &str), k: u64) -> NewEntry {
    let (e, p, v) = release;
    NewEntry::new(format!("{e} {p} {v} {k}").into_bytes(), Some(release)).unwrap()
}

const FLOODED: (&str, &str, &str) = ("cargo", "serde", "1.0");
const PREFIXED: (&str, &str, &str) = ("cargo", "serde", "1.0.1");
const OTHER: (&str, &str, &str) = ("cargo", "serde_json", "1.0");

/// 1000 entries of one release (many chunk rows), interleaved with entries of releases
/// whose keys sort right after it, in batches of varying size.
fn flooded_store(dir: &std::path::Path) -> (Store, Vec<u64>, Vec<u64>) {
    let store = Store::create(dir.join("log.redb"), sign).unwrap();
    let (mut flooded, mut prefixed) = (Vec::new(), Vec::new());
    let mut k = 0u64;
    for batch_len in [1u64, 63, 1, 64, 200, 7, 300, 500] {
        let mut batch = Vec::new();
        for _ in 0..batch_len {
            batch.push(entry(FLOODED, k));
            if k.is_multiple_of(50) {
                batch.push(entry(PREFIXED, k));
                batch.push(entry(OTHER, k));
            }
            k += 1;
        }
        let out = store.append_batch(batch, sign).unwrap();
        let mut placed = out.placed.iter().map(|p| p.index);
        let mut k2 = k - batch_len;
        while k2 < k {
            flooded.push(placed.next().unwrap());
            if k2.is_multiple_of(50) {
                prefixed.push(placed.next().unwrap());
                placed.next().unwrap();
            }
            k2 += 1;
        }
    }
    (store, flooded, prefixed)
}

#[test]
fn a_flooded_release_is_read_whole_and_by_page_and_its_neighbours_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (store, flooded, prefixed) = flooded_store(dir.path());
    assert_eq!(flooded.len(), 1136);
    let snap = store.snapshot().unwrap();
    assert_eq!(
        snap.lookup_package("cargo", "serde", "1.0").unwrap(),
        flooded
    );
    assert_eq!(
        snap.lookup_package("cargo", "serde", "1.0.1").unwrap(),
        prefixed
    );
    assert!(
        snap.lookup_package("cargo", "serde", "1.")
            .unwrap()
            .is_empty()
    );
    // Pages of 100 from every start resume exactly where the previous one ended.
    for from in [
        0,
        1,
        flooded[63],
        flooded[64],
        flooded[64] + 1,
        flooded[700],
        u64::MAX,
    ] {
        let mut got = Vec::new();
        let mut next = Some(from);
        while let Some(f) = next {
            let (page, n) = snap
                .lookup_package_page("cargo", "serde", "1.0", f, 100)
                .unwrap();
            assert!(page.len() <= 100);
            got.extend(page);
            next = n;
        }
        let want: Vec<u64> = flooded.iter().copied().filter(|i| *i >= from).collect();
        assert_eq!(got, want, "from {from}");
    }
    // The search counts the flooded release once, with all its entries, and the chunk
    // rows never show up as releases.
    let (rows, more) = snap
        .search_releases("cargo", "serde", false, None, 10)
        .unwrap();
    let shown: Vec<String> = rows
        .iter()
        .map(|r| format!("{}@{}:{}", r.package, r.version, r.entries))
        .collect();
    assert_eq!(
        shown,
        [
            "serde@1.0:1136".to_owned(),
            format!("serde@1.0.1:{}", prefixed.len()),
            format!("serde_json@1.0:{}", prefixed.len()),
        ]
    );
    assert!(!more);
    let (rows, more) = snap
        .search_releases("cargo", "serde", true, Some(("serde", "1.0")), 1)
        .unwrap();
    assert_eq!((rows[0].version.as_str(), more), ("1.0.1", false));
    drop(snap);
    store.verify_full().unwrap();
}

#[test]
fn duplicates_in_a_flooded_release_are_answered_with_the_existing_index() {
    let dir = tempfile::tempdir().unwrap();
    let (store, flooded, _) = flooded_store(dir.path());
    let size = store.size().unwrap();
    // The first, a middle and the last entry of the release, again, and one new one.
    let out = store
        .append_batch(
            vec![
                entry(FLOODED, 0),
                entry(FLOODED, 700),
                entry(FLOODED, 1135),
                entry(FLOODED, 5000),
                entry(FLOODED, 5000),
            ],
            sign,
        )
        .unwrap();
    let placed = |index, duplicate| Placed { index, duplicate };
    assert_eq!(
        out.placed,
        [
            placed(flooded[0], true),
            placed(flooded[700], true),
            placed(flooded[1135], true),
            placed(size, false),
            placed(size, true),
        ]
    );
    let snap = store.snapshot().unwrap();
    let all = snap.lookup_package("cargo", "serde", "1.0").unwrap();
    assert_eq!(all.len(), 1137);
    assert_eq!(all.last(), Some(&size));
    // Reopened (and so verified), the index reads the same.
    drop(snap);
    drop(store);
    let store = Store::open(dir.path().join("log.redb")).unwrap();
    assert_eq!(store.lookup_package("cargo", "serde", "1.0").unwrap(), all);
}

#[test]
fn the_full_audit_finds_a_damaged_release_row() {
    use redb::{Database, ReadableTable as _, TableDefinition};
    const CHUNKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("release_chunks");
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = flooded_store(dir.path());
    drop(store);
    let path = dir.path().join("log.redb");
    // Chunk 3 of the flooded release (entries 192..256 of it) loses its last index.
    let mut key = b"cargo\0serde\x001.0\0".to_vec();
    key.extend_from_slice(&3u64.to_be_bytes());
    {
        let db = Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(CHUNKS).unwrap();
            let v = t.get(key.as_slice()).unwrap().unwrap().value().to_vec();
            t.insert(key.as_slice(), &v[..v.len() - 1]).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let err = store.verify_full().unwrap_err().to_string();
    assert!(
        err.contains("table release_chunks") && err.contains("the head's count 1136 needs 64"),
        "{err}"
    );
}
