//! Everyday use (issue 14), on real `quorate-node` processes: honest exit codes when a
//! log is down, messages that say what happened (each cause once), reviews that cannot
//! be wrong by accident, and the commands people ask for (`explain`, `reviews`,
//! `policy check`, a ranked `gaps`).

mod nodes;

use std::path::Path;

use nodes::*;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn all(o: &std::process::Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// DE and FR both certify alpha; DE alone certifies beta; quorum 2, no witnesses.
fn two() -> (Fed, std::path::PathBuf, std::path::PathBuf) {
    let f = Fed::new("everyday", &["DE", "FR"]);
    f.publish(0, "cargo/alpha@1.0.0", &d(1), &[]);
    f.publish(1, "cargo/alpha@1.0.0", &d(1), &[]);
    f.publish(0, "cargo/beta@2.0.0", &d(2), &[]);
    let lock = write(
        &f.dir,
        "Cargo.lock",
        &lockfile(&[("alpha", "1.0.0", &d(1)), ("beta", "2.0.0", &d(2))]),
    );
    let pol = f.policy("quorum none\n", 2, "");
    (f, lock, pol)
}

#[test]
fn a_log_that_is_down_is_named_and_never_reads_as_no_review() {
    let (mut f, lock, pol) = two();
    let warm = f.dir.join("warm");
    let mirror = |cache: &Path, extra: &[&str]| {
        let mut a = vec!["mirror", "--policy", s(&pol), "--cache", s(cache)];
        a.extend_from_slice(extra);
        q(&a)
    };
    ok(&mirror(&warm, &[]));
    let fr_origin = f.insts[1].origin.clone();
    // FR goes down.
    let _ = f.insts[1].child.kill();
    let _ = f.insts[1].child.wait();

    // mirror, warm cache: exit 1, the log named, the cached state said.
    let o = mirror(&warm, &["--log-timeout", "5"]);
    exits(
        &o,
        1,
        &format!("log {fr_origin} (FR) could not be refreshed"),
    );
    assert!(stderr(&o).contains("using the cached checkpoint of size 1"));
    let o = mirror(&warm, &["--log-timeout", "5", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    let fr = v["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["jurisdiction"] == "FR")
        .unwrap();
    assert_eq!(fr["state"], "cached", "{v}");
    assert_eq!(v["ok"], false);

    // bundle from a cold cache: written without FR, exit 1, FR named.
    let cold = f.dir.join("cold");
    let out = f.dir.join("bundle");
    let o = q(&[
        "bundle",
        s(&lock),
        "--out",
        s(&out),
        "--policy",
        s(&pol),
        "--cache",
        s(&cold),
        "--log-timeout",
        "5",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    let v = json(&o);
    assert_eq!(v["incomplete"][0], fr_origin.as_str(), "{v}");
    assert!(stderr(&o).contains(&format!("log {fr_origin} (FR) is unproven")));

    // gaps: the unreachable log before the table, and every explanation says so.
    let o = q(&[
        "gaps",
        s(&lock),
        "--policy",
        s(&pol),
        "--cache",
        s(&f.dir.join("cold2")),
        "--log-timeout",
        "5",
    ]);
    let out = ok(&o);
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("warning: log {fr_origin} (FR) is unproven")),
        "{out}"
    );
    assert!(out.contains("FR: log unreachable:"), "{out}");
    assert!(!out.contains("FR: no review of this package"), "{out}");
    // check says the same per package.
    let o = q(&[
        "check",
        s(&lock),
        "--policy",
        s(&pol),
        "--cache",
        s(&f.dir.join("cold3")),
        "--log-timeout",
        "5",
    ]);
    exits(&o, 1, "FR: log unreachable:");
}

#[test]
fn truncated_and_garbage_tlog_proofs_are_handled_alike() {
    let (f, lock, pol) = two();
    let b = f.dir.join("b");
    let cache = f.dir.join("cache");
    ok(&q(&[
        "bundle",
        s(&lock),
        "--out",
        s(&b),
        "--policy",
        s(&pol),
        "--cache",
        s(&cache),
    ]));
    let proof = walk(&b)
        .into_iter()
        .find(|p| {
            p.extension().is_some_and(|x| x == "tlog-proof")
                && p.to_string_lossy().contains("fr.test")
                && p.to_string_lossy().contains("alpha")
        })
        .expect("FR's alpha proof in the bundle");
    let good = std::fs::read(&proof).unwrap();
    let name = proof.file_name().unwrap().to_str().unwrap().to_owned();
    let check = || q(&["check", s(&lock), "--policy", s(&pol), "--bundle", s(&b)]);
    for cut in [good.len() / 2, good.len() - 3] {
        std::fs::write(&proof, &good[..cut]).unwrap();
        let o = check();
        exits(&o, 1, &name);
        assert!(stdout(&o).contains("FAIL alpha 1.0.0"), "{}", all(&o));
    }
    std::fs::write(&proof, b"garbage\n").unwrap();
    let o = check();
    exits(&o, 1, &name);
    assert!(stdout(&o).contains("FAIL alpha 1.0.0"), "{}", all(&o));
}

fn walk(d: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn submit_messages_say_what_happened() {
    let t = Tmp::new("submit-msgs");
    let dir = t.path();
    let (alice, alice_pub) = reviewer(dir, "alice");
    let (mallory, _) = reviewer(dir, "mallory");
    let de = Institute::start(dir, "DE", &[&alice_pub]);
    let other = Institute::init(dir, "FR", &[]);
    let review = |key: &Path, pkg: &str| {
        let out = dir.join(format!(
            "{pkg}-{}.att",
            key.file_stem().unwrap().to_str().unwrap()
        ));
        ok(&q(&[
            "review",
            "--key",
            s(key),
            "--package",
            &format!("cargo/{pkg}@1.0.0"),
            "--digest",
            &d(1),
            "--criteria",
            "safe-to-deploy",
            "--out",
            s(&out),
        ]));
        out
    };
    let a = review(&alice, "a");
    // The wrong log key: the node logged it, and the client says exactly that.
    let o = q(&["submit", "--node", &de.url, "--log", &other.vkey, s(&a)]);
    exits(&o, 1, "logged at index 0 of de.test/quorate/log");
    assert!(
        stderr(&o).contains("does not verify under the log key you gave"),
        "{}",
        stderr(&o)
    );
    assert!(!all(&o).contains("not logged:"), "{}", all(&o));

    // An unregistered reviewer is named as name+keyid, and the node logs the refusal with
    // the client's address, in plain text (stderr is a file, not a terminal).
    let m1 = review(&mallory, "m1");
    let m2 = review(&mallory, "m2");
    let b = review(&alice, "b");
    let o = q(&["submit", "--node", &de.url, s(&b), s(&m1), s(&m2)]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let mallory_vkey = std::fs::read_to_string(dir.join("mallory.pub")).unwrap();
    // NAME+KEYID of NAME+KEYID+BASE64 (base64 may hold '+' itself).
    let name_id = mallory_vkey
        .splitn(3, '+')
        .take(2)
        .collect::<Vec<_>>()
        .join("+");
    assert!(
        err.contains(&format!("reviewer {name_id} is not registered")),
        "{err}"
    );
    // Batch positions are the node's, in a retried sub-batch: never shown; the file is named.
    assert!(!err.contains("batch item"), "{err}");
    assert!(!err.contains("envelope 0:"), "{err}");
    assert!(err.contains("m1-mallory.att: not logged"), "{err}");
    assert!(err.contains("m2-mallory.att: not logged"), "{err}");
    assert!(stdout(&o).contains("b-alice.att: logged"), "{}", stdout(&o));
    let log = std::fs::read_to_string(de.data.with_extension("log")).unwrap();
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in a log file:\n{log}"
    );
    let refused = log
        .lines()
        .find(|l| l.contains("submission refused"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    assert!(refused.contains("INFO"), "{refused}");
    assert!(refused.contains("client=127.0.0.1:"), "{refused}");
    assert!(refused.contains("is not registered"), "{refused}");
}

#[test]
fn each_cause_is_printed_once() {
    let t = Tmp::new("causes");
    let dir = t.path();
    let missing = dir.join("nope.key");
    let o = q(&["note", "sign", "--key", s(&missing)]);
    let err = stderr(&o);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    // A note without a blank line.
    let (_, alice_pub) = reviewer(dir, "alice");
    let note = write(dir, "n.note", "just text\n");
    let o = q(&["note", "verify", "--key", s(&alice_pub), s(&note)]);
    let err = stderr(&o);
    assert!(!o.status.success());
    let first = err.trim().trim_start_matches("error: ");
    for part in first.split(": ") {
        if part.len() > 12 {
            assert_eq!(err.matches(part).count(), 1, "{part:?} repeated in {err}");
        }
    }
    // A second node on the same data directory says so, each cause once.
    let de = Institute::start(dir, "DE", &[]);
    let o = run(
        &node_bin(),
        &["serve", "--data", s(&de.data), "--listen", "127.0.0.1:0"],
        None,
    );
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("another node is running on this data directory"),
        "{err}"
    );
    assert_eq!(err.matches("in use by another process").count(), 1, "{err}");
}

#[test]
fn every_binary_has_a_version() {
    for bin in [
        std::path::PathBuf::from(QUORATE),
        node_bin(),
        witness_bin(),
        testnet_bin(),
    ] {
        let o = run(&bin, &["--version"], None);
        let out = ok(&o);
        let name = bin.file_name().unwrap().to_str().unwrap();
        assert!(
            out.starts_with(&format!("{name} {}", env!("CARGO_PKG_VERSION"))),
            "{out}"
        );
    }
}

#[test]
fn keys_and_policy_flags_are_named_for_what_they_are() {
    let t = Tmp::new("named");
    let dir = t.path();
    let (alice, _) = reviewer(dir, "alice");
    let note = write(dir, "n.note", "x\n");
    // A secret key where a vkey belongs: said, never echoed.
    let o = q(&["note", "verify", "--key", s(&alice), s(&note)]);
    exits(&o, 1, "is a secret key");
    let secret = std::fs::read_to_string(&alice).unwrap();
    let o = q(&["note", "verify", "--key", secret.trim(), s(&note)]);
    exits(&o, 1, "is a secret key");
    assert!(!all(&o).contains(secret.trim()), "secret echoed");
    // policy new with a bad --log names the flag and value, not a line of a file.
    let o = q(&[
        "policy",
        "new",
        "--log",
        "DE=not-a-key@http://127.0.0.1:1",
        "--quorum",
        "1",
    ]);
    exits(&o, 1, "--log DE=not-a-key@http://127.0.0.1:1");
    assert!(!all(&o).contains("policy line"), "{}", all(&o));
}

#[test]
fn reviews_cannot_be_wrong_by_accident() {
    let t = Tmp::new("accident");
    let dir = t.path();
    let (alice, alice_pub) = reviewer(dir, "alice");
    let lock = write(
        dir,
        "Cargo.lock",
        &lockfile(&[
            ("serde", "1.0.210", &d(7)),
            ("two", "1.0.0", &d(8)),
            ("two", "2.0.0", &d(9)),
        ]),
    );
    let base = |extra: &[&str]| {
        let mut a = vec!["review", "--key", s(&alice), "--criteria", "safe-to-deploy"];
        a.extend_from_slice(extra);
        q_in(dir, &a)
    };
    // Version and digest from the lockfile.
    let o = base(&["--lock", s(&lock), "--package", "serde", "--out", "s.att"]);
    let out = ok(&o);
    assert!(
        out.contains(&format!("certifies cargo/serde@1.0.210 (sha256:{})", d(7))),
        "{out}"
    );
    exits(
        &base(&["--lock", s(&lock), "--package", "two", "--out", "t.att"]),
        2,
        "has two at 1.0.0, 2.0.0; pass --package two@VERSION",
    );
    ok(&base(&[
        "--lock",
        s(&lock),
        "--package",
        "two@2.0.0",
        "--out",
        "t.att",
    ]));
    exits(
        &base(&["--lock", s(&lock), "--package", "nope"]),
        2,
        "has no package nope",
    );
    // A typo in the criteria never reaches a log; declared criteria do.
    let typo = q_in(
        dir,
        &[
            "review",
            "--key",
            s(&alice),
            "--package",
            "cargo/x@1.0.0",
            "--digest",
            &d(1),
            "--criteria",
            "safe-to-deplyo",
        ],
    );
    exits(&typo, 2, "\"safe-to-deplyo\" is not a known criterion");
    assert!(!dir.join("x-1.0.0.att").exists());
    let crit = write(dir, "criteria.txt", "# ours\ncrypto-reviewed\n");
    ok(&q_in(
        dir,
        &[
            "review",
            "--key",
            s(&alice),
            "--package",
            "cargo/x@1.0.0",
            "--digest",
            &d(1),
            "--criteria",
            "crypto-reviewed",
            "--criteria-file",
            s(&crit),
            "--out",
            "c.att",
        ],
    ));
    // Versions in the ecosystem's syntax.
    exits(
        &base(&["--package", "cargo/x@latest", "--digest", &d(1)]),
        2,
        "--package: version is invalid: `latest` names no fixed release",
    );
    // `unknown` is not a digest; --no-digest says it on purpose.
    exits(
        &base(&["--package", "cargo/x@1.0.1", "--digest", "unknown"]),
        2,
        "pass --no-digest",
    );
    let o = base(&[
        "--package",
        "cargo/x@1.0.1",
        "--no-digest",
        "--out",
        "n.att",
    ]);
    assert!(ok(&o).contains("(unknown)"), "{}", stdout(&o));

    // The node refuses criteria it was not configured to accept.
    let de = Institute::init(dir, "DE", &[&alice_pub])
        .serve(Some("accepted_criteria = [\"safe-to-deploy\"]\n"));
    let o = q(&["submit", "--node", &de.url, s(&dir.join("c.att"))]);
    exits(&o, 1, "unaccepted_criteria");
    assert!(stderr(&o).contains("\"crypto-reviewed\" is not accepted by this log"));
    ok(&q(&["submit", "--node", &de.url, s(&dir.join("s.att"))]));
}

#[test]
fn withdraw_explain_reviews_and_policy_check() {
    let (f, lock, pol) = two();
    let cache = f.dir.join("cache");
    let src = ["--policy", s(&pol), "--cache", s(&cache)];
    let with = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(&src);
        q_in(&f.dir, &a)
    };
    // explain: every attestation, which can count, and the reasons per jurisdiction.
    let o = with(&["explain", "beta", s(&lock)]);
    exits(&o, 1, "1 attestation of cargo/beta");
    let out = stdout(&o);
    assert!(out.contains("DE #1: 2.0.0 by \"rev-de\""), "{out}");
    assert!(out.contains("usable"), "{out}");
    assert!(out.contains("FR: no review of this package"), "{out}");
    ok(&with(&["explain", "alpha@1.0.0", s(&lock)]));
    exits(
        &with(&["explain", "alpha@9.9.9", s(&lock)]),
        2,
        "has alpha only at 1.0.0",
    );

    // reviews: what the logs hold, filtered.
    let o = with(&["reviews", "--package", "alpha", "--reviewer", "rev-fr"]);
    let out = ok(&o);
    assert!(
        out.contains("fr.test/quorate/log #0 cargo/alpha@1.0.0 full 1.0.0"),
        "{out}"
    );
    assert!(out.contains("1 attestation listed"), "{out}");
    let o = with(&["reviews", "--log", &f.insts[0].url, "--json"]);
    assert_eq!(json(&o)["reviews"].as_array().unwrap().len(), 2);

    // withdraw by log and index: prints "withdraws", never "certifies".
    let out_file = f.dir.join("w.att");
    let o = with(&[
        "withdraw",
        "--key",
        s(&f.keys[0].0),
        "--log",
        &f.insts[0].url,
        "--index",
        "1",
        "--out",
        s(&out_file),
    ]);
    let text = ok(&o);
    assert!(
        text.contains("withdraws") && text.contains("cargo/beta@2.0.0"),
        "{text}"
    );
    assert!(!text.contains("certif"), "{text}");
    ok(&q(&["submit", "--node", &f.insts[0].url, s(&out_file)]));
    let o = with(&["explain", "beta", s(&lock)]);
    let out = stdout(&o);
    assert!(out.contains("withdrawn by \"rev-de\""), "{out}");
    exits(
        &with(&[
            "withdraw",
            "--key",
            s(&f.keys[0].0),
            "--log",
            &f.insts[0].url,
            "--index",
            "9",
        ]),
        2,
        "--index 9",
    );
    // withdraw by leaf hash alone: the release is found in the verified mirror.
    let o = with(&["reviews", "--log", &f.insts[0].url, "--json"]);
    let alpha = json(&o)["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["package"] == "alpha")
        .unwrap()["leaf_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let out_file = f.dir.join("w2.att");
    let text = ok(&with(&[
        "withdraw",
        "--key",
        s(&f.keys[0].0),
        "--entry",
        &alpha,
        "--out",
        s(&out_file),
    ]));
    assert!(
        text.contains(&format!("withdraws {alpha}")) && text.contains("cargo/alpha@1.0.0"),
        "{text}"
    );
    exits(
        &with(&[
            "withdraw",
            "--key",
            s(&f.keys[0].0),
            "--entry",
            &"ab".repeat(32),
        ]),
        2,
        "no verified log of the policy holds this leaf hash",
    );

    // policy check: each log verified, weaknesses named; a log down is exit 1.
    let o = q(&["policy", "check", s(&pol)]);
    let out = ok(&o);
    assert!(out.contains("ok DE de.test/quorate/log: size"), "{out}");
    assert!(out.contains("`quorum none`"), "{out}");
    let weak = f.policy("quorum none\n", 1, "");
    let out = ok(&q(&["policy", "check", s(&weak)]));
    assert!(out.contains("`review-quorum 1`"), "{out}");
}

#[test]
fn policy_check_reports_witness_freshness() {
    let t = Tmp::new("pcheck");
    let dir = t.path();
    let inited = Institute::init(dir, "DE", &[]);
    let w = WitnessProc::start(dir, "w.example/w", &[&inited.vkey]);
    let de = inited.serve(Some(&w.node_config()));
    let pol = write(
        dir,
        "p.policy",
        &format!(
            "witness W {}\nquorum W\n{}review-quorum 1\n",
            w.vkey,
            de.policy_line()
        ),
    );
    // The node asks its witness for the empty tree's checkpoint when it starts; wait.
    let mut out = String::new();
    for _ in 0..100 {
        let o = q(&["policy", "check", s(&pol)]);
        out = stdout(&o);
        if o.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(out.contains("cosigned by W "), "{out}");
    assert!(out.contains(" s ago"), "{out}");
    assert!(out.contains("witness quorum met"), "{out}");
    // The witness belongs to no jurisdiction, so it counts for DE: no such warning.
    assert!(!out.contains("has no witness that counts"), "{out}");
    let own = write(
        dir,
        "own.policy",
        &format!(
            "witness W {}\nquorum W\n{}review-witness DE W\nreview-quorum 1\n",
            w.vkey,
            de.policy_line()
        ),
    );
    let o = q(&["policy", "check", s(&own)]);
    exits(
        &o,
        1,
        "jurisdiction DE has no witness that counts for its log",
    );
}

#[test]
fn gaps_ranks_by_dependents_and_proposes_the_cheapest_review() {
    let f = Fed::new("gaps", &["DE", "FR"]);
    // DE certified log 0.3.0 already: its cheapest review of 0.4.0 is a delta.
    f.publish(0, "cargo/log@0.3.0", &d(3), &[]);
    let reg = "registry+https://github.com/rust-lang/crates.io-index";
    let lock = write(
        &f.dir,
        "Cargo.lock",
        &format!(
            "version = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\"web\", \"log\"]\n\n\
             [[package]]\nname = \"web\"\nversion = \"1.0.0\"\nsource = \"{reg}\"\nchecksum = \"{}\"\ndependencies = [\"log\"]\n\n\
             [[package]]\nname = \"log\"\nversion = \"0.4.0\"\nsource = \"{reg}\"\nchecksum = \"{}\"\n\n\
             [[package]]\nname = \"aaa\"\nversion = \"1.0.0\"\nsource = \"{reg}\"\nchecksum = \"{}\"\n",
            d(5),
            d(4),
            d(6)
        ),
    );
    let pol = f.policy("quorum none\n", 2, "");
    let cache = f.dir.join("cache");
    let o = q(&[
        "gaps",
        s(&lock),
        "--policy",
        s(&pol),
        "--cache",
        s(&cache),
        "--json",
    ]);
    let v = json(&o);
    let names: Vec<&str> = v["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["log", "web", "aaa"], "{v}");
    let log = &v["gaps"][0];
    assert_eq!(log["dependents"], 2);
    assert_eq!(log["proposals"][0]["jurisdiction"], "DE");
    assert_eq!(log["proposals"][0]["review"], "delta");
    assert_eq!(log["proposals"][0]["from"], "0.3.0");
    assert_eq!(log["proposals"][1]["review"], "full");
    let out = ok(&q(&[
        "gaps",
        s(&lock),
        "--policy",
        s(&pol),
        "--cache",
        s(&cache),
    ]));
    assert!(
        out.contains("DE: delta review 0.3.0 -> 0.4.0 (certified 0.3.0 already)"),
        "{out}"
    );
    assert!(out.contains("2 packages depend on it"), "{out}");
}
