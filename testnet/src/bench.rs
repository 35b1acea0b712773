//! `quorate-testnet bench [--quick]`: every figure of the performance table, each measured
//! on real processes (the release binaries' own `bench` commands, `serve`, `check`) beside
//! the physical floor measured in the same run on the same cores ([`floors`]).
//!
//! Other work shares the cores, so absolute figures move between runs; the ratio to a
//! floor measured minutes apart in the same run is what is comparable. Nothing here
//! asserts a speed: a figure that misses its target says so in the table.

mod floors;
mod mirror;
mod procs;
mod soak;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::fed::{Bins, ok, run};
use floors::Floors;

/// How long and how large each measurement is.
#[derive(Debug, Clone)]
pub struct Plan {
    pub floor_time: Duration,
    /// (concurrency, submissions) through the node's sequencer.
    pub appends: Vec<(usize, usize)>,
    pub big_entries: u64,
    pub witness_requests: usize,
    pub witness_logs: usize,
    pub fed_nodes: usize,
    pub fed_checkpoints: usize,
    pub fed_idle_secs: u64,
    pub check_packages: usize,
    pub check_runs: usize,
    pub soak: Duration,
    /// Cold mirror: logs, entries per log.
    pub mirror: (usize, u64),
}

impl Plan {
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                floor_time: Duration::from_millis(200),
                appends: vec![(1, 100), (16, 400), (256, 1000)],
                big_entries: 5_000,
                witness_requests: 100,
                witness_logs: 4,
                fed_nodes: 3,
                fed_checkpoints: 3,
                fed_idle_secs: 1,
                check_packages: 20,
                check_runs: 1,
                soak: Duration::from_secs(3),
                mirror: (5, 2_000),
            }
        } else {
            Plan {
                floor_time: Duration::from_secs(1),
                appends: vec![(1, 1_000), (16, 10_000), (256, 30_000)],
                // The size. With the packed store (layout 2) 10M entries build
                // through `append_batch` in 845 s on this shared 2-core machine (1M: 28 s)
                // and take 4.0 GB; bench/README.md has the figures.
                big_entries: 10_000_000,
                witness_requests: 5_000,
                witness_logs: 64,
                fed_nodes: 7,
                fed_checkpoints: 50,
                fed_idle_secs: 20,
                check_packages: 500,
                check_runs: 5,
                // The 10 minutes, for the node and for the witness.
                soak: Duration::from_secs(600),
                mirror: (5, 100_000),
            }
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub figure: String,
    /// `None`: not measured; `reason` says why.
    pub value: Option<(f64, &'static str)>,
    pub floor: Option<(f64, &'static str, &'static str)>,
    /// value / floor as the row defines it (percent or factor), with its unit.
    pub ratio: Option<(f64, &'static str)>,
    pub target: String,
    pub met: Option<bool>,
    pub reason: String,
}

impl Row {
    fn measured(figure: impl Into<String>, value: f64, unit: &'static str) -> Row {
        Row {
            figure: figure.into(),
            value: Some((value, unit)),
            floor: None,
            ratio: None,
            target: "-".into(),
            met: None,
            reason: String::new(),
        }
    }
    fn floor(mut self, v: f64, unit: &'static str, what: &'static str) -> Row {
        self.floor = Some((v, unit, what));
        self
    }
    fn ratio(mut self, v: f64, unit: &'static str) -> Row {
        self.ratio = Some((v, unit));
        self
    }
    fn target(mut self, t: &str, met: bool) -> Row {
        self.target = t.into();
        self.met = Some(met);
        self
    }
    fn note(mut self, n: impl Into<String>) -> Row {
        self.reason = n.into();
        self
    }
}

fn num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The table in Markdown: figure | value | floor | ratio | target.
pub fn table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| figure | value | floor (same run) | ratio | target |\n|---|---|---|---|---|\n",
    );
    for r in rows {
        let value = match r.value {
            Some((v, u)) => format!("{} {u}", num(v)),
            None => format!("not measured: {}", r.reason),
        };
        let floor = r
            .floor
            .map_or("-".into(), |(v, u, w)| format!("{} {u} ({w})", num(v)));
        let ratio = r
            .ratio
            .map_or("-".into(), |(v, u)| format!("{} {u}", num(v)));
        let target = match r.met {
            Some(true) => format!("{} (met)", r.target),
            Some(false) => format!("{} (NOT met)", r.target),
            None => r.target.clone(),
        };
        let note = if r.value.is_some() && !r.reason.is_empty() {
            format!(" [{}]", r.reason)
        } else {
            String::new()
        };
        let _ = writeln!(
            t,
            "| {}{note} | {value} | {floor} | {ratio} | {target} |",
            r.figure
        );
    }
    t
}

