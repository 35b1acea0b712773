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

/// One tar member for [`tarball`]: a raw path (hostile ones included), its type, its
/// data, a link target, and a size to claim instead of the data's.
struct M<'a> {
    path: &'a [u8],
    kind: tar::EntryType,
    data: &'a [u8],
    link: &'a [u8],
    claimed: Option<u64>,
}

fn file<'a>(path: &'a str, data: &'a [u8]) -> M<'a> {
    M {
        path: path.as_bytes(),
        kind: tar::EntryType::Regular,
        data,
        link: b"",
        claimed: None,
    }
}

/// A tar stream written header by header (so paths `tar::Builder` would refuse can be
/// written), optionally gzip-compressed.
fn tarball(members: &[M<'_>], gzip: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..m.path.len()].copy_from_slice(m.path);
        h.as_old_mut().linkname[..m.link.len()].copy_from_slice(m.link);
        h.set_entry_type(m.kind);
        h.set_mode(0o644);
        h.set_size(m.claimed.unwrap_or(m.data.len() as u64));
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(m.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    if !gzip {
        return out;
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &out).unwrap();
    gz.finish().unwrap()
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn source_tree(dir: &Path) {
    for (p, c) in [
        ("a.c", "int a;\n"),
        ("b.c", "int b;\n"),
        ("README", "xz\n"),
        ("m4/x.m4", "dnl x\n"),
        (".git/HEAD", "ref: refs/heads/main\n"),
    ] {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, c).unwrap();
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink("../a.c", dir.join("m4/a-link")).unwrap();
}

fn archive_args<'a>(f: &'a Fed, archive: &'a Path, src: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "evidence",
        "archive-vs-source",
        "--key",
        s(&f.keys[0].0),
        "--package",
        "pkg:generic/xz@5.6.1",
        "--archive",
        s(archive),
        "--source",
        s(src),
        "--source-revision",
        "v5.6.1",
        "--source-uri",
        "https://github.com/tukaani-project/xz",
        "--criteria",
        "safe-to-deploy",
        "--out",
        s(out),
    ]
}

#[test]
fn archive_vs_source_names_every_difference_and_signs_the_result() {
    let f = Fed::new("evarchive", &["DE"]);
    let src = f.dir.join("src");
    source_tree(&src);
    let link = M {
        path: b"xz-5.6.1/m4/a-link",
        kind: tar::EntryType::Symlink,
        data: b"",
        link: b"../a.c",
        claimed: None,
    };
    let global = M {
        path: b"pax_global_header",
        kind: tar::EntryType::XGlobalHeader,
        data: b"52 comment=0123456789abcdef0123456789abcdef01234567\n",
        link: b"",
        claimed: None,
    };
    // The xz case: the tarball adds build-to-host.m4 and a generated configure, changes
    // b.c and leaves README out.
    let bytes = tarball(
        &[
            global,
            file("xz-5.6.1/a.c", b"int a;\n"),
            file("xz-5.6.1/b.c", b"int b = 1;\n"),
            file("xz-5.6.1/m4/x.m4", b"dnl x\n"),
            file("xz-5.6.1/m4/build-to-host.m4", b"dnl backdoor\n"),
            file("xz-5.6.1/configure", b"#!/bin/sh\n"),
            link,
        ],
        true,
    );
    let archive = f.dir.join("xz-5.6.1.tar.gz");
    std::fs::write(&archive, &bytes).unwrap();
    let out = f.dir.join("xz-archive.att");
    let mut args = archive_args(&f, &archive, &src, &out);
    args.extend([
        "--allow-generated",
        "configure",
        "--allow-generated",
        "po/*.gmo",
    ]);
    let o = q(&args);
    let text = all(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    for want in [
        "top directory xz-5.6.1/",
        "added    m4/build-to-host.m4",
        "changed  b.c",
        "removed  README",
        "allowed  configure (added; --allow-generated configure)",
        "warning: --allow-generated po/*.gmo matched no differing path",
        "3 paths differ (1 more allowed as generated: configure)",
        "records an archive-matches-source MISMATCH",
    ] {
        assert!(text.contains(want), "missing {want:?}:\n{text}");
    }
    assert!(!text.contains("HEAD"), "{text}");
    let a = decode(&out);
    assert_eq!(a.verdict, Verdict::Informational);
    assert_eq!(a.reviewer.kind, ReviewerKind::Tool);
    assert_eq!(
        a.digest.to_string(),
        format!("sha256:{}", sha256_hex(&bytes))
    );
    assert_eq!(a.artifacts[0].name, "xz-5.6.1.tar.gz");
    match a.evidence.unwrap() {
        Evidence::ArchiveMatchesSource(m) => {
            assert_eq!(m.differing_paths, ["README", "b.c", "m4/build-to-host.m4"]);
            assert_eq!(m.differing_count, 3);
            assert_eq!(m.allowed_generated, ["configure"]);
            assert_eq!(m.source_revision, "v5.6.1");
        }
        e => panic!("{e:?}"),
    }
    assert!(submit(&f, 0, &out).contains("logged at index 0"));

    // The honest tarball (plain tar this time) matches: it certifies, exit 0.
    let honest = tarball(
        &[
            file("xz-5.6.1/a.c", b"int a;\n"),
            file("xz-5.6.1/b.c", b"int b;\n"),
            file("xz-5.6.1/README", b"xz\n"),
            file("xz-5.6.1/m4/x.m4", b"dnl x\n"),
            M {
                path: b"xz-5.6.1/m4/a-link",
                kind: tar::EntryType::Symlink,
                data: b"",
                link: b"../a.c",
                claimed: None,
            },
        ],
        false,
    );
    let good = f.dir.join("xz-5.6.1.tar");
    std::fs::write(&good, &honest).unwrap();
    let out2 = f.dir.join("xz-ok.att");
    let o = ok(&q(&archive_args(&f, &good, &src, &out2)));
    assert!(o.contains("0 paths differ"), "{o}");
    assert!(o.contains("certifies (archive matches source)"), "{o}");
    assert_eq!(decode(&out2).verdict, Verdict::Certify);
    assert!(submit(&f, 0, &out2).contains("logged at index 1"));
}

#[test]
fn hostile_archives_are_refused_with_the_member_named() {
    let f = Fed::new("evhostile", &["DE"]);
    let src = f.dir.join("src");
    source_tree(&src);
    let link_to = |target: &'static [u8]| M {
        path: b"x-1/l",
        kind: tar::EntryType::Symlink,
        data: b"",
        link: target,
        claimed: None,
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            tarball(
                &[file("x-1/a", b"a"), file("x-1/../../etc/cron.d/x", b"a")],
                true,
            ),
            "path traversal",
        ),
        (
            tarball(&[file("/etc/passwd", b"root")], true),
            "absolute path",
        ),
        (
            tarball(&[file("x-1/a", b"a"), link_to(b"/etc/passwd")], true),
            "symbolic link to an absolute path",
        ),
        (
            tarball(&[file("x-1/a", b"a"), link_to(b"../../etc/passwd")], true),
            "leaves the tree",
        ),
        (
            tarball(&[file("x-1/a", b"a"), file("y-2/a", b"a")], true),
            "more than one top directory",
        ),
        (
            tarball(&[file("a", b"a")], true),
            "not inside a top directory",
        ),
        (
            tarball(&[file("x-1/a", b"a"), file("x-1/a", b"b")], true),
            "appears twice",
        ),
        (
            tarball(
                &[M {
                    path: b"x-1/big",
                    kind: tar::EntryType::Regular,
                    data: b"",
                    link: b"",
                    claimed: Some(1 << 40),
                }],
                true,
            ),
            "claims 1099511627776 bytes, over the",
        ),
        (
            {
                // Claims 4096 bytes, then the stream just ends.
                let mut t = tarball(
                    &[M {
                        path: b"x-1/cut",
                        kind: tar::EntryType::Regular,
                        data: b"abc",
                        link: b"",
                        claimed: Some(4096),
                    }],
                    false,
                );
                t.truncate(512 + 512);
                t
            },
            "x-1/cut",
        ),
        (
            tarball(
                &[
                    file("x-1/a", b"a"),
                    M {
                        path: b"x-1/h",
                        kind: tar::EntryType::Link,
                        data: b"",
                        link: b"x-1/a",
                        claimed: None,
                    },
                ],
                true,
            ),
            "is a hard link",
        ),
        (
            // A GNU long name claiming 4 MiB (cheap zeros once compressed): the tar reader
            // would buffer it whole, so it is refused before.
            tarball(
                &[
                    M {
                        path: b"././@LongLink",
                        kind: tar::EntryType::GNULongName,
                        data: &vec![0u8; 4 << 20],
                        link: b"",
                        claimed: None,
                    },
                    file("x-1/a", b"a"),
                ],
                true,
            ),
            "claims 4194304 bytes, over the 1048576-byte limit",
        ),
        (tarball(&[], true), "has no files"),
        (
            b"this is not a tarball at all, just text\n".repeat(20),
            "is not a tarball",
        ),
        (
            [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5].to_vec(),
            "is not a tarball",
        ),
        (
            [0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2].to_vec(),
            "xz-compressed",
        ),
    ];
    for (i, (bytes, want)) in cases.into_iter().enumerate() {
        let archive = f.dir.join(format!("h{i}.tar.gz"));
        std::fs::write(&archive, &bytes).unwrap();
        let out = f.dir.join(format!("h{i}.att"));
        let o = q(&archive_args(&f, &archive, &src, &out));
        exits(&o, 2, want);
        assert!(!all(&o).contains("panicked"), "{}", all(&o));
        assert!(!out.exists(), "case {i} ({want}) wrote an attestation");
    }
    // A pattern that could excuse anything outside the tree is refused.
    let archive = f.dir.join("ok.tar");
    std::fs::write(&archive, tarball(&[file("x-1/a.c", b"int a;\n")], false)).unwrap();
    let out = f.dir.join("p.att");
    let mut args = archive_args(&f, &archive, &src, &out);
    args.extend(["--allow-generated", "../x"]);
    exits(&q(&args), 2, "--allow-generated \"../x\"");
}

