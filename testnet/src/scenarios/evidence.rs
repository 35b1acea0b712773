//! Evidence beyond a verdict, on a live federation (issue 12).
//!
//! `xz`: DE, FR and JP reviewed the tagged source of `xz` 5.6.1 and certify the release
//! tarball's digest; the tarball carries one file the tag does not (`m4/build-to-host.m4`,
//! as in the real xz backdoor). JP compares the archive with the tag and logs an
//! `archive-matches-source` mismatch. The review quorum alone passes the tarball; a policy
//! that requires `archive-matches-source` refuses it and names the requirement.
//!
//! `sealed`: FR's reviewer finds a problem under embargo and logs only a commitment; DE and
//! JP certify the release meanwhile (it passes, with "1 sealed commitment not yet
//! revealed" shown); a reveal with the wrong salt is refused and changes nothing; the
//! real reveal flips the verdict to a veto dated from the commitment's entry.
//!
//! Attestations are built with the proto API and signed with each institute's registered
//! reviewer key, then submitted with `quorate submit` like any other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use quorate_proto::attestation::{
    self, ArchiveMatchesSource, Attestation, Digest, Evidence, Reviewer, ReviewerKind, Scope,
    Verdict,
};
use sha2::{Digest as _, Sha256};

use super::{Outcome, files_dir, ms, out_text, outcome};
use crate::fed::{Bins, Fed, lockfile};

const PKG: &str = "xz";
const VERSION: &str = "5.6.1";
const NOTE: &str = "DEMO DATA: generated for the scenario, not a real review";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1)
}

/// The release under review: the tagged source tree, and the tarball (the tag plus one
/// file the tag does not have). The tarball's "bytes" are its files in path order, each
/// as `path\0content\0`: enough to give it a digest that depends on every file.
fn trees() -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut tag = BTreeMap::new();
    for (p, c) in [
        ("configure.ac", "AC_INIT([XZ Utils], [5.6.1])\n"),
        ("src/liblzma/check/crc64_fast.c", "/* crc64 */\n"),
        ("m4/tuklib_common.m4", "dnl tuklib\n"),
        ("README", "XZ Utils\n"),
    ] {
        tag.insert(p.to_owned(), c.to_owned());
    }
    let mut tarball = tag.clone();
    tarball.insert(
        "m4/build-to-host.m4".to_owned(),
        "dnl gl_BUILD_TO_HOST (DEMO DATA: stands for the injected macro)\n".to_owned(),
    );
    (tag, tarball)
}