fn json_of(out: &str, what: &str) -> Result<Value> {
    let line = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| format!("{what} printed no JSON: {out}"))?;
    serde_json::from_str(line).with_context(|| format!("{what}: parsing {line}"))
}

fn f(v: &Value, k: &str) -> Result<f64> {
    v[k].as_f64()
        .with_context(|| format!("no number {k} in {v}"))
}

/// Seconds to read `path` once (as the page cache has it) and its size in MiB.
fn read_whole(path: &Path) -> Result<(f64, f64)> {
    use std::io::Read as _;
    let started = Instant::now();
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    Ok((
        started.elapsed().as_secs_f64().max(1e-6),
        total as f64 / f64::from(1u32 << 20),
    ))
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().context("non-UTF-8 path")
}

/// The machine: cores, CPU model, kernel, and the filesystem holding `dir`.
pub fn machine(dir: &Path) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown kernel".into());
    let fs = filesystem(dir).unwrap_or_else(|| "unknown filesystem".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or_else(
            || "unknown memory".into(),
            |kb| format!("{:.1} GiB", kb as f64 / 1048576.0),
        );
    format!(
        "{} cores (nproc), {cpu}, {mem}, Linux {kernel}, data dir on {fs}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    )
}

/// The 1-minute load average (/proc/loadavg), to say whether other work shared the cores.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The commit the run was built from (`git describe --always --dirty`), when known.
fn commit() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The filesystem type and device of the mount holding `dir` (/proc/mounts).
fn filesystem(dir: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (dev, mnt, ty) = (it.next()?, it.next()?, it.next()?);
            dir.starts_with(mnt)
                .then(|| (mnt.len(), format!("{ty} ({dev} at {mnt})")))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, s)| s)
}

