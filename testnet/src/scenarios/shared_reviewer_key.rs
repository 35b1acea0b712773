//! `shared-reviewer-key`: one reviewer key registered with two institutes (DE's reviewer,
//! also admitted by FR) reviews a package, and the same envelope lands in both logs. The
//! client must count the key for one jurisdiction only, must not take a vote from DE when
//! FR also has its own reviewer, and must honour the key's withdrawal, published in FR's
//! log only, in DE's log too.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use super::{NOTE, Outcome, files_dir, ms, out_text, outcome};
use crate::fed::{Bins, Fed, lockfile};

/// `check --json`: exit code and the JSON document.
fn check_json(
    fed: &Fed,
    lock: &Path,
    policy: &Path,
    cache: &Path,
) -> Result<(i32, serde_json::Value)> {
    let o = fed.check(lock, policy, cache, &["--json"])?;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).with_context(|| out_text(&o))?;
    Ok((o.status.code().unwrap_or(-1), v))
}

fn certified_by(v: &serde_json::Value, pkg: &str) -> Vec<String> {
    v["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == pkg)
        .and_then(|p| p["certified_by"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|j| j.as_str().map(str::to_owned))
        .collect()
}

pub(super) fn run(bins: &Bins) -> Result<Outcome> {
    let mut fed = Fed::create(None, &["DE", "FR", "JP"], bins.clone())?;
    // FR admits DE's reviewer too: one key, registered with two institutes.
    let de_key = fed.nodes[0].inst.reviewer_key.clone();
    crate::fed::ok(
        crate::fed::run(
            &fed.bins.node,
            &[
                "reviewers",
                "add",
                "--data",
                fed.nodes[1].inst.data.to_str().unwrap(),
                de_key.with_extension("pub").to_str().unwrap(),
            ],
        )?,
        "quorate-node reviewers add",
    )?;
    fed.start_all()?;
    fed.wait_all_cosigned(60)?;
    fed.say("3 nodes up (DE, FR, JP); DE's reviewer key is registered at DE and at FR");
    let dir = files_dir(&fed, "att")?;
    let (a, b) = ("shared-key-alpha", "shared-key-beta");
    let (sa, sb) = (format!("{:064x}", 0xa1), format!("{:064x}", 0xb2));
    // alpha: DE's reviewer only, the same envelope in DE's and FR's logs.
    let alpha = dir.join("alpha.att");
    let leaf = review(&fed, &de_key, a, &sa, &alpha, &["--notes", NOTE])?;
    // beta: the same, plus FR's own reviewer in FR's log.
    let beta = fed.review(&de_key, b, "1.0.0", &sb, NOTE, &dir)?;
    let beta_fr = fed.review(&fed.nodes[1].inst.reviewer_key, b, "1.0.0", &sb, NOTE, &dir)?;
    crate::fed::ok(fed.submit(0, &[alpha.clone(), beta.clone()])?, "submit DE")?;
    crate::fed::ok(fed.submit(1, &[alpha.clone(), beta, beta_fr])?, "submit FR")?;
    fed.wait_cosigned(0, 2, 2, 30)?;
    fed.wait_cosigned(1, 2, 3, 30)?;
    let lock = fed.root.join("Cargo.lock");
    std::fs::write(
        &lock,
        lockfile(&[
            (a.into(), "1.0.0".into(), sa.clone()),
            (b.into(), "1.0.0".into(), sb.clone()),
        ]),
    )?;
    let (k2, k1) = (fed.root.join("k2.policy"), fed.root.join("k1.policy"));
    fed.policy(&[0, 1, 2], 2, 2, &k2)?;
    fed.policy(&[0, 1, 2], 1, 2, &k1)?;
    let cache = fed.root.join("cache");
    let t = Instant::now();
    let (code, v) = check_json(&fed, &lock, &k2, &cache)?;
    let d_check = t.elapsed();
    let (ca, cb) = (certified_by(&v, a), certified_by(&v, b));
    let text = v.to_string();
    let once = ca == ["DE"] && text.contains("it counts for DE");
    fed.say(format!(
        "quorum 2: {a} certified by {ca:?} (the shared key counted once, for DE); \
         {b} certified by {cb:?} (FR's own reviewer); check exit {code} in {}",
        ms(d_check)
    ));
    // The key withdraws alpha in FR's log only.
    let wd = dir.join("withdraw-alpha.att");
    review(
        &fed,
        &de_key,
        a,
        &sa,
        &wd,
        &["--supersedes", &leaf, "--notes", "withdrawn (DEMO DATA)"],
    )?;
    crate::fed::ok(fed.submit(1, &[wd])?, "submit withdrawal to FR")?;
    fed.wait_cosigned(1, 2, 4, 30)?;
    let (code1, v1) = check_json(&fed, &lock, &k1, &cache)?;
    let withdrawn = v1.to_string().matches("withdrawn by").count();
    let gone = certified_by(&v1, a).is_empty() && withdrawn >= 2;
    fed.say(format!(
        "the key's withdrawal, in FR's log only: {a} now certified by {:?} at quorum 1 \
         ({withdrawn} copies withdrawn), exit {code1}",
        certified_by(&v1, a)
    ));
    outcome(
        code == 1 && once && cb == ["DE", "FR"] && gone && code1 == 1,
        format!(
            "key registered at DE and FR counted once ({a}: {} of 2 jurisdictions, FR told \
             \"counts for DE\"); FR's own reviewer kept both votes for {b} ({}); its withdrawal \
             in FR's log withdrew {withdrawn} copies (DE's too); check {}",
            ca.len(),
            cb.join("+"),
            ms(d_check)
        ),
    )
}

/// `quorate review` of `pkg@1.0.0` into `out`; returns the leaf hash it prints.
fn review(
    fed: &Fed,
    key: &Path,
    pkg: &str,
    digest: &str,
    out: &Path,
    extra: &[&str],
) -> Result<String> {
    let spec = format!("crates.io/{pkg}@1.0.0");
    // `["--supersedes", LEAF, ...]` signs a withdrawal (`quorate withdraw`).
    let args = match extra {
        ["--supersedes", leaf, rest @ ..] => {
            let mut a = vec![
                "withdraw",
                "--key",
                key.to_str().unwrap(),
                "--entry",
                leaf,
                "--package",
                &spec,
                "--out",
                out.to_str().unwrap(),
            ];
            a.extend_from_slice(rest);
            a
        }
        _ => {
            let mut a = vec![
                "review",
                "--key",
                key.to_str().unwrap(),
                "--package",
                &spec,
                "--digest",
                digest,
                "--criteria",
                "safe-to-deploy",
                "--out",
                out.to_str().unwrap(),
            ];
            a.extend_from_slice(extra);
            a
        }
    };
    let text = crate::fed::ok(fed.q(&args)?, "quorate review")?;
    text.lines()
        .find_map(|l| l.strip_prefix("leaf hash "))
        .map(|l| l.trim().to_owned())
        .context("quorate review printed no leaf hash")
}
