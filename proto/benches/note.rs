//! Benchmarks for the note module (cargo bench -p quorate-proto --bench note).
use criterion::{Criterion, criterion_group, criterion_main};

fn benches(_c: &mut Criterion) {}

criterion_group!(group, benches);
criterion_main!(group);
