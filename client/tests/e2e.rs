//! End to end with real `quorate-node` processes on 127.0.0.1 (killed on drop): review →
//! submit (proof verified), three nodes as three jurisdictions through the verified
//! mirror and offline bundles, and the hostile cases: forged signatures, an attestation
//! for other bytes, a withdrawn review, k-1 colluding jurisdictions, a replayed stale
//! bundle, an equivocating log, malformed inputs.

mod nodes;

use std::path::Path;

use nodes::*;
use quorate_client::dirnames::origin_dir;
use quorate_proto::checkpoint::Checkpoint;
use quorate_proto::cosignature::CosignatureSigner;
use quorate_proto::merkle::MemoryLog;
use quorate_proto::note::{self, Signer};
use quorate_proto::tlog_proof::TlogProof;

fn review(dir: &Path, key: &Path, spec: &str, digest: &str, extra: &[&str]) -> std::path::PathBuf {
    let out = dir.join(format!(
        "{}-{}.att",
        spec.replace(['/', '@'], "_"),
        key.file_stem().unwrap().to_str().unwrap()
    ));
    let mut args = vec![
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
    args.extend_from_slice(extra);
    ok(&q(&args));
    out
}

#[test]
fn review_submit_verified_and_hostile_submissions_reported() {
    let t = Tmp::new("submit");
    let dir = t.path();
    let (alice, alice_pub) = reviewer(dir, "alice");
    let (mallory, _) = reviewer(dir, "mallory");
    let de = Institute::start(dir, "DE", &[&alice_pub]);

    // Default output name: NAME-VERSION.att in the working directory.
    let o = ok(&q_in(
        dir,
        &[
            "review",
            "--key",
            s(&alice),
            "--package",
            "cargo/serde@1.0.210",
            "--digest",
            &d(1),
            "--criteria",
            "safe-to-deploy",
            "--org",
            "BSI",
            "--notes",
            "read it all",
        ],
    ));
    assert!(o.contains("certifies cargo/serde@1.0.210"), "{o}");
    let att = dir.join("serde-1.0.210.att");
    assert!(att.is_file());

    let o = ok(&q(&[
        "submit",
        "--node",
        &de.url,
        "--log",
        &de.vkey,
        s(&att),
    ]));
    assert!(o.contains("logged at index 0"), "{o}");
    assert!(o.contains("inclusion proof verified"), "{o}");
    assert!(o.contains("checkpoint signature verified"), "{o}");

    // Again: a duplicate, still verified; without a log key the output says so.
    let o = ok(&q(&["submit", "--node", &de.url, s(&att)]));
    assert!(o.contains("already logged at index 0"), "{o}");
    assert!(o.contains("log signature NOT checked"), "{o}");

    // The log key from a policy whose review-log URL is the node's.
    let pol = dir.join("p.policy");
    std::fs::write(
        &pol,
        format!("quorum none\n{}review-quorum 1\n", de.policy_line()),
    )
    .unwrap();
    let o = ok(&q(&[
        "submit",
        "--node",
        &de.url,
        "--policy",
        s(&pol),
        s(&att),
    ]));
    assert!(o.contains("checkpoint signature verified"), "{o}");

    // The wrong log key: the returned checkpoint does not verify, nothing is reported logged.
    let wrong = Signer::generate(&de.origin, [9; 32]).unwrap().vkey();
    let o = q(&["submit", "--node", &de.url, "--log", &wrong, s(&att)]);
    exits(&o, 1, "checkpoint does not verify under the log key");

    // A forged signature: the node refuses it and the client reports the node's reason.
    let mut forged = std::fs::read(&att).unwrap();
    let n = forged.len();
    forged[n - 1] ^= 1;
    let forged_path = dir.join("forged.att");
    std::fs::write(&forged_path, &forged).unwrap();
    let o = q(&["submit", "--node", &de.url, s(&forged_path)]);
    exits(&o, 1, "bad_signature");
    assert!(
        stderr(&o).contains("forged.att: not logged"),
        "{}",
        stderr(&o)
    );

    // An unregistered reviewer; and in one batch with a good file, each gets its answer.
    let m = review(dir, &mallory, "cargo/evil@0.1.0", &d(2), &[]);
    let good = review(dir, &alice, "cargo/rand@0.8.5", &d(3), &[]);
    let o = q(&[
        "submit",
        "--node",
        &de.url,
        "--log",
        &de.vkey,
        s(&m),
        s(&good),
        s(&forged_path),
    ]);
    exits(&o, 1, "unknown_reviewer");
    assert!(
        stdout(&o).contains("rand_0.8.5-alice.att: logged at index 1"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("bad_signature"), "{}", stderr(&o));

    // A node that is not there.
    let o = q(&["submit", "--node", "http://127.0.0.1:9", s(&good)]);
    exits(&o, 1, "not logged");
}

#[test]
fn three_jurisdictions_mirror_bundle_offline_gaps_export() {
    let f = Fed::new("fed", &["DE", "FR", "JP"]);
    let (de, fr, jp) = (0, 1, 2);
    for j in [de, fr, jp] {
        f.publish(j, "cargo/alpha@1.0.0", &d(1), &[]);
    }
    f.publish(de, "cargo/beta@2.0.0", &d(2), &[]);
    f.publish(fr, "cargo/beta@2.0.0", &d(2), &[]);
    // A backdoored release only one jurisdiction (k-1) vouches for.
    f.publish(jp, "cargo/gamma@0.3.0", &d(3), &[]);
    // FR reviewed other bytes than the lockfile's.
    f.publish(de, "cargo/delta@1.1.0", &d(4), &[]);
    f.publish(fr, "cargo/delta@1.1.0", &d(5), &[]);
    // DE withdrew its review.
    let leaf = f.publish(de, "cargo/eps@0.1.0", &d(6), &[]);
    f.publish(fr, "cargo/eps@0.1.0", &d(6), &[]);
    f.publish(
        de,
        "cargo/eps@0.1.0",
        &d(6),
        &["--supersedes", &leaf, "--notes", "withdrawn"],
    );
    // FR withdraws its review of eta with an attestation filed under another package.
    f.publish(de, "cargo/eta@1.0.0", &d(9), &[]);
    let leaf = f.publish(fr, "cargo/eta@1.0.0", &d(9), &[]);
    f.publish(
        fr,
        "cargo/withdrawals@0.0.1",
        &d(10),
        &["--supersedes", &leaf],
    );
    // Chains: a full review of 1.0.0 and a delta to 1.0.1 in two jurisdictions.
    for j in [de, jp] {
        f.publish(j, "cargo/zeta@1.0.0", &d(7), &[]);
        f.publish(
            j,
            "cargo/zeta@1.0.1",
            &d(8),
            &["--delta-from", "1.0.0", "--delta-digest", &d(7)],
        );
    }

    let lock = f.dir.join("Cargo.lock");
    std::fs::write(
        &lock,
        lockfile(&[
            ("alpha", "1.0.0", &d(1)),
            ("beta", "2.0.0", &d(2)),
            ("gamma", "0.3.0", &d(3)),
            ("delta", "1.1.0", &d(4)),
            ("eps", "0.1.0", &d(6)),
            ("zeta", "1.0.1", &d(8)),
            ("eta", "1.0.0", &d(9)),
        ]),
    )
    .unwrap();
    let pol = f.policy("quorum none\n", 2, "");
    let cache = f.dir.join("cache");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["check", s(&lock), "--policy", s(&pol), "--cache", s(&cache)]
            .iter()
            .map(|x| x.to_string())
            .collect();
        a.extend(extra.iter().map(|x| x.to_string()));
        a
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        q(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let o = run(&["--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v = json(&o);
    let got = verdicts(&v);
    let want = |p: bool, js: &[&str]| (p, js.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    assert_eq!(got["alpha@1.0.0"], want(true, &["DE", "FR", "JP"]));
    assert_eq!(got["beta@2.0.0"], want(true, &["DE", "FR"]));
    assert_eq!(got["gamma@0.3.0"], want(false, &["JP"]));
    assert_eq!(got["delta@1.1.0"], want(false, &["DE"]));
    assert_eq!(got["eps@0.1.0"], want(false, &["FR"]));
    assert_eq!(got["zeta@1.0.1"], want(true, &["DE", "JP"]));
    assert_eq!(got["eta@1.0.0"], want(false, &["DE"]));
    let text = v.to_string();
    assert!(text.contains("reviewed a different artifact"), "{text}");
    assert!(text.contains("withdrawn by"), "{text}");
    assert!(text.contains("no review of this package"), "{text}");
    assert_eq!(v["summary"]["fail"], 4);

    // The table: failing packages with every reason, and the summary line.
    let o = run(&[]);
    exits(&o, 1, "4 of 7 packages lack a quorum (3 pass;");
    let table = stdout(&o);
    assert!(table.contains("FAIL gamma 0.3.0"), "{table}");
    assert!(table.contains("DE: no review of this package"), "{table}");
    assert!(
        table.contains("ok alpha 1.0.0  3 jurisdictions certify (2 needed): DE, FR, JP"),
        "{table}"
    );
    assert!(
        table.contains("ok beta 2.0.0   2 jurisdictions certify (2 needed): DE, FR; missing JP"),
        "{table}"
    );
    let o = run(&["--failures-only"]);
    assert!(!stdout(&o).contains("alpha"), "{}", stdout(&o));

    // A second sync fetches nothing new; after a new entry only new tiles, proven consistent.
    let o = q(&["mirror", "--policy", s(&pol), "--cache", s(&cache)]);
    ok(&o);
    assert!(stderr(&o).contains(", 0 fetched"), "{}", stderr(&o));
    f.publish(jp, "cargo/beta@2.0.0", &d(2), &[]);
    let o = q(&["mirror", "--policy", s(&pol), "--cache", s(&cache)]);
    ok(&o);
    assert!(!stderr(&o).contains("EQUIVOCATION"), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("mirror jp.test/quorate/log: size 5, 5 entries, "),
        "{e}"
    );
    assert!(!e.contains("size 5, 5 entries, 0 fetched"), "{e}");
    assert!(
        e.contains("mirror de.test/quorate/log: size 8, 8 entries, 0 fetched"),
        "{e}"
    );
    let got = verdicts(&json(&run(&["--json"])));
    assert_eq!(got["beta@2.0.0"], want(true, &["DE", "FR", "JP"]));

    // With k = 3, two colluding jurisdictions (k-1) cannot pass a release on their own.
    let pol3 = f.policy("quorum none\n", 3, "");
    let o = q(&[
        "check",
        s(&lock),
        "--policy",
        s(&pol3),
        "--cache",
        s(&cache),
        "--json",
    ]);
    let got3 = verdicts(&json(&o));
    assert_eq!(got3["alpha@1.0.0"], want(true, &["DE", "FR", "JP"]));
    assert_eq!(got3["beta@2.0.0"], want(true, &["DE", "FR", "JP"]));
    assert_eq!(got3["zeta@1.0.1"], want(false, &["DE", "JP"]));

    // A corrupted mirror cache is not believed: tiles are re-authenticated, and the
    // mirror recovers from the node; offline, the log is reported unreadable instead.
    let de_dir = origin_dir(&f.insts[de].origin);
    assert_eq!(de_dir, "de.test%2Fquorate%2Flog");
    let tile0 = cache.join(&de_dir).join("tile/0/000.p/8");
    assert!(tile0.is_file(), "cached level-0 tile missing");
    let mut bytes = std::fs::read(&tile0).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&tile0, &bytes).unwrap();
    let bundle_entries = cache.join(&de_dir).join("tile/entries/000.p/8");
    let saved_entries = std::fs::read(&bundle_entries).unwrap();
    std::fs::write(&bundle_entries, b"\x00\x01x").unwrap();
    let o = run(&["--json", "--offline"]);
    let v = json(&o);
    assert!(
        v["warnings"]
            .to_string()
            .contains("cannot read the log's tiles"),
        "{v}"
    );
    assert_eq!(verdicts(&v)["alpha@1.0.0"], want(true, &["FR", "JP"]));
    let o = run(&["--json"]);
    assert_eq!(
        verdicts(&json(&o))["alpha@1.0.0"],
        want(true, &["DE", "FR", "JP"])
    );
    assert_eq!(std::fs::read(&bundle_entries).unwrap(), saved_entries);
    assert_ne!(std::fs::read(&tile0).unwrap(), bytes);

    // A bundle, then offline decisions from it agree with the mirror's.
    let bundle = f.dir.join("bundle");
    let o = q(&[
        "bundle",
        s(&lock),
        "--out",
        s(&bundle),
        "--policy",
        s(&pol),
        "--cache",
        s(&cache),
    ]);
    ok(&o);
    assert!(bundle.join("quorate-bundle").is_file());
    assert!(bundle.join(&de_dir).join("checkpoint").is_file());
    let online = verdicts(&json(&run(&["--json"])));
    let o = q(&[
        "check",
        s(&lock),
        "--policy",
        s(&pol),
        "--bundle",
        s(&bundle),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(verdicts(&json(&o)), online);

    // gaps: the failing releases, ranked, with a reason each.
    let o = q(&[
        "gaps",
        s(&lock),
        "--policy",
        s(&pol),
        "--bundle",
        s(&bundle),
    ]);
    let g = ok(&o);
    for p in ["gamma 0.3.0", "delta 1.1.0", "eps 0.1.0", "eta 1.0.0"] {
        assert!(g.contains(p), "{g}");
    }
    assert!(!g.contains("alpha"), "{g}");
    assert!(g.contains("4 releases (4 crates) lack a quorum"), "{g}");

    // export: certified releases as cargo-vet audits.
    let o = q(&[
        "export",
        "cargo-vet",
        "--lock",
        s(&lock),
        "--policy",
        s(&pol),
        "--bundle",
        s(&bundle),
    ]);
    let e = ok(&o);
    assert!(
        e.contains("[[audits.alpha]]") && e.contains("[[audits.zeta]]"),
        "{e}"
    );
    assert!(!e.contains("gamma"), "{e}");

    // All nodes gone: the mirror still decides offline, identically.
    drop(f.insts);
    let o = run(&["--json", "--offline"]);
    assert_eq!(verdicts(&json(&o)), online);
    // Without --offline the unreachable nodes are warnings, and the cached mirror still counts.
    let o = run(&["--json"]);
    assert_eq!(verdicts(&json(&o)), online);
    assert!(
        json(&o)["warnings"]
            .to_string()
            .contains("cannot fetch checkpoint")
    );
}

fn cosign_bundle(bundle: &Path, w: &CosignatureSigner, ts: u64) {
    fn walk(d: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "tlog-proof") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(bundle, &mut files);
    assert!(!files.is_empty());
    for p in files {
        let mut proof = TlogProof::parse(&std::fs::read(&p).unwrap()).unwrap();
        let note = String::from_utf8(proof.checkpoint.clone()).unwrap();
        let body = format!("{}\n", note.split("\n\n").next().unwrap());
        let sig = w.cosign(&body, ts).unwrap();
        proof.checkpoint = note::add_signatures(&note, &[sig]).unwrap().into_bytes();
        std::fs::write(&p, proof.to_text()).unwrap();
    }
}

#[test]
fn replayed_old_bundle_is_refused_by_max_checkpoint_age() {
    let f = Fed::new("stale", &["DE", "FR"]);
    f.publish(0, "cargo/alpha@1.0.0", &d(1), &[]);
    f.publish(1, "cargo/alpha@1.0.0", &d(1), &[]);
    ok(&q(&[
        "key",
        "generate",
        "--witness",
        "--name",
        "witness.test",
        "--out",
        s(&f.dir),
    ]));
    let wkey = std::fs::read_to_string(f.dir.join("witness.test.key")).unwrap();
    let w = CosignatureSigner::from_skey(wkey.trim()).unwrap();
    let head = format!("witness w0 {}\nquorum w0\n", w.vkey());
    let pol = f.policy(&head, 2, "max-checkpoint-age 3600\n");
    let lock = f.dir.join("Cargo.lock");
    std::fs::write(&lock, lockfile(&[("alpha", "1.0.0", &d(1))])).unwrap();
    let bundle = f.dir.join("bundle");
    let cache = f.dir.join("cache");
    // The maker's policy needs no witness (a mirror under `pol` would refuse the nodes'
    // uncosigned checkpoints); the user's `pol` judges the bundle.
    let maker = f.policy("quorum none\n", 2, "");
    ok(&q(&[
        "bundle",
        s(&lock),
        "--out",
        s(&bundle),
        "--policy",
        s(&maker),
        "--cache",
        s(&cache),
    ]));
    let check = |now: u64| {
        q(&[
            "check",
            s(&lock),
            "--policy",
            s(&pol),
            "--bundle",
            s(&bundle),
            "--now",
            &now.to_string(),
        ])
    };
    let t0 = 1_900_000_000u64;
    // No witness has cosigned the nodes' checkpoints yet.
    exits(&check(t0), 1, "cosigned by too few witnesses");
    cosign_bundle(&bundle, &w, t0);
    let o = check(t0 + 60);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    // The same bundle replayed two days later.
    exits(&check(t0 + 2 * 86_400), 1, "checkpoint is stale");
}

#[test]
fn equivocating_log_is_detected_by_the_mirror_and_distrusted_everywhere() {
    let f = Fed::new("equiv", &["DE", "FR"]);
    f.publish(0, "cargo/alpha@1.0.0", &d(1), &[]);
    f.publish(0, "cargo/other@1.0.0", &d(2), &[]);
    f.publish(1, "cargo/alpha@1.0.0", &d(1), &[]);
    let lock = f.dir.join("Cargo.lock");
    std::fs::write(&lock, lockfile(&[("alpha", "1.0.0", &d(1))])).unwrap();
    let pol = f.policy("quorum none\n", 2, "");
    let chk = |cache: &Path, extra: &[&str]| {
        let mut a = vec![
            "check",
            s(&lock),
            "--policy",
            s(&pol),
            "--cache",
            s(cache),
            "--json",
        ];
        a.extend_from_slice(extra);
        q(&a)
    };
    let clean = f.dir.join("clean");
    let o = chk(&clean, &[]);
    assert!(o.status.success(), "{}", stderr(&o));

    // DE's log key signs a forked history: a size-1 checkpoint with another root. The
    // mirror saw it earlier (it is in the cache); the node now serves its real size-2 tree.
    let de = &f.insts[0];
    let (signer, forged) = forge_checkpoint(&de.data, &de.origin, &[b"a different first entry"]);
    let cache = f.dir.join("cache");
    // Written under the name earlier versions used (`/` as `_`): the mirror migrates it.
    let stem = de.origin.replace('/', "_");
    std::fs::create_dir_all(cache.join(&stem)).unwrap();
    std::fs::write(cache.join(&stem).join("checkpoint"), &forged).unwrap();

    let o = chk(&cache, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(verdicts(&v)["alpha@1.0.0"], (false, vec!["FR".to_string()]));
    assert!(
        v.to_string()
            .contains("equivocated: nothing from it counts"),
        "{v}"
    );
    assert!(v["warnings"].to_string().contains("EQUIVOCATION"), "{v}");
    let stored: Vec<_> = std::fs::read_dir(cache.join("equivocations"))
        .unwrap()
        .collect();
    assert_eq!(stored.len(), 1);
    // The old-named directory was this log's (its checkpoint verifies under DE's key):
    // migrated to the injective name.
    assert!(
        cache
            .join(origin_dir(&de.origin))
            .join("checkpoint")
            .is_file()
    );
    assert!(!cache.join(&stem).exists());

    // The evidence stays: offline, and carried in bundles to other machines.
    let o = chk(&cache, &["--offline"]);
    assert!(!verdicts(&json(&o))["alpha@1.0.0"].0);
    let bundle = f.dir.join("bundle");
    ok(&q(&[
        "bundle",
        s(&lock),
        "--out",
        s(&bundle),
        "--policy",
        s(&pol),
        "--cache",
        s(&cache),
    ]));
    assert_eq!(
        std::fs::read_dir(bundle.join("equivocations"))
            .unwrap()
            .count(),
        1
    );
    let o = q(&[
        "check",
        s(&lock),
        "--policy",
        s(&pol),
        "--bundle",
        s(&bundle),
    ]);
    exits(&o, 1, "equivocated");

    // Evidence made by hand (two same-size checkpoints) in a clean bundle works too.
    let clean_bundle = f.dir.join("clean-bundle");
    ok(&q(&[
        "bundle",
        s(&lock),
        "--out",
        s(&clean_bundle),
        "--policy",
        s(&pol),
        "--cache",
        s(&clean),
    ]));
    ok(&q(&[
        "check",
        s(&lock),
        "--policy",
        s(&pol),
        "--bundle",
        s(&clean_bundle),
    ]));
    let real = std::fs::read(clean_bundle.join(origin_dir(&de.origin)).join("checkpoint")).unwrap();
    let mut fork2 = MemoryLog::new();
    fork2.append(b"x");
    fork2.append(b"y");
    let cp2 = Checkpoint::new(&de.origin, 2, fork2.root(), vec![]).unwrap();
    let forged2 = note::sign(&cp2.to_text(), &[&signer]).unwrap();
    let ev = quorate_proto::equivocation::Equivocation::same_size(&real, forged2.as_bytes());
    std::fs::create_dir_all(clean_bundle.join("equivocations")).unwrap();
    std::fs::write(clean_bundle.join("equivocations/e1"), ev.to_text()).unwrap();
    // The same evidence served by a witness's GET /v1/equivocations reaches a fresh mirror.
    let served = format!("[{}]", serde_json::Value::String(ev.to_text()));
    let (witness_url, _srv) = serve_once_json(served);
    let w = CosignatureSigner::generate("witness.test", [3; 32]).unwrap();
    let pol_w = f.policy(
        &format!("witness w0 {} {witness_url}\nquorum none\n", w.vkey()),
        2,
        "",
    );
    let fresh = f.dir.join("fresh");
    let o = q(&[
        "check",
        s(&lock),
        "--policy",
        s(&pol_w),
        "--cache",
        s(&fresh),
        "--json",
    ]);
    let v = json(&o);
    assert_eq!(
        verdicts(&v)["alpha@1.0.0"],
        (false, vec!["FR".to_string()]),
        "{v}"
    );
    assert_eq!(
        std::fs::read_dir(fresh.join("equivocations"))
            .unwrap()
            .count(),
        1
    );
    let o = q(&[
        "mirror",
        "--policy",
        s(&pol_w),
        "--cache",
        s(&fresh),
        "--offline",
    ]);
    exits(&o, 1, "equivocation evidence");
    // And evidence that does not verify is ignored, with a warning.
    std::fs::write(
        clean_bundle.join("equivocations/junk"),
        "quorate-equivocation/v1\n",
    )
    .unwrap();
    let o = q(&[
        "check",
        s(&lock),
        "--policy",
        s(&pol),
        "--bundle",
        s(&clean_bundle),
    ]);
    exits(&o, 1, "equivocated");
    assert!(
        stdout(&o).contains("does not verify under any policy log key"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn malformed_inputs_are_clear_errors_never_panics() {
    let t = Tmp::new("malformed");
    let dir = t.path();
    let lock = dir.join("Cargo.lock");
    std::fs::write(&lock, lockfile(&[("alpha", "1.0.0", &d(1))])).unwrap();
    let signer = Signer::generate("de.test/log", [1; 32]).unwrap();
    let pol = dir.join("ok.policy");
    std::fs::write(
        &pol,
        format!(
            "quorum none\nreview-log DE {} http://127.0.0.1:9\nreview-quorum 1\n",
            signer.vkey()
        ),
    )
    .unwrap();

    // No policy in the working directory.
    exits(
        &q_in(dir, &["check", "--bundle", "x"]),
        2,
        "no policy: quorate.policy not found",
    );
    // A broken policy names its line.
    let bad = dir.join("bad.policy");
    std::fs::write(&bad, "quorum none\nreview-log DE nonsense\n").unwrap();
    exits(
        &q(&["check", s(&lock), "--policy", s(&bad), "--bundle", "x"]),
        2,
        "policy line 2",
    );
    // A broken lockfile.
    let bad_lock = dir.join("bad.lock");
    std::fs::write(&bad_lock, "[[package]]\nname = 3\n").unwrap();
    exits(
        &q(&["check", s(&bad_lock), "--policy", s(&pol), "--bundle", "x"]),
        2,
        "Cargo.lock",
    );
    std::fs::write(&bad_lock, [0xff, 0xfe, 0]).unwrap();
    exits(
        &q(&["check", s(&bad_lock), "--policy", s(&pol), "--bundle", "x"]),
        2,
        "UTF-8",
    );
    // Not a bundle.
    let nb = dir.join("notabundle");
    std::fs::create_dir_all(&nb).unwrap();
    exits(
        &q(&["check", s(&lock), "--policy", s(&pol), "--bundle", s(&nb)]),
        2,
        "is not a quorate bundle",
    );
    // A bundle with a garbage proof names the file and costs only that entry (the
    // package then fails for want of reviews, exit 1, rather than the whole check).
    let b = dir.join("b");
    let pd = b.join("de.test_log/cargo/alpha/1.0.0");
    std::fs::create_dir_all(&pd).unwrap();
    std::fs::write(b.join("quorate-bundle"), "quorate-bundle v1\n").unwrap();
    std::fs::write(pd.join("00.att"), b"junk").unwrap();
    std::fs::write(pd.join("00.tlog-proof"), b"not a proof").unwrap();
    exits(
        &q(&["check", s(&lock), "--policy", s(&pol), "--bundle", s(&b)]),
        1,
        "00.tlog-proof: tlog-proof",
    );
    // A missing proof.
    std::fs::remove_file(pd.join("00.tlog-proof")).unwrap();
    exits(
        &q(&["check", s(&lock), "--policy", s(&pol), "--bundle", s(&b)]),
        1,
        "00.tlog-proof",
    );
    // A well-formed proof beside an envelope whose signature fails: ignored with a warning.
    let proof = TlogProof {
        extra: None,
        index: 0,
        proof: vec![],
        checkpoint: note::sign(
            &Checkpoint::new("de.test/log", 1, [0; 32], vec![])
                .unwrap()
                .to_text(),
            &[&signer],
        )
        .unwrap()
        .into_bytes(),
    };
    std::fs::write(pd.join("00.tlog-proof"), proof.to_text()).unwrap();
    let o = q(&["check", s(&lock), "--policy", s(&pol), "--bundle", s(&b)]);
    exits(&o, 1, "00.att: refused: ");
    // Unusable arguments.
    let (k, _) = reviewer(dir, "rev");
    exits(
        &q(&[
            "review",
            "--key",
            s(&k),
            "--package",
            "serde",
            "--digest",
            &d(1),
            "--criteria",
            "safe-to-deploy",
        ]),
        2,
        "ECOSYSTEM/NAME@VERSION",
    );
    exits(
        &q(&[
            "review",
            "--key",
            s(&k),
            "--package",
            "cargo/a@1.0.0",
            "--digest",
            "xyz",
            "--criteria",
            "safe-to-deploy",
        ]),
        2,
        "--digest",
    );
    exits(&q(&["check", "--bogus-flag"]), 2, "unexpected argument");
    // An unreachable mirror with an empty cache: every package fails, with the reason.
    let o = q(&[
        "check",
        s(&lock),
        "--policy",
        s(&pol),
        "--cache",
        s(&dir.join("c")),
    ]);
    exits(&o, 1, "cannot fetch checkpoint");
}

/// A minimal HTTP server answering `GET /v1/equivocations` with `body` (404 otherwise),
/// like a witness does; runs until the test process exits.
fn serve_once_json(body: String) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            let resp = if req.starts_with("GET /v1/equivocations ") {
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into()
            };
            let _ = c.write_all(resp.as_bytes());
        }
    });
    (url, h)
}
