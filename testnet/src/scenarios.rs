//! Attacks on a real federation: each starts its own nodes in a temp dir, attacks them,
//! and reports what happened, how fast it was detected, and whether the client refused.

use crate::fed::{Bins, Fed, lockfile, parse_lock};

mod busy_log;
mod delta_bomb;
mod evidence;
mod evidence_flood;
mod forged_witness_line;
mod gossip_framing;
mod hostile_size;
mod proxy;
mod shared_reviewer_key;
use anyhow::{Result, bail};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const NAMES: &[&str] = &[
    "forged-review",
    "minority-collusion",
    "crash",
    "equivocation",
    "replay",
    "partition",
    "rewrite",
    "shared-reviewer-key",
    "delta-bomb",
    "gossip-framing",
    "busy-log",
    "evidence-flood",
    "hostile-size",
    "forged-witness-line",
    "xz",
    "sealed",
];

pub struct Outcome {
    pub pass: bool,
    pub summary: String,
    pub took: Duration,
}

pub fn run_named(name: &str) -> Result<bool> {
    if name == "list" {
        for n in NAMES {
            println!("{n}");
        }
        return Ok(true);
    }
    if name == "all" {
        let mut all = true;
        for n in NAMES {
            all &= run_one(n, &Bins::locate()?);
        }
        return Ok(all);
    }
    if !NAMES.contains(&name) {
        bail!("unknown scenario {name:?}; one of: {}", NAMES.join(", "));
    }
    Ok(run_one(name, &Bins::locate()?))
}

/// Runs one scenario and prints its PASS/FAIL line.
pub fn run_one(name: &str, bins: &Bins) -> bool {
    println!("== scenario {name}");
    let t = Instant::now();
    let r = match name {
        "forged-review" => forged_review(bins),
        "minority-collusion" => minority_collusion(bins),
        "crash" => crash(bins),
        "equivocation" => equivocation(bins),
        "replay" => replay(bins),
        "partition" => partition(bins),
        "rewrite" => rewrite(bins),
        "shared-reviewer-key" => shared_reviewer_key::run(bins),
        "delta-bomb" => delta_bomb::run(bins),
        "gossip-framing" => gossip_framing::run(bins),
        "busy-log" => busy_log::busy_log(bins),
        "evidence-flood" => evidence_flood::evidence_flood(bins),
        "hostile-size" => hostile_size::run(bins),
        "forged-witness-line" => forged_witness_line::run(bins),
        "xz" => evidence::xz(bins),
        "sealed" => evidence::sealed(bins),
        _ => unreachable!(),
    };
    match r {
        Ok(o) => {
            println!(
                "{} {name}: {} ({:.1}s)",
                if o.pass { "PASS" } else { "FAIL" },
                o.summary,
                o.took.max(t.elapsed()).as_secs_f64()
            );
            o.pass
        }
        Err(e) => {
            println!("FAIL {name}: error: {e:#}");
            false
        }
    }
}

