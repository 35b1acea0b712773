//! Quorum evaluation at lockfile scale (cargo bench -p quorate-client --bench quorum).
//!
//! 500 packages, 5 jurisdictions, each jurisdiction with a full review of x.0.0 and a delta
//! x.0.0 -> x.0.1 for every package: 5,000 signed attestations in 5 Merkle logs, proven
//! under cosigned checkpoints. Measures (1) evaluating all 500 packages (k = 3) and (2)
//! the signature-verification floor: verifying those 5,000 attestations, which any client
//! must do at least once.

#[path = "../tests/fed/mod.rs"]
mod fed;

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fed::*;
use quorate_proto::attestation;

const PACKAGES: usize = 500;
const JURISDICTIONS: [&str; 5] = ["DE", "FR", "JP", "US", "BR"];

fn benches(c: &mut Criterion) {
    let mut f = Fed::new(&JURISDICTIONS, 3);
    for j in JURISDICTIONS {
        let who = Person::new(&format!("reviewer-{j}"));
        for p in 0..PACKAGES {
            let name = format!("crate-{p}");
            let d0 = digest((p % 250) as u8);
            let d1 = digest((p % 250) as u8 + 1);
            f.publish(j, &full(&name, "1.0.0", d0, &who), &who);
            let delta = review(
                &name,
                "1.0.1",
                d1,
                Some(("1.0.0", d0)),
                &["safe-to-deploy"],
                &who,
                j,
            );
            f.publish(j, &delta, &who);
        }
    }
    let policy = f.policy(3, 2, "max-checkpoint-age 86400\n");
    let t = Instant::now();
    let ev = f.load_fast(&policy, 3, NOW - 60);
    eprintln!(
        "setup: 5 checkpoints + {} inclusion proofs + signatures verified in {:?}",
        PACKAGES * 2 * JURISDICTIONS.len(),
        t.elapsed()
    );
    let queries: Vec<_> = (0..PACKAGES)
        .map(|p| query(&format!("crate-{p}"), "1.0.1", digest((p % 250) as u8 + 1)))
        .collect();
    assert!(queries.iter().all(|q| ev.evaluate(q, NOW).pass));

    // One plain timing for the headline figure, then criterion's.
    let t = Instant::now();
    let rounds = 5;
    for _ in 0..rounds {
        for q in &queries {
            black_box(ev.evaluate(q, NOW));
        }
    }
    let per = t.elapsed().as_secs_f64() / rounds as f64;
    eprintln!(
        "evaluate: {PACKAGES} packages in {:.2} ms = {:.0} packages/second",
        per * 1e3,
        PACKAGES as f64 / per
    );

    let mut g = c.benchmark_group("quorum");
    g.sample_size(20);
    g.throughput(Throughput::Elements(PACKAGES as u64));
    g.bench_function("evaluate_500_packages_5_jurisdictions", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(ev.evaluate(black_box(q), NOW));
            }
        })
    });

    let envelopes: Vec<&Vec<u8>> = f.logs.iter().flat_map(|l| l.entries.iter()).collect();
    let t = Instant::now();
    for e in &envelopes {
        black_box(attestation::verify(e).unwrap());
    }
    let per = t.elapsed().as_secs_f64();
    eprintln!(
        "signature floor: {} attestations verified in {:.1} ms = {:.0} packages/second",
        envelopes.len(),
        per * 1e3,
        PACKAGES as f64 / per
    );
    g.throughput(Throughput::Elements(envelopes.len() as u64));
    g.sample_size(10);
    g.bench_function("verify_5000_attestation_signatures", |b| {
        b.iter(|| {
            for e in &envelopes {
                black_box(attestation::verify(black_box(e)).unwrap());
            }
        })
    });
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
