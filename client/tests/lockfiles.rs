//! Every lockfile format against the real files in shared/locks (counts from its
//! SOURCES.md), auto-detection by name and by content, and hostile input (truncated,
//! garbage, oversized, duplicated entries) refused with a reason naming what was wrong.

#[path = "../../proto/tests/common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::path::PathBuf;

use quorate_client::lockfile::detect::detect;
use quorate_client::lockfile::{
    Ecosystem, FileDigest, Format, LockEntry, NotReviewable, ParseError, ParsedLockfile, Relation,
    Resolution,
};

fn shared_lock(name: &str) -> Option<PathBuf> {
    common::shared_file(&format!("locks/{name}"))
}

fn files(e: &LockEntry) -> usize {
    match &e.resolution {
        Resolution::Files(f) => f.len(),
        _ => 0,
    }
}

fn is_files(e: &LockEntry) -> bool {
    matches!(e.resolution, Resolution::Files(_))
}

fn distinct(lock: &ParsedLockfile) -> usize {
    lock.entries
        .iter()
        .map(|e| &e.id)
        .collect::<HashSet<_>>()
        .len()
}

/// Reads a shared file through the same path the CLI uses (name and content detection).
fn read(name: &str, format: Format) -> Option<ParsedLockfile> {
    let path = shared_lock(name)?;
    let lock = ParsedLockfile::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(lock.format, format, "{name}");
    // The same content under a name that says nothing is detected by content alone.
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        detect("lockfile", &text).unwrap(),
        format,
        "{name} by content"
    );
    Some(lock)
}

#[test]
fn npm_package_locks_parse_with_exact_counts() {
    for (name, entries, distinct_releases) in [
        ("actions-checkout-7.0.1.package-lock.json", 586, 557),
        ("actions-toolkit-4b9afa4.package-lock.json", 1173, 983),
    ] {
        let Some(lock) = read(name, Format::NpmLock) else {
            return;
        };
        assert_eq!(lock.entries.len(), entries, "{name}");
        assert_eq!(distinct(&lock), distinct_releases, "{name}");
        for e in &lock.entries {
            assert_eq!(e.id.ecosystem(), Ecosystem::Npm);
            let Resolution::Files(f) = &e.resolution else {
                panic!("{name}: {} not pinned: {:?}", e.locator, e.resolution)
            };
            assert!(
                matches!(f[..], [ref one] if matches!(one.digests[..], [FileDigest::Sha512(_)]))
            );
        }
    }
    let Some(lock) = read("actions-toolkit-4b9afa4.package-lock.json", Format::NpmLock) else {
        return;
    };
    // An alias is identified by the package it installs, not the folder name.
    let alias = lock
        .entries
        .iter()
        .find(|e| e.locator.contains("\"node_modules/string-width-cjs\""))
        .unwrap();
    assert_eq!(alias.id.name(), "string-width");
    assert!(
        lock.entries
            .iter()
            .any(|e| e.id.purl().starts_with("pkg:npm/%40babel/"))
    );
}