fn tarball_digest(files: &BTreeMap<String, String>) -> [u8; 32] {
    let mut h = Sha256::new();
    for (p, c) in files {
        h.update(p.as_bytes());
        h.update([0]);
        h.update(c.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

/// Paths present in one tree only or with different content, sorted.
fn differing(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut out: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|p| a.get(*p) != b.get(*p))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

fn base(key: &ed25519_dalek::SigningKey, name: &str, digest: [u8; 32]) -> Attestation {
    Attestation {
        ecosystem: "cargo".into(),
        package: PKG.into(),
        version: VERSION.into(),
        digest: Digest::Sha256(digest),
        delta_from: None,
        artifacts: vec![],
        scope: Some(Scope::Full),
        criteria: vec!["safe-to-deploy".into()],
        verdict: Verdict::Certify,
        evidence: Some(Evidence::SourceReview),
        reviewer: Reviewer {
            name: name.into(),
            public_key: key.verifying_key().to_bytes(),
            kind: ReviewerKind::Human,
        },
        organisation: String::new(),
        time: now(),
        notes: NOTE.into(),
        links: vec![],
        supersedes: None,
        reveal: None,
    }
}

/// Institute `i`'s reviewer key.
fn reviewer(fed: &Fed, i: usize) -> Result<(String, ed25519_dalek::SigningKey)> {
    quorate_client::keys::load_reviewer_key(&fed.nodes[i].inst.reviewer_key)
        .context("loading the institute's reviewer key")
}

/// Signs `att` with `key` into `dir/<file>.att`; returns the file and the leaf hash.
fn sign(
    att: &Attestation,
    key: &ed25519_dalek::SigningKey,
    dir: &Path,
    file: &str,
) -> Result<(PathBuf, [u8; 32])> {
    let env = attestation::sign(att, key)?;
    let leaf = *attestation::verify(&env)?.leaf_hash();
    let path = dir.join(format!("{file}.att"));
    std::fs::write(&path, &env)?;
    Ok((path, leaf))
}

fn submit(fed: &Fed, i: usize, files: &[PathBuf]) -> Result<()> {
    let o = fed.submit(i, files)?;
    anyhow::ensure!(
        o.status.success(),
        "submit to {}: {}",
        fed.nodes[i].inst.jurisdiction,
        out_text(&o)
    );
    Ok(())
}

/// `check --json` of the one-package lockfile: (exit code, that package's JSON).
fn check(fed: &Fed, lock: &Path, policy: &Path, cache: &Path) -> Result<(i32, serde_json::Value)> {
    let o = fed.check(lock, policy, cache, &["--json"])?;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).with_context(|| out_text(&o))?;
    let p = v["packages"]
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .with_context(|| format!("no package in {v}"))?;
    Ok((o.status.code().unwrap_or(-1), p))
}

fn federation(bins: &Bins) -> Result<Fed> {
    let mut fed = Fed::create(None, &["DE", "FR", "JP"], bins.clone())?;
    fed.start_all()?;
    let d = fed.wait_all_cosigned(60)?;
    fed.say(format!(
        "3 nodes up (DE, FR, JP), all checkpoints cosigned after {}",
        ms(d)
    ));
    Ok(fed)
}

/// A quorum-2 policy over all three, cosigned by 2 witnesses, plus `extra` lines.
fn policy(fed: &Fed, name: &str, extra: &str) -> Result<PathBuf> {
    let path = fed.root.join(name);
    fed.policy(&[0, 1, 2], 2, 2, &path)?;
    if !extra.is_empty() {
        let mut t = std::fs::read_to_string(&path)?;
        t.push_str(extra);
        std::fs::write(&path, t)?;
    }
    Ok(path)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(super) fn xz(bins: &Bins) -> Result<Outcome> {
    let fed = federation(bins)?;
    let dir = files_dir(&fed, "att")?;
    let (tag, tarball) = trees();
    let digest = tarball_digest(&tarball);
    let diff = differing(&tag, &tarball);
    fed.say(format!(
        "{PKG} {VERSION}: tag has {} files, the tarball {} (sha256:{}); they differ at {}",
        tag.len(),
        tarball.len(),
        &hex(&digest)[..16],
        diff.join(", ")
    ));
    // Three source reviews certifying the tarball's digest (the reviewers read the tag).
    for i in 0..3 {
        let (name, key) = reviewer(&fed, i)?;
        let (f, _) = sign(
            &base(&key, &name, digest),
            &key,
            &dir,
            &format!("review-{i}"),
        )?;
        submit(&fed, i, &[f])?;
    }
    // JP's comparison tool: the archive differs from the tag.
    let (name, key) = reviewer(&fed, 2)?;
    let mut cmp = base(&key, &name, digest);
    cmp.verdict = Verdict::Informational;
    cmp.reviewer.kind = ReviewerKind::Tool;
    cmp.evidence = Some(Evidence::ArchiveMatchesSource(ArchiveMatchesSource {
        source_revision: format!("v{VERSION}"),
        source_uri: "https://example.org/xz.git".into(),
        differing_count: u32::try_from(diff.len())?,
        differing_paths: diff.clone(),
        allowed_generated: vec![],
    }));
    let (f, leaf) = sign(&cmp, &key, &dir, "archive-vs-source-jp")?;
    submit(&fed, 2, &[f])?;
    fed.wait_cosigned(0, 2, 1, 30)?;
    fed.wait_cosigned(1, 2, 1, 30)?;
    fed.wait_cosigned(2, 2, 2, 30)?;
    fed.say(format!(
        "DE, FR, JP logged source reviews of the tarball's digest; JP logged an \
         archive-matches-source mismatch (leaf {})",
        &hex(&leaf)[..16]
    ));
    let lock = fed.root.join("Cargo.lock");
    std::fs::write(
        &lock,
        lockfile(&[(PKG.into(), VERSION.into(), hex(&digest))]),
    )?;
    let plain = policy(&fed, "quorum.policy", "")?;
    let strict = policy(
        &fed,
        "evidence.policy",
        "require safe-to-deploy source-review 2 human\n\
         require safe-to-deploy archive-matches-source any\n",
    )?;
    let cache = fed.root.join("cache");
    let t = Instant::now();
    let (c1, p1) = check(&fed, &lock, &plain, &cache)?;
    let (c2, p2) = check(&fed, &lock, &strict, &cache)?;
    let took = t.elapsed();
    fed.say(format!(
        "source-review quorum only: pass={} (certified by {}), exit {c1}",
        p1["pass"], p1["certified_by"]
    ));
    let reason = p2["reason"].as_str().unwrap_or_default().to_owned();
    fed.say(format!(
        "requiring archive-matches-source: pass={}, exit {c2}: {reason}",
        p2["pass"]
    ));
    // The table says the same, under the entry.
    let table = out_text(&fed.check(&lock, &strict, &cache, &[])?);
    let table_line = table
        .lines()
        .find(|l| l.contains("requirement FAILED"))
        .unwrap_or("")
        .trim()
        .to_owned();
    fed.say(format!("table: {table_line}"));
    let refused = p2["requirements"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["evidence"] == "archive-matches-source" && r["pass"] == false);
    let pass = c1 == 0
        && p1["pass"] == true
        && c2 == 1
        && p2["pass"] == false
        && refused
        && reason.contains("archive-matches-source")
        && reason.contains("build-to-host.m4")
        && table_line.contains("archive-matches-source: refused: JP");
    outcome(
        pass,
        format!(
            "the source-review quorum alone passes the tarball (3 jurisdictions certify, 2 needed); the \
             policy requiring archive-matches-source refuses its digest: \"{reason}\"; both \
             checks {}",
            ms(took)
        ),
    )
}

pub(super) fn sealed(bins: &Bins) -> Result<Outcome> {
    let fed = federation(bins)?;
    let dir = files_dir(&fed, "att")?;
    let (_, tarball) = trees();
    let digest = tarball_digest(&tarball);
    // FR's reviewer, under embargo: a violation of 5.6.1, sealed.
    let (fr_name, fr_key) = reviewer(&fed, 1)?;
    let mut inner = base(&fr_key, &fr_name, digest);
    inner.verdict = Verdict::Violation {
        range: format!("={VERSION}"),
    };
    inner.notes = "DEMO DATA: embargoed finding".into();
    let mut salt = [0u8; 32];
    salt[..8].copy_from_slice(&now().to_be_bytes());
    salt[8..].copy_from_slice(&Sha256::digest(fed.root.to_string_lossy().as_bytes())[..24]);
    let commitment = Attestation::sealed_commitment(&inner, &salt, now());
    let (cf, cleaf) = sign(&commitment, &fr_key, &dir, "commitment-fr")?;
    submit(&fed, 1, &[cf])?;
    // DE and JP certify meanwhile.
    for i in [0, 2] {
        let (name, key) = reviewer(&fed, i)?;
        let (f, _) = sign(
            &base(&key, &name, digest),
            &key,
            &dir,
            &format!("review-{i}"),
        )?;
        submit(&fed, i, &[f])?;
    }
    for i in 0..3 {
        fed.wait_cosigned(i, 2, 1, 30)?;
    }
    let lock = fed.root.join("Cargo.lock");
    std::fs::write(
        &lock,
        lockfile(&[(PKG.into(), VERSION.into(), hex(&digest))]),
    )?;
    let pol = policy(&fed, "quorum.policy", "")?;
    let cache = fed.root.join("cache");
    let (c1, p1) = check(&fed, &lock, &pol, &cache)?;
    fed.say(format!(
        "during the embargo: pass={} (certified by {}), {} sealed commitment(s) not yet \
         revealed, exit {c1}",
        p1["pass"], p1["certified_by"], p1["sealed_unrevealed"]
    ));
    // `explain` shows the count too, and the commitment as a set-aside-free entry.
    let ex = out_text(&fed.q(&[
        "explain",
        PKG,
        lock.to_str().unwrap_or_default(),
        "--policy",
        pol.to_str().unwrap_or_default(),
        "--cache",
        cache.to_str().unwrap_or_default(),
    ])?);
    let explained = ex.contains("(sealed commitment)")
        && ex.contains("1 sealed commitment not yet revealed (FR: 5.6.1)");
    fed.say(format!(
        "explain: {}",
        ex.lines()
            .find(|l| l.contains("sealed commitment not yet revealed"))
            .unwrap_or("(no sealed line)")
            .trim()
    ));
    // A reveal with the wrong salt: refused with the reason, changes nothing.
    let mut wrong = salt;
    wrong[0] ^= 1;
    let (bf, _) = sign(
        &Attestation::revealing(&inner, cleaf, wrong),
        &fr_key,
        &dir,
        "reveal-wrong-salt",
    )?;
    submit(&fed, 1, &[bf])?;
    fed.wait_cosigned(1, 2, 2, 30)?;
    let (c2, p2) = check(&fed, &lock, &pol, &cache)?;
    let bad_refused = p2["notices"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|n| n["text"].as_str().unwrap_or("").contains("reveal refused"));
    fed.say(format!(
        "a reveal with the wrong salt: pass={}, refused with a reason: {bad_refused}, exit {c2}",
        p2["pass"]
    ));
    // The real reveal.
    let t = Instant::now();
    let (rf, _) = sign(
        &Attestation::revealing(&inner, cleaf, salt),
        &fr_key,
        &dir,
        "reveal-fr",
    )?;
    submit(&fed, 1, &[rf])?;
    fed.wait_cosigned(1, 2, 3, 30)?;
    let (c3, p3) = check(&fed, &lock, &pol, &cache)?;
    let took = t.elapsed();
    let sealed_at = p3["violations"][0]["sealed_at"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    fed.say(format!(
        "after the reveal: pass={}, {} unrevealed, vetoed by FR dated from {sealed_at}, exit {c3}: {}",
        p3["pass"],
        p3["sealed_unrevealed"],
        p3["reason"].as_str().unwrap_or_default()
    ));
    let pass = c1 == 0
        && p1["pass"] == true
        && p1["sealed_unrevealed"] == 1
        && explained
        && c2 == 0
        && bad_refused
        && p2["sealed_unrevealed"] == 1
        && c3 == 1
        && p3["pass"] == false
        && p3["sealed_unrevealed"] == 0
        && sealed_at.ends_with("#0");
    outcome(
        pass,
        format!(
            "embargo: passes with 1 sealed commitment shown (no content); wrong-salt reveal \
             refused; the reveal flips it to FAIL (veto dated from the commitment at {sealed_at}) \
             {} after submitting",
            ms(took)
        ),
    )
}
