//! Benchmarks for the attestation module (cargo bench -p quorate-proto --bench attestation).
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use quorate_proto::attestation::{
    self, Attestation, Digest, Evidence, Reviewer, ReviewerKind, Scope, Verdict,
};

/// A typical cargo-vet-sized attestation: a few criteria, a short note, one link.
fn typical(k: &SigningKey) -> Attestation {
    Attestation {
        artifacts: vec![],
        scope: Some(Scope::Full),
        evidence: Some(Evidence::SourceReview),
        reveal: None,
        ecosystem: "cargo".into(),
        package: "serde_json".into(),
        version: "1.0.128".into(),
        digest: Digest::Sha256([0x5a; 32]),
        delta_from: None,
        criteria: vec!["safe-to-deploy".into(), "does-not-implement-crypto".into()],
        verdict: Verdict::Certify,
        reviewer: Reviewer {
            kind: ReviewerKind::Human,
            name: "Bench Reviewer".into(),
            public_key: k.verifying_key().to_bytes(),
        },
        organisation: "Bench Institute".into(),
        time: 1_735_689_600,
        notes: "Reviewed all unsafe blocks; no build script network access.".into(),
        links: vec!["https://example.org/audits/serde_json-1.0.128".into()],
        supersedes: None,
    }
}

fn benches(c: &mut Criterion) {
    let k = SigningKey::from_bytes(&[7; 32]);
    let att = typical(&k);
    let env = attestation::sign(&att, &k).expect("typical attestation is valid");

    let mut g = c.benchmark_group("attestation");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode_sign", |b| {
        b.iter(|| attestation::sign(black_box(&att), &k))
    });
    g.bench_function("decode_verify", |b| {
        b.iter(|| attestation::verify(black_box(&env)))
    });
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