#[test]
fn python_lockfiles_parse_with_exact_counts() {
    // uv.lock: 88 registry releases (sdist + wheels) and the editable project itself.
    if let Some(lock) = read("sigstore-python-27db13d.uv.lock", Format::UvLock) {
        assert_eq!(lock.entries.len(), 89);
        assert_eq!(lock.count(is_files), 88);
        for e in lock.entries.iter().filter(|e| is_files(e)) {
            let Resolution::Files(f) = &e.resolution else {
                unreachable!()
            };
            let names: Vec<&str> = f.iter().filter_map(|x| x.name.as_deref()).collect();
            assert_eq!(names.len(), f.len());
            assert!(
                names
                    .iter()
                    .any(|n| n.ends_with(".tar.gz") || n.ends_with(".zip")),
                "{} sdist",
                e.id
            );
            assert!(names.iter().any(|n| n.ends_with(".whl")), "{} wheels", e.id);
        }
        let me = lock.entries.iter().find(|e| !is_files(e)).unwrap();
        assert_eq!(me.id.name(), "sigstore");
        assert_eq!(
            me.resolution,
            Resolution::NotReviewable(NotReviewable::Editable(".".into()))
        );
    }
    // requirements.txt: 32 pinned requirements, 426 hashes.
    if let Some(lock) = read(
        "sigstore-python-27db13d.requirements.txt",
        Format::Requirements,
    ) {
        assert_eq!(lock.entries.len(), 32);
        assert_eq!(lock.count(is_files), 32);
        assert_eq!(lock.entries.iter().map(files).sum::<usize>(), 426);
        assert!(
            lock.entries
                .iter()
                .any(|e| e.id.purl() == "pkg:pypi/typing-extensions@4.16.0")
        );
    }
    // poetry.lock: 77 PyPI releases with 1105 file hashes, one git source.
    if let Some(lock) = read("poetry-f467023.poetry.lock", Format::PoetryLock) {
        assert_eq!(lock.entries.len(), 78);
        assert_eq!(lock.count(is_files), 77);
        assert_eq!(lock.entries.iter().map(files).sum::<usize>(), 1105);
        let git = lock.entries.iter().find(|e| !is_files(e)).unwrap();
        assert_eq!(git.id.name(), "poetry-core");
        assert!(
            matches!(&git.resolution, Resolution::NotReviewable(NotReviewable::Git(u)) if u.contains("poetry-core"))
        );
    }
    // pylock.toml: 71 releases, each an sdist and wheels, 495 wheels in all.
    if let Some(lock) = read("spectree-1.5.8.pylock.toml", Format::Pylock) {
        assert_eq!(lock.entries.len(), 71);
        assert_eq!(lock.count(is_files), 71);
        let wheels: usize = lock
            .entries
            .iter()
            .map(|e| match &e.resolution {
                Resolution::Files(f) => f
                    .iter()
                    .filter(|x| x.name.as_deref().is_some_and(|n| n.ends_with(".whl")))
                    .count(),
                _ => 0,
            })
            .sum();
        assert_eq!(wheels, 495);
        assert_eq!(lock.entries.iter().map(files).sum::<usize>(), 495 + 71);
    }
}

#[test]
fn go_sum_with_go_mod_parses_with_exact_counts() {
    let Some(lock) = read("rekor-tiles-74e3eb0.go.sum", Format::GoSum) else {
        return;
    };
    assert_eq!(lock.entries.len(), 258);
    assert_eq!(lock.count(is_files), 258);
    assert!(
        lock.notes.is_empty(),
        "go.mod beside it was read: {:?}",
        lock.notes
    );
    let rel = |r| lock.count(|e| e.relation == Some(r));
    // 183 require lines, 143 of them `// indirect`; 75 modules only in the graph.
    assert_eq!(
        (
            rel(Relation::Direct),
            rel(Relation::Indirect),
            rel(Relation::GraphOnly)
        ),
        (40, 143, 75)
    );
    assert_eq!(lock.count(|e| e.id.version().ends_with("+incompatible")), 3);
    for e in &lock.entries {
        let Resolution::Files(f) = &e.resolution else {
            unreachable!()
        };
        assert!(matches!(f[0].digests[..], [FileDigest::GoH1(_)]));
    }
    // Without its go.mod the file still parses, and says what is missing.
    let text = std::fs::read_to_string(shared_lock("rekor-tiles-74e3eb0.go.sum").unwrap()).unwrap();
    let alone = ParsedLockfile::parse(Format::GoSum, &text, None).unwrap();
    assert_eq!(alone.entries.len(), 258);
    assert!(alone.entries.iter().all(|e| e.relation.is_none()));
    assert_eq!(alone.notes.len(), 1);
}

#[test]
fn gradle_lockfile_parses_with_no_digests() {
    let Some(lock) = read("kotlin-bip39-1.0.9.gradle.lockfile", Format::GradleLock) else {
        return;
    };
    assert_eq!(lock.entries.len(), 244);
    assert!(
        lock.entries
            .iter()
            .all(|e| e.resolution == Resolution::UnknownDigest)
    );
    assert!(
        lock.entries
            .iter()
            .any(|e| e.id.purl() == "pkg:maven/org.opentest4j/opentest4j@1.3.0")
    );
}

#[test]
fn cargo_locks_read_through_the_generic_path() {
    for (name, total, pinned) in [
        ("ripgrep-14.1.0.Cargo.lock", 57, 47),
        ("ripgrep.Cargo.lock", 63, 52),
        ("zellij.Cargo.lock", 520, 507),
        ("nushell.Cargo.lock", 902, 860),
    ] {
        let Some(lock) = read(name, Format::CargoLock) else {
            return;
        };
        assert_eq!(lock.entries.len(), total, "{name}");
        assert_eq!(lock.count(is_files), pinned, "{name}");
        assert_eq!(
            lock.count(|e| matches!(e.resolution, Resolution::NotReviewable(_))),
            total - pinned,
            "{name}"
        );
    }
}