#[test]
fn rebuild_records_a_reproduced_digest_and_refuses_a_mismatch() {
    let f = Fed::new("evrebuild", &["DE"]);
    let art = f.dir.join("foo-1.0.0.crate");
    std::fs::write(&art, b"rebuilt bytes").unwrap();
    let good = sha256_hex(b"rebuilt bytes");
    let env = format!("sha256:{}", d(7));
    let run = |digest: &str, out: &Path| {
        q(&[
            "evidence",
            "rebuild",
            "--key",
            s(&f.keys[0].0),
            "--package",
            "cargo/foo@1.0.0",
            "--artifact",
            s(&art),
            "--digest",
            digest,
            "--source-revision",
            "a1b2c3d",
            "--source-uri",
            "https://example.org/foo.git",
            "--builder",
            "rebuilder.de.test",
            "--build-env",
            &env,
            "--criteria",
            "safe-to-deploy",
            "--out",
            s(out),
        ])
    };
    let out = f.dir.join("rb.att");
    let o = ok(&run(&format!("sha256:{good}"), &out));
    assert!(o.contains("matches the published digest"), "{o}");
    let a = decode(&out);
    match a.evidence.unwrap() {
        Evidence::ReproducibleBuild(b) => {
            assert_eq!(b.builder, "rebuilder.de.test");
            assert_eq!(b.source_revision, "a1b2c3d");
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(a.digest.to_string(), format!("sha256:{good}"));
    assert!(submit(&f, 0, &out).contains("logged at index 0"));
    // sha512 in npm's notation works too.
    use base64::Engine as _;
    use sha2::Digest as _;
    let sri = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(b"rebuilt bytes"))
    );
    ok(&run(&sri, &f.dir.join("rb512.att")));
    // A mismatch signs nothing.
    let bad = f.dir.join("bad.att");
    let o = run(&d(1), &bad);
    exits(&o, 1, "not reproduced");
    assert!(all(&o).contains(&format!("sha256:{good}")), "{}", all(&o));
    assert!(!bad.exists());
    exits(
        &run("h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", &bad),
        2,
        "Go's module hash",
    );
}

