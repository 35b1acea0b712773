//! `quorate-witness bench`: add-checkpoint throughput and latency with durable state.
//!
//! Checkpoints come from a real log (proto's `MemoryLog`) growing by one record per
//! request, each signed and sent with its consistency proof; all are prepared before
//! timing. Three modes: the in-process core, sequential HTTP on loopback over one
//! keep-alive connection, and `--logs` logs over as many concurrent connections. Each
//! mode also reports the process's CPU time per request (witness and load generator).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use quorate_proto::checkpoint::Checkpoint;
use quorate_proto::cosignature::CosignatureSigner;
use quorate_proto::merkle::{MemoryLog, prove_tree};
use quorate_proto::note::{self, Signer};
use quorate_witness::{AddCheckpointRequest, CosignOutcome, Witness, WitnessClient, router};

struct Prepared {
    log: Signer,
    requests: Vec<AddCheckpointRequest>,
}

fn prepare(origin: &str, seed: u8, n: usize) -> anyhow::Result<Prepared> {
    let log = Signer::generate(origin, [seed; 32])?;
    let mut tree = MemoryLog::with_capacity(n);
    let mut requests = Vec::with_capacity(n);
    let mut old = 0;
    for i in 0..n {
        tree.append(format!("record {i}").as_bytes());
        let size = tree.size();
        let text = Checkpoint::new(origin, size, tree.root(), vec![])?.to_text();
        let signed = note::sign(&text, &[&log])?;
        let proof = if old == 0 {
            vec![]
        } else {
            prove_tree(size, old, &tree)?
        };
        requests.push(AddCheckpointRequest::new(old, proof, signed.into_bytes()));
        old = size;
    }
    Ok(Prepared { log, requests })
}

fn witness(dir: &Path, file: &str, logs: &[&Prepared]) -> anyhow::Result<Witness> {
    let signer = CosignatureSigner::generate("bench.example/witness", [7; 32])?;
    let verifiers = logs.iter().map(|p| p.log.verifier()).collect();
    Ok(Witness::open(signer, verifiers, &dir.join(file), || {
        1_700_000_000u64
    })?)
}

/// CPU time (user + system, all threads) this process has used so far, from
/// `/proc/self/stat` (USER_HZ ticks, which the kernel ABI fixes at 100 per second); zero
/// where /proc is absent.
fn cpu_time() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name: utime is field 14, stime 15.
            let rest = s.rsplit_once(')')?.1.to_owned();
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        });
    Duration::from_millis(ticks.unwrap_or(0) * 10)
}

/// Prints one mode's figures (unless `json`) and returns them as a JSON object. `cpu` is
/// the process's CPU time over the mode (server and load generator together): on a
/// machine shared with other work it says what a request costs when the rate cannot.
fn report(
    mode: &str,
    json: bool,
    total: Duration,
    cpu: Duration,
    mut lat: Vec<Duration>,
) -> serde_json::Value {
    lat.sort_unstable();
    let pct = |p: f64| {
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i].as_secs_f64() * 1e3
    };
    let per_sec = lat.len() as f64 / total.as_secs_f64();
    let cpu_us = cpu.as_secs_f64() * 1e6 / lat.len() as f64;
    if !json {
        println!(
            "{mode:<28} {:>6} req  {:>9.0} req/s  p50 {:>7.3} ms  p99 {:>7.3} ms  CPU {:>5.0} us/req",
            lat.len(),
            per_sec,
            pct(0.50),
            pct(0.99),
            cpu_us
        );
    }
    serde_json::json!({
        "mode": mode,
        "requests": lat.len(),
        "per_sec": per_sec,
        "cpu_us_per_req": cpu_us,
        "p50_us": pct(0.50) * 1e3,
        "p99_us": pct(0.99) * 1e3,
    })
}