const CDX: &str = r#"{
  "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
  "metadata": {"component": {"type": "application", "name": "app", "purl": "pkg:npm/app@1.0.0"}},
  "components": [
    {"type": "library", "bom-ref": "a", "name": "left-pad", "version": "1.3.0",
     "purl": "pkg:npm/left-pad@1.3.0",
     "hashes": [{"alg": "SHA-512", "content": "5d1720961877a7694702ee20160ef98b9a30677feeb6d219875d622a3f96d9fa9ce08bbc3afc081e40d27ed6b0e20511a34580d9f4f6a20bb04dae070a12f027"},
                {"alg": "MD5", "content": "00"}],
     "components": [
       {"type": "library", "bom-ref": "b", "name": "Requests", "version": "2.32.0",
        "purl": "pkg:pypi/Requests@2.32.0",
        "hashes": [{"alg": "SHA-256", "content": "523dc4f511e55ab87b694dc30d0f820d60906ef06413f93d4d7a1385599cc149"}]}
     ]},
    {"type": "library", "bom-ref": "c", "name": "log4j-core", "version": "2.14.1",
     "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"},
    {"type": "library", "bom-ref": "d", "name": "Newtonsoft.Json", "version": "13.0.1",
     "purl": "pkg:nuget/Newtonsoft.Json@13.0.1"},
    {"type": "library", "bom-ref": "e", "name": "vendored-thing", "version": "0.1"}
  ]
}"#;

const SPDX: &str = r#"{
  "spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "x",
  "documentDescribes": ["SPDXRef-app"],
  "packages": [
    {"SPDXID": "SPDXRef-app", "name": "app", "versionInfo": "1.0"},
    {"SPDXID": "SPDXRef-xz", "name": "xz", "versionInfo": "5.6.1",
     "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                       "referenceLocator": "pkg:generic/xz@5.6.1"}],
     "checksums": [{"algorithm": "SHA256", "checksumValue": "523dc4f511e55ab87b694dc30d0f820d60906ef06413f93d4d7a1385599cc149"},
                   {"algorithm": "SHA1", "checksumValue": "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"}]},
    {"SPDXID": "SPDXRef-go", "name": "x/mod", "versionInfo": "v0.7.0",
     "externalRefs": [{"referenceCategory": "PACKAGE_MANAGER", "referenceType": "purl",
                       "referenceLocator": "pkg:golang/golang.org/x/mod@v0.7.0"}]}
  ],
  "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-app"}]
}"#;

#[test]
fn sboms_name_packages_by_purl() {
    let cdx = ParsedLockfile::parse(detect("bom.json", CDX).unwrap(), CDX, None).unwrap();
    let purls: Vec<String> = cdx.entries.iter().map(|e| e.id.purl()).collect();
    assert_eq!(
        purls,
        [
            "pkg:npm/left-pad@1.3.0",
            "pkg:pypi/requests@2.32.0",
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            "pkg:generic/Newtonsoft.Json@13.0.1",
            "pkg:generic/vendored-thing@0.1",
        ]
    );
    assert!(
        matches!(&cdx.entries[0].resolution, Resolution::Files(f) if matches!(f[0].digests[..], [FileDigest::Sha512(_)]))
    );
    assert_eq!(cdx.entries[2].resolution, Resolution::UnknownDigest);
    assert!(
        matches!(&cdx.entries[3].resolution, Resolution::NotReviewable(NotReviewable::OtherSource(p)) if p.starts_with("pkg:nuget/"))
    );
    assert!(matches!(
        &cdx.entries[4].resolution,
        Resolution::NotReviewable(NotReviewable::NoPurl(_))
    ));

    let spdx = ParsedLockfile::parse(detect("x.spdx.json", SPDX).unwrap(), SPDX, None).unwrap();
    assert_eq!(
        spdx.entries.len(),
        2,
        "the described package is the product, not an entry"
    );
    assert_eq!(spdx.entries[0].id.purl(), "pkg:generic/xz@5.6.1");
    assert!(
        matches!(&spdx.entries[0].resolution, Resolution::Files(f) if f.len() == 1 && f[0].digests.len() == 2)
    );
    assert_eq!(spdx.entries[1].id.name(), "golang.org/x/mod");

    let old = CDX.replace("\"1.6\"", "\"1.4\"");
    assert!(
        ParsedLockfile::parse(Format::CycloneDx, &old, None)
            .unwrap_err()
            .to_string()
            .contains("1.4")
    );
    let old = SPDX.replace("SPDX-2.3", "SPDX-2.2");
    assert!(ParsedLockfile::parse(Format::Spdx, &old, None).is_err());
}

