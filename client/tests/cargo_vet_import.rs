//! Cargo.lock parsing (every shared lockfile, all format versions) and cargo-vet
//! audits.toml import/export against the three real shared audits files.

#[path = "../../proto/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use quorate_client::cargo_vet::{self, AuditsFile, ImportOptions};
use quorate_client::lockfile::{Lockfile, LockfileError, NotCheckable, Source};
use quorate_proto::attestation::{self, Digest, Ecosystem, Verdict};

fn read(rel: &str) -> Option<String> {
    Some(std::fs::read_to_string(common::shared_file(rel)?).unwrap())
}

#[test]
fn shared_lockfiles_parse() {
    for (file, version, crates_io, total) in [
        ("locks/ripgrep-14.1.0.Cargo.lock", 3, 47, 57),
        ("locks/ripgrep.Cargo.lock", 4, 52, 63),
        ("locks/zellij.Cargo.lock", 3, 507, 520),
        ("locks/nushell.Cargo.lock", 4, 860, 902),
    ] {
        let Some(text) = read(file) else { return };
        let lock = Lockfile::parse(&text).unwrap();
        assert_eq!(lock.version, version, "{file}");
        assert_eq!(lock.packages.len(), total, "{file}");
        let ok = lock
            .packages
            .iter()
            .filter(|p| p.checkable().is_ok())
            .count();
        assert_eq!(ok, crates_io, "{file}");
        assert_eq!(lock.crates_io_digests().len(), crates_io, "{file}");
    }
    let text = read("locks/ripgrep-14.1.0.Cargo.lock").unwrap();
    let lock = Lockfile::parse(&text).unwrap();
    let memchr = lock.packages.iter().find(|p| p.name == "memchr").unwrap();
    assert_eq!(memchr.version, "2.7.1");
    assert_eq!(memchr.source, Source::CratesIo);
    assert_eq!(
        memchr.checkable().unwrap(),
        Digest::from_hex("523dc4f511e55ab87b694dc30d0f820d60906ef06413f93d4d7a1385599cc149")
            .unwrap()
    );
    let rg = lock.packages.iter().find(|p| p.name == "ripgrep").unwrap();
    assert_eq!(rg.checkable(), Err(NotCheckable::Path));
    let text = read("locks/nushell.Cargo.lock").unwrap();
    let lock = Lockfile::parse(&text).unwrap();
    let git = lock.packages.iter().find(|p| p.name == "reedline").unwrap();
    assert!(matches!(git.checkable(), Err(NotCheckable::Git(_))));
}

#[test]
fn old_and_sparse_lockfile_formats() {
    let sum = "523dc4f511e55ab87b694dc30d0f820d60906ef06413f93d4d7a1385599cc149";
    let v1 = format!(
        "[[package]]\nname = \"memchr\"\nversion = \"2.7.1\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n\
         [[package]]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\n \"memchr 2.7.1 (registry+https://github.com/rust-lang/crates.io-index)\",\n]\n\n\
         [metadata]\n\"checksum memchr 2.7.1 (registry+https://github.com/rust-lang/crates.io-index)\" = \"{sum}\"\n"
    );
    let l = Lockfile::parse(&v1).unwrap();
    assert_eq!(l.version, 1);
    assert_eq!(
        l.packages[0].checkable().unwrap(),
        Digest::from_hex(sum).unwrap()
    );
    let v2 = format!(
        "[[package]]\nname = \"memchr\"\nversion = \"2.7.1\"\nsource = \"sparse+https://index.crates.io/\"\nchecksum = \"{sum}\"\n"
    );
    let l = Lockfile::parse(&v2).unwrap();
    assert_eq!(l.version, 2);
    assert!(l.packages[0].checkable().is_ok());
    let other = "[[package]]\nname = \"x\"\nversion = \"1.0.0\"\nsource = \"registry+https://my.registry/index\"\n";
    assert!(matches!(
        Lockfile::parse(other).unwrap().packages[0].checkable(),
        Err(NotCheckable::OtherRegistry(_))
    ));
    let nosum = "version = 3\n[[package]]\nname = \"x\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
    assert_eq!(
        Lockfile::parse(nosum).unwrap().packages[0].checkable(),
        Err(NotCheckable::NoChecksum)
    );
}

