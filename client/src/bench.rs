//! `quorate bench-check`: builds a 500-package lockfile, 5 review logs (one per
//! jurisdiction, each with a full review of every locked version: 2,500 signed
//! attestations; with `--deltas`, a full review of the previous version plus a delta to
//! the locked one: 5,000), 3 witnesses cosigning every checkpoint
//! and an offline bundle, in a temporary directory; then times `quorate check --bundle`
//! end to end (the real binary, as a user runs it) beside the signature-verification
//! floor: verifying those attestations' signatures, which any client must do, on the
//! same cores `check` uses (and on one). With a real lockfile (`--lockfile`) it also
//! times `cargo vet check` on the same lockfile with equivalent audits.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ed25519_dalek::SigningKey;
use quorate_client::bundle;
use quorate_client::lockfile::{Format, ParsedLockfile, Resolution};
use quorate_client::mirror::{LogMirror, Mirror, verify_all};
use quorate_proto::attestation::{
    self, Attestation, DeltaBase, Digest, Evidence, Reviewer, ReviewerKind, Scope, Verdict,
};
use quorate_proto::checkpoint::Checkpoint;
use quorate_proto::cosignature::CosignatureSigner;
use quorate_proto::merkle::MemoryLog;
use quorate_proto::note::{self, Signer};

const JURISDICTIONS: [&str; 5] = ["DE", "FR", "JP", "US", "BR"];

fn seed(tag: &str) -> [u8; 32] {
    use sha2_free::digest32;
    digest32(tag.as_bytes())
}

/// A tiny deterministic 32-byte mix (not cryptographic; bench keys only).
mod sha2_free {
    pub fn digest32(b: &[u8]) -> [u8; 32] {
        let mut s = [0u8; 32];
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (i, x) in b.iter().enumerate() {
            h ^= u64::from(*x);
            h = h.wrapping_mul(0x100_0000_01b3);
            s[i % 32] ^= (h >> 24) as u8;
        }
        for (i, v) in s.iter_mut().enumerate() {
            h ^= i as u64;
            h = h.wrapping_mul(0x100_0000_01b3);
            *v ^= (h >> 16) as u8;
        }
        s
    }
}

struct Pkg {
    /// The attestation ecosystem (`crates.io`, `npm`, `pypi`, ...).
    ecosystem: String,
    name: String,
    prev: String,
    version: String,
    prev_digest: Digest,
    digest: Digest,
}

fn hex(d: &Digest) -> String {
    d.to_string().trim_start_matches("sha256:").to_owned()
}

fn met(yes: bool) -> &'static str {
    if yes { "met" } else { "NOT met" }
}

/// Each attestation's decoded key, signed message and signature, for the bare floor.
struct Bare {
    key: ed25519_dalek::VerifyingKey,
    message: Vec<u8>,
    signature: ed25519_dalek::Signature,
}

fn bare_signatures(envs: &[&[u8]]) -> Result<Vec<Bare>> {
    use prost::Message as _;
    envs.iter()
        .map(|e| {
            let v = attestation::verify(e)?;
            let env = attestation::pb::Envelope::decode(*e)?;
            let sig: [u8; 64] = env.signature.as_slice().try_into()?;
            Ok(Bare {
                key: ed25519_dalek::VerifyingKey::from_bytes(&v.attestation().reviewer.public_key)?,
                message: attestation::signed_message(&env.payload),
                signature: ed25519_dalek::Signature::from_bytes(&sig),
            })
        })
        .collect()
}

