//! Memory soaks of the long-running processes: a `quorate-node serve` taking submissions
//! over HTTP and a `quorate-witness serve` cosigning checkpoints of many logs, each at
//! half the peak rate measured earlier in the same run, with the process's RSS sampled
//! throughout.
//!
//! "Flat" means the RSS at the end is within a small margin of the RSS after warm-up (the
//! first fifth of the soak, when caches and buffers have been sized by the load). The
//! slope over the rest, a least-squares fit of the samples, tells a leak (steady growth)
//! from a plateau.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ed25519_dalek::SigningKey;
use quorate_proto::checkpoint::Checkpoint;
use quorate_proto::merkle::{MemoryLog, prove_tree};
use quorate_proto::note::{self, Signer};
use quorate_witness::{CosignOutcome, WitnessClient};

use super::procs::{self, Serve};
use crate::fed::{ok, run};

/// Part of the soak counted as warm-up.
const WARM_FRACTION: f64 = 0.2;

/// One sample of a process's memory during a soak.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Seconds since the load started.
    pub t: f64,
    /// Resident set (`VmRSS`), bytes.
    pub rss: u64,
    /// Its anonymous part (`RssAnon`: heap, redb's cache, thread stacks), bytes; the rest
    /// is mapped files (the binary, libraries).
    pub anon: u64,
    /// Units of work (entries, add-checkpoints) the loader had had answered by then.
    pub done: u64,
}

/// Memory samples of one process over a soak.
#[derive(Debug, Clone, Default)]
pub struct RssTrace {
    pub samples: Vec<Sample>,
    pub warm_at: f64,
    /// `/proc/PID/smaps_rollup` at the end of the load.
    pub rollup: String,
}

