//! `quorate bench-check --delta-bomb N`: one log holding N deltas of one crate in reverse
//! order (newest first) plus one full review of the first version, every entry signed and
//! proven included; times the quorum decision for the newest version (certified) and for
//! a wrong digest (explained, which walks the chain back), beside two floors measured in
//! the same run: verifying the N + 1 envelopes' Ed25519 signatures and hashing them
//! (SHA-256 leaf hashes), work any client does once per entry.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use ed25519_dalek::SigningKey;
use quorate_client::policy::Policy;
use quorate_client::quorum::{Evaluator, Query, TrustedCheckpoint};
use quorate_proto::attestation::{
    self, Attestation, DeltaBase, Digest, Evidence, Reviewer, ReviewerKind, Scope, Verdict,
};
use quorate_proto::checkpoint::Checkpoint;
use quorate_proto::merkle::{self, MemoryLog};
use quorate_proto::note::{self, Signer};

/// The decision must take less than this, whatever the order of the deltas.
pub const GOAL: Duration = Duration::from_millis(100);

fn digest(i: usize) -> Digest {
    let mut d = [0u8; 32];
    d[..8].copy_from_slice(&(i as u64).to_le_bytes());
    d[31] = 0x5a;
    Digest::Sha256(d)
}

fn version(i: usize) -> String {
    format!("1.0.{i}")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Attestation `i` of the chain: a full review of 1.0.0 for `i == 0`, else the delta
/// 1.0.(i-1) -> 1.0.i.
pub fn chain_attestation(package: &str, i: usize, reviewer: &SigningKey) -> Attestation {
    Attestation {
        artifacts: vec![],
        scope: Some(Scope::Full),
        evidence: Some(Evidence::SourceReview),
        reveal: None,
        ecosystem: "cargo".into(),
        package: package.into(),
        version: version(i),
        digest: digest(i),
        delta_from: (i > 0).then(|| DeltaBase {
            version: version(i - 1),
            digest: digest(i - 1),
        }),
        criteria: vec!["safe-to-deploy".into()],
        verdict: Verdict::Certify,
        reviewer: Reviewer {
            kind: ReviewerKind::Human,
            name: "bomb".into(),
            public_key: reviewer.verifying_key().to_bytes(),
        },
        organisation: "bench".into(),
        time: 1_700_000_000,
        notes: String::new(),
        links: vec![],
        supersedes: None,
    }
}

/// Runs the benchmark and prints its figures; fails when the decision is wrong.
pub fn run(n: usize, runs: usize) -> Result<()> {
    if n == 0 {
        bail!("--delta-bomb needs at least one delta");
    }
    let reviewer = SigningKey::from_bytes(&[0x42; 32]);
    let log = Signer::generate("de.bench/log", [0x17; 32])?;
    let pkg = "bomb";
    // Deltas newest first, then the one full review: the worst order for a search that
    // rescans every delta until nothing changes.
    let mut envs: Vec<Vec<u8>> = Vec::with_capacity(n + 1);
    for i in (1..=n).rev() {
        envs.push(attestation::sign(
            &chain_attestation(pkg, i, &reviewer),
            &reviewer,
        )?);
    }
    envs.push(attestation::sign(
        &chain_attestation(pkg, 0, &reviewer),
        &reviewer,
    )?);
    let mut tree = MemoryLog::new();
    for e in &envs {
        tree.append(e);
    }
    let cp = Checkpoint::new(log.name(), tree.size(), tree.root(), vec![])?;
    let note_text = note::sign(&cp.to_text(), &[&log])?;
    let policy = Policy::parse(&format!(
        "quorum none\nreview-log DE {} https://de.bench/\nreview-quorum 1\n",
        log.vkey()
    ))?;
    let tc = TrustedCheckpoint::verify(&policy, note_text.as_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    // Floors, in this run: signature verification and leaf hashing of every envelope.
    let t = Instant::now();
    let verified: Vec<_> = envs
        .iter()
        .map(|e| attestation::verify(e))
        .collect::<Result<_, _>>()?;
    let verify_floor = t.elapsed();
    let t = Instant::now();
    let mut acc = 0u8;
    for e in &envs {
        acc ^= merkle::leaf_hash(e)[0];
    }
    let sha_floor = t.elapsed();
    std::hint::black_box(acc);

    let t = Instant::now();
    let mut ev = Evaluator::new(&policy);
    for (i, v) in verified.into_iter().enumerate() {
        let proof = merkle::prove_record(tree.size(), i as u64, &tree)?;
        let inc = tc.inclusion(&v, i as u64, &proof);
        ev.add(log.name(), v, inc)?;
    }
    let load = t.elapsed();

    let good = Query {
        ecosystem: "cargo".into(),
        package: pkg.into(),
        version: version(n),
        digest: digest(n),
    };
    let bad = Query {
        digest: digest(n + 1),
        ..good.clone()
    };
    let now = 1_800_000_000;
    let (mut pass_t, mut fail_t) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let v = ev.evaluate(&good, now);
        pass_t.push(t.elapsed());
        if !v.pass {
            bail!("the {n}-delta chain was not certified: {v}");
        }
        let t = Instant::now();
        let v = ev.evaluate(&bad, now);
        fail_t.push(t.elapsed());
        if v.pass {
            bail!("a wrong digest was certified: {v}");
        }
    }
    let (p, f) = (median(pass_t), median(fail_t));
    println!(
        "delta bomb: {n} deltas of one crate in reverse order + 1 full review ({} signed entries, one log)",
        n + 1
    );
    println!(
        "  decide, certified (median of {runs}):        {:>8.2} ms",
        ms(p)
    );
    println!(
        "  decide, wrong digest explained (median): {:>8.2} ms",
        ms(f)
    );
    println!(
        "  floor: Ed25519 verify of {} envelopes:  {:>8.2} ms ({:.1} us each)",
        n + 1,
        ms(verify_floor),
        verify_floor.as_secs_f64() * 1e6 / (n + 1) as f64
    );
    println!(
        "  floor: SHA-256 leaf hash of {} envelopes: {:>7.2} ms",
        n + 1,
        ms(sha_floor)
    );
    println!(
        "  load (inclusion proofs, index):         {:>8.2} ms",
        ms(load)
    );
    println!(
        "  decision / signature floor = {:.2}; goal: decide under {} ms: {}",
        p.max(f).as_secs_f64() / verify_floor.as_secs_f64().max(1e-9),
        GOAL.as_millis(),
        if p.max(f) < GOAL { "yes" } else { "NO" }
    );
    Ok(())
}