/// This process's peak resident set (VmHWM), bytes; 0 where /proc is absent.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Runs the three modes with `n` requests each; the concurrent mode spreads them over
/// `logs` logs, one connection each. With `json`, prints one JSON object instead of lines.
pub fn run(n: usize, logs: usize, json: bool, dir: Option<PathBuf>) -> anyhow::Result<()> {
    if logs == 0 {
        bail!("--logs must be positive");
    }
    if n == 0 {
        bail!("--requests must be positive");
    }
    let base = dir.unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("quorate-witness-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = run_in(n, logs, json, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(n: usize, nlogs: usize, json: bool, dir: &Path) -> anyhow::Result<()> {
    let mut modes = Vec::new();
    if !json {
        println!(
            "add-checkpoint, durable redb state (fsync per cosign), {} CPUs, state in {}",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            dir.display()
        );
    }

    // 1. In-process core.
    let p = prepare("bench.example/log0", 1, n)?;
    let w = witness(dir, "core.redb", &[&p])?;
    let mut lat = Vec::with_capacity(n);
    let (start, cpu0) = (Instant::now(), cpu_time());
    for r in &p.requests {
        let t = Instant::now();
        w.add_checkpoint_request(r)?;
        lat.push(t.elapsed());
    }
    let cpu = cpu_time().saturating_sub(cpu0);
    modes.push(report("in-process core", json, start.elapsed(), cpu, lat));
    drop(w);

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let modes = &mut modes;
        // 2. HTTP, one keep-alive connection, sequential.
        let p = prepare("bench.example/log1", 2, n)?;
        let w = Arc::new(witness(dir, "http.redb", &[&p])?);
        let (url, server) = start_server(w).await?;
        let client = WitnessClient::new(&url)?;
        let mut lat = Vec::with_capacity(n);
        let (start, cpu0) = (Instant::now(), cpu_time());
        for r in &p.requests {
            let t = Instant::now();
            let out = client
                .add_checkpoint(r.old_size, &r.proof, &r.checkpoint)
                .await?;
            if !matches!(out, CosignOutcome::Cosigned(_)) {
                bail!("unexpected {out:?}");
            }
            lat.push(t.elapsed());
        }
        let cpu = cpu_time().saturating_sub(cpu0);
        modes.push(report(
            "HTTP loopback, 1 conn",
            json,
            start.elapsed(),
            cpu,
            lat,
        ));
        server.abort();

        // 3. HTTP, `nlogs` logs on as many connections at once.
        let per = n.div_ceil(nlogs);
        let logs: Vec<Prepared> = (0..nlogs)
            .map(|i| prepare(&format!("bench.example/par{i}"), 10 + (i % 200) as u8, per))
            .collect::<anyhow::Result<_>>()?;
        let w = Arc::new(witness(dir, "par.redb", &logs.iter().collect::<Vec<_>>())?);
        let (url, server) = start_server(w).await?;
        let (start, cpu0) = (Instant::now(), cpu_time());
        let mut tasks = Vec::new();
        for p in logs {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let client = WitnessClient::new(&url)?;
                let mut lat = Vec::with_capacity(p.requests.len());
                for r in &p.requests {
                    let t = Instant::now();
                    let out = client
                        .add_checkpoint(r.old_size, &r.proof, &r.checkpoint)
                        .await?;
                    if !matches!(out, CosignOutcome::Cosigned(_)) {
                        bail!("unexpected {out:?}");
                    }
                    lat.push(t.elapsed());
                }
                Ok::<_, anyhow::Error>(lat)
            }));
        }
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(t.await??);
        }
        let (elapsed, cpu) = (start.elapsed(), cpu_time().saturating_sub(cpu0));
        modes.push(report(
            &format!("HTTP loopback, {nlogs} logs/conns"),
            json,
            elapsed,
            cpu,
            lat,
        ));
        server.abort();
        Ok::<_, anyhow::Error>(())
    })?;
    if json {
        println!(
            "{}",
            serde_json::json!({"modes": modes, "logs": nlogs, "peak_rss": peak_rss()})
        );
    }
    Ok(())
}

async fn start_server(
    w: Arc<Witness>,
) -> anyhow::Result<(String, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, router(w)).await });
    Ok((url, server))
}
