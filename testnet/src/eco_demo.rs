//! The demo's other ecosystems: npm and PyPI releases reviewed by the institutes (uneven
//! coverage, as for the crates), submitted, and decided by `quorate check` on a
//! package-lock.json and a uv.lock, one table per ecosystem.
//!
//! Releases come from the real lockfiles in `../shared/locks/` when present (their names,
//! versions and file digests), else from generated DEMO DATA lockfiles (digests of made-up
//! bytes). Either way every verdict is demo data. One PyPI release gets a wheel nobody
//! reviewed, to show that an entry passes only when every file it allows is covered.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use quorate_client::lockfile::{Ecosystem, FileDigest, LockEntry, ParsedLockfile, Resolution};
use sha2::Digest as _;

use crate::fed::{Fed, ok};

/// One release to review: its purl, and each file's label and digest notation.
struct Release {
    name: String,
    version: String,
    purl: String,
    files: Vec<(String, String)>,
}

struct Sample {
    label: &'static str,
    file_name: &'static str,
    source: String,
    releases: Vec<Release>,
}

fn shared_locks() -> Option<PathBuf> {
    let dir = std::env::var_os("QUORATE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("locks");
    dir.is_dir().then_some(dir)
}

fn release(e: &LockEntry) -> Option<Release> {
    let Resolution::Files(files) = &e.resolution else {
        return None;
    };
    Some(Release {
        name: e.id.name().to_owned(),
        version: e.id.version().to_owned(),
        purl: e.id.purl(),
        files: files
            .iter()
            .map(|f| {
                let d = f
                    .digests
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                (f.name.clone().unwrap_or_else(|| d.clone()), d)
            })
            .collect(),
    })
}

/// `n` releases of `eco` from a shared lockfile (distinct names, so the generated lockfile
/// holds each once, with at most `max_files` files).
fn from_shared(file: &Path, n: usize, max_files: usize) -> Result<Vec<Release>> {
    let lock = ParsedLockfile::read(file).with_context(|| format!("reading {}", file.display()))?;
    let mut seen = std::collections::HashSet::new();
    Ok(lock
        .entries
        .iter()
        .filter_map(release)
        .filter(|r| r.files.len() <= max_files && seen.insert(r.name.clone()))
        .take(n)
        .collect())
}

/// Made-up releases with digests of made-up bytes (`DEMO DATA name version file`).
fn generated(eco: Ecosystem, n: usize) -> Vec<Release> {
    const NAMES: [&str; 12] = [
        "alpha-lib",
        "beta-util",
        "gamma",
        "delta-io",
        "epsilon",
        "zeta-fmt",
        "eta",
        "theta-net",
        "iota",
        "kappa-cli",
        "lambda",
        "mu-core",
    ];
    NAMES
        .iter()
        .take(n)
        .enumerate()
        .map(|(i, name)| {
            let version = format!("1.{i}.0");
            let bytes = |f: &str| format!("DEMO DATA {name} {version} {f}");
            let files = match eco {
                Ecosystem::Npm => {
                    let d: [u8; 64] = sha2::Sha512::digest(bytes("tgz")).into();
                    vec![("tarball".to_owned(), FileDigest::Sha512(d).to_string())]
                }
                _ => ["tar.gz", "py3-none-any.whl"]
                    .iter()
                    .map(|ext| {
                        let d: [u8; 32] = sha2::Sha256::digest(bytes(ext)).into();
                        (
                            format!(
                                "{}-{version}{}{ext}",
                                name.replace('-', "_"),
                                if ext.ends_with("whl") { "-" } else { "." }
                            ),
                            FileDigest::Sha256(d).to_string(),
                        )
                    })
                    .collect(),
            };
            Release {
                name: (*name).to_owned(),
                version: version.clone(),
                purl: format!("pkg:{}/{name}@{version}", eco.purl_type()),
                files,
            }
        })
        .collect()
}

fn npm_lock(rs: &[Release]) -> String {
    let mut pk = serde_json::Map::new();
    pk.insert(
        "".into(),
        serde_json::json!({"name": "quorate-demo", "version": "0.0.0"}),
    );
    for r in rs {
        let bare = r.name.rsplit('/').next().unwrap_or(&r.name);
        pk.insert(
            format!("node_modules/{}", r.name),
            serde_json::json!({
                "version": r.version,
                "resolved": format!("https://registry.npmjs.org/{}/-/{bare}-{}.tgz", r.name, r.version),
                "integrity": r.files[0].1,
            }),
        );
    }
    serde_json::to_string_pretty(&serde_json::json!({
        "name": "quorate-demo", "version": "0.0.0", "lockfileVersion": 3, "requires": true, "packages": pk,
    }))
    .unwrap_or_default()
}

fn uv_lock(rs: &[Release]) -> String {
    let mut s = String::from("version = 1\nrevision = 3\nrequires-python = \">=3.10\"\n");
    for r in rs {
        s.push_str(&format!(
            "\n[[package]]\nname = \"{}\"\nversion = \"{}\"\nsource = {{ registry = \"https://pypi.org/simple\" }}\n",
            r.name, r.version
        ));
        let url = |f: &str| format!("https://files.pythonhosted.org/packages/demo/{f}");
        let (wheels, sdists): (Vec<_>, Vec<_>) =
            r.files.iter().partition(|(f, _)| f.ends_with(".whl"));
        for (f, d) in sdists.iter().take(1) {
            s.push_str(&format!(
                "sdist = {{ url = \"{}\", hash = \"{d}\" }}\n",
                url(f)
            ));
        }
        s.push_str("wheels = [\n");
        for (f, d) in wheels {
            s.push_str(&format!(
                "    {{ url = \"{}\", hash = \"{d}\" }},\n",
                url(f)
            ));
        }
        s.push_str("]\n");
    }
    s
}

fn samples(n: usize) -> Result<Vec<Sample>> {
    let shared = shared_locks();
    let (npm, pypi, source) = match &shared {
        Some(d) => (
            from_shared(&d.join("actions-checkout-7.0.1.package-lock.json"), n, 1)?,
            // A few files each keeps the demo quick; the sdist and wheels are all reviewed.
            from_shared(&d.join("sigstore-python-27db13d.uv.lock"), n, 3)?,
            format!("{} (real names, versions and digests)", d.display()),
        ),
        None => (
            generated(Ecosystem::Npm, n),
            generated(Ecosystem::Pypi, n),
            "generated DEMO DATA lockfiles (no ../shared/locks)".to_owned(),
        ),
    };
    Ok(vec![
        Sample {
            label: "PyPI",
            file_name: "uv.lock",
            source: source.clone(),
            releases: pypi,
        },
        Sample {
            label: "npm",
            file_name: "package-lock.json",
            source,
            releases: npm,
        },
    ])
}

/// Reviews, submits and checks the npm and PyPI samples. `covers(j, i)`: whether
/// institute `j` reviews release `i`. Returns whether every table showed the expected
/// verdicts.
pub fn run(
    fed: &Fed,
    policy: &Path,
    cache: &Path,
    n: usize,
    quorum: usize,
    covers: fn(usize, usize) -> bool,
) -> Result<bool> {
    let mut all = true;
    let samples = samples(n)?;
    let dir = fed.root.join("att-eco");
    std::fs::create_dir_all(&dir)?;
    let mut sizes = vec![0u64; fed.nodes.len()];
    let mut expected = Vec::new();
    let mut checked = Vec::new();
    for s in &samples {
        println!(
            "== reviewing {} {} releases from {} (verdicts are DEMO DATA)",
            s.releases.len(),
            s.label,
            s.source
        );
        for (j, size) in sizes.iter_mut().enumerate() {
            let mut files = Vec::new();
            for (i, r) in s.releases.iter().enumerate() {
                if !covers(j, i) {
                    continue;
                }
                for (k, (label, digest)) in r.files.iter().enumerate() {
                    // Release 0 of a multi-file ecosystem: its last file is never reviewed.
                    if i == 0 && r.files.len() > 1 && k == r.files.len() - 1 {
                        continue;
                    }
                    match fed.review_purl(
                        &fed.nodes[j].inst.reviewer_key,
                        &r.purl,
                        digest,
                        &format!("DEMO DATA: generated verdict for {label}, not a real review"),
                        &dir,
                    ) {
                        Ok(f) => files.push(f),
                        Err(e) => return Err(e),
                    }
                }
            }
            let t = Instant::now();
            let out = ok(fed.submit(j, &files)?, "quorate submit")?;
            println!(
                "  {}: {} {} reviews logged, proofs verified, in {:.0} ms",
                fed.nodes[j].inst.jurisdiction,
                out.lines().count(),
                s.label,
                t.elapsed().as_secs_f64() * 1000.0
            );
            *size = fed.size(j).unwrap_or(0);
        }
        let pass = (0..s.releases.len())
            .filter(|&i| (0..fed.nodes.len()).filter(|&j| covers(j, i)).count() >= quorum)
            .filter(|&i| !(i == 0 && s.releases[i].files.len() > 1))
            .count();
        expected.push((pass, s.releases.len() - pass));
        checked.push(s);
    }
    for (j, &size) in sizes.iter().enumerate() {
        fed.wait_cosigned(j, fed.nodes.len() - 1, size, 60)?;
    }
    for (s, (pass, fail)) in checked.into_iter().zip(expected) {
        let lock = fed.root.join(s.label.to_lowercase()).join(s.file_name);
        std::fs::create_dir_all(lock.parent().unwrap_or(&fed.root))?;
        std::fs::write(
            &lock,
            if s.label == "npm" {
                npm_lock(&s.releases)
            } else {
                uv_lock(&s.releases)
            },
        )?;
        println!("== {} table: quorate check {}", s.label, lock.display());
        let t = Instant::now();
        let o = fed.check(&lock, policy, cache, &[])?;
        print!("{}", String::from_utf8_lossy(&o.stdout));
        println!(
            "  exit {} in {:.0} ms",
            o.status.code().unwrap_or(-1),
            t.elapsed().as_secs_f64() * 1000.0
        );
        let want = format!(
            "{fail} of {} {} packages lack a quorum ({pass} pass",
            pass + fail,
            s.label
        );
        let got = String::from_utf8_lossy(&o.stdout).contains(&want);
        println!(
            "{} demo check {}: expected {want}{}",
            if got { "PASS" } else { "FAIL" },
            s.label,
            if s.releases.first().is_some_and(|r| r.files.len() > 1) {
                format!(" ({} has a file nobody reviewed)", s.releases[0].name)
            } else {
                String::new()
            }
        );
        all &= got;
    }
    Ok(all)
}
