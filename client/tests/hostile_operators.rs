//! Issue 9 end to end, with real `quorate-node` processes on 127.0.0.1 (killed on drop)
//! and the real `quorate` binary: one reviewer key counts for one jurisdiction, a key's
//! withdrawal reaches every log that carries its attestation, and bundles say what they
//! cannot prove and who vouches for them.

mod nodes;

use std::path::{Path, PathBuf};

use nodes::*;
use quorate_client::dirnames::{legacy_origin_dir, origin_dir};

/// `quorate review` by `key`; returns (envelope path, leaf hash).
fn review(dir: &Path, key: &Path, spec: &str, digest: &str, extra: &[&str]) -> (PathBuf, String) {
    let out = dir.join(format!(
        "{}-{}-{}.att",
        spec.replace(['/', '@'], "_"),
        key.file_stem().unwrap().to_str().unwrap(),
        extra.len()
    ));
    // `["--supersedes", LEAF, ...]` signs a withdrawal (`quorate withdraw`).
    let args = match extra {
        ["--supersedes", leaf, rest @ ..] => {
            let mut a = vec![
                "withdraw",
                "--key",
                s(key),
                "--entry",
                leaf,
                "--package",
                spec,
                "--out",
                s(&out),
            ];
            a.extend_from_slice(rest);
            a
        }
        _ => {
            let mut a = vec![
                "review",
                "--key",
                s(key),
                "--package",
                spec,
                "--digest",
                digest,
                "--criteria",
                "safe-to-deploy",
                "--out",
                s(&out),
            ];
            a.extend_from_slice(extra);
            a
        }
    };
    let o = ok(&q(&args));
    let leaf = o
        .lines()
        .find_map(|l| l.strip_prefix("leaf hash "))
        .unwrap()
        .trim()
        .to_owned();
    (out, leaf)
}

fn submit(inst: &Institute, att: &Path) {
    ok(&q(&[
        "submit",
        "--node",
        &inst.url,
        "--log",
        &inst.vkey,
        s(att),
    ]));
}

fn policy(dir: &Path, insts: &[&Institute], k: usize) -> PathBuf {
    let mut t = "quorum none\n".to_owned();
    for i in insts {
        t.push_str(&i.policy_line());
    }
    t.push_str(&format!("review-quorum {k}\n"));
    let p = dir.join(format!("k{k}.policy"));
    std::fs::write(&p, t).unwrap();
    p
}

fn check(lock: &Path, pol: &Path, cache: &Path, extra: &[&str]) -> std::process::Output {
    let mut a = vec!["check", s(lock), "--policy", s(pol), "--cache", s(cache)];
    a.extend_from_slice(extra);
    q(&a)
}

