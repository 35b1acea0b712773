//! The main job end to end: five institutes in five jurisdictions review real packages of
//! three ecosystems (crates from a Cargo.lock, then npm and PyPI releases: `eco_demo`), a
//! client with a quorum policy decides one table per ecosystem, then every attack scenario
//! runs.

use crate::fed::{Bins, Fed, lockfile, ok, parse_lock};
use crate::scenarios;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::time::Instant;

const JS: [&str; 5] = ["DE", "FR", "JP", "BR", "CA"];

/// Which institutes review package `i` (default mode): uneven, so some packages fail.
fn covers(j: usize, i: usize) -> bool {
    match j {
        0 => true,                // DE: everything
        1 => i % 3 != 1,          // FR
        2 => i.is_multiple_of(2), // JP
        3 => i.is_multiple_of(3), // BR
        _ => i.is_multiple_of(4), // CA
    }
}

pub fn run(
    audits: Option<PathBuf>,
    lock: Option<PathBuf>,
    packages: usize,
    with_scenarios: bool,
) -> Result<bool> {
    let t0 = Instant::now();
    let el = || format!("{:.1}s", t0.elapsed().as_secs_f64());
    let bins = Bins::locate()?;
    println!("== setting up 5 institutes: {} ({})", JS.join(", "), el());
    let mut fed = Fed::create(None, &JS, bins.clone())?;
    fed.start_all()?;
    let d = fed.wait_all_cosigned(60)?;
    println!(
        "  every checkpoint cosigned by the 4 other institutes' witnesses ({:.1}s after start)",
        d.as_secs_f64()
    );
    for n in &fed.nodes {
        println!("  {}  {}", n.inst.jurisdiction, n.inst.url());
    }
    let lock_text = match &lock {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => include_str!("../../Cargo.lock").to_string(),
    };
    let check_lock = fed.root.join("check.lock");
    let mut sizes = [0u64; 5];
    let mut expect_fail = None;
    match &audits {
        None => {
            let pkgs: Vec<_> = parse_lock(&lock_text).into_iter().take(packages).collect();
            if pkgs.is_empty() {
                bail!("no crates.io packages with checksums in the lockfile");
            }
            println!(
                "== reviewing {} packages of {} (verdicts are DEMO DATA) ({})",
                pkgs.len(),
                lock.as_ref()
                    .map_or("this project's Cargo.lock".into(), |p| p
                        .display()
                        .to_string()),
                el()
            );
            let dir = fed.root.join("att");
            std::fs::create_dir_all(&dir)?;
            for (j, size) in sizes.iter_mut().enumerate() {
                let mut files = Vec::new();
                for (i, (n, v, c)) in pkgs.iter().enumerate() {
                    if covers(j, i) {
                        files.push(fed.review(
                            &fed.nodes[j].inst.reviewer_key,
                            n,
                            v,
                            c,
                            "DEMO DATA: generated verdict, not a real review",
                            &dir,
                        )?);
                    }
                }
                let t = Instant::now();
                let out = ok(fed.submit(j, &files)?, "quorate submit")?;
                *size = files.len() as u64;
                println!(
                    "  {}: {} reviews logged, proofs verified, in {:.0} ms",
                    JS[j],
                    out.lines().count(),
                    t.elapsed().as_secs_f64() * 1000.0
                );
            }
            std::fs::write(&check_lock, lockfile(&pkgs))?;
            let short = (0..pkgs.len())
                .filter(|&i| (0..5).filter(|&j| covers(j, i)).count() < 3)
                .count();
            expect_fail = Some((pkgs.len() - short, short));
        }
        Some(adir) => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(adir)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
            if files.is_empty() {
                bail!("no *.toml in {}", adir.display());
            }
            if files.len() > JS.len() {
                println!(
                    "  {} audit files; importing the first {}",
                    files.len(),
                    JS.len()
                );
                files.truncate(JS.len());
            }
            std::fs::write(&check_lock, &lock_text)?;
            println!(
                "== importing {} cargo-vet audit files, one organisation per institute ({})",
                files.len(),
                el()
            );
            for (j, f) in files.iter().enumerate() {
                let org = f.file_stem().unwrap().to_string_lossy().into_owned();
                let t = Instant::now();
                let o = fed.q(&[
                    "import",
                    "cargo-vet",
                    f.to_str().unwrap(),
                    "--key",
                    fed.nodes[j].inst.reviewer_key.to_str().unwrap(),
                    "--org",
                    &org,
                    "--lock",
                    check_lock.to_str().unwrap(),
                    "--node",
                    &fed.url(j),
                    "--log",
                    &fed.nodes[j].inst.log_vkey,
                    "--offline",
                ])?;
                let text = ok(o, "quorate import cargo-vet")?;
                sizes[j] = fed.size(j).unwrap_or(0);
                println!(
                    "  {} <- {org}: {} entries in its log ({:.1}s){}",
                    JS[j],
                    sizes[j],
                    t.elapsed().as_secs_f64(),
                    text.lines()
                        .last()
                        .map(|l| format!(": {l}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    println!(
        "== waiting for the new checkpoints to be cross-witnessed ({})",
        el()
    );
    let t = Instant::now();
    for (j, &s) in sizes.iter().enumerate() {
        fed.wait_cosigned(j, 4, s, 60)?;
    }
    println!(
        "  all 5 logs cosigned by 4 witnesses each in {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let policy = fed.root.join("quorum3.policy");
    fed.policy(&[0, 1, 2, 3, 4], 3, 4, &policy)?;
    println!(
        "== client policy: 3 of 5 jurisdictions, 4 witness cosignatures per checkpoint ({})",
        el()
    );
    let cache = fed.root.join("cache");
    let mut last_ok = true;
    println!("  policy {}", policy.display());
    for label in ["cold cache: mirrors all 5 logs", "warm cache"] {
        println!("== quorate check ({label}) ({})", el());
        let t = Instant::now();
        let o = fed.q(&[
            "check",
            check_lock.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
        ])?;
        let d = t.elapsed();
        if label.starts_with("cold") {
            print!("{}", String::from_utf8_lossy(&o.stdout));
        } else if let Some(l) = String::from_utf8_lossy(&o.stdout).lines().last() {
            println!("{l}");
        }
        println!(
            "  exit {} in {:.0} ms",
            o.status.code().unwrap_or(-1),
            d.as_secs_f64() * 1000.0
        );
        if let Some((pass, fail)) = expect_fail {
            let want = format!(
                "{fail} of {} packages lack a quorum ({pass} pass",
                pass + fail
            );
            let got = String::from_utf8_lossy(&o.stdout).contains(&want);
            println!(
                "{} demo check: expected {want} (packages reviewed by fewer than 3 jurisdictions fail)",
                if got { "PASS" } else { "FAIL" }
            );
            last_ok &= got;
        }
        if o.status.code() == Some(2) {
            bail!(
                "quorate check failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    if audits.is_none() {
        last_ok &= crate::eco_demo::run(&fed, &policy, &cache, packages, 3, covers)?;
    }
    fed.stop_all();
    drop(fed);
    let mut all = last_ok;
    if with_scenarios {
        println!("== scenarios ({})", el());
        let mut lines = Vec::new();
        for n in scenarios::NAMES {
            let ok = scenarios::run_one(n, &bins);
            lines.push(format!("{} {n}", if ok { "PASS" } else { "FAIL" }));
            all &= ok;
        }
        println!("== summary ({})", el());
        for l in lines {
            println!("  {l}");
        }
    }
    println!("== done in {}", el());
    Ok(all)
}