/// Verifies every bare signature on `threads` threads; false if any fails.
fn verify_bare(all: &[Bare], threads: usize) -> bool {
    let one = |c: &[Bare]| {
        c.iter()
            .all(|b| b.key.verify_strict(&b.message, &b.signature).is_ok())
    };
    if threads <= 1 {
        return one(all);
    }
    let chunk = all.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let hs: Vec<_> = all.chunks(chunk).map(|c| s.spawn(move || one(c))).collect();
        hs.into_iter().all(|h| h.join().unwrap_or(false))
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn synthetic(n: usize) -> Vec<Pkg> {
    (0..n)
        .map(|i| Pkg {
            ecosystem: "cargo".into(),
            name: format!("bench-crate-{i}"),
            prev: "1.0.0".into(),
            version: "1.0.1".into(),
            prev_digest: Digest::Sha256(seed(&format!("a{i}"))),
            digest: Digest::Sha256(seed(&format!("b{i}"))),
        })
        .collect()
}

/// Every file of every distinct reviewable entry of a real lockfile of any format (one
/// package per file: a PyPI release with 10 wheels needs 10 covering reviews); the
/// lockfile's format; and its text.
fn from_lockfile(path: &Path) -> Result<(Vec<Pkg>, Format, String)> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let lock = ParsedLockfile::read(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut seen = std::collections::HashSet::new();
    let mut pkgs = Vec::new();
    let mut unsupported = 0usize;
    for e in &lock.entries {
        let Resolution::Files(files) = &e.resolution else {
            continue;
        };
        for f in files {
            let Some(digest) = f
                .digests
                .iter()
                .find(|d| !d.is_weak())
                .map(|d| d.to_attestation())
            else {
                unsupported += 1;
                continue;
            };
            if !seen.insert((e.id.clone(), digest)) {
                continue;
            }
            let (name, version) = (e.id.name(), e.id.version());
            pkgs.push(Pkg {
                ecosystem: e.id.ecosystem().attestation_name().to_owned(),
                name: name.to_owned(),
                prev: format!("{version}-quorate.0"),
                version: version.to_owned(),
                prev_digest: Digest::Sha256(seed(&format!("prev {name} {version}"))),
                digest,
            });
        }
    }
    if unsupported > 0 {
        bail!(
            "{}: {unsupported} files have only digests this build's attestations cannot carry",
            path.display()
        );
    }
    Ok((pkgs, lock.format, text))
}

fn lockfile_text(pkgs: &[Pkg]) -> String {
    let mut t = String::from("version = 3\n\n");
    for p in pkgs {
        let _ = write!(
            t,
            "[[package]]\nname = \"{}\"\nversion = \"{}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{}\"\n\n",
            p.name,
            p.version,
            hex(&p.digest)
        );
    }
    t
}

pub fn run(
    packages: usize,
    runs: usize,
    dir: Option<&Path>,
    cargo_vet: Option<&Path>,
    lockfile: Option<&Path>,
    deltas: bool,
) -> Result<()> {
    let tmp;
    let dir: PathBuf = match dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.to_path_buf()
        }
        None => {
            tmp = std::env::temp_dir().join(format!("quorate-bench-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            std::fs::create_dir_all(&tmp)?;
            tmp.clone()
        }
    };
    let (pkgs, format, lock_text) = match lockfile {
        Some(p) => from_lockfile(p)?,
        None => {
            let p = synthetic(packages);
            let t = lockfile_text(&p);
            (p, Format::CargoLock, t)
        }
    };
    let now = 1_800_000_000u64;
    let witnesses: Vec<CosignatureSigner> = (0..3)
        .map(|i| CosignatureSigner::generate(&format!("witness{i}.bench"), seed(&format!("w{i}"))))
        .collect::<Result<_, _>>()?;
    let t_build = Instant::now();
    let mut policy = String::new();
    for (i, w) in witnesses.iter().enumerate() {
        let _ = writeln!(policy, "witness w{i} {}", w.vkey());
    }
    policy.push_str("group witnesses 2 w0 w1 w2\nquorum witnesses\n");
    let mut mirror = Mirror::default();
    let mut all_envs: Vec<Vec<u8>> = Vec::new();
    for j in JURISDICTIONS {
        let origin = format!("{}.bench/log", j.to_lowercase());
        let signer = Signer::generate(&origin, seed(&origin))?;
        let _ = writeln!(policy, "review-log {j} {} https://{origin}", signer.vkey());
        let key = SigningKey::from_bytes(&seed(&format!("reviewer {j}")));
        let mut tree = MemoryLog::with_capacity(pkgs.len() * 2);
        let mut entries = Vec::with_capacity(pkgs.len() * 2);
        for p in &pkgs {
            let mut a = Attestation {
                artifacts: vec![],
                scope: Some(Scope::Full),
                evidence: Some(Evidence::SourceReview),
                reveal: None,
                ecosystem: p.ecosystem.clone(),
                package: p.name.clone(),
                version: p.prev.clone(),
                digest: p.prev_digest,
                delta_from: None,
                criteria: vec!["safe-to-deploy".into()],
                verdict: Verdict::Certify,
                reviewer: Reviewer {
                    kind: ReviewerKind::Human,
                    name: format!("reviewer-{j}"),
                    public_key: key.verifying_key().to_bytes(),
                },
                organisation: format!("institute {j}"),
                time: now - 86_400,
                notes: String::new(),
                links: vec![],
                supersedes: None,
            };
            let mut envs = Vec::with_capacity(2);
            if deltas {
                envs.push(attestation::sign(&a, &key)?);
                a.delta_from = Some(DeltaBase {
                    version: p.prev.clone(),
                    digest: p.prev_digest,
                });
            }
            a.version = p.version.clone();
            a.digest = p.digest;
            envs.push(attestation::sign(&a, &key)?);
            for e in envs {
                tree.append(&e);
                entries.push(e);
            }
        }
        let cp = Checkpoint::new(&origin, tree.size(), tree.root(), vec![])?;
        let signed = note::sign(&cp.to_text(), &[&signer])?;
        let cosigs = witnesses
            .iter()
            .map(|w| w.cosign(&cp.to_text(), now - 600))
            .collect::<Result<Vec<_>, _>>()?;
        let note = note::add_signatures(&signed, &cosigs)?;
        all_envs.extend(entries.iter().cloned());
        mirror.logs.push(LogMirror {
            origin,
            url: None,
            checkpoint: Some(note.into_bytes()),
            entries,
            tree,
            warnings: vec![],
            unproven: None,
            not_refreshed: None,
            fetched: 0,
        });
    }
    let _ = writeln!(policy, "review-quorum 3\nmax-checkpoint-age 86400");
    let policy_path = dir.join("quorate.policy");
    // The lockfile keeps its format's name, so `check` detects it as a user's would be.
    let lock_path = dir.join(match lockfile.and_then(Path::file_name) {
        Some(n) => PathBuf::from(n),
        None => PathBuf::from("Cargo.lock"),
    });
    let bundle_dir = dir.join("bundle");
    let packed_dir = dir.join("bundle-packed");
    std::fs::write(&policy_path, &policy)?;
    std::fs::write(&lock_path, &lock_text)?;
    let _ = std::fs::remove_dir_all(&bundle_dir);
    let _ = std::fs::remove_dir_all(&packed_dir);
    let w = bundle::write_from_mirror(&mirror, &None, &bundle_dir, bundle::Layout::Files)?;
    bundle::write_from_mirror(&mirror, &None, &packed_dir, bundle::Layout::Packed)?;
    eprintln!(
        "built {} packages x {} jurisdictions: {} attestations, bundle of {} entries in {:.1?}",
        pkgs.len(),
        JURISDICTIONS.len(),
        all_envs.len(),
        w.entries,
        t_build.elapsed()
    );

    // The floor: the bare Ed25519 check (`verify_strict`, keys already decoded, messages
    // already built) of every attestation signature, which no client can skip, on all
    // cores (as check uses) and on one. Beside it, the full decode-and-verify of every
    // envelope (`verify_all`, as check runs it), to show what decoding adds.
    let refs: Vec<&[u8]> = all_envs.iter().map(Vec::as_slice).collect();
    let bare = bare_signatures(&refs)?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(16);
    let mut floor = Vec::new();
    let mut floor1 = Vec::new();
    let mut decode = Vec::new();
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        if !verify_bare(&bare, cores) {
            bail!("a generated attestation does not verify");
        }
        floor.push(t.elapsed());
        let t = Instant::now();
        if !verify_bare(&bare, 1) {
            bail!("a generated attestation does not verify");
        }
        floor1.push(t.elapsed());
        let t = Instant::now();
        let ok = verify_all(&refs);
        decode.push(t.elapsed());
        if ok.iter().any(Option::is_none) {
            bail!("a generated attestation does not verify");
        }
    }

    // check --bundle, end to end: the real binary in a fresh process each run, on each
    // bundle layout (the runs interleaved, so that both see the same machine).
    let exe = std::env::current_exe()?;
    let mut times = Vec::new();
    let mut times_packed = Vec::new();
    let mut summary = String::new();
    for _ in 0..runs.max(1) {
        for (d, into) in [(&bundle_dir, &mut times), (&packed_dir, &mut times_packed)] {
            let t = Instant::now();
            let out = Command::new(&exe)
                .arg("check")
                .arg(&lock_path)
                .arg("--policy")
                .arg(&policy_path)
                .arg("--bundle")
                .arg(d)
                .arg("--now")
                .arg(now.to_string())
                .output()?;
            into.push(t.elapsed());
            let text = String::from_utf8_lossy(&out.stdout);
            summary = text.lines().last().unwrap_or("").trim().to_owned();
            if !out.status.success() {
                bail!(
                    "check --bundle {} failed ({}): {summary}\n{}",
                    d.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    let p = median(times_packed);
    let (c, f, f1, d) = (median(times), median(floor), median(floor1), median(decode));
    println!(
        "quorate check --bundle: {} ({} files to cover), 5 jurisdictions, {} attestations (median of {runs} runs, fresh process each)",
        lockfile.map_or_else(
            || "generated Cargo.lock".to_owned(),
            |p| format!("{} ({format})", p.display())
        ),
        pkgs.len(),
        all_envs.len()
    );
    println!(
        "  check --bundle end to end : {:>8.1} ms   ({summary})",
        c.as_secs_f64() * 1e3
    );
    println!(
        "  same, packed bundle       : {:>8.1} ms   (bundle --packed: one file per log)",
        p.as_secs_f64() * 1e3
    );
    println!(
        "  signature floor ({cores} threads): {:>7.1} ms   ratio check/floor = {:.2}, packed {:.2}   (bare Ed25519 verify_strict, keys decoded)",
        f.as_secs_f64() * 1e3,
        c.as_secs_f64() / f.as_secs_f64(),
        p.as_secs_f64() / f.as_secs_f64()
    );
    println!(
        "  signature floor (1 thread)  : {:>8.1} ms",
        f1.as_secs_f64() * 1e3
    );
    println!(
        "  decode + verify ({cores} threads) : {:>6.1} ms   ratio = {:.2}   (every envelope strictly decoded and verified, as check does)",
        d.as_secs_f64() * 1e3,
        d.as_secs_f64() / f.as_secs_f64()
    );
    println!(
        "  goal: within 2x of the floor: {} (packed: {}); under 200 ms: {} (packed: {})",
        met(c.as_secs_f64() <= 2.0 * f.as_secs_f64()),
        met(p.as_secs_f64() <= 2.0 * f.as_secs_f64()),
        met(c.as_millis() < 200),
        met(p.as_millis() < 200)
    );
    if format == Format::CargoLock {
        cargo_vet_timing(&dir, &pkgs, &lock_text, lockfile.is_some(), cargo_vet, runs);
    }
    if dir.starts_with(std::env::temp_dir())
        && dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("quorate-bench-"))
    {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

fn find_cargo_vet(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(g) = given {
        return Some(g.to_path_buf());
    }
    let colleague = PathBuf::from("/work/cargo-vet-bin/bin/cargo-vet");
    if colleague.is_file() {
        return Some(colleague);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("cargo-vet"))
        .find(|p| p.is_file())
}

fn cargo_vet_timing(
    dir: &Path,
    pkgs: &[Pkg],
    lock_text: &str,
    real: bool,
    given: Option<&Path>,
    runs: usize,
) {
    let Some(bin) = find_cargo_vet(given) else {
        println!(
            "  cargo vet check             : skipped (cargo-vet not installed; `cargo install cargo-vet`)"
        );
        return;
    };
    if !real {
        println!(
            "  cargo vet check             : skipped (synthetic crate names cannot be resolved by cargo; pass --lockfile with a real Cargo.lock)"
        );
        return;
    }
    // A project depending on exactly the locked crates, audits equivalent to one
    // jurisdiction's reviews (full review of each locked version), offline.
    let work = dir.join("vet");
    let _ = std::fs::remove_dir_all(&work);
    let setup = || -> std::io::Result<()> {
        std::fs::create_dir_all(work.join("src"))?;
        std::fs::create_dir_all(work.join("supply-chain"))?;
        std::fs::write(work.join("src/main.rs"), "fn main() {}\n")?;
        let mut deps = String::new();
        let mut seen = std::collections::HashMap::<&str, usize>::new();
        for p in pkgs {
            let n = seen.entry(&p.name).or_insert(0);
            let alias = if *n == 0 {
                p.name.clone()
            } else {
                format!("{}-v{n}", p.name)
            };
            *n += 1;
            let _ = writeln!(
                deps,
                "{alias} = {{ package = \"{}\", version = \"={}\", default-features = false }}",
                p.name, p.version
            );
        }
        std::fs::write(
            work.join("Cargo.toml"),
            format!(
                "[package]\nname = \"vetbench\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\n{deps}"
            ),
        )?;
        std::fs::write(work.join("Cargo.lock"), lock_text)?;
        std::fs::write(
            work.join("supply-chain/config.toml"),
            "[cargo-vet]\nversion = \"0.10\"\n\n[policy.vetbench]\ncriteria = \"safe-to-deploy\"\n",
        )?;
        std::fs::write(work.join("supply-chain/imports.lock"), "")?;
        let mut audits = String::new();
        for p in pkgs {
            let _ = write!(
                audits,
                "[[audits.{}]]\nwho = \"bench\"\ncriteria = \"safe-to-deploy\"\nversion = \"{}\"\n\n",
                p.name, p.version
            );
        }
        std::fs::write(work.join("supply-chain/audits.toml"), audits)
    };
    if let Err(e) = setup() {
        println!("  cargo vet check             : skipped ({e})");
        return;
    }
    // cargo-vet runs `cargo metadata` through $CARGO. The lockfile is first trimmed to
    // this project's graph from the local index cache (no network), then formatted.
    let cargo = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .map(|d| d.join("cargo"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| PathBuf::from("cargo"));
    for (prog, args) in [
        (&cargo, &["fetch", "--offline", "-q"][..]),
        (&bin, &["vet", "fmt"][..]),
    ] {
        match Command::new(prog)
            .args(args)
            .env("CARGO", &cargo)
            .current_dir(&work)
            .output()
        {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                println!(
                    "  cargo vet check             : skipped ({} {} failed: {})",
                    prog.display(),
                    args.join(" "),
                    String::from_utf8_lossy(&o.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                );
                return;
            }
            Err(e) => {
                println!("  cargo vet check             : skipped ({e})");
                return;
            }
        }
    }
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let out = Command::new(&bin)
            .args(["vet", "check", "--locked", "--frozen"])
            .env("CARGO", &cargo)
            .current_dir(&work)
            .output();
        times.push(t.elapsed());
        last = Some(out);
    }
    match last {
        Some(Ok(o)) if o.status.success() => println!(
            "  cargo vet check --locked --frozen: {:>6.1} ms   ({}; {})",
            median(times).as_secs_f64() * 1e3,
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .chain(String::from_utf8_lossy(&o.stderr).lines())
                .find(|l| l.contains("Vetting"))
                .unwrap_or("")
                .trim(),
            bin.display()
        ),
        Some(Ok(o)) => println!(
            "  cargo vet check             : did not succeed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        _ => println!(
            "  cargo vet check             : could not run {}",
            bin.display()
        ),
    }
}