impl RssTrace {
    fn at(&self, t: f64) -> Sample {
        self.samples
            .iter()
            .find(|s| s.t >= t)
            .or(self.samples.last())
            .copied()
            .unwrap_or_default()
    }
    /// RSS when the load started.
    pub fn start(&self) -> u64 {
        self.samples.first().map_or(0, |s| s.rss)
    }
    /// RSS at the end of warm-up.
    pub fn warm(&self) -> u64 {
        self.at(self.warm_at).rss
    }
    /// RSS at the end.
    pub fn end(&self) -> u64 {
        self.samples.last().map_or(0, |s| s.rss)
    }
    /// RSS added after warm-up per unit of work done after it, bytes (None when no work
    /// was done). A process whose memory is proportional to what it holds (an index
    /// entry per log entry) shows a constant here run after run; a leak per request
    /// shows as the same, so the figure is read beside what the process is known to keep.
    pub fn growth_per_unit(&self) -> Option<f64> {
        let (w, e) = (self.at(self.warm_at), self.samples.last().copied()?);
        let units = e.done.checked_sub(w.done).filter(|&u| u > 0)?;
        Some((e.rss as f64 - w.rss as f64) / units as f64)
    }
    /// Least-squares slope after warm-up, MiB per minute.
    pub fn slope_mib_per_min(&self) -> f64 {
        let pts: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter(|s| s.t >= self.warm_at)
            .map(|s| (s.t, s.rss as f64 / 1048576.0))
            .collect();
        let n = pts.len() as f64;
        if n < 2.0 {
            return 0.0;
        }
        let (mx, my) = (
            pts.iter().map(|p| p.0).sum::<f64>() / n,
            pts.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        if sxx == 0.0 { 0.0 } else { sxy / sxx * 60.0 }
    }
    /// End within 5 % (at least 2 MiB) of the RSS after warm-up.
    pub fn flat(&self) -> bool {
        let warm = self.warm() as f64;
        self.end() as f64 <= warm + (warm * 0.05).max(2.0 * 1048576.0)
    }
    /// The samples as tab-separated lines: seconds, RSS KiB, RssAnon KiB, units done.
    pub fn tsv(&self) -> String {
        let mut out = String::from("secs\trss_kib\tanon_kib\tdone\n");
        for s in &self.samples {
            out.push_str(&format!(
                "{:.1}\t{}\t{}\t{}\n",
                s.t,
                s.rss / 1024,
                s.anon / 1024,
                s.done
            ));
        }
        out
    }
}

/// Samples a process's RSS every `every` while a load runs.
struct Sampler {
    pid: u32,
    start: Instant,
    every: Duration,
    next: Duration,
    trace: RssTrace,
}

impl Sampler {
    fn new(pid: u32, soak: Duration) -> Sampler {
        let every = (soak / 120).clamp(Duration::from_millis(50), Duration::from_secs(5));
        Sampler {
            pid,
            start: Instant::now(),
            every,
            next: Duration::ZERO,
            trace: RssTrace {
                warm_at: soak.as_secs_f64() * WARM_FRACTION,
                ..RssTrace::default()
            },
        }
    }
    fn sample(&self, done: u64) -> Result<Sample> {
        let kb = |f| procs::proc_status_kb(self.pid, f).map(|kb| kb * 1024);
        Ok(Sample {
            t: self.start.elapsed().as_secs_f64(),
            rss: kb("VmRSS:")?,
            anon: kb("RssAnon:")?,
            done,
        })
    }
    /// Takes a sample if one is due; `done` units of work answered so far.
    fn tick(&mut self, done: u64) -> Result<()> {
        let t = self.start.elapsed();
        if t >= self.next {
            let s = self.sample(done)?;
            self.trace.samples.push(s);
            self.next = t + self.every;
        }
        Ok(())
    }
    fn finish(mut self, done: u64) -> Result<RssTrace> {
        let s = self.sample(done)?;
        self.trace.samples.push(s);
        self.trace.rollup =
            std::fs::read_to_string(format!("/proc/{}/smaps_rollup", self.pid)).unwrap_or_default();
        Ok(self.trace)
    }
}

/// What a soak saw.
#[derive(Debug, Clone)]
pub struct Soak {
    pub secs: f64,
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub rss: RssTrace,
}

/// Submits to `serve` (a node) over HTTP at about `rate` entries/s (batches of 64,
/// signed on the fly) for `dur`, sampling its RSS.
pub fn node(serve: &Serve, key: &SigningKey, rate: f64, dur: Duration) -> Result<Soak> {
    const B: u64 = 64;
    let agent = procs::agent();
    let url = format!("{}/v1/attestations", serve.url);
    let mut sampler = Sampler::new(serve.pid(), dur);
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < dur {
        sampler.tick(sent)?;
        // Pace: batch k leaves at k*B/rate seconds.
        let due = Duration::from_secs_f64(sent as f64 / rate);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let mut body = Vec::new();
        for i in sent..sent + B {
            let e = procs::envelope(key, i)?;
            body.extend_from_slice(&u32::try_from(e.len())?.to_be_bytes());
            body.extend_from_slice(&e);
        }
        let r = agent
            .post(&url)
            .header("content-type", "application/x-quorate-batch")
            .send(&body[..])?;
        if !r.status().is_success() {
            bail!("soak submission answered {}", r.status());
        }
        sent += B;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(Soak {
        secs,
        target_rate: rate,
        achieved_rate: sent as f64 / secs,
        rss: sampler.finish(sent)?,
    })
}

/// Logs the witness soak cosigns for, one connection each.
pub const WITNESS_LOGS: usize = 64;

/// Starts `quorate-witness serve` in `dir` following [`WITNESS_LOGS`] logs and sends
/// add-checkpoint requests at about `rate` per second in all for `dur` (each log's tree
/// grows by one record per request, each checkpoint signed and sent with its consistency
/// proof), sampling the witness's RSS.
pub fn witness(bin: &Path, dir: &Path, rate: f64, dur: Duration) -> Result<Soak> {
    witness_with(bin, dir, rate, dur, &[])
}

/// [`witness`] with `extra` flags for `quorate-witness serve`.
pub fn witness_with(
    bin: &Path,
    dir: &Path,
    rate: f64,
    dur: Duration,
    extra: &[String],
) -> Result<Soak> {
    let _ = std::fs::remove_dir_all(dir);
    let data = dir.join("witness");
    let d = data.to_str().context("non-UTF-8 path")?;
    ok(
        run(
            bin,
            &["init", "--data", d, "--name", "bench.example/soak-witness"],
        )?,
        "quorate-witness init",
    )?;
    let signers: Vec<Signer> = (0..WITNESS_LOGS)
        .map(|i| Signer::generate(&format!("bench.example/soak{i}"), [60 + i as u8; 32]))
        .collect::<Result<_, _>>()?;
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .args(["--data", d, "--listen", "127.0.0.1:0"])
        .args(extra);
    for s in &signers {
        cmd.arg("--log").arg(s.vkey());
    }
    let serve = Serve::spawn(cmd, &dir.join("witness.log"), "healthz")?;
    let rt = tokio::runtime::Runtime::new()?;
    let per_log = rate / WITNESS_LOGS as f64;
    let sampler = Arc::new(std::sync::Mutex::new(Sampler::new(serve.pid(), dur)));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let sent = rt.block_on(async {
        let mut tasks = Vec::new();
        for s in signers {
            let url = serve.url.clone();
            let sampler = sampler.clone();
            let done = done.clone();
            tasks.push(tokio::spawn(async move {
                let client = WitnessClient::new(&url)?;
                let origin = s.name().to_owned();
                let mut tree = MemoryLog::new();
                let mut old = 0;
                let mut n = 0u64;
                while start.elapsed() < dur {
                    let due = Duration::from_secs_f64(n as f64 / per_log);
                    if let Some(wait) = due.checked_sub(start.elapsed()) {
                        tokio::time::sleep(wait).await;
                    }
                    if let Ok(mut g) = sampler.try_lock() {
                        g.tick(done.load(Ordering::Relaxed))?;
                    }
                    tree.append(format!("record {n}").as_bytes());
                    let size = tree.size();
                    let text = Checkpoint::new(&origin, size, tree.root(), vec![])?.to_text();
                    let signed = note::sign(&text, &[&s])?;
                    let proof = if old == 0 {
                        vec![]
                    } else {
                        prove_tree(size, old, &tree)?
                    };
                    let out = client
                        .add_checkpoint(old, &proof, signed.as_bytes())
                        .await?;
                    if !matches!(out, CosignOutcome::Cosigned(_)) {
                        bail!("witness answered {out:?}");
                    }
                    old = size;
                    n += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<_, anyhow::Error>(n)
            }));
        }
        let mut sent = 0;
        for t in tasks {
            sent += t.await??;
        }
        Ok::<_, anyhow::Error>(sent)
    })?;
    let secs = start.elapsed().as_secs_f64();
    let rss = Arc::try_unwrap(sampler)
        .map_err(|_| anyhow::anyhow!("sampler still shared"))?
        .into_inner()
        .map_err(|_| anyhow::anyhow!("sampler poisoned"))?
        .finish(sent)?;
    drop(serve);
    let _ = std::fs::remove_dir_all(dir);
    Ok(Soak {
        secs,
        target_rate: rate,
        achieved_rate: sent as f64 / secs,
        rss,
    })
}

/// The table row of a soak of `what`.
pub fn row(what: &str, unit: &str, s: &Soak) -> super::Row {
    let mib = |b: u64| b as f64 / 1048576.0;
    let r = &s.rss;
    let mut note = format!(
        "RSS start {:.1} MiB, after {:.0} s warm-up {:.1} MiB; slope after warm-up {:+.2} MiB/min",
        mib(r.start()),
        r.warm_at,
        mib(r.warm()),
        r.slope_mib_per_min()
    );
    if let Some(g) = r.growth_per_unit() {
        note.push_str(&format!(
            "; growth after warm-up {g:.1} B per {} answered ({:.1} MiB anonymous, {:.1} MiB file-backed at the end)",
            unit.strip_suffix("ies")
                .map_or_else(|| unit.to_owned(), |u| format!("{u}y")),
            mib(r.samples.last().map_or(0, |s| s.anon)),
            mib(r.end().saturating_sub(r.samples.last().map_or(0, |s| s.anon)))
        ));
    }
    if s.achieved_rate < 0.9 * s.target_rate {
        note.push_str(&format!(
            "; the loader reached {:.0} of the {:.0} {unit}/s asked for",
            s.achieved_rate, s.target_rate
        ));
    }
    super::Row::measured(
        format!(
            "{what} RSS at the end of a {:.0} s soak at {:.0} {unit}/s (half its peak)",
            s.secs, s.achieved_rate
        ),
        mib(r.end()),
        "MiB",
    )
    .ratio(r.end() as f64 / r.warm().max(1) as f64, "x after warm-up")
    .target("flat (end within 5 % of after warm-up)", r.flat())
    .note(note)
}

/// What `quorate-testnet soak` runs: only the memory soaks of the bench, with the flags
/// given to each server, for investigating memory without the rest of the bench.
#[derive(Debug, Clone)]
pub struct OnlyPlan {
    pub dur: Duration,
    /// Entries/s for the node (0: no node soak).
    pub node_rate: f64,
    /// add-checkpoint/s for the witness (0: no witness soak).
    pub witness_rate: f64,
    pub node_args: Vec<String>,
    pub witness_args: Vec<String>,
    /// Writes `node.tsv`, `witness.tsv` (the samples) and `*.smaps_rollup` here.
    pub trace: Option<std::path::PathBuf>,
}

/// Runs the soaks of `plan` under `dir` and returns their rows.
pub fn only(plan: &OnlyPlan, dir: &Path) -> Result<Vec<super::Row>> {
    let bins = crate::fed::Bins::locate()?;
    std::fs::create_dir_all(dir)?;
    let mut rows = Vec::new();
    let keep = |name: &str, s: &Soak| -> Result<()> {
        if let Some(t) = &plan.trace {
            std::fs::create_dir_all(t)?;
            std::fs::write(t.join(format!("{name}.tsv")), s.rss.tsv())?;
            std::fs::write(t.join(format!("{name}.smaps_rollup")), &s.rss.rollup)?;
        }
        Ok(())
    };
    if plan.node_rate > 0.0 {
        eprintln!(
            "soak: quorate-node serve {:?}, {:.0} s at {:.0} entries/s",
            plan.node_args,
            plan.dur.as_secs_f64(),
            plan.node_rate
        );
        let sdir = dir.join("soak");
        let _ = std::fs::remove_dir_all(&sdir);
        let key = procs::init_log(&bins.node, &sdir, [0x33; 32])?;
        let mut cmd = Command::new(&bins.node);
        cmd.arg("serve")
            .arg("--data")
            .arg(&sdir)
            .args(["--listen", "127.0.0.1:0"])
            .args(&plan.node_args);
        let serve = Serve::spawn(cmd, &dir.join("soak-serve.log"), "checkpoint")?;
        let s = node(&serve, &key, plan.node_rate, plan.dur)?;
        drop(serve);
        let _ = std::fs::remove_dir_all(&sdir);
        keep("node", &s)?;
        rows.push(row("node", "entries", &s));
    }
    if plan.witness_rate > 0.0 {
        eprintln!(
            "soak: quorate-witness serve {:?}, {:.0} s at {:.0} add-checkpoint/s, {WITNESS_LOGS} logs",
            plan.witness_args,
            plan.dur.as_secs_f64(),
            plan.witness_rate
        );
        let s = witness_with(
            &bins.witness,
            &dir.join("soak-witness"),
            plan.witness_rate,
            plan.dur,
            &plan.witness_args,
        )?;
        keep("witness", &s)?;
        rows.push(row("witness", "add-checkpoint", &s));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::{RssTrace, Sample};

    fn trace(points: &[(f64, u64, u64)]) -> RssTrace {
        RssTrace {
            samples: points
                .iter()
                .map(|&(t, rss, done)| Sample {
                    t,
                    rss,
                    anon: rss / 2,
                    done,
                })
                .collect(),
            warm_at: 10.0,
            rollup: String::new(),
        }
    }

    #[test]
    fn growth_per_unit_counts_only_what_came_after_warm_up() {
        // 1000 B before warm-up, then 8000 B over 1000 units: 8 B per unit.
        let t = trace(&[(0.0, 10_000, 0), (10.0, 11_000, 500), (20.0, 19_000, 1500)]);
        assert_eq!(t.growth_per_unit(), Some(8.0));
        assert!(t.flat());
        // No work after warm-up: no figure rather than a division by zero.
        let idle = trace(&[(0.0, 10_000, 0), (10.0, 11_000, 500), (20.0, 11_000, 500)]);
        assert_eq!(idle.growth_per_unit(), None);
        assert!(
            t.tsv()
                .lines()
                .nth(3)
                .is_some_and(|l| l == "20.0\t18\t9\t1500")
        );
    }
}