#[test]
fn malformed_lockfiles_are_errors_not_panics() {
    for (text, want) in [
        ("[[package]\nname = 1", "not valid TOML"),
        ("version = 9\n", "unsupported format version 9"),
        (
            "version = 3\n[[package]]\nversion = \"1.0.0\"\n",
            "package #1 (?): missing `name`",
        ),
        (
            "version = 3\n[[package]]\nname = \"x\"\n",
            "package #1 (x): missing `version`",
        ),
        (
            "version = 3\n[[package]]\nname = \"x\"\nversion = \"1\"\nchecksum = \"zz\"\n",
            "bad checksum",
        ),
        (
            "version = 3\n[[package]]\nname = 5\nversion = \"1\"\n",
            "not valid TOML",
        ),
        ("package = 3\n", "not valid TOML"),
    ] {
        let e: LockfileError = Lockfile::parse(text).expect_err(text);
        assert!(e.to_string().contains(want), "{text}: {e}");
    }
    let base = std::fs::read_to_string(
        common::shared_file("locks/ripgrep.Cargo.lock").unwrap_or_default(),
    )
    .unwrap_or_default();
    for cut in (0..base.len()).step_by(97) {
        let _ = Lockfile::parse(&base[..cut]);
    }
}

fn opts(digests: &BTreeMap<(String, String), Digest>) -> ImportOptions<'_> {
    ImportOptions {
        organisation: "Example Org".into(),
        reviewer_key: ed25519_dalek::SigningKey::from_bytes(&[5; 32])
            .verifying_key()
            .to_bytes(),
        time: 1_700_000_000,
        digests,
    }
}

#[test]
fn shared_audits_import_completely() {
    let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    for (file, audits, criteria, wildcard, trusted) in [
        ("audits/mozilla.toml", 1515, 0, 120, 228),
        ("audits/google.toml", 2173, 0, 0, 0),
        ("audits/isrg.toml", 245, 0, 3, 50),
    ] {
        let Some(text) = read(file) else { return };
        let f = AuditsFile::parse(&text).unwrap();
        assert_eq!(f.audit_count(), audits, "{file}");
        assert_eq!(f.wildcard_audits, wildcard, "{file}");
        assert_eq!(f.trusted, trusted, "{file}");
        let _ = criteria;
        let empty = BTreeMap::new();
        let imp = cargo_vet::import(&f, &opts(&empty));
        // Only audits of names that are no crate name are skipped (google.toml has one
        // for "0.7.11"): an attestation names its package in the ecosystem's form.
        for s in &imp.skipped {
            assert!(
                Ecosystem::Cargo.validate_name(&s.package).is_err(),
                "{file}: {s:?}"
            );
        }
        assert_eq!(imp.attestations.len() + imp.skipped.len(), audits, "{file}");
        // Every one signs and verifies.
        for a in imp.attestations.iter().step_by(50) {
            let env = attestation::sign(a, &key).unwrap();
            assert_eq!(attestation::verify(&env).unwrap().attestation(), a);
        }
    }
}

