//! The physical floors every figure is compared with, measured in the same run on the same
//! cores: Ed25519 verification (single `verify_strict` and `verify_batch`), signing, SHA-256,
//! and the fsync latency of the filesystem that holds the data directories.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// Signatures per `verify_batch` call: one sequencer batch (a tile width).
pub const BATCH: usize = 256;

/// What the floors measured.
#[derive(Debug, Clone, Copy)]
pub struct Floors {
    /// Cores used for the all-core figures.
    pub cores: usize,
    /// `verify_strict` per second, one thread.
    pub verify_1: f64,
    /// `verify_strict` per second, all cores.
    pub verify_all: f64,
    /// Signatures per second through `verify_batch` (batches of [`BATCH`]), one thread.
    pub batch_1: f64,
    /// The same on all cores.
    pub batch_all: f64,
    /// Ed25519 signatures made per second, one thread.
    pub sign_1: f64,
    /// SHA-256 of a 64-byte Merkle node (plus prefix) per second, one thread.
    pub sha256_node_1: f64,
    /// SHA-256 throughput on 64 KiB buffers, MB/s, one thread.
    pub sha256_mb_s: f64,
    /// Median latency of a 4 KiB write + `fdatasync` in the data directory.
    pub fsync_p50: Duration,
    /// 99th percentile of the same.
    pub fsync_p99: Duration,
}

impl Floors {
    /// Durable commits per second one fsync stream can do (1 / median fsync latency).
    pub fn fsyncs_per_sec(&self) -> f64 {
        1.0 / self.fsync_p50.as_secs_f64().max(1e-9)
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `f` (which does `unit` operations per call) on `threads` threads for about `dur`
/// and returns operations per second.
fn rate(threads: usize, dur: Duration, unit: usize, f: &(dyn Fn() + Sync)) -> f64 {
    let total = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut n = 0;
                while start.elapsed() < dur {
                    f();
                    n += unit;
                }
                total.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    total.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

struct Signed {
    msgs: Vec<Vec<u8>>,
    sigs: Vec<Signature>,
    keys: Vec<VerifyingKey>,
}

/// [`BATCH`] signatures by 8 keys over attestation-sized messages (~300 bytes).
fn signed() -> Signed {
    let signers: Vec<SigningKey> = (0..8u8)
        .map(|i| SigningKey::from_bytes(&[i + 1; 32]))
        .collect();
    let mut s = Signed {
        msgs: Vec::new(),
        sigs: Vec::new(),
        keys: Vec::new(),
    };
    for i in 0..BATCH {
        let k = &signers[i % signers.len()];
        let mut m = b"quorate/attestation/v1\n".to_vec();
        m.extend(std::iter::repeat_n((i % 251) as u8, 280));
        s.sigs.push(k.sign(&m));
        s.keys.push(k.verifying_key());
        s.msgs.push(m);
    }
    s
}

/// Measures every floor; `dur` is the time spent per figure.
pub fn measure(data_dir: &Path, dur: Duration) -> Result<Floors> {
    let threads = cores();
    let s = signed();
    let single = || {
        for i in 0..16 {
            assert!(s.keys[i].verify_strict(&s.msgs[i], &s.sigs[i]).is_ok());
        }
    };
    let refs: Vec<&[u8]> = s.msgs.iter().map(Vec::as_slice).collect();
    let batch = || {
        assert!(ed25519_dalek::verify_batch(&refs, &s.sigs, &s.keys).is_ok());
    };
    let key = SigningKey::from_bytes(&[42; 32]);
    let sign = || {
        for m in &s.msgs[..16] {
            std::hint::black_box(key.sign(m));
        }
    };
    let node = [7u8; 65];
    let sha_node = || {
        for _ in 0..64 {
            std::hint::black_box(Sha256::digest(node));
        }
    };
    let big = vec![0x5au8; 64 * 1024];
    let sha_big = || {
        std::hint::black_box(Sha256::digest(&big));
    };
    let (fsync_p50, fsync_p99) = fsync_latency(data_dir, dur)?;
    Ok(Floors {
        cores: threads,
        verify_1: rate(1, dur, 16, &single),
        verify_all: rate(threads, dur, 16, &single),
        batch_1: rate(1, dur, BATCH, &batch),
        batch_all: rate(threads, dur, BATCH, &batch),
        sign_1: rate(1, dur, 16, &sign),
        sha256_node_1: rate(1, dur, 64, &sha_node),
        sha256_mb_s: rate(1, dur, 1, &sha_big) * big.len() as f64 / 1e6,
        fsync_p50,
        fsync_p99,
    })
}

/// Latency of appending 4 KiB to a file in `dir` and `fdatasync`ing it: what every durable
/// commit (redb's included) waits for at least once.
fn fsync_latency(dir: &Path, dur: Duration) -> Result<(Duration, Duration)> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("fsync-floor.tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    let block = [0xa5u8; 4096];
    let mut lat = Vec::new();
    let start = Instant::now();
    while (start.elapsed() < dur || lat.len() < 20) && lat.len() < 100_000 {
        let t = Instant::now();
        f.write_all(&block)?;
        f.sync_data()?;
        lat.push(t.elapsed());
    }
    drop(f);
    let _ = std::fs::remove_file(&path);
    lat.sort();
    Ok((pct(&lat, 0.50), pct(&lat, 0.99)))
}

/// The `p` quantile of sorted durations (nearest rank).
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_are_positive_and_batch_matches_single() {
        let tmp = tempfile::tempdir().unwrap();
        let f = measure(tmp.path(), Duration::from_millis(20)).unwrap();
        for (name, v) in [
            ("verify_1", f.verify_1),
            ("verify_all", f.verify_all),
            ("batch_1", f.batch_1),
            ("batch_all", f.batch_all),
            ("sign_1", f.sign_1),
            ("sha256_node_1", f.sha256_node_1),
            ("sha256_mb_s", f.sha256_mb_s),
            ("fsyncs_per_sec", f.fsyncs_per_sec()),
        ] {
            assert!(v.is_finite() && v > 0.0, "{name} = {v}");
        }
        // The batch the floor times really is a valid batch, and a bad signature in it
        // is caught (the floor would be meaningless if it verified nothing).
        let mut s = signed();
        let refs: Vec<&[u8]> = s.msgs.iter().map(Vec::as_slice).collect();
        assert!(ed25519_dalek::verify_batch(&refs, &s.sigs, &s.keys).is_ok());
        s.sigs.swap(0, 1);
        assert!(ed25519_dalek::verify_batch(&refs, &s.sigs, &s.keys).is_err());
    }
}
