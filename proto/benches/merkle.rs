//! Benchmarks for the merkle module (cargo bench -p quorate-proto --bench merkle).
//!
//! Sizes match what a node does: hashing record payloads, building and hashing a log of
//! 1M records, and proofs at 1M. Sample sizes are small so the file runs in about a
//! minute or two.
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quorate_proto::merkle::{
    MemoryLog, check_record, check_tree, leaf_hash, prove_record, prove_tree, stored_hashes,
    tree_hash,
};

const MILLION: u64 = 1 << 20;

fn build(n: u64) -> MemoryLog {
    let mut log = MemoryLog::with_capacity(n as usize);
    let mut buf = [0u8; 64];
    for i in 0..n {
        buf[..8].copy_from_slice(&i.to_be_bytes());
        log.append(&buf);
    }
    log
}

fn hashing(c: &mut Criterion) {
    let mut g = c.benchmark_group("leaf_hash");
    for size in [64usize, 1024, 16 * 1024] {
        let data = vec![0xa5u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("{size}B"), |b| {
            b.iter(|| leaf_hash(black_box(&data)))
        });
    }
    g.finish();
}

fn log_building(c: &mut Criterion) {
    let mut g = c.benchmark_group("memory_log");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    // Whole-log build: one leaf hash plus ~1 node hash per record, and the Vec growth.
    g.throughput(Throughput::Elements(MILLION));
    g.bench_function("append_1M", |b| b.iter(|| build(black_box(MILLION)).root()));
    g.finish();
}

fn proofs(c: &mut Criterion) {
    let log = build(MILLION);
    let t = log.size();
    let th = log.root();
    let n = t / 3 + 12_345;
    let old = t / 2 + 777;
    let leaf = log.stored()[quorate_proto::merkle::stored_hash_index(0, n) as usize];
    let old_root = tree_hash(old, &log).expect("old root");
    let incl = prove_record(t, n, &log).expect("inclusion proof");
    let cons = prove_tree(t, old, &log).expect("consistency proof");

    let mut g = c.benchmark_group("at_1M");
    // The new stored hashes for a record, read through a HashReader: record 2^20 - 1
    // closes 20 subtrees (the worst case), record 2^19 + 1 closes one (the average).
    g.bench_function("stored_hashes_worst", |b| {
        b.iter(|| stored_hashes(black_box(t - 1), b"record", &log))
    });
    g.bench_function("stored_hashes_typical", |b| {
        b.iter(|| stored_hashes(black_box(t / 2 + 1), b"record", &log))
    });
    g.bench_function("tree_hash", |b| {
        b.iter(|| tree_hash(black_box(t - 1), &log))
    });
    g.bench_function("prove_record", |b| {
        b.iter(|| prove_record(t, black_box(n), &log))
    });
    g.bench_function("check_record", |b| {
        b.iter(|| check_record(black_box(&incl), t, &th, n, &leaf))
    });
    g.bench_function("prove_tree", |b| {
        b.iter(|| prove_tree(t, black_box(old), &log))
    });
    g.bench_function("check_tree", |b| {
        b.iter(|| check_tree(black_box(&cons), t, &th, old, &old_root))
    });
    g.finish();
}

criterion_group! {
    name = group;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = hashing, log_building, proofs
}
criterion_main!(group);
