//! Cold mirror: `logs` real `quorate-node serve` processes, each serving a log of
//! `entries` signed attestations, and the real `quorate mirror` timed from an empty cache
//! against a policy naming every log.
//!
//! The stores are built through the node's own append path ([`Store::append_batch`], what
//! the sequencer commits with, signing a checkpoint per batch) in large batches, as
//! `quorate-node bench` builds its large store, so building 100k entries takes seconds
//! rather than the minutes the HTTP submission path would. The entries are real, varied
//! attestations (distinct packages, versions, digests, reviewers, signatures), so their
//! compressibility is that of a real log's, not of one template repeated.
//!
//! Bytes on the wire are counted at the nodes: the growth of each node's `wchar`
//! (`/proc/PID/io`, every byte its `write`/`writev` calls handed to the kernel) during
//! the mirror, i.e. status lines, headers, chunk framing and bodies as sent, after any
//! `Content-Encoding`. A node serving reads writes nothing else (its store is only read,
//! its log level is `warn`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use ed25519_dalek::SigningKey;
use quorate_node::datadir::DataDir;
use quorate_node::store::{NewEntry, Store};
use quorate_proto::attestation::{
    self, Attestation, Digest, Evidence, Reviewer, ReviewerKind, Scope, Verdict,
};
use sha2::{Digest as _, Sha256};

use super::procs::{self, Serve};

/// Entries appended (and checkpointed) per store transaction while building.
const BUILD_BATCH: usize = 20_000;

/// What one cold mirror measured.
#[derive(Debug, Clone)]
pub struct ColdMirror {
    /// Wall time of `quorate mirror` (spawn to exit).
    pub secs: f64,
    /// Sum of the entries' byte lengths over every log.
    pub entry_bytes: u64,
    /// Bytes the nodes wrote to their sockets while the mirror ran.
    pub wire_bytes: u64,
    /// Bytes the mirror holds in its cache afterwards (tiles and bundles, decoded).
    pub cache_bytes: u64,
    /// Peak RSS of the `quorate mirror` process.
    pub client_peak_rss: u64,
    /// CPU time of the client, and of all the nodes together, during the mirror.
    pub client_cpu: Duration,
    pub node_cpu: Duration,
    /// Seconds spent building the stores (signing and appending), not part of `secs`.
    pub build_secs: f64,
}

/// A signed envelope with the package and version it is indexed under.
type Signed = (Vec<u8>, String, String);

/// A realistic attestation: the `i`-th of log `log`, signed by one of `reviewers`.
fn envelope(log: usize, i: u64, reviewers: &[(SigningKey, String)]) -> Result<Signed> {
    const WORDS: [&str; 16] = [
        "serde", "tokio", "rand", "regex", "hyper", "clap", "log", "syn", "quote", "bytes",
        "futures", "chrono", "uuid", "url", "time", "ring",
    ];
    const SUFFIXES: [&str; 8] = [
        "", "-core", "-derive", "-util", "-macros", "-sys", "-impl", "2",
    ];
    let (key, name) = &reviewers[(i as usize) % reviewers.len()];
    let w = WORDS[(i as usize / 7) % WORDS.len()];
    let package = format!("{w}{}-{}", SUFFIXES[(i as usize) % SUFFIXES.len()], i / 128);
    let version = format!("{}.{}.{}", i % 4, (i / 4) % 40, (i / 160) % 25);
    let digest: [u8; 32] = Sha256::digest(format!("{log}/{package}@{version}")).into();
    let notes = match i % 5 {
        0 => format!("Read every file of {package} {version}; no unsafe code, no build script."),
        1 => format!("Reviewed the diff to {version}: parsing changes only, tests added."),
        _ => format!(
            "Full review of {package}: dependencies pinned, no network access at build time."
        ),
    };
    let att = Attestation {
        artifacts: vec![],
        scope: Some(Scope::Full),
        evidence: Some(Evidence::SourceReview),
        reveal: None,
        ecosystem: "cargo".into(),
        package: package.clone(),
        version: version.clone(),
        digest: Digest::Sha256(digest),
        delta_from: None,
        criteria: vec![
            if i.is_multiple_of(3) {
                "safe-to-run"
            } else {
                "safe-to-deploy"
            }
            .into(),
        ],
        verdict: Verdict::Certify,
        reviewer: Reviewer {
            kind: ReviewerKind::Human,
            name: name.clone(),
            public_key: key.verifying_key().to_bytes(),
        },
        organisation: format!("Review Office {log}"),
        time: 1_760_000_000 + i * 37,
        notes,
        links: if i.is_multiple_of(4) {
            vec![format!("https://reviews{log}.example/{i}")]
        } else {
            vec![]
        },
        supersedes: None,
    };
    Ok((attestation::sign(&att, key)?, package, version))
}

