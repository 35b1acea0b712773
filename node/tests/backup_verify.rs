//! `quorate-node backup` (through the running node's socket while it serves and writes,
//! and offline) and `quorate-node verify` (every entry re-hashed, every checkpoint's
//! signature and root checked), on real processes; then stores corrupted in several ways
//! (an entry's bytes, a checkpoint signed by another key, a checkpoint with another root
//! signed by the log's own key, a truncated file), each refused naming what is wrong.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use quorate_proto::checkpoint::Checkpoint;
use quorate_proto::note::{self, Signer};
use redb::{Database, ReadableDatabase as _, TableDefinition};

/// Entries after the last packed row (the store's layout 2); the last entry is always one.
const TAIL: TableDefinition<u64, &[u8]> = TableDefinition::new("entry_tail");
const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");

fn out_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn verify_store(log: &Log, store: &Path) -> Output {
    run(&[
        "verify",
        "--data",
        log.data(),
        "--store",
        store.to_str().unwrap(),
    ])
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
}

/// Rewrites one row of `table` in the store file at `path` (valid redb, wrong content).
fn rewrite(path: &Path, table: TableDefinition<u64, &[u8]>, key: u64, value: &[u8]) {
    let db = Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(table).unwrap().insert(key, value).unwrap();
    txn.commit().unwrap();
}

#[test]
fn backup_while_serving_and_offline_then_verify_catches_every_corruption() {
    let log = Log::init();
    let k = reviewer_key(3);
    log.add_reviewer(&k);
    let mut node = log.start(None);
    let envs: Vec<Vec<u8>> = (0..300)
        .map(|i| envelope(&k, &format!("b{i}"), "1.0.0", ""))
        .collect();
    let r = post(node.addr, "application/x-quorate-batch", &batch_body(&envs));
    assert_eq!(r.status, 201);
    for i in 0..5 {
        let e = envelope(&k, &format!("single{i}"), "1.0.0", "");
        assert_eq!(post(node.addr, "application/x-protobuf", &e).status, 201);
    }

    // While the node serves and keeps writing, a backup through its socket.
    let dir = log.tmp.path();
    let live = dir.join("live.redb");
    let addr = node.addr;
    let writer = {
        let k = k.clone();
        std::thread::spawn(move || {
            for i in 0..20 {
                let e = envelope(&k, &format!("during{i}"), "1.0.0", "");
                assert_eq!(post(addr, "application/x-protobuf", &e).status, 201);
            }
        })
    };
    let out = run_ok(&[
        "backup",
        "--data",
        log.data(),
        "--out",
        live.to_str().unwrap(),
    ]);
    writer.join().unwrap();
    assert!(out.starts_with("backup of size "), "{out}");
    let size: u64 = out["backup of size ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((305..=325).contains(&size), "{out}");
    let v = verify_store(&log, &live);
    assert!(v.status.success(), "{}", out_text(&v));
    assert!(
        out_text(&v).contains(&format!("ok: {size} entries re-hashed")),
        "{}",
        out_text(&v)
    );
    // A backup never overwrites.
    let again = run(&[
        "backup",
        "--data",
        log.data(),
        "--out",
        live.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(
        out_text(&again).contains("already exists"),
        "{}",
        out_text(&again)
    );

    // Offline: the store itself, and a backup made without a node.
    assert_eq!(node.terminate().code(), Some(0));
    let v = run(&["verify", "--data", log.data()]);
    assert!(v.status.success(), "{}", out_text(&v));
    assert!(
        out_text(&v).contains("ok: 325 entries re-hashed"),
        "{}",
        out_text(&v)
    );
    let cold = dir.join("cold.redb");
    let out = run_ok(&[
        "backup",
        "--data",
        log.data(),
        "--out",
        cold.to_str().unwrap(),
    ]);
    assert!(out.starts_with("backup of size 325 "), "{out}");
    assert!(verify_store(&log, &cold).status.success());

    // An entry's bytes changed (through redb, so its checksums are valid).
    let bad = dir.join("bad-entry.redb");
    copy(&cold, &bad);
    rewrite(&bad, TAIL, 324, b"not what was logged");
    let v = verify_store(&log, &bad);
    assert!(!v.status.success());
    assert!(
        out_text(&v).contains("missing for entry 324"),
        "{}",
        out_text(&v)
    );

    // A checkpoint signed by another key.
    let skey = std::fs::read_to_string(log.dir.join("log.key")).unwrap();
    let signer = Signer::from_skey(skey.trim()).unwrap();
    let (_, root, note_text) = {
        let db = Database::open(&cold).unwrap();
        let txn = db.begin_read().unwrap();
        let t = txn.open_table(CHECKPOINTS).unwrap();
        let note_bytes = t
            .get(300)
            .unwrap()
            .expect("checkpoint at 300")
            .value()
            .to_vec();
        let text = String::from_utf8(note_bytes).unwrap();
        let (sz, rt) = open_checkpoint(&log, &text);
        (sz, rt, text)
    };
    let body = note_text.split("\n\n").next().unwrap().to_owned() + "\n";
    let other = Signer::generate(ORIGIN, [9u8; 32]).unwrap();
    let forged = note::sign(&body, &[&other]).unwrap();
    let bad = dir.join("bad-key.redb");
    copy(&cold, &bad);
    rewrite(&bad, CHECKPOINTS, 300, forged.as_bytes());
    let v = verify_store(&log, &bad);
    assert!(!v.status.success());
    let t = out_text(&v);
    assert!(
        t.contains("checkpoint at size 300") && t.contains("does not verify"),
        "{t}"
    );

    // A checkpoint with another root, signed by the log's own key (a fork's head).
    let mut other_root = root;
    other_root[0] ^= 1;
    let cp = Checkpoint::new(ORIGIN, 300, other_root, vec![]).unwrap();
    let fork = note::sign(&cp.to_text(), &[&signer]).unwrap();
    let bad = dir.join("bad-root.redb");
    copy(&cold, &bad);
    rewrite(&bad, CHECKPOINTS, 300, fork.as_bytes());
    let v = verify_store(&log, &bad);
    assert!(!v.status.success());
    let t = out_text(&v);
    assert!(
        t.contains("checkpoint at size 300") && t.contains("root differs"),
        "{t}"
    );

    // A truncated file.
    let bad = dir.join("truncated.redb");
    copy(&cold, &bad);
    let len = std::fs::metadata(&bad).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&bad)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let v = verify_store(&log, &bad);
    assert!(!v.status.success(), "{}", out_text(&v));
    assert!(out_text(&v).contains("error:"), "{}", out_text(&v));
}

#[test]
fn backup_refuses_a_missing_directory_and_verify_a_missing_key() {
    let log = Log::init();
    let o = run(&[
        "backup",
        "--data",
        log.data(),
        "--out",
        "/nonexistent-dir/x.redb",
    ]);
    assert!(!o.status.success());
    assert!(
        out_text(&o).contains("directory does not exist"),
        "{}",
        out_text(&o)
    );
    std::fs::remove_file(log.dir.join("log.pub")).unwrap();
    let o = run(&["verify", "--data", log.data()]);
    assert!(!o.status.success());
    assert!(out_text(&o).contains("log.pub"), "{}", out_text(&o));
}
