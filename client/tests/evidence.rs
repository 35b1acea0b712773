//! Issue 12's producing side, on real `quorate-node` processes: `review` with every new
//! field (reviewer kind, scope, evidence bodies, several artifacts, informational),
//! sealed commitments and their reveals (`review --seal`, `reveal`), and the refusals
//! that keep a wrong attestation out of an append-only log.

mod nodes;

use std::path::{Path, PathBuf};

use nodes::*;
use quorate_proto::attestation::{
    self, Evidence, MaintainerChangeKind, ReviewerKind, Scope, Verdict,
};

fn all(o: &std::process::Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

fn decode(p: &Path) -> attestation::Attestation {
    attestation::verify(&std::fs::read(p).unwrap())
        .unwrap()
        .into_attestation()
}

fn submit(f: &Fed, i: usize, file: &Path) -> String {
    ok(&q(&[
        "submit",
        "--node",
        &f.insts[i].url,
        "--log",
        &f.insts[i].vkey,
        s(file),
    ]))
}

fn review(f: &Fed, out: &Path, args: &[&str]) -> std::process::Output {
    let mut a = vec!["review", "--key", s(&f.keys[0].0), "--out", s(out)];
    a.extend_from_slice(args);
    q(&a)
}

#[test]
fn review_records_every_new_field_and_the_node_logs_it() {
    let f = Fed::new("evfields", &["DE"]);
    let dir: PathBuf = f.dir.clone();
    let whl = d(0xcd);
    let whl2 = d(0xce);
    // A PyPI sdist and two wheels in one review, by an LLM agent, partial scope.
    let out = dir.join("req.att");
    let o = review(
        &f,
        &out,
        &[
            "--package",
            "pkg:pypi/Requests@2.32.0",
            "--digest",
            &format!("sha256:{}", d(0xab)),
            "--artifact",
            &format!("requests-2.32.0-py3-none-any.whl=sha256:{whl}"),
            "--artifact",
            &format!("requests-2.32.0-cp312-abi3-manylinux.whl={whl2}"),
            "--criteria",
            "safe-to-deploy",
            "--reviewer-kind",
            "llm-agent",
            "--scope",
            "partial",
            "--omitted",
            "tests/",
            "--omitted",
            "docs/",
            "--scope-reason",
            "only the installed code was read",
        ],
    );
    assert!(
        ok(&o).contains("certifies pypi/requests@2.32.0"),
        "{}",
        all(&o)
    );
    let a = decode(&out);
    assert_eq!(a.reviewer.kind, ReviewerKind::LlmAgent);
    assert_eq!(a.artifacts.len(), 2);
    assert_eq!(a.artifacts[0].name, "requests-2.32.0-py3-none-any.whl");
    assert_eq!(
        a.scope,
        Some(Scope::Partial {
            omitted: vec!["tests/".into(), "docs/".into()],
            reason: "only the installed code was read".into()
        })
    );
    assert!(submit(&f, 0, &out).contains("logged at index 0"));

    // Fuzzing, informational, by a tool.
    let out = dir.join("fuzz.att");
    ok(&review(
        &f,
        &out,
        &[
            "--package",
            "cargo/foo@1.0.0",
            "--digest",
            &d(1),
            "--criteria",
            "safe-to-run",
            "--reviewer-kind",
            "tool",
            "--evidence",
            "fuzzing",
            "--harness",
            "parse",
            "--harness",
            "decode",
            "--fuzz-duration",
            "12h",
            "--findings",
            "3",
            "--informational",
        ],
    ));
    let a = decode(&out);
    assert_eq!(a.verdict, Verdict::Informational);
    match a.evidence.unwrap() {
        Evidence::Fuzzing(z) => {
            assert_eq!(z.harnesses, ["parse", "decode"]);
            assert_eq!((z.duration_seconds, z.findings), (43_200, 3));
        }
        e => panic!("{e:?}"),
    }
    // Benchmark delta, certify (the default verdict), ratio kept exactly.
    let out = dir.join("bench.att");
    ok(&review(
        &f,
        &out,
        &[
            "--package",
            "cargo/foo@1.0.0",
            "--digest",
            &d(1),
            "--criteria",
            "safe-to-run",
            "--evidence",
            "benchmark-delta",
            "--benchmark",
            "sshd-login",
            "--baseline-version",
            "0.9.0",
            "--ratio",
            "1.35",
        ],
    ));
    match decode(&out).evidence.unwrap() {
        Evidence::BenchmarkDelta(b) => {
            assert_eq!(b.ratio_ppm, 1_350_000);
            assert_eq!(b.baseline_version, "0.9.0");
        }
        e => panic!("{e:?}"),
    }
    // Reproducible build.
    let out = dir.join("rb.att");
    ok(&review(
        &f,
        &out,
        &[
            "--package",
            "cargo/foo@1.0.0",
            "--digest",
            &d(1),
            "--criteria",
            "safe-to-run",
            "--evidence",
            "reproducible-build",
            "--source-revision",
            "v1.0.0",
            "--source-uri",
            "git+https://example.org/foo.git",
            "--builder",
            "rebuilderd@de",
            "--build-env",
            &format!("sha256:{}", d(9)),
        ],
    ));
    // Maintainer change: informational without being asked.
    let out = dir.join("mc.att");
    let o = ok(&review(
        &f,
        &out,
        &[
            "--package",
            "generic/xz@5.6.1",
            "--digest",
            &d(2),
            "--criteria",
            "safe-to-deploy",
            "--evidence",
            "maintainer-change",
            "--maintainer-change",
            "new-maintainer",
            "--subject",
            "Jia Tan",
            "--change-source",
            "https://example.org/xz/maintainers",
        ],
    ));
    assert!(
        o.contains("records maintainer-change (informational)"),
        "{o}"
    );
    match decode(&out).evidence.unwrap() {
        Evidence::MaintainerChange(m) => assert_eq!(m.kind, MaintainerChangeKind::NewMaintainer),
        e => panic!("{e:?}"),
    }
    let logged = ok(&q(&[
        "submit",
        "--node",
        &f.insts[0].url,
        "--log",
        &f.insts[0].vkey,
        s(&dir.join("fuzz.att")),
        s(&dir.join("bench.att")),
        s(&dir.join("rb.att")),
        s(&dir.join("mc.att")),
    ]));
    assert_eq!(logged.matches(": logged at index").count(), 4, "{logged}");
}

#[test]
fn bad_combinations_are_refused_before_signing() {
    let f = Fed::new("evbad", &["DE"]);
    let out = f.dir.join("x.att");
    let base = ["--package", "cargo/foo@1.0.0", "--criteria", "safe-to-run"];
    let h = d(1);
    let whl = format!("a.whl={h}");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--digest",
                &h,
                "--evidence",
                "fuzzing",
                "--harness",
                "p",
                "--fuzz-duration",
                "1h",
                "--findings",
                "0",
                "--ratio",
                "1.2",
            ],
            "--ratio belongs to --evidence benchmark-delta, not --evidence fuzzing",
        ),
        (
            vec!["--digest", &h, "--evidence", "gut-feeling"],
            "not an evidence kind; known: source-review",
        ),
        (
            vec!["--digest", &h, "--evidence", "archive-matches-source"],
            "quorate evidence archive-vs-source",
        ),
        (
            vec!["--digest", &h, "--scope", "partial", "--omitted", "x"],
            "--scope partial needs --scope-reason",
        ),
        (
            vec!["--digest", &h, "--omitted", "x"],
            "pass --scope partial",
        ),
        (
            vec!["--digest", &h, "--informational"],
            "a source review certifies or reports a violation",
        ),
        (
            vec![
                "--digest",
                &h,
                "--evidence",
                "maintainer-change",
                "--maintainer-change",
                "new-maintainer",
                "--subject",
                "x",
                "--change-source",
                "https://e.org/",
                "--violation",
                "*",
            ],
            "never a violation",
        ),
        (
            vec!["--no-digest", "--artifact", &whl],
            "--artifact with --no-digest",
        ),
        (
            vec!["--digest", &h, "--artifact", "a.whl"],
            "expected NAME=DIGEST",
        ),
        (
            vec![
                "--digest",
                &h,
                "--evidence",
                "benchmark-delta",
                "--benchmark",
                "b",
                "--baseline-version",
                "0.9.0",
                "--ratio",
                "0",
            ],
            "must be more than zero",
        ),
        (
            vec![
                "--digest",
                &h,
                "--evidence",
                "reproducible-build",
                "--source-revision",
                "v1",
                "--source-uri",
                "https://e.org/r",
                "--builder",
                "b",
            ],
            "needs --build-env DIGEST",
        ),
        (
            vec!["--digest", &h, "--reviewer-kind", "robot"],
            "invalid value 'robot'",
        ),
    ];
    for (extra, want) in cases {
        let mut a: Vec<&str> = base.to_vec();
        a.extend(extra.iter().copied());
        let o = review(&f, &out, &a);
        exits(&o, 2, want);
        assert!(!out.exists(), "nothing is written for {extra:?}");
    }
}

