//! `quorate-node bench`: end-to-end write throughput beside the raw Ed25519 verify rate,
//! ack latency, inclusion-proof latency on a large store, and bytes on disk per entry.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use ed25519_dalek::{Signature, Signer as _, SigningKey};
use quorate_proto::attestation::{
    self, Attestation, Digest, Evidence, Reviewer, ReviewerKind, SIGNATURE_DOMAIN, Scope, Verdict,
};

use crate::datadir::DataDir;
use crate::sequencer::{AdmissionLimits, ReviewerSet, Sequencer, SequencerConfig, admit};
use crate::store::{NewEntry, Store};

pub mod prove;

/// Benchmark parameters.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Size of the large store used for inclusion-proof latency and bytes per entry.
    pub entries: u64,
    /// Pre-signed attestations submitted through the sequencer.
    pub submissions: usize,
    /// Concurrent submitters.
    pub concurrency: usize,
    /// Sequencer batching.
    pub sequencer: SequencerConfig,
    /// Where to put the temporary stores (default: the system temp dir).
    pub dir: Option<PathBuf>,
    /// Time spent measuring each raw verify rate.
    pub floor_time: Duration,
    /// Build the large store as a real data directory here and keep it (so a caller can
    /// time `serve` restarting on it); default: a temporary directory, removed.
    pub keep_big: Option<PathBuf>,
}

/// What `bench` measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// Submissions through the sequencer.
    pub submissions: usize,
    /// Concurrent submitters.
    pub concurrency: usize,
    /// Durable appends per second (admission + sequencing + fsync'd commit).
    pub appends_per_sec: f64,
    /// Raw `verify_strict` per second on one thread.
    pub verify_per_sec_1: f64,
    /// Raw `verify_strict` per second on all cores.
    pub verify_per_sec_all: f64,
    /// Cores used for the all-core figure.
    pub cores: usize,
    /// Median ack latency.
    pub ack_p50: Duration,
    /// 99th percentile ack latency.
    pub ack_p99: Duration,
    /// Bytes on disk per entry of the submission store.
    pub bytes_per_entry_small: f64,
    /// Mean envelope size of the submitted entries (the entry itself).
    pub envelope_bytes: f64,
    /// Large store size.
    pub big_entries: u64,
    /// Time to build the large store.
    pub big_build: Duration,
    /// Bytes on disk per entry of the large store.
    pub bytes_per_entry_big: f64,
    /// Inclusion-proof latency percentiles (snapshot + proof) in the large store.
    pub proof_p50: Duration,
    /// 99th percentile.
    pub proof_p99: Duration,
    /// 99th percentile of the first round, untimed in the figures above: the proofs
    /// right after the build, which fill the row cache and redb's page cache.
    pub proof_first_p99: Duration,
    /// Peak resident memory of this process (VmHWM), bytes; 0 where /proc is absent.
    pub peak_rss: u64,
}

impl BenchReport {
    /// The report as one JSON object (durations in microseconds), for `quorate-testnet bench`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "submissions": self.submissions,
            "concurrency": self.concurrency,
            "appends_per_sec": self.appends_per_sec,
            "verify_per_sec_1": self.verify_per_sec_1,
            "verify_per_sec_all": self.verify_per_sec_all,
            "cores": self.cores,
            "ack_p50_us": us(self.ack_p50),
            "ack_p99_us": us(self.ack_p99),
            "bytes_per_entry_small": self.bytes_per_entry_small,
            "envelope_bytes": self.envelope_bytes,
            "big_entries": self.big_entries,
            "big_build_s": self.big_build.as_secs_f64(),
            "bytes_per_entry_big": self.bytes_per_entry_big,
            "proof_p50_us": us(self.proof_p50),
            "proof_p99_us": us(self.proof_p99),
            "proof_first_round_p99_us": us(self.proof_first_p99),
            "peak_rss": self.peak_rss,
        })
    }
}