fn outcome(pass: bool, summary: String) -> Result<Outcome> {
    Ok(Outcome {
        pass,
        summary,
        took: Duration::ZERO,
    })
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// A running federation of `js`, every checkpoint cosigned by all peers.
fn federation(bins: &Bins, js: &[&str]) -> Result<Fed> {
    let mut fed = Fed::create(None, js, bins.clone())?;
    fed.start_all()?;
    let d = fed.wait_all_cosigned(60)?;
    fed.say(format!(
        "{} nodes up ({}), all checkpoints cosigned by every peer after {}",
        js.len(),
        js.join(", "),
        ms(d)
    ));
    Ok(fed)
}

/// Real crates.io packages (name, version, checksum) from this project's Cargo.lock.
pub fn own_packages() -> Vec<(String, String, String)> {
    parse_lock(include_str!("../../Cargo.lock"))
}

fn out_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn first_line_with(text: &str, pat: &str) -> String {
    let l = text.lines().find(|l| l.contains(pat)).unwrap_or("").trim();
    // Drop the temp-dir file name `quorate submit` puts first.
    l.split_once("not logged: ")
        .map_or(l, |(_, r)| r)
        .to_string()
}

fn files_dir(fed: &Fed, name: &str) -> Result<PathBuf> {
    let d = fed.root.join(name);
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

const NOTE: &str = "DEMO DATA: generated verdict, not a real review";

fn forged_review(bins: &Bins) -> Result<Outcome> {
    let fed = federation(bins, &["DE", "FR", "JP"])?;
    let (name, ver, sum) = own_packages().remove(0);
    let dir = files_dir(&fed, "att")?;
    let before = fed.size(0);
    // 1. A key DE never registered.
    crate::fed::ok(
        fed.q(&[
            "key",
            "generate",
            "--name",
            "mallory",
            "--out",
            dir.to_str().unwrap(),
        ])?,
        "key generate",
    )?;
    let forged = fed.review(&dir.join("mallory.key"), &name, &ver, &sum, NOTE, &dir)?;
    let t = Instant::now();
    let o1 = fed.submit(0, &[forged])?;
    let d1 = t.elapsed();
    let r1 = !o1.status.success() && out_text(&o1).contains("unknown_reviewer");
    fed.say(format!(
        "unregistered key -> DE: {} in {}",
        first_line_with(&out_text(&o1), "HTTP"),
        ms(d1)
    ));
    // 2. FR's (registered, real) reviewer signs, submitted to DE's log as if DE's review.
    let wrong = fed.review(
        &fed.nodes[1].inst.reviewer_key,
        &name,
        &ver,
        &sum,
        NOTE,
        &dir,
    )?;
    let t = Instant::now();
    let o2 = fed.submit(0, &[wrong])?;
    let d2 = t.elapsed();
    let r2 = !o2.status.success() && out_text(&o2).contains("unknown_reviewer");
    fed.say(format!(
        "FR's reviewer key -> DE's log: {} in {}",
        first_line_with(&out_text(&o2), "HTTP"),
        ms(d2)
    ));
    // 3. DE's real review, one byte changed after signing (verdict tampered in transit).
    let good = fed.review(
        &fed.nodes[0].inst.reviewer_key,
        &name,
        &ver,
        &sum,
        NOTE,
        &dir,
    )?;
    let mut bytes = std::fs::read(&good)?;
    // Change the verdict's notes ("DEMO" -> "DEMX"): signed content, edited after signing.
    let k = bytes
        .windows(4)
        .position(|w| w == b"DEMO")
        .map_or(bytes.len() / 2, |p| p + 3);
    bytes[k] = b'X';
    let tampered = dir.join("tampered.att");
    std::fs::write(&tampered, bytes)?;
    let o3 = fed.submit(0, &[tampered])?;
    let r3 = !o3.status.success();
    fed.say(format!(
        "DE's review with its notes edited after signing -> DE: {}",
        first_line_with(&out_text(&o3), "HTTP")
    ));
    let unchanged = fed.size(0) == before;
    fed.say(format!(
        "DE's log size unchanged: {unchanged} ({:?})",
        fed.size(0)
    ));
    outcome(
        r1 && r2 && r3 && unchanged,
        format!(
            "unregistered key refused ({}), wrong reviewer refused ({}), tampered refused, nothing logged",
            ms(d1),
            ms(d2)
        ),
    )
}

fn minority_collusion(bins: &Bins) -> Result<Outcome> {
    // 3 jurisdictions, quorum 2: one captured institute (k-1) certifies a backdoor.
    let fed = federation(bins, &["DE", "FR", "JP"])?;
    let (name, ver, sum) = own_packages().remove(1);
    let backdoored = "bad0c0de".repeat(8);
    let dir = files_dir(&fed, "att")?;
    for i in 0..3 {
        let f = fed.review(
            &fed.nodes[i].inst.reviewer_key,
            &name,
            &ver,
            &sum,
            NOTE,
            &dir,
        )?;
        crate::fed::ok(fed.submit(i, &[f])?, "submit")?;
    }
    let evil = fed.review(
        &fed.nodes[2].inst.reviewer_key,
        &name,
        &ver,
        &backdoored,
        "captured institute certifies a backdoored artifact",
        &dir,
    )?;
    crate::fed::ok(fed.submit(2, &[evil])?, "submit")?;
    fed.say(format!(
        "DE, FR, JP certify {name} {ver} (real digest); JP also certifies digest {}…",
        &backdoored[..12]
    ));
    for i in 0..3 {
        fed.wait_cosigned(i, 2, 1, 30)?;
    }
    let policy = fed.root.join("quorum2.policy");
    fed.policy(&[0, 1, 2], 2, 2, &policy)?;
    let cache = fed.root.join("cache");
    let check = |digest: &str, file: &str| -> Result<(bool, String, Duration)> {
        let lock = fed.root.join(file);
        std::fs::write(
            &lock,
            lockfile(&[(name.clone(), ver.clone(), digest.to_string())]),
        )?;
        let t = Instant::now();
        let o = fed.q(&[
            "check",
            lock.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
        ])?;
        Ok((o.status.success(), out_text(&o), t.elapsed()))
    };
    let (honest_ok, _, _) = check(&sum, "honest.lock")?;
    fed.say(format!("genuine artifact: check passes = {honest_ok}"));
    let (bad_ok, text, d) = check(&backdoored, "backdoored.lock")?;
    fed.say(format!(
        "backdoored artifact: {}",
        first_line_with(&text, &name)
    ));
    outcome(
        honest_ok && !bad_ok,
        format!(
            "1 of 3 jurisdictions (k-1) certifying a backdoor: quorate check refused in {}",
            ms(d)
        ),
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Every institute of a 3-node `fed` certifies `own_packages()[k]` in its own log; waits
/// until each of those checkpoints is cosigned by both peers. Returns the package.
fn certified_by_all(
    fed: &Fed,
    k: usize,
    dir: &std::path::Path,
) -> Result<(String, String, String)> {
    let (name, ver, sum) = own_packages().remove(k);
    for i in 0..3 {
        let f = fed.review(
            &fed.nodes[i].inst.reviewer_key,
            &name,
            &ver,
            &sum,
            NOTE,
            dir,
        )?;
        crate::fed::ok(fed.submit(i, &[f])?, "submit")?;
    }
    for i in 0..3 {
        fed.wait_cosigned(i, 2, 1, 30)?;
    }
    Ok((name, ver, sum))
}

fn replay(bins: &Bins) -> Result<Outcome> {
    let fed = federation(bins, &["DE", "FR", "JP"])?;
    let dir = files_dir(&fed, "att")?;
    let (name, ver, sum) = certified_by_all(&fed, 2, &dir)?;
    let policy = fed.root.join("fresh.policy");
    fed.policy(&[0, 1, 2], 2, 2, &policy)?;
    let mut p = std::fs::read_to_string(&policy)?;
    p.push_str("max-checkpoint-age 600\n");
    std::fs::write(&policy, p)?;
    let lock = fed.root.join("Cargo.lock");
    std::fs::write(&lock, lockfile(&[(name.clone(), ver, sum)]))?;
    let bundle = fed.root.join("bundle");
    let (l, pol, b) = (
        lock.to_str().unwrap(),
        policy.to_str().unwrap(),
        bundle.to_str().unwrap(),
    );
    let cache = fed.root.join("cache");
    crate::fed::ok(
        fed.q(&[
            "bundle",
            l,
            "--out",
            b,
            "--policy",
            pol,
            "--cache",
            cache.to_str().unwrap(),
        ])?,
        "quorate bundle",
    )?;
    let now = fed.q(&["check", l, "--policy", pol, "--bundle", b])?;
    fed.say(format!(
        "bundle checked now (max-checkpoint-age 600): exit {}",
        now.status.code().unwrap_or(-1)
    ));
    let later = (unix_now() + 3600).to_string();
    let t = Instant::now();
    let old = fed.q(&["check", l, "--policy", pol, "--bundle", b, "--now", &later])?;
    let d = t.elapsed();
    let text = out_text(&old);
    fed.say(format!(
        "same bundle replayed 1 h later: exit {}: {}",
        old.status.code().unwrap_or(-1),
        first_line_with(&text, "stale")
    ));
    outcome(
        now.status.success() && old.status.code() == Some(1) && text.contains("stale"),
        format!(
            "fresh bundle accepted; replayed 1 h later refused as stale in {}",
            ms(d)
        ),
    )
}

fn crash(bins: &Bins) -> Result<Outcome> {
    let mut fed = federation(bins, &["DE", "FR", "JP"])?;
    let dir = files_dir(&fed, "att")?;
    let key = fed.nodes[0].inst.reviewer_key.clone();
    let n = 24;
    let mut files = Vec::new();
    for i in 0..n {
        files.push(fed.review(
            &key,
            "crash-test",
            &format!("0.0.{i}"),
            &format!("{:064x}", i + 1),
            NOTE,
            &dir,
        )?);
    }
    let (cli, url, vkey) = (
        fed.bins.cli.clone(),
        fed.url(0),
        fed.nodes[0].inst.log_vkey.clone(),
    );
    let fs2 = files.clone();
    let submitter = std::thread::spawn(move || {
        let mut acked: Vec<(PathBuf, u64)> = Vec::new();
        for f in fs2 {
            let o = std::process::Command::new(&cli)
                .args(["submit", "--node", &url, "--log", &vkey])
                .arg(&f)
                .output();
            if let Ok(o) = o
                && o.status.success()
            {
                let s = String::from_utf8_lossy(&o.stdout);
                if let Some(ix) = s
                    .split(" at index ")
                    .nth(1)
                    .and_then(|r| r.split(' ').next())
                    .and_then(|x| x.parse().ok())
                {
                    acked.push((f, ix));
                }
            }
            std::thread::sleep(Duration::from_millis(15));
        }
        acked
    });
    let mut kills = 0;
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(250));
        fed.kill(0);
        kills += 1;
        std::thread::sleep(Duration::from_millis(100));
        fed.start(0)?;
    }
    let acked = submitter.join().expect("submitter thread");
    fed.say(format!(
        "SIGKILLed DE {kills} times during {n} submissions; {} acknowledged",
        acked.len()
    ));
    // Every acknowledged entry is still at its index: resubmitting it returns
    // "already logged at index N" with an inclusion proof against the current checkpoint.
    let mut missing = 0;
    for (f, ix) in &acked {
        let o = fed.submit(0, std::slice::from_ref(f))?;
        let s = String::from_utf8_lossy(&o.stdout);
        if !s.contains(&format!("already logged at index {ix} ")) {
            missing += 1;
            fed.say(format!("LOST: {} (acked at {ix}): {s}", f.display()));
        }
    }
    // Checkpoints consistent: both peers' witnesses (which check a consistency proof
    // from the size they last cosigned) cosign DE's final checkpoint, and no node holds
    // equivocation evidence.
    let size = fed.size(0).unwrap_or(0);
    let t = Instant::now();
    fed.wait_cosigned(0, 2, size, 30)?;
    let evidence: usize = (0..3).map(|i| fed.equivocations(i).len()).sum();
    fed.say(format!(
        "DE size {size}, cosigned again by FR and JP after {}; evidence held: {evidence}",
        ms(t.elapsed())
    ));
    outcome(
        missing == 0 && evidence == 0 && !acked.is_empty(),
        format!(
            "{kills} SIGKILLs, {} acked entries all present, checkpoints consistent (re-cosigned)",
            acked.len()
        ),
    )
}

fn partition(bins: &Bins) -> Result<Outcome> {
    let mut fed = federation(bins, &["DE", "FR", "JP"])?;
    let dir = files_dir(&fed, "att")?;
    fed.stop(2);
    fed.say("JP stopped (partitioned away)");
    let pk = own_packages();
    for (i, (name, ver, sum)) in pk.iter().take(3).enumerate() {
        for n in 0..2 {
            let f = fed.review(&fed.nodes[n].inst.reviewer_key, name, ver, sum, NOTE, &dir)?;
            crate::fed::ok(fed.submit(n, &[f])?, "submit")?;
        }
        let _ = i;
    }
    let sizes: Vec<u64> = (0..2).map(|i| fed.size(i).unwrap_or(0)).collect();
    std::thread::sleep(Duration::from_millis(500));
    let cos: Vec<usize> = (0..2).map(|i| fed.cosignatures(i).unwrap().0).collect();
    fed.say(format!(
        "DE, FR advanced to sizes {sizes:?} with {cos:?} cosignatures each (JP missing)"
    ));
    let t = Instant::now();
    fed.start(2)?;
    fed.wait_cosigned(0, 2, sizes[0], 60)?;
    fed.wait_cosigned(1, 2, sizes[1], 60)?;
    fed.wait_cosigned(2, 2, 0, 60)?;
    let d = t.elapsed();
    fed.say(format!(
        "JP restarted: caught up, DE and FR carry its cosignature again, JP's log cosigned, after {}",
        ms(d)
    ));
    outcome(
        cos.iter().all(|&c| c == 1),
        format!(
            "restarted node caught up and resumed witnessing in {}",
            ms(d)
        ),
    )
}

fn equivocation(bins: &Bins) -> Result<Outcome> {
    let mut fed = federation(bins, &["DE", "FR", "JP", "BR"])?;
    let x = 3;
    let dir = files_dir(&fed, "att")?;
    let pk = own_packages();
    let (name, ver, sum) = pk[3].clone();
    // Before the attack: DE and BR both certify a package (quorum 2 passes).
    for i in [0, x] {
        let f = fed.review(
            &fed.nodes[i].inst.reviewer_key,
            &name,
            &ver,
            &sum,
            NOTE,
            &dir,
        )?;
        crate::fed::ok(fed.submit(i, &[f])?, "submit")?;
    }
    fed.wait_cosigned(x, 3, 1, 30)?;
    fed.wait_cosigned(0, 3, 1, 30)?;
    let policy = fed.root.join("quorum2.policy");
    fed.policy(&[0, 1, 2, x], 2, 2, &policy)?;
    let lock = fed.root.join("Cargo.lock");
    std::fs::write(&lock, lockfile(&[(name.clone(), ver.clone(), sum.clone())]))?;
    let cache = fed.root.join("cache");
    let check = |fed: &Fed| {
        fed.q(&[
            "check",
            lock.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
            "-v",
        ])
    };
    let before = check(&fed)?;
    fed.say(format!(
        "before: {} certified by DE and BR: check exit {}",
        name,
        before.status.code().unwrap_or(-1)
    ));
    // BR's operator shows two views: its data dir copied while stopped (same log key,
    // same PeerId); BR talks to DE and JP, BR' to FR.
    fed.stop(x);
    let x2 = fed.fork(x, "-fork")?;
    fed.nodes[x].peers = vec![0, 2];
    fed.nodes[x2].peers = vec![1];
    fed.stop(1);
    fed.nodes[1].peers = vec![0, 2, x2];
    fed.start(1)?;
    fed.start(x)?;
    fed.start(x2)?;
    let (n1, v1, s1) = pk[4].clone();
    let a = fed.review(&fed.nodes[x].inst.reviewer_key, &n1, &v1, &s1, NOTE, &dir)?;
    let b = fed.review(
        &fed.nodes[x].inst.reviewer_key,
        &n1,
        &v1,
        &format!("{:064x}", 0xf04c_u64),
        "the other view",
        &dir,
    )?;
    let t = Instant::now();
    crate::fed::ok(fed.submit(x, &[a])?, "submit to BR")?;
    crate::fed::ok(fed.submit(x2, &[b])?, "submit to BR'")?;
    fed.say("BR logged one entry, BR' (same key) another at the same index");
    let mut times = Vec::new();
    for i in 0..3 {
        let ev = crate::fed::wait_for(60, "equivocation evidence", || {
            let e = fed.equivocations(i);
            (!e.is_empty()).then_some(e)
        })?;
        times.push(t.elapsed());
        fed.say(format!(
            "{} serves {} evidence text(s) after {}",
            fed.nodes[i].inst.jurisdiction,
            ev.len(),
            ms(t.elapsed())
        ));
    }
    let after = check(&fed)?;
    let text = out_text(&after);
    fed.say(format!(
        "after: check exit {}: {}",
        after.status.code().unwrap_or(-1),
        first_line_with(&text, "equivocated")
    ));
    let slowest = times.iter().max().copied().unwrap_or_default();
    outcome(
        before.status.success() && after.status.code() == Some(1) && text.contains("equivocated"),
        format!(
            "every honest node served evidence within {}; quorate check refused BR's reviews",
            ms(slowest)
        ),
    )
}

fn rewrite(bins: &Bins) -> Result<Outcome> {
    let mut fed = federation(bins, &["DE", "FR", "JP"])?;
    let x = 2;
    let dir = files_dir(&fed, "att")?;
    let key = fed.nodes[x].inst.reviewer_key.clone();
    let att = |fed: &Fed, tag: u64| {
        fed.review(
            &key,
            "rewrite-test",
            &format!("0.0.{tag}"),
            &format!("{:064x}", tag),
            NOTE,
            &dir,
        )
    };
    crate::fed::ok(fed.submit(x, &[att(&fed, 1)?])?, "submit")?;
    fed.wait_cosigned(x, 2, 1, 30)?;
    fed.stop(x);
    let snap = fed.root.join("JP.snapshot");
    crate::fed::copy_dir(&fed.nodes[x].inst.data, &snap)?;
    fed.start(x)?;
    let batch: Vec<PathBuf> = (2..4).map(|t| att(&fed, t)).collect::<Result<_>>()?;
    crate::fed::ok(fed.submit(x, &batch)?, "submit")?;
    fed.wait_cosigned(x, 2, 3, 30)?;
    fed.say("JP at size 3, cosigned by DE and FR; JP's operator restores the size-1 backup");
    fed.stop(x);
    std::fs::remove_dir_all(&fed.nodes[x].inst.data)?;
    crate::fed::copy_dir(&snap, &fed.nodes[x].inst.data)?;
    fed.start(x)?;
    let batch: Vec<PathBuf> = (10..14).map(|t| att(&fed, t)).collect::<Result<_>>()?;
    let t = Instant::now();
    crate::fed::ok(fed.submit(x, &batch)?, "submit")?;
    let size = fed.size(x).unwrap_or(0);
    fed.say(format!(
        "rewritten JP log now at size {size} (other entries)"
    ));
    let mut times = Vec::new();
    for i in 0..2 {
        crate::fed::wait_for(60, "equivocation evidence", || {
            (!fed.equivocations(i).is_empty()).then_some(())
        })?;
        times.push(t.elapsed());
        fed.say(format!(
            "{} holds evidence against JP after {}",
            fed.nodes[i].inst.jurisdiction,
            ms(t.elapsed())
        ));
    }
    std::thread::sleep(Duration::from_millis(500));
    let (cos, sz) = fed.cosignatures(x).unwrap_or((0, 0));
    fed.say(format!(
        "JP's rewritten checkpoint (size {sz}) carries {cos} cosignatures"
    ));
    let slowest = times.iter().max().copied().unwrap_or_default();
    outcome(
        cos == 0 && sz >= 5,
        format!(
            "rolled-back log: witnesses refused it and both peers held evidence within {}",
            ms(slowest)
        ),
    )
}
