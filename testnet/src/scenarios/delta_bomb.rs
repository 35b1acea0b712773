//! `delta-bomb`: DE's log is made to hold 5,000 deltas of one crate in reverse order
//! (newest first) plus one full review of the first version, imported and submitted
//! through the real `quorate import cargo-vet`; `quorate check` mirrors the 5,001
//! entries, verifies them and decides the newest version. The chain search that used to
//! rescan every delta per step (cubic) must decide this in time linear in the entries;
//! `quorate bench-check --delta-bomb` measures the decision alone beside the Ed25519 and
//! SHA-256 floor of the same run.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{Context, Result};

use super::{Outcome, federation, ms, out_text, outcome};
use crate::fed::{Bins, lockfile};

const N: usize = 5000;
const PKG: &str = "delta-bomb";

fn version(i: usize) -> String {
    format!("1.0.{i}")
}

fn checksum(i: usize) -> String {
    format!("{:064x}", 0xb0b0_0000usize + i)
}

/// The figure after the last `:` on the line of `text` that contains `label`.
fn figure(text: &str, label: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.contains(label))?;
    line.rsplit(':')
        .next()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The patch number of an envelope file `delta-bomb-1.0.N-<leaf>.att` (the full review
/// of 1.0.0 sorts last).
fn version_of(p: &std::path::Path) -> u64 {
    p.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(&format!("{PKG}-1.0.")))
        .and_then(|r| r.split('-').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn post_batch(url: &str, body: Vec<u8>) -> Result<(u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(url)
        .header("content-type", "application/x-quorate-batch")
        .send(&body[..])?;
    let status = r.status().as_u16();
    Ok((status, r.body_mut().read_to_string()?))
}

pub(super) fn run(bins: &Bins) -> Result<Outcome> {
    let fed = federation(bins, &["DE", "FR"])?;
    let dir = fed.root.join("bomb");
    std::fs::create_dir_all(&dir)?;
    // Digests of every version come from this lockfile; the checked one holds the newest.
    let all: Vec<(String, String, String)> = (0..=N)
        .map(|i| (PKG.to_owned(), version(i), checksum(i)))
        .collect();
    let digests = dir.join("all.lock");
    std::fs::write(&digests, lockfile(&all))?;
    let lock = dir.join("Cargo.lock");
    std::fs::write(&lock, lockfile(&all[N..]))?;
    // Deltas newest first, then the full review: audits in that order are logged so.
    let mut audits = String::from("[audits]\n\n");
    for i in (1..=N).rev() {
        let _ = write!(
            audits,
            "[[audits.{PKG}]]\nwho = \"bomb\"\ncriteria = \"safe-to-deploy\"\ndelta = \"{} -> {}\"\nnotes = \"DEMO DATA\"\n\n",
            version(i - 1),
            version(i)
        );
    }
    let _ = write!(
        audits,
        "[[audits.{PKG}]]\nwho = \"bomb\"\ncriteria = \"safe-to-deploy\"\nversion = \"{}\"\nnotes = \"DEMO DATA\"\n",
        version(0)
    );
    let audits_file = dir.join("audits.toml");
    std::fs::write(&audits_file, audits)?;
    let de = &fed.nodes[0].inst;
    let envs = dir.join("envs");
    let t = Instant::now();
    let o = fed.q(&[
        "import",
        "cargo-vet",
        audits_file.to_str().unwrap(),
        "--key",
        de.reviewer_key.to_str().unwrap(),
        "--org",
        "DE",
        "--lock",
        digests.to_str().unwrap(),
        "--offline",
        "--index-cache",
        dir.join("index").to_str().unwrap(),
        "--out",
        envs.to_str().unwrap(),
    ])?;
    crate::fed::ok(o, "quorate import cargo-vet")?;
    // Submitted in the node's largest batches (each waits for its cosigning round), in
    // the audits' order: newest delta first.
    let mut files: Vec<_> = std::fs::read_dir(&envs)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort_by_key(|p| std::cmp::Reverse(version_of(p)));
    for chunk in files.chunks(1000) {
        let mut body = Vec::new();
        for f in chunk {
            let env = std::fs::read(f)?;
            body.extend_from_slice(&u32::try_from(env.len())?.to_be_bytes());
            body.extend_from_slice(&env);
        }
        let (status, text) = post_batch(&format!("{}/v1/attestations", de.url()), body)?;
        anyhow::ensure!(
            status == 200 || status == 201,
            "batch refused: HTTP {status}: {text}"
        );
    }
    let d_submit = t.elapsed();
    fed.wait_cosigned(0, 1, (N + 1) as u64, 60)?;
    fed.say(format!(
        "{} signed entries of {PKG} (5,000 deltas newest first, then the full review) in DE's log after {}",
        N + 1,
        ms(d_submit)
    ));
    let policy = dir.join("bomb.policy");
    fed.policy(&[0, 1], 1, 1, &policy)?;
    let cache = dir.join("cache");
    let t = Instant::now();
    let first = fed.check(&lock, &policy, &cache, &[])?;
    let d_first = t.elapsed();
    let text = out_text(&first);
    let decided = first.status.success()
        && text.contains(&format!("{PKG} {}", version(N)))
        && text.contains("Checked 1 package: it passes");
    fed.say(format!(
        "quorate check (mirror {} entries, verify every signature and proof, decide): {}, exit {}",
        N + 1,
        ms(d_first),
        first.status.code().unwrap_or(-1)
    ));
    // The decision alone, beside the floor, measured in one run of the same binary.
    let b = fed.q(&["bench-check", "--delta-bomb", &N.to_string(), "--runs", "1"])?;
    let bench = crate::fed::ok(b, "quorate bench-check --delta-bomb")?;
    for l in bench.lines() {
        fed.say(format!("bench: {}", l.trim()));
    }
    let decide = figure(&bench, "decide, certified").context("no decision figure")?;
    let explain = figure(&bench, "wrong digest explained").context("no explain figure")?;
    let floor = figure(&bench, "Ed25519 verify of").context("no floor figure")?;
    outcome(
        decided,
        format!(
            "{}-entry reversed delta chain certified by check ({} with mirroring); decided in {decide:.1} ms \
             (wrong digest explained in {explain:.1} ms) vs Ed25519 floor {floor:.1} ms for the same entries \
             ({} build)",
            N + 1,
            ms(d_first),
            // The binaries are built in this binary's profile (`Bins::locate`).
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
        ),
    )
}