/// Runs every measurement of `plan` with the data directories under `dir`; prints the
/// table and returns it with the rows.
pub fn run_all(plan: &Plan, dir: &Path) -> Result<(Floors, Vec<Row>)> {
    let bins = Bins::locate()?;
    let witness_bin = bins.witness.clone();
    std::fs::create_dir_all(dir)?;
    let d = path_str(dir)?;
    let mut rows = Vec::new();
    let say = |s: &str| eprintln!("bench: {s}");

    say("floors (ed25519 verify single and batched, sign, SHA-256, fsync)");
    let fl = floors::measure(dir, plan.floor_time)?;

    // --- node: durable appends and ack latency through the sequencer.
    let mut appends = Vec::new();
    for &(c, n) in &plan.appends {
        say(&format!(
            "quorate-node bench: {n} submissions at concurrency {c}"
        ));
        let out = ok(
            run(
                &bins.node,
                &[
                    "bench",
                    "--entries",
                    "0",
                    "--submissions",
                    &n.to_string(),
                    "--concurrency",
                    &c.to_string(),
                    "--dir",
                    d,
                    "--floor-ms",
                    "100",
                    "--json",
                ],
            )?,
            "quorate-node bench",
        )?;
        appends.push((c, json_of(&out, "quorate-node bench")?));
    }
    // The same runs with the fixed 50 ms batch delay the sequencer had before group
    // commit (`--batch-delay-ms 50`), for the before/after comparison in one run.
    let mut delayed = Vec::new();
    for &(c, n) in &plan.appends {
        say(&format!(
            "quorate-node bench: {n} submissions at concurrency {c}, fixed 50 ms batch delay"
        ));
        let out = ok(
            run(
                &bins.node,
                &[
                    "bench",
                    "--entries",
                    "0",
                    "--submissions",
                    &n.to_string(),
                    "--concurrency",
                    &c.to_string(),
                    "--batch-delay-ms",
                    "50",
                    "--dir",
                    d,
                    "--floor-ms",
                    "10",
                    "--json",
                ],
            )?,
            "quorate-node bench --batch-delay-ms 50",
        )?;
        delayed.push((c, json_of(&out, "quorate-node bench")?));
    }
    let (c_max, top) = appends.last().context("no append run")?;
    let aps = f(top, "appends_per_sec")?;
    rows.push(
        Row::measured(
            format!("durable appends/s, node (concurrency {c_max})"),
            aps,
            "/s",
        )
        .floor(fl.batch_all, "/s", "batched verify, all cores")
        .ratio(aps / fl.batch_all * 100.0, "%")
        .target(">= 70 % of batched verify", aps >= 0.7 * fl.batch_all)
        .note(format!(
            "{:.0} % of single verify_strict on all cores ({:.0} /s)",
            aps / fl.verify_all * 100.0,
            fl.verify_all
        )),
    );
    for (c, v) in &appends {
        let (p50, p99) = (f(v, "ack_p50_us")? / 1e3, f(v, "ack_p99_us")? / 1e3);
        let fs = fl.fsync_p50.as_secs_f64() * 1e3;
        let mut row = Row::measured(
            format!(
                "ack latency p50 at concurrency {c} (p99 {p99:.2} ms, {:.0} appends/s)",
                f(v, "appends_per_sec")?
            ),
            p50,
            "ms",
        )
        .floor(fs, "ms", "fsync p50")
        .ratio(p50 / fs, "x");
        if *c == 256 {
            row = row.target("p50 <= 15 ms", p50 <= 15.0);
        }
        rows.push(row);
    }
    for (c, v) in &delayed {
        let p50 = f(v, "ack_p50_us")? / 1e3;
        let fs = fl.fsync_p50.as_secs_f64() * 1e3;
        rows.push(
            Row::measured(
                format!(
                    "before: ack latency p50 at concurrency {c} with the old fixed 50 ms batch delay (p99 {:.2} ms, {:.0} appends/s)",
                    f(v, "ack_p99_us")? / 1e3,
                    f(v, "appends_per_sec")?
                ),
                p50,
                "ms",
            )
            .floor(fs, "ms", "fsync p50")
            .ratio(p50 / fs, "x"),
        );
    }
    let overhead = f(top, "bytes_per_entry_small")? - f(top, "envelope_bytes")?;
    rows.push(
        Row::measured(
            "node store: bytes on disk per entry beyond the entry",
            overhead,
            "B",
        )
        .target("<= 100 B", overhead <= 100.0)
        .note(format!(
            "{:.0} B/entry on disk, envelopes {:.0} B, {} entries",
            f(top, "bytes_per_entry_small")?,
            f(top, "envelope_bytes")?,
            f(top, "submissions")?
        )),
    );

    // --- node: a large store: proof latency and restart to serving.
    say(&format!(
        "quorate-node bench: large store of {} entries",
        plan.big_entries
    ));
    let big = dir.join("big-log");
    let _ = std::fs::remove_dir_all(&big);
    let out = ok(
        run(
            &bins.node,
            &[
                "bench",
                "--entries",
                &plan.big_entries.to_string(),
                "--submissions",
                "1",
                "--concurrency",
                "1",
                "--dir",
                d,
                "--keep-big",
                path_str(&big)?,
                "--floor-ms",
                "10",
                "--json",
            ],
        )?,
        "quorate-node bench (large store)",
    )?;
    let b = json_of(&out, "quorate-node bench")?;
    let n_big = plan.big_entries;
    let p99 = f(&b, "proof_p99_us")?;
    rows.push(
        Row::measured(
            format!("inclusion proof p99 at {n_big} entries (snapshot + proof)"),
            p99,
            "us",
        )
        .target("< 50 us (at 10M)", p99 < 50.0)
        .note(format!(
            "p50 {:.1} us, after a first round of 2000 proofs right after the build \
             (p99 {:.0} us) that warms the caches as serving does; store built in {:.1} s, \
             {:.0} B/entry on disk",
            f(&b, "proof_p50_us")?,
            f(&b, "proof_first_round_p99_us")?,
            f(&b, "big_build_s")?,
            f(&b, "bytes_per_entry_big")?
        )),
    );
    // Reference for restart and audit: reading the store file once. `verify` reads it all
    // (redb's integrity check, every entry); opening for `serve` reads O(log n) rows, so
    // its ratio to this is well under 1.
    let (read_s, store_mib) = read_whole(&big.join("log.redb"))?;
    say("restart to serving on the large store");
    let serve = procs::Serve::start(&bins.node, &big, &dir.join("big-serve.log"))?;
    let restart = serve.ready_after.as_secs_f64();
    drop(serve);
    rows.push(
        Row::measured(
            format!("restart to serving at {n_big} entries (spawn -> /checkpoint 200)"),
            restart,
            "s",
        )
        .floor(read_s * 1e3, "ms", "one read of the store file")
        .ratio(restart / read_s, "x")
        .target("< 5 s (at 10M)", restart < 5.0)
        .note(format!("store file {store_mib:.0} MiB")),
    );
    say("quorate-node verify on the large store");
    let started = Instant::now();
    ok(
        run(&bins.node, &["verify", "--data", path_str(&big)?])?,
        "quorate-node verify (large store)",
    )?;
    let audit = started.elapsed().as_secs_f64();
    rows.push(
        Row::measured(
            format!("verify (re-hash every entry, check every checkpoint) at {n_big} entries"),
            audit,
            "s",
        )
        .floor(read_s * 1e3, "ms", "one read of the store file")
        .ratio(audit / read_s, "x"),
    );
    let _ = std::fs::remove_dir_all(&big);

    // --- witness: add-checkpoint over HTTP, durable state.
    say(&format!(
        "quorate-witness bench: {} requests, {} logs",
        plan.witness_requests, plan.witness_logs
    ));
    let out = ok(
        run(
            &witness_bin,
            &[
                "bench",
                "--requests",
                &plan.witness_requests.to_string(),
                "--logs",
                &plan.witness_logs.to_string(),
                "--dir",
                d,
                "--json",
            ],
        )?,
        "quorate-witness bench",
    )?;
    let w = json_of(&out, "quorate-witness bench")?;
    let modes = w["modes"].as_array().context("witness: no modes")?;
    // One add-checkpoint must verify the log's signature and sign a cosignature; on all
    // cores that bounds the rate at cores / (t_verify + t_sign). The floor's verify uses
    // a decoded key, as the witness does (it decodes each log key once, at start).
    let wfloor = fl.cores as f64 / (1.0 / fl.verify_1 + 1.0 / fl.sign_1);
    // The witness's peak over HTTP (what a serving witness reaches), for its soak.
    let mut witness_peak: f64 = 0.0;
    for m in modes {
        if m["mode"].as_str().is_some_and(|s| s.contains("HTTP")) {
            witness_peak = witness_peak.max(f(m, "per_sec")?);
        }
    }
    for m in modes {
        let mode = m["mode"].as_str().unwrap_or("?");
        let r = f(m, "per_sec")?;
        // CPU per request (witness and load generator in one process) against the CPU
        // one verify and one sign take: unlike the rate, other work on the cores does not
        // move it much.
        let cpu = f(m, "cpu_us_per_req")?;
        let mut row = Row::measured(
            format!(
                "witness add-checkpoint/s, durable, {mode} (p99 {:.2} ms; CPU {cpu:.0} us/req, verify+sign {:.0} us)",
                f(m, "p99_us")? / 1e3,
                1e6 / fl.verify_1 + 1e6 / fl.sign_1
            ),
            r,
            "/s",
        )
        .floor(wfloor, "/s", "verify (decoded key) + sign, all cores")
        .ratio(r / wfloor * 100.0, "%");
        if mode.contains("logs/conns") {
            row = row.target(">= 10000 /s over HTTP", r >= 10_000.0);
            if wfloor < 10_000.0 {
                row = row.note(format!(
                    "the target is above this machine's floor ({wfloor:.0} /s); the load \
                     generator's HTTP clients share the same cores"
                ));
            }
        }
        rows.push(row);
    }

    // --- federation: cosigning latency and idle CPU.
    say(&format!(
        "quorate-node bench-federation: {} nodes, {} checkpoints, {} s idle",
        plan.fed_nodes, plan.fed_checkpoints, plan.fed_idle_secs
    ));
    let out = ok(
        run(
            &bins.node,
            &[
                "bench-federation",
                "--nodes",
                &plan.fed_nodes.to_string(),
                "--checkpoints",
                &plan.fed_checkpoints.to_string(),
                "--idle-secs",
                &plan.fed_idle_secs.to_string(),
                "--json",
            ],
        )?,
        "quorate-node bench-federation",
    )?;
    let fb = json_of(&out, "bench-federation")?;
    let p99 = f(&fb, "cosign_p99_us")? / 1e3;
    // The serial path of one round: the witness verifies, makes its state durable and
    // signs; the log makes the cosigned checkpoint durable.
    let round_floor =
        (2.0 * fl.fsync_p50.as_secs_f64() + 1.0 / fl.verify_1 + 1.0 / fl.sign_1) * 1e3;
    rows.push(
        Row::measured(
            format!(
                "checkpoint -> all {} cosignatures p99, {} nodes (p50 {:.1} ms)",
                plan.fed_nodes - 1,
                plan.fed_nodes,
                f(&fb, "cosign_p50_us")? / 1e3
            ),
            p99,
            "ms",
        )
        .floor(round_floor, "ms", "2 fsync + verify + sign")
        .ratio(p99 / round_floor, "x")
        .target("p99 <= 10 ms", p99 <= 10.0)
        .note(fed_note(
            &fl,
            plan.fed_nodes,
            f(&fb, "concurrent_fsyncs_p50_us")? / 1e3,
            f(&fb, "concurrent_fsyncs_p99_us")? / 1e3,
        )),
    );
    let idle: Vec<f64> = fb["idle_cpu"]
        .as_array()
        .context("no idle_cpu")?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let idle_max = idle.iter().copied().fold(0.0, f64::max) * 100.0;
    rows.push(
        Row::measured(
            format!(
                "idle CPU per node, max of {} over {} s",
                idle.len(),
                plan.fed_idle_secs
            ),
            idle_max,
            "% of a core",
        )
        .target("< 1 %", idle_max < 1.0)
        .note("USER_HZ resolution: 10 ms of CPU"),
    );

    // --- check from a bundle: time and peak memory of the real `quorate check`.
    say(&format!(
        "quorate bench-check: {} packages x 5 jurisdictions",
        plan.check_packages
    ));
    let cdir = dir.join("check");
    let _ = std::fs::remove_dir_all(&cdir);
    ok(
        run(
            &bins.cli,
            &[
                "bench-check",
                "--packages",
                &plan.check_packages.to_string(),
                "--runs",
                "1",
                "--dir",
                path_str(&cdir)?,
            ],
        )?,
        "quorate bench-check",
    )?;
    // Both bundle layouts, runs interleaved so that both see the same machine.
    // (directory, row label before and after the input's size)
    let layouts = [
        ("bundle", "check of", " from a bundle"),
        ("bundle-packed", "check from a packed bundle of", ""),
    ];
    let mut times = vec![Vec::new(); layouts.len()];
    let mut peak = 0;
    for _ in 0..plan.check_runs.max(1) {
        for (i, (sub, _, _)) in layouts.iter().enumerate() {
            let mut cmd = Command::new(&bins.cli);
            cmd.arg("check")
                .arg(cdir.join("Cargo.lock"))
                .arg("--policy")
                .arg(cdir.join("quorate.policy"))
                .arg("--bundle")
                .arg(cdir.join(sub))
                .args(["--now", "1800000000"]);
            let (wall, rss, _) = procs::timed_child(cmd)?;
            times[i].push(wall);
            peak = peak.max(rss);
        }
    }
    let atts = (plan.check_packages * 5) as f64;
    let cfloor = atts / fl.verify_all * 1e3;
    let cfloor_b = atts / fl.batch_all * 1e3;
    for ((_, what, from), mut t) in layouts.iter().zip(times) {
        t.sort();
        let check_ms = t[t.len() / 2].as_secs_f64() * 1e3;
        rows.push(
            Row::measured(
                format!(
                    "{what} {} packages x 5 jurisdictions{from} (median of {})",
                    plan.check_packages,
                    t.len()
                ),
                check_ms,
                "ms",
            )
            .floor(
                cfloor,
                "ms",
                "verify_strict of every attestation, all cores",
            )
            .ratio(check_ms / cfloor, "x")
            .target("<= 1.2x", check_ms <= 1.2 * cfloor)
            .note(format!(
                "{:.2}x the batched-verify floor ({cfloor_b:.1} ms)",
                check_ms / cfloor_b
            )),
        );
    }
    rows.push(
        Row::measured(
            format!(
                "check peak memory (RSS), same input ({} packages, either layout)",
                plan.check_packages
            ),
            peak as f64 / 1048576.0,
            "MiB",
        )
        .target("< 50 MiB", peak < 50 * 1024 * 1024),
    );
    let _ = std::fs::remove_dir_all(&cdir);

    // --- cold mirror: the real client against real nodes.
    say(&format!(
        "cold mirror: {} logs x {} entries, quorate mirror from an empty cache",
        plan.mirror.0, plan.mirror.1
    ));
    rows.extend(mirror::rows(&bins, &fl, dir, plan.mirror.0, plan.mirror.1)?);

    // --- memory soaks of the long-running processes at half their peak rates.
    let rate = (aps / 2.0).max(100.0);
    say(&format!(
        "memory soak: quorate-node serve, {:.0} s at {rate:.0} entries/s over HTTP",
        plan.soak.as_secs_f64()
    ));
    let sdir = dir.join("soak");
    let _ = std::fs::remove_dir_all(&sdir);
    let key = procs::init_log(&bins.node, &sdir, [0x33; 32])?;
    let serve = procs::Serve::start(&bins.node, &sdir, &dir.join("soak-serve.log"))?;
    let s = soak::node(&serve, &key, rate, plan.soak)?;
    drop(serve);
    let _ = std::fs::remove_dir_all(&sdir);
    rows.push(soak::row("node", "entries", &s));
    let wrate = (witness_peak / 2.0).max(50.0);
    say(&format!(
        "memory soak: quorate-witness serve, {:.0} s at {wrate:.0} add-checkpoint/s over HTTP, {} logs",
        plan.soak.as_secs_f64(),
        soak::WITNESS_LOGS
    ));
    let s = soak::witness(&witness_bin, &dir.join("soak-witness"), wrate, plan.soak)?;
    rows.push(soak::row("witness", "add-checkpoint", &s));
    Ok((fl, rows))
}