#[test]
fn real_entries_spot_checked() {
    let Some(isrg) = read("audits/isrg.toml") else {
        return;
    };
    let lock = Lockfile::parse(&read("locks/ripgrep-14.1.0.Cargo.lock").unwrap()).unwrap();
    let mut digests = lock.crates_io_digests();
    // isrg: [[audits.aes]] delta = "0.8.2 -> 0.8.3", safe-to-deploy, Brandon Pitman.
    digests.insert(("aes".into(), "0.8.3".into()), Digest::Sha256([3; 32]));
    let imp = cargo_vet::import(&AuditsFile::parse(&isrg).unwrap(), &opts(&digests));
    let aes = imp
        .attestations
        .iter()
        .find(|a| a.package == "aes" && a.version == "0.8.3")
        .unwrap();
    assert_eq!(aes.delta_from.as_ref().unwrap().version, "0.8.2");
    assert_eq!(aes.delta_from.as_ref().unwrap().digest, Digest::Unknown);
    assert_eq!(aes.digest, Digest::Sha256([3; 32]));
    assert_eq!(aes.criteria, ["safe-to-deploy"]);
    assert_eq!(aes.reviewer.name, "Brandon Pitman <bran@bran.land>");
    assert_eq!(aes.organisation, "Example Org");
    assert_eq!(aes.verdict, Verdict::Certify);
    assert_eq!(aes.time, 1_700_000_000);

    // google: who is a list, criteria a custom one, notes multi-line.
    let google = AuditsFile::parse(&read("audits/google.toml").unwrap()).unwrap();
    let imp = cargo_vet::import(&google, &opts(&digests));
    let a = imp
        .attestations
        .iter()
        .find(|a| a.package == "alloc-no-stdlib" && a.version == "2.0.4")
        .unwrap();
    assert_eq!(
        a.reviewer.name,
        "Luca Versari <veluca@google.com>, Manish Goregaokar <manishearth@google.com>"
    );
    assert_eq!(a.criteria, ["ub-risk-4"]);
    assert!(
        a.notes
            .starts_with("Reviewed in CL 636730294\nIssues found:")
    );
    assert_eq!(
        a.links,
        [
            "https://raw.githubusercontent.com/google/rust-crate-audits/main/manual-sources/google3-audits.toml"
        ]
    );
    // google's custom criteria and their implications.
    assert!(google.implications().contains(&(
        "rule-of-two-safe-to-deploy".to_owned(),
        "safe-to-deploy".to_owned()
    )));
    assert!(google.implications().contains(&(
        "does-not-implement-crypto".to_owned(),
        "crypto-safe".to_owned()
    )));

    // mozilla memchr 2.5.0 -> 2.7.4 delta; the lockfile's memchr is 2.7.1, so no digest.
    let moz = AuditsFile::parse(&read("audits/mozilla.toml").unwrap()).unwrap();
    let imp = cargo_vet::import(&moz, &opts(&digests));
    let m = imp
        .attestations
        .iter()
        .find(|a| a.package == "memchr" && a.version == "2.7.4")
        .unwrap();
    assert_eq!(m.delta_from.as_ref().unwrap().version, "2.5.0");
    assert_eq!(m.digest, Digest::Unknown);
    // Entries whose version is in the lockfile get its checksum.
    let with_digest = imp
        .attestations
        .iter()
        .filter(|a| matches!(a.digest, Digest::Sha256(_)))
        .count();
    assert!(with_digest > 0);
}

#[test]
fn violations_and_odd_entries() {
    let text = r#"
[criteria.crypto-reviewed]
description = "x"
implies = ["safe-to-run"]

[[audits.bad]]
who = "Eve"
criteria = ["safe-to-run", "safe-to-run"]
violation = ">=1.0.0, <1.2.3"

[[audits.nope]]
criteria = "safe-to-deploy"
version = "1.0.0"
importable = false

[[audits.both]]
criteria = "safe-to-deploy"
version = "1.0.0"
delta = "0.9.0 -> 1.0.0"

[[audits.anon]]
criteria = "safe-to-deploy"
delta = "1.0.0->1.1.0"
"#;
    let f = AuditsFile::parse(text).unwrap();
    let empty = BTreeMap::new();
    let imp = cargo_vet::import(&f, &opts(&empty));
    let bad = imp
        .attestations
        .iter()
        .find(|a| a.package == "bad")
        .unwrap();
    assert_eq!(
        bad.verdict,
        Verdict::Violation {
            range: ">=1.0.0, <1.2.3".into()
        }
    );
    assert_eq!(bad.criteria, ["safe-to-run"]);
    let anon = imp
        .attestations
        .iter()
        .find(|a| a.package == "anon")
        .unwrap();
    assert_eq!(anon.reviewer.name, "Example Org");
    assert_eq!(anon.version, "1.1.0");
    let skipped: Vec<(&str, &str)> = imp
        .skipped
        .iter()
        .map(|s| (s.package.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("both", "needs exactly one of version, delta, violation"),
            ("nope", "importable = false")
        ]
    );
    // Unknown fields are refused, not silently dropped.
    let e = AuditsFile::parse("[[audits.x]]\ncriteria = \"a\"\nversion = \"1\"\nsurprise = 1\n")
        .unwrap_err();
    assert!(e.to_string().contains("surprise"), "{e}");
}
