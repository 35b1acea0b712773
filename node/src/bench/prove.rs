//! `quorate-node bench --prove-only DIR`: inclusion-proof latency over a store that is
//! already built (`bench --keep-big DIR`), so the proof path can be measured and profiled
//! without spending minutes on the build first.
//!
//! Each proof is timed as the server answers one: take a snapshot, prove, drop it. Beside
//! the wall time of every proof it records what the kernel says that thread did meanwhile
//! (its CPU time and its voluntary and involuntary context switches, from
//! `getrusage(RUSAGE_THREAD)`), so a slow proof can be told apart: CPU time near its wall
//! time is our code; an involuntary switch is preemption by another process; a voluntary
//! switch with no preemption is a wait, on this store a read that missed the page cache.
//! Every sample counts in the percentiles; the causes only explain them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use quorate_proto::merkle;

use super::{percentile, us};
use crate::datadir::DataDir;
use crate::store::Store;

/// What to measure.
#[derive(Debug, Clone)]
pub struct ProveOptions {
    /// A data directory holding a built store (`bench --keep-big DIR`).
    pub dir: PathBuf,
    /// Proofs to time.
    pub proofs: usize,
    /// Drop the store file from the kernel's page cache first (`posix_fadvise
    /// DONTNEED`), so the run shows cold reads.
    pub evict: bool,
    /// redb's page cache for the opened store, bytes (`serve` takes it from
    /// `store_cache_mib`; default [`crate::store::DEFAULT_CACHE_BYTES`]).
    pub cache_bytes: usize,
}

/// Why one proof's wall time exceeded its CPU time, as far as the kernel says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// No context switch: the wall time was CPU time of this thread.
    Ran,
    /// At least one involuntary switch: another runnable thread got the core.
    Preempted,
    /// Voluntary switches only: the thread blocked (a read from disk, a lock).
    Blocked,
}

/// One timed proof.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Snapshot + proof, wall clock.
    pub wall: Duration,
    /// Of which taking the snapshot (read transaction, meta, tables).
    pub snapshot: Duration,
    /// This thread's CPU time over the same interval.
    pub cpu: Duration,
    /// Major page faults (none expected: redb reads with `pread`, not mmap).
    pub major_faults: u64,
    /// Blocks read from the file system by this thread (512-byte units).
    pub in_blocks: u64,
    /// Why the wall time exceeded the CPU time.
    pub cause: Cause,
}

/// What `--prove-only` measured.
#[derive(Debug, Clone)]
pub struct ProveReport {
    /// Tree size of the store.
    pub entries: u64,
    /// Every sample, in the order taken.
    pub samples: Vec<Sample>,
    /// Bytes this process read from storage (`/proc/self/io` read_bytes) during the
    /// proofs: nonzero only when reads missed the page cache.
    pub read_bytes: u64,
    /// The store file was dropped from the page cache first.
    pub evicted: bool,
    /// redb's page cache size, bytes.
    pub cache_bytes: usize,
    /// Which round of the run (from 1).
    pub round: u32,
}

/// Thread CPU time and the getrusage counters of the calling thread.
#[derive(Clone, Copy)]
struct ThreadUsage {
    cpu: Duration,
    voluntary: i64,
    involuntary: i64,
    major_faults: i64,
    in_blocks: i64,
}

fn thread_usage() -> ThreadUsage {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel
    // knows. On failure `ts` stays zero, which only makes the CPU figure 0.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    // SAFETY: `rusage` is plain old data, valid all-zero; getrusage only writes it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    ThreadUsage {
        cpu: Duration::new(
            ts.tv_sec.max(0) as u64,
            ts.tv_nsec.clamp(0, 999_999_999) as u32,
        ),
        voluntary: ru.ru_nvcsw,
        involuntary: ru.ru_nivcsw,
        major_faults: ru.ru_majflt,
        in_blocks: ru.ru_inblock,
    }
}

/// `read_bytes` of /proc/self/io (0 where it is absent).
fn proc_read_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("read_bytes:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Asks the kernel to drop `path`'s cached pages (clean ones go; a store nobody writes
/// has no dirty ones).
fn evict_page_cache(path: &Path) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd as _;
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: the descriptor is open for the duration of the call.
    let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    anyhow::ensure!(
        rc == 0,
        "posix_fadvise(DONTNEED) on {} failed: {}",
        path.display(),
        std::io::Error::from_raw_os_error(rc)
    );
    Ok(())
}

/// Times `opts.proofs` inclusion proofs at pseudo-random indexes (the same sequence as the
/// full bench, continued from round to round, so a later round does not replay the
/// tiles an earlier one read) in the store of data directory `opts.dir`, `rounds` times
/// in one process: one report per round.
pub fn run(opts: &ProveOptions, rounds: u32) -> anyhow::Result<Vec<ProveReport>> {
    let data = DataDir::new(opts.dir.clone());
    let path = data.store_path();
    anyhow::ensure!(
        path.is_file(),
        "{} holds no store ({} is missing); build one with `quorate-node bench --keep-big DIR`",
        opts.dir.display(),
        path.display()
    );
    if opts.evict {
        evict_page_cache(&path)?;
    }
    let store = Store::open_with_cache(&path, opts.cache_bytes)
        .with_context(|| format!("opening {}", path.display()))?;
    let size = store.size()?;
    anyhow::ensure!(size > 0, "the store at {} is empty", path.display());
    let mut seed = SEED;
    let mut out = Vec::new();
    for round in 1..=rounds {
        let read_before = proc_read_bytes();
        let samples = time_proofs(&store, size, opts.proofs, &mut seed)?;
        out.push(ProveReport {
            entries: size,
            samples,
            read_bytes: proc_read_bytes().saturating_sub(read_before),
            evicted: opts.evict && round == 1,
            cache_bytes: opts.cache_bytes,
            round,
        });
    }
    Ok(out)
}