/// The floors as lines of text.
/// What bounds the federation row's tail on this machine: a round waits for the slowest of
/// its `nodes - 1` witness commits, and all the nodes' fsyncs queue on one disk.
fn fed_note(fl: &Floors, nodes: usize, conc_p50: f64, conc_p99: f64) -> String {
    let p99 = fl.fsync_p99.as_secs_f64() * 1e3;
    let mut n = format!(
        "fsync p99 {p99:.1} ms on this disk, shared by the {nodes} nodes; {} concurrent \
         fsyncs there (one round's witness commits) p50 {conc_p50:.1} ms, p99 {conc_p99:.1} ms",
        nodes.saturating_sub(1)
    );
    if p99 > 10.0 {
        n.push_str(&format!(
            ": p99 <= 10 ms is out of reach here (one slow fsync of the {} is enough)",
            nodes.saturating_sub(1)
        ));
    }
    n
}

pub fn floors_text(fl: &Floors) -> String {
    format!(
        "floors on {} cores: verify_strict {:.0}/s (1 core) {:.0}/s (all); verify_batch({}) \
         {:.0}/s (1 core) {:.0}/s (all); sign {:.0}/s (1 core); SHA-256 {:.0} node hashes/s, \
         {:.0} MB/s (1 core); fsync 4 KiB p50 {:.3} ms p99 {:.3} ms ({:.0} fsyncs/s)",
        fl.cores,
        fl.verify_1,
        fl.verify_all,
        floors::BATCH,
        fl.batch_1,
        fl.batch_all,
        fl.sign_1,
        fl.sha256_node_1,
        fl.sha256_mb_s,
        fl.fsync_p50.as_secs_f64() * 1e3,
        fl.fsync_p99.as_secs_f64() * 1e3,
        fl.fsyncs_per_sec()
    )
}