#[test]
fn a_sealed_violation_is_committed_now_and_revealed_later() {
    let f = Fed::new("evseal", &["DE"]);
    let dir = f.dir.clone();
    let commit = dir.join("c.att");
    let seal = dir.join("c.seal");
    let o = ok(&review(
        &f,
        &commit,
        &[
            "--package",
            "generic/xz@5.6.1",
            "--digest",
            &d(5),
            "--criteria",
            "safe-to-deploy",
            "--violation",
            "=5.6.1",
            "--notes",
            "backdoor in build-to-host.m4 (embargoed)",
            "--seal",
            "--seal-file",
            s(&seal),
        ],
    ));
    assert!(
        o.contains("seals an attestation of generic/xz@5.6.1"),
        "{o}"
    );
    // The commitment hides everything but the release and the reviewer.
    let c = decode(&commit);
    assert!(matches!(c.verdict, Verdict::Sealed { .. }));
    assert!(c.notes.is_empty() && c.criteria.is_empty() && !c.digest.is_recorded());
    let bytes = std::fs::read(&commit).unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains("backdoor"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&seal).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the seal file is the embargoed content");
    }
    let logged = submit(&f, 0, &commit);
    assert!(logged.contains("logged at index 0"), "{logged}");

    // A seal file others could read is refused, as a secret key would be.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&seal, std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = q(&[
            "reveal",
            s(&seal),
            "--key",
            s(&f.keys[0].0),
            "--out",
            s(&dir.join("r0.att")),
        ]);
        exits(&o, 2, "must not be accessible by group or others");
        std::fs::set_permissions(&seal, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    // A tampered seal file (other salt, or other content) does not open the commitment:
    // refused locally, nothing written or submitted.
    let text = std::fs::read_to_string(&seal).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let salt = v["salt"].as_str().unwrap();
    let flipped = format!(
        "{}{}",
        if salt.starts_with('0') { "1" } else { "0" },
        &salt[1..]
    );
    let bad = dir.join("bad.seal");
    write_secret(&bad, &text.replace(salt, &flipped));
    let r_bad = dir.join("rbad.att");
    let o = q(&[
        "reveal",
        s(&bad),
        "--key",
        s(&f.keys[0].0),
        "--out",
        s(&r_bad),
        "--node",
        &f.insts[0].url,
        "--log",
        &f.insts[0].vkey,
    ]);
    exits(&o, 2, "refusing the reveal: it does not open commitment");
    assert!(
        all(&o).contains("do not hash to the commitment"),
        "{}",
        all(&o)
    );
    assert!(!r_bad.exists());
    // Another reviewer's key cannot reveal it.
    let (other, _) = reviewer(&dir, "mallory");
    let o = q(&["reveal", s(&seal), "--key", s(&other), "--out", s(&r_bad)]);
    exits(&o, 2, "is not the key that signed the commitment");

    // The real reveal opens it and is logged; its content is the sealed violation.
    let rev = dir.join("r.att");
    let o = ok(&q(&[
        "reveal",
        s(&seal),
        "--key",
        s(&f.keys[0].0),
        "--out",
        s(&rev),
        "--node",
        &f.insts[0].url,
        "--log",
        &f.insts[0].vkey,
    ]));
    assert!(
        o.contains("reveals a violation =5.6.1 of generic/xz@5.6.1"),
        "{o}"
    );
    assert!(o.contains("logged at index 1"), "{o}");
    let r = attestation::verify(&std::fs::read(&rev).unwrap()).unwrap();
    let c = attestation::verify(&std::fs::read(&commit).unwrap()).unwrap();
    attestation::verify_reveal(&c, &r).unwrap();
    assert_eq!(
        r.attestation().notes,
        "backdoor in build-to-host.m4 (embargoed)"
    );
}

fn write_secret(p: &Path, text: &str) {
    std::fs::write(p, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}