/// One reviewer key registered with two institutes: its review, submitted to both logs,
/// counts for one jurisdiction; with a second reviewer of its own, the other institute
/// still counts; and the key's withdrawal in one log withdraws it in the other.
#[test]
fn one_reviewer_key_at_two_institutes_counts_once_and_withdraws_everywhere() {
    let t = Tmp::new("onekey");
    let dir = t.path();
    let anna = reviewer(dir, "anna");
    let bernd = reviewer(dir, "bernd");
    let de = Institute::start(dir, "DE", &[&anna.1]);
    let fr = Institute::start(dir, "FR", &[&anna.1, &bernd.1]);
    let (alpha, alpha_leaf) = review(dir, &anna.0, "cargo/alpha@1.0.0", &d(1), &[]);
    submit(&de, &alpha);
    submit(&fr, &alpha);
    let (beta, _) = review(dir, &anna.0, "cargo/beta@1.0.0", &d(2), &[]);
    submit(&de, &beta);
    submit(&fr, &beta);
    let (beta_b, _) = review(dir, &bernd.0, "cargo/beta@1.0.0", &d(2), &[]);
    submit(&fr, &beta_b);
    let lock = lock_alpha_beta(dir);
    let cache = dir.join("cache");
    let k2 = policy(dir, &[&de, &fr], 2);
    let o = check(&lock, &k2, &cache, &["--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v = json(&o);
    let got = verdicts(&v);
    assert_eq!(got["alpha@1.0.0"], (false, vec!["DE".to_owned()]), "{v}");
    assert_eq!(
        got["beta@1.0.0"],
        (true, vec!["DE".to_owned(), "FR".to_owned()]),
        "{v}"
    );
    let text = v.to_string();
    assert!(
        text.contains("reviewer \\\"anna\\\" (key ")
            && text
                .contains("one key counts for one jurisdiction per package, and it counts for DE"),
        "{text}"
    );

    // anna withdraws alpha in FR's log only: DE's copy is withdrawn too.
    let k1 = policy(dir, &[&de, &fr], 1);
    exits(
        &check(&lock, &k1, &cache, &[]),
        0,
        "Checked 2 packages: all pass",
    );
    let (wd, _) = review(
        dir,
        &anna.0,
        "cargo/alpha@1.0.0",
        &d(1),
        &["--supersedes", &alpha_leaf, "--notes", "withdrawn"],
    );
    submit(&fr, &wd);
    let o = check(&lock, &k1, &cache, &["--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(verdicts(&v)["alpha@1.0.0"], (false, vec![]), "{v}");
    let reasons = v["packages"][0]["missing"].to_string();
    assert_eq!(
        reasons.matches("withdrawn by \\\"anna\\\"").count(),
        2,
        "withdrawn in both logs: {reasons}"
    );
}

/// `check --bundle` says what a bundle cannot prove; `quorate bundle --sign` records
/// its maker and checkpoints in a signed manifest that `--bundle-maker` verifies, and an
/// unsigned, wrongly signed or trimmed bundle is refused when a maker is required.
#[test]
fn bundles_state_what_they_cannot_prove_and_who_vouches() {
    let t = Tmp::new("bundlemaker");
    let dir = t.path();
    let anna = reviewer(dir, "anna");
    let de = Institute::start(dir, "DE", &[&anna.1]);
    for (p, n) in [("alpha", 1), ("beta", 2)] {
        let (a, _) = review(dir, &anna.0, &format!("cargo/{p}@1.0.0"), &d(n), &[]);
        submit(&de, &a);
    }
    let lock = lock_alpha_beta(dir);
    let cache = dir.join("cache");
    let pol = policy(dir, &[&de], 1);
    let maker = reviewer(dir, "bundler.example");
    let other = reviewer(dir, "someone.else");
    let make = |out: &Path, sign: Option<&Path>| make_bundle(&lock, &pol, &cache, out, sign);

    // Unsigned, as before: decided, with the statement.
    let plain = dir.join("plain");
    assert!(make(&plain, None).contains("unsigned"));
    let o = check(&lock, &pol, &cache, &["--bundle", s(&plain)]);
    let out = exits_ok(&o);
    assert!(
        out.contains("cannot prove that no withdrawal or violation was left out"),
        "{out}"
    );
    assert!(
        out.contains("bundle: unsigned: nobody vouches that it is complete"),
        "{out}"
    );
    exits(
        &check(
            &lock,
            &pol,
            &cache,
            &["--bundle", s(&plain), "--bundle-maker", s(&maker.1)],
        ),
        2,
        "is unsigned",
    );

    // Signed: verified under the maker's key, with its checkpoints named.
    let signed = dir.join("signed");
    assert!(make(&signed, Some(&maker.0)).contains("manifest signed by bundler.example"));
    let o = check(
        &lock,
        &pol,
        &cache,
        &["--bundle", s(&signed), "--bundle-maker", s(&maker.1)],
    );
    let out = exits_ok(&o);
    assert!(out.contains("bundle: made by bundler.example at "), "{out}");
    assert!(
        out.contains(&format!("from checkpoints {}@2", de.origin)),
        "{out}"
    );
    let o = check(&lock, &pol, &cache, &["--bundle", s(&signed), "--json"]);
    let v = json(&o);
    assert!(
        v["bundle"][1].as_str().unwrap().contains("not verified"),
        "{v}"
    );
    // Someone else's key: refused, naming why.
    exits(
        &check(
            &lock,
            &pol,
            &cache,
            &["--bundle", s(&signed), "--bundle-maker", s(&other.1)],
        ),
        2,
        "not signed by the maker you named",
    );
    // An entry removed after signing (as a withdrawal could be): refused.
    let mut atts = Vec::new();
    find_att(&signed, &mut atts);
    assert_eq!(atts.len(), 2);
    std::fs::remove_file(&atts[0]).unwrap();
    exits(
        &check(
            &lock,
            &pol,
            &cache,
            &["--bundle", s(&signed), "--bundle-maker", s(&maker.1)],
        ),
        2,
        "differs from what its maker signed",
    );

    // The same for a packed bundle: vouched for as written, refused once a record is cut.
    let packed = dir.join("packed");
    let mut a = vec!["bundle", s(&lock), "--out", s(&packed), "--policy", s(&pol)];
    a.extend(["--cache", s(&cache), "--sign", s(&maker.0), "--packed"]);
    assert!(ok(&q(&a)).contains("manifest signed by bundler.example"));
    let with_maker = ["--bundle", s(&packed), "--bundle-maker", s(&maker.1)];
    let out = exits_ok(&check(&lock, &pol, &cache, &with_maker));
    assert!(out.contains("bundle: made by bundler.example at "), "{out}");
    let pack = std::fs::read_dir(&packed)
        .unwrap()
        .map(|e| e.unwrap().path().join("entries.pack"))
        .find(|p| p.is_file())
        .expect("a log directory with entries.pack");
    let bytes = std::fs::read(&pack).unwrap();
    // Keep the magic line and the first record only.
    let magic = b"quorate-bundle-pack v1\n".len();
    let len = usize::from(u16::from_be_bytes([bytes[magic], bytes[magic + 1]]));
    let n = usize::from(bytes[magic + 2 + len + 8]);
    let first_end = magic + 2 + len + 8 + 1 + 32 * n;
    assert!(first_end < bytes.len(), "two records expected");
    std::fs::write(&pack, &bytes[..first_end]).unwrap();
    exits(
        &check(&lock, &pol, &cache, &with_maker),
        2,
        "differs from what its maker signed",
    );
}

/// One truncated `.tlog-proof` and one oversized envelope (and an oversized evidence
/// file) cost their own entries only: `check --bundle` warns, naming each file, and the
/// other jurisdictions still decide (it used to stop the whole check on the first one).
#[test]
fn one_bad_file_in_a_bundle_costs_only_its_entry() {
    let t = Tmp::new("badfile");
    let dir = t.path();
    let anna = reviewer(dir, "anna");
    let bernd = reviewer(dir, "bernd");
    let (de, fr) = two_reviewing_institutes(dir, &anna, &bernd);
    let lock = lock_alpha_beta(dir);
    let cache = dir.join("cache");
    let pol = policy(dir, &[&de, &fr], 1);
    let bundle = dir.join("bundle");
    make_bundle(&lock, &pol, &cache, &bundle, None);
    let mut atts = Vec::new();
    find_att(&bundle, &mut atts);
    assert_eq!(atts.len(), 4);
    let of = |j: &str, pkg: &str| {
        atts.iter()
            .find(|p| {
                let rel = p.strip_prefix(&bundle).unwrap().to_str().unwrap();
                rel.starts_with(j) && rel.contains(&format!("/{pkg}/"))
            })
            .unwrap()
            .clone()
    };
    // DE's proof of alpha cut short; FR's envelope of beta past the size limit.
    let proof = of("de", "alpha").with_extension("tlog-proof");
    let text = std::fs::read(&proof).unwrap();
    std::fs::write(&proof, &text[..12]).unwrap();
    let big = of("fr", "beta");
    std::fs::write(&big, vec![b'x'; 2 << 20]).unwrap();
    std::fs::create_dir_all(bundle.join("equivocations")).unwrap();
    let big_ev = bundle.join("equivocations").join("00");
    std::fs::write(&big_ev, vec![b'x'; 2 << 20]).unwrap();

    let o = check(&lock, &pol, &cache, &["--bundle", s(&bundle), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let v = json(&o);
    let got = verdicts(&v);
    assert_eq!(got["alpha@1.0.0"], (true, vec!["FR".to_owned()]), "{v}");
    assert_eq!(got["beta@1.0.0"], (true, vec!["DE".to_owned()]), "{v}");
    let warnings = v["warnings"].to_string();
    for f in [&proof, &big, &big_ev] {
        let name = f.file_name().unwrap().to_str().unwrap();
        assert!(warnings.contains(name), "{name} not named: {warnings}");
    }
    assert!(warnings.contains("over 1048576 bytes"), "{warnings}");
}

/// `--bundle-maker` vouches for exactly what `check --bundle` reads. Each change below
/// passed the maker check before: (a) a log's entries added under the legacy `_`-named
/// folder the loader falls back to, (b) equivocation evidence deleted, (c) proofs swapped
/// for ones by a newer checkpoint than the manifest lists.
#[test]
fn a_bundle_maker_vouches_for_exactly_what_the_loader_reads() {
    let t = Tmp::new("makerloader");
    let dir = t.path();
    let anna = reviewer(dir, "anna");
    let bernd = reviewer(dir, "bernd");
    let maker = reviewer(dir, "bundler.example");
    let (de, fr) = two_reviewing_institutes(dir, &anna, &bernd);
    let lock = lock_alpha_beta(dir);
    let pol = |name: &str, insts: &[&Institute]| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        policy(&d, insts, insts.len())
    };
    let (p_de, p_both) = (pol("pde", &[&de]), pol("pboth", &[&de, &fr]));
    let with_maker = |bundle: &Path| {
        check(
            &lock,
            &p_both,
            &dir.join("user-cache"),
            &["--bundle", s(bundle), "--bundle-maker", s(&maker.1)],
        )
    };
    let copy_dir = |from: &Path, to: &Path| {
        let mut atts = Vec::new();
        find_att(from, &mut atts);
        for a in atts {
            for f in [a.clone(), a.with_extension("tlog-proof")] {
                let dest = to.join(f.strip_prefix(from).unwrap());
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                std::fs::copy(&f, dest).unwrap();
            }
        }
    };

    // (a) Signed with DE only; FR's entries added under FR's legacy folder name.
    let signed_a = dir.join("signed-a");
    make_bundle(
        &lock,
        &p_de,
        &dir.join("cache-de"),
        &signed_a,
        Some(&maker.0),
    );
    exits(&with_maker(&signed_a), 1, "made by bundler.example");
    let full = dir.join("full");
    let cache_both = dir.join("cache-both");
    make_bundle(&lock, &p_both, &cache_both, &full, None);
    copy_dir(
        &full.join(origin_dir(&fr.origin)),
        &signed_a.join(legacy_origin_dir(&fr.origin)),
    );
    exits(
        &with_maker(&signed_a),
        2,
        "but the log is not in the manifest",
    );

    // (b) A bundle carrying evidence that DE's key signed a fork (the mirror saw a
    // forged size-1 checkpoint), then the evidence deleted.
    let (_, forged) = forge_checkpoint(&de.data, &de.origin, &[b"a different first entry"]);
    let cache_fork = dir.join("cache-fork");
    std::fs::create_dir_all(cache_fork.join(origin_dir(&de.origin))).unwrap();
    std::fs::write(
        cache_fork.join(origin_dir(&de.origin)).join("checkpoint"),
        &forged,
    )
    .unwrap();
    let signed_b = dir.join("signed-b");
    make_bundle(&lock, &p_both, &cache_fork, &signed_b, Some(&maker.0));
    let evidence: Vec<PathBuf> = std::fs::read_dir(signed_b.join("equivocations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(evidence.len(), 1);
    exits(&with_maker(&signed_b), 1, "made by bundler.example");
    std::fs::remove_file(&evidence[0]).unwrap();
    exits(
        &with_maker(&signed_b),
        2,
        "0 equivocation evidence files, the manifest lists 1",
    );

    // (c) Signed, then DE's log grows and its proofs are swapped for the newer ones.
    let signed_c = dir.join("signed-c");
    make_bundle(&lock, &p_both, &cache_both, &signed_c, Some(&maker.0));
    exits(&with_maker(&signed_c), 0, "made by bundler.example");
    submit(
        &de,
        &review(dir, &anna.0, "cargo/gamma@1.0.0", &d(3), &[]).0,
    );
    let newer = dir.join("newer");
    make_bundle(&lock, &p_both, &cache_both, &newer, None);
    copy_dir(
        &newer.join(origin_dir(&de.origin)),
        &signed_c.join(origin_dir(&de.origin)),
    );
    exits(
        &with_maker(&signed_c),
        2,
        "proofs not by the manifest's checkpoint",
    );
}

/// DE (reviewer `anna`) and FR (`bernd`), each logging its reviewer's review of alpha
/// 1.0.0 (digest `d(1)`) and beta 1.0.0 (`d(2)`).
fn two_reviewing_institutes(
    dir: &Path,
    anna: &(PathBuf, PathBuf),
    bernd: &(PathBuf, PathBuf),
) -> (Institute, Institute) {
    let de = Institute::start(dir, "DE", &[&anna.1]);
    let fr = Institute::start(dir, "FR", &[&bernd.1]);
    for (p, n) in [("alpha", 1), ("beta", 2)] {
        let spec = format!("cargo/{p}@1.0.0");
        submit(&de, &review(dir, &anna.0, &spec, &d(n), &[]).0);
        submit(&fr, &review(dir, &bernd.0, &spec, &d(n), &[]).0);
    }
    (de, fr)
}

/// A lockfile with alpha 1.0.0 (digest `d(1)`) and beta 1.0.0 (`d(2)`).
fn lock_alpha_beta(dir: &Path) -> PathBuf {
    let lock = dir.join("Cargo.lock");
    std::fs::write(
        &lock,
        lockfile(&[("alpha", "1.0.0", &d(1)), ("beta", "1.0.0", &d(2))]),
    )
    .unwrap();
    lock
}

/// `quorate bundle` into `out`, signed by `sign` when given; returns its output.
fn make_bundle(lock: &Path, pol: &Path, cache: &Path, out: &Path, sign: Option<&Path>) -> String {
    let mut a = vec![
        "bundle",
        s(lock),
        "--out",
        s(out),
        "--policy",
        s(pol),
        "--cache",
        s(cache),
    ];
    if let Some(k) = sign {
        a.extend(["--sign", s(k)]);
    }
    ok(&q(&a))
}

fn exits_ok(o: &std::process::Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(o), stderr(o));
    stdout(o)
}

fn find_att(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            find_att(&p, out);
        } else if p.extension().is_some_and(|x| x == "att") {
            out.push(p);
        }
    }
    out.sort();
}