/// Non-registry entries are reported, with their reason, never dropped.
#[test]
fn local_and_vcs_entries_are_not_reviewable() {
    let npm = r#"{"lockfileVersion": 3, "packages": {
        "": {"name": "root", "workspaces": ["packages/*"]},
        "packages/a": {"name": "a", "version": "1.0.0"},
        "node_modules/a": {"resolved": "packages/a", "link": true},
        "node_modules/g": {"version": "1.0.0", "resolved": "git+ssh://git@github.com/x/g.git#abc"},
        "node_modules/f": {"version": "1.0.0", "resolved": "file:../f"},
        "node_modules/p/node_modules/b": {"version": "2.0.0", "inBundle": true},
        "node_modules/n": {"version": "3.0.0", "resolved": "https://registry.npmjs.org/n/-/n-3.0.0.tgz"}
    }}"#;
    let lock = ParsedLockfile::parse(Format::NpmLock, npm, None).unwrap();
    let r: Vec<String> = lock
        .entries
        .iter()
        .map(|e| match &e.resolution {
            Resolution::NotReviewable(n) => format!("{} {n}", e.id),
            other => format!("{} {other:?}", e.id),
        })
        .collect();
    assert_eq!(
        r,
        [
            "pkg:npm/a@1.0.0 workspace member (packages/a)",
            "pkg:npm/g@1.0.0 git source (git+ssh://git@github.com/x/g.git#abc)",
            "pkg:npm/f@1.0.0 local path (file:../f)",
            "pkg:npm/b@2.0.0 bundled inside its parent's tarball",
            "pkg:npm/n@3.0.0 UnknownDigest",
        ]
    );
    let req = "-e ./local#egg=mypkg\nfoo @ git+https://x/foo.git\nbar==1.0 --hash=sha256:523dc4f511e55ab87b694dc30d0f820d60906ef06413f93d4d7a1385599cc149\n";
    let lock = ParsedLockfile::parse(Format::Requirements, req, None).unwrap();
    assert!(matches!(
        &lock.entries[0].resolution,
        Resolution::NotReviewable(NotReviewable::Editable(_))
    ));
    assert!(matches!(
        &lock.entries[1].resolution,
        Resolution::NotReviewable(NotReviewable::Git(_))
    ));
    assert!(is_files(&lock.entries[2]));
    let gomod = "module m\nrequire (\n\texample.com/a v1.0.0\n\texample.com/b v1.0.0 // indirect\n)\nreplace example.com/a => ../a\n";
    let gosum = "example.com/b v1.0.0 h1:K6j46C81hXtZQfuX60cVWQFBJahKSE2gfRbNuvr5bFs=\n";
    let lock = ParsedLockfile::parse(Format::GoSum, gosum, Some(gomod)).unwrap();
    assert_eq!(lock.entries[0].relation, Some(Relation::Indirect));
    assert_eq!(
        lock.entries[1].resolution,
        Resolution::NotReviewable(NotReviewable::Path("../a".into()))
    );
}