/// This process's peak resident set (VmHWM in /proc/self/status), in bytes.
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ratio = self.appends_per_sec / self.verify_per_sec_all * 100.0;
        writeln!(
            f,
            "durable appends:      {:>10.0} /s  ({} submissions, concurrency {})",
            self.appends_per_sec, self.submissions, self.concurrency
        )?;
        writeln!(
            f,
            "raw ed25519 verify:   {:>10.0} /s on {} cores ({:.0} /s on 1 core)",
            self.verify_per_sec_all, self.cores, self.verify_per_sec_1
        )?;
        writeln!(
            f,
            "appends / verify:     {ratio:>10.1} %  (goal >= 60%; vs 1 core: {:.1} %)",
            self.appends_per_sec / self.verify_per_sec_1 * 100.0
        )?;
        writeln!(
            f,
            "ack latency:          p50 {:.2} ms, p99 {:.2} ms",
            ms(self.ack_p50),
            ms(self.ack_p99)
        )?;
        writeln!(
            f,
            "bytes on disk/entry:  {:.0} (submission store, real envelopes)",
            self.bytes_per_entry_small
        )?;
        if self.big_entries > 0 {
            writeln!(
                f,
                "large store:          {} entries built in {:.1} s, {:.0} bytes/entry on disk",
                self.big_entries,
                self.big_build.as_secs_f64(),
                self.bytes_per_entry_big
            )?;
            writeln!(
                f,
                "inclusion proof @{}: p50 {:.1} us, p99 {:.1} us (snapshot + proof; \
                 after a first round of {PROOFS} whose p99 was {:.1} us)",
                self.big_entries,
                us(self.proof_p50),
                us(self.proof_p99),
                us(self.proof_first_p99)
            )?;
        }
        Ok(())
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A signed test attestation for `package`@`version` by `key`.
pub fn sample_envelope(key: &SigningKey, package: &str, version: &str) -> Vec<u8> {
    let att = sample_attestation(key, package, version);
    attestation::sign(&att, key).expect("sample attestation is valid")
}

