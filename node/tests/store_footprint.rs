//! Bytes on disk per entry, per table. Ignored by default (it is a measurement, not a
//! check); run with
//! `cargo test --release -p quorate-node --test store_footprint -- --ignored --nocapture`.

use std::convert::Infallible;

use quorate_node::store::{NewEntry, Store};
use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition, TableStats};

const ENTRIES: u64 = 256 * 390;
const PAYLOAD: usize = 400;

fn sign(size: u64, _root: [u8; 32]) -> Result<Vec<u8>, Infallible> {
    // About the size of a real single-signature checkpoint note.
    Ok(vec![b'x'; 250 + (size % 2) as usize])
}

#[test]
#[ignore]
fn bytes_per_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("footprint.redb");
    let store = Store::create(&path, sign).unwrap();
    for b in 0..ENTRIES / 256 {
        let batch = (b * 256..(b + 1) * 256)
            .map(|i| {
                let mut d = format!("{i:020}").into_bytes();
                d.resize(PAYLOAD, 7);
                let pkg = format!("pkg{}", i % 5000);
                let ver = format!("1.{i}.0");
                NewEntry::new(d, Some(("cargo", &pkg, &ver))).unwrap()
            })
            .collect();
        store.append_batch(batch, sign).unwrap();
    }
    drop(store);
    let meta = std::fs::metadata(&path).unwrap();
    let len = meta.len();
    // redb grows its file in large steps and never writes the unused end, so the blocks
    // the file system allocated are what the store occupies.
    let allocated = std::os::unix::fs::MetadataExt::blocks(&meta) * 512;
    println!(
        "{ENTRIES} entries of {PAYLOAD} B in batches of 256: file {len} B = {} B/entry, \
         allocated {allocated} B = {} B/entry",
        len / ENTRIES,
        allocated / ENTRIES
    );
    let db = redb::Database::open(&path).unwrap();
    let t = db.begin_read().unwrap();
    let show = |name: &str, s: TableStats| {
        let total = s.stored_bytes() + s.metadata_bytes() + s.fragmented_bytes();
        println!(
            "  {name:12} {:>5} B/entry (stored {}, metadata {}, fragmented {})",
            total / ENTRIES,
            s.stored_bytes() / ENTRIES,
            s.metadata_bytes() / ENTRIES,
            s.fragmented_bytes() / ENTRIES
        );
    };
    let stats = |name: &'static str| {
        t.open_table(TableDefinition::<u64, &[u8]>::new(name))
            .unwrap()
            .stats()
            .unwrap()
    };
    show("entry_bundles", stats("entry_bundles"));
    show("entry_tail", stats("entry_tail"));
    show("checkpoints", stats("checkpoints"));
    let tiles = TableDefinition::<(u8, u64), &[u8]>::new("hash_tiles");
    show("hash_tiles", t.open_table(tiles).unwrap().stats().unwrap());
    let dedup = TableDefinition::<(u64, u64), ()>::new("dedup_prefix");
    show(
        "dedup_prefix",
        t.open_table(dedup).unwrap().stats().unwrap(),
    );
    for name in ["releases", "release_chunks"] {
        let def = TableDefinition::<&[u8], &[u8]>::new(name);
        show(name, t.open_table(def).unwrap().stats().unwrap());
    }
}