/// An attestation whose evidence is of a kind this schema does not know (a later
/// schema's field 7), correctly signed: `submit` warns with the reason, and the node
/// refuses it with the reason; nothing is logged.
#[test]
fn evidence_of_an_unknown_kind_is_refused_with_the_reason() {
    use ed25519_dalek::Signer as _;
    use prost::Message as _;
    use quorate_proto::attestation::pb;
    let f = Fed::new("evunknown", &["DE"]);
    let good = f.dir.join("good.att");
    ok(&review(
        &f,
        &good,
        &[
            "--package",
            "cargo/foo@1.0.0",
            "--digest",
            &d(1),
            "--criteria",
            "safe-to-run",
        ],
    ));
    let env = pb::Envelope::decode(std::fs::read(&good).unwrap().as_slice()).unwrap();
    let mut att = pb::Attestation::decode(env.payload.as_slice()).unwrap();
    att.evidence = None;
    let mut payload = att.encode_to_vec();
    // Field 15 (evidence) holding an Evidence whose only field is 7, an unknown kind.
    payload.extend_from_slice(&[0x7a, 0x02, 0x3a, 0x00]);
    let (_, key) = quorate_client::keys::load_reviewer_key(&f.keys[0].0).unwrap();
    let mut msg = attestation::SIGNATURE_DOMAIN.to_vec();
    msg.extend_from_slice(&payload);
    let forged = pb::Envelope {
        payload,
        signature: key.sign(&msg).to_bytes().to_vec(),
    }
    .encode_to_vec();
    let e = attestation::verify(&forged).unwrap_err().to_string();
    assert!(e.contains("unknown or missing evidence kind"), "{e}");
    let file = f.dir.join("unknown-kind.att");
    std::fs::write(&file, &forged).unwrap();
    let o = q(&[
        "submit",
        "--node",
        &f.insts[0].url,
        "--log",
        &f.insts[0].vkey,
        s(&file),
    ]);
    let text = all(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "does not verify locally (evidence is invalid: unknown or missing evidence kind"
        ),
        "{text}"
    );
    assert!(text.contains("not logged: HTTP 400"), "{text}");
    assert!(text.contains("unknown or missing evidence kind"), "{text}");
}

