//! Benchmarks for the note module (cargo bench -p quorate-proto --bench note): opening
//! notes, verifying cosigned checkpoints, and raw Ed25519 as the floor.
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _};
use quorate_proto::checkpoint::{Checkpoint, verify_checkpoint};
use quorate_proto::cosignature::{CosignatureSigner, CosignatureVerifier};
use quorate_proto::note::{self, NoteVerifier, Signer};

fn fixtures() -> (Signer, Vec<CosignatureSigner>, String, String) {
    let log = Signer::generate("example.org/log", [1; 32]).expect("valid name");
    let ws: Vec<CosignatureSigner> = (0..3u8)
        .map(|i| {
            CosignatureSigner::generate(&format!("witness{i}.example"), [0x30 + i; 32])
                .expect("valid name")
        })
        .collect();
    let text = Checkpoint::new("example.org/log", 123_456_789, [7; 32], vec![])
        .expect("valid checkpoint")
        .to_text();
    let signed = note::sign(&text, &[&log]).expect("valid text");
    let cosigs: Vec<_> = ws
        .iter()
        .map(|w| w.cosign(&text, 1_700_000_000).expect("checkpoint"))
        .collect();
    let cosigned = note::add_signatures(&signed, &cosigs).expect("fits");
    (log, ws, signed, cosigned)
}

fn benches(c: &mut Criterion) {
    let (log, ws, signed, cosigned) = fixtures();
    let log_v = log.verifier();
    let wvs: Vec<CosignatureVerifier> = ws.iter().map(|w| w.verifier()).collect();

    let mut g = c.benchmark_group("note");
    g.throughput(Throughput::Elements(1));
    g.bench_function("open/1 signature", |b| {
        b.iter(|| note::open(black_box(signed.as_bytes()), &[&log_v]).expect("verifies"))
    });
    let mut all: Vec<&dyn NoteVerifier> = vec![&log_v];
    all.extend(wvs.iter().map(|w| w as &dyn NoteVerifier));
    g.bench_function("open/log + 3 cosignatures", |b| {
        b.iter(|| note::open(black_box(cosigned.as_bytes()), &all).expect("verifies"))
    });
    g.bench_function("checkpoint/verify with 3 witnesses", |b| {
        b.iter(|| {
            let v =
                verify_checkpoint(black_box(cosigned.as_bytes()), &log_v, &wvs).expect("verifies");
            v.require_witnesses(3).expect("quorum");
        })
    });
    g.finish();

    let keys: Vec<SigningKey> = (0..64u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect();
    let msgs: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 100]).collect();
    let sigs: Vec<ed25519_dalek::Signature> =
        keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
    let vks: Vec<ed25519_dalek::VerifyingKey> = keys.iter().map(|k| k.verifying_key()).collect();
    let msg_refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();

    let mut g = c.benchmark_group("ed25519");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify single", |b| {
        b.iter(|| {
            vks[0]
                .verify(black_box(&msgs[0]), &sigs[0])
                .expect("verifies")
        })
    });
    g.throughput(Throughput::Elements(64));
    g.bench_function("verify_batch 64", |b| {
        b.iter(|| ed25519_dalek::verify_batch(black_box(&msg_refs), &sigs, &vks).expect("verifies"))
    });
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