/// `quorate-testnet bench`: runs the plan, prints the table; the full run also writes
/// `out` (default `bench/results.md`).
pub fn main(quick: bool, dir: Option<PathBuf>, out: Option<PathBuf>) -> Result<bool> {
    let plan = Plan::new(quick);
    let t = Instant::now();
    let tmp;
    let dir = match dir {
        Some(d) => d,
        None => {
            // The current directory's filesystem, not /tmp (often tmpfs, where fsync is free).
            tmp = tempfile::Builder::new()
                .prefix("quorate-bench.")
                .tempdir_in(".")?;
            tmp.path().to_path_buf()
        }
    };
    let load_before = load_average();
    let (fl, rows) = run_all(&plan, &dir)?;
    let load_after = load_average();
    let mach = machine(&dir);
    let fls = floors_text(&fl);
    let tab = table(&rows);
    println!("{mach}\n{fls}\n\n{tab}");
    println!(
        "{} run in {:.0} s",
        if quick { "quick" } else { "full" },
        t.elapsed().as_secs_f64()
    );
    let out = match (out, quick) {
        (Some(o), _) => Some(o),
        (None, false) => Some(PathBuf::from("bench/results.md")),
        (None, true) => None,
    };
    if let Some(o) = out {
        if let Some(p) = o.parent() {
            std::fs::create_dir_all(p)?;
        }
        let doc = format!(
            "# `quorate-testnet bench{}` results\n\nMachine: {mach}.\n\n{fls}.\n\n{tab}\n\
             Run took {:.0} s at commit {}; load average (1 min) {} before the run and {} \
             after it (the run itself keeps up to all cores busy; compare the ratios, not \
             the absolute figures, across machines). Every row that misses its target has a paragraph in \
             [bench/README.md](README.md) saying what stops it, with a profile where the \
             time goes to CPU. Plan: {plan:?}\n",
            if quick { " --quick" } else { "" },
            t.elapsed().as_secs_f64(),
            commit(),
            load_before.map_or("unknown".into(), |l| format!("{l:.2}")),
            load_after.map_or("unknown".into(), |l| format!("{l:.2}")),
        );
        std::fs::write(&o, doc).with_context(|| format!("writing {}", o.display()))?;
        eprintln!("bench: wrote {}", o.display());
    }
    Ok(true)
}

pub use soak::OnlyPlan;

/// `quorate-testnet soak`: only the memory soaks, each row printed as in the bench table.
pub fn soak_only(plan: &OnlyPlan, dir: Option<PathBuf>) -> Result<bool> {
    let tmp;
    let dir = match dir {
        Some(d) => d,
        None => {
            tmp = tempfile::Builder::new()
                .prefix("quorate-soak.")
                .tempdir_in(".")?;
            tmp.path().to_path_buf()
        }
    };
    let rows = soak::only(plan, &dir)?;
    println!("{}\n\n{}", machine(&dir), table(&rows));
    Ok(rows.iter().all(|r| r.met != Some(false)))
}