fn sample_attestation(key: &SigningKey, package: &str, version: &str) -> Attestation {
    Attestation {
        artifacts: vec![],
        scope: Some(Scope::Full),
        evidence: Some(Evidence::SourceReview),
        reveal: None,
        ecosystem: "cargo".into(),
        package: package.into(),
        version: version.into(),
        digest: Digest::Sha256([0x5a; 32]),
        delta_from: None,
        criteria: vec!["safe-to-deploy".into()],
        verdict: Verdict::Certify,
        reviewer: Reviewer {
            kind: ReviewerKind::Human,
            name: "Bench Reviewer".into(),
            public_key: key.verifying_key().to_bytes(),
        },
        organisation: "Bench Institute".into(),
        time: 1_760_000_000,
        notes: "Reviewed the full source; no unsafe code, no build script.".into(),
        links: vec!["https://example.org/reviews/1".into()],
        supersedes: None,
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Raw `verify_strict` rate over `threads` threads for about `dur`.
fn verify_rate(threads: usize, dur: Duration) -> f64 {
    let key = SigningKey::from_bytes(&[7; 32]);
    let att = sample_attestation(&key, "serde", "1.0.0");
    let mut msg = SIGNATURE_DOMAIN.to_vec();
    msg.extend_from_slice(&att.encode_payload());
    let sig: Signature = key.sign(&msg);
    let vk = key.verifying_key();
    let total = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut n = 0;
                while start.elapsed() < dur {
                    for _ in 0..64 {
                        assert!(vk.verify_strict(&msg, &sig).is_ok());
                    }
                    n += 64;
                }
                total.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    total.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// Bytes the file system allocated for `p`. redb grows its file in large steps and never
/// writes the unused end (a hole), so the file's length overstates what it occupies by up
/// to one growth step; the allocated blocks are what is on disk.
fn file_len(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(p).map_or(0, |m| m.blocks() * 512)
}

/// Runs the benchmark.
pub async fn run(opts: BenchOptions) -> anyhow::Result<BenchReport> {
    let tmp = match &opts.dir {
        Some(d) => tempfile::Builder::new()
            .prefix("quorate-bench")
            .tempdir_in(d)?,
        None => tempfile::Builder::new().prefix("quorate-bench").tempdir()?,
    };
    let n = opts.submissions;
    let threads = cores();
    eprintln!("bench: signing {n} attestations on {threads} threads ...");
    let keys: Vec<SigningKey> = (0..8u8)
        .map(|i| SigningKey::from_bytes(&[i + 100; 32]))
        .collect();
    let envelopes: Vec<Vec<u8>> = {
        let keys = &keys;
        let chunk = n.div_ceil(threads).max(1);
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..n)
                .step_by(chunk)
                .map(|lo| {
                    s.spawn(move || {
                        (lo..(lo + chunk).min(n))
                            .map(|i| {
                                sample_envelope(
                                    &keys[i % keys.len()],
                                    &format!("pkg{}", i % 1000),
                                    &format!("1.{}.0", i),
                                )
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter()
                .flat_map(|h| h.join().expect("signer thread"))
                .collect()
        })
    };

    eprintln!("bench: measuring raw ed25519 verify ...");
    let verify_1 = verify_rate(1, opts.floor_time);
    let verify_all = verify_rate(threads, opts.floor_time);

    eprintln!("bench: submitting through the sequencer ...");
    let data = DataDir::new(tmp.path().join("small"));
    data.init_with_seed("bench.example/log", [9; 32])?;
    let store = Arc::new(data.open_store()?);
    let mut seq_cfg = opts.sequencer;
    seq_cfg.queue_capacity = seq_cfg.queue_capacity.max(opts.concurrency);
    let seq = Arc::new(
        Sequencer::start(store.clone(), data.load_key()?, seq_cfg)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let reviewers = Arc::new(ReviewerSet::new(
        keys.iter().map(|k| k.verifying_key().to_bytes()),
    ));
    let envelopes = Arc::new(envelopes);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..opts.concurrency.max(1) {
        let (envelopes, next, seq, reviewers) = (
            envelopes.clone(),
            next.clone(),
            seq.clone(),
            reviewers.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let limits = AdmissionLimits::default();
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(env) = envelopes.get(i) else { break };
                let t = Instant::now();
                let admitted = admit(env, &reviewers, &limits)?;
                let ack = seq.submit(admitted).await?;
                anyhow::ensure!(!ack.duplicate, "unexpected duplicate");
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut lat = Vec::with_capacity(n);
    for t in tasks {
        lat.extend(t.await??);
    }
    let elapsed = start.elapsed();
    seq.shutdown().await;
    drop(seq);
    anyhow::ensure!(store.size()? == n as u64, "store has the wrong size");
    drop(store);
    lat.sort();
    let small_bytes = file_len(&data.store_path());

    let mut report = BenchReport {
        submissions: n,
        concurrency: opts.concurrency,
        appends_per_sec: n as f64 / elapsed.as_secs_f64(),
        verify_per_sec_1: verify_1,
        verify_per_sec_all: verify_all,
        cores: threads,
        ack_p50: percentile(&lat, 0.50),
        ack_p99: percentile(&lat, 0.99),
        bytes_per_entry_small: small_bytes as f64 / n.max(1) as f64,
        envelope_bytes: envelopes.iter().map(Vec::len).sum::<usize>() as f64 / n.max(1) as f64,
        big_entries: opts.entries,
        big_build: Duration::ZERO,
        bytes_per_entry_big: 0.0,
        proof_p50: Duration::ZERO,
        proof_p99: Duration::ZERO,
        proof_first_p99: Duration::ZERO,
        peak_rss: 0,
    };

    if opts.entries > 0 {
        let template = envelopes
            .first()
            .cloned()
            .unwrap_or_else(|| sample_envelope(&keys[0], "pkg", "1.0.0"));
        let big = DataDir::new(
            opts.keep_big
                .clone()
                .unwrap_or_else(|| tmp.path().join("big")),
        );
        big.init_with_seed("bench.example/big", [10; 32])?;
        let entries = opts.entries;
        let (build, bytes, (p50, p99), first_p99) =
            tokio::task::spawn_blocking(move || build_and_prove(&big, &template, entries))
                .await??;
        report.big_build = build;
        report.bytes_per_entry_big = bytes as f64 / entries as f64;
        report.proof_p50 = p50;
        report.proof_p99 = p99;
        report.proof_first_p99 = first_p99;
    }
    report.peak_rss = peak_rss();
    Ok(report)
}

/// Builds a store of `entries` synthetic entries (the template envelope with a counter
/// in its last 8 bytes, indexed under synthetic packages) in large batches, then times
/// inclusion proofs at random indexes.
fn build_and_prove(
    data: &DataDir,
    template: &[u8],
    entries: u64,
) -> anyhow::Result<(Duration, u64, (Duration, Duration), Duration)> {
    let key = data.load_key()?;
    let store = Store::open(data.store_path()).context("opening the large store")?;
    let start = Instant::now();
    const BATCH: u64 = 20_000;
    let mut done = 0u64;
    let mut last_report = Instant::now();
    while done < entries {
        let k = BATCH.min(entries - done);
        let batch = (done..done + k)
            .map(|i| {
                let mut e = template.to_vec();
                let l = e.len();
                e[l - 8..].copy_from_slice(&i.to_be_bytes());
                let pkg = format!("pkg{}", i % 50_000);
                NewEntry::new(e, Some(("cargo", &pkg, "1.0.0")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        store.append_batch(batch, |size, root| key.sign_checkpoint(size, root))?;
        done += k;
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "bench: large store {done}/{entries} ({:.0} entries/s)",
                done as f64 / start.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
    }
    let build = start.elapsed();
    let size = store.size()?;
    // The same timed loop as `--prove-only`: a snapshot per proof. Two rounds at
    // different random indexes: the first, right after the build, fills the row cache
    // and redb's page cache (a serving node's are warm); the figures are the second's,
    // and the first's p99 is reported beside them.
    let mut seed = prove::SEED;
    let mut round = || -> anyhow::Result<(Duration, Duration)> {
        let mut lat: Vec<Duration> = prove::time_proofs(&store, size, PROOFS, &mut seed)?
            .iter()
            .map(|s| s.wall)
            .collect();
        lat.sort();
        Ok((percentile(&lat, 0.5), percentile(&lat, 0.99)))
    };
    let (_, first_p99) = round()?;
    let warm = round()?;
    drop(store);
    Ok((build, file_len(&data.store_path()), warm, first_p99))
}

/// Proofs per round at the large store.
const PROOFS: usize = 2000;