/// Start of the xorshift sequence of proved indexes.
pub(super) const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// The timed loop shared with the full bench: a snapshot per proof, as `GET
/// /v1/proof/entry/N` takes one.
pub(super) fn time_proofs(
    store: &Store,
    size: u64,
    n: usize,
    x: &mut u64,
) -> anyhow::Result<Vec<Sample>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        let i = *x % size;
        let before = thread_usage();
        let t = Instant::now();
        let snap = store.snapshot()?;
        let snapshot = t.elapsed();
        let proof = merkle::prove_record(size, i, &snap)?;
        drop(snap);
        let wall = t.elapsed();
        let after = thread_usage();
        std::hint::black_box(proof);
        let cause = if after.involuntary > before.involuntary {
            Cause::Preempted
        } else if after.voluntary > before.voluntary {
            Cause::Blocked
        } else {
            Cause::Ran
        };
        out.push(Sample {
            wall,
            snapshot,
            cpu: after.cpu.saturating_sub(before.cpu),
            major_faults: (after.major_faults - before.major_faults).max(0) as u64,
            in_blocks: (after.in_blocks - before.in_blocks).max(0) as u64,
            cause,
        });
    }
    Ok(out)
}

impl ProveReport {
    fn sorted(&self, f: impl Fn(&Sample) -> Duration) -> Vec<Duration> {
        let mut v: Vec<Duration> = self.samples.iter().map(f).collect();
        v.sort();
        v
    }

    /// Wall-time percentile `p` (0..=1) over every sample.
    pub fn wall(&self, p: f64) -> Duration {
        percentile(&self.sorted(|s| s.wall), p)
    }

    /// The report as one JSON object (durations in microseconds).
    pub fn to_json(&self) -> serde_json::Value {
        let wall = self.sorted(|s| s.wall);
        let cpu = self.sorted(|s| s.cpu);
        let snap = self.sorted(|s| s.snapshot);
        let count = |c: Cause| self.samples.iter().filter(|s| s.cause == c).count();
        serde_json::json!({
            "big_entries": self.entries,
            "proofs": self.samples.len(),
            "proof_p50_us": us(percentile(&wall, 0.5)),
            "proof_p99_us": us(percentile(&wall, 0.99)),
            "proof_max_us": us(wall.last().copied().unwrap_or_default()),
            "cpu_p50_us": us(percentile(&cpu, 0.5)),
            "cpu_p99_us": us(percentile(&cpu, 0.99)),
            "snapshot_p50_us": us(percentile(&snap, 0.5)),
            "snapshot_p99_us": us(percentile(&snap, 0.99)),
            "preempted": count(Cause::Preempted),
            "blocked": count(Cause::Blocked),
            "read_bytes": self.read_bytes,
            "evicted": self.evicted,
            "store_cache_mib": self.cache_bytes >> 20,
            "round": self.round,
        })
    }
}

impl std::fmt::Display for ProveReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let wall = self.sorted(|s| s.wall);
        let cpu = self.sorted(|s| s.cpu);
        let snap = self.sorted(|s| s.snapshot);
        let n = self.samples.len();
        writeln!(
            f,
            "inclusion proof @{}: p50 {:.1} us, p99 {:.1} us (snapshot + proof)",
            self.entries,
            us(percentile(&wall, 0.5)),
            us(percentile(&wall, 0.99))
        )?;
        writeln!(
            f,
            "  round {}: {n} proofs (redb cache {} MiB{}), max {:.1} us; CPU time p50 {:.1} us, p99 {:.1} us; snapshot \
             alone p50 {:.1} us, p99 {:.1} us",
            self.round,
            self.cache_bytes >> 20,
            if self.evicted {
                ", store file evicted from the page cache first"
            } else {
                ""
            },
            us(wall.last().copied().unwrap_or_default()),
            us(percentile(&cpu, 0.5)),
            us(percentile(&cpu, 0.99)),
            us(percentile(&snap, 0.5)),
            us(percentile(&snap, 0.99)),
        )?;
        // The slowest 1% (at least one), by what the kernel says happened during each.
        let p99 = percentile(&wall, 0.99);
        let tail: Vec<&Sample> = self.samples.iter().filter(|s| s.wall >= p99).collect();
        let of = |c: Cause| tail.iter().filter(|s| s.cause == c).count();
        let all = |c: Cause| self.samples.iter().filter(|s| s.cause == c).count();
        writeln!(
            f,
            "  slowest {} (>= p99): {} preempted, {} blocked, {} ran throughout \
             (all {n}: {} preempted, {} blocked); their CPU time sums to {:.0}% of their \
             wall time",
            tail.len(),
            of(Cause::Preempted),
            of(Cause::Blocked),
            of(Cause::Ran),
            all(Cause::Preempted),
            all(Cause::Blocked),
            100.0 * tail.iter().map(|s| s.cpu.as_secs_f64()).sum::<f64>()
                / tail
                    .iter()
                    .map(|s| s.wall.as_secs_f64())
                    .sum::<f64>()
                    .max(1e-12),
        )?;
        writeln!(
            f,
            "  read from storage during the proofs: {} bytes ({} blocks in, {} major \
             faults over all proofs)",
            self.read_bytes,
            self.samples.iter().map(|s| s.in_blocks).sum::<u64>(),
            self.samples.iter().map(|s| s.major_faults).sum::<u64>(),
        )
    }
}