#[test]
fn hostile_lockfiles_are_refused_with_reasons() {
    let sha = "523dc4f511e55ab87b694dc30d0f820d60906ef06413f93d4d7a1385599cc149";
    let sri = "sha512-1Yjs2SvM8TflER/OD3cOjhWWOZb58A2t7wpE2S9XfBYTiIl+XFhQG2bjy4Pu1I+EAlCNUzRDYDdFwFYUKvXcIA==";
    let npm_dup = format!(
        r#"{{"lockfileVersion": 3, "packages": {{"node_modules/x": {{"version": "1.0.0", "integrity": "{sri}"}}, "node_modules/x": {{"version": "6.6.6", "integrity": "{sri}"}}}}}}"#
    );
    let cases: Vec<(Format, String, &str)> = vec![
        (Format::NpmLock, npm_dup, "duplicate entry \"node_modules/x\""),
        (Format::NpmLock, "{\"lockfileVersion\": 3, \"packages\": {\"node_modules/x\": {\"vers".into(), "not valid JSON"),
        (Format::NpmLock, "{\"lockfileVersion\": 1, \"dependencies\": {}}".into(), "lockfileVersion 1"),
        (Format::NpmLock, "\u{0}\u{1}garbage".into(), "not valid JSON"),
        (Format::NpmLock, r#"{"lockfileVersion": 3, "packages": {"node_modules/x": {"version": "1.0.0", "integrity": "sha512-short"}}}"#.into(), "packages[\"node_modules/x\"]"),
        (Format::NpmLock, r#"{"lockfileVersion": 3, "packages": {"node_modules/x": {"integrity": "x"}}}"#.into(), "no `version`"),
        (Format::NpmLock, format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)), "not valid JSON"),
        (Format::UvLock, format!("version = 1\n[[package]]\nname = \"a\"\nversion = \"1\"\nsource = {{ registry = \"r\" }}\nsdist = {{ url = \"a.tar.gz\", hash = \"sha256:{sha}\" }}\n[[package]]\nname = \"A\"\nversion = \"1\"\nsource = {{ registry = \"r\" }}\nsdist = {{ url = \"a.tar.gz\", hash = \"sha256:{sha}\" }}\n"), "duplicate entry a 1"),
        (Format::UvLock, "version = 1\n[[package]]\nname = \"a\"\nversion = \"1\"\nsource = { registry = \"r\" }\nsdist = { url = \"a.tar.gz\" }\n".into(), "a.tar.gz has no hash"),
        (Format::UvLock, "version = 1\n[[package]\nname =".into(), "not valid TOML"),
        (Format::PoetryLock, "[[package]]\nname = \"a\"\nversion = \"1\"\nfiles = [{file = \"a.whl\", hash = \"sha256:00\"}]\n".into(), "wrong length"),
        (Format::Pylock, "lock-version = \"2.0\"\n".into(), "unsupported lock-version"),
        (Format::Pylock, "lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nversion = \"1\"\nwheels = [{name = \"a.whl\", hashes = {md5 = \"00\"}}]\n".into(), "no sha256, sha512 or sha1 hash"),
        (Format::Requirements, format!("a==1 --hash=sha256:{sha}\nA==1 --hash=sha256:{sha}\n"), "duplicate entry a 1"),
        (Format::Requirements, format!("a>=1 --hash=sha256:{sha}\n"), "not pinned"),
        (Format::Requirements, "-r other.txt\n".into(), "check that file too"),
        (Format::GoSum, "example.com/a v1.0.0 h1:K6j46C81hXtZQfuX60cVWQFBJahKSE2gfRbNuvr5bFs=\nexample.com/a v1.0.0 h1:2NAUJwPR47q+E35uaJeYoNhuNEM9kM8SjgRgdeOJUSE=\n".into(), "duplicate entry example.com/a v1.0.0"),
        (Format::GoSum, "example.com/a v1.0.0 h1:K6j46C81hXtZQfuX60cV".into(), "line 1"),
        (Format::GoSum, "example.com/a v1.0.0\n".into(), "expected `module version h1:hash`"),
        (Format::GradleLock, "a:b:1=x\na:b:1=y\n".into(), "duplicate entry a:b:1"),
        (Format::GradleLock, "a:b=x\n".into(), "not group:artifact:version"),
        (Format::CycloneDx, CDX.replace("\"bom-ref\": \"b\"", "\"bom-ref\": \"a\""), "duplicate entry a"),
        (Format::Spdx, SPDX.replace("SPDXRef-go", "SPDXRef-xz"), "duplicate entry SPDXRef-xz"),
        (Format::CargoLock, "version = 4\n[[package]]\nname = \"a\"\n".into(), "missing `version`"),
    ];
    for (format, text, want) in cases {
        let err = ParsedLockfile::parse(format, &text, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(want),
            "{format}: {err:?} should contain {want:?}"
        );
    }
    // A long name or version is refused before it becomes an identity.
    let long = format!("{}==1 --hash=sha256:{sha}\n", "a".repeat(1000));
    assert!(
        ParsedLockfile::parse(Format::Requirements, &long, None)
            .unwrap_err()
            .to_string()
            .contains("over the 256-byte limit")
    );
    // An absurd size is refused unread.
    let huge = " ".repeat(quorate_client::lockfile::MAX_LOCKFILE_BYTES + 1);
    assert!(matches!(
        ParsedLockfile::parse(Format::GoSum, &huge, None),
        Err(ParseError::TooLarge(..))
    ));
    // Every truncation of a real-shaped file is an error or a shorter complete file, never a panic.
    let sample = format!("a==1 \\\n    --hash=sha256:{sha}\nb==2 --hash=sha256:{sha}\n");
    for cut in 0..sample.len() {
        let _ = ParsedLockfile::parse(Format::Requirements, &sample[..cut], None);
    }
}