/// Signs `lo..hi` on every core.
fn sign_range(
    log: usize,
    lo: u64,
    hi: u64,
    reviewers: &[(SigningKey, String)],
) -> Result<Vec<Signed>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let chunk = (hi - lo).div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let hs: Vec<_> = (lo..hi)
            .step_by(chunk as usize)
            .map(|a| {
                s.spawn(move || {
                    (a..(a + chunk).min(hi))
                        .map(|i| envelope(log, i, reviewers))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity((hi - lo) as usize);
        for h in hs {
            out.extend(h.join().map_err(|_| anyhow::anyhow!("signer panicked"))??);
        }
        Ok(out)
    })
}

/// Creates a log in `data` and appends `n` entries through the store's append path;
/// returns its vkey and the sum of its entries' lengths.
fn build_log(data: &Path, origin: &str, log: usize, n: u64) -> Result<(String, u64)> {
    let dd = DataDir::new(data);
    let vkey = dd.init_with_seed(origin, [40 + log as u8; 32])?;
    let key = dd.load_key()?;
    let store = Store::open(dd.store_path()).context("opening the new store")?;
    let reviewers: Vec<(SigningKey, String)> = (0..8u8)
        .map(|r| {
            (
                SigningKey::from_bytes(&[r.wrapping_mul(13).wrapping_add(log as u8 + 1); 32]),
                format!("Reviewer {r} of office {log}"),
            )
        })
        .collect();
    let mut bytes = 0u64;
    let mut done = 0u64;
    while done < n {
        let hi = (done + BUILD_BATCH as u64).min(n);
        let envs = sign_range(log, done, hi, &reviewers)?;
        let batch = envs
            .into_iter()
            .map(|(e, package, version)| {
                bytes += e.len() as u64;
                Ok(NewEntry::new(e, Some(("cargo", &package, &version)))?)
            })
            .collect::<Result<Vec<_>>>()?;
        store.append_batch(batch, |size, root| key.sign_checkpoint(size, root))?;
        done = hi;
    }
    ensure!(store.size()? == n, "{origin}: store holds the wrong size");
    Ok((vkey.trim().to_owned(), bytes))
}

fn dir_bytes(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// `wchar` of process `pid` (`/proc/PID/io`).
fn wchar(pid: u32) -> Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/io"))
        .with_context(|| format!("reading /proc/{pid}/io"))?;
    s.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no wchar in /proc/{pid}/io"))
}

/// Waits until every node used under 5 % of a core over half a second.
fn wait_idle(serves: &[Serve]) -> Result<()> {
    let started = std::time::Instant::now();
    loop {
        let a = serves
            .iter()
            .map(|s| procs::cpu_time(s.pid()))
            .collect::<Result<Vec<_>>>()?;
        std::thread::sleep(Duration::from_millis(500));
        let busy = serves
            .iter()
            .zip(a)
            .map(|(s, a)| Ok(procs::cpu_time(s.pid())?.saturating_sub(a)))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .any(|d| d > Duration::from_millis(25));
        if !busy {
            return Ok(());
        }
        ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the nodes never went idle after starting"
        );
    }
}