/// `review --lock` of a PyPI entry with an sdist and wheels covers every file the entry
/// allows, so one review lets `check` pass the entry (issue 11's partial-coverage rule).
#[test]
fn a_review_from_the_lockfile_covers_every_file_of_the_entry() {
    let f = Fed::new("evlockfiles", &["DE"]);
    let lock = f.dir.join("uv.lock");
    let (sd, w1, w2) = (d(0x11), d(0x12), d(0x13));
    std::fs::write(
        &lock,
        format!(
            r#"version = 1
requires-python = ">=3.9"

[[package]]
name = "requests"
version = "2.32.0"
source = {{ registry = "https://pypi.org/simple" }}
sdist = {{ url = "https://files.pythonhosted.org/packages/requests-2.32.0.tar.gz", hash = "sha256:{sd}", size = 10 }}
wheels = [
    {{ url = "https://files.pythonhosted.org/packages/requests-2.32.0-py3-none-any.whl", hash = "sha256:{w1}", size = 10 }},
    {{ url = "https://files.pythonhosted.org/packages/requests-2.32.0-cp312-abi3-manylinux_2_17_x86_64.whl", hash = "sha256:{w2}", size = 10 }},
]
"#
        ),
    )
    .unwrap();
    let out = f.dir.join("req.att");
    let o = ok(&review(
        &f,
        &out,
        &[
            "--lock",
            s(&lock),
            "--package",
            "requests",
            "--criteria",
            "safe-to-deploy",
        ],
    ));
    assert!(o.contains("certifies pypi/requests@2.32.0"), "{o}");
    let a = decode(&out);
    let covered: Vec<String> = a.covered_digests().map(|x| x.to_string()).collect();
    for h in [&sd, &w1, &w2] {
        assert!(covered.contains(&format!("sha256:{h}")), "{covered:?}");
    }
    submit(&f, 0, &out);
    let pol = f.policy("quorum none\n", 1, "");
    let o = q(&[
        "check",
        s(&lock),
        "--policy",
        s(&pol),
        "--cache",
        s(&f.dir.join("cache")),
        "--json",
    ]);
    let v = json(&o);
    assert_eq!(v["summary"]["all_pass"], true, "{}", stdout(&o));
    assert_eq!(v["packages"][0]["files"].as_array().unwrap().len(), 3);
}
