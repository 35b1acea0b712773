//! `quorate-testnet screenshots`: a three-institute federation logs a few reviews (DEMO
//! DATA), one of them withdrawn, then a real headless Chromium photographs node DE's
//! public pages into `--out` (default `docs/screenshots`), the PNGs the README shows.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use quorate_node::browser::Chromium;
use sha2::{Digest as _, Sha256};

use crate::fed::{Bins, Fed, ok};

/// The pages photographed: (file name, path, window height).
pub const PAGES: [(&str, &str, u32); 6] = [
    ("home.png", "/", 1100),
    (
        "reviews.png",
        "/reviews?ecosystem=cargo&package=serde&version=1.0.210",
        1300,
    ),
    ("search.png", "/reviews?ecosystem=cargo&package=s", 700),
    ("reviewers.png", "/reviewers", 600),
    ("federation.png", "/federation", 1250),
    ("activity.png", "/activity?days=30", 700),
];

/// A made-up but well-formed SHA-256 for a release (DEMO DATA, not a real checksum).
fn demo_digest(pkg: &str, version: &str) -> String {
    let d = Sha256::digest(format!("demo {pkg} {version}").as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn leaf_of(file: &Path) -> Result<String> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let leaf = quorate_proto::merkle::leaf_hash(&bytes);
    Ok(leaf.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn run(out: PathBuf, width: u32) -> Result<bool> {
    let Some(browser) = Chromium::find() else {
        bail!(
            "no chromium on PATH (apt-get install chromium, or set {})",
            quorate_node::browser::ENV_BINARY
        );
    };
    let browser = browser.with_timeout(Duration::from_secs(90));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut fed = Fed::create(None, &["DE", "FR", "JP"], Bins::locate()?)?;
    fed.start_all()?;
    fed.wait_all_cosigned(60)?;
    let att = fed.root.join("att");
    std::fs::create_dir_all(&att)?;
    let releases = [
        ("serde", "1.0.210"),
        ("serde_json", "1.0.128"),
        ("syn", "2.0.77"),
        ("tokio", "1.40.0"),
        ("rand", "0.8.5"),
        ("sha2", "0.10.8"),
        ("smallvec", "1.13.2"),
        ("regex", "1.10.6"),
        ("libc", "0.2.158"),
        ("bytes", "1.7.1"),
    ];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let mut withdrawn = None;
    for (j, _) in ["DE", "FR", "JP"].iter().enumerate() {
        let key = fed.nodes[j].inst.reviewer_key.clone();
        let mut files = Vec::new();
        for (k, (pkg, ver)) in releases.iter().enumerate() {
            if (j + k) % 3 == 2 {
                continue;
            }
            // Review dates spread over the last four weeks, for the activity chart.
            let time = now - ((k as u64 * 5 + j as u64 * 3) % 27) * 86_400 - j as u64 * 3600;
            let f = att.join(format!("{j}-{pkg}-{ver}.att"));
            ok(
                fed.q(&[
                    "review",
                    "--key",
                    key.to_str().unwrap_or_default(),
                    "--package",
                    &format!("cargo/{pkg}@{ver}"),
                    "--digest",
                    &demo_digest(pkg, ver),
                    "--criteria",
                    "safe-to-deploy",
                    "--notes",
                    "DEMO DATA: generated for the README screenshots, not a real review.",
                    "--time",
                    &time.to_string(),
                    "--out",
                    f.to_str().unwrap_or_default(),
                ])?,
                "quorate review",
            )?;
            if j == 0 && *pkg == "serde" {
                withdrawn = Some(leaf_of(&f)?);
            }
            files.push(f);
        }
        ok(fed.submit(j, &files)?, "quorate submit")?;
    }
    // DE withdraws its serde review.
    if let Some(leaf) = withdrawn {
        let wd = att.join("withdraw-serde.att");
        ok(
            fed.q(&[
                "withdraw",
                "--key",
                fed.nodes[0].inst.reviewer_key.to_str().unwrap_or_default(),
                "--entry",
                &leaf,
                "--package",
                "cargo/serde@1.0.210",
                "--notes",
                "DEMO DATA: withdrawn, the tarball reviewed was not the published one.",
                "--out",
                wd.to_str().unwrap_or_default(),
            ])?,
            "quorate withdraw",
        )?;
        ok(fed.submit(0, &[wd])?, "submit withdrawal")?;
    }
    // Every log's newest checkpoint cosigned by both peers.
    for i in 0..3 {
        let size = fed.size(i).unwrap_or(0);
        fed.wait_cosigned(i, 2, size, 60)?;
    }
    // Let node DE hear its peers' newest checkpoints and recosign them.
    std::thread::sleep(Duration::from_secs(3));
    let base = fed.url(0);
    for (file, path, height) in PAGES {
        let target = out.join(file);
        browser
            .screenshot(&format!("{base}{path}"), &target, width, height)
            .with_context(|| format!("photographing {path}"))?;
        println!("{} <- {base}{path}", target.display());
    }
    fed.stop_all();
    Ok(true)
}