/// Builds `logs` logs of `entries` entries under `dir`, serves each from its own
/// `quorate-node serve`, and times `quorate mirror` (`cli`) into an empty cache.
pub fn cold_mirror(
    node: &Path,
    cli: &Path,
    dir: &Path,
    logs: usize,
    entries: u64,
) -> Result<ColdMirror> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let started = std::time::Instant::now();
    let mut policy = String::from("quorum none\n");
    let mut entry_bytes = 0;
    let mut datas: Vec<PathBuf> = Vec::new();
    for l in 0..logs {
        let data = dir.join(format!("log{l}"));
        let origin = format!("bench.example/mirror{l}");
        let (vkey, b) = build_log(&data, &origin, l, entries)?;
        entry_bytes += b;
        datas.push(data);
        policy.push_str(&format!("review-log J{l} {vkey} URL{l}\n"));
    }
    let build_secs = started.elapsed().as_secs_f64();
    let mut serves = Vec::new();
    for (l, data) in datas.iter().enumerate() {
        let s = Serve::start(node, data, &dir.join(format!("serve{l}.log")))?;
        policy = policy.replace(&format!(" URL{l}\n"), &format!(" {}\n", s.url));
        serves.push(s);
    }
    policy.push_str("review-quorum 1\n");
    let policy_path = dir.join("quorate.policy");
    std::fs::write(&policy_path, &policy)?;
    let cache = dir.join("cache");

    // A node that has just started indexes its whole log for its web pages (decoding
    // every entry); the mirror is timed against nodes that are done with that, as a
    // client meets a serving log.
    wait_idle(&serves)?;
    let before: Vec<u64> = serves
        .iter()
        .map(|s| wchar(s.pid()))
        .collect::<Result<_>>()?;
    let cpu_before = serves
        .iter()
        .map(|s| procs::cpu_time(s.pid()))
        .collect::<Result<Vec<_>>>()?;
    let mut cmd = Command::new(cli);
    cmd.arg("mirror")
        .arg("--policy")
        .arg(&policy_path)
        .arg("--cache")
        .arg(&cache)
        .arg("--json");
    let (wall, rss, client_cpu, out) = procs::timed_child_cpu(cmd)?;
    let after: Vec<u64> = serves
        .iter()
        .map(|s| wchar(s.pid()))
        .collect::<Result<_>>()?;
    let mut node_cpu = Duration::ZERO;
    for (s, b) in serves.iter().zip(cpu_before) {
        node_cpu += procs::cpu_time(s.pid())?.saturating_sub(b);
    }
    drop(serves);

    let doc: serde_json::Value =
        serde_json::from_str(&out).with_context(|| format!("quorate mirror --json: {out}"))?;
    let got = doc["logs"].as_array().context("mirror printed no logs")?;
    ensure!(got.len() == logs, "mirror reported {} logs", got.len());
    for l in got {
        if l["state"] != "mirrored" || l["entries"].as_u64() != Some(entries) {
            bail!("a log was not mirrored whole: {l}");
        }
    }
    let wire_bytes = before.iter().zip(&after).map(|(b, a)| a - b).sum();
    let cache_bytes = dir_bytes(&cache);
    let _ = std::fs::remove_dir_all(dir);
    Ok(ColdMirror {
        secs: wall.as_secs_f64(),
        entry_bytes,
        wire_bytes,
        cache_bytes,
        client_peak_rss: rss,
        client_cpu,
        node_cpu,
        build_secs,
    })
}

/// The table's rows for a cold mirror of `logs` x `entries`.
pub fn rows(
    bins: &crate::fed::Bins,
    fl: &super::Floors,
    dir: &Path,
    logs: usize,
    entries: u64,
) -> Result<Vec<super::Row>> {
    use super::Row;
    let m = cold_mirror(&bins.node, &bins.cli, &dir.join("mirror"), logs, entries)?;
    let mib = |b: u64| b as f64 / 1048576.0;
    // What a mirror cannot avoid: hashing every entry once (its leaf hash), on one core
    // per log at most; the rest (reading the store, compressing, copying, writing the
    // cache) is overhead.
    let floor = m.entry_bytes as f64 / (fl.sha256_mb_s * 1e6) / (logs.min(fl.cores).max(1)) as f64;
    let ratio = m.wire_bytes as f64 / m.entry_bytes.max(1) as f64;
    Ok(vec![
        Row::measured(
            format!(
                "cold mirror of {logs} logs x {entries} entries, loopback (`quorate mirror`, empty cache)"
            ),
            m.secs,
            "s",
        )
        .floor(
            floor * 1e3,
            "ms",
            "SHA-256 of every entry, one core per log",
        )
        .ratio(m.secs / floor, "x")
        .target("< 10 s", m.secs < 10.0)
        .note(format!(
            "CPU: client {:.1} s, nodes {:.1} s, on {} cores; client peak RSS {:.0} MiB; \
             stores built in {:.1} s through the append path",
            m.client_cpu.as_secs_f64(),
            m.node_cpu.as_secs_f64(),
            fl.cores,
            mib(m.client_peak_rss),
            m.build_secs
        )),
        Row::measured(
            format!("cold mirror bytes on the wire, {logs} logs x {entries} entries"),
            mib(m.wire_bytes),
            "MiB",
        )
        .floor(mib(m.entry_bytes), "MiB", "the entries' size")
        .ratio(ratio, "x")
        .target("<= 1.1x the entries' size", ratio <= 1.1)
        .note(format!(
            "counted at the nodes: socket writes (/proc/PID/io wchar); decoded into {:.1} MiB \
             of tiles and bundles in the cache",
            mib(m.cache_bytes)
        )),
    ])
}
